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
node the magnitude as its parameter and the saved tensors above.  A
convolution (``_DoraConvNdLayer``) ends the same way: its ``lora_weight`` is
``mm(lora_B.weight, lora_A.weight)`` (no eye), its recomputed base output
(dropout) is ``conv_fn(dropout(x), W)``, computed before lora_A.  An
Embedding (``DoraEmbeddingLayer``) differs: :func:`embedding_tensors`.  Its
backward, node by node: memory/dora_backward.py.
"""
from __future__ import annotations

import math
from typing import Dict, FrozenSet, List, Optional, Tuple

from ..model.analysis import LayerInfo, ShapeAnalysis
from ..model.graph import Source
from ..model.layers.base import SavedTensor
from .layer_rules import VIEWS, keeps_input


# The layers whose DoRA is modelled here: peft's DoraLinearLayer and _DoraConvNdLayer, whose forwards end alike.
DORA_TYPES = ("Linear", "Conv1d", "Conv2d", "Conv3d")


def _weight_norm_node(shapes: ShapeAnalysis, index: int) -> Optional[int]:
    """The branch's ``dora_weight_norm`` Identity, walking back from lora_B."""
    while index is not None:
        node = shapes.layers[index].node
        if node.label.endswith(".dora_weight_norm"):
            return index
        if not node.label.rsplit(".", 1)[-1].startswith("lora_"):
            return None
        index = node.sources[0].node  # type: ignore[assignment]
    return None


Readers = Dict[Source, List[int]]  # a value -> the nodes that read it, in order


def _readers(shapes: ShapeAnalysis) -> Readers:
    """Each value's readers, found in one pass (looking them up per DoRA layer was quadratic)."""
    readers: Readers = {}
    for info in shapes.layers:
        for source in info.node.sources:
            readers.setdefault(source, []).append(info.node.index)
    return readers


def _kept_anyway(shapes: ShapeAnalysis, source: Source, after: int, needs: List[bool], readers: Readers) -> bool:
    """Whether ``source``'s storage outlives DoRA's forward without peft holding it: a model input, a
    value read after ``after``, one a reader keeps as its saved input (a frozen convolution's, as the
    memory plan keeps it), or (through views) the output of a layer that saves its output (ReLU, when
    its output needs a gradient)."""
    while True:
        if source.node is None or any(reader > after for reader in readers.get(source, ())) or \
                _saved_by_reader(shapes, source, needs, readers):
            return True
        info = shapes.layers[source.node]
        if needs[source.node] and any(saved.kind == "output" and saved.index == source.output
                                      for saved in info.result.saved):
            return True
        if info.node.type not in VIEWS or not info.node.sources:
            return False
        source = info.node.sources[0]


def _saved_by_reader(shapes: ShapeAnalysis, source: Source, needs: List[bool], readers: Readers) -> bool:
    """Whether a layer reading ``source`` keeps it for backward as its own saved input (as memory.plan
    decides it, for a float32 input: a half-only or up-cast copy is another storage)."""
    for reader in readers.get(source, ()):
        info = shapes.layers[reader]
        node = info.node
        if not needs[node.index]:
            continue
        trainable = node.trainable and bool(info.result.params)
        for saved in info.result.saved:
            if saved.kind != "input" or saved.index >= len(node.sources) or node.sources[saved.index] != source \
                    or not saved.numel or saved.half_only or saved.upcast:
                continue
            other = node.sources[1 - saved.index] if len(node.sources) == 2 else None
            other_needs = other is None or (other.node is not None and needs[other.node])
            if keeps_input(node.type, trainable, other_needs):
                return True
    return False


def _requires_grad(shapes: ShapeAnalysis, trained: FrozenSet[int]) -> List[bool]:
    """Per node: whether its output needs a gradient (a trainable parameter upstream)."""
    needs: List[bool] = []
    for info in shapes.layers:
        node = info.node
        own = (node.trainable and bool(info.result.params)) or node.index in trained
        needs.append(own or any(s.node is not None and needs[s.node] for s in node.sources))
    return needs


