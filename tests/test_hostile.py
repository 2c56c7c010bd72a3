"""Hostile input: every case gets a clear diagnostic at a bounded cost.

Alias bombs, deep nesting, huge files, repeated keys, object-building tags,
binary and mis-encoded files, special files, symlink loops, absurd sizes and
self-using blocks.  The limits and their codes are listed in docs/limits.md.
Each case is also timed against a generous bound: not a benchmark (see
benchmarks/), only a guard against work that explodes with the input.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from paramlint.model.analysis import MAX_RANK
from paramlint.source.document import LIMITS
from paramlint.model.graph import MAX_BLOCK_DEPTH, MAX_NODES
from paramlint.lint import FileReport, Linter, lint_paths
from paramlint.rules import RULES

BOUND_SECONDS = 10.0  # far above any case here (milliseconds each); an explosion takes minutes
HEAD = "paramlint: 1\ninput: [3, 32, 32]\nlayers:\n"
INT64_MAX = 2**63 - 1

_LINTER = Linter()


def lint(text, path: str = "model.yaml") -> FileReport:
    data = text.encode("utf-8") if isinstance(text, str) else text
    start = time.perf_counter()
    report = _LINTER.lint_bytes(data, path=path)
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_SECONDS, f"{elapsed:.1f} s"
    assert all(d.code in RULES for d in report.diagnostics)
    assert "PL902" not in [d.code for d in report.diagnostics], report.diagnostics
    return report


def codes(text, path: str = "model.yaml") -> List[str]:
    return [d.code for d in lint(text, path).diagnostics]


def only(text, code: str, path: str = "model.yaml") -> str:
    """The message of the one diagnostic, which must have ``code``."""
    report = lint(text, path)
    assert [d.code for d in report.diagnostics] == [code], report.diagnostics
    assert report.analysis is None
    return report.diagnostics[0].message


# --- the loader's limits: size, nodes, depth ------------------------------------------------

def test_billion_laughs_stops_at_the_node_limit():
    lines = ["paramlint: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    message = only("\n".join(lines) + "\n", "PL103")
    assert f"more than {LIMITS.max_nodes} nodes" in message


def test_alias_fan_out_under_the_node_limit_is_bounded():
    # 990 uses of a 1,000-element anchor: just under the node limit, so everything is expanded and checked.
    anchor = "[" + ", ".join(["1"] * 1000) + "]"
    text = (HEAD + "  - {type: Flatten}\n  - {type: Linear, out_features: 10}\nblocks:\n  B:\n"
            f"    args: {{x: &big {anchor}}}\n    layers: [{{type: ReLU}}]\n"
            "name: [" + ", ".join(["*big"] * 990) + "]\n")
    assert codes(text) == ["PL202"]


def test_recursive_alias_is_a_limit():
    assert codes("paramlint: 1\na: &a [*a]\n") in (["PL103"], ["PL101"])


@pytest.mark.parametrize("depth", [LIMITS.max_depth + 1, 50_000])
@pytest.mark.parametrize("style", ["flow", "block", "json"])
def test_deep_nesting_is_a_limit(depth, style):
    if style == "flow":
        text, path = "paramlint: 1\nname: " + "[" * depth + "]" * depth + "\n", "model.yaml"
    elif style == "json":
        text, path = '{"paramlint": 1, "name": ' + "[" * depth + "]" * depth + "}", "model.json"
    else:
        if depth > 5000:
            pytest.skip("indentation grows quadratically; the flow style covers deep nesting")
        text = "paramlint: 1\nname:\n" + "".join(" " * i + "- \n" for i in range(1, depth + 1))
        path = "model.yaml"
    message = only(text, "PL103", path)
    assert f"deeper than {LIMITS.max_depth}" in message


def test_nesting_at_the_depth_limit_is_linted():
    depth = LIMITS.max_depth - 10
    text = HEAD + "  - {type: ReLU}\nblocks:\n  B:\n    args: {x: " + "[" * depth + "]" * depth + "}\n" \
        "    layers: [{type: ReLU}]\n"
    assert codes(text) == []


def test_huge_bytes_are_refused_before_parsing():
    text = b"paramlint: 1\n#" + b"x" * LIMITS.max_bytes + b"\n"
    message = only(text, "PL103")
    assert str(LIMITS.max_bytes) in message


@pytest.mark.parametrize("marked", [True, False])
def test_huge_file_is_refused_unread(tmp_path, marked):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:  # sparse: no disk space used, and only its head is read
        handle.write(b"paramlint: 1\n" if marked else b"kind: Deployment\n")
        handle.truncate(LIMITS.max_bytes * 100)
    start = time.perf_counter()
    report = Linter().lint_file(str(path))
    assert time.perf_counter() - start < BOUND_SECONDS  # reading 100 limits' worth would take far longer
    if not marked:  # not ours: skipped, whatever its size
        assert report.skipped and not report.diagnostics
        return
    assert [d.code for d in report.diagnostics] == ["PL103"]
    assert f"{LIMITS.max_bytes * 100} bytes" in report.diagnostics[0].message


def test_integer_over_pythons_digit_limit():
    assert codes(HEAD + "  - {type: Linear, out_features: " + "7" * 5000 + "}\n") == ["PL103"]
    text = '{"paramlint": 1, "input": [3], "layers": [{"type": "Linear", "out_features": ' + "7" * 5000 + "}]}"
    assert codes(text, "model.json") == ["PL103"]


# --- syntax, keys, tags, encodings --------------------------------------------------------

@pytest.mark.parametrize("text, path", [
    ("paramlint: 1\ninput: [3]\ninput: [4]\nlayers: [{type: ReLU}]\n", "model.yaml"),
    (HEAD + "  - {type: Linear, out_features: 10, out_features: 20}\n", "model.yaml"),
    ('{"paramlint": 1, "input": [3], "input": [4], "layers": [{"type": "ReLU"}]}', "model.json"),
])
def test_repeated_keys(text, path):
    assert codes(text, path) == ["PL102"]


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system [echo hi]",
    "!!python/object/new:builtins.dict {}",
    "!!python/name:os.system",
    "!!python/tuple [1, 2]",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!custom 3",
])
def test_object_building_and_unknown_tags(tag):
    assert codes(f"paramlint: 1\ninput: [3]\nlayers: {tag}\n") == ["PL104"]


@pytest.mark.parametrize("data", [
    b"paramlint: 1\nname: caf\xe9\n",                      # Latin-1
    b"paramlint: 1\x00\n",                                 # a NUL
    "paramlint: 1\ninput: [3]\n".encode("utf-16"),
    "paramlint: 1\ninput: [3]\n".encode("utf-32"),
])
def test_binary_and_non_utf8_files(data):
    assert codes(data) == ["PL105"]
    if data.startswith((b"\xff", b"\xfe", b"\x00")):
        json_data = data.decode("utf-16" if len(data) < 100 else "utf-32").replace(
            "paramlint: 1\ninput: [3]", '{"paramlint": 1, "input": [3]}').encode("utf-16" if len(data) < 100 else "utf-32")
        assert codes(json_data, "model.json") == ["PL105"]


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",        # a binary file
    bytes(range(256)),
    b"name: caf\xe9\n",                                    # Latin-1, not marked
    b"paramlint: 1\nname: caf\xe9\n",                      # not JSON: no top-level "paramlint" key
])
@pytest.mark.parametrize("path", ["model.yaml", "model.json"])
def test_unmarked_binary_and_non_utf8_files_are_skipped(data, path):
    if path == "model.yaml" and data.startswith(b"paramlint"):
        return
    report = lint(data, path)
    assert report.skipped and not report.diagnostics


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "null\n", "[]\n", "42\n"])
def test_empty_and_scalar_files_are_not_model_configs(text):
    report = lint(text)
    assert report.skipped and report.diagnostics == ()


def test_non_string_keys_do_not_crash():
    assert set(codes("paramlint: 1\n1: 2\nnull: 3\ninput: [3]\nlayers: [{type: ReLU}]\n")) == {"PL201"}
    assert codes("paramlint: 1\ninputs: {1: [3]}\nlayers: [{type: ReLU}]\n") == []


# --- sizes: huge, negative, zero, floats ----------------------------------------------------

def test_huge_linear_is_a_size_overflow_with_the_exact_count():
    message = only("paramlint: 1\ninput: [1000000000000]\nlayers:\n"
                   "  - {type: Linear, out_features: 1000000000000}\n", "PL405")
    assert "1,000,000,000,000,000,000,000,000 elements" in message


def test_huge_input_shape():
    assert "~10^30" in only("paramlint: 1\ninput: [" + "1" + "0" * 30 + "]\nlayers: [{type: ReLU}]\n", "PL405")
    # each size fits int64, the product does not
    assert "elements" in only(f"paramlint: 1\ninput: [{2**40}, {2**40}]\nlayers: [{{type: ReLU}}]\n", "PL405")


def test_huge_argument_is_refused_before_any_arithmetic():
    text = HEAD + "  - {type: Conv2d, out_channels: " + "1" + "0" * 4000 + ", kernel_size: 3}\n"
    message = only(text, "PL405")
    assert "a 4001-digit number" in message and len(message) < 300


def test_kernel_of_a_billion_costs_nothing():
    assert only(HEAD + "  - {type: Conv2d, out_channels: 8, kernel_size: 1000000000}\n", "PL403")
    assert only(HEAD + "  - {type: MaxPool2d, kernel_size: 1000000000}\n", "PL403")
    # padded to fit: the output is too large to allocate
    assert only(HEAD + "  - {type: Conv2d, out_channels: 8, kernel_size: 1000000000, padding: 500000000}\n", "PL405")


def test_pooling_with_a_huge_input_and_gaps_is_bounded():
    text = (f"paramlint: 1\ninput: [3, {10**11}, 10]\nlayers:\n"
            "  - {type: MaxPool2d, kernel_size: 2, stride: 3, dilation: 5}\n")
    assert codes(text) == ["PL451"]


def test_batch_too_large_to_allocate():
    text = HEAD + "  - {type: Flatten}\n  - {type: Linear, out_features: 10}\ntraining: {batch_size: " + \
        "1" + "0" * 300 + "}\n"
    message = only(text, "PL405")
    assert "batch_size" in message


def test_large_but_valid_counts_are_exact():
    torch = pytest.importorskip("torch")
    text = ("paramlint: 1\ninput: {shape: [8], dtype: int64}\nlayers:\n"
            "  - {type: Embedding, num_embeddings: 1000000000, embedding_dim: 1024}\n"
            "  - {type: Linear, out_features: 3000000}\ntraining: {optimizer: Adam}\n")
    report = lint(text)
    assert report.analysis is not None, report.diagnostics
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Embedding(10**9, 1024), torch.nn.Linear(1024, 3 * 10**6))
    expected = sum(p.numel() for p in model.parameters())
    assert report.analysis.params == expected
    assert report.analysis.optimizer_state == 2 * expected


@pytest.mark.parametrize("entry", [
    "{type: Conv2d, out_channels: -8, kernel_size: 3}",
    "{type: Conv2d, out_channels: 0, kernel_size: 3}",
    "{type: Conv2d, out_channels: 8, kernel_size: 0}",
    "{type: Conv2d, out_channels: 8.0, kernel_size: 3}",
    "{type: Conv2d, out_channels: 8, kernel_size: 2.5}",
    "{type: Conv2d, out_channels: true, kernel_size: 3}",
    "{type: Conv2d, out_channels: '8', kernel_size: 3}",
    "{type: Conv2d, out_channels: 8, kernel_size: [3, -3]}",
    "{type: Linear, out_features: .inf}",
    "{type: Linear, out_features: .nan}",
])
def test_negative_zero_and_float_sizes(entry):
    assert codes(HEAD + "  - {type: Flatten}\n  - " + entry + "\n") == ["PL202"]


@pytest.mark.parametrize("shape", ["[0, 3]", "[-3]", "[3.5]", "[[3]]", "['3']", "3"])
def test_bad_input_shapes(shape):
    assert codes(f"paramlint: 1\ninput: {shape}\nlayers: [{{type: ReLU}}]\n") == ["PL202"]


def test_sizes_computed_in_blocks_are_checked_too():
    block = "blocks:\n  B:\n    args: {x: null}\n    layers: [{type: Linear, out_features: \"${x - 100}\"}]\n"
    assert codes(HEAD + "  - {type: Flatten}\n  - {type: B, x: 10}\n" + block) == ["PL202"]
    block = "blocks:\n  B:\n    args: {x: null}\n    layers: [{type: Linear, out_features: $x}]\n"
    assert codes(HEAD + "  - {type: Flatten}\n  - {type: B, x: " + "9" * 40 + "}\n" + block) == ["PL405"]
    assert codes(HEAD + "  - {type: Flatten}\n  - {type: B, x: 2.5}\n" + block) == ["PL202"]


# --- rank: shape arithmetic stays small ------------------------------------------------------

def test_rank_limit_on_inputs_arguments_and_outputs():
    assert codes("paramlint: 1\ninput: [" + ", ".join(["2"] * 100) + "]\nlayers: [{type: ReLU}]\n") == ["PL103"]
    big = ", ".join([str(2**62)] * 100_000)  # math.prod of these would take minutes
    assert codes(f"paramlint: 1\ninput: [2]\nlayers: [{{type: Reshape, shape: [{big}]}}]\n") == ["PL103"]
    text = ("paramlint: 1\ninput: [2]\nlayers:\n"
            "  - {type: Unflatten, dim: -1, unflattened_size: [1, 2], repeat: 100000}\n")
    report = lint(text)
    assert [d.code for d in report.diagnostics] == ["PL103"]
    assert f"at most {MAX_RANK}" in report.diagnostics[0].message


# --- graph size: repeat, sub-layers, blocks ------------------------------------------------

@pytest.mark.parametrize("repeat", [10**9, 10**30, MAX_NODES + 1])
def test_repeat_past_the_graph_limit(repeat):
    message = only(HEAD + f"  - {{type: ReLU, repeat: {repeat}}}\n", "PL103")
    assert f"{MAX_NODES:,}" in message


@pytest.mark.parametrize("repeat", ["0", "-1", "2.5", "true", "'3'", "[3]"])
def test_bad_repeat(repeat):
    assert codes(HEAD + f"  - {{type: ReLU, repeat: {repeat}}}\n") in (["PL202"], ["PL305"])


@pytest.mark.parametrize("entry", [
    "{type: LSTM, hidden_size: 8, num_layers: 1000000000}",
    "{type: GRU, hidden_size: 8, num_layers: 100000000000000000000000000000}",
    "{type: Transformer, d_model: 16, nhead: 2, num_encoder_layers: 1000000000, from: [src, tgt]}",
    "{type: Transformer, d_model: 16, nhead: 2, num_decoder_layers: 1000000000, from: [src, tgt]}",
])
def test_stacked_sub_layers_count_toward_the_graph_limit(entry):
    text = f"paramlint: 1\ninputs: {{src: [10, 16], tgt: [10, 16]}}\nlayers:\n  - {entry}\n"
    assert "each stacked layer counts" in only(text, "PL103")


def test_sub_layers_add_up_across_layers():
    text = ("paramlint: 1\ninput: [10, 16]\nlayers:\n"
            f"  - {{type: LSTM, hidden_size: 4, num_layers: {MAX_NODES // 2}}}\n"
            f"  - {{type: LSTM, hidden_size: 4, num_layers: {MAX_NODES // 2}}}\n")
    assert codes(text) == ["PL103"]


def test_blocks_that_use_themselves():
    assert "uses itself" in only(HEAD + "  - {type: B}\nblocks:\n  B: {layers: [{type: B}]}\n", "PL305")
    text = HEAD + "  - {type: A}\nblocks:\n  A: {layers: [{type: B}]}\n  B: {layers: [{type: C}]}\n" \
        "  C: {layers: [{type: ReLU}, {type: A}]}\n"
    assert "A > B > C > A" in only(text, "PL305")


def test_block_nesting_limit():
    chain = "".join(f"  B{i}: {{layers: [{{type: B{i + 1}}}]}}\n" for i in range(MAX_BLOCK_DEPTH + 5))
    text = HEAD + "  - {type: B0}\nblocks:\n" + chain + f"  B{MAX_BLOCK_DEPTH + 5}: {{layers: [{{type: ReLU}}]}}\n"
    assert f"deeper than {MAX_BLOCK_DEPTH}" in only(text, "PL103")


def test_exponential_blocks_stop_at_the_graph_limit():
    # each level uses the next twice: 2^30 layers written in 31 lines
    levels = 30
    chain = "".join(f"  B{i}: {{layers: [{{type: B{i + 1}}}, {{type: B{i + 1}}}]}}\n" for i in range(levels))
    text = HEAD + "  - {type: B0}\nblocks:\n" + chain + f"  B{levels}: {{layers: [{{type: ReLU}}]}}\n"
    assert f"{MAX_NODES:,}" in only(text, "PL103")


def test_from_with_absurd_references():
    assert codes(HEAD + "  - {type: ReLU}\n  - {type: ReLU, from: " + "9" * 40 + "}\n") == ["PL302"]
    assert codes(HEAD + "  - {type: ReLU}\n  - {type: ReLU, from: -1}\n") == ["PL202"]
    assert codes(HEAD + "  - {type: LSTM, hidden_size: 4, name: a}\n  - {type: ReLU, from: a.99999999999999999999}\n")


# --- special files and folders --------------------------------------------------------------

def _lint_one(path: Path) -> Tuple[str, ...]:
    start = time.perf_counter()
    reports = lint_paths([str(path)], isolated=True)
    assert time.perf_counter() - start < BOUND_SECONDS
    return tuple(d.code for r in reports for d in r.diagnostics)


def test_directory_given_as_a_file(tmp_path):
    folder = tmp_path / "model.yaml"
    folder.mkdir()
    assert Linter().lint_file(str(folder)).diagnostics[0].code == "PL901"
    assert "is a directory" in Linter().lint_file(str(folder)).diagnostics[0].message
    assert _lint_one(folder) == ()  # a folder given on the command line is searched (empty here)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.yaml"
    os.mkfifo(fifo)  # nothing ever writes to it: reading would block forever
    assert _lint_one(fifo) == ("PL901",)
    assert _lint_one(tmp_path) == ("PL901",)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_socket_is_refused(tmp_path):
    path = tmp_path / "model.yaml"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError as error:  # pragma: no cover - path too long for a socket address
        pytest.skip(str(error))
    try:
        assert _lint_one(path) == ("PL901",)
        assert "socket" in lint_paths([str(path)], isolated=True)[0].diagnostics[0].message
    finally:
        server.close()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_device_is_refused(tmp_path):
    link = tmp_path / "model.yaml"
    link.symlink_to("/dev/zero")
    assert _lint_one(link) == ("PL901",)


def test_symlink_loops_in_a_searched_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.yaml").write_text(HEAD + "  - {type: ReLU}\n", encoding="utf-8")
    (tmp_path / "sub" / "up").symlink_to("..", target_is_directory=True)  # a folder loop
    (tmp_path / "self").symlink_to(".", target_is_directory=True)
    (tmp_path / "a.yaml").symlink_to("b.yaml")  # a file loop
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    (tmp_path / "dangling.yaml").symlink_to("missing.yaml")
    reports = lint_paths([str(tmp_path)], isolated=True)
    names = sorted(Path(r.path).name for r in reports)
    assert names == ["a.yaml", "b.yaml", "dangling.yaml", "ok.yaml"]
    by_name = {Path(r.path).name: [d.code for d in r.diagnostics] for r in reports}
    assert by_name == {"a.yaml": ["PL901"], "b.yaml": ["PL901"], "dangling.yaml": ["PL901"], "ok.yaml": []}
    assert _lint_one(tmp_path / "a.yaml") == ("PL901",)


def test_one_bad_file_never_stops_the_others(tmp_path):
    (tmp_path / "a_binary.yaml").write_bytes(b"paramlint: 1\n" + b"\x00\xff" * 100)
    (tmp_path / "b_bomb.yaml").write_text("paramlint: 1\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]\n" for i in range(10)), encoding="utf-8")
    (tmp_path / "c_good.yaml").write_text(HEAD + "  - {type: ReLU}\n", encoding="utf-8")
    reports = lint_paths([str(tmp_path)], isolated=True)
    assert [(Path(r.path).name, [d.code for d in r.diagnostics]) for r in reports] == [
        ("a_binary.yaml", ["PL105"]), ("b_bomb.yaml", ["PL103"]), ("c_good.yaml", [])]
    assert reports[-1].analysis is not None


# --- problems found by fuzzing, fixed in validate.py, units.py and cli.py -------------------

def test_budget_with_more_digits_than_python_prints():
    from paramlint.report import render

    report = lint(HEAD + "  - {type: ReLU}\nbudgets: {params: '" + "9" * 5000 + "T'}\n")
    for format_name in ("text", "json", "markdown"):
        render(format_name, [report], summary=True)


def test_lone_surrogate_in_a_report_written_to_a_file(tmp_path):
    from paramlint.cli import main

    config = tmp_path / "model.json"
    config.write_text('{"paramlint": 1, "input": [3], "layers": [{"type": "ReLU", "from": "\\ud800"}]}',
                      encoding="utf-8")
    assert main([str(config), "--isolated", "-o", str(tmp_path / "report.txt")]) == 1


@pytest.mark.parametrize("key", ["1", "null", "1.5", "true"])
def test_non_string_key_in_a_layer_entry(key):
    assert set(codes(HEAD + f"  - {{type: ReLU, {key}: 2}}\n")) == {"PL201"}


@pytest.mark.parametrize("text", [
    "paramlint: 1\ninput: [3.0, 8, 8]\nlayers: [{type: Conv2d, out_channels: 8, kernel_size: 3}]\n",
    "paramlint: 1\ninput: [3, 8, 8]\nlayers: [{type: Conv2d, out_channels: 8, kernel_size: 3}]\n"
    "training: {batch_size: 2.0}\n",
])
def test_float_sizes_outside_layers_are_refused(text):
    assert codes(text) == ["PL202"]


def test_float_budget_is_refused():
    assert codes(HEAD + "  - {type: ReLU}\nbudgets: {params: 10.0}\n") in (["PL202"], ["PL205"])


def test_layer_entry_without_type():
    assert codes(HEAD + "  - {types: Conv2d, out_channels: 5, kernel_size: 5}\n") in (["PL201"], ["PL203"])


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path, monkeypatch):
    (tmp_path / "ok.yaml").write_text(HEAD + "  - {type: ReLU}\n", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "model.yaml").write_text(HEAD + "  - {type: Linear, in_features: 7, out_features: 2}\n", encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path="."):  # as if the folder had no read permission (root reads it anyway)
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    reports = lint_paths([str(tmp_path)], isolated=True)
    assert [(Path(r.path).name, [d.code for d in r.diagnostics]) for r in reports] == [
        ("ok.yaml", []), ("locked", ["PL901"])]
    assert "Permission denied" in reports[1].diagnostics[0].message


def test_block_arguments_of_any_key_and_value_type():
    from paramlint.report import REPORTERS, render

    text = (HEAD + "  - {type: B, repeat: 2}\nblocks:\n  B:\n    args: {1: 2, x: [1, [2]], y: {a: null}}\n"
            "    layers: [{type: ReLU}]\n")
    report = lint(text)
    assert report.analysis is not None and report.diagnostics == ()
    for format_name in REPORTERS:  # the summary groups layers by block use: list values must not break it
        assert "B #2" in render(format_name, [report], summary=True) or format_name not in ("text", "markdown")
