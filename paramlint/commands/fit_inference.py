"""``paramlint fit --inference``: the largest batch of sequences, or the
longest prompt, whose serving peak (the larger of prefill and decode, see
paramlint/memory/inference.py) fits a memory budget.  Both peaks grow with
the batch and with the prompt, so the same doubling-then-bisecting search
as for training applies."""
from __future__ import annotations

import argparse
import json
from typing import Any, List, TextIO

from ..core.units import format_bytes
from ..memory.inference import InferenceError, InferenceEstimate, InferenceModel
from ..memory.precision import DeviceModel
from ..memory.search import largest_batch
from ..model.inference_setup import read_inference
from ..source.loader import load_document

MAX_CONTEXT = 1 << 24  # 16M tokens: beyond any model's positions


def fit_inference(args: argparse.Namespace, analysis: Any, output: Any, budget: int, budget_text: str,
                  device: DeviceModel, stdout: TextIO, stderr: TextIO) -> int:
    with open(args.config, "rb") as handle:
        data = load_document(handle.read(), path=args.config).data
    setup = read_inference(data.get("inference"))
    if setup is None:
        print(f"paramlint fit: error: {args.config} has no `inference:` section", file=stderr)
        return 2
    try:
        model = InferenceModel(data, analysis.shapes, output, setup, device=device)
        if args.inference == "batch":
            found, _ = largest_batch(lambda batch: model.estimate(batch).peak, budget)
            estimate = model.estimate(max(found, 1))
            above = model.estimate(found + 1) if found else None
        else:
            found, _ = largest_batch(lambda tokens: model.estimate(prompt=tokens).peak, budget, limit=MAX_CONTEXT)
            estimate = model.estimate(prompt=max(found, 1))
            above = model.estimate(prompt=found + 1) if found else None
    except InferenceError as error:
        print(f"paramlint fit: error: {args.config}: {error}", file=stderr)
        return 2
    if args.format == "json":
        document = {"config": args.config, "budget": budget, "device": device.name, "search": args.inference,
                    "found": found, "inference": dict(estimate.to_dict()),
                    "peak_above": above.peak if above is not None else None}
        stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.write("\n".join(_text(args.config, budget_text, args.inference, found, estimate, above)) + "\n")
    return 0 if found else 1


def _text(path: str, budget: str, search: str, found: int, estimate: InferenceEstimate,
          above: Any) -> List[str]:
    what = "batch of sequences" if search == "batch" else "prompt (tokens)"
    if not found:
        return [f"{path}: nothing fits {budget}: the serving peak is {format_bytes(estimate.peak)} at "
                f"{'batch 1' if search == 'batch' else 'a 1-token prompt'}"]
    lines = [f"{path}: the largest {what} that fits {budget} is {found:,}",
             f"  at batch {estimate.batch_size}, {estimate.prompt_tokens:,}-token prompt, {estimate.cached_tokens:,} "
             f"tokens cached: peak {format_bytes(estimate.peak)}"
             + (f"; one more: {format_bytes(above.peak)}" if above is not None else ""),
             f"    weights        {format_bytes(estimate.weights):>12s}",
             f"    KV cache       {format_bytes(estimate.kv_cache):>12s}  ({estimate.kv_per_token:,} bytes per token "
             f"per sequence)",
             f"    prefill peak   {format_bytes(estimate.prefill_peak):>12s}",
             f"    decode peak    {format_bytes(estimate.decode_peak):>12s}"]
    return lines
