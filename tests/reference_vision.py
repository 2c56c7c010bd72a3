"""Reference models for the MobileNetV3-Large and Swin-T examples, written by hand in plain torch.nn.

They mirror torchvision's ``mobilenet_v3_large`` and ``swin_t`` layer for layer
(torchvision is not installed here): the independent side of
tests/test_examples.py for examples/mobilenet_v3_large.yaml and examples/swin_t.yaml.
"""
from __future__ import annotations

from functools import partial
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from helpers import torchvision_make_divisible  # noqa: E402


# ---------------------------------------------------------------------------
# MobileNetV3-Large (torchvision.models.mobilenetv3)

_BN = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


def _conv_bn_act(inp: int, out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: Optional[type] = nn.Hardswish) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               _BN(out)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.relu = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidualV3(nn.Module):
    def __init__(self, inp: int, kernel: int, exp: int, out: int, se: bool, act: str, stride: int) -> None:
        super().__init__()
        activation = nn.Hardswish if act == "HS" else nn.ReLU
        self.use_res_connect = stride == 1 and inp == out
        layers: List[nn.Module] = []
        if exp != inp:
            layers.append(_conv_bn_act(inp, exp, act=activation))
        layers.append(_conv_bn_act(exp, exp, kernel, stride, groups=exp, act=activation))
        if se:
            layers.append(SqueezeExcitation(exp, torchvision_make_divisible(exp // 4, 8)))
        layers.append(_conv_bn_act(exp, out, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.use_res_connect else y


MOBILENET_V3_LARGE = [  # input, kernel, expanded, out, SE, activation, stride
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1),
]


class MobileNetV3Large(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: List[nn.Module] = [_conv_bn_act(3, 16, 3, 2)]
        layers += [InvertedResidualV3(*setting) for setting in MOBILENET_V3_LARGE]
        layers.append(_conv_bn_act(160, 960))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(960, 1280), nn.Hardswish(inplace=True),
                                        nn.Dropout(p=0.2, inplace=True), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---------------------------------------------------------------------------
# Swin-T (torchvision.models.swin_transformer, v1)

def _relative_position_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = torch.flatten(coords, 1)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1).flatten()


def _shift_mask(height: int, width: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """The mask torchvision builds in forward for the rolled windows: [windows, 49, 49]."""
    mask = torch.zeros((height, width), device=device)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    count = 0
    for h in bounds:
        for w in bounds:
            mask[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    mask = mask.view(height // window, window, width // window, window).permute(0, 2, 1, 3)
    mask = mask.reshape(-1, window * window)
    mask = mask.unsqueeze(1) - mask.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, shift: int, heads: int) -> None:
        super().__init__()
        self.window, self.shift, self.heads = window, shift, heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        window = self.window
        tokens = window * window
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(tokens, tokens, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        shift = 0 if window >= height else self.shift  # one window: nothing to shift
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        windows = (height // window) * (width // window)
        x = x.view(batch, height // window, window, width // window, window, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch * windows, tokens, channels)
        qkv = self.qkv(x).reshape(x.size(0), tokens, 3, self.heads, channels // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * (channels // self.heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1)) + bias
        if shift:
            mask = _shift_mask(height, width, window, shift, x.device)
            attn = attn.view(x.size(0) // windows, windows, self.heads, tokens, tokens)
            attn = (attn + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, tokens, tokens)
        attn = F.softmax(attn, dim=-1)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), tokens, channels)
        x = self.proj(x)
        x = x.view(batch, height // window, width // window, window, window, channels)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, height, width, channels)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        return x


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth(p, "row")."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(1 - self.p).div_(1 - self.p)
        return x * noise


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, shift: int, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftedWindowAttention(dim, 7, shift, heads)
        self.stochastic_depth = StochasticDepth(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim),
                                 nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.stochastic_depth(self.attn(self.norm1(x)))
        return x + self.stochastic_depth(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :]
        x2, x3 = x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], -1)))


class SwinT(nn.Module):
    def __init__(self, num_classes: int = 1000, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), dim: int = 96,
                 stochastic_depth: float = 0.2) -> None:
        super().__init__()
        layers: List[nn.Module] = [nn.Sequential(nn.Conv2d(3, dim, 4, 4), _Permute(0, 2, 3, 1), nn.LayerNorm(dim))]
        total, block_id = sum(depths), 0
        for stage, (depth, head_count) in enumerate(zip(depths, heads)):
            blocks = []
            for i in range(depth):
                blocks.append(SwinBlock(dim, head_count, 0 if i % 2 == 0 else 3,
                                        stochastic_depth * block_id / (total - 1)))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
            if stage < len(depths) - 1:
                layers.append(PatchMerging(dim))
                dim *= 2
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dim)
        self.permute = _Permute(0, 3, 1, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.permute(self.norm(self.features(x)))
        return self.head(torch.flatten(self.avgpool(x), 1))


class _Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)
