"""Ultralytics as the oracle: its packaged model YAMLs, the models it builds from them, and its figures.

Imported only where ultralytics is importable (its own environment: see .ci/run); never imports transformers.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict, Mapping

os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks, no downloads
os.environ.setdefault("YOLO_VERBOSE", "False")

import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from ultralytics.nn import tasks  # noqa: E402
from ultralytics.utils.torch_utils import get_flops  # noqa: E402

FAMILIES = {"yolov8": "v8/yolov8.yaml", "yolo11": "11/yolo11.yaml", "yolov8-seg": "v8/yolov8-seg.yaml",
            "yolov8-cls": "v8/yolov8-cls.yaml", "yolov8-pose": "v8/yolov8-pose.yaml"}
MODELS_DIR = Path(tasks.__file__).resolve().parent.parent / "cfg" / "models"
_CLASSES = {"detect": tasks.DetectionModel, "segment": tasks.SegmentationModel, "pose": tasks.PoseModel,
            "classify": tasks.ClassificationModel}


def yaml_path(family: str) -> Path:
    """The YAML file ultralytics ships for a family (read at test time: the files are AGPL, not copied)."""
    return MODELS_DIR / FAMILIES[family]


def model_name(family: str, scale: str) -> str:
    """``yolov8n-seg.yaml``: the name ``YOLO()`` takes."""
    head, _, tail = family.partition("-")
    return f"{head}{scale}{'-' + tail if tail else ''}.yaml"


def load_yaml(family: str) -> Dict[str, Any]:
    return yaml.safe_load(yaml_path(family).read_text())


def build(cfg: Mapping[str, Any], *, run: bool = False) -> torch.nn.Module:
    """Ultralytics' own model for a model dict (with ``scale``), as ``YOLO(name).model`` builds it; with ``run``
    also one forward pass of a 256 x 256 image, so that a model torch cannot run raises here."""
    cfg = copy.deepcopy(dict(cfg))
    task = tasks.guess_model_task(cfg)
    model = _CLASSES[task](cfg, ch=3, verbose=False)
    if run:  # a detector built with a broken head skips the stride pass (its last module is no Detect)
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, 256, 256))
        model.train()
    return model


def figures(model: torch.nn.Module, *, flops: bool = True) -> Dict[str, Any]:
    """Parameters, trainable parameters, buffers, model.info()'s layers; with ``flops`` also FlopCounterMode
    (eval, one 640 image) and get_flops at 640."""
    result = {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "buffers": sum(b.numel() for b in model.buffers()),
        "layers": sum(1 for _, m in model.named_modules() if not m._modules),
    }
    if flops:
        result["gflops"] = get_flops(model, 640)
        model.eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 3, 640, 640))
        result["flops"] = counter.get_total_flops()
    return result
