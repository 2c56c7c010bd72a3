"""Attention: MultiheadAttention, ScaledDotProductAttention and the
Transformer layers (TransformerEncoderLayer, TransformerDecoderLayer,
Transformer).

The batch is always dimension 0, so every module here acts as with
``batch_first=True`` (its default here) and a sample is ``[seq, features]``.
They are called without masks.  ``TransformerEncoder`` and
``TransformerDecoder`` are not offered: torch builds them from a layer
*object*, which plain arguments cannot express; repeat a
``TransformerEncoderLayer`` instead, or use ``Transformer``.

FLOPs follow ``torch.utils.flop_counter.FlopCounterMode`` on the CPU in a
training-mode forward (torch 2.13), per sample.  The projections always
count (2 per multiply-add).  The attention core (q @ k^T and weights @ v,
``2*L*S*(E + Ev)`` per head group) counts only where torch runs it as
matrix products: with ``need_weights: true``, or where
``scaled_dot_product_attention`` falls back to its math kernel.  Its CPU
flash kernel, which FlopCounterMode does not see, runs when q, k and v are
4-d with equal batch and head sizes (or grouped heads with
``enable_gqa``), equal head dims, and ``dropout_p == 0``.  Inside
MultiheadAttention that means: the core counts exactly when ``dropout > 0``
(training mode) or ``need_weights: true``.  Eval mode counts differently:
dropout is off, so the core counts only with need_weights; under
``torch.no_grad()`` self-attention MultiheadAttention and
TransformerEncoderLayer take torch's fused fast paths, which count 0, and a
TransformerDecoderLayer then counts only its cross-attention and
feed-forward products.

What autograd saves (``saved``) is modelled in attention_memory.py.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import layout
from .attention_memory import block_saved, layer_norm_saved, mha_saved, sdpa_saved
from .base import Arg, LayerDef, LayerError, LayerResult, SavedTensor, Shape, TensorSpec, check_inferred
from .recurrent import check_batch_first

_BATCH = -1  # the batch size N inside a torch-level shape


# ---------------------------------------------------------------------------
# MultiheadAttention

def _sequence(layer_type: str, tensor: TensorSpec, what: str) -> Tuple[int, int]:
    """``(seq, features)`` of a batched float [seq, features] sample."""
    if not tensor.batched:
        raise LayerError(f"{layer_type} needs a batched {what}; a Parameter {tensor.describe()} has no batch "
                         f"dimension", code="PL401")
    if not tensor.is_float:
        raise LayerError(f"{layer_type} needs a floating-point {what}, got {tensor.dtype}", code="PL404")
    if len(tensor.shape) == 1:
        raise LayerError(f"{layer_type} expects a [seq, features] {what} per sample, got {tensor.describe()}: "
                         f"torch would read the batch [N, {tensor.shape[0]}] as one unbatched sequence of length N",
                         code="PL401")
    if len(tensor.shape) != 2:
        raise LayerError(f"{layer_type} expects a [seq, features] {what} per sample (batch excluded), "
                         f"got {tensor.describe()} ({len(tensor.shape)}-d)", code="PL401")
    return tensor.shape[0], tensor.shape[1]


def _same_dtype(layer_type: str, inputs: Sequence[TensorSpec], names: Sequence[str]) -> None:
    for tensor, name in zip(inputs[1:], names[1:]):
        if tensor.dtype != inputs[0].dtype:
            raise LayerError(f"{layer_type} needs inputs of one dtype: {names[0]} is {inputs[0].dtype}, "
                             f"{name} is {tensor.dtype}", code="PL404")


def _heads_check(embed_dim: int, num_heads: int, arg: str, embed_name: str = "embed_dim") -> None:
    if embed_dim % num_heads:
        raise LayerError(f"{embed_name} must be divisible by {arg}: {embed_dim} % {num_heads} = "
                         f"{embed_dim % num_heads}", arg=arg)


def mha_params(embed_dim: int, kdim: int, vdim: int, bias: bool, add_bias_kv: bool = False,
               prefix: str = "") -> Dict[str, Shape]:
    """torch's MultiheadAttention parameters, in ``named_parameters`` order."""
    params: Dict[str, Shape] = {}
    if kdim == embed_dim and vdim == embed_dim:
        params[prefix + "in_proj_weight"] = (3 * embed_dim, embed_dim)
    else:
        params[prefix + "q_proj_weight"] = (embed_dim, embed_dim)
        params[prefix + "k_proj_weight"] = (embed_dim, kdim)
        params[prefix + "v_proj_weight"] = (embed_dim, vdim)
    if bias:
        params[prefix + "in_proj_bias"] = (3 * embed_dim,)
    if add_bias_kv:
        params[prefix + "bias_k"] = (1, 1, embed_dim)
        params[prefix + "bias_v"] = (1, 1, embed_dim)
    params[prefix + "out_proj.weight"] = (embed_dim, embed_dim)
    if bias:
        params[prefix + "out_proj.bias"] = (embed_dim,)
    return params


