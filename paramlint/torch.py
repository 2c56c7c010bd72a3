"""Build the real PyTorch model a config describes: ``paramlint.torch.build``.

The config is linted first (any error raises ``ValueError`` with the located
diagnostics); the model is then assembled from paramlint's own analysis, so
it is the model paramlint counted: every graph node becomes one module,
constructed as ``torch.nn.<type>(**args)`` with the inferred sizes filled in,
or as one of the small modules below for the operations that are not
``torch.nn`` classes (``Add``, ``Concat``, ``Reshape``, ``Parameter``, ...).

Modules are registered under names that mirror the config: an entry's
``name`` (or its position), a block use as a nested module, and the copies
of a repeated entry numbered from 0, e.g. ``layer1.0.conv1.weight``.
``shares`` ties parameters (the very same ``Parameter`` object, so torch
counts it once) and ``trainable: false`` sets ``requires_grad`` to False.
A module that returns a tuple is unpacked as the format numbers outputs:
LSTM's ``(output, (h_n, c_n))`` gives ``NAME``, ``NAME.1`` and ``NAME.2``
(the states per sample, ``h_n.transpose(0, 1)``), MultiheadAttention's
weights are ``NAME.1`` with ``need_weights: true``.  The model is called
with the config's inputs in order, or by name.

The linter core never imports this module; only it imports torch.
"""
from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .core.diagnostics import ERROR, Diagnostic, format_config_path
from .lint import CONFIG_SUFFIXES, analyze_document, locate
from .model.analysis import LayerInfo
from .model.graph import Graph, Node, Source, build_graph
from .model.module_names import copy_number, entry_at, local_label
from .rules import severity_of
from .source.loader import LoadError, load_document
from .torch_language import LANGUAGE_OPERATIONS, LAYER_FACTORIES
from .torch_ops import OPERATIONS as TENSOR_OPERATIONS
from .validation.validator import SchemaValidator

__all__ = ["build", "count_parameters", "ParamlintModel", "OPERATIONS"]

Config = Union[str, os.PathLike, Mapping[str, Any]]


# ---------------------------------------------------------------------------
# The paramlint operations that are not torch.nn classes.

class Add(nn.Module):
    """Element-wise sum of the inputs (torch broadcasting)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return functools.reduce(torch.add, inputs)


class Scale(nn.Module):
    """``x * factor`` with a constant."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Cast(nn.Module):
    """``x.to(dtype)``."""

    def __init__(self, dtype: str = "float32") -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(getattr(torch, self.dtype))

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}"


class Multiply(nn.Module):
    """Element-wise product of the inputs (torch broadcasting)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return functools.reduce(torch.mul, inputs)


class Concat(nn.Module):
    """``torch.cat`` along ``dim``; an unbatched ``[1, ...]`` input (a
    Parameter such as a class token) is expanded over the batch first."""

    def __init__(self, dim: int = 1, batched: Sequence[bool] = ()) -> None:
        super().__init__()
        self.dim = dim
        self.batched = tuple(batched)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        flags = self.batched or (True,) * len(inputs)
        batch = next(t.shape[0] for t, b in zip(inputs, flags) if b)
        parts = [t if b else t.expand(batch, *t.shape[1:]) for t, b in zip(inputs, flags)]
        return torch.cat(parts, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Parameter(nn.Module):
    """A learnable tensor of a given shape (no batch dimension), as attribute
    ``weight``.  Initialised from N(0, 0.02^2), as learned positions and
    class tokens usually are; load real weights for anything else."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*shape))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self) -> torch.Tensor:
        # Without gradients, hand out a detached alias (same storage): a view
        # taken of the Parameter itself under no_grad (a Slice of a position
        # table) breaks torch's module tracker, and so FlopCounterMode.
        return self.weight if torch.is_grad_enabled() else self.weight.detach()

    def extra_repr(self) -> str:
        return f"shape={list(self.weight.shape)}"


