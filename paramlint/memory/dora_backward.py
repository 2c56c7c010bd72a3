"""DoRA's backward, node by node (peft 0.21, ``use_dora: true``).

peft's DoRA forward (memory/dora.py) ends in::

    dora = (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling
    result = result + dora

In the adapted graph that is the ``lora_add`` node; autograd runs it as
small nodes, by decreasing sequence number (measured with live storages,
torch 2.13 CPU; every tensor below is autograd's own, so the same on CUDA):

1. ``* scaling`` and ``mag_norm_scale * lora_result``: ``g * scaling``, then
   its products with ``lora_result`` (the magnitude's gradient, full size)
   and with ``mag_norm_scale`` (lora_B's gradient), and the engine's sum of
   the first to ``[1, out]``; then ``g * scaling``, the full-size product,
   and the node's saved ``lora_result`` and ``mag_norm_scale`` are freed.
2. ``(mag_norm_scale - 1) * base_result``: ``g * base_result`` and its sum,
   and ``g * (mag_norm_scale - 1)`` when ``base_result`` needs a gradient;
   then the product, ``base_result``, ``mag_norm_scale - 1`` and ``g``
   itself (unless the base layer still holds it) are freed, and the
   base-result gradient reaches its value (summed with ``g`` into a new
   tensor when that is the base output).
3. The two ``[1, out]`` gradients of ``mag_norm_scale`` are summed (a new
   vector) and wait until ``magnitude / weight_norm``'s node, which runs
   after lora_A's backward: it allocates the magnitude's gradient and frees
   the sum and ``weight_norm``.
4. With a bias and no dropout, ``base_result = result - bias``: the bias's
   gradient ``-(g * (mag_norm_scale - 1))`` summed over the batch (a
   full-size temporary, then the bias's first gradient; the base Linear's
   own is summed into it later as a second one).

A convolution computes ``lora_B(lora_A(x))`` inside that last line, after
``(mag_norm_scale - 1) * base_result``: lora_B's and lora_A's backward run
between 1 and 2.  An Embedding ends differently: :func:`_embedding`.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from .plan import GRADIENTS, TRANSIENT, value_key

MAGNITUDE = "lora_magnitude_vector"


def is_dora_add(info: Any) -> bool:
    return info.node.type == "Add" and info.node.label.endswith(".lora_add") and MAGNITUDE in info.result.params


def _lora_a(shapes: Any, lora_b: int) -> Optional[int]:
    source = shapes.layers[lora_b].node.sources[0]
    if source.node is None:
        return None
    return source.node if shapes.layers[source.node].node.label.endswith((".lora_A", ".lora_embedding_A")) else None


def _embedding(em: Any, index: int, g: int, keys: List[Any], values: List[Any], released: List[int],
               full: Callable[[], int], vector: Callable[..., int]) -> List[Tuple[int, Callable[[int], None]]]:
    """``result = mag_norm_scale * result + mag_norm_scale * M * scaling`` (M = embedding(x, A.T) @ B.T):
    ``mag_norm_scale * result``'s node first (``g * result`` and its sum), then ``g * scaling``, then
    ``mag_norm_scale * M``'s (``g * scaling * M`` and its sum, ``g * scaling * mag_norm_scale`` for M)."""
    storages = em.storages
    out = em.shapes.layers[index].result.params[MAGNITUDE][0]
    result, product = values[0].storage, values[1].storage
    vectors: List[Optional[int]] = [s for s in sorted(released) if not storages.per_sample[s]
                                    and storages.fixed[s] == out * 4 and s not in (result, product)]
    vectors = [None] * max(0, 2 - len(vectors)) + vectors
    wn, scale = vectors[-2], vectors[-1]
    later = [s for s in released if s not in (wn, scale, result, product)]
    # mag_norm_scale * result
    q1, s1 = full(), vector()
    grad_result = [full()] if values[0].requires_grad else []
    em.step([q1, s1] + grad_result, [q1] + ([result] if result in released else []), "backward", index)
    for grad in grad_result:
        _hand_on(em, keys[0], grad, index)
    # * scaling, then mag_norm_scale * M
    g3 = full()
    frees: List[int] = []
    em._unref(g, frees)
    em.step([g3], frees, "backward", index)
    p_scale, p_lora, s2 = full(), full(), vector()
    frees = [p_scale, g3] + [s for s in (product, scale) if s is not None and s in released]
    em.step([p_scale, p_lora, s2], frees, "backward", index)
    _hand_on(em, keys[1], p_lora, index)
    total = vector()
    em.step([total], [s1, s2] + later, "backward", index)
    grad = vector(GRADIENTS)

    def magnitude(at: int) -> None:  # magnitude / weight_norm
        em.grads[(index, MAGNITUDE)] = grad
        em.step([grad], [total] + ([wn] if wn is not None else []), "backward", at)

    lora_a = _lora_a(em.shapes, em.shapes.layers[index].node.sources[1].node)
    return [(lora_a if lora_a is not None else index, magnitude)]


