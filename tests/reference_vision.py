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


def make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """torchvision.models._utils._make_divisible."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


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
            layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8)))
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
