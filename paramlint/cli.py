"""The ``paramlint`` command: ``main(argv) -> int`` only wires the steps.

    paramlint [options] PATH...     lint configs (exit 0 ok, 1 findings, 2 usage/unreadable/internal)
    paramlint --explain CODE        a rule's documentation
    paramlint rules                 the rule catalogue
    paramlint schema                the JSON Schema of the config format (for editors)
    paramlint layers [TYPE]         the layer types with their arguments and defaults
    paramlint diff OLD NEW          how the model changes between two configs (REV:PATH reads git)
    paramlint fit CONFIG --gpu A100-80GB   the largest batch size that fits in memory
    paramlint convert config.json   a Hugging Face config.json as format-1 YAML
"""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, TextIO

from . import __version__
from .core.runtime import collector_paused
from .report import REPORTERS

if TYPE_CHECKING:
    import argparse

EXIT_OK, EXIT_FINDINGS, EXIT_FAILURE = 0, 1, 2

# The options' values when none is given, as build_parser() sets them (a test checks that they agree).
DEFAULTS = {"format": None, "output_file": None, "summary": False, "config": None, "isolated": False,
            "strict": False, "exit_zero": False, "color": "auto", "explain": None, "debug": False, "gpu": None,
            "scale": None}


def build_parser() -> argparse.ArgumentParser:
    import argparse  # only here: a pre-commit run (paths alone) never needs it

    parser = argparse.ArgumentParser(
        prog="paramlint",
        description="Lint neural-network architecture configs: schema, shapes, exact parameter counts, "
                    "FLOPs, optimizer state, memory and budgets, without PyTorch.",
        epilog="Also: `paramlint rules` lists the rules, `paramlint schema` prints the JSON Schema, "
               "`paramlint layers [TYPE]` lists the layer types with their arguments, `paramlint diff OLD NEW` compares two configs, `paramlint fit CONFIG --gpu A100-80GB` finds "
               "the largest batch size that fits in memory (each has --help).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="config files, or folders searched for *.yaml, *.yml, *.json "
                             "(files without `paramlint: 1` are skipped)")
    parser.add_argument("--format", choices=tuple(REPORTERS), default=None,
                        help="output format (default: github when GITHUB_ACTIONS is set, else text)")
    parser.add_argument("-o", "--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--summary", action="store_true", help="print the per-layer table")
    parser.add_argument("--config", metavar="FILE",
                        help="tool configuration for all files (pyproject.toml or .paramlint.toml); "
                             "default: found by walking up from each file")
    parser.add_argument("--isolated", action="store_true", help="ignore all tool configuration files")
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when there are findings (2 still means a failure to run)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour text output (auto: on a terminal, unless NO_COLOR is set)")
    parser.add_argument("--gpu", metavar="NAME", help="html and svg: draw this GPU's memory across the memory "
                        "timeline (names as `paramlint fit --gpu` takes them)")
    parser.add_argument("--explain", metavar="CODE", help="print a rule's documentation and exit")
    parser.add_argument("--scale", metavar="LETTER",
                        help="the scale of Ultralytics YOLO model YAMLs (n, s, m, l, x), overriding the file's")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--version", action="version", version=f"paramlint {__version__}")
    return parser


def exit_code(reports: Sequence[object], *, strict: bool = False, exit_zero: bool = False) -> int:
    """2 when a file or configuration could not be read or paramlint failed, else 1 for findings
    (errors; warnings too under ``strict`` or a configuration's ``strict``), else 0."""
    if any(r.failed_to_read for r in reports):  # type: ignore[attr-defined]
        return EXIT_FAILURE
    if exit_zero:
        return EXIT_OK
    if any(r.failed or (strict and r.warnings) for r in reports):  # type: ignore[attr-defined]
        return EXIT_FINDINGS
    return EXIT_OK


def default_format(environ: Mapping[str, str]) -> str:
    return "github" if environ.get("GITHUB_ACTIONS") else "text"


