"""Ultralytics' scaling rules: the scale letter, depth and width gains, rounding of channels."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

_SCALE_IN_NAME = re.compile(r"yolo(e-)?[v]?\d+([nslmx])")


def scale_from_filename(path: str) -> str:
    """The scale letter Ultralytics reads from a file name (``yolov8n.yaml`` -> ``n``), or ``""``."""
    match = _SCALE_IN_NAME.search(Path(path).stem)
    return match.group(2) if match else ""


def make_divisible(value: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` that is >= ``value``."""
    return math.ceil(value / divisor) * divisor


def depth_gain(repeats: int, depth: float) -> int:
    """Repeats after the depth multiplier: ``max(round(n * depth), 1)`` for n > 1, else n (Python's rounding)."""
    return max(round(repeats * depth), 1) if repeats > 1 else repeats


class Scale:
    """The multipliers of one scale: depth, width and the channel cap."""

    __slots__ = ("letter", "depth", "width", "max_channels")

    def __init__(self, letter: str, depth: float, width: float, max_channels: float) -> None:
        self.letter = letter
        self.depth = depth
        self.width = width
        self.max_channels = max_channels

    def channels(self, requested: float) -> int:
        """A row's output channels after the cap and the width gain, rounded up to a multiple of 8."""
        return make_divisible(min(requested, self.max_channels) * self.width, 8)


def choose_scale(data: Mapping[str, Any], *, path: str, override: Optional[str]) -> Tuple[Scale, str, str]:
    """The scale to use, how it was chosen (``"option"``, ``"key"``, ``"file name"``, ``"first"``, ``""``), and
    an error message ("" when fine).

    Order: the ``--scale`` option, the ``scale:`` key, the letter in the file name, the first of ``scales``.
    Without ``scales``: ``depth_multiple`` and ``width_multiple`` (default 1.0), no cap.
    """
    scales = data.get("scales")
    depth = data.get("depth_multiple", 1.0)
    width = data.get("width_multiple", 1.0)
    if not scales:
        return Scale("", depth, width, float("inf")), "", ""
    if override:
        letter, how = override, "option"
    elif data.get("scale"):
        letter, how = str(data["scale"]), "key"
    elif scale_from_filename(path):
        letter, how = scale_from_filename(path), "file name"
    else:
        letter, how = next(iter(scales)), "first"
    if letter not in scales:
        return Scale(letter, depth, width, float("inf")), how, f"scale `{letter}` is not one of {', '.join(map(str, scales))}"
    values = scales[letter]
    if (not isinstance(values, (list, tuple)) or len(values) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)):
        return Scale(letter, depth, width, float("inf")), how, (f"scale `{letter}` must be [depth, width, max_channels] "
                                                               f"of positive numbers, got {values!r}")
    return Scale(str(letter), values[0], values[1], values[2]), how, ""
