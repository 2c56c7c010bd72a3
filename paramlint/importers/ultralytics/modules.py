"""Ultralytics modules (ultralytics/nn/modules, version pinned in docs/ultralytics.md) as format-1 layers.

Each function expands one module into torch.nn layers exactly as its ``__init__`` builds them and its
``forward`` (eval mode) runs them: Conv = Conv2d(bias=False) + BatchNorm2d(eps=1e-3, momentum=0.03) + activation.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

from .builder import Builder, Kernel, Tensor, autopad

BN_ARGS = {"eps": 1e-3, "momentum": 0.03}  # ultralytics.utils.torch_utils.initialize_weights


class Context:
    """What every module needs besides its arguments: the builder and the default activation."""

    __slots__ = ("b", "act")

    def __init__(self, builder: Builder, act: str = "SiLU") -> None:
        self.b = builder
        self.act = act


def conv(cx: Context, p: str, x: Tensor, c2: int, k: Kernel = 1, s: Kernel = 1, pad: object = None, g: int = 1,
         d: int = 1, act: bool = True) -> Tensor:
    y = cx.b.conv2d(f"{p}-conv", x, c2, k, stride=s, padding=autopad(k, pad, d), groups=g, dilation=d, bias=False)
    y = cx.b.unary(f"{p}-bn", "BatchNorm2d", y, **BN_ARGS)
    if act is True:
        cx.b.shared_activation = True
        y = cx.b.unary(f"{p}-act", cx.act, y, module=False)
    else:
        cx.b.leaf_modules += 1  # nn.Identity
    return y


def dwconv(cx: Context, p: str, x: Tensor, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool = True) -> Tensor:
    return conv(cx, p, x, c2, k, s, g=math.gcd(x.channels, c2), d=d, act=act)


def bottleneck(cx: Context, p: str, x: Tensor, c2: int, shortcut: bool = True, g: int = 1,
               k: Tuple[Kernel, Kernel] = (3, 3), e: float = 0.5) -> Tensor:
    c_ = int(c2 * e)
    y = conv(cx, f"{p}-cv2", conv(cx, f"{p}-cv1", x, c_, k[0], 1), c2, k[1], 1, g=g)
    return cx.b.add_tensors(f"{p}-add", x, y) if shortcut and x.channels == c2 else y


def _split_two(cx: Context, p: str, y: Tensor, c: int) -> List[Tensor]:
    return [cx.b.slice_channels(f"{p}-y0", y, 0, c), cx.b.slice_channels(f"{p}-y1", y, c, 2 * c)]


def c2f(cx: Context, p: str, x: Tensor, c2: int, n: int = 1, shortcut: bool = False, g: int = 1,
        e: float = 0.5) -> Tensor:
    c = int(c2 * e)
    ys = _split_two(cx, p, conv(cx, f"{p}-cv1", x, 2 * c, 1, 1), c)
    for i in range(n):
        ys.append(bottleneck(cx, f"{p}-m-{i}", ys[-1], c, shortcut, g, k=((3, 3), (3, 3)), e=1.0))
    return conv(cx, f"{p}-cv2", cx.b.concat(f"{p}-cat", ys), c2, 1)


def c3k(cx: Context, p: str, x: Tensor, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5,
        k: int = 3) -> Tensor:
    c_ = int(c2 * e)
    y = conv(cx, f"{p}-cv1", x, c_, 1, 1)
    skip = conv(cx, f"{p}-cv2", x, c_, 1, 1)
    for i in range(n):
        y = bottleneck(cx, f"{p}-m-{i}", y, c_, shortcut, g, k=(k, k), e=1.0)
    return conv(cx, f"{p}-cv3", cx.b.concat(f"{p}-cat", [y, skip]), c2, 1)


def c3(cx: Context, p: str, x: Tensor, c2: int, n: int = 1, shortcut: bool = True, g: int = 1,
       e: float = 0.5) -> Tensor:
    c_ = int(c2 * e)
    y = conv(cx, f"{p}-cv1", x, c_, 1, 1)
    skip = conv(cx, f"{p}-cv2", x, c_, 1, 1)
    for i in range(n):
        y = bottleneck(cx, f"{p}-m-{i}", y, c_, shortcut, g, k=((1, 1), (3, 3)), e=1.0)
    return conv(cx, f"{p}-cv3", cx.b.concat(f"{p}-cat", [y, skip]), c2, 1)


def c3k2(cx: Context, p: str, x: Tensor, c2: int, n: int = 1, use_c3k: bool = False, e: float = 0.5,
         attn: bool = False, g: int = 1, shortcut: bool = True) -> Tensor:
    c = int(c2 * e)
    ys = _split_two(cx, p, conv(cx, f"{p}-cv1", x, 2 * c, 1, 1), c)
    for i in range(n):
        q = f"{p}-m-{i}"
        if attn:
            y = bottleneck(cx, f"{q}-0", ys[-1], c, shortcut, g)
            y = psa_block(cx, f"{q}-1", y, 0.5, max(c // 64, 1))
        elif use_c3k:
            y = c3k(cx, q, ys[-1], c, 2, shortcut, g)
        else:
            y = bottleneck(cx, q, ys[-1], c, shortcut, g)
        ys.append(y)
    return conv(cx, f"{p}-cv2", cx.b.concat(f"{p}-cat", ys), c2, 1)


def sppf(cx: Context, p: str, x: Tensor, c2: int, k: int = 5, n: int = 3, shortcut: bool = False, *,
         legacy_act: bool = True) -> Tensor:
    c_ = x.channels // 2
    ys = [conv(cx, f"{p}-cv1", x, c_, 1, 1, act=legacy_act)]
    for i in range(n):
        ys.append(cx.b.unary(f"{p}-m-{i}", "MaxPool2d", ys[-1], module=i == 0, kernel_size=k, stride=1,
                             padding=k // 2))
    y = conv(cx, f"{p}-cv2", cx.b.concat(f"{p}-cat", ys), c2, 1, 1)
    return cx.b.add_tensors(f"{p}-add", y, x) if shortcut and x.channels == c2 else y


def attention(cx: Context, p: str, x: Tensor, num_heads: int = 8, attn_ratio: float = 0.5) -> Tensor:
    """Ultralytics' Attention: q, k, v from one 1x1 conv, softmax(q^T k * key_dim^-0.5), plus a depthwise
    positional conv of v.  Written with ScaledDotProductAttention, whose products FlopCounterMode counts as
    the two matmuls of Ultralytics' forward."""
    b = cx.b
    dim, height, width = x.shape
    head_dim = dim // num_heads
    key_dim = int(head_dim * attn_ratio)
    tokens = height * width
    qkv = conv(cx, f"{p}-qkv", x, dim + 2 * key_dim * num_heads, 1, act=False)
    heads = b.reshape(f"{p}-heads", qkv, (num_heads, 2 * key_dim + head_dim, tokens))
    parts = [(0, key_dim, "q"), (key_dim, 2 * key_dim, "k"), (2 * key_dim, 2 * key_dim + head_dim, "v")]
    q, k, v = (b.add(f"{p}-{name}", "Slice", heads, (num_heads, end - start, tokens), dim=2, start=start, end=end)
               for start, end, name in parts)
    qt, kt, vt = (b.transpose(f"{t.name}-t", t, 2, 3) for t in (q, k, v))
    out = b.add(f"{p}-sdpa", "ScaledDotProductAttention", [qt, kt, vt], (num_heads, tokens, head_dim))
    out = b.reshape(f"{p}-out", b.transpose(f"{p}-sdpa-t", out, 2, 3), (num_heads * head_dim, height, width))
    pe = conv(cx, f"{p}-pe", b.reshape(f"{p}-v-img", v, (num_heads * head_dim, height, width)), dim, 3, 1, g=dim,
              act=False)
    return conv(cx, f"{p}-proj", b.add_tensors(f"{p}-sum", out, pe), dim, 1, act=False)