class Reshape(nn.Module):
    """``x.reshape(batch, *shape)`` (``x.reshape(*shape)`` for an unbatched tensor)."""

    def __init__(self, shape: Sequence[int], batched: bool = True) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.batched = batched

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape) if self.batched else x.reshape(*self.shape)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class View(Reshape):
    """``x.view(batch, *shape)``: Reshape for a contiguous input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape) if self.batched else x.view(*self.shape)


class Permute(nn.Module):
    """``x.permute(*dims)``, dims in torch numbering (the batch is dim 0)."""

    def __init__(self, dims: Union[int, Sequence[int]]) -> None:
        super().__init__()
        self.dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)

    def extra_repr(self) -> str:
        return f"dims={list(self.dims)}"


class Transpose(nn.Module):
    """``x.transpose(dim0, dim1)``."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Select(nn.Module):
    """``x.select(dim, index)``."""

    def __init__(self, dim: int, index: int) -> None:
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


class Slice(nn.Module):
    """``x[..., start:end:step, ...]`` along ``dim``."""

    def __init__(self, dim: int, start: Optional[int] = None, end: Optional[int] = None, step: int = 1) -> None:
        super().__init__()
        self.dim, self.start, self.end, self.step = dim, start, end, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index: List[Any] = [slice(None)] * x.dim()
        index[self.dim % x.dim()] = slice(self.start, self.end, self.step)
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, end={self.end}, step={self.step}"


class Mean(nn.Module):
    """``x.mean(dim, keepdim)``."""

    def __init__(self, dim: Union[int, Sequence[int]], keepdim: bool = False) -> None:
        super().__init__()
        self.dim = tuple(dim) if isinstance(dim, (list, tuple)) else dim
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, keepdim={self.keepdim}"


class Sum(Mean):
    """``x.sum(dim, keepdim)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=self.dim, keepdim=self.keepdim)


class ScaledDotProductAttention(nn.Module):
    """``torch.nn.functional.scaled_dot_product_attention(q, k, v, ...)``;
    its ``dropout_p`` applies on every call, as the function does.  A
    ``window`` (paramlint's sliding-window argument) becomes a boolean mask:
    query i sees keys i - window + 1 ... i.  ``attn_implementation: eager``
    runs transformers' eager attention instead (repeated key/value heads,
    matmul, an additive mask, softmax in float32, matmul)."""

    def __init__(self, dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
                 enable_gqa: bool = False, window: Optional[int] = None, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.dropout_p, self.is_causal, self.scale, self.enable_gqa = dropout_p, is_causal, scale, enable_gqa
        self.window, self.attn_implementation = window, attn_implementation

    def _allowed(self, queries: int, keys: int) -> Optional[torch.Tensor]:
        """Which keys each query sees (None: all), top-left aligned as torch's is_causal."""
        if not self.is_causal:
            return None
        rows = torch.arange(queries).unsqueeze(1)
        cols = torch.arange(keys).unsqueeze(0)
        allowed = cols <= rows
        return allowed & (cols > rows - self.window) if self.window is not None else allowed

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.attn_implementation == "eager":
            return self._eager(query, key, value)
        kwargs: Dict[str, Any] = {"enable_gqa": True} if self.enable_gqa else {}
        if self.window is not None:
            kwargs["attn_mask"] = self._allowed(query.shape[-2], key.shape[-2])
            return nn.functional.scaled_dot_product_attention(query, key, value, dropout_p=self.dropout_p,
                                                              scale=self.scale, **kwargs)
        return nn.functional.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p=self.dropout_p,
                                                          is_causal=self.is_causal, scale=self.scale, **kwargs)

    def _eager(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        groups = query.shape[-3] // key.shape[-3]
        if groups > 1:  # transformers' repeat_kv
            key = key[:, :, None].expand(key.shape[0], key.shape[1], groups, *key.shape[2:]).reshape(
                key.shape[0], key.shape[1] * groups, *key.shape[2:])
            value = value[:, :, None].expand(value.shape[0], value.shape[1], groups, *value.shape[2:]).reshape(
                value.shape[0], value.shape[1] * groups, *value.shape[2:])
        scale = self.scale if self.scale is not None else query.shape[-1] ** -0.5
        weights = torch.matmul(query, key.transpose(2, 3)) * scale
        allowed = self._allowed(query.shape[-2], key.shape[-2])
        if allowed is not None:
            weights = weights + torch.zeros(allowed.shape, dtype=weights.dtype).masked_fill(
                ~allowed, torch.finfo(weights.dtype).min)
        weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
        weights = nn.functional.dropout(weights, p=self.dropout_p, training=self.training)
        return torch.matmul(weights, value)

    def extra_repr(self) -> str:
        window = f", window={self.window}" if self.window is not None else ""
        return (f"dropout_p={self.dropout_p}, is_causal={self.is_causal}, scale={self.scale}{window}, "
                f"attn_implementation={self.attn_implementation}")


# Operations whose constructor also needs to know which inputs are batched.
_BATCH_AWARE = ("Concat", "Reshape", "View")

OPERATIONS: Dict[str, type] = {cls.__name__: cls for cls in (
    Add, Multiply, Scale, Cast, Concat, Parameter, Reshape, View, Permute, Transpose, Select, Slice, Mean, Sum,
    ScaledDotProductAttention, *LANGUAGE_OPERATIONS)}
OPERATIONS.update(TENSOR_OPERATIONS)


# ---------------------------------------------------------------------------
# Loading and linting.

def _read(config: Config) -> Tuple[Mapping[str, Any], Optional[Any], str]:
    """(data, document or None, path for messages); a one-line string ending in .yaml, .yml or .json
    is a path, any other string the text of a config."""
    if isinstance(config, Mapping):
        return config, None, "<config>"
    if isinstance(config, os.PathLike) or (isinstance(config, str) and "\n" not in config
                                           and config.strip().lower().endswith(CONFIG_SUFFIXES)):
        path = os.fspath(config)
        document = load_document(Path(path).read_bytes(), path=path)
        return document.data, document, path
    if not isinstance(config, str):
        raise TypeError(f"build() takes a path, YAML/JSON text or a dict, not {type(config).__name__}")
    name = "<config>.json" if config.lstrip().startswith("{") else "<config>"
    document = load_document(config, path=name)
    return document.data, document, name


def _diagnostics(findings: Sequence[Any], document: Optional[Any], path: str) -> Tuple[Diagnostic, ...]:
    if document is not None:
        return locate(findings, document, path)
    return tuple(Diagnostic(path, 0, 0, f.code, f.message, f.severity or severity_of(f.code),
                            format_config_path(f.config_path)) for f in findings)


def _describe(diagnostic: Diagnostic) -> str:
    where = f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}" if diagnostic.line else \
        f"{diagnostic.path}: {diagnostic.config_path or '(top level)'}"
    return f"{where}: {diagnostic.code} {diagnostic.message}"