def mha_flops(query_len: int, key_len: int, embed_dim: int, kdim: int, vdim: int, attended_len: int,
              core_counted: bool) -> int:
    """FlopCounterMode's count for one sample of MultiheadAttention:
    the four projections, plus q @ k^T and weights @ v over the
    ``attended_len`` keys when they run as matrix products."""
    projections = 2 * embed_dim * (2 * query_len * embed_dim + key_len * (kdim + vdim))
    core = 4 * query_len * attended_len * embed_dim if core_counted else 0
    return projections + core


def _infer_mha(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    layer_type = "MultiheadAttention"
    names = ("query", "key", "value")[:len(inputs)] if len(inputs) != 2 else ("query", "key_value")
    for tensor, name in zip(inputs, names):
        _sequence(layer_type, tensor, name)
    _same_dtype(layer_type, inputs, names)
    query = inputs[0]
    key = inputs[1] if len(inputs) > 1 else query
    value = inputs[2] if len(inputs) > 2 else key
    check_batch_first(layer_type, args)
    (query_len, query_dim), (key_len, key_dim), (value_len, value_dim) = query.shape, key.shape, value.shape
    embed_dim = check_inferred("embed_dim", args["embed_dim"], query_dim, "its query")
    num_heads = args["num_heads"]
    _heads_check(embed_dim, num_heads, "num_heads")
    kdim = check_inferred("kdim", args["kdim"], key_dim, f"its {names[1]} input" if len(names) > 1 else "its query")
    vdim = check_inferred("vdim", args["vdim"], value_dim,
                          f"its {names[-1]} input" if len(names) > 1 else "its query")
    if key_len != value_len:
        raise LayerError(f"key and value must have the same sequence length: key has {key_len}, value has "
                         f"{value_len}", code="PL401")
    attended = key_len + int(args["add_bias_kv"]) + int(args["add_zero_attn"])
    need_weights = args["need_weights"]
    # torch attends batch-second ([L, N, E]) and transposes the output back
    outputs: Tuple[TensorSpec, ...] = (layout.transposed(TensorSpec((query_len, embed_dim), query.dtype)),)
    if need_weights:
        outputs += (TensorSpec((query_len, attended), query.dtype),)
    params = mha_params(embed_dim, kdim, vdim, args["bias"], args["add_bias_kv"])
    flops = mha_flops(query_len, key_len, embed_dim, kdim, vdim, attended,
                      core_counted=need_weights or args["dropout"] > 0)
    # need_weights is an argument of forward, not of the constructor.
    resolved = {k: v for k, v in args.items() if k != "need_weights"}
    resolved.update(embed_dim=embed_dim, kdim=kdim, vdim=vdim)
    saved = mha_saved(query_len, key_len, embed_dim, kdim, vdim, num_heads, inputs=len(inputs),
                      extra_keys=attended - key_len, need_weights=need_weights, dropout=args["dropout"],
                      dtype=query.dtype)
    return LayerResult(outputs, params, flops=flops, args=resolved, saved=tuple(saved))


_MHA_ARGS = {
    "embed_dim": Arg("opt_pos_int", None, "model dimension; inferred from the query's last dimension"),
    "num_heads": Arg("pos_int", doc="parallel attention heads; must divide embed_dim"),
    "dropout": Arg("prob", 0.0, "dropout on the attention weights"),
    "bias": Arg("bool", True, "adds biases to the input and output projections"),
    "add_bias_kv": Arg("bool", False, "appends learned bias_k and bias_v to the keys and values (one more key)"),
    "add_zero_attn": Arg("bool", False, "appends a zero key and value (one more key)"),
    "kdim": Arg("opt_pos_int", None, "key features; inferred from the key input's last dimension"),
    "vdim": Arg("opt_pos_int", None, "value features; inferred from the value input's last dimension"),
    "batch_first": Arg("bool", True, "must stay true: the batch is always dimension 0 in paramlint "
                                     "(torch's default is false)"),
    "need_weights": Arg("bool", False, "paramlint: call forward with need_weights=True and expose the "
                                       "head-averaged attention weights [L, S] as NAME.1 (not a constructor "
                                       "argument)"),
}


# ---------------------------------------------------------------------------
# ScaledDotProductAttention

def _torch_shape(tensor: TensorSpec) -> Tuple[int, ...]:
    return ((_BATCH,) + tensor.shape) if tensor.batched else tensor.shape


def _dims_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join("N" if s == _BATCH else str(s) for s in shape) + "]"


def _broadcast(a: Sequence[int], b: Sequence[int], what: str) -> Tuple[int, ...]:
    """torch broadcasting of leading dims, with N (the batch) as a symbol."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    result = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            result.append(x)
        elif x == 1:
            result.append(y)
        elif _BATCH in (x, y):
            raise LayerError(f"ScaledDotProductAttention: broadcasting the leading dims of {what}, "
                             f"{_dims_text(a)} and {_dims_text(b)}, would depend on the batch size N", code="PL401")
        else:
            raise LayerError(f"ScaledDotProductAttention cannot broadcast the leading dims of {what}: "
                             f"{_dims_text(a)} and {_dims_text(b)}", code="PL401")
    return tuple(result)


def _per_sample(dims: Sequence[int]) -> int:
    return math.prod(1 if d == _BATCH else d for d in dims)


def _infer_sdpa(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    layer_type = "ScaledDotProductAttention"
    names = ("query", "key", "value")
    for tensor, name in zip(inputs, names):
        if not tensor.is_float:
            raise LayerError(f"{layer_type} needs a floating-point {name}, got {tensor.dtype}", code="PL404")
        if tensor.batched and len(tensor.shape) == 1:
            raise LayerError(f"{layer_type} expects a [..., seq, features] {name} per sample, got "
                             f"{tensor.describe()}: torch would read the batch as the sequence", code="PL401")
        if tensor.rank < 2:
            raise LayerError(f"{layer_type} needs a {name} of at least 2 dims, got {tensor.describe()}",
                             code="PL401")
    _same_dtype(layer_type, inputs, names)
    q, k, v = (_torch_shape(t) for t in inputs)
    (query_len, embed), (key_len, key_embed), (value_len, value_embed) = q[-2:], k[-2:], v[-2:]
    if key_embed != embed:
        raise LayerError(f"query and key need the same last dim: query has {embed}, key has {key_embed}",
                         code="PL401")
    if value_len != key_len:
        raise LayerError(f"key and value need the same sequence length: key has {key_len}, value has {value_len}",
                         code="PL401")
    if args["enable_gqa"]:
        if min(len(q), len(k), len(v)) < 3:
            raise LayerError("enable_gqa needs a heads dim (-3) in query, key and value", arg="enable_gqa",
                             code="PL401")
        heads = (q[-3], k[-3], v[-3])
        if len(set(heads)) > 1 and _BATCH in heads:
            raise LayerError(f"enable_gqa would group heads along the batch dim (valid for some batch sizes only): "
                             f"heads (dim -3) of query, key, value are {_dims_text(heads)}", arg="enable_gqa",
                             code="PL401")
        if len(set(heads)) > 1:
            if heads[0] % heads[1] or heads[0] % heads[2]:
                raise LayerError(f"number of heads in key ({heads[1]}) and value ({heads[2]}) must divide the "
                                 f"number of heads in query ({heads[0]})", arg="enable_gqa", code="PL401")
            k = k[:-3] + (heads[0],) + k[-2:]
            v = v[:-3] + (heads[0],) + v[-2:]
    scores = _broadcast(q[:-2], k[:-2], "query and key")
    lead = _broadcast(scores, v[:-2], "the scores and value")
    batched = any(t.batched for t in inputs)
    if batched and (not lead or lead[0] != _BATCH or _BATCH in lead[1:]):
        raise LayerError(f"ScaledDotProductAttention would move the batch out of dim 0 (the shape would depend "
                         f"on the batch size N): leading dims {_dims_text(lead)}", code="PL401")
    out_shape = lead[1:] + (query_len, value_embed) if batched else lead + (query_len, value_embed)
    output = TensorSpec(out_shape, inputs[0].dtype, batched)
    full = [_torch_shape(t) for t in inputs]
    flops = 0 if _flash_cpu(args, *full) else (
        2 * query_len * key_len * (_per_sample(scores) * embed + _per_sample(lead) * value_embed))
    fused = _flash_cpu(dict(args, dropout_p=0.0), *full)
    saved = sdpa_saved(fused=fused, inputs=(inputs[0].numel, inputs[1].numel, inputs[2].numel),
                       batched=(inputs[0].batched, inputs[1].batched, inputs[2].batched),
                       grouped=(_per_sample(k), _per_sample(v)), scores=_per_sample(scores) * query_len * key_len,
                       output=output.numel, logsumexp=_per_sample(lead) * query_len, dropout=args["dropout_p"],
                       dtype=output.dtype)
    return LayerResult((output,), flops=flops, args=dict(args), saved=tuple(saved))


def _flash_cpu(args: Mapping[str, Any], q: Sequence[int], k: Sequence[int], v: Sequence[int]) -> bool:
    """Whether torch 2.13 runs its CPU flash kernel (uncounted) for a batch of 1."""
    if args["dropout_p"] > 0 or not len(q) == len(k) == len(v) == 4:
        return False
    q, k, v = ([1 if d == _BATCH else d for d in s] for s in (q, k, v))
    if not q[0] == k[0] == v[0] or not q[-1] == k[-1] == v[-1]:
        return False
    if args["enable_gqa"]:
        return k[1] == v[1] and q[1] % k[1] == 0
    return q[1] == k[1] == v[1]


_SDPA_ARGS = {
    "dropout_p": Arg("prob", 0.0, "dropout on the attention weights (applied on every call, as in torch)"),
    "is_causal": Arg("bool", False, "masks future keys (top-left causal mask)"),
    "scale": Arg("opt_number", None, "softmax scale; null means 1/sqrt(E)"),
    "enable_gqa": Arg("bool", False, "grouped-query attention: key/value heads (dim -3) divide the query's"),
    "window": Arg("opt_pos_int", None, "sliding-window attention: each query sees at most the last `window` keys "
                                       "(a mask, as transformers passes it; shapes and counts unchanged)"),
}


# ---------------------------------------------------------------------------
# Transformer layers

def _transformer_args(kind: str) -> Dict[str, Arg]:
    heads_doc = "attention heads; must divide d_model"
    args: Dict[str, Arg] = {
        "d_model": Arg("opt_pos_int", None, "model dimension; inferred from the (first) input's last dimension"),
        "nhead": Arg("pos_int", 8, heads_doc) if kind == "Transformer" else Arg("pos_int", doc=heads_doc),
    }
    if kind == "Transformer":
        args["num_encoder_layers"] = Arg("pos_int", 6, "encoder layers (torch fails at forward with 0)")
        args["num_decoder_layers"] = Arg("pos_int", 6, "decoder layers (torch fails at forward with 0)")
    args.update({
        "dim_feedforward": Arg("pos_int", 2048, "width of the feed-forward network"),
        "dropout": Arg("prob", 0.1, "dropout rate"),
        "activation": Arg("enum", "relu", "activation of the feed-forward network", ("relu", "gelu")),
        "layer_norm_eps": Arg("number", 1e-5, "LayerNorm epsilon"),
        "batch_first": Arg("bool", True, "must stay true: the batch is always dimension 0 in paramlint "
                                         "(torch's default is false)"),
        "norm_first": Arg("bool", False, "pre-norm: LayerNorm before attention and feed-forward"),
        "bias": Arg("bool", True, "biases in the Linear and LayerNorm layers"),
    })
    return args


def _norm_params(name: str, d_model: int, bias: bool) -> Dict[str, Shape]:
    params: Dict[str, Shape] = {f"{name}.weight": (d_model,)}
    if bias:
        params[f"{name}.bias"] = (d_model,)
    return params


def _linear_params(name: str, in_features: int, out_features: int, bias: bool) -> Dict[str, Shape]:
    params: Dict[str, Shape] = {f"{name}.weight": (out_features, in_features)}
    if bias:
        params[f"{name}.bias"] = (out_features,)
    return params


def _block_params(prefix: str, d_model: int, feedforward: int, bias: bool, decoder: bool) -> Dict[str, Shape]:
    """One TransformerEncoderLayer / TransformerDecoderLayer, ``named_parameters`` order."""
    params = mha_params(d_model, d_model, d_model, bias, prefix=prefix + "self_attn.")
    if decoder:
        params.update(mha_params(d_model, d_model, d_model, bias, prefix=prefix + "multihead_attn."))
    params.update(_linear_params(prefix + "linear1", d_model, feedforward, bias))
    params.update(_linear_params(prefix + "linear2", feedforward, d_model, bias))
    for norm in ("norm1", "norm2", "norm3") if decoder else ("norm1", "norm2"):
        params.update(_norm_params(prefix + norm, d_model, bias))
    return params


def _block_flops(length: int, memory_len: Optional[int], d_model: int, feedforward: int, dropout: float) -> int:
    """One encoder layer (``memory_len`` None) or decoder layer, one sample."""
    core = dropout > 0  # need_weights=False: sdpa's math kernel only with dropout
    flops = mha_flops(length, length, d_model, d_model, d_model, length, core)
    if memory_len is not None:
        flops += mha_flops(length, memory_len, d_model, d_model, d_model, memory_len, core)
    return flops + 4 * length * d_model * feedforward


def _model_inputs(layer_type: str, args: Mapping[str, Any], inputs: Sequence[TensorSpec],
                  names: Sequence[str]) -> Tuple[int, List[int]]:
    """d_model (inferred from the first input) and each input's length."""
    shapes = [_sequence(layer_type, tensor, name) for tensor, name in zip(inputs, names)]
    _same_dtype(layer_type, inputs, names)
    check_batch_first(layer_type, args)
    d_model = check_inferred("d_model", args["d_model"], shapes[0][1], f"its {names[0]}")
    for (_, features), name in zip(shapes[1:], names[1:]):
        if features != d_model:
            raise LayerError(f"{layer_type} needs {name} features equal to d_model {d_model}, got {features}",
                             code="PL401")
    _heads_check(d_model, args["nhead"], "nhead", "d_model")
    return d_model, [length for length, _ in shapes]


def _saved(args: Mapping[str, Any], length: int, memory_len: Optional[int], d_model: int, dtype: str,
           input_index: Optional[int]) -> List[SavedTensor]:
    return block_saved(length, memory_len, d_model, args["nhead"], args["dim_feedforward"], dropout=args["dropout"],
                       activation=args["activation"], norm_first=args["norm_first"], dtype=dtype,
                       input_index=input_index)


def _block_layout(args: Mapping[str, Any], inputs: Sequence[TensorSpec], out: TensorSpec) -> TensorSpec:
    """norm_first: the output is ``x + ...`` (elementwise, x first); otherwise a LayerNorm's, contiguous."""
    x = inputs[0]
    if not args["norm_first"] or x.strides is None:
        return layout.with_strides(out, None)
    shape = layout.full_shape(out)
    return layout.pointwise(out, [layout.operand(x), (shape, layout.contiguous_strides(shape))])


def _infer_encoder_layer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    d_model, (length,) = _model_inputs("TransformerEncoderLayer", args, inputs, ("src",))
    ff, dtype = args["dim_feedforward"], inputs[0].dtype
    return LayerResult((TensorSpec((length, d_model), dtype),),
                       _block_params("", d_model, ff, args["bias"], decoder=False),
                       flops=_block_flops(length, None, d_model, ff, args["dropout"]),
                       args=dict(args, d_model=d_model), saved=tuple(_saved(args, length, None, d_model, dtype, 0)))


def _infer_decoder_layer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    d_model, (length, memory_len) = _model_inputs("TransformerDecoderLayer", args, inputs, ("tgt", "memory"))
    ff, dtype = args["dim_feedforward"], inputs[0].dtype
    return LayerResult((TensorSpec((length, d_model), dtype),),
                       _block_params("", d_model, ff, args["bias"], decoder=True),
                       flops=_block_flops(length, memory_len, d_model, ff, args["dropout"]),
                       args=dict(args, d_model=d_model),
                       saved=tuple(_saved(args, length, memory_len, d_model, dtype, 0)))


def _infer_transformer(args: Mapping[str, Any], inputs: Sequence[TensorSpec]) -> LayerResult:
    d_model, (src_len, tgt_len) = _model_inputs("Transformer", args, inputs, ("src", "tgt"))
    ff, bias, dropout = args["dim_feedforward"], args["bias"], args["dropout"]
    params: Dict[str, Shape] = {}
    for i in range(args["num_encoder_layers"]):
        params.update(_block_params(f"encoder.layers.{i}.", d_model, ff, bias, decoder=False))
    params.update(_norm_params("encoder.norm", d_model, bias))
    for i in range(args["num_decoder_layers"]):
        params.update(_block_params(f"decoder.layers.{i}.", d_model, ff, bias, decoder=True))
    params.update(_norm_params("decoder.norm", d_model, bias))
    flops = (args["num_encoder_layers"] * _block_flops(src_len, None, d_model, ff, dropout)
             + args["num_decoder_layers"] * _block_flops(tgt_len, src_len, d_model, ff, dropout))
    dtype = inputs[1].dtype
    saved: List[SavedTensor] = []
    for i in range(args["num_encoder_layers"]):
        saved += _saved(args, src_len, None, d_model, dtype, 0 if i == 0 else None)
    saved += layer_norm_saved(src_len * d_model, src_len, dtype)
    for i in range(args["num_decoder_layers"]):
        saved += _saved(args, tgt_len, src_len, d_model, dtype, 1 if i == 0 else None)
    saved += layer_norm_saved(tgt_len * d_model, tgt_len, dtype)
    return LayerResult((TensorSpec((tgt_len, d_model), dtype),), params, flops=flops,
                       args=dict(args, d_model=d_model), saved=tuple(saved))


LAYERS = (
    LayerDef("MultiheadAttention", "attention", _MHA_ARGS, _infer_mha, min_inputs=1, max_inputs=3,
             layout=layout.as_inferred,
             doc="torch.nn.MultiheadAttention. One input: self-attention; `from: [q, kv]` or `from: [q, k, v]`: "
                 "cross-attention. Output [L, embed_dim]; with need_weights: true also NAME.1, the attention "
                 "weights averaged over heads [L, S] (S counts the bias_k and zero-attention keys)."),
    LayerDef("ScaledDotProductAttention", "attention", _SDPA_ARGS, _infer_sdpa, min_inputs=3, max_inputs=3,
             doc="torch.nn.functional.scaled_dot_product_attention on `from: [q, k, v]` shaped [..., L, E], "
                 "[..., S, E], [..., S, Ev] -> [..., L, Ev]; leading dims broadcast as in torch. No parameters."),
    LayerDef("TransformerEncoderLayer", "attention", _transformer_args("TransformerEncoderLayer"),
             _infer_encoder_layer, layout=_block_layout,
             doc="torch.nn.TransformerEncoderLayer on a [seq, d_model] sample: self-attention and feed-forward."),
    LayerDef("TransformerDecoderLayer", "attention", _transformer_args("TransformerDecoderLayer"),
             _infer_decoder_layer, min_inputs=2, max_inputs=2, layout=_block_layout,
             doc="torch.nn.TransformerDecoderLayer on `from: [tgt, memory]`: self-attention on tgt, "
                 "attention to memory, feed-forward. Output [tgt_len, d_model]."),
    LayerDef("Transformer", "attention", _transformer_args("Transformer"), _infer_transformer,
             min_inputs=2, max_inputs=2,
             doc="torch.nn.Transformer on `from: [src, tgt]`: encoder and decoder stacks with their final "
                 "LayerNorms (encoder.norm, decoder.norm). Output [tgt_len, d_model]."),
)
