"""The pipeline for one file, and for many: load -> validate -> graph ->
shapes and counts -> training figures -> budgets -> located diagnostics.

Each step is a function of the previous step's value; nothing here prints.
"""
from __future__ import annotations

import errno
import heapq
import os
import stat
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .core.diagnostics import ERROR, ConfigPath, Diagnostic, Finding, format_config_path
from .core.record import Record
from .core.runtime import collector_paused
from .memory.adapters import FineTuneRun, finetune_contributors, plan_finetune
from .memory.advice import advice
from .memory.model import MemoryEstimate, MemoryModel
from .model.analysis import INT64_MAX, LayerInfo, ShapeAnalysis, analyze_shapes, magnitude
from .model.budgets import BudgetUse, Figure, budget_uses, check_budgets, top_contributors
from .model.graph import build_graph
from .model.layers.base import DTYPE_BYTES, TensorSpec
from .memory.precision import PRECISION_MODELS
from .model.training import OPTIMIZERS, TrainingSetup, optimizer_state_values, read_training
from .rules import RULES
from .source.loader import LIMITS, Document, LoadError, load_document
from .source.suppress import apply_suppressions
from .tool_config import DEFAULT_CONFIG, ConfigResolver, ToolConfig, load_config
from .validation.validator import SchemaValidator

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
FAILURE_CODES = ("PL901", "PL902", "PL602", "PL603")  # exit 2: unreadable, internal, broken tool config


class Analysis(Record):
    """Everything paramlint computed about one model."""

    __slots__ = ("shapes", "training", "optimizer_state", "memory", "budgets", "lines", "finetune")

    # finetune: memory.adapters.FineTuneRun when training.lora is set
    def __init__(self, shapes: ShapeAnalysis, training: TrainingSetup, optimizer_state: int, memory: MemoryEstimate,
                 budgets: Tuple[BudgetUse, ...] = (), lines: Optional[Mapping[int, int]] = None,
                 finetune: Optional[FineTuneRun] = None) -> None:
        self.shapes = shapes
        self.training = training
        self.optimizer_state = optimizer_state
        self.memory = memory
        self.budgets = budgets
        self.lines: Mapping[int, int] = {} if lines is None else lines
        self.finetune = finetune

    @property
    def params(self) -> int:
        return self.finetune.finetune.params if self.finetune is not None else self.shapes.params

    @property
    def trainable_params(self) -> int:
        return self.finetune.finetune.trainable_params if self.finetune is not None else self.shapes.trainable_params

    @property
    def flops(self) -> int:
        return self.shapes.flops


class FileReport(Record):
    """The outcome for one file: skipped, or diagnostics and (when analysable) the model."""

    __slots__ = ("path", "skipped", "diagnostics", "analysis", "name", "strict")

    # strict: the tool configuration makes warnings fail
    def __init__(self, path: str, skipped: bool = False, diagnostics: Tuple[Diagnostic, ...] = (),
                 analysis: Optional[Analysis] = None, name: str = "", strict: bool = False) -> None:
        self.path = path
        self.skipped = skipped
        self.diagnostics = diagnostics
        self.analysis = analysis
        self.name = name
        self.strict = strict

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == ERROR)

    @property
    def warnings(self) -> int:
        return len(self.diagnostics) - self.errors

    @property
    def failed_to_read(self) -> bool:
        return any(d.code in FAILURE_CODES for d in self.diagnostics)

    @property
    def failed(self) -> bool:
        """Errors, or warnings under ``strict``."""
        return bool(self.errors or (self.strict and self.warnings))