_VALIDATOR: Optional[SchemaValidator] = None


def _validator() -> SchemaValidator:
    global _VALIDATOR
    if _VALIDATOR is None:  # compiling the schema takes a while; a validator can be reused
        _VALIDATOR = SchemaValidator()
    return _VALIDATOR


def _analyse(config: Config) -> Tuple[Mapping[str, Any], Graph, Tuple[LayerInfo, ...]]:
    try:
        data, document, path = _read(config)
    except LoadError as error:
        raise ValueError(f"cannot load the config: {error.code} {error.message} (line {error.line}, "
                         f"column {error.column})") from None
    if not isinstance(data, Mapping) or "paramlint" not in data:
        raise ValueError("not a paramlint model config (no top-level `paramlint: 1`)")
    findings, analysis = analyze_document(data, document, _validator())
    diagnostics = _diagnostics(findings, document, path)
    errors = [d for d in diagnostics if d.severity == ERROR]
    if errors or analysis is None:
        listed = "\n".join(_describe(d) for d in (errors or diagnostics))
        raise ValueError(f"paramlint found {len(errors)} error{'s' if len(errors) != 1 else ''} in the config:\n"
                         f"{listed}")
    graph, _ = build_graph(data)
    assert graph is not None  # analyze_document built the same graph
    return data, graph, analysis.shapes.layers


# ---------------------------------------------------------------------------
# Module names that mirror the config.