def use_color(choice: str, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """``auto``: only on a terminal, and never when NO_COLOR is set to anything non-empty."""
    if choice != "auto":
        return choice == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not environ.get("NO_COLOR")


def can_encode(text: str, stream: TextIO) -> bool:
    """Whether ``stream``'s encoding can show ``text`` (the summary's sparkline falls back to ASCII)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def write(text: str, stream: TextIO) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show the markdown's marks
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def write_output(path: str, text: str, *, inputs: Sequence[str]) -> None:
    """Write the report to ``path``, never through a symlink and never onto a file that was an input."""
    import errno

    if os.path.islink(path):
        raise OSError(errno.ELOOP, "it is a symlink; give the real path")
    if os.path.exists(path):
        target = os.stat(path)
        for given in inputs:
            try:
                same = os.path.samestat(target, os.stat(given))
            except OSError:
                continue
            if same:
                raise OSError(errno.EEXIST, f"it is an input ({given}); choose another file")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Every subcommand; a failed write to stdout (``> /dev/full``, a closed pipe or stdout) is one line, exit 2."""
    if sys.stdout is None:  # started with stdout closed (``>&-``)
        sys.stdout = _ClosedStream()
    try:
        status = _run(argv)
        sys.stdout.flush()
        return status
    except OSError as error:  # the subcommands catch their own read errors: this is the output failing
        _silence_stdout()
        try:
            print(f"paramlint: error: cannot write the output: {error.strerror or error}", file=sys.stderr)
        except (OSError, AttributeError):
            pass
        return EXIT_FAILURE


class _ClosedStream:
    """What stdout is when the process was started without one."""

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _silence_stdout() -> None:
    """Point stdout at the null device, so that Python's own flush at exit cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, AttributeError, ValueError):  # not a real file (io.UnsupportedOperation is both)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def _run(argv: Optional[Sequence[str]] = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["fit"]:
        from .commands.fit import main as fit_main

        return fit_main(args_list[1:])
    if args_list[:1] == ["rules"]:
        from .commands.rules import rules_command

        return rules_command(args_list[1:])
    if args_list[:1] == ["layers"]:
        from .commands.layers import layers_command

        return layers_command(args_list[1:])
    if args_list[:1] == ["diff"]:
        from .commands.diff import diff_command

        return diff_command(args_list[1:])
    if args_list[:1] == ["convert"]:
        from .commands.convert import convert_command

        return convert_command(args_list[1:])
    if args_list[:1] == ["schema"]:
        from .commands.rules import schema_command

        return schema_command(args_list[1:])
    if args_list and not any(arg.startswith("-") for arg in args_list):
        # Paths alone, as pre-commit calls paramlint: argparse (its import, gettext and locale look-ups and the
        # parser) would be a fifth of the run.
        args: Any = SimpleNamespace(paths=args_list, **DEFAULTS)
    else:
        try:
            args = build_parser().parse_args(args_list)
        except SystemExit as stop:  # argparse exits on usage errors and --help/--version
            return int(stop.code or 0) and EXIT_FAILURE
    if args.explain:
        from .commands.rules import explain_command

        return explain_command(args.explain)
    if args.gpu:
        from .memory.search import resolve_gpu

        try:
            args.gpu = resolve_gpu(args.gpu)
        except ValueError as error:
            print(f"paramlint: error: {error}", file=sys.stderr)
            return EXIT_FAILURE
    if not args.paths:
        build_parser().print_usage(sys.stderr)
        print("paramlint: error: give at least one file or folder", file=sys.stderr)
        return EXIT_FAILURE
    with collector_paused():  # importing the pipeline makes thousands of objects and no garbage
        from .api import lint_paths
        from .report import render

    try:
        reports = lint_paths(args.paths, config=args.config, isolated=args.isolated, debug=args.debug,
                             scale=args.scale)
    except OSError as error:  # only an explicit --config that cannot be read
        print(f"paramlint: error: cannot read the configuration {args.config}: {error.strerror or error}",
              file=sys.stderr)
        return EXIT_FAILURE
    format_name = args.format or default_format(os.environ)
    if args.output_file:
        text = render(format_name, reports, summary=args.summary, color=args.color == "always", gpu=args.gpu)
        try:
            inputs = [r.path for r in reports] + ([args.config] if args.config else [])
            write_output(args.output_file, text, inputs=inputs)
        except OSError as error:
            print(f"paramlint: error: cannot write {args.output_file}: {error.strerror or error}", file=sys.stderr)
            return EXIT_FAILURE
    else:
        color = format_name == "text" and use_color(args.color, sys.stdout, os.environ)
        write(render(format_name, reports, summary=args.summary, color=color, unicode=can_encode("▁█", sys.stdout),
                     gpu=args.gpu), sys.stdout)
    return exit_code(reports, strict=args.strict, exit_zero=args.exit_zero)