def dora_saved(base: LayerInfo, x_needs_grad: bool, *, dropout: bool, weight_copy: Optional[str],
               bias_trainable: bool, autocast: bool) -> List[SavedTensor]:
    """What the ``lora_add`` node of a DoRA Linear keeps (inputs: base output, lora_B output).
    ``weight_copy``: the dtype of the copy of the frozen weight F.linear keeps with dropout
    (None: the parameter itself)."""
    weight = base.result.params["weight"]
    out = weight[0]
    numel = base.result.outputs[0].numel
    has_bias = "bias" in base.result.params
    saved: List[SavedTensor] = []
    if dropout:  # base_result = F.linear(dropout(x), W): the lora_add's third input, its own Linear node
        saved.append(SavedTensor("input", numel, index=2))
        if x_needs_grad and weight_copy is not None:  # W.to(x.dtype) of a narrower or quantized weight
            saved.append(SavedTensor("new", math.prod(weight), weight_copy, per_sample=False, stats=True))
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


def dora_temporaries(base: LayerInfo, r: int, *, weight_copy: bool,
                     autocast: bool = False) -> Tuple[List[SavedTensor], List[SavedTensor]]:
    """(at the weight norm, at the sum): the temporaries of peft's DoRA forward.
    Linear: at ``weight + scaling * lora_weight``, eye(in), lora_A(eye) (in the
    adapters' compute dtype), lora_weight, ``scaling * lora_weight`` and the
    sum (in x out, float32); at ``mag_norm_scale * lora_result * scaling``,
    eye, lora_A(eye), lora_weight, and two of the three output-sized float32
    products (the third stands where the layer's output will be).  A frozen
    weight that is not float32 (stored narrower, or quantized) is copied to
    float32 for the whole forward (``weight.to(x.dtype)``).  A convolution
    (``_DoraConvNdLayer``): ``lora_weight = mm(lora_B.weight, lora_A.weight)``
    in the compute dtype (under autocast with the half casts of both weights
    packed into its graph) instead of eye, and no weight copy."""
    weight = base.result.params["weight"]
    size = math.prod(weight)
    numel = base.result.outputs[0].numel
    if base.node.type == "Linear":  # lora_B(lora_A(eye(in))): eye and lora_A(eye) packed with it
        inp = weight[1]
        held = [SavedTensor("new", inp * inp, per_sample=False), SavedTensor("new", inp * r, per_sample=False),
                SavedTensor("new", size, per_sample=False, stats=True)]
        product = SavedTensor("new", size, per_sample=False, stats=True)
    else:
        held = [SavedTensor("new", size, per_sample=False)]
        if autocast:  # mm's half copies of lora_B's and lora_A's weights
            held += [SavedTensor("new", numel, per_sample=False) for numel in _adapter_sizes(base, r)]
        product = SavedTensor("new", size, per_sample=False)
    if weight_copy:
        held.append(SavedTensor("new", size, per_sample=False, stats=True))
    norm = held + [product, SavedTensor("new", size, per_sample=False, stats=True)]
    total = held + [SavedTensor("new", numel, stats=True)] * 2
    return norm, total


def _adapter_sizes(base: LayerInfo, r: int) -> Tuple[int, int]:
    """The values of lora_B's and lora_A's weights."""
    weight = base.result.params["weight"]
    if base.node.type == "Embedding":  # lora_embedding_A: r x num, lora_embedding_B: dim x r
        return weight[1] * r, r * weight[0]
    groups = (base.result.args or base.node.args).get("groups", 1)
    return weight[0] * r // groups, r * weight[1] * groups * math.prod(weight[2:])


def embedding_tensors(base: LayerInfo, r: int, *, autocast: bool
                      ) -> Tuple[List[SavedTensor], List[SavedTensor], List[SavedTensor], List[SavedTensor]]:
    """peft's ``DoraEmbeddingLayer`` and ``DoraEmbeddingVariant.forward``::

        lora_weight = (lora_embedding_A.T @ lora_embedding_B.T).T     # num x dim, compute dtype
        weight_norm = norm(W.T + scaling * lora_weight, dim=1)        # dim values
        mag_norm_scale = magnitude / weight_norm
        dora_result = mag_norm_scale * (embedding(x, A.T) @ B.T) * scaling
        result = mag_norm_scale * result + dora_result

    Returns (saved by the lora_add, its temporaries, the temporaries at
    lora_embedding_B, at the weight norm).  Saved: the base output and
    ``embedding(x, A.T) @ B.T`` (the lora_add's two inputs), ``weight_norm``
    and ``mag_norm_scale``.  At lora_embedding_B's product: lora_weight (and
    under autocast the half copies of A and B its matmul packed) with
    ``mag_norm_scale * ...`` and its ``* scaling``; at the sum: that and
    ``mag_norm_scale * result``."""
    dim = base.result.params["weight"][1]
    numel = base.result.outputs[0].numel
    saved = [SavedTensor("input", numel, index=0), SavedTensor("input", numel, index=1),
             SavedTensor("new", dim, per_sample=False, stats=True),  # weight_norm
             SavedTensor("new", dim, per_sample=False, stats=True)]  # mag_norm_scale
    norm, _ = dora_temporaries(base, r, weight_copy=False, autocast=autocast)
    products = [SavedTensor("new", numel, stats=True)] * 2
    return saved, products, norm[:-2] + products, norm


