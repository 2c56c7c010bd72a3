"""Hypothesis strategies for random paramlint graph configs (differential fuzzing).

``graph_configs()`` draws a whole config: a sequential CNN or MLP, a
sequence model (recurrent, attention, transformer layers), or a network of
blocks with ``$args``, ``${...}`` and ``repeat``, with residual ``Add``s,
``Concat``s, weight sharing and frozen layers.  A rough shape tracker of its
own (never paramlint's) steers most draws towards configs that work, and a
fault now and then makes one wrong on purpose: a wrong written
``in_features``, an input too small for a kernel, groups that do not divide
the channels, heads that do not divide the width, mismatched merges.  The
oracle, not the generator, decides what is valid.

The generator stays inside the region where the format and torch mean the
same thing: it never asks for paramlint's deliberate departures from torch
(touching the batch dim, torch's unbatched readings of a rank-deficient
input, empty slices, ``batch_first: false``, implicit softmax dims).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from hypothesis import strategies as st

Shape = Optional[Tuple[int, ...]]  # per-sample shape; None once the tracker has lost it

ACTIVATIONS = ("ReLU", "ReLU6", "GELU", "SiLU", "Tanh", "Sigmoid", "ELU", "Hardswish", "Mish", "Softplus",
               "LeakyReLU", "Identity", "Hardtanh", "CELU", "SELU", "LogSigmoid", "Softsign", "Tanhshrink",
               "Hardshrink", "Softshrink", "Hardsigmoid", "RReLU", "Threshold")


def window_out(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """Conv/pool output size (torch's documented formulas), for steering only."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil:
        return span // s + 1 if span >= 0 else 0
    out = -(-span // s) + 1 if span >= 0 else 0
    if out > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


class Net:
    """A config under construction: layers, named outputs and their tracked shapes."""

    def __init__(self, draw: Callable[[Any], Any], fault_percent: int) -> None:
        self.draw = draw
        self.fault_percent = fault_percent
        self.layers: List[Dict[str, Any]] = []
        self.shape: Shape = None
        self.outputs: Dict[str, Shape] = {}
        self.linears: Dict[str, Tuple[int, int]] = {}  # name -> (in, out) of Linear layers, for `shares`

    def int(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def pick(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(options)))

    def flag(self, percent: int = 50) -> bool:
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def fault(self) -> bool:
        # Shrinks towards no fault: 0 is "no".
        return self.draw(st.integers(0, 99)) >= 100 - self.fault_percent

    def here(self) -> str:
        """The name of the latest output (the input before any layer)."""
        return self.layers[-1]["name"] if self.layers else "input"

    def add(self, entry: Dict[str, Any], shape: Shape) -> str:
        name = f"l{len(self.layers)}"
        entry["name"] = name
        if self.flag(8):
            entry["trainable"] = False
        self.layers.append(entry)
        # The tracker gives up on empty sizes and on per-sample scalars (nothing is drawn after them).
        self.shape = shape if shape and all(s > 0 for s in shape) else None
        self.outputs[name] = self.shape
        return name

    def earlier(self, wanted: Callable[[Shape], bool]) -> Optional[str]:
        """An earlier output whose shape passes ``wanted`` (or any one, on a fault)."""
        names = [n for n, s in self.outputs.items() if s is not None and wanted(s)]
        if self.fault():
            names = list(self.outputs)
        return self.pick(names) if names else None

    def inferable(self, entry: Dict[str, Any], key: str, actual: int) -> None:
        """Write an inferable size sometimes; a fault writes a wrong one."""
        if self.fault():
            entry[key] = actual + self.int(1, 3)
        elif self.flag(25):
            entry[key] = actual


# ---------------------------------------------------------------------------
# Layers that keep any shape

def activation(net: Net) -> None:
    kind = net.pick(ACTIVATIONS)
    entry: Dict[str, Any] = {"type": kind}
    if kind == "LeakyReLU" and net.flag():
        entry["negative_slope"] = 0.2
    if kind == "GELU" and net.flag(30):
        entry["approximate"] = "tanh"
    if kind == "Threshold":
        entry.update(threshold=0.1, value=-1.0)
    if kind == "Hardtanh" and net.flag(30):
        entry.update(min_val=-2.0, max_val=net.pick((2.0, -3.0)))  # -3 is below min_val: torch refuses it
    if kind == "CELU" and net.flag(20):
        entry["alpha"] = net.pick((0.5, 0.0))  # 0 divides by zero: torch refuses it
    net.add(entry, net.shape)


def dropout(net: Net) -> None:
    net.add({"type": net.pick(("Dropout", "AlphaDropout")), "p": net.pick((0.0, 0.1, 0.5))}, net.shape)


def layer_norm(net: Net) -> None:
    shape = net.shape or (1,)
    entry: Dict[str, Any] = {"type": "LayerNorm"}
    if net.flag(40):
        trailing = net.int(1, len(shape))
        entry["normalized_shape"] = list(shape[-trailing:])
    if net.fault():
        entry["normalized_shape"] = [shape[-1] + 1]
    if net.flag(20):
        entry["elementwise_affine"] = False
    net.add(entry, net.shape)


def linear(net: Net, out: Optional[int] = None) -> None:
    shape = net.shape or (1,)
    out = out or net.int(1, 8)
    entry: Dict[str, Any] = {"type": "Linear", "out_features": out}
    net.inferable(entry, "in_features", shape[-1])
    if net.flag(20):
        entry["bias"] = False
    same = [n for n, (i, o) in net.linears.items() if (i, o) == (shape[-1], out)]
    if net.linears and net.flag(15):
        entry["shares"] = net.pick(same) if same and not net.fault() else net.pick(list(net.linears))
        entry["bias"] = entry.get("bias", True)
    name = net.add(entry, shape[:-1] + (out,))
    net.linears[name] = (entry.get("in_features", shape[-1]), out)


def residual(net: Net, merge: str = "Add") -> None:
    here = net.here()
    other = net.earlier(lambda s: s == net.shape)
    if other is None:
        return
    net.add({"type": merge, "from": [here, other]}, net.shape)


def concat(net: Net, dim: int) -> None:
    here, shape = net.here(), net.shape
    if shape is None:
        return
    axis = dim - 1 if dim > 0 else len(shape) + dim

    def fits(s: Shape) -> bool:
        return s is not None and len(s) == len(shape) and all(a == b for i, (a, b) in enumerate(zip(s, shape))
                                                             if i != axis)

    other = net.earlier(fits)
    if other is None:
        return
    joined = net.outputs[other]
    out = list(shape)
    out[axis] += joined[axis] if joined is not None and len(joined) == len(shape) else 0
    net.add({"type": "Concat", "from": [here, other], "dim": dim}, tuple(out))


# ---------------------------------------------------------------------------
# Convolutional layers on [C, *spatial], 1 to 3 spatial dims

def _axes(net: Net, low: int, high: int) -> Tuple[Any, Tuple[int, ...]]:
    """A value for every spatial axis: one int (as written, as expanded) or a list of them."""
    n = len(net.shape or (1, 1)) - 1
    if n > 1 and net.flag(20):
        values = tuple(net.int(low, high) for _ in range(n))
        return list(values), values
    value = net.int(low, high)
    return value, (value,) * n


def _spatial(net: Net) -> Tuple[int, Tuple[int, ...]]:
    shape = net.shape or (1, 1)
    return shape[0], tuple(shape[1:])


def conv(net: Net) -> None:
    c, spatial = _spatial(net)
    n = len(spatial)
    out = net.int(1, 8)
    k_arg, k = _axes(net, 1, 4)
    entry: Dict[str, Any] = {"type": f"Conv{n}d", "out_channels": out, "kernel_size": k_arg}
    s_arg, s = _axes(net, 1, 3) if net.flag(40) else (1, (1,) * n)
    d_arg, d = _axes(net, 1, 2) if net.flag(15) else (1, (1,) * n)
    if s_arg != 1:
        entry["stride"] = s_arg
    if d_arg != 1:
        entry["dilation"] = d_arg
    if net.flag(25):
        p_arg, p = _axes(net, 0, 2)
    else:
        p_arg = net.pick((0, 0, 1, "same", "valid")) if all(x == 1 for x in s) or net.fault() else \
            net.pick((0, 1, 2))
        p = (0,) * n if p_arg in ("same", "valid") else (p_arg,) * n
    if p_arg != 0:
        entry["padding"] = p_arg
    divisors = [g for g in range(2, 5) if c % g == 0 and out % g == 0]
    if divisors and net.flag(30):
        entry["groups"] = net.pick(divisors)
    elif net.fault():
        entry["groups"] = net.int(2, 4)
    if net.flag(15) and p_arg not in ("same", "valid", 0):
        entry["padding_mode"] = net.pick(("reflect", "replicate", "circular"))
    if net.flag(20):
        entry["bias"] = False
    net.inferable(entry, "in_channels", c)
    if p_arg == "same":
        net.add(entry, (out, *spatial))
    else:
        net.add(entry, (out, *(window_out(x, *a) for x, *a in zip(spatial, k, s, p, d))))


def conv_transpose(net: Net) -> None:
    c, spatial = _spatial(net)
    n = len(spatial)
    out = net.int(1, 6)
    k_arg, k = _axes(net, 1, 3)
    s_arg, s = _axes(net, 1, 2)
    p_arg, p = _axes(net, 0, 1)
    d_arg, d = _axes(net, 1, 2) if net.flag(15) else (1, (1,) * n)
    entry: Dict[str, Any] = {"type": f"ConvTranspose{n}d", "out_channels": out, "kernel_size": k_arg,
                             "stride": s_arg, "padding": p_arg}
    if d_arg != 1:
        entry["dilation"] = d_arg
    # output_padding must stay below the stride or the dilation: the top of the range is a fault.
    op = net.int(0, max(max(s), max(d)))
    if op:
        entry["output_padding"] = op
    divisors = [g for g in range(2, 5) if c % g == 0 and out % g == 0]
    if divisors and net.flag(25):
        entry["groups"] = net.pick(divisors)
    if net.flag(20):
        entry["bias"] = False
    net.inferable(entry, "in_channels", c)
    size = [(x - 1) * si - 2 * pi + di * (ki - 1) + op + 1 for x, ki, si, pi, di in zip(spatial, k, s, p, d)]
    net.add(entry, (out, *size))


def norm(net: Net) -> None:
    c, spatial = _spatial(net)
    n = len(spatial)
    kind = net.pick((f"BatchNorm{n}d", f"BatchNorm{n}d", "GroupNorm", f"InstanceNorm{n}d", "LocalResponseNorm"))
    entry: Dict[str, Any] = {"type": kind}
    if kind == "GroupNorm":
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        entry["num_groups"] = net.int(2, 5) if net.fault() else net.pick(divisors)
        if net.flag(20):
            entry["affine"] = False
    elif kind == "LocalResponseNorm":
        entry["size"] = net.int(1, 3)
    else:
        net.inferable(entry, "num_features", c)
        if net.flag(25):
            entry["affine"] = kind.startswith("Instance")
        if net.flag(20):
            entry["track_running_stats"] = kind.startswith("Instance")
    net.add(entry, net.shape)


def pool(net: Net) -> None:
    c, spatial = _spatial(net)
    n = len(spatial)
    kind = net.pick(("MaxPool", "MaxPool", "AvgPool", "LPPool", "AdaptiveAvgPool", "AdaptiveMaxPool"))
    layer = f"{kind}{n}d"
    if kind.startswith("Adaptive"):
        size = net.int(1, 3)
        if n > 1 and net.flag(30):
            sizes = [size] + [None] * (n - 1)
            net.add({"type": layer, "output_size": sizes}, (c, size, *spatial[1:]))
        else:
            net.add({"type": layer, "output_size": size}, (c, *(size,) * n))
        if kind == "AdaptiveMaxPool" and net.flag(20):
            net.layers[-1]["return_indices"] = True
        return
    k_arg, k = _axes(net, 1, 4)
    entry: Dict[str, Any] = {"type": layer, "kernel_size": k_arg}
    s_arg, s = _axes(net, 1, 3) if net.flag(60) else (None, k)
    if s_arg is not None:
        entry["stride"] = s_arg
    p: Tuple[int, ...] = (0,) * n
    if kind != "LPPool":
        p_value = net.int(0, min(k) // 2 + 1) if net.fault() else net.int(0, min(k) // 2)
        p = (p_value,) * n
        if p_value:
            entry["padding"] = p_value
    else:
        entry["norm_type"] = net.pick((1, 2, 3.0))
    ceil = net.flag(35)
    if ceil:
        entry["ceil_mode"] = True
    d: Tuple[int, ...] = (1,) * n
    if kind == "MaxPool":
        if net.flag(15):
            d = (2,) * n
            entry["dilation"] = 2
        if net.flag(15):
            entry["return_indices"] = True
    if kind == "AvgPool":
        if net.flag(20):
            entry["count_include_pad"] = False
        if n > 1 and net.flag(10):
            entry["divisor_override"] = net.int(1, 3)
    net.add(entry, (c, *(window_out(x, ki, si, pi, di, ceil) for x, ki, si, pi, di in zip(spatial, k, s, p, d))))


def resize(net: Net) -> None:
    c, spatial = _spatial(net)
    n = len(spatial)
    op = net.pick(("pad", "pad", "upsample", "shuffle"))
    if op == "pad":
        kind = net.pick(("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"))
        entry: Dict[str, Any] = {"type": f"{kind}{n}d"}
        if net.flag(30):
            pads = [net.int(0, 2) for _ in range(2 * n)]
            entry["padding"] = pads
        else:
            pads = [net.int(0, 2)] * (2 * n)
            entry["padding"] = pads[0]
        if kind == "ConstantPad":
            entry["value"] = 0.5
        # padding lists run from the last dim: (left, right) of the last, then of the one before, ...
        grown = [x + pads[2 * (n - 1 - i)] + pads[2 * (n - 1 - i) + 1] for i, x in enumerate(spatial)]
        net.add(entry, (c, *grown))
    elif op == "upsample":
        mode = net.pick({1: ("nearest", "linear"), 2: ("nearest", "bilinear", "bicubic"),
                         3: ("nearest", "trilinear")}[n])
        entry = {"type": "Upsample", "mode": mode}
        if net.flag():
            entry["scale_factor"] = net.pick((2, 1.5))
            grown = [int(x * entry["scale_factor"]) for x in spatial]
        else:
            size = net.int(1, 8)
            entry["size"] = size
            grown = [size] * n
        if mode != "nearest" and net.flag(30):
            entry["align_corners"] = True
        net.add(entry, (c, *grown))
    elif n == 2 and net.flag():
        r = net.int(1, 2)
        if net.flag() and c % (r * r) == 0 or net.fault():
            net.add({"type": "PixelShuffle", "upscale_factor": r}, (c // (r * r), spatial[0] * r, spatial[1] * r))
        else:
            net.add({"type": "PixelUnshuffle", "downscale_factor": r},
                    (c * r * r, spatial[0] // r, spatial[1] // r))
    else:
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        net.add({"type": "ChannelShuffle", "groups": net.int(2, 4) if net.fault() else net.pick(divisors)},
                net.shape)


def channel_dropout(net: Net) -> None:
    n = len(net.shape or (1, 1)) - 1
    net.add({"type": f"Dropout{n}d", "p": net.pick((0.1, 0.5))}, net.shape)


def cnn_body(net: Net, layers: int) -> None:
    rank = len(net.shape or ())
    for _ in range(layers):
        if net.shape is None or len(net.shape) != rank:
            break
        op = net.pick((conv, conv, conv, norm, pool, pool, activation, activation, conv_transpose, resize,
                       dropout, channel_dropout, layer_norm, residual, concat, prelu))
        if op is concat:
            concat(net, 1)
        else:
            op(net)


def prelu(net: Net) -> None:
    channels = (net.shape or (1,))[0] if len(net.shape or ()) > 0 else 1
    count = net.pick((1, channels)) if not net.fault() else channels + 1
    net.add({"type": "PReLU", "num_parameters": count}, net.shape)


def head(net: Net) -> None:
    """Flatten (or pool) and a Linear or two."""
    if net.shape is not None and 2 <= len(net.shape) <= 4 and net.flag(40):
        n = len(net.shape) - 1
        net.add({"type": f"AdaptiveAvgPool{n}d", "output_size": 1}, (net.shape[0], *(1,) * n))
    if net.shape is not None and len(net.shape) > 1:
        size = 1
        for s in net.shape:
            size *= s
        net.add({"type": "Flatten"}, (size,))
    linear(net)
    if net.flag():
        activation(net)
        linear(net)


# ---------------------------------------------------------------------------
# MLP layers on [F] or [S, F]

def mlp_body(net: Net, layers: int) -> None:
    for _ in range(layers):
        if net.shape is None:
            break
        op = net.pick(("linear", "linear", "activation", "activation", "norm", "dropout", "residual", "multiply",
                       "concat", "glu", "softmax", "bilinear", "param", "view", "reduce"))
        shape = net.shape
        if op == "linear":
            linear(net)
        elif op == "activation":
            activation(net)
        elif op == "norm":
            which = net.int(0, 2)
            if which == 0:
                layer_norm(net)
            elif which == 1:
                net.add({"type": "RMSNorm", "eps": net.pick((None, 1e-6))}, shape)
            else:
                entry: Dict[str, Any] = {"type": "BatchNorm1d"}
                net.inferable(entry, "num_features", shape[0])
                net.add(entry, shape)
        elif op == "dropout":
            dropout(net)
        elif op in ("residual", "multiply"):
            residual(net, "Add" if op == "residual" else "Multiply")
        elif op == "concat":
            concat(net, -1)
        elif op == "glu":
            net.add({"type": "GLU", "dim": -1}, shape[:-1] + (shape[-1] // 2,))
        elif op == "softmax":
            net.add({"type": net.pick(("Softmax", "LogSoftmax", "Softmin")), "dim": net.pick((-1, len(shape)))},
                    shape)
        elif op == "bilinear":
            other = net.earlier(lambda s: s is not None and s[:-1] == shape[:-1])
            if other is not None:
                out = net.int(1, 4)
                net.add({"type": "Bilinear", "from": [net.here(), other], "out_features": out},
                        shape[:-1] + (out,))
        elif op == "param":
            here = net.here()
            size = shape[-1] + 1 if net.fault() else shape[-1]
            # Leading 1s broadcast; more of them than the input has dims would push the batch out of dim 0.
            ones = [1] * net.pick((0, 0, 0, 1, len(shape) + 1 if net.fault() else 0))
            param = net.add({"type": "Parameter", "shape": ones + [size]}, None)
            net.outputs[param] = None
            net.add({"type": "Add", "from": [here, param]}, shape)
        elif op == "view":
            reshape(net)
        elif op == "reduce" and len(shape) > 1:
            keep = net.flag()
            dim = net.pick((1, -1, [1, 2] if len(shape) > 1 else 1))
            axes = [d - 1 if d > 0 else len(shape) + d for d in (dim if isinstance(dim, list) else [dim])]
            out = tuple(1 if i in axes else x for i, x in enumerate(shape) if keep or i not in axes)
            net.add({"type": net.pick(("Mean", "Sum")), "dim": dim, "keepdim": keep}, out)


def reshape(net: Net) -> None:
    """Flatten, Unflatten, Reshape, Permute or Transpose of [F] / [S, F] (the batch stays dim 0)."""
    shape = net.shape or (1,)
    size = 1
    for x in shape:
        size *= x
    if len(shape) == 1:
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        first = net.int(2, 4) if net.fault() else net.pick(divisors)
        if net.flag():
            net.add({"type": "Unflatten", "dim": 1, "unflattened_size": [first, -1]}, (first, size // first))
        else:
            net.add({"type": net.pick(("Reshape", "View")), "shape": [-1, first]}, (size // first, first))
    elif net.flag():
        if net.flag():
            net.add({"type": "Flatten"}, (size,))
        else:
            net.add({"type": "Reshape", "shape": [-1] if net.flag() else [size]}, (size,))
    elif net.flag():
        net.add({"type": "Permute", "dims": [0, 2, 1]}, (shape[1], shape[0]))
    else:
        net.add({"type": "Transpose", "dim0": -1, "dim1": 1}, (shape[1], shape[0]))


# ---------------------------------------------------------------------------
# Sequence layers on [S, E]

def recurrent(net: Net) -> None:
    seq, features = net.shape or (1, 1)
    kind = net.pick(("LSTM", "GRU", "RNN"))
    hidden, layers = net.int(1, 6), net.int(1, 2)
    entry: Dict[str, Any] = {"type": kind, "hidden_size": hidden}
    if layers > 1:
        entry["num_layers"] = layers
        if net.flag(30):
            entry["dropout"] = 0.25
    bidirectional = net.flag(30)
    if bidirectional:
        entry["bidirectional"] = True
    proj = 0
    if kind == "LSTM" and net.flag(20):
        proj = net.int(hidden, hidden + 1) if net.fault() else net.int(1, max(1, hidden - 1))
        if proj >= hidden and not net.fault_percent:
            proj = 0
        if proj:
            entry["proj_size"] = proj
    net.inferable(entry, "input_size", features)
    directions = 2 if bidirectional else 1
    out = proj or hidden
    name = net.add(entry, (seq, directions * out))
    if net.flag(25):  # continue from h_n (or c_n) instead of the output sequence
        which = net.pick((1, 2) if kind == "LSTM" else (1,))
        size = hidden if which == 2 else out
        net.add({"type": "Identity", "from": f"{name}.{which}"}, (directions * layers, size))


def attention(net: Net) -> None:
    seq, width = net.shape or (1, 1)
    divisors = [h for h in range(1, width + 1) if width % h == 0]
    heads = net.int(2, width + 2) if net.fault() else net.pick(divisors)
    kind = net.pick(("MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoderLayer"))
    if kind == "MultiheadAttention":
        entry: Dict[str, Any] = {"type": kind, "num_heads": heads}
        if net.flag(30):
            entry["dropout"] = 0.1
        for key in ("add_bias_kv", "add_zero_attn"):
            if net.flag(15):
                entry[key] = True
        keys = seq + int(entry.get("add_bias_kv", False)) + int(entry.get("add_zero_attn", False))
        here = net.here()
        memory = net.earlier(lambda s: s is not None and len(s) == 2) if net.flag(30) else None
        if memory is not None:
            entry["from"] = [here, memory]
            keys = (net.outputs[memory] or (seq,))[0] + keys - seq
        name = net.add(entry, (seq, width))
        if net.flag(20):
            net.layers[-1]["need_weights"] = True
            net.add({"type": "Softmax", "from": f"{name}.1", "dim": -1}, (seq, keys))
        return
    entry = {"type": kind, "nhead": heads, "dim_feedforward": net.int(1, 12)}
    entry["dropout"] = net.pick((0.0, 0.1))
    if net.flag(30):
        entry["norm_first"] = True
    if net.flag(30):
        entry["activation"] = "gelu"
    net.inferable(entry, "d_model", width)
    net.add(entry, (seq, width))


def decoder(net: Net) -> None:
    """TransformerDecoderLayer on [here, memory], or a whole Transformer on [memory, here]."""
    seq, width = net.shape or (1, 1)
    memory = net.earlier(lambda s: s is not None and len(s) == 2 and s[1] == width)
    if memory is None:
        return
    divisors = [h for h in range(1, width + 1) if width % h == 0]
    heads = net.int(2, width + 2) if net.fault() else net.pick(divisors)
    entry: Dict[str, Any] = {"dim_feedforward": net.int(1, 8), "dropout": net.pick((0.0, 0.1)), "nhead": heads}
    if net.flag(30):
        entry["norm_first"] = True
    if net.flag():
        entry.update(type="TransformerDecoderLayer", **{"from": [net.here(), memory]})
    else:
        entry.update(type="Transformer", num_encoder_layers=net.int(1, 2), num_decoder_layers=net.int(1, 2),
                     **{"from": [memory, net.here()]})
    net.add(entry, (seq, width))


def sequence_body(net: Net, layers: int) -> None:
    for _ in range(layers):
        if net.shape is None or len(net.shape) != 2:
            break
        op = net.pick(("recurrent", "recurrent", "attention", "attention", "linear", "norm", "activation",
                       "residual", "conv1d", "sdpa", "decoder", "cell", "token", "tensor_op", "tensor_op",
                       "windowed"))
        seq, width = net.shape
        if op == "recurrent":
            recurrent(net)
        elif op == "attention":
            attention(net)
        elif op == "linear":
            linear(net)
        elif op == "norm":
            layer_norm(net)
        elif op == "activation":
            activation(net)
        elif op == "residual":
            residual(net)
        elif op == "conv1d":  # over the sequence: [S, E] -> [E, S] -> conv -> back
            net.add({"type": "Transpose", "dim0": 1, "dim1": 2}, (width, seq))
            out, k = net.int(1, 6), net.int(1, 3)
            net.add({"type": "Conv1d", "out_channels": out, "kernel_size": k}, (out, seq - k + 1))
            net.add({"type": "Transpose", "dim0": -1, "dim1": -2}, (seq - k + 1, out))
        elif op == "token":  # a learned class token put first, and learned positions added
            here = net.here()
            token = net.add({"type": "Parameter", "shape": [1, 1, width + 1 if net.fault() else width]}, None)
            net.add({"type": "Concat", "from": [token, here], "dim": 1}, (seq + 1, width))
            if net.flag():
                tokens = net.here()
                positions = net.add({"type": "Parameter", "shape": net.pick(([seq + 1, width], [1, seq + 1, width]))},
                                    None)
                net.add({"type": "Add", "from": [tokens, positions]}, (seq + 1, width))
        elif op == "decoder":
            decoder(net)
        elif op == "tensor_op":
            tensor_op(net)
        elif op == "windowed":
            windowed_attention(net)
        elif op == "cell":
            net.add({"type": "Select", "dim": 1, "index": -1}, (width,))
            kind = net.pick(("LSTMCell", "GRUCell", "RNNCell"))
            hidden = net.int(1, 6)
            entry = {"type": kind, "hidden_size": hidden}
            net.inferable(entry, "input_size", width)
            name = net.add(entry, (hidden,))
            if kind == "LSTMCell" and net.flag():
                net.add({"type": "Identity", "from": f"{name}.1"}, (hidden,))
            break
        elif op == "sdpa":
            here = net.here()
            net.add({"type": "ScaledDotProductAttention", "from": [here, here, here],
                     "is_causal": net.flag()}, (seq, width))
    if net.shape is not None and len(net.shape) == 2 and net.flag():
        if net.flag():
            net.add({"type": "Mean", "dim": 1}, net.shape[1:])
        else:
            index = net.int(-net.shape[0], net.shape[0] - 1)
            net.add({"type": "Select", "dim": 1, "index": index}, net.shape[1:])


def _learned(net: Net, shape: Sequence[int]) -> str:
    """A trainable Parameter (a MatMul operand, an attention bias): torch picks its kernel by whether the
    operand needs a gradient, and paramlint takes these to need one."""
    name = net.add({"type": "Parameter", "shape": list(shape)}, None)
    net.layers[-1].pop("trainable", None)
    return name


def tensor_op(net: Net) -> None:
    """MatMul, Chunk, Split, Roll, StochasticDepth, a Buffer, or SDPA with an additive mask, on [S, E]."""
    seq, width = net.shape or (1, 1)
    here = net.here()
    kind = net.pick(("MatMul", "MatMulParam", "Chunk", "Split", "Roll", "StochasticDepth", "StochasticDepth",
                     "Buffer", "Buffer", "MaskedSDPA"))
    if kind == "MatMul":  # x @ x^T, or (a fault) x @ x
        other = here if net.fault() else net.add({"type": "Transpose", "dim0": 1, "dim1": 2, "from": here},
                                                 (width, seq))
        net.add({"type": "MatMul", "from": [here, other]}, (seq, seq))
    elif kind == "MatMulParam":
        out = net.int(1, 5)
        shape, result = net.pick((([width, out], (seq, out)), ([width], (seq,)), ([out, seq], (out, width)),
                                  ([1, width, out], (seq, out))))
        if net.fault():
            shape = [s + 1 for s in shape]
        weight = _learned(net, shape)
        order = [weight, here] if shape == [out, seq] or (net.fault() and net.flag()) else [here, weight]
        net.add({"type": "MatMul", "from": order}, result)
    elif kind in ("Chunk", "Split"):
        dim = net.pick((1, 2, -1, -2))
        size = (seq, width)[dim % 3 - 1]
        if kind == "Chunk":
            entry: Dict[str, Any] = {"type": "Chunk", "chunks": net.int(1, 4), "dim": dim}
            piece = -(-size // entry["chunks"])
            sizes = [min(piece, size - i) for i in range(0, size, piece)]
        elif net.flag():
            entry = {"type": "Split", "split_size_or_sections": net.int(1, 4), "dim": dim}
            piece = entry["split_size_or_sections"]
            sizes = [min(piece, size - i) for i in range(0, size, piece)]
        else:
            cut = net.int(1, size)
            sizes = [cut, size - cut] if cut < size else [size]
            entry = {"type": "Split", "split_size_or_sections": sizes + ([1] if net.fault() else []), "dim": dim}
        name = net.add(entry, None)
        index = net.int(0, len(sizes) - 1 + (1 if net.fault() else 0))
        shape = [seq, width]
        shape[dim % 3 - 1] = sizes[min(index, len(sizes) - 1)]
        net.add({"type": "Identity", "from": f"{name}.{index}" if index else name}, tuple(shape))
    elif kind == "Roll":
        dims = net.pick(([1], [2], [-1], [1, 2]))
        shifts = [net.int(-5, 5) for _ in dims] + ([1] if net.fault() else [])
        net.add({"type": "Roll", "shifts": shifts if len(shifts) > 1 else shifts[0], "dims": dims}, (seq, width))
    elif kind == "StochasticDepth":
        net.add({"type": "StochasticDepth", "p": net.pick((0.0, 0.2, 0.5, 1.0)), "mode": net.pick(("row", "batch"))},
                (seq, width))
    elif kind == "Buffer":
        shape = net.pick(([1, width], [seq, width], [width]))
        buffer = net.add({"type": "Buffer", "shape": shape if not net.fault() else [width + 1],
                          "persistent": net.flag()}, None)
        net.add({"type": "Add", "from": [here, buffer]}, (seq, width))
    else:  # an additive attention mask (a relative-position bias)
        mask = _learned(net, net.pick(([seq, seq], [1, seq, seq])) if not net.fault() else [seq, seq + 1])
        net.add({"type": "ScaledDotProductAttention", "from": [here, here, here, mask]}, (seq, width))


def windowed_attention(net: Net) -> None:
    """Swin's windowed attention on [S, E]: q, k, v Selects of one permuted qkv tensor, 5-d with the batch
    ([N, windows, heads, tokens, head_dim]), an optional learned bias as the attn_mask."""
    seq, width = net.shape or (1, 1)
    windows = net.pick([w for w in range(1, seq + 1) if seq % w == 0])
    tokens = seq // windows
    heads = net.pick([h for h in range(1, width + 1) if width % h == 0])
    net.add({"type": "Linear", "out_features": 3 * width}, (seq, 3 * width))
    net.add({"type": "Reshape", "shape": [windows, tokens, 3, heads, width // heads]}, None)
    qkv = net.add({"type": "Permute", "dims": [0, 3, 1, 4, 2, 5]}, None)
    q, k, v = (net.add({"type": "Select", "dim": 1, "index": i, "from": qkv}, None) for i in range(3))
    entry: Dict[str, Any] = {"type": "ScaledDotProductAttention", "from": [q, k, v]}
    if net.flag():
        entry["from"].append(_learned(net, net.pick(([heads, tokens, tokens], [tokens, tokens]))))
    elif net.flag(30):
        entry["is_causal"] = True
    net.add(entry, None)
    net.add({"type": "Transpose", "dim0": 2, "dim1": 3}, None)
    net.add({"type": "Reshape", "shape": [seq, width]}, (seq, width))


# ---------------------------------------------------------------------------
# Whole configs

FAULT_PERCENTS = (0, 0, 4, 10)


def _config(top: Dict[str, Any], net: Net, blocks: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    config: Dict[str, Any] = {"paramlint": 1, **top}
    if blocks:
        config["blocks"] = blocks
    config["layers"] = net.layers or [{"type": "Identity"}]
    return config


def _start(net: Net, shape: Tuple[int, ...]) -> None:
    net.shape = shape
    net.outputs["input"] = shape
    net.input_shape = shape  # type: ignore[attr-defined]


@st.composite
def cnn_graphs(draw: Callable[[Any], Any]) -> Dict[str, Any]:
    """A CNN on [C, *spatial] (1 to 3 spatial dims): convolutions, norms, pools, padding, resampling,
    merges, and often a Linear head."""
    net = Net(draw, draw(st.sampled_from(FAULT_PERCENTS)))
    n = net.pick((1, 2, 2, 2, 3))
    largest = {1: 16, 2: 12, 3: 6}[n]
    _start(net, (net.int(1, 4), *(net.int(1, largest) for _ in range(n))))
    cnn_body(net, net.int(1, 6))
    if net.flag(70):
        head(net)
    return _config({"input": list(net.input_shape)}, net)  # type: ignore[attr-defined]


@st.composite
def mlp_graphs(draw: Callable[[Any], Any]) -> Dict[str, Any]:
    """An MLP on [F] or [S, F] with merges, norms, tied and frozen Linears."""
    net = Net(draw, draw(st.sampled_from(FAULT_PERCENTS)))
    shape = (net.int(1, 8),) if net.flag() else (net.int(1, 4), net.int(1, 8))
    _start(net, shape)
    mlp_body(net, net.int(1, 7))
    return _config({"input": list(shape)}, net)


@st.composite
def sequence_graphs(draw: Callable[[Any], Any]) -> Dict[str, Any]:
    """Recurrent and attention layers on [S, E] (float features or embedded int64 ids)."""
    net = Net(draw, draw(st.sampled_from(FAULT_PERCENTS)))
    seq, width = net.int(1, 6), net.int(1, 8)
    if net.flag(40):
        vocab = net.int(2, 20)
        top: Dict[str, Any] = {"input": {"shape": [seq], "dtype": net.pick(("int64", "int32"))}}
        _start(net, (seq,))
        entry: Dict[str, Any] = {"type": "Embedding", "num_embeddings": vocab, "embedding_dim": width}
        if net.flag(20):
            entry["padding_idx"] = net.int(-vocab, vocab - 1)
        net.add(entry, (seq, width))
    else:
        top = {"input": [seq, width] if net.flag(70) else {"shape": [seq, width], "dtype": "float64"}}
        _start(net, (seq, width))
    sequence_body(net, net.int(1, 5))
    if net.shape is not None and net.flag(40):
        linear(net)
    return _config(top, net)


@st.composite
def block_graphs(draw: Callable[[Any], Any]) -> Dict[str, Any]:
    """Blocks with arguments, ``${...}``, repeats, a block inside a block, two-input blocks."""
    fault = draw(st.sampled_from(FAULT_PERCENTS))
    net = Net(draw, fault)
    conv = net.flag()
    blocks: Dict[str, Any] = {}
    if conv:
        c, size = net.int(1, 4), net.int(3, 10)
        _start(net, (c, size, size))
        k = net.pick((1, 3))
        blocks["ConvUnit"] = {"args": {"c": None, "k": k, "act": net.pick(ACTIVATIONS)}, "layers": [
            {"type": "Conv2d", "out_channels": "$c", "kernel_size": "$k", "padding": "${k // 2}", "name": "conv"},
            {"type": net.pick(("BatchNorm2d", "InstanceNorm2d", "Identity")), "name": "norm"},
            {"type": "$act", "name": "act"}]}
        width = c if not net.fault() else c + 1
        blocks["Res"] = {"args": {"c": None}, "layers": [
            {"type": "ConvUnit", "c": "$c", "name": "unit"},
            {"type": "ConvUnit", "c": "$c", "k": 1, "name": "unit2", **({"act": net.pick(("ReLU", "Hardswish", "GELU"))}
                                                                        if net.flag() else {})},
            {"type": "Add", "from": ["unit2", "input"], "name": "sum"}]}
        net.add({"type": "Res", "c": width, "repeat": net.int(1, 3)}, (width, size, size))
        if net.flag():
            factor = net.int(1, 3)
            net.add({"type": "ConvUnit", "c": width * factor, "repeat": net.int(1, 2)}, (width * factor, size, size))
        if net.flag():
            blocks["Join"] = {"args": {"c": None}, "inputs": ["a", "b"], "output": "mixed", "layers": [
                {"type": "Concat", "from": ["a", "b"], "dim": 1, "name": "cat"},
                {"type": "Conv2d", "out_channels": "$c", "kernel_size": 1, "name": "mixed"},
                {"type": "ReLU", "name": "after"}]}
            other = net.earlier(lambda s: s is not None and s[1:] == (net.shape or (0,))[1:])
            if other is not None:
                out = net.int(1, 4)
                net.add({"type": "Join", "c": out, "from": [net.here(), other]}, (out, size, size))
        cnn_body(net, net.int(0, 2))
        head(net)
    else:
        d = net.int(1, 6)
        _start(net, (d,) if net.flag() else (net.int(1, 3), d))
        mult = net.int(1, 3)
        blocks["FeedForward"] = {"args": {"d": None, "m": mult}, "layers": [
            {"type": "LayerNorm", "name": "norm"},
            {"type": "Linear", "out_features": "${d * m}", "name": "up"},
            {"type": net.pick(ACTIVATIONS), "name": "act"},
            {"type": "Linear", "out_features": net.pick(("${d + 0}", "${max(d, 1)}", "${min(d, d * m)}",
                                                          "${make_divisible(d, 1)}")), "name": "down"},
            {"type": "Add", "from": ["down", "input"], "name": "res"}]}
        given = d if not net.fault() else d + 1
        use: Dict[str, Any] = {"type": "FeedForward", "d": given, "repeat": net.int(1, 3)}
        if net.flag(30):
            use["m"] = net.int(1, 4)
        if net.flag(15):
            use["trainable"] = False
        net.add(use, net.shape)
        mlp_body(net, net.int(0, 3))
    return _config({"input": list(net.input_shape)}, net, blocks)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# Memory layouts: views, permutations and slices, the layers after them, and
# a View or Reshape that torch can or cannot make without a copy.

def _product(shape: Sequence[int]) -> int:
    size = 1
    for x in shape:
        size *= x
    return size


def _regroup(net: Net, shape: Tuple[int, ...]) -> List[int]:
    """Another per-sample shape with the same number of values (merged, split or all flattened dims)."""
    way = net.pick(("flatten", "merge", "split", "same"))
    if way == "flatten" or len(shape) == 1 and way == "merge":
        return [net.pick((-1, _product(shape)))]
    if way == "merge":
        i = net.int(0, len(shape) - 2)
        return list(shape[:i]) + [shape[i] * shape[i + 1]] + list(shape[i + 2:])
    if way == "split":
        i = net.int(0, len(shape) - 1)
        first = net.pick([d for d in range(1, shape[i] + 1) if shape[i] % d == 0])
        return list(shape[:i]) + [first, -1] + list(shape[i + 1:])
    return list(shape)


def _resolved(target: List[int], shape: Tuple[int, ...]) -> Tuple[int, ...]:
    known = _product([t for t in target if t != -1])
    return tuple(_product(shape) // known if t == -1 else t for t in target)


def layout_op(net: Net) -> None:
    shape = net.shape or (1,)
    rank = len(shape)
    op = net.pick(("permute", "transpose", "slice", "select", "view", "view", "reshape", "flatten", "unflatten",
                   "activation", "dropout", "merge", "merge", "channels", "channels", "features"))
    if op == "permute" and rank > 1:
        order = net.draw(st.permutations(list(range(rank))))
        net.add({"type": "Permute", "dims": [0] + [d + 1 for d in order]}, tuple(shape[d] for d in order))
    elif op == "transpose" and rank > 1:
        a, b = net.int(0, rank - 1), net.int(0, rank - 1)
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        net.add({"type": "Transpose", "dim0": a + 1, "dim1": b - rank if net.flag() else b + 1}, tuple(out))
    elif op == "slice":
        axis = net.int(0, rank - 1)
        start, step = net.int(0, max(0, shape[axis] - 1)), net.int(1, 2)
        out = list(shape)
        out[axis] = len(range(start, shape[axis], step))
        net.add({"type": "Slice", "dim": axis + 1, "start": start, "step": step}, tuple(out))
    elif op == "select" and rank > 1:
        axis = net.int(0, rank - 1)
        net.add({"type": "Select", "dim": axis + 1, "index": net.int(0, shape[axis] - 1)},
                shape[:axis] + shape[axis + 1:])
    elif op in ("view", "reshape"):
        target = _regroup(net, shape)
        net.add({"type": "View" if op == "view" else "Reshape", "shape": target}, _resolved(target, shape))
    elif op == "flatten" and rank > 1:
        start = net.int(1, rank)
        end = net.int(start, rank)
        net.add({"type": "Flatten", "start_dim": start, "end_dim": end},
                shape[:start - 1] + (_product(shape[start - 1:end]),) + shape[end:])
    elif op == "unflatten":
        axis = net.int(0, rank - 1)
        first = net.pick([d for d in range(1, shape[axis] + 1) if shape[axis] % d == 0])
        net.add({"type": "Unflatten", "dim": axis + 1, "unflattened_size": [first, -1]},
                shape[:axis] + (first, shape[axis] // first) + shape[axis + 1:])
    elif op == "activation":
        if net.flag(20):
            net.add({"type": "ReLU", "inplace": True}, shape)
        else:
            activation(net)
    elif op == "dropout":
        if 2 <= rank <= 3 and net.flag(30):
            net.add({"type": f"Dropout{rank - 1}d", "p": 0.5}, shape)
        else:
            dropout(net)
    elif op == "merge":
        which = net.int(0, 2)
        if which == 2:
            concat(net, net.int(1, rank))
        else:
            residual(net, "Add" if which == 0 else "Multiply")
    elif op == "channels" and rank in (2, 3):
        _channel_layer(net, shape)
    elif op == "features":
        _feature_layer(net, shape)


def _channel_layer(net: Net, shape: Tuple[int, ...]) -> None:
    """A layer on [C, L] or [C, H, W] whose output layout follows its input's memory format."""
    n = len(shape) - 1
    c = shape[0]
    kind = net.pick(("Conv", "ConvTranspose", "BatchNorm", "GroupNorm", "InstanceNorm", "MaxPool", "AvgPool",
                     "AdaptiveAvgPool", "AdaptiveMaxPool", "LPPool", "Upsample", "Pad", "ChannelShuffle",
                     "PixelShuffle"))
    if kind in ("Conv", "ConvTranspose"):
        out, k = net.int(1, 4), net.int(1, 2)
        entry: Dict[str, Any] = {"type": f"{kind}{n}d", "out_channels": out, "kernel_size": k}
        if kind == "Conv" and net.flag(30):
            entry.update(padding=1, padding_mode=net.pick(("circular", "reflect", "replicate")))
        grow = (k - 1) if kind == "ConvTranspose" else (1 - k + 2 * entry.get("padding", 0))
        net.add(entry, (out, *(s + grow for s in shape[1:])))
    elif kind in ("BatchNorm", "InstanceNorm"):
        net.add({"type": f"{kind}{n}d"}, shape)
    elif kind == "GroupNorm":
        net.add({"type": "GroupNorm", "num_groups": 1}, shape)
    elif kind in ("MaxPool", "AvgPool"):
        k = net.int(1, 2)
        entry = {"type": f"{kind}{n}d", "kernel_size": k}
        net.add(entry, (c, *(s // k for s in shape[1:])))
    elif kind in ("AdaptiveAvgPool", "AdaptiveMaxPool"):
        size = net.int(1, 3)
        net.add({"type": f"{kind}{n}d", "output_size": size}, (c, *(size,) * n))
    elif kind == "LPPool":
        net.add({"type": f"LPPool{n}d", "norm_type": 2, "kernel_size": 1}, shape)
    elif kind == "Upsample":
        mode = net.pick(("nearest", "linear" if n == 1 else "bilinear"))
        net.add({"type": "Upsample", "scale_factor": 2, "mode": mode}, (c, *(2 * s for s in shape[1:])))
    elif kind == "Pad":
        pad = net.pick(("Zero", "Reflection", "Replication", "Circular"))
        net.add({"type": f"{pad}Pad{n}d", "padding": 1}, (c, *(s + 2 for s in shape[1:])))
    elif kind == "ChannelShuffle":
        net.add({"type": "ChannelShuffle", "groups": net.pick([g for g in (1, 2) if c % g == 0])}, shape)
    elif kind == "PixelShuffle" and n == 2:
        r = net.pick([r for r in (1, 2) if c % (r * r) == 0])
        if net.flag():
            net.add({"type": "PixelShuffle", "upscale_factor": r}, (c // (r * r), shape[1] * r, shape[2] * r))
        else:
            net.add({"type": "PixelUnshuffle", "downscale_factor": 1}, shape)


def _feature_layer(net: Net, shape: Tuple[int, ...]) -> None:
    """A layer on the last dim, or a sequence layer on [S, E]."""
    last = shape[-1]
    kind = net.pick(("Linear", "LayerNorm", "RMSNorm", "Softmax", "GLU", "PReLU", "LocalResponseNorm", "Mean",
                     "LSTM", "MultiheadAttention", "TransformerEncoderLayer"))
    if kind == "Linear":
        linear(net)
    elif kind in ("LayerNorm", "RMSNorm"):
        net.add({"type": kind, "normalized_shape": [last]}, shape)
    elif kind == "Softmax":
        net.add({"type": "Softmax", "dim": -1}, shape)
    elif kind == "GLU" and last % 2 == 0:
        net.add({"type": "GLU", "dim": -1}, shape[:-1] + (last // 2,))
    elif kind == "PReLU":
        prelu(net)
    elif kind == "LocalResponseNorm" and len(shape) > 1:
        net.add({"type": "LocalResponseNorm", "size": 2}, shape)
    elif kind == "Mean" and len(shape) > 1:
        net.add({"type": net.pick(("Mean", "Sum")), "dim": -1}, shape[:-1])
    elif len(shape) == 2 and kind == "LSTM":
        hidden = net.int(1, 4)
        name = net.add({"type": net.pick(("LSTM", "GRU")), "hidden_size": hidden,
                        "num_layers": net.int(1, 2), "bidirectional": net.flag()}, None)
        if net.flag():
            net.add({"type": "Identity", "from": f"{name}.1"}, None)
        else:
            net.add({"type": "Identity", "from": name}, None)
        net.shape = None
    elif len(shape) == 2 and kind == "MultiheadAttention":
        net.add({"type": "MultiheadAttention", "embed_dim": last, "num_heads": 1}, shape)
    elif len(shape) == 2 and kind == "TransformerEncoderLayer":
        net.add({"type": "TransformerEncoderLayer", "d_model": last, "nhead": 1, "dim_feedforward": 4,
                 "dropout": 0.0, "norm_first": net.flag()}, shape)


@st.composite
def layout_graphs(draw: Callable[[Any], Any]) -> Dict[str, Any]:
    """Views, permutations and slices, the layers between them, and Views that may need a copy."""
    net = Net(draw, 0)
    rank = net.pick((1, 2, 2, 3, 3))
    _start(net, tuple(net.int(1, 5) for _ in range(rank)))
    for _ in range(net.int(2, 8)):
        if net.shape is None:
            # an output the tracker does not follow (recurrent states): view it and stop
            net.layers.append({"type": "View", "shape": [-1], "name": f"l{len(net.layers)}"})
            break
        layout_op(net)
    if net.shape is not None and net.flag(70):
        target = _regroup(net, net.shape)
        net.add({"type": "View", "shape": target}, _resolved(target, net.shape))
    return _config({"input": list(net.input_shape)}, net)  # type: ignore[attr-defined]


def graph_configs() -> st.SearchStrategy[Dict[str, Any]]:
    """Any of the graph families above."""
    return st.one_of(cnn_graphs(), mlp_graphs(), sequence_graphs(), block_graphs())