class _Scope(nn.Module):
    """A block use, or the copies of a repeated entry: a container only."""

    def forward(self, *args: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("a paramlint scope module is a container; call the model instead")


class _Namer:
    """Assigns each node a path of module names, creating the containers."""

    def __init__(self, root: nn.Module, data: Mapping[str, Any]) -> None:
        self.root = root
        self.data = data
        self.keys: Dict[Tuple[int, Tuple[Any, ...]], str] = {}

    def child_key(self, parent: nn.Module, config_path: Sequence[Any], entry: Mapping[str, Any]) -> str:
        ident = (id(parent), tuple(config_path))
        if ident in self.keys:
            return self.keys[ident]
        raw = entry.get("name") if isinstance(entry.get("name"), str) else str(config_path[-1])
        key = raw.replace(".", "_") or "_"
        taken = set(self.keys[k] for k in self.keys if k[0] == id(parent))
        while key in taken or (hasattr(parent, key) and key not in parent._modules):
            key += "_"
        self.keys[ident] = key
        return key

    def enter(self, parent: nn.Module, key: str) -> nn.Module:
        if key not in parent._modules:
            parent.add_module(key, _Scope())
        return parent._modules[key]

    def place(self, node: Node, module: nn.Module) -> str:
        parent, names = self.root, []
        steps = [(frame.use_path, frame.label, f" {frame.block}") for frame in node.frames]
        steps.append((node.config_path, node.label, ""))
        for number, (config_path, label, suffix) in enumerate(steps):
            entry = entry_at(self.data, config_path)
            key = self.child_key(parent, config_path, entry)
            copy = copy_number(label, local_label(entry, config_path) + suffix)
            last = number == len(steps) - 1
            if copy is not None:
                parent = self.enter(parent, key)
                names.append(key)
                key = str(copy - 1)
            names.append(key)
            if last:
                parent.add_module(key, module)
            else:
                parent = self.enter(parent, key)
        return ".".join(names)


# ---------------------------------------------------------------------------
# The model.

def _make_module(node: Node, info: LayerInfo) -> nn.Module:
    args = dict(info.result.args)
    if node.type in OPERATIONS:
        if node.type in _BATCH_AWARE:
            flags = [t.batched for t in info.inputs]
            if node.type == "Concat":
                args["batched"] = flags
            else:
                args["batched"] = flags[0]
        return OPERATIONS[node.type](**args)
    if node.type in LAYER_FACTORIES:
        return LAYER_FACTORIES[node.type](**args)
    # Lists in a config are tuples to torch (nn.Upsample takes a per-axis scale_factor only as a tuple).
    return getattr(nn, node.type)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})


def _unpack(node_type: str, result: Any) -> Tuple[torch.Tensor, ...]:
    """A module's result as paramlint numbers its outputs."""
    if isinstance(result, torch.Tensor):
        return (result,)
    if node_type == "LSTM":
        output, (h_n, c_n) = result
        return output, h_n.transpose(0, 1), c_n.transpose(0, 1)
    if node_type in ("RNN", "GRU"):
        output, h_n = result
        return output, h_n.transpose(0, 1)
    if node_type == "MultiheadAttention":
        output, weights = result
        return (output,) if weights is None else (output, weights)
    return tuple(result)


