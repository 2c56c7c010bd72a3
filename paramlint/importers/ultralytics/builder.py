"""Emitting format-1 layers for Ultralytics modules, with the shapes Ultralytics' channel arithmetic gives.

A ``Builder`` appends layer entries (named after the torch module path, ``m2-cv1-conv`` for ``model.2.cv1.conv``)
and remembers the YAML row each came from, so that diagnostics about a generated layer land on the user's row.
Tensors are tracked as ``(channels, height, width)`` so that reshapes can be written exactly.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ...core.diagnostics import ConfigPath

Shape = Tuple[int, ...]
MAX_LAYERS = 100_000  # as graph.MAX_NODES: expansion stops here, before the graph would refuse it


class TooManyLayers(Exception):
    """The rows expand to more layers than paramlint analyses."""
Kernel = Union[int, Sequence[int]]


class Tensor:
    """A named layer output and its per-sample shape."""

    __slots__ = ("name", "shape")

    def __init__(self, name: str, shape: Shape) -> None:
        self.name = name
        self.shape = shape

    @property
    def channels(self) -> int:
        return self.shape[0]


def conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def autopad(kernel: Kernel, padding: Any = None, dilation: int = 1) -> Any:
    """Ultralytics' 'same' padding for odd kernels."""
    if dilation > 1:
        kernel = dilation * (kernel - 1) + 1 if isinstance(kernel, int) else [dilation * (x - 1) + 1 for x in kernel]
    if padding is None:
        padding = kernel // 2 if isinstance(kernel, int) else [x // 2 for x in kernel]
    return padding


def _pair(value: Any) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class Builder:
    """Appends layers; ``row`` is the config path of the YAML row being expanded."""

    def __init__(self) -> None:
        self.layers: List[Dict[str, Any]] = []
        self.rows: List[ConfigPath] = []
        self.row: ConfigPath = ()
        self._names: Dict[str, int] = {}
        self.leaf_modules = 0  # what model.info() counts as layers: distinct leaf modules
        self.shared_activation = False  # Conv.default_act: one module shared by every Conv


    def add(self, name: str, type_: str, sources: Union[Tensor, Sequence[Tensor]], out: Shape, *,
            module: bool = False, **args: Any) -> Tensor:
        """One layer; ``module``: it is a leaf torch module of its own in Ultralytics' model."""
        self.leaf_modules += module
        if len(self.layers) >= MAX_LAYERS:
            raise TooManyLayers(f"the rows expand to more than {MAX_LAYERS:,} layers, the limit")
        entry: Dict[str, Any] = {"type": type_, "name": name}
        entry["from"] = sources.name if isinstance(sources, Tensor) else [s.name for s in sources]
        entry.update({k: v for k, v in args.items() if v is not None})
        self._names[name] = len(self.layers)
        self.layers.append(entry)
        self.rows.append(self.row)
        return Tensor(name, out)

    # --- torch.nn building blocks -------------------------------------------------------------------------
    def conv2d(self, name: str, x: Tensor, out_channels: int, kernel: Kernel, *, stride: Kernel = 1,
               padding: Any = 0, groups: int = 1, dilation: Kernel = 1, bias: bool = True,
               trainable: bool = True) -> Tensor:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
        shape = (out_channels, conv_size(x.shape[1], kh, sh, ph, dh), conv_size(x.shape[2], kw, sw, pw, dw))
        # torch's defaults and the inferred in_channels are left out: fewer distinct entries to validate
        given = {"stride": _arg(stride), "padding": _arg(padding), "groups": groups, "dilation": _arg(dilation),
                 "bias": bias, "trainable": trainable}
        defaults = {"stride": 1, "padding": 0, "groups": 1, "dilation": 1, "bias": True, "trainable": True}
        extra = {key: value for key, value in given.items() if value != defaults[key] and value != [defaults[key]] * 2}
        return self.add(name, "Conv2d", x, shape, module=True, out_channels=out_channels, kernel_size=_arg(kernel),
                        **extra)

    def unary(self, name: str, type_: str, x: Tensor, shape: Optional[Shape] = None, *, module: bool = True,
              **args: Any) -> Tensor:
        return self.add(name, type_, x, x.shape if shape is None else shape, module=module, **args)

    def concat(self, name: str, xs: Sequence[Tensor], dim: int = 1, *, module: bool = False) -> Tensor:
        axis = dim - 1 if dim > 0 else len(xs[0].shape) + dim
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        return self.add(name, "Concat", list(xs), tuple(shape), module=module, dim=dim)

    def add_tensors(self, name: str, a: Tensor, b: Tensor) -> Tensor:
        return self.add(name, "Add", [a, b], a.shape)

    def slice_channels(self, name: str, x: Tensor, start: int, end: int, dim: int = 1) -> Tensor:
        shape = list(x.shape)
        shape[dim - 1] = end - start
        return self.add(name, "Slice", x, tuple(shape), dim=dim, start=start, end=end)

    def reshape(self, name: str, x: Tensor, shape: Shape) -> Tensor:
        return self.add(name, "Reshape", x, tuple(shape), shape=list(shape))

    def transpose(self, name: str, x: Tensor, dim0: int, dim1: int) -> Tensor:
        shape = list(x.shape)
        shape[dim0 - 1], shape[dim1 - 1] = shape[dim1 - 1], shape[dim0 - 1]
        return self.add(name, "Transpose", x, tuple(shape), dim0=dim0, dim1=dim1)


def _arg(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value
