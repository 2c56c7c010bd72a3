"""``paramlint convert config.json``: the format-1 YAML of a Hugging Face config, to see and edit the graph."""
from __future__ import annotations

import argparse
import sys
from typing import AbstractSet, Any, Dict, Optional, Sequence

import yaml

from ..core.diagnostics import ConfigPath, Diagnostic
from ..importers.huggingface import SUPPORTED, convert, is_huggingface_config, unsupported_note
from ..lint import locate
from ..source.loader import LIMITS, LoadError, load_document
from ..source.reader import read_guarded


def to_yaml(data: Dict[str, Any], *, source: str, unread: AbstractSet[ConfigPath] = frozenset()) -> str:
    """Format-1 YAML: one line per layer entry, blocks first; the top-level layers at ``unread`` (left
    unread on purpose by the importer) carry a PL455 suppression."""
    header = (f"# {source} as paramlint format 1 (`paramlint convert`): the modules transformers builds,\n"
              f"# under transformers' names. Edit freely; `paramlint` lints it like any config.\n")
    top = {k: v for k, v in data.items() if k not in ("blocks", "layers")}
    text = yaml.safe_dump(top, sort_keys=False, default_flow_style=None, width=120)
    if data.get("blocks"):
        text += "\nblocks:\n"
        for name, block in data["blocks"].items():
            text += f"  {name}:\n"
            if block.get("inputs"):
                text += f"    inputs: [{', '.join(block['inputs'])}]\n"
            text += "    layers:\n" + _entries(block["layers"], "      ")
    quiet = {index for key, index in unread if key == "layers"}
    return header + text + "\nlayers:\n" + _entries(data["layers"], "  ", quiet)


def _entries(entries: Sequence[Dict[str, Any]], indent: str, quiet: AbstractSet[int] = frozenset()) -> str:
    lines = []
    for index, entry in enumerate(entries):
        flow = yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, width=1 << 16).strip()
        note = "  # paramlint: ignore[PL455] (left unread on purpose: docs/format.md)" \
            if index in quiet else ""
        lines.append(f"{indent}- {flow}{note}\n")
    return "".join(lines)


def convert_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="paramlint convert",
                                     description="Print a Hugging Face config.json as paramlint format-1 YAML.")
    parser.add_argument("path", metavar="CONFIG_JSON")
    parser.add_argument("--sequence-length", type=int, metavar="N",
                        help="tokens per sample (default: max_position_embeddings, at most 4096)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="mark every decoder/encoder layer `checkpoint: true`, as transformers applies it")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0) and 2
    try:
        document = load_document(read_guarded(args.path, LIMITS.max_bytes), path=args.path)
    except OSError as error:
        print(f"paramlint convert: error: cannot read {args.path}: {error.strerror or error}", file=sys.stderr)
        return 2
    except LoadError as error:
        print(f"{args.path}:{error.line}:{error.column}: {error.code} {error.message}")
        return 1
    except Exception as error:  # too large: the limit's own message
        print(f"paramlint convert: error: {args.path}: {error}", file=sys.stderr)
        return 2
    data = document.data
    if not is_huggingface_config(data):
        print(f"paramlint convert: error: {args.path} is not a Hugging Face config.json (no top-level "
              f"`model_type`)", file=sys.stderr)
        return 2
    if data["model_type"] not in SUPPORTED:
        print(f"paramlint convert: error: {args.path}: {unsupported_note(data['model_type'])}", file=sys.stderr)
        return 2
    if args.sequence_length is not None and args.sequence_length < 1:
        print("paramlint convert: error: --sequence-length must be positive", file=sys.stderr)
        return 2
    conversion = convert(data, sequence_length=args.sequence_length,
                         gradient_checkpointing=args.gradient_checkpointing)
    if conversion.data is None:
        _print(locate(conversion.findings, document, args.path))
        return 1
    sys.stdout.write(to_yaml(conversion.data, source=args.path, unread=conversion.unread))
    return 0


def _print(diagnostics: Sequence[Diagnostic], stream: Optional[Any] = None) -> None:
    for d in diagnostics:
        print(f"{d.path}:{d.line}:{d.column}: {d.code} {d.message}", file=stream or sys.stdout)
