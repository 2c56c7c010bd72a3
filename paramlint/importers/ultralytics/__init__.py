"""Ultralytics YOLO model YAML as a front end: ``backbone`` and ``head`` rows -> format-1 data.

``looks_like_ultralytics`` is the cheap marker test for unmarked files; ``import_ultralytics`` turns a loaded
document into the format-1 data the pipeline lints plus a document whose positions send every generated
layer back to the YAML row it came from.  Ultralytics' rules are those of the version named in
docs/ultralytics.md.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional

from ...core.diagnostics import ERROR, ConfigPath, Finding
from ...core.record import Record
from ...source.document import Document, Position
from .convert import Converted, convert, row_paths
from .scaling import choose_scale

DEFAULT_IMGSZ = 640
# Ultralytics' training defaults (ultralytics/cfg/default.yaml): batch 16, AMP; optimizer "auto" picks SGD
# with momentum 0.937 for runs over 10,000 iterations (any COCO-sized run).
DEFAULT_TRAINING = {"batch_size": 16, "optimizer": {"type": "SGD", "momentum": 0.937}, "precision": "fp16-mixed"}


def looks_like_ultralytics(data: Any) -> bool:
    """A mapping with top-level ``backbone`` and ``head`` lists whose rows are 4-element lists."""
    if not isinstance(data, Mapping):
        return False
    for key in ("backbone", "head"):
        rows = data.get(key)
        if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == 4 for row in rows):
            return False
    return bool(data["backbone"] or data["head"])


class UltralyticsFigures(Record):
    """What ``model.info()`` prints besides the counts: the leaf-module count, and the scale used."""

    __slots__ = ("layers", "scale", "imgsz", "max_stride")

    def __init__(self, layers: int, scale: str, imgsz: int, max_stride: int) -> None:
        self.layers = layers
        self.scale = scale
        self.imgsz = imgsz
        self.max_stride = max_stride


class Imported(Record):
    """The format-1 data (None when the rows cannot be expanded), its document, the importer's findings."""

    __slots__ = ("data", "document", "findings", "figures", "extra")

    # extra: the sections a format-1 file added (training, budgets)
    def __init__(self, data: Optional[Dict[str, Any]], document: Document, findings: List[Finding],
                 figures: Optional[UltralyticsFigures], extra: Optional[Mapping[str, Any]] = None) -> None:
        self.extra: Mapping[str, Any] = {} if extra is None else extra
        self.data = data
        self.document = document
        self.findings = findings
        self.figures = figures


def import_ultralytics(model: Mapping[str, Any], document: Document, *, path: str, scale: Optional[str] = None,
                       imgsz: Any = None, anchor: Optional[ConfigPath] = None,
                       extra: Optional[Mapping[str, Any]] = None) -> Imported:
    """Expand an Ultralytics model dict.

    ``document`` holds the positions findings are located with; ``anchor``, when given, is the one path of
    ``document`` that every row maps to (a format-1 file's ``ultralytics:`` key), else rows map to their own
    positions in ``document``.  ``extra``: ``training``/``budgets`` that replace Ultralytics' defaults.
    """
    findings: List[Finding] = []
    problem = _check_top_level(model, imgsz)
    if problem is not None:
        return Imported(None, document, [problem if anchor is None else problem.replace(config_path=anchor)], None)
    chosen, how, error = choose_scale(model, path=path, override=scale)
    where: ConfigPath = anchor if anchor is not None else ("scales",)
    if error:
        return Imported(None, document, [Finding("PL706", error, where, severity=ERROR)], None)
    if how == "first":
        findings.append(Finding("PL706", f"no scale given (a `scale:` key, a letter in the file name as in "
                                         f"yolov8n.yaml, or --scale): assuming the first, `{chosen.letter}`", where))
    size = DEFAULT_IMGSZ if imgsz is None else imgsz
    stride = 32
    reference, _ = convert(model, chosen, (256, 256))  # Ultralytics measures strides on a 256 x 256 image
    if reference is not None:
        stride = max(32, reference.max_stride)
    if size % stride:
        rounded = math.ceil(size / stride) * stride
        findings.append(Finding("PL705", f"image size {size} is not a multiple of the largest stride {stride}: "
                                         f"Ultralytics rounds it up to {rounded}, the size linted here",
                                ("imgsz",) if anchor is None else anchor[:-1] + ("imgsz",)))
        size = rounded
    converted, problems = convert(model, chosen, (size, size))
    findings.extend(_anchored(problems, anchor))
    if converted is None:
        return Imported(None, document, findings, None)
    name = model.get("name") if isinstance(model.get("name"), str) else _model_name(path, chosen.letter)
    data: Dict[str, Any] = {"paramlint": 1, "name": name, "input": [3, size, size], "layers": converted.layers,
                            "training": dict(DEFAULT_TRAINING)}
    for key, value in (extra or {}).items():
        data[key] = value
    located = _document(document, converted, anchor)
    return Imported(data, located, findings, UltralyticsFigures(converted.leaf_modules, chosen.letter, size,
                                                                 stride), extra)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


_TOP_LEVEL = (  # key, check, what it must be
    ("nc", lambda v: _is_int(v) and v >= 1, "a positive integer"),
    ("scales", lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v), "a mapping of scale letters"),
    ("scale", lambda v: isinstance(v, str), "a scale letter"),
    ("depth_multiple", _is_positive, "a positive number"),
    ("width_multiple", _is_positive, "a positive number"),
    ("activation", lambda v: isinstance(v, str), "a string like nn.ReLU()"),
    ("kpt_shape", lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) and x >= 1 for x in v),
     "a pair of positive integers"),
    ("reg_max", lambda v: _is_int(v) and 1 <= v <= 1024, "an integer from 1 to 1024"),
    ("imgsz", lambda v: _is_int(v) and 32 <= v <= 65536, "an integer from 32 to 65536"),
)


def _check_top_level(model: Mapping[str, Any], imgsz: Any) -> Optional[Finding]:
    values = dict(model)
    if imgsz is not None:
        values["imgsz"] = imgsz
    for key, check, expected in _TOP_LEVEL:
        if values.get(key) is not None and not check(values[key]):
            return Finding("PL703", f"`{key}` must be {expected}, got {values[key]!r}", (key,))
    return None


def _anchored(findings: List[Finding], anchor: Optional[ConfigPath]) -> List[Finding]:
    if anchor is None:
        return findings
    return [f.replace(config_path=anchor) for f in findings]


def _model_name(path: str, letter: str) -> str:
    from pathlib import Path

    stem = Path(path).stem
    return stem if not letter or stem.endswith(letter) else f"{stem} ({letter})"


def _document(document: Document, converted: Converted, anchor: Optional[ConfigPath]) -> Document:
    """The original positions, plus each generated ``layers[k]`` at its row (or at ``anchor``)."""
    positions: Dict[ConfigPath, Position] = dict(document.positions)
    for index, row in enumerate(converted.rows):
        source = anchor if anchor is not None else row
        position = document.positions.get(source, document.positions.get((), (1, 1)))
        positions[("layers", index)] = position
    positions.setdefault(("layers",), positions.get((), (1, 1)))
    return Document(document.data, positions, dict(document.key_positions), document.comments)


__all__ = ["looks_like_ultralytics", "import_ultralytics", "Imported", "UltralyticsFigures", "row_paths"]
