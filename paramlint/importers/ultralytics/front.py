"""Where the lint pipeline meets the Ultralytics importer: an unmarked YOLO YAML, or a format-1 file that says
``ultralytics: ./yolov8.yaml`` (with ``scale:``, ``imgsz:``, ``training:`` and ``budgets:``)."""
from __future__ import annotations

import os
from typing import Any, Callable, List, Mapping, Optional, Tuple

from ...core.diagnostics import Finding
from ...source.document import Document, LoadError
from ...source.reader import referenced_path
from ...validation.validator import GeneratedData
from . import Imported, import_ultralytics, looks_like_ultralytics
from .gflops import ultralytics_gflops

# Keys a format-1 file may put beside `ultralytics:`
WRAPPER_KEYS = ("paramlint", "name", "ultralytics", "scale", "imgsz", "training", "budgets")

Load = Callable[[str], Document]  # reads and loads a file; raises OSError or the loader's errors


def import_for_lint(data: Any, document: Document, *, path: str, scale: Optional[str],
                    load: Load) -> Optional[Imported]:
    """The imported model when ``data`` is an Ultralytics YAML or refers to one, else None."""
    if not isinstance(data, Mapping):
        return None
    if "paramlint" not in data:
        if not looks_like_ultralytics(data):
            return None
        return import_ultralytics(data, document, path=path, scale=scale, imgsz=data.get("imgsz"))
    if "ultralytics" not in data:
        return None
    return _wrapper(data, document, path=path, scale=scale, load=load)


def _wrapper(data: Mapping[str, Any], document: Document, *, path: str, scale: Optional[str],
             load: Load) -> Imported:
    for key in data:
        if key not in WRAPPER_KEYS:
            return Imported(None, document, [Finding("PL201", f"`{key}` is not allowed beside `ultralytics:` "
                                                              f"(allowed: {', '.join(WRAPPER_KEYS)})", (key,),
                                                     at_key=True)], None)
    target = data["ultralytics"]
    if not isinstance(target, str) or not target:
        return Imported(None, document, [Finding("PL201", "`ultralytics` must be the path of a YOLO model YAML",
                                                 ("ultralytics",))], None)
    imgsz = data.get("imgsz")
    if imgsz is not None and (not isinstance(imgsz, int) or isinstance(imgsz, bool) or imgsz < 32):
        return Imported(None, document, [Finding("PL201", f"`imgsz` must be an integer of at least 32, got {imgsz!r}",
                                                 ("imgsz",))], None)
    model_path = os.path.join(os.path.dirname(path), target)
    try:
        model_path = referenced_path(path, target)
        model = load(model_path).data
    except OSError as error:
        return Imported(None, document, [Finding("PL901", f"cannot read {model_path}: {error.strerror or error}",
                                                 ("ultralytics",))], None)
    except LoadError as error:  # a model file that does not parse: its own code, with where in it
        return Imported(None, document, [Finding(error.code, f"{model_path}:{error.line}:{error.column}: "
                                                             f"{error.message}", ("ultralytics",))], None)
    if not looks_like_ultralytics(model):
        return Imported(None, document, [Finding("PL201", f"{model_path} has no `backbone` and `head` rows of "
                                                          f"[from, repeats, module, args]", ("ultralytics",))], None)
    model = dict(model)
    if data.get("scale") is not None:
        model["scale"] = data["scale"]
    extra = {key: data[key] for key in ("training", "budgets") if key in data}
    if isinstance(data.get("name"), str):
        model["name"] = data["name"]
    return import_ultralytics(model, document, path=model_path, scale=scale, imgsz=imgsz, anchor=("ultralytics",),
                              extra=extra)


GeneratedLayers = GeneratedData  # the name this module gave it first


def trusted(imported: Imported) -> bool:
    """Whether ``imported`` is all generated (an unmarked YOLO YAML), so its schema pass can be skipped."""
    return imported.data is not None and not {"training", "budgets"} & set(imported.extra)


def ultralytics_findings(imported: Imported, data: Mapping[str, Any],
                         analyze: Callable[[Mapping[str, Any]], Tuple[List[Finding], Any]]) -> Tuple[List[Finding], Any]:
    """The importer's findings plus the pipeline's on the expanded ``data``; the analysis (when there is one)
    carries the figures ``model.info()`` prints, under ``front``."""
    findings = list(imported.findings)
    if imported.data is None or imported.figures is None:
        return findings, None
    more, analysis = analyze(data)
    findings.extend(more)
    if analysis is not None:
        figures = imported.figures
        analysis = analysis.replace(front={
            "convention": "ultralytics", "scale": figures.scale, "imgsz": figures.imgsz, "layers": figures.layers,
            "gflops": ultralytics_gflops(analysis.shapes), "max_stride": figures.max_stride})
    return findings, analysis
