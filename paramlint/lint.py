"""The pipeline for one file, and for many: load -> validate -> graph ->
shapes and counts -> training figures -> budgets -> located diagnostics.

Each step is a function of the previous step's value; nothing here prints.
"""
from __future__ import annotations

import errno
import heapq
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .core.diagnostics import ERROR, MAX_DIAGNOSTICS, WARNING, ConfigPath, Diagnostic, Finding, format_config_path
from .core.record import Record
from .core.runtime import collector_paused
from .importers import FRONT_DOORS, HUGGINGFACE, ULTRALYTICS
from .memory.finetune_run import FineTuneRun, finetune_contributors, memory_model, plan_finetune
from .memory.advice import advice
from .memory.inference_check import check_inference
from .memory.model import MemoryEstimate
from .memory.precision import PRECISION_MODELS
from .model.analysis import INT64_MAX, LayerInfo, ShapeAnalysis, analyze_shapes, magnitude
from .model.budgets import BudgetUse, Figure, budget_uses, check_budgets, top_contributors
from .model.graph import Source, build_graph
from .model.layers.base import DTYPE_BYTES, TensorSpec
from .model.training import OPTIMIZERS, TrainingSetup, optimizer_state_values, read_training
from .model.unread import unread_layers
from .rules import RULES
from .source.loader import LIMITS, Document, LoadError, load_document
from .source.reader import TooLarge, read_guarded, read_head
from .source.sniff import HEAD_BYTES, claim, register
from .source.suppress import apply_suppressions
from .tool_config import DEFAULT_CONFIG, ConfigResolver, ToolConfig, load_config
from .validation.validator import GeneratedData, SchemaValidator

if TYPE_CHECKING:  # the serving model is imported only for a config with `inference:`
    from .memory.inference import InferenceEstimate

for _door, _marker in FRONT_DOORS:  # the importers' files are claimed by their markers, the rest skipped unread
    register(_door, _marker)

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
FAILURE_CODES = ("PL901", "PL902", "PL602", "PL603")  # exit 2: unreadable, internal, broken tool config


