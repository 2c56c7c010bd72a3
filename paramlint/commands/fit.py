"""``paramlint fit``: the largest batch size whose training step fits in memory.

    paramlint fit CONFIG --gpu A100-80GB
    paramlint fit CONFIG --memory "24 GiB" [--overhead "65 MiB"] [--format json]
    paramlint fit CONFIG --gpu H100-80GB --inference [batch|context]

The peak is the memory model's (docs/memory.md), per device, for the
config's optimizer, precision, devices and sharding; only the batch size
changes.  The search doubles the batch until the peak exceeds the budget,
then bisects: the peak never shrinks as the batch grows.  With
``--inference`` the serving peak of the config's ``inference:`` section is
searched instead (commands/fit_inference.py).  Exit 0 when some batch fits,
1 when not even one sample does or the config has errors (as ``paramlint``
exits), 2 on usage errors or an unreadable file.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence, TextIO, Tuple

from ..core.units import UnitError, format_bytes, parse_bytes
from ..memory.precision import CPU, CUDA, DeviceModel
from ..memory.search import GPUS, MAX_BATCH, largest_batch, resolve_gpu


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paramlint fit", description="The largest batch size per device whose "
                                     "training step fits a memory budget, with the breakdown at that size.")
    parser.add_argument("config", metavar="CONFIG", help="a model config (YAML or JSON)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--memory", metavar="BYTES", help="the budget per device with its unit, e.g. '24 GiB' or 80GB")
    budget.add_argument("--gpu", metavar="NAME", help="a GPU's memory: " + ", ".join(GPUS))
    parser.add_argument("--overhead", metavar="BYTES",
                        help=f"fixed CUDA overhead (workspaces) added to the peak (default "
                             f"{format_bytes(CUDA.overhead)}; 0 on --device cpu)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="the device model (default cuda)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--inference", nargs="?", const="batch", choices=("batch", "context"),
                        help="serve instead of train (the config's `inference:` section): the largest batch of "
                             "sequences (default), or the largest prompt at the section's batch size")
    parser.add_argument("--sequence-length", action="store_true",
                        help="search the longest token sequence at the config's batch size instead of the batch")
    return parser


def _budget(args: argparse.Namespace) -> Tuple[int, str]:
    if args.gpu:
        name = resolve_gpu(args.gpu)  # ValueError with the likeliest names
        return GPUS[name], f"{name} ({format_bytes(GPUS[name])})"
    value = _bytes(args.memory)
    return value, format_bytes(value)


def _bytes(text: str) -> int:
    """A size with its unit (``24 GiB``); a bare number is refused (12 would be 12 bytes), except 0."""
    return 0 if text.strip() == "0" else parse_bytes(text)


def _device(args: argparse.Namespace) -> DeviceModel:
    device = CPU if args.device == "cpu" else CUDA
    if args.overhead is not None:
        device = device.with_overhead(_bytes(args.overhead))
    return device


def _load(path: str):
    """(analysis, graph output, error lines, exit status when there is no analysis) for a config file."""
    from ..lint import Linter

    report = Linter().lint_file(path)
    if report.analysis is None or report.errors:
        lines = [f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}" for d in report.diagnostics]
        status = 2 if report.skipped or report.failed_to_read else 1  # errors in the config: 1, as lint exits
        return None, None, lines or [f"{path}: not a paramlint config (no `paramlint: 1`)"], status
    return report.analysis, report.analysis.output, [], 0


def main(argv: Optional[Sequence[str]] = None, *, stdout: Optional[TextIO] = None,
         stderr: Optional[TextIO] = None) -> int:
    """``paramlint fit``; exit 0 (a batch fits), 1 (none does, or the config has errors), 2 (usage, unreadable)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[2:] if argv is None else argv))
    except SystemExit as stop:
        return int(stop.code or 0) and 2
    try:
        budget, budget_text = _budget(args)
        device = _device(args)
    except (ValueError, UnitError) as error:
        print(f"paramlint fit: error: {error}", file=stderr)
        return 2
    try:
        analysis, output, problems, status = _load(args.config)
    except OSError as error:
        print(f"paramlint fit: error: cannot read {args.config}: {error.strerror or error}", file=stderr)
        return 2
    if analysis is None:
        print("\n".join(problems), file=stderr)
        return status
    if args.inference:
        from .fit_inference import fit_inference

        return fit_inference(args, analysis, output, budget, budget_text, device, stdout, stderr)
    if args.sequence_length:
        return _sequence(args, budget, budget_text, device, stdout, stderr)
    from ..memory.finetune_run import memory_model

    model = memory_model(analysis.finetune, analysis.shapes, output, analysis.training, device=device)
    batch, peak = largest_batch(model.peak, budget)
    estimate = model.estimate(max(batch, 1))
    above = model.peak(batch + 1) if batch else None
    if args.format == "json":
        document = {"config": args.config, "budget": budget, "device": device.name, "batch_size": batch,
                    "peak": peak, "peak_at_next_batch": above, "memory": estimate.to_dict()}
        stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.write("\n".join(_text(args.config, budget_text, batch, estimate, above, analysis.training)) + "\n")
    return 0 if batch else 1