def with_dora_tensors(shapes: ShapeAnalysis, *, dropout: bool, autocast_half: Optional[str],
                      frozen_dtypes: Dict[int, str], biases_trained: bool, r: int,
                      trained: FrozenSet[int] = frozenset()) -> ShapeAnalysis:
    """``shapes`` (the adapted graph's) with each DoRA Linear's ``lora_add``
    node holding the magnitude and keeping DoRA's tensors.  ``autocast_half``:
    the half dtype under autocast (None without); ``frozen_dtypes``: base node ->
    the dtype its frozen weight is dequantized or cast from storage to, when
    that is a copy; ``biases_trained``: ``bias`` is ``all`` or ``lora_only``; ``trained``: frozen
    nodes with a trained parameter (a bias), whose outputs need a gradient."""
    needs = _requires_grad(shapes, trained)
    readers = _readers(shapes)
    layers = list(shapes.layers)
    for info in shapes.layers:
        node = info.node
        if node.type != "Add" or not node.label.endswith(".lora_add"):
            continue
        base = shapes.layers[node.sources[0].node]  # type: ignore[index]
        if base.node.type == "Embedding":
            saved, at_sum, at_b, at_norm = embedding_tensors(base, r, autocast=autocast_half is not None)
            out = base.result.params["weight"][1]
            lora_b = shapes.layers[node.sources[1].node]  # type: ignore[index]
            layers[lora_b.node.index] = lora_b.replace(result=lora_b.result.replace(scratch=tuple(at_b)))
            _place(shapes, layers, info, saved, at_sum, at_norm, out)
            continue
        if base.node.type not in DORA_TYPES:
            continue
        x_source = base.node.sources[0]
        x_needs_grad = x_source.node is not None and needs[x_source.node]
        # W.to(x.dtype) of a dequantized or narrower weight; under autocast F.linear keeps its half cast
        # instead (the recompute Linear's own saved weight cast)
        copy = None if autocast_half or base.node.type != "Linear" else frozen_dtypes.get(base.node.index)
        bias_trainable = "bias" in base.result.params and (biases_trained or base.node.trainable)
        saved = dora_saved(base, x_needs_grad, dropout=dropout, weight_copy=copy, bias_trainable=bias_trainable,
                           autocast=autocast_half is not None)
        out = base.result.params["weight"][0]
        at_norm, at_sum = dora_temporaries(base, r, weight_copy=base.node.type == "Linear"
                                           and base.node.index in frozen_dtypes, autocast=autocast_half is not None)
        # peft's forward holds x until it returns; in the graph its last reader is the dropout
        if dropout and not _kept_anyway(shapes, x_source, node.sources[2].node, needs, readers):  # type: ignore[arg-type]
            held = SavedTensor("new", base.inputs[0].numel)
            at_norm, at_sum = at_norm + [held], at_sum + [held]
        _place(shapes, layers, info, saved, at_sum, at_norm, out)
    return shapes.replace(layers=tuple(layers))


def _place(shapes: ShapeAnalysis, layers: List[LayerInfo], info: LayerInfo, saved: List[SavedTensor],
           at_sum: List[SavedTensor], at_norm: List[SavedTensor], out: int) -> None:
    """The lora_add holds the magnitude, keeps ``saved`` and has ``at_sum``; the weight norm has ``at_norm``."""
    node = info.node
    result = info.result.replace(params={"lora_magnitude_vector": (out,)}, saved=tuple(saved), scratch=tuple(at_sum))
    layers[node.index] = info.replace(result=result, params=out, trainable_params=out)
    norm_node = _weight_norm_node(shapes, node.sources[1].node)  # type: ignore[arg-type]
    if norm_node is not None:
        norm = shapes.layers[norm_node]
        layers[norm_node] = norm.replace(result=norm.result.replace(scratch=tuple(at_norm)))