class Analysis(Record):
    """Everything paramlint computed about one model."""

    __slots__ = ("shapes", "training", "optimizer_state", "memory", "budgets", "lines", "inference", "front",
                 "finetune", "output")

    # inference: the serving figures, when the config has a usable `inference:` section
    # front: figures of the file's own convention (an Ultralytics import: model.info()'s layers and GFLOPs)
    # finetune: memory.finetune_run.FineTuneRun when training.lora is set
    # output: the graph's output (what the loss reads), None for the last layer
    def __init__(self, shapes: ShapeAnalysis, training: TrainingSetup, optimizer_state: int, memory: MemoryEstimate,
                 budgets: Tuple[BudgetUse, ...] = (), lines: Optional[Mapping[int, int]] = None,
                 inference: Optional[InferenceEstimate] = None, front: Optional[Mapping[str, Any]] = None,
                 finetune: Optional[FineTuneRun] = None, output: Optional[Source] = None) -> None:
        self.front: Mapping[str, Any] = {} if front is None else front
        self.shapes = shapes
        self.training = training
        self.optimizer_state = optimizer_state
        self.memory = memory
        self.budgets = budgets
        self.lines: Mapping[int, int] = {} if lines is None else lines
        self.inference = inference
        self.finetune = finetune
        self.output = output if output is not None else Source(len(shapes.layers) - 1)

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

    __slots__ = ("path", "skipped", "diagnostics", "analysis", "name", "strict", "note")

    # strict: the tool configuration makes warnings fail; note: why a file was skipped, when it is worth saying
    def __init__(self, path: str, skipped: bool = False, diagnostics: Tuple[Diagnostic, ...] = (),
                 analysis: Optional[Analysis] = None, name: str = "", strict: bool = False, note: str = "") -> None:
        self.note = note
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

    def __init__(self, *, debug: bool = False, scale: Optional[str] = None) -> None:
        self.debug = debug
        self.scale = scale  # an Ultralytics model's scale letter (--scale), overriding the file's
        self._validator: Optional[SchemaValidator] = None

    @property
    def validator(self) -> SchemaValidator:
        if self._validator is None:
            self._validator = SchemaValidator()
        return self._validator

    def lint_file(self, path: str, *, config: ToolConfig = DEFAULT_CONFIG) -> FileReport:
        try:
            text = read_guarded(path, LIMITS.max_bytes)
        except OSError as error:
            reason = error.strerror or str(error)
            if os.path.isdir(path):
                reason = "is a directory"
            return FileReport(path, diagnostics=(Diagnostic(path, 1, 1, "PL901", f"cannot read {path}: {reason}"),))
        except TooLarge as error:
            try:  # ours only if its head says so: a 14 MB package-lock.json is skipped
                head = read_head(path, HEAD_BYTES)
            except OSError:
                head = b""
            if claim(head, path) is None:
                return FileReport(path, skipped=True)
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
        diagnostics = _capped(config.apply(report.diagnostics, path), path)
        return report.replace(diagnostics=diagnostics, strict=config.strict)

    def _lint(self, text: bytes, path: str, config: ToolConfig) -> FileReport:
        door = claim(text, path)
        if door is None:  # no front door claims it: not ours, skipped unread
            return FileReport(path, skipped=True)
        try:
            document = load_document(text, path=path)
        except LoadError as error:
            return FileReport(path, diagnostics=(Diagnostic(path, error.line, error.column, error.code,
                                                            error.message),))
        data = document.data
        # the importers are imported only for their own files (a format-1 run stays as fast to start as before)
        mapping = isinstance(data, Mapping)
        huggingface = _huggingface(data, path) if door == HUGGINGFACE or (mapping and "huggingface" in data) else None
        if huggingface is not None:  # a Hugging Face config.json, or a format-1 file with `huggingface:`
            if huggingface.note:
                return FileReport(path, skipped=True, note=huggingface.note)
            if huggingface.data is None:
                own = locate(huggingface.findings, document, path)
                return FileReport(path, False, tuple(sorted(own + huggingface.external)), None, huggingface.name)
            data = huggingface.data
        imported = None
        if huggingface is None and (door == ULTRALYTICS or (mapping and "ultralytics" in data)):
            from .importers.ultralytics.front import import_for_lint

            imported = import_for_lint(data, document, path=path, scale=self.scale, load=_load_file)
        if imported is not None:  # an Ultralytics YOLO YAML: linted as the format-1 data it expands to
            data, document = imported.data or {"paramlint": 1}, imported.document
        if not isinstance(data, Mapping) or "paramlint" not in data:
            return FileReport(path, skipped=True)
        name = data.get("name") if isinstance(data.get("name"), str) else ""
        data, from_defaults = config.with_defaults(data)
        if imported is not None:
            from .importers.ultralytics.front import GeneratedLayers, trusted, ultralytics_findings

            validator = GeneratedLayers() if trusted(imported) and not from_defaults else self.validator
            findings, analysis = ultralytics_findings(
                imported, data, lambda d: analyze_document(d, imported.document, validator))
        else:
            generated = door == HUGGINGFACE and huggingface is not None and not from_defaults  # a config.json
            if huggingface is not None and not generated:  # `huggingface:` in a format-1 file: what it writes
                written, _ = config.with_defaults(document.data)  # is checked as written; the layers the
                findings = self.validator.validate_written(written)  # importer made are its own
                analysis = None
                if not findings:
                    findings, analysis = analyze_document(data, document, GeneratedData())
            else:
                findings, analysis = analyze_document(data, document, GeneratedData() if generated else
                                                      self.validator)
        if huggingface is not None:  # without PL455 for what the importer leaves unread on purpose
            findings = huggingface.findings + [f for f in findings
                                               if f.code != "PL455" or tuple(f.config_path) not in huggingface.unread]
        if from_defaults:
            findings = [_mark_default(f, from_defaults, config) for f in findings]
        findings, comment_diagnostics = apply_suppressions(
            findings, document, lambda f: position_of(document, f.config_path, at_key=f.at_key)[0],
            path=path, complete=analysis is not None, source=text)
        diagnostics = tuple(sorted(locate(findings, document, path) + tuple(comment_diagnostics),
                                   key=lambda d: (d.line, d.column, d.code, d.message)))
        return FileReport(path, False, diagnostics, analysis, name)


class _Imported(Record):
    """A file that another front door turned into format-1 ``data`` (None: ``findings`` stop it;
    ``note``: skipped, with why), with ``external`` diagnostics in a file it references."""

    __slots__ = ("data", "findings", "note", "external", "name", "unread")

    def __init__(self, data: Optional[Mapping[str, Any]], findings: List[Finding], note: str = "",
                 external: Tuple[Diagnostic, ...] = (), name: str = "", unread: frozenset[ConfigPath] = frozenset()
                 ) -> None:
        self.data = data
        self.findings = findings
        self.note = note
        self.external = external
        self.name = name
        self.unread = unread  # paths of layers the importer leaves unread on purpose: no PL455 there


def _huggingface(data: Any, path: str) -> Optional[_Imported]:
    """A Hugging Face config.json (marker: a top-level ``model_type``), or ``huggingface:`` in a format-1 file."""
    from .importers.huggingface import SUPPORTED, is_huggingface_config, unsupported_note
    from .importers.huggingface import convert as convert_huggingface
    from .importers.huggingface.reference import expand as expand_huggingface

    if is_huggingface_config(data):
        if data["model_type"] not in SUPPORTED:
            return _Imported(None, [], unsupported_note(data["model_type"]))
        conversion = convert_huggingface(data)
        return _Imported(conversion.data, list(conversion.findings), name=conversion.name,
                         unread=conversion.unread)
    if not isinstance(data, Mapping) or "paramlint" not in data or "huggingface" not in data:
        return None
    expansion = expand_huggingface(data, path=path, read=lambda target: read_guarded(target, LIMITS.max_bytes))
    external: Tuple[Diagnostic, ...] = ()
    if expansion.external is not None and expansion.external[1] is not None:
        external = locate(expansion.external[2], expansion.external[1], expansion.external[0])
    return _Imported(expansion.data, expansion.findings, external=external, unread=expansion.unread)


