"""Configs for the benchmarks: a deep network written out layer by layer, and a batch of files.

    python benchmarks/generate.py layers 20000 > deep.yaml
    python benchmarks/generate.py batch 500 FOLDER

Everything is deterministic, so two runs measure the same inputs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# One residual MLP block of a transformer-like network, written out (no `repeat`, no blocks), so that
# every layer is an entry of the file that the loader, the schema and the analysis all see.
_PATTERN = (
    "  - {{type: LayerNorm, name: ln{i}}}",
    "  - {{type: Linear, out_features: 256, name: up{i}}}",
    "  - {{type: GELU}}",
    "  - {{type: Dropout, p: 0.1}}",
    "  - {{type: Linear, out_features: 64, bias: false, name: down{i}}}",
    "  - {{type: Add, from: [down{i}, {skip}], name: res{i}}}",
    "  - {{type: ReLU}}",
    "  - {{type: Identity, name: out{i}}}",
)


def deep_network(layers: int) -> str:
    """A config of exactly ``layers`` layer entries (a multiple of 8 is a whole number of blocks),
    with training settings and budgets, as a pre-commit hook would lint it."""
    lines: List[str] = ["paramlint: 1", f"name: deep-{layers}", "input: [16, 64]", "layers:"]
    written = 0
    block = 0
    while written < layers:
        skip = f"out{block - 1}" if block else "input"
        for template in _PATTERN:
            if written == layers:
                break
            lines.append(template.format(i=block, skip=skip))
            written += 1
        block += 1
    lines += ["training:", "  batch_size: 32", "  optimizer: AdamW", "  precision: bf16-mixed",
              "budgets:", "  params: 10B", "  memory: 1 TiB"]
    return "\n".join(lines) + "\n"


def batch(folder: Path, count: int) -> List[Path]:
    """``count`` config files in ``folder``: the examples in turn (the broken one included), each
    copy with its own name, as a repository's configs would be."""
    sources = sorted(EXAMPLES.glob("*.yaml"))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        source = sources[index % len(sources)]
        text = source.read_text(encoding="utf-8")
        path = folder / f"{index:04d}_{source.name}"
        path.write_text(f"# copy {index} of {source.name}\n" + text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: List[str]) -> int:
    if len(argv) == 2 and argv[0] == "layers":
        sys.stdout.write(deep_network(int(argv[1])))
        return 0
    if len(argv) == 3 and argv[0] == "batch":
        batch(Path(argv[2]), int(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
