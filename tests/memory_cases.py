"""Shared pieces of the memory tests: example configs sized for the CPU, the
paramlint side (a ``MemoryModel`` for the CPU device) and the torch side (the
live-storage peak of a real training step on the model ``paramlint.torch``
builds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest
import yaml

torch = pytest.importorskip("torch")

from torch_memory import LiveStorages, run_graph, training_step  # noqa: E402

from paramlint.model.graph import build_graph  # noqa: E402
from paramlint.lint import analyze_document  # noqa: E402
from paramlint.memory.model import MemoryModel  # noqa: E402
from paramlint.memory.precision import CPU  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.model.training import TrainingSetup, read_training  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str, *, tokens: int = 32, blocks: Optional[int] = None) -> Dict[str, Any]:
    """An example config; the transformers on ``tokens`` tokens (and, given
    ``blocks``, that many of their repeated blocks), BERT's attention dropout
    off (the CPU leaves the fused kernel for it)."""
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    if blocks is not None and name in ("gpt2_small", "vit_b16", "bert_base"):
        for layer in data["layers"]:
            if layer.get("repeat") == 12:
                layer["repeat"] = blocks
    if name == "gpt2_small":
        data["inputs"]["tokens"]["shape"] = [tokens]
        next(layer for layer in data["layers"] if layer.get("name") == "wpe")["shape"] = [tokens, 768]
    if name == "bert_base":
        data["inputs"] = {key: {"shape": [tokens], "dtype": "int64"} for key in data["inputs"]}
        next(layer for layer in data["layers"] if layer.get("name") == "positions")["end"] = tokens
        for layer in data["layers"]:
            if layer["type"] == "TransformerEncoderLayer":
                layer["dropout"] = 0.0
    return data


def paramlint_model(data: Mapping[str, Any], **training: Any) -> Tuple[MemoryModel, Any]:
    findings, analysis = analyze_document(data, None, SchemaValidator())
    assert analysis is not None, findings
    graph, _ = build_graph(data)
    setup = read_training(data.get("training")).replace(**training)
    return MemoryModel(analysis.shapes, setup, output=graph.output, device=CPU), analysis


def inputs_of(data: Mapping[str, Any], batch: int, device: str = "cpu") -> List[Any]:
    """Dummy inputs for the config's inputs, in order: zeros for ids, noise for floats."""
    specs = data["inputs"] if "inputs" in data else {"input": data["input"]}
    tensors = []
    for spec in specs.values():
        shape = spec["shape"] if isinstance(spec, dict) else spec
        dtype = spec.get("dtype", "float32") if isinstance(spec, dict) else "float32"
        if dtype.startswith("int"):
            tensors.append(torch.zeros(batch, *shape, dtype=getattr(torch, dtype), device=device))
        else:
            tensors.append(torch.randn(batch, *shape, dtype=getattr(torch, dtype), device=device))
    return tensors


def target_of(output_shape: Tuple[int, ...], batch: int, loss: str = "CrossEntropyLoss") -> Any:
    if loss != "CrossEntropyLoss":
        return torch.randn(batch, *output_shape)
    if len(output_shape) == 2:  # [L, C]: a class per position
        return torch.randint(0, output_shape[-1], (batch * output_shape[0],))
    if len(output_shape) == 1:
        return torch.randint(0, output_shape[0], (batch,))
    return torch.randint(0, output_shape[0], (batch, *output_shape[1:]))


def torch_optimizer(setup: TrainingSetup, params: Any) -> Any:
    options = dict(setup.optimizer_options)
    options.setdefault("lr", 1e-3)
    return getattr(torch.optim, setup.optimizer)(params, **options)


def torch_peak(data: Mapping[str, Any], setup: TrainingSetup, output_shape: Tuple[int, ...], *,
               forward: Optional[Any] = None, autocast: Optional[Any] = None, dtype: Optional[Any] = None,
               seed: int = 0) -> LiveStorages:
    """The live-storage peak of a steady-state step of the built model."""
    torch.manual_seed(seed)
    model = build(data)
    if dtype is not None:
        model = model.to(dtype)
    batch = setup.batch_size
    inputs = inputs_of(data, batch)
    if dtype is not None:
        inputs = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
    optimizer = torch_optimizer(setup, model.parameters())
    loss_fn = None
    if setup.loss == "MSELoss":
        loss_fn = torch.nn.functional.mse_loss
    run = forward or (lambda *xs: run_graph(model, *xs))
    if autocast is not None:
        inner = run

        def run(*xs: Any) -> Any:
            with torch.autocast("cpu", dtype=autocast):
                return inner(*xs)

        base = loss_fn or torch.nn.functional.cross_entropy

        def loss_fn(out: Any, target: Any) -> Any:
            with torch.autocast("cpu", dtype=autocast):
                return base(out, target)
    target = target_of(output_shape, batch, setup.loss)
    if dtype is not None and target.is_floating_point():
        target = target.to(dtype)
    return training_step(model, inputs, target, optimizer, forward=run, loss_fn=loss_fn)


def relative_error(ours: int, theirs: int) -> float:
    return (ours - theirs) / theirs