def _load_file(path: str) -> Document:
    return load_document(read_guarded(path, LIMITS.max_bytes), path=path)


def _capped(diagnostics: Tuple[Diagnostic, ...], path: str) -> Tuple[Diagnostic, ...]:
    """At most ``MAX_DIAGNOSTICS`` per file, then one PL103 that counts the rest (an error if any of them is)."""
    if len(diagnostics) <= MAX_DIAGNOSTICS:
        return diagnostics
    rest = diagnostics[MAX_DIAGNOSTICS:]
    severity = ERROR if any(d.severity == ERROR for d in rest) else WARNING
    message = (f"at least {len(rest):,} more diagnostics not shown: at most {MAX_DIAGNOSTICS:,} are reported per "
               "file, and the checks stop looking past that (fix these first)")
    return diagnostics[:MAX_DIAGNOSTICS] + (Diagnostic(path, rest[0].line, rest[0].column, "PL103", message,
                                                       severity),)


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
        line_of: Dict[Any, int] = {}  # the copies of a repeat share their config paths
        for node in graph.nodes:
            line = line_of.get(node.config_path)
            if line is None:
                line = line_of[node.config_path] = position_of(document, node.config_path)[0]
            lines[node.index] = line
    shapes, shape_findings = analyze_shapes(graph, lines)
    findings.extend(shape_findings)
    if shapes is None:
        return findings, None
    findings.extend(unread_layers(graph, shapes))
    setup = read_training(data.get("training"))
    overflow = _batch_overflow(shapes, setup.batch_size)
    if overflow:
        findings.append(Finding("PL405", overflow, ("training", "batch_size")))
        return findings, None
    run, run_findings = plan_finetune(data, graph, shapes, setup.lora, setup.quantization,
                                      PRECISION_MODELS[setup.precision].weight_bytes, setup.base_dtype,
                                      autocast_half=_autocast_half(setup.precision))
    findings.extend(run_findings)
    if run is None and run_findings:
        return findings, None
    trainable_shapes = run.finetune.trainable_shapes if run is not None else shapes.trainable_shapes
    state = optimizer_state_values(setup, trainable_shapes)
    model = memory_model(run, shapes, graph.output, setup)
    memory = model.estimate()
    figures = _figures(shapes, setup, state, memory, advice(model), run)
    serving, serving_findings, serving_figures = check_inference(data, shapes, graph.output)
    findings.extend(serving_findings)
    figures.update(serving_figures)
    budgets = data.get("budgets") or {}
    findings.extend(check_budgets(budgets, figures))
    analysis = Analysis(shapes, setup, state, memory, tuple(budget_uses(budgets, figures)), lines, serving,
                        finetune=run, output=graph.output)
    return findings, analysis


def _autocast_half(precision: str) -> Optional[str]:
    model = PRECISION_MODELS[precision]
    return model.half if model.autocast else None


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


MAX_FOLDER_DEPTH = 200  # folders below a given one that are searched; deeper is PL901 for that folder


def discover(paths: Sequence[str], *, unreadable: Optional[List[OSError]] = None) -> Iterator[str]:
    """Files as given; folders searched for *.yaml, *.yml and *.json (hidden folders and symlinked folders
    skipped, so a symlink loop cannot trap the search).  A folder that cannot be listed, or lies more than
    ``MAX_FOLDER_DEPTH`` folders down, is appended to ``unreadable`` (when given) rather than silently passed
    over.  The walk keeps its own stack: no recursion, whatever the depth."""
    for given in paths:
        if not os.path.isdir(given):
            yield given
            continue
        stack: List[Tuple[str, int]] = [(given, 0)]
        while stack:
            folder, depth = stack.pop()
            if depth > MAX_FOLDER_DEPTH:
                if unreadable is not None:
                    unreadable.append(OSError(errno.ELOOP, f"nested more than {MAX_FOLDER_DEPTH} folders deep",
                                              folder))
                continue
            try:
                with os.scandir(folder) as entries:
                    listed = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
            except OSError as error:
                if unreadable is not None:
                    unreadable.append(error)
                continue
            for name, is_dir in listed:
                if not is_dir and name.endswith(CONFIG_SUFFIXES):
                    yield str(Path(folder) / name)
            stack.extend((os.path.join(folder, name), depth + 1) for name, is_dir in reversed(listed)
                         if is_dir and not name.startswith("."))


def lint_paths(paths: Sequence[str], *, debug: bool = False, config: Union[str, os.PathLike, ToolConfig, None] = None,
               isolated: bool = False, scale: Optional[str] = None) -> List[FileReport]:
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
    linter = Linter(debug=debug, scale=scale)
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