def dora_backward(em: Any, index: int, released: List[int]) -> List[Tuple[int, Callable[[int], None]]]:
    """Emit the steps of a DoRA ``lora_add``'s backward on emitter ``em``
    (memory.steps._Emitter); returns what runs later, (after which layer's
    backward, the function that emits it given that layer)."""
    info = em.shapes.layers[index]
    node = info.node
    storages = em.storages
    g = em.buffers.pop((index, 0), None)
    if g is None:
        return []
    keys = [value_key(source, em.input_names) for source in node.sources]
    values = [em.plan.values[key] for key in keys]
    spec = info.result.outputs[0]
    dtype = em.plan.values[(index, 0)].dtype
    out = info.result.params[MAGNITUDE][0]
    r_index = 2 if len(node.sources) > 2 else 0
    base = em.shapes.layers[node.sources[0].node]
    has_bias = r_index == 0 and "bias" in base.result.params
    trainable = em.tuning.trainable if em.tuning is not None else {}
    bias_key = (base.node.index, "bias")
    bias_trained = has_bias and trainable.get(bias_key, base.node.trainable)
    base_grad = values[r_index].requires_grad or bias_trained

    def full() -> int:
        return storages.new(spec.numel, dtype, spec.batched, TRANSIENT)

    def vector(category: int = TRANSIENT) -> int:
        return storages.new_fixed(out * 4, category)

    if base.node.type == "Embedding":
        return _embedding(em, index, g, keys, values, released, full, vector)
    # the saved tensors (memory/dora.py's order; a checkpointed layer's are its recomputed twins)
    out_storage = em.plan.values[(index, 0)].storage
    mine = sorted(s for s in released if s != out_storage and s not in (values[0].storage, values[1].storage)
                  and (len(values) < 3 or s != values[2].storage))
    vectors: List[Optional[int]] = [s for s in mine if not storages.per_sample[s] and storages.fixed[s] == out * 4]
    vectors = [None] * max(0, 3 - len(vectors)) + vectors
    wn, minus_one, scale = (vectors[-3], vectors[-2], vectors[-1]) if base_grad else (vectors[-2], None, vectors[-1])
    if has_bias:
        r_saved = next((s for s in mine if storages.per_sample[s]), None)
    else:
        r_saved = values[r_index].storage
    lora_result = values[1].storage
    later = [s for s in released if s not in (wn, minus_one, scale, r_saved, lora_result)]

    if values[0].requires_grad:  # the final add hands g to the base output too
        em.refs[g] = em.refs.get(g, 1) + 1
        em._deliver(keys[0], g, [], [])
    # 1. g * scaling, mag_norm_scale * lora_result
    g3, p_scale, p_lora, s1 = full(), full(), full(), vector()
    frees = [g3, p_scale] + [s for s in (lora_result, scale) if s is not None and s in released]
    em.step([g3, p_scale, p_lora, s1], frees, "backward", index)
    em.refs[p_lora] = 1
    allocs: List[int] = []
    dropped: List[int] = []
    em._deliver(keys[1], p_lora, allocs, dropped)
    if allocs or dropped:
        em.step(allocs, dropped, "backward", index)
    total = vector()
    grad = vector(GRADIENTS)

    def rest(at: int) -> None:
        # 2. (mag_norm_scale - 1) * base_result
        q1, s2 = full(), vector()
        q2 = full() if base_grad else None
        frees = [q1] + [s for s in (r_saved, minus_one) if s is not None and s in released]
        em._unref(g, frees)
        em.step([q1] + ([q2] if q2 is not None else []) + [s2], frees, "backward", at)
        if q2 is not None and not has_bias:
            _hand_on(em, keys[r_index], q2, at)
        # 3. the magnitude's two gradients summed
        em.step([total], [s1, s2], "backward", at)
        # 4. result - bias
        if q2 is not None and has_bias:
            if bias_trained:
                negated, bias_grad = full(), vector(GRADIENTS)
                em.grads[bias_key] = bias_grad
                em.step([negated, bias_grad], [negated], "backward", at)
            if values[0].requires_grad:
                _hand_on(em, keys[0], q2, at)
            else:
                em.step((), [q2], "backward", at)
        if later:
            em.step((), later, "backward", at)

    def magnitude(at: int) -> None:  # magnitude / weight_norm
        em.grads[(index, MAGNITUDE)] = grad
        em.step([grad], [total] + ([wn] if wn is not None else []), "backward", at)

    lora_a = _lora_a(em.shapes, node.sources[1].node)
    if base.node.type == "Linear" or lora_a is None:  # lora_B(lora_A(x)) ran before (mag_norm_scale - 1) * ...
        rest(index)
        return [(lora_a if lora_a is not None else index, magnitude)]
    # a convolution computes lora_B(lora_A(x)) last: its backward runs before (mag_norm_scale - 1) * ...,
    # and magnitude / weight_norm before the recomputed base output (dropout) or right after
    return [(lora_a, rest), (node.sources[2].node if r_index == 2 else lora_a, magnitude)]


def _hand_on(em: Any, key: Any, grad: int, index: int) -> None:
    em.refs[grad] = 1
    allocs: List[int] = []
    frees: List[int] = []
    em._deliver(key, grad, allocs, frees)
    if allocs or frees:
        em.step(allocs, frees, "backward", index)
