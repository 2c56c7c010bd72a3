"""Linting a Hugging Face config.json, as ratios measured in one run on one machine.

    python benchmarks/huggingface.py             # 7 repetitions, a markdown report on stdout
    python benchmarks/huggingface.py --reps 3 --output report.md --json results.json

Measured (fresh processes, interleaved, after a warm-up; see bench.py for how):
- ``python -c "import yaml, jsonschema"``, the floor set by paramlint's two dependencies;
- ``paramlint examples/huggingface/llama-3-70b/config.json`` (the config alone);
- ``paramlint examples/huggingface/llama-3-70b/finetune.yaml`` (through a format-1 file with training:);
- transformers building ``AutoModelForCausalLM.from_config`` of the same config.json on the meta device
  (torch and transformers imports included: what a user of the "count it with transformers" route pays).

Targets: at most 1.5x the floor, at least 20x faster than transformers on meta.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench import FLOOR_CODE, Timing, child_environment, machine, measure, ms, ratio  # noqa: E402

CONFIG = ROOT / "examples" / "huggingface" / "llama-3-70b" / "config.json"
FINETUNE = ROOT / "examples" / "huggingface" / "llama-3-70b" / "finetune.yaml"
TRANSFORMERS_CODE = ("import sys, json, torch, transformers\n"
                     "config = transformers.AutoConfig.from_pretrained(sys.argv[1])\n"
                     "with torch.device('meta'):\n"
                     "    model = transformers.AutoModelForCausalLM.from_config(config)\n"
                     "print(sum(p.numel() for p in model.parameters()))\n")


def run(reps: int) -> Dict[str, object]:
    python = sys.executable
    with tempfile.TemporaryDirectory() as pycache:
        env = child_environment(pycache=pycache)
        commands = {
            "floor": [python, "-c", FLOOR_CODE],
            "config.json": [python, "-m", "paramlint", str(CONFIG)],
            "finetune.yaml": [python, "-m", "paramlint", str(FINETUNE)],
            "transformers on meta": [python, "-c", TRANSFORMERS_CODE, str(CONFIG.parent)],
        }
        timings = measure(commands, reps, {name: env for name in commands}, ROOT)
    return {"machine": machine(), "reps": reps, "timings": timings}


def report(results: Dict[str, object]) -> str:
    timings: Dict[str, Timing] = results["timings"]  # type: ignore[assignment]
    floor, alone, finetune, hf = (timings[k] for k in ("floor", "config.json", "finetune.yaml",
                                                       "transformers on meta"))
    lines = ["# Hugging Face config.json: Llama-3-70B", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in results["machine"].items()]  # type: ignore[union-attr]
    lines += ["", f"{results['reps']} runs each after a warm-up, interleaved; minimum (median).", "",
              "| command | time | / floor | transformers / it |", "|---|---|---|---|"]
    for name, timing in (("import yaml, jsonschema", floor), ("paramlint config.json", alone),
                         ("paramlint finetune.yaml", finetune), ("transformers on meta", hf)):
        lines.append(f"| {name} | {ms(timing.best)} ({ms(timing.median)}) | {ratio(timing, floor)} | "
                     f"{ratio(hf, timing)} |")
    lines += ["", f"config.json / floor: **{alone.best / floor.best:.2f}x**, finetune.yaml / floor: "
                  f"**{finetune.best / floor.best:.2f}x** (target at most 1.5x); transformers on meta / "
                  f"config.json: **{hf.best / alone.best:.1f}x** (target at least 20x)."]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args(argv)
    results = run(options.reps)
    text = report(results)
    if options.output:
        options.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if options.json:
        timings = results["timings"]
        options.json.write_text(json.dumps({name: {"seconds": t.seconds, "exit_codes": t.exit_codes}
                                            for name, t in timings.items()}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