def _call_inputs(node: Node, values: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
    if node.type == "MultiheadAttention":
        if len(values) == 1:
            return (values[0], values[0], values[0])
        if len(values) == 2:
            return (values[0], values[1], values[1])
    return tuple(values)


def _tie(module: nn.Module, owner: nn.Module, names: Sequence[str]) -> None:
    for name in names:
        prefix, _, attr = name.rpartition(".")
        target = module.get_submodule(prefix) if prefix else module
        source = owner.get_parameter(name)
        target._parameters[attr] = source


class ParamlintModel(nn.Module):
    """The torch model of a paramlint config; ``forward`` runs its graph.

    Call it with the inputs in the order of the config's ``inputs`` (or the
    one ``input``), positionally or by name.
    """

    def __init__(self, data: Mapping[str, Any], graph: Graph, layers: Sequence[LayerInfo]) -> None:
        super().__init__()
        self.input_names: Tuple[str, ...] = tuple(graph.inputs)
        self.config_name: str = data.get("name", "") if isinstance(data.get("name"), str) else ""
        namer = _Namer(self, data)
        modules: List[nn.Module] = []
        paths: List[str] = []
        for node, info in zip(graph.nodes, layers):
            module = _make_module(node, info)
            if not node.trainable:
                for parameter in module.parameters():
                    parameter.requires_grad_(False)
            modules.append(module)
            paths.append(namer.place(node, module))
        for node, info in zip(graph.nodes, layers):
            if node.shares is not None:
                owner = layers[node.shares].result.params
                _tie(modules[node.index], modules[node.shares], [n for n in info.result.params if n in owner])
        # Each node's module is looked up by its path on every call (a few dict
        # lookups), so a module replaced in place (peft's LoRA layers, a user's
        # setattr) is the one that runs.
        self._plan: List[Tuple[Node, Tuple[str, ...], Dict[str, Any]]] = [
            (node, tuple(path.split(".")), {"need_weights": bool(node.args.get("need_weights", False))}
             if node.type == "MultiheadAttention" else {})
            for node, path in zip(graph.nodes, paths)]
        self._paths: Tuple[str, ...] = tuple(paths)
        self._output: Source = graph.output

    def _module_at(self, parts: Tuple[str, ...]) -> nn.Module:
        module: nn.Module = self
        try:
            for part in parts:
                module = module._modules[part]  # type: ignore[assignment]
        except KeyError:
            raise AttributeError(f"graph node module {'.'.join(parts)!r} is gone (a container replaced?); the "
                                 f"bridge calls each node's own module, found by its path") from None
        return module

    @property
    def _steps(self) -> List[Tuple[Node, nn.Module, Dict[str, Any]]]:
        """(node, the module now registered at its path, call kwargs) in graph order."""
        return [(node, self._module_at(parts), kwargs) for node, parts, kwargs in self._plan]

    def module_path(self, index: int) -> str:
        """The dotted name under which graph node ``index`` is registered."""
        return self._paths[index]

    def forward(self, *args: torch.Tensor, **named: torch.Tensor) -> torch.Tensor:
        inputs = self._bind(args, named)
        values: Dict[int, Tuple[torch.Tensor, ...]] = {}

        def value(source: Source) -> torch.Tensor:
            return inputs[source.input_name] if source.node is None else values[source.node][source.output]

        for node, parts, kwargs in self._plan:
            module = self._module_at(parts)
            call_args = _call_inputs(node, [value(s) for s in node.sources])
            if node.checkpoint and self.training and torch.is_grad_enabled():
                from torch.utils.checkpoint import checkpoint

                result = checkpoint(module, *call_args, use_reentrant=False, **kwargs)
            else:
                result = module(*call_args, **kwargs)
            values[node.index] = _unpack(node.type, result)
        return value(self._output)

    def _bind(self, args: Sequence[torch.Tensor], named: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        if len(args) > len(self.input_names):
            raise TypeError(f"the model takes {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                            f"got {len(args)}")
        bound = dict(zip(self.input_names, args))
        for name, tensor in named.items():
            if name not in self.input_names:
                raise TypeError(f"unknown input {name!r}; the inputs are {', '.join(self.input_names)}")
            if name in bound:
                raise TypeError(f"input {name!r} given twice")
            bound[name] = tensor
        missing = [n for n in self.input_names if n not in bound]
        if missing:
            raise TypeError(f"missing input(s): {', '.join(missing)}")
        return bound

    def extra_repr(self) -> str:
        return f"name={self.config_name!r}, inputs={list(self.input_names)}" if self.config_name else \
            f"inputs={list(self.input_names)}"


def build(config: Config, *, device: Optional[Union[str, torch.device]] = None,
          dtype: Optional[torch.dtype] = None) -> ParamlintModel:
    """Lint ``config`` (a path, YAML/JSON text or a parsed dict) and build its
    torch model.

    Raises ``ValueError`` listing the diagnostics when paramlint finds an
    error.  ``device`` (e.g. ``"meta"`` to count without allocating) is where
    the parameters are created.  ``dtype`` is the floating-point type of the
    parameters and buffers; by default the one of the config's floating-point
    inputs (``float32`` when there are none, or several).
    """
    data, graph, layers = _analyse(config)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = ParamlintModel(data, graph, layers)
    dtype = dtype or _input_float_dtype(graph)
    return model if dtype == torch.float32 else model.to(dtype)


def _input_float_dtype(graph: Graph) -> torch.dtype:
    dtypes = {spec.dtype for spec in graph.inputs.values() if spec.is_float}
    return getattr(torch, dtypes.pop()) if len(dtypes) == 1 else torch.float32


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    """(all, trainable) parameter values, shared ones once, as paramlint counts them."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)

