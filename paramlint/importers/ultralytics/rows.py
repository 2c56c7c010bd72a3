"""The argument lists Ultralytics' YAML rows take, per module, and how they are checked.

``ARGS`` lists each supported module's YAML arguments (after ``[from, repeats, module, ...]``) as
(name, kind, default) where default ``REQUIRED`` means the argument must be written.
"""
from __future__ import annotations

import ast
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

REQUIRED = object()

# kinds: see _CHECKS
ARGS: Dict[str, Tuple[Tuple[str, str, Any], ...]] = {
    "Conv": (("c2", "pos", REQUIRED), ("k", "kernel", 1), ("s", "kernel", 1), ("p", "opt_pad", None),
             ("g", "pos", 1), ("d", "pos", 1), ("act", "bool", True)),
    "DWConv": (("c2", "pos", REQUIRED), ("k", "pos", 1), ("s", "pos", 1), ("d", "pos", 1), ("act", "bool", True)),
    "Bottleneck": (("c2", "pos", REQUIRED), ("shortcut", "bool", True), ("g", "pos", 1), ("k", "pair", (3, 3)),
                   ("e", "fraction", 0.5)),
    "C2f": (("c2", "pos", REQUIRED), ("shortcut", "bool", False), ("g", "pos", 1), ("e", "fraction", 0.5)),
    "C3": (("c2", "pos", REQUIRED), ("shortcut", "bool", True), ("g", "pos", 1), ("e", "fraction", 0.5)),
    "C3k2": (("c2", "pos", REQUIRED), ("c3k", "bool", False), ("e", "fraction", 0.5), ("attn", "bool", False),
             ("g", "pos", 1), ("shortcut", "bool", True)),
    "C2PSA": (("c2", "pos", REQUIRED), ("e", "fraction", 0.5)),
    "SPPF": (("c2", "pos", REQUIRED), ("k", "pos", 5), ("n", "pos", 3), ("shortcut", "bool", False)),
    "Concat": (("dimension", "int", 1),),
    "nn.Upsample": (("size", "opt_kernel", None), ("scale_factor", "opt_number", None), ("mode", "str", "nearest")),
    "Detect": (("nc", "pos", REQUIRED),),
    "Segment": (("nc", "pos", REQUIRED), ("nm", "pos", 32), ("npr", "pos", 256)),
    "Pose": (("nc", "pos", REQUIRED), ("kpt_shape", "pair", (17, 3))),
    "Classify": (("c2", "pos", REQUIRED), ("k", "pos", 1), ("s", "pos", 1), ("p", "opt_pad", None),
                 ("g", "pos", 1)),
}

# Modules of ultralytics.nn.tasks that paramlint does not expand yet (not a typo: reported as unsupported).
KNOWN_UNSUPPORTED = (
    "AIFI", "ADown", "AConv", "A2C2f", "BNContrastiveHead", "BottleneckCSP", "C1", "C2", "C2fAttn", "C2fCIB",
    "C2fPSA", "C3Ghost", "C3TR", "C3x", "CBFuse", "CBLinear", "ContrastiveHead", "ConvTranspose", "DWConvTranspose2d",
    "ELAN1", "Focus", "GhostBottleneck", "GhostConv", "HGBlock", "HGStem", "ImagePoolingAttn", "Index", "OBB", "PSA",
    "RTDETRDecoder", "RepC3", "RepConv", "RepNCSPELAN4", "ResNetLayer", "SCDown", "SPP", "SPPELAN", "TorchVision",
    "WorldDetect", "YOLOEDetect", "YOLOESegment", "v10Detect", "nn.BatchNorm2d", "nn.ConvTranspose2d",
)

# YAML keys that a string argument may name (parse_model looks them up in its locals)
NAMED_VALUES = ("nc", "kpt_shape", "reg_max", "end2end", "depth", "width", "max_channels", "scale")


def resolve_strings(args: Sequence[Any], names: Mapping[str, Any]) -> List[Any]:
    """parse_model's treatment of string arguments: a known name, else a Python literal, else the string."""
    resolved = []
    for arg in args:
        if isinstance(arg, str):
            if arg in names:
                arg = names[arg]
            else:
                try:
                    arg = ast.literal_eval(arg)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    pass
        resolved.append(arg)
    return resolved


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pos(value: Any) -> bool:
    return _is_int(value) and value >= 1


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_pos(v) for v in value)


def _is_pad(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return len(value) == 2 and all(_is_int(v) and v >= 0 for v in value)
    return value is None or (_is_int(value) and value >= 0)


_CHECKS = {
    "int": (_is_int, "an integer"),
    "pos": (_is_pos, "a positive integer"),
    "fraction": (lambda v: _is_number(v) and 0 < v <= 16, "a number above 0 (an expansion ratio)"),
    "opt_number": (lambda v: v is None or (_is_number(v) and 0 < v <= 1024), "a positive number or None"),
    "opt_pad": (_is_pad, "a padding (an integer >= 0 or a pair of them) or None"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "opt_int": (lambda v: v is None or _is_int(v), "an integer or None"),
    "kernel": (lambda v: _is_pos(v) or _is_pair(v), "a positive integer or a pair of them"),
    "opt_kernel": (lambda v: v is None or _is_pos(v) or _is_pair(v), "a positive integer, a pair of them or None"),
    "pair": (_is_pair, "a pair of positive integers"),
    "str": (lambda v: isinstance(v, str), "a string"),
}


def bind_args(module: str, args: Sequence[Any]) -> Tuple[Optional[Dict[str, Any]], Optional[Tuple[int, str]]]:
    """The named arguments of a row, or (None, (index of the bad argument or -1, message))."""
    spec = ARGS[module]
    names = ", ".join(name for name, _, _ in spec)
    if len(args) > len(spec):
        return None, (len(spec), f"{module} takes at most {len(spec)} argument{'s' * (len(spec) != 1)} "
                                 f"[{names}], got {len(args)}")
    required = sum(1 for _, _, default in spec if default is REQUIRED)
    if len(args) < required:
        return None, (-1, f"{module} needs at least {required} argument{'s' * (required != 1)} [{names}], "
                          f"got {len(args)}")
    bound: Dict[str, Any] = {}
    for index, (name, kind, default) in enumerate(spec):
        if index >= len(args):
            bound[name] = default
            continue
        check, expected = _CHECKS[kind]
        if not check(args[index]):
            return None, (index, f"{module} argument {index + 1} ({name}) must be {expected}, got {args[index]!r}")
        bound[name] = args[index]
    return bound, None
