"""``paramlint diff OLD NEW``: how a change to a config changes the model.

Both configs are analysed; the report shows the totals side by side
(parameters, FLOPs, optimizer state, peak memory) with the change, then the
layers that were added, removed or changed.  Layers are aligned by their
type, output shape and parameter count with difflib's longest matching
blocks, so inserting one layer does not make every later one look changed.
Unchanged layers are left out; ``--all`` lists them too (marked ``=``).

A side may be ``REV:PATH`` (e.g. ``main:models/net.yaml``) to read a file as
committed in git.  Exit status: 0 the diff was printed, 1 a side has errors
and cannot be analysed (its diagnostics are printed), 2 usage or unreadable.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..core.units import format_bytes

TOTALS = (("params", "params"), ("trainable_params", "trainable params"), ("flops", "FLOPs/sample"),
          ("optimizer_state", "optimizer state"), ("memory", "peak memory"))


@dataclass(frozen=True)
class LayerRow:
    """One layer as the diff compares it."""

    name: str
    type: str
    output_shape: Tuple[int, ...]
    params: int
    flops: int

    @property
    def signature(self) -> Tuple[str, Tuple[int, ...], int]:
        return (self.type, self.output_shape, self.params)


@dataclass(frozen=True)
class LayerChange:
    kind: str  # "added", "removed", "changed" or "unchanged" (listed with --all only)
    old: Optional[LayerRow]
    new: Optional[LayerRow]


def read_side(spec: str) -> Tuple[str, bytes]:
    """(shown name, bytes) of a path, or of ``REV:PATH`` read with ``git show``; raises OSError."""
    from ..source.document import LIMITS
    from ..source.reader import TooLarge, read_guarded

    if os.path.lexists(spec) or ":" not in spec:
        try:
            return spec, read_guarded(spec, LIMITS.max_bytes)
        except TooLarge as error:
            raise OSError(str(error)) from None
    if spec.startswith("-"):  # never an option of git's
        raise OSError(f"{spec!r} is neither a file nor REV:PATH")
    done = subprocess.run(["git", "show", "--end-of-options", spec], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise OSError(f"git show {spec}: {done.stderr.decode('utf-8', 'replace').strip()[:500]}")
    if len(done.stdout) > LIMITS.max_bytes:
        raise OSError(f"{spec} has {len(done.stdout)} bytes, over the limit of {LIMITS.max_bytes}")
    return spec, done.stdout


def _rows(analysis: Any) -> List[LayerRow]:
    return [LayerRow(i.node.trace, i.node.type, tuple(i.output.shape), i.params, i.result.flops)
            for i in analysis.shapes.layers]


def totals(analysis: Any) -> Dict[str, int]:
    return {"params": analysis.params, "trainable_params": analysis.trainable_params, "flops": analysis.flops,
            "optimizer_state": analysis.optimizer_state, "memory": analysis.memory.peak}


MAX_ALIGN = 4_000_000  # old x new layers that difflib aligns at most (its matching is quadratic)


def layer_changes(old: Sequence[LayerRow], new: Sequence[LayerRow], *, unchanged: bool = False) -> List[LayerChange]:
    """Added, removed and changed layers, in the order of the configs; with ``unchanged`` the others too.

    The common head and tail are matched first (linear); difflib aligns only
    what lies between, and a middle too large for it (``MAX_ALIGN``) is
    compared position by position: 20,000 identical ReLUs cost nothing.
    """
    from difflib import SequenceMatcher

    a, b = [r.signature for r in old], [r.signature for r in new]
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    a_mid, b_mid = a[head:len(a) - tail], b[head:len(b) - tail]
    if len(a_mid) * len(b_mid) <= MAX_ALIGN:
        opcodes = SequenceMatcher(None, a_mid, b_mid, autojunk=False).get_opcodes()
    else:
        opcodes = [("replace", 0, len(a_mid), 0, len(b_mid))]
    def same(i: int, j: int, count: int) -> List[LayerChange]:
        return [LayerChange("unchanged", old[i + k], new[j + k]) for k in range(count)] if unchanged else []

    changes: List[LayerChange] = same(0, 0, head)
    for tag, i1, i2, j1, j2 in opcodes:
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        if tag == "equal":
            changes += same(i1, j1, i2 - i1)
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            x, y = old[i1 + k], new[j1 + k]
            if x.signature == y.signature:  # only when a middle too large was compared by position
                changes += same(i1 + k, j1 + k, 1)
            elif x.type == y.type:
                changes.append(LayerChange("changed", x, y))
            else:
                changes += [LayerChange("removed", x, None), LayerChange("added", None, y)]
        changes += [LayerChange("removed", row, None) for row in old[i1 + pairs:i2]]
        changes += [LayerChange("added", None, row) for row in new[j1 + pairs:j2]]
    changes += same(len(old) - tail, len(new) - tail, tail)
    return changes


def _change(old: int, new: int, *, is_bytes: bool = False) -> str:
    delta = new - old
    if delta == 0:
        return "0"
    shown = ("+" if delta > 0 else "-") + (format_bytes(abs(delta)) if is_bytes else f"{abs(delta):,}")
    return shown + (f" ({100 * delta / old:+.1f}%)" if old else "")


def _value(key: str, value: int) -> str:
    return format_bytes(value) if key == "memory" else f"{value:,}"


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _layer_text(change: LayerChange) -> str:
    if change.kind == "added" and change.new:
        n = change.new
        return f"+ {n.name}  {n.type}  {_shape(n.output_shape)}  {n.params:,} params"
    if change.kind == "removed" and change.old:
        o = change.old
        return f"- {o.name}  {o.type}  {_shape(o.output_shape)}  {o.params:,} params"
    o, n = change.old, change.new
    assert o is not None and n is not None
    name = o.name if o.name == n.name else f"{o.name} -> {n.name}"
    if change.kind == "unchanged":
        return f"= {name}  {n.type}  {_shape(n.output_shape)}  {n.params:,} params"
    shape = _shape(o.output_shape) if o.output_shape == n.output_shape \
        else f"{_shape(o.output_shape)} -> {_shape(n.output_shape)}"
    return f"~ {name}  {n.type}  {shape}  {o.params:,} -> {n.params:,} params ({_change(o.params, n.params)})"


def render_text(names: Tuple[str, str], old: Dict[str, int], new: Dict[str, int], changes: List[LayerChange]) -> str:
    rows = [("", "old", "new", "change")] + [
        (label, _value(key, old[key]), _value(key, new[key]), _change(old[key], new[key], is_bytes=key == "memory"))
        for key, label in TOTALS]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"paramlint diff {names[0]} -> {names[1]}"]
    lines += ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
              for r in rows]
    lines.append("")
    if changes:
        lines += ["Layers:"] + ["  " + _layer_text(c) for c in changes]
    else:
        lines.append("Layers: unchanged")
    return "\n".join(lines) + "\n"


def render_markdown(names: Tuple[str, str], old: Dict[str, int], new: Dict[str, int],
                    changes: List[LayerChange]) -> str:
    lines = [f"## paramlint diff: `{names[0]}` \u2192 `{names[1]}`", "", "| | Old | New | Change |",
             "|---|---:|---:|---:|"]
    lines += [f"| {label} | {_value(key, old[key])} | {_value(key, new[key])} | "
              f"{_change(old[key], new[key], is_bytes=key == 'memory')} |" for key, label in TOTALS]
    lines.append("")
    if changes:
        lines += ["| | Layer | Type | Output shape | Params |", "|---|---|---|---|---:|"]
        for c in changes:
            row = c.new or c.old
            assert row is not None
            mark = {"added": "+", "removed": "\u2212", "changed": "~", "unchanged": "="}[c.kind]
            params = f"{row.params:,}" if c.kind in ("added", "removed", "unchanged") or c.old is None else \
                f"{c.old.params:,} \u2192 {row.params:,}"
            shape = _shape(row.output_shape)
            if c.kind == "changed" and c.old is not None and c.old.output_shape != row.output_shape:
                shape = f"{_shape(c.old.output_shape)} \u2192 {shape}"
            lines.append(f"| {mark} | `{row.name}` | {row.type} | {shape} | {params} |")
    else:
        lines.append("No layer changed.")
    return "\n".join(lines) + "\n"


def render_html(names: Tuple[str, str], reports: Sequence[Any], old: Dict[str, int], new: Dict[str, int],
                changes: List[LayerChange]) -> str:
    from ..report import diff_html

    totals = [(label, _value(key, old[key]), _value(key, new[key]), _change(old[key], new[key], is_bytes=key == "memory"),
               (new[key] > old[key]) - (new[key] < old[key])) for key, label in TOTALS]
    return diff_html.render(names, reports, totals, [(c.kind, _layer_text(c)) for c in changes])


def render_json(names: Tuple[str, str], old: Dict[str, int], new: Dict[str, int], changes: List[LayerChange]) -> str:
    def row(r: Optional[LayerRow]) -> Optional[Dict[str, Any]]:
        return None if r is None else {"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                                       "params": r.params, "flops": r.flops}

    document = {
        "old": names[0], "new": names[1],
        "totals": {key: {"old": old[key], "new": new[key], "change": new[key] - old[key]} for key, _ in TOTALS},
        "layers": [{"change": c.kind, "old": row(c.old), "new": row(c.new)} for c in changes],
    }
    return json.dumps(document, indent=2) + "\n"


def diff_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="paramlint diff",
                                     description="Compare two configs: totals and the layers added, removed or "
                                                 "changed. A side may be REV:PATH to read it from git.")
    parser.add_argument("old", metavar="OLD")
    parser.add_argument("new", metavar="NEW")
    parser.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text")
    parser.add_argument("--config", metavar="FILE", help="tool configuration (project defaults) for both sides")
    parser.add_argument("--all", action="store_true", help="list the unchanged layers too (marked =)")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0) and 2
    from ..api import lint_text
    from ..tool_config import DEFAULT_CONFIG, ConfigResolver, load_config

    analyses = []
    names = []
    reports = []
    for spec in (args.old, args.new):
        try:
            name, text = read_side(spec)
            config = load_config(args.config) if args.config else \
                ConfigResolver().for_file(spec if os.path.exists(spec) else spec.split(":", 1)[-1])
        except (OSError, subprocess.SubprocessError) as error:
            print(f"paramlint diff: error: cannot read {spec}: {error}", file=sys.stderr)
            return 2
        report = lint_text(text, path=name, config=config if not config.broken else DEFAULT_CONFIG)
        if report.analysis is None:
            from ..report import render

            sys.stdout.write(render("text", [report]))
            return 2 if report.failed_to_read or report.skipped else 1
        analyses.append(report.analysis)
        names.append(name)
        reports.append(report)
    old, new = totals(analyses[0]), totals(analyses[1])
    changes = layer_changes(_rows(analyses[0]), _rows(analyses[1]), unchanged=args.all)
    if args.format == "html":
        sys.stdout.write(render_html((names[0], names[1]), reports, old, new, changes))
        return 0
    render_diff = {"text": render_text, "json": render_json, "markdown": render_markdown}[args.format]
    sys.stdout.write(render_diff((names[0], names[1]), old, new, changes))
    return 0
