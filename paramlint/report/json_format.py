"""One JSON document for all files; the keys are documented in README.md."""
from __future__ import annotations

import json
from typing import Any, Dict, Sequence

from .. import __version__
from ..lint import Analysis, FileReport
from ..model.layers.language import idle_expert_params
from .finetune import finetune_dict


def model_dict(analysis: Analysis) -> Dict[str, Any]:
    shapes = analysis.shapes
    setup = analysis.training
    finetune = finetune_dict(analysis)
    memory = analysis.memory.to_dict()
    if "memory" in finetune:  # a fine-tuning run: its static parts beside the peak's
        memory["finetune"] = finetune["memory"]
    return {
        "params": analysis.params,
        "trainable_params": analysis.trainable_params,
        "non_trainable_params": analysis.params - analysis.trainable_params,
        "buffers": shapes.buffers,
        "active_params": shapes.params - idle_expert_params((i.node.type, i.result.args) for i in shapes.layers),
        "inputs": {name: {"shape": list(t.shape), "dtype": t.dtype} for name, t in shapes.inputs.items()},
        "output_shape": list(shapes.output.shape),
        "flops": shapes.flops,
        "optimizer": setup.optimizer,
        "optimizer_state": analysis.optimizer_state,
        "training": {"batch_size": setup.batch_size, "precision": setup.precision, "devices": setup.devices,
                     "sharding": setup.sharding},
        "memory": memory,
        **({"finetune": finetune} if finetune else {}),
        "inference": dict(analysis.inference.to_dict()) if analysis.inference is not None else None,
        "budgets": [{"name": b.name, "limit": b.limit, "value": b.value, "exceeded": b.exceeded}
                    for b in analysis.budgets],
        "layers": [
            {
                "name": info.node.trace,
                "type": info.node.type,
                "line": analysis.lines.get(info.node.index, 0),
                "output_shape": list(info.output.shape),
                "params": info.params,
                "trainable_params": info.trainable_params,
                "buffers": info.buffers,
                "flops": info.result.flops,
            }
            for info in shapes.layers
        ],
        **({"front": dict(analysis.front)} if analysis.front else {}),
    }


def file_dict(report: FileReport) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "path": report.path,
        "skipped": report.skipped,
        **({"note": report.note} if report.note else {}),
        "diagnostics": [d.to_dict() for d in report.diagnostics],
    }
    if report.analysis is not None:
        entry["model"] = dict({"name": report.name}, **model_dict(report.analysis))
    return entry


def render(reports: Sequence[FileReport], **_: object) -> str:
    document = {
        "paramlint_version": __version__,
        "files": [file_dict(r) for r in reports],
        "summary": {
            "files": sum(1 for r in reports if not r.skipped),
            "skipped": sum(1 for r in reports if r.skipped),
            "errors": sum(r.errors for r in reports),
            "warnings": sum(r.warnings for r in reports),
        },
    }
    return json.dumps(document, indent=2) + "\n"