class Linter:
    """Lints files; holds the compiled schema so a batch compiles it once."""

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug
        self._validator: Optional[SchemaValidator] = None

    @property
    def validator(self) -> SchemaValidator:
        if self._validator is None:
            self._validator = SchemaValidator()
        return self._validator

    def lint_file(self, path: str, *, config: ToolConfig = DEFAULT_CONFIG) -> FileReport:
        try:
            text = read_limited(path, LIMITS.max_bytes)
        except OSError as error:
            reason = error.strerror or str(error)
            if os.path.isdir(path):
                reason = "is a directory"
            return FileReport(path, diagnostics=(Diagnostic(path, 1, 1, "PL901", f"cannot read {path}: {reason}"),))
        except _TooLarge as error:
            return FileReport(path, diagnostics=(Diagnostic(path, 1, 1, "PL103", str(error)),))
        return self.lint_bytes(text, path=path, config=config)

    def lint_bytes(self, text: bytes, *, path: str, config: ToolConfig = DEFAULT_CONFIG) -> FileReport:
        try:
            with collector_paused():
                report = self._lint(text, path, config)
        except Exception as error:  # a bug in paramlint: report it, never a traceback
            if self.debug:
                import traceback  # only here: a normal run never needs it

                detail = traceback.format_exc()
            else:
                detail = "run with --debug for the traceback"
            message = (f"internal error while linting this file ({type(error).__name__}: {error}); "
                       f"please report this bug with the file. {detail}")
            return FileReport(path, diagnostics=(Diagnostic(path, 1, 1, "PL902", message),))
        # select/ignore and severity overrides apply to every diagnostic of the file
        diagnostics = config.apply(report.diagnostics, path)
        return report.replace(diagnostics=diagnostics, strict=config.strict)

    def _lint(self, text: bytes, path: str, config: ToolConfig) -> FileReport:
        try:
            document = load_document(text, path=path)
        except LoadError as error:
            return FileReport(path, diagnostics=(Diagnostic(path, error.line, error.column, error.code,
                                                            error.message),))
        data = document.data
        if not isinstance(data, Mapping) or "paramlint" not in data:
            return FileReport(path, skipped=True)
        name = data.get("name") if isinstance(data.get("name"), str) else ""
        data, from_defaults = config.with_defaults(data)
        findings, analysis = analyze_document(data, document, self.validator)
        if from_defaults:
            findings = [_mark_default(f, from_defaults, config) for f in findings]
        findings, comment_diagnostics = apply_suppressions(
            findings, document, lambda f: position_of(document, f.config_path, at_key=f.at_key)[0],
            path=path, complete=analysis is not None, source=text)
        diagnostics = tuple(sorted(locate(findings, document, path) + tuple(comment_diagnostics),
                                   key=lambda d: (d.line, d.column, d.code, d.message)))
        return FileReport(path, False, diagnostics, analysis, name)


class _TooLarge(Exception):
    """A file over the size limit, found before reading it."""