def psa_block(cx: Context, p: str, x: Tensor, attn_ratio: float = 0.5, num_heads: int = 4,
              shortcut: bool = True) -> Tensor:
    c = x.channels
    a = attention(cx, f"{p}-attn", x, num_heads, attn_ratio)
    x = cx.b.add_tensors(f"{p}-add1", x, a) if shortcut else a
    f = conv(cx, f"{p}-ffn-1", conv(cx, f"{p}-ffn-0", x, c * 2, 1), c, 1, act=False)
    return cx.b.add_tensors(f"{p}-add2", x, f) if shortcut else f


def c2psa(cx: Context, p: str, x: Tensor, n: int = 1, e: float = 0.5) -> Tensor:
    c = int(x.channels * e)
    a, y = _split_two(cx, p, conv(cx, f"{p}-cv1", x, 2 * c, 1, 1), c)
    for i in range(n):
        y = psa_block(cx, f"{p}-m-{i}", y, 0.5, max(c // 64, 1))
    return conv(cx, f"{p}-cv2", cx.b.concat(f"{p}-cat", [a, y]), x.channels, 1)


def classify(cx: Context, p: str, x: Tensor, c2: int, k: int = 1, s: int = 1, pad: object = None,
             g: int = 1) -> Tensor:
    y = conv(cx, f"{p}-conv", x, 1280, k, s, pad, g)
    y = cx.b.unary(f"{p}-pool", "AdaptiveAvgPool2d", y, (1280, 1, 1), output_size=1)
    y = cx.b.unary(f"{p}-flatten", "Flatten", y, (1280,))
    y = cx.b.unary(f"{p}-drop", "Dropout", y, p=0.0)
    y = cx.b.add(f"{p}-linear", "Linear", y, (c2,), in_features=1280, out_features=c2)
    return cx.b.unary(f"{p}-softmax", "Softmax", y, module=False, dim=1)


def _branch(cx: Context, p: str, x: Tensor, hidden: int, out: int) -> Tensor:
    """Conv(x, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, out, 1): a head branch."""
    y = conv(cx, f"{p}-1", conv(cx, f"{p}-0", x, hidden, 3), hidden, 3)
    return cx.b.conv2d(f"{p}-2", y, out, 1)


def _flat_cat(cx: Context, p: str, ys: Sequence[Tensor]) -> Tensor:
    flat = [cx.b.reshape(f"{y.name}-flat", y, (y.channels, y.shape[1] * y.shape[2])) for y in ys]
    return cx.b.concat(p, flat, dim=2)


def detect(cx: Context, p: str, xs: Sequence[Tensor], nc: int, reg_max: int = 16, *, legacy: bool = True,
           extra: str = "", nm: int = 32, npr: int = 256, kpt: Tuple[int, int] = (17, 3)) -> Tensor:
    """Detect (and Segment, Pose with ``extra``) in eval mode: the head branches, DFL over the box
    distributions, the sigmoid of the class scores (box decoding with anchors is elementwise and left out)."""
    b = cx.b
    c0 = xs[0].channels
    c2, c3 = max(16, c0 // 4, reg_max * 4), max(c0, min(nc, 100))
    boxes = [_branch(cx, f"{p}-cv2-{i}", x, c2, 4 * reg_max) for i, x in enumerate(xs)]
    scores = []
    for i, x in enumerate(xs):
        q = f"{p}-cv3-{i}"
        if legacy:
            scores.append(_branch(cx, q, x, c3, nc))
        else:
            y = conv(cx, f"{q}-0-1", dwconv(cx, f"{q}-0-0", x, x.channels, 3), c3, 1)
            y = conv(cx, f"{q}-1-1", dwconv(cx, f"{q}-1-0", y, c3, 3), c3, 1)
            scores.append(b.conv2d(f"{q}-2", y, nc, 1))
    extras: List[Tensor] = []
    if extra == "segment":
        proto = conv(cx, f"{p}-proto-cv1", xs[0], npr, 3)
        up = proto.shape
        proto = b.add(f"{p}-proto-upsample", "ConvTranspose2d", proto, (npr, up[1] * 2, up[2] * 2), module=True,
                      in_channels=npr,
                      out_channels=npr, kernel_size=2, stride=2, padding=0, bias=True)
        proto = conv(cx, f"{p}-proto-cv3", conv(cx, f"{p}-proto-cv2", proto, npr, 3), nm, 1)
        c4 = max(c0 // 4, nm)
        extras = [_branch(cx, f"{p}-cv4-{i}", x, c4, nm) for i, x in enumerate(xs)]
    elif extra == "pose":
        nk = kpt[0] * kpt[1]
        extras = [_branch(cx, f"{p}-cv4-{i}", x, max(c0 // 4, nk), nk) for i, x in enumerate(xs)]
    box = _flat_cat(cx, f"{p}-boxes", boxes)
    score = b.unary(f"{p}-scores-sigmoid", "Sigmoid", _flat_cat(cx, f"{p}-scores", scores), module=False)
    anchors = box.shape[1]
    outputs = [box, score]
    if reg_max > 1:
        y = b.reshape(f"{p}-dfl-view", box, (4, reg_max, anchors))
        y = b.unary(f"{p}-dfl-softmax", "Softmax", b.transpose(f"{p}-dfl-t", y, 1, 2), module=False, dim=1)
        y = b.conv2d(f"{p}-dfl-conv", y, 1, 1, bias=False, trainable=False)
        outputs[0] = b.reshape(f"{p}-dfl", y, (4, anchors))
    if extras:
        outputs.append(_flat_cat(cx, f"{p}-{'mask' if extra == 'segment' else 'kpts'}", extras))
    return b.concat(f"{p}-out", outputs, dim=1)
