"""Diagnostics of the new layer kinds, located: (line, column, code) of the value at fault, or of the entry."""
from __future__ import annotations

import pytest

from helpers import at, codes

BASE = """\
paramlint: 1
inputs: {x: [6, 4], m: [6, 6]}
layers:
  - {type: Parameter, shape: [6, 6], name: bias}
  - {type: Identity, from: x, name: start}
"""


@pytest.mark.parametrize("entry,token,code", [
    ("{type: MatMul, from: [start, start]}", "{", "PL401"),                       # 4 != 6
    ("{type: MatMul, from: start}", "start", "PL304"),                                 # one input
    ("{type: Roll, shifts: [1, 2], dims: [1]}", "[1, 2]", "PL402"),
    ("{type: Roll, shifts: 1, dims: 0}", "0}", "PL402"),                         # the batch
    ("{type: Chunk, chunks: 2, dim: 3}", "3}", "PL402"),
    ("{type: Chunk, chunks: 0, dim: 1}", "0", "PL202"),
    ("{type: Split, split_size_or_sections: [2, 3], dim: 1}", "[2, 3]", "PL401"),
    ("{type: StochasticDepth, p: 0.1, mode: rows}", "rows", "PL202"),
    ("{type: StochasticDepth, p: 0.1}", "{", "PL203"),
    ("{type: Buffer, shape: [4], dtype: float8}", "float8", "PL202"),
    ("{type: ScaledDotProductAttention, from: [x, x, x, bias], is_causal: true}", "true", "PL401"),
    ("{type: ScaledDotProductAttention, from: [x, x, x, x]}", "{", "PL401"),      # mask [6, 4] vs [6, 6]
])
def test_located(entry, token, code):
    text = BASE + f"  - {entry}\n"
    assert codes(text) == [at(text, 6, token, code)]


def test_a_piece_that_does_not_exist():
    text = BASE + "  - {type: Chunk, chunks: 2, dim: 1, name: halves}\n  - {type: Identity, from: halves.2}\n"
    assert codes(text) == [at(text, 7, "halves.2", "PL301")]


def test_pieces_are_outputs():
    text = BASE + ("  - {type: Split, split_size_or_sections: [2, 4], dim: 1, name: parts}\n"
                   "  - {type: Concat, from: [parts.1, parts], dim: 1}\n")
    assert codes(text) == [(4, 5, "PL455")]  # only BASE's `bias`, which this model does not use