def read_limited(path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Checked with stat before it is opened (and with fstat once open, without
    blocking): a FIFO, a socket or a device (``/dev/zero``) is refused
    instead of hanging or filling memory, and an oversized file is refused
    unread.  Raises OSError (the reason in ``strerror``) or _TooLarge.
    """
    _check_regular(os.stat(path), max_bytes)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(os.fstat(fd), max_bytes)  # the path may have been replaced since
        chunks = []
        remaining = max_bytes + 1  # a file that grows while read is still refused
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _TooLarge(f"the file has more than {max_bytes} bytes, the limit")
    return data


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise OSError(errno.EISDIR, "is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, f"is not a regular file (it is a {_file_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        raise _TooLarge(f"the file has {info.st_size} bytes, over the limit of {max_bytes}")


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"


def _mark_default(finding: Finding, from_defaults: Iterable[ConfigPath], config: ToolConfig) -> Finding:
    """Say so when a finding is about a project default rather than the config's own text."""
    if tuple(finding.config_path[:2]) not in from_defaults:
        return finding
    return finding.replace(message=f"{finding.message} (a project default from {config.path})")


def analyze_document(data: Mapping[str, Any], document: Optional[Document],
                     validator: SchemaValidator) -> Tuple[List[Finding], Optional[Analysis]]:
    """Validate and analyse one config; the findings are not located yet."""
    findings = validator.validate(data)
    if findings:
        return findings, None
    graph, graph_findings = build_graph(data)
    findings.extend(graph_findings)
    if graph is None:
        return findings, None
    lines = {}
    if document is not None:
        lines = {node.index: position_of(document, node.config_path)[0] for node in graph.nodes}
    shapes, shape_findings = analyze_shapes(graph, lines)
    findings.extend(shape_findings)
    if shapes is None:
        return findings, None
    setup = read_training(data.get("training"))
    overflow = _batch_overflow(shapes, setup.batch_size)
    if overflow:
        findings.append(Finding("PL405", overflow, ("training", "batch_size")))
        return findings, None
    run, run_findings = plan_finetune(data, graph, shapes, setup.lora, setup.quantization,
                                      PRECISION_MODELS[setup.precision].weight_bytes, setup.base_dtype)
    findings.extend(run_findings)
    if run_findings:
        return findings, None
    trainable_shapes = run.finetune.trainable_shapes if run is not None else shapes.trainable_shapes
    state = optimizer_state_values(setup, trainable_shapes)
    memory_model = MemoryModel(run.shapes if run else shapes, setup, output=run.output if run else graph.output,
                               tuning=run.tuning if run else None)
    memory = memory_model.estimate()
    figures = _figures(shapes, setup, state, memory, advice(memory_model), run)
    budgets = data.get("budgets") or {}
    findings.extend(check_budgets(budgets, figures))
    analysis = Analysis(shapes, setup, state, memory, tuple(budget_uses(budgets, figures)), lines, run)
    return findings, analysis


def _batch_overflow(shapes: ShapeAnalysis, batch_size: int) -> str:
    """Why a batch of activations is beyond what torch can allocate ("" when it is not)."""
    if batch_size <= 1:
        return ""  # one sample: every tensor was checked by the shape analysis
    tensors: List[Tuple[Any, TensorSpec]] = [(name, t) for name, t in shapes.inputs.items()]
    tensors += [(info, t) for info in shapes.layers for t in info.result.outputs]
    sizes = [(t.numel * DTYPE_BYTES.get(t.dtype, 4), index) for index, (_, t) in enumerate(tensors) if t.batched]
    largest, index = max(sizes, default=(0, -1))
    if batch_size * largest <= INT64_MAX:
        return ""
    owner, tensor = tensors[index]
    what = f"the input `{owner}`" if isinstance(owner, str) else f"the output of {owner.node.type} `{owner.node.trace}`"
    return (f"batch_size {magnitude(batch_size)} x {what} {tensor.describe()} ({largest:,} bytes per sample) = "
            f"{magnitude(batch_size * largest)} bytes: more than torch can allocate (2^63-1 bytes)")


def _figures(shapes: ShapeAnalysis, setup: TrainingSetup, state: int, memory: MemoryEstimate,
             memory_advice: Callable[[int], str], run: Optional[FineTuneRun] = None) -> Dict[str, Figure]:
    by_params = _top(shapes.layers, lambda i: i.params)
    by_trainable = _top(shapes.layers, lambda i: i.trainable_params)
    by_flops = _top(shapes.layers, lambda i: i.result.flops)
    params, trainable = shapes.params, shapes.trainable_params
    if run is not None:
        params, trainable = run.finetune.params, run.finetune.trainable_params
        by_trainable = finetune_contributors(run)
    per_param = state / trainable if trainable else 0
    optimizer = OPTIMIZERS[setup.optimizer]
    state_text = (f"{per_param:g} x {trainable:,} trainable parameters "
                  f"({setup.optimizer}: {optimizer.doc})")
    parts = memory.parts()
    memory_text = " + ".join(f"{k.replace('_', ' ')} {_mib(v)}" for k, v in parts.items() if v)
    return {
        "params": Figure(params, "", by_params),
        "trainable_params": Figure(trainable, "", by_trainable),
        "optimizer_state": Figure(state, state_text, by_trainable),
        "flops": Figure(shapes.flops, "", by_flops),
        "memory": Figure(memory.peak, f"{memory_text} at batch size {setup.batch_size}",
                         tuple((k.replace("_", " "), v) for k, v in parts.items() if v), True, memory_advice),
    }


def _top(layers: Sequence[LayerInfo], value: Callable[[LayerInfo], int]) -> Tuple[Tuple[str, int], ...]:
    """The largest contributors; labels are made for those few only (traces are long on deep networks)."""
    largest = heapq.nlargest(3, (info for info in layers if value(info) > 0), key=value)  # ties: first wins
    return top_contributors([(f"{i.node.type} `{i.node.trace}`", value(i)) for i in largest])


def _mib(value: int) -> str:
    from .core.units import format_bytes

    return format_bytes(value)


def position_of(document: Document, config_path: ConfigPath, *, at_key: bool = False) -> Tuple[int, int]:
    """The node at ``config_path``, or its nearest ancestor that has a position."""
    if at_key and config_path in document.key_positions:
        return document.key_positions[config_path]
    path = tuple(config_path)
    while path:
        if path in document.positions:
            return document.positions[path]
        path = path[:-1]
    return document.positions.get((), (1, 1))


def locate(findings: Iterable[Finding], document: Document, path: str) -> Tuple[Diagnostic, ...]:
    """Turn findings into diagnostics with the line and column of their node."""
    diagnostics = []
    for finding in findings:
        line, column = position_of(document, finding.config_path, at_key=finding.at_key)
        severity = finding.severity or RULES[finding.code].severity
        diagnostics.append(Diagnostic(path, line, column, finding.code, finding.message, severity,
                                      format_config_path(finding.config_path)))
    return tuple(sorted(set(diagnostics), key=lambda d: (d.line, d.column, d.code, d.message)))


def discover(paths: Sequence[str], *, unreadable: Optional[List[OSError]] = None) -> Iterator[str]:
    """Files as given; folders searched for *.yaml, *.yml and *.json (hidden folders and symlinked folders
    skipped, so a symlink loop cannot trap the search).  A folder that cannot be listed is appended to
    ``unreadable`` (when given) rather than silently passed over."""
    for given in paths:
        if os.path.isdir(given):
            for folder, subfolders, files in os.walk(given, onerror=unreadable.append if unreadable is not None
                                                     else None):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(CONFIG_SUFFIXES):
                        yield str(Path(folder) / name)
        else:
            yield given


def lint_paths(paths: Sequence[str], *, debug: bool = False, config: Union[str, os.PathLike, ToolConfig, None] = None,
               isolated: bool = False) -> List[FileReport]:
    """Lint files and folders; one bad file never stops the others.

    Each file gets the tool configuration found by walking up from it
    (``[tool.paramlint]`` in pyproject.toml, or .paramlint.toml), unless
    ``config`` gives one for all (a path or a ``ToolConfig``) or ``isolated``
    asks for the defaults.  A configuration with problems is reported as a
    report of its own, before the files it governs; one with errors governs
    nothing, so those files are not linted.  Raises ``OSError`` when an
    explicit ``config`` file cannot be read.
    """
    explicit = load_config(config) if isinstance(config, (str, os.PathLike)) else config
    resolver = ConfigResolver(explicit=explicit, isolated=isolated)
    linter = Linter(debug=debug)
    reports: List[FileReport] = []
    shown: Set[Optional[str]] = set()
    unreadable: List[OSError] = []
    for path in discover(paths, unreadable=unreadable):
        try:
            settings = resolver.for_file(path)
        except (OSError, RuntimeError) as error:  # a symlink loop: Python 3.11's Path.resolve raises RuntimeError
            reason = getattr(error, "strerror", None) or str(error)
            reports.append(FileReport(path, diagnostics=(Diagnostic(path, 1, 1, "PL901",
                                                                    f"cannot read {path}: {reason}"),)))
            continue
        if settings.diagnostics and settings.path not in shown:
            shown.add(settings.path)
            reports.append(FileReport(settings.path or path, diagnostics=settings.diagnostics))
        if not settings.broken:
            reports.append(linter.lint_file(path, config=settings))
    for error in unreadable:  # a folder of the search that could not be listed: its files were not checked
        folder = str(error.filename or "?")
        reason = error.strerror or str(error)
        reports.append(FileReport(folder, diagnostics=(Diagnostic(folder, 1, 1, "PL901",
                                                                  f"cannot read the folder {folder}: {reason}"),)))
    return reports