def _sequence(args: argparse.Namespace, budget: int, budget_text: str, device: DeviceModel, stdout: TextIO,
              stderr: TextIO) -> int:
    from ..source.loader import LIMITS, load_document
    from ..source.reader import read_guarded
    from .fit_sequence import longest_sequence

    data = load_document(read_guarded(args.config, LIMITS.max_bytes), path=args.config).data
    length, peak, analysis, note = longest_sequence(data, budget, device, path=args.config)
    if note:
        print(f"paramlint fit: {args.config}: {note}", file=stderr)
        return 2
    batch = analysis.training.batch_size if analysis is not None else None
    if args.format == "json":
        document = {"config": args.config, "budget": budget, "device": device.name, "sequence_length": length,
                    "batch_size": batch, "peak": peak,
                    "memory": analysis.memory.to_dict() if analysis is not None else None}
        stdout.write(json.dumps(document, indent=2) + "\n")
    elif length:
        stdout.write(f"{args.config}: the longest sequence that fits {budget_text} at batch size {batch} is "
                     f"{length:,} token{'s' if length > 1 else ''} (peak {format_bytes(peak)})\n")
    else:
        stdout.write(f"{args.config}: not even 1 token fits {budget_text} (peak {format_bytes(peak)})\n")
    return 0 if length else 1


def _text(path: str, budget: str, batch: int, estimate, above: Optional[int], setup) -> List[str]:
    where = f"{setup.optimizer}, {setup.precision}" + (
        f", {setup.sharding} over {setup.devices} devices" if setup.sharding != "none" else "")
    if not batch:
        lines = [f"{path}: not even batch size 1 fits {budget} ({where}): the peak is "
                 f"{format_bytes(estimate.peak)} at batch size 1"]
    else:
        lines = [f"{path}: the largest batch size per device that fits {budget} is {batch} ({where})",
                 f"  peak at batch size {batch}: {format_bytes(estimate.peak)}"]
        if above is not None and batch < MAX_BATCH:
            here, there = distinct_bytes(estimate.peak, above)
            lines[-1] = f"  peak at batch size {batch}: {here}; at {batch + 1}: {there}"
    lines.append(f"  breakdown at batch size {max(batch, 1)} (at the {estimate.phase} peak):")
    for name, value in estimate.parts().items():
        if value:
            lines.append(f"    {name.replace('_', ' '):18s} {format_bytes(value):>12s}  "
                         f"({100 * value / estimate.peak:.1f}%)")
    return lines


def distinct_bytes(first: int, second: int) -> Tuple[str, str]:
    """Two sizes in one unit with the fewest decimals (at least one) that tell them apart: the step from batch N
    to N+1 stays visible (``39.59 GiB`` and ``39.61 GiB``, not ``39.6 GiB`` twice); exact bytes when nothing does."""
    unit, size = next(((u, s) for u, s in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if first >= s), ("B", 1))
    if size == 1:
        return f"{first:,} B", f"{second:,} B"
    for decimals in range(1, 7):
        a, b = f"{first / size:,.{decimals}f} {unit}", f"{second / size:,.{decimals}f} {unit}"
        if a != b:
            return a, b
    return f"{first:,} B", f"{second:,} B"
