"""The argument lists Ultralytics' YAML rows take, per module, and how they are checked.

``ARGS`` lists each supported module's YAML arguments (after ``[from, repeats, module, ...]``) as
(name, kind, default) where default ``REQUIRED`` means the argument must be written.
"""
from __future__ import annotations

import ast
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

REQUIRED = object()

# kinds: int, number, bool, opt_int (int or None), kernel (int or pair), str, pair, act (bool)
ARGS: Dict[str, Tuple[Tuple[str, str, Any], ...]] = {
    "Conv": (("c2", "int", REQUIRED), ("k", "kernel", 1), ("s", "kernel", 1), ("p", "opt_kernel", None),
             ("g", "int", 1), ("d", "int", 1), ("act", "bool", True)),
    "DWConv": (("c2", "int", REQUIRED), ("k", "int", 1), ("s", "int", 1), ("d", "int", 1), ("act", "bool", True)),
    "Bottleneck": (("c2", "int", REQUIRED), ("shortcut", "bool", True), ("g", "int", 1), ("k", "pair", (3, 3)),
                   ("e", "number", 0.5)),
    "C2f": (("c2", "int", REQUIRED), ("shortcut", "bool", False), ("g", "int", 1), ("e", "number", 0.5)),
    "C3": (("c2", "int", REQUIRED), ("shortcut", "bool", True), ("g", "int", 1), ("e", "number", 0.5)),
    "C3k2": (("c2", "int", REQUIRED), ("c3k", "bool", False), ("e", "number", 0.5), ("attn", "bool", False),
             ("g", "int", 1), ("shortcut", "bool", True)),
    "C2PSA": (("c2", "int", REQUIRED), ("e", "number", 0.5)),
    "SPPF": (("c2", "int", REQUIRED), ("k", "int", 5), ("n", "int", 3), ("shortcut", "bool", False)),
    "Concat": (("dimension", "int", 1),),
    "nn.Upsample": (("size", "opt_kernel", None), ("scale_factor", "opt_number", None), ("mode", "str", "nearest")),
    "Detect": (("nc", "int", REQUIRED),),
    "Segment": (("nc", "int", REQUIRED), ("nm", "int", 32), ("npr", "int", 256)),
    "Pose": (("nc", "int", REQUIRED), ("kpt_shape", "pair", (17, 3))),
    "Classify": (("c2", "int", REQUIRED), ("k", "int", 1), ("s", "int", 1), ("p", "opt_int", None),
                 ("g", "int", 1)),
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


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value)


_CHECKS = {
    "int": (_is_int, "an integer"),
    "number": (_is_number, "a number"),
    "opt_number": (lambda v: v is None or _is_number(v), "a number or None"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "opt_int": (lambda v: v is None or _is_int(v), "an integer or None"),
    "kernel": (lambda v: _is_int(v) or _is_pair(v), "an integer or a pair of integers"),
    "opt_kernel": (lambda v: v is None or _is_int(v) or _is_pair(v), "an integer, a pair of integers or None"),
    "pair": (_is_pair, "a pair of integers"),
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
