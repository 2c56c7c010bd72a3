"""transformers' float32 RMSNorms (``upcast``: LlamaRMSNorm and its copies in mistral, mixtral, qwen2, qwen3,
phi3; ``unit_offset``: GemmaRMSNorm) against the transformers modules themselves and against autograd.

The bridge's module computes what transformers' does (outputs equal, bit for bit, in float32 and bfloat16),
and paramlint's memory model predicts the bytes autograd saves, layer by layer, where it matters: a half
input (after a Linear under bf16 autocast, or in a bf16 model), a float32 one, a frozen weight; and the
dtype the norm hands on (float32 under autocast for ``upcast``, the input's for ``unit_offset``), which
decides what the next layer saves.
"""
from __future__ import annotations

from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_saved_tensors import _ours  # noqa: E402
from torch_memory import network_saved, run_graph  # noqa: E402

from paramlint.torch import build  # noqa: E402
from paramlint.torch_language import TransformersRMSNorm  # noqa: E402

HIDDEN = 8
VARIANTS = {
    "upcast": {"upcast": True},
    "unit_offset": {"unit_offset": True},
    "upcast-no-weight": {"upcast": True, "elementwise_affine": False},
    "upcast-frozen": {"upcast": True, "trainable": False},
    "unit_offset-frozen": {"unit_offset": True, "trainable": False},
}
PRECISIONS = ["fp32", "bf16-mixed", "bf16"]


def _network(norm: Dict[str, Any], *, after_linear: bool) -> Dict[str, Any]:
    """``[7, 8]`` -> (a Linear, whose output is half under autocast) -> the norm -> a Linear (which keeps
    the norm's output, in the dtype the norm hands on)."""
    layers = [{"type": "Parameter", "shape": [1], "name": "scale"},
              {"type": "Multiply", "from": ["x0", "scale"], "name": "scaled"}]
    if after_linear:
        layers.append({"type": "Linear", "out_features": HIDDEN, "name": "proj"})
    layers += [dict({"type": "RMSNorm", "eps": 1e-6}, **norm, name="norm"),
               {"type": "Linear", "out_features": 5, "name": "head"}]
    return {"paramlint": 1, "inputs": {"x0": [7, HIDDEN]}, "layers": layers}


def _theirs(data: Dict[str, Any], precision: str) -> Dict[int, int]:
    torch.manual_seed(0)
    model = build(data)
    x = torch.randn(3, 7, HIDDEN)
    if precision == "bf16":
        model, x = model.to(torch.bfloat16), x.to(torch.bfloat16)

    def run(net: Any, *xs: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            return run_graph(net, *xs)

    return network_saved(model, [x], run=run)


@pytest.mark.parametrize("after_linear", [True, False], ids=["half-input", "float-input"])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_saved_tensors_match_autograd(variant, precision, after_linear):
    data = _network(VARIANTS[variant], after_linear=after_linear)
    ours, _ = _ours(data, device_precision=precision)
    assert ours == _theirs(data, precision)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_module_computes_what_transformers_computes(family, dtype):
    if family == "gemma":
        theirs = transformers.models.gemma.modeling_gemma.GemmaRMSNorm(HIDDEN, eps=1e-6)
        ours = TransformersRMSNorm(HIDDEN, eps=1e-6, unit_offset=True)
    else:
        theirs = transformers.models.llama.modeling_llama.LlamaRMSNorm(HIDDEN, eps=1e-6)
        ours = TransformersRMSNorm(HIDDEN, eps=1e-6, upcast=True)
    assert torch.equal(ours.weight, theirs.weight)  # ones for Llama, zeros for Gemma
    with torch.no_grad():
        weight = torch.randn(HIDDEN)
        ours.weight.copy_(weight)
        theirs.weight.copy_(weight)
    x = torch.randn(3, 5, HIDDEN).to(dtype)
    for autocast in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            mine, reference = ours(x), theirs(x)
        assert mine.dtype == reference.dtype and torch.equal(mine, reference)


SHAPE_CASES = [
    ({"upcast": True}, [10, 64]),
    ({"upcast": True, "normalized_shape": [10, 64]}, [10, 64]),
    ({"upcast": True, "normalized_shape": 63}, [10, 64]),  # rejected by both
    ({"upcast": True, "elementwise_affine": False, "eps": 1e-6}, [64]),
    ({"unit_offset": True}, [7, 8]),
    ({"unit_offset": True, "normalized_shape": [7, 8]}, [7, 8]),
    ({"unit_offset": True, "elementwise_affine": False}, [8]),  # no weight to offset: rejected by both
]


@pytest.mark.parametrize("args, shape", SHAPE_CASES)
def test_shapes_and_counts_match_the_module(monkeypatch, args, shape):
    """Output shape, parameters and rejections against the bridge's module, as the norm table does."""
    import oracle
    from paramlint.torch_language import rms_norm

    monkeypatch.setitem(oracle.TORCH_BUILDERS, "RMSNorm", rms_norm)
    ours = oracle.paramlint_outcome("RMSNorm", args, [shape])
    theirs = oracle.torch_outcome("RMSNorm", args, [shape], inferable=["normalized_shape"])
    assert ours.same_as(theirs), (ours, theirs)


def test_unit_offset_needs_a_weight():
    from paramlint.lint import analyze_document
    from paramlint.validation.validator import SchemaValidator

    data = _network({"unit_offset": True, "elementwise_affine": False}, after_linear=False)
    findings, _ = analyze_document(data, None, SchemaValidator())
    assert [(f.code, f.config_path[-1]) for f in findings] == [("PL402", "unit_offset")]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_step_peak_in_the_norm_backward_matches_torch(variant):
    """A wide norm between a wide Linear and a narrow head, so that the step peaks in the norm's backward
    (the chain of small nodes of transformers' RMSNorm: layer_rules.backward_temporaries), SGD, fp32."""
    from memory_cases import paramlint_model, torch_peak

    norm = dict({"type": "RMSNorm", "eps": 1e-6}, **VARIANTS[variant], name="norm")
    data = {"paramlint": 1, "inputs": {"x0": [64, 16]},
            "layers": [{"type": "Linear", "out_features": 256, "name": "proj"}, norm,
                       {"type": "Linear", "out_features": 3, "name": "head"}]}
    model, analysis = paramlint_model(data, batch_size=4, optimizer="SGD", optimizer_options={})
    estimate = model.estimate(4)
    theirs = torch_peak(data, model.setup, analysis.shapes.output.shape).peak
    assert estimate.peak == theirs
    assert estimate.phase == "backward" and analysis.shapes.layers[estimate.peak_layer].node.type == "RMSNorm"
