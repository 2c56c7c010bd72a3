"""DoRA's extra tensors in a training step (peft 0.21, ``use_dora: true``).

peft's ``DoraLinearLayer.forward`` (peft/tuners/lora/dora.py), in training,
after the base layer's ``result = base_layer(x)`` and with ``x`` cast to the
adapters' dtype::

    lora_weight = lora_B(lora_A(eye(in))).T          # eye and lora_A(eye) packed for backward
    weight_norm = norm(W + scaling * lora_weight.detach(), dim=1).detach()
    mag_norm_scale = (magnitude / weight_norm).view(1, -1)   # keeps weight_norm
    lora_result = lora_B(lora_A(x))
    base_result = result            (no dropout; result - bias with a bias;
                                     F.linear(dropout(x), W) with dropout)
    dora = (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling
    result = result + dora

So autograd keeps, beyond plain LoRA's tensors: ``base_result`` (the base
output itself, or a new output-sized tensor with a bias or dropout),
``lora_result`` (lora_B's output), and three float32 vectors of
``out_features`` values: ``weight_norm``, ``mag_norm_scale - 1`` (only when
``base_result`` needs a gradient) and ``mag_norm_scale``; with dropout,
``F.linear`` also keeps the weight it multiplies by when that weight is a
copy (autocast's half cast, a dequantized or up-cast frozen weight).

``eye(in)`` and ``lora_A(eye)`` are packed too, but ``lora_weight`` is only
ever used detached: its graph, and the two tensors, are freed as the layer's
forward returns.  paramlint counts them as the layer's temporaries, not as
saved tensors (the tests check the hooks see exactly these two more).

In the adapted graph the branch ends in the ``lora_add`` node, an ``Add`` of
the base output and lora_B's output; :func:`with_dora_tensors` gives that
node the magnitude as its parameter and the saved tensors above.  Only
``Linear`` layers are modelled this way; DoRA on a convolution or an
embedding keeps plain LoRA's activations (its parameters are exact).
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ..model.analysis import LayerInfo, ShapeAnalysis
from ..model.layers.base import SavedTensor


def _requires_grad(shapes: ShapeAnalysis) -> List[bool]:
    """Per node: whether its output needs a gradient (a trainable parameter upstream)."""
    needs: List[bool] = []
    for info in shapes.layers:
        node = info.node
        own = node.trainable and bool(info.result.params)
        needs.append(own or any(s.node is not None and needs[s.node] for s in node.sources))
    return needs


def dora_saved(base: LayerInfo, x_needs_grad: bool, *, dropout: bool, weight_copy: Optional[str],
               bias_trainable: bool, autocast: bool) -> List[SavedTensor]:
    """What the ``lora_add`` node of a DoRA Linear keeps (inputs: base output, lora_B output).
    ``weight_copy``: the dtype of the copy of the frozen weight F.linear keeps with dropout
    (None: the parameter itself)."""
    out, inp = base.result.params["weight"]
    numel = base.result.outputs[0].numel
    has_bias = "bias" in base.result.params
    saved: List[SavedTensor] = []
    if dropout:  # base_result = F.linear(dropout(x), W): a new output, and W when x needs a gradient
        saved.append(SavedTensor("new", numel))
        if x_needs_grad and weight_copy is not None:
            saved.append(SavedTensor("new", out * inp, weight_copy, per_sample=False, stats=True))
        base_grad = x_needs_grad
    elif has_bias:  # base_result = result - bias: float32 under autocast (a half output less a float32 bias)
        saved.append(SavedTensor("new", numel, "float32", stats=True) if autocast else SavedTensor("new", numel))
        base_grad = x_needs_grad or bias_trainable
    else:
        saved.append(SavedTensor("input", numel, index=0))
        base_grad = x_needs_grad
    saved.append(SavedTensor("input", numel, index=1))  # lora_result
    saved.append(SavedTensor("new", out, per_sample=False, stats=True))  # weight_norm (magnitude / weight_norm)
    if base_grad:
        saved.append(SavedTensor("new", out, per_sample=False, stats=True))  # mag_norm_scale - 1
    saved.append(SavedTensor("new", out, per_sample=False, stats=True))  # mag_norm_scale
    return saved


def with_dora_tensors(shapes: ShapeAnalysis, *, dropout: bool, autocast_half: Optional[str],
                      frozen_dtypes: Dict[int, str], biases_trained: bool) -> ShapeAnalysis:
    """``shapes`` (the adapted graph's) with each DoRA Linear's ``lora_add``
    node holding the magnitude and keeping DoRA's tensors.  ``autocast_half``:
    the half dtype under autocast (None without); ``frozen_dtypes``: base node ->
    the dtype its frozen weight is dequantized or cast from storage to, when
    that is a copy; ``biases_trained``: ``bias`` is ``all`` or ``lora_only``."""
    needs = _requires_grad(shapes)
    layers = list(shapes.layers)
    for info in shapes.layers:
        node = info.node
        if node.type != "Add" or not node.label.endswith(".lora_add"):
            continue
        base = shapes.layers[node.sources[0].node]  # type: ignore[index]
        if base.node.type != "Linear":
            continue
        x_source = base.node.sources[0]
        x_needs_grad = x_source.node is not None and needs[x_source.node]
        copy = autocast_half or frozen_dtypes.get(base.node.index)
        bias_trainable = "bias" in base.result.params and (biases_trained or base.node.trainable)
        saved = dora_saved(base, x_needs_grad, dropout=dropout, weight_copy=copy, bias_trainable=bias_trainable,
                           autocast=autocast_half is not None)
        out = base.result.params["weight"][0]
        result = info.result.replace(params={"lora_magnitude_vector": (out,)}, saved=tuple(saved))
        layers[node.index] = info.replace(result=result, params=out, trainable_params=out)
    return shapes.replace(layers=tuple(layers))
