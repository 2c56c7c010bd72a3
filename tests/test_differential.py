"""Differential fuzzing: paramlint against torch on random graph configs.

For every config drawn by tests/strategies.py, paramlint's verdict (accept
or reject), parameter, trainable and buffer counts, output shape and FLOPs
must equal what torch does with the same config.  The torch side is
``Interpreter`` below, a small interpreter that knows nothing of paramlint's
analysis: it expands blocks itself and builds each torch module the moment
its input tensors exist, taking every inferable size (``in_features``,
``in_channels``, ...) from the real tensor.  A config torch cannot run is a
config paramlint must reject.  When paramlint accepts,
``paramlint.torch.build`` must also give a model with the same figures.

FLOPs are counted on the ``meta`` device (paramlint's convention,
tests/meta_flops.py); verdicts, counts and shapes come from a CPU run.
CI runs ``DEFAULT_EXAMPLES`` configs with a fixed seed; see docs/fuzzing.md
for the long run (``PARAMLINT_FUZZ_EXAMPLES``, ``PARAMLINT_FUZZ_SEED``).
Every disagreement found is kept below as a regular test.
"""
from __future__ import annotations

import ast
import functools
import dataclasses
import itertools
import operator
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import pytest
import yaml

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import meta_flops  # noqa: E402
import strategies  # noqa: E402
from paramlint.core.diagnostics import ERROR  # noqa: E402
from paramlint.lint import analyze_document  # noqa: E402
from paramlint.rules import severity_of  # noqa: E402
from paramlint.torch import build  # noqa: E402
from paramlint.validation.validator import SchemaValidator  # noqa: E402

DEFAULT_EXAMPLES = 1040
TOTAL = int(os.environ.get("PARAMLINT_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
SEED = int(os.environ.get("PARAMLINT_FUZZ_SEED", 20240611))
BATCH = 2
RESERVED = ("type", "name", "from", "repeat", "trainable", "shares", "checkpoint")
VALIDATOR = SchemaValidator()


# ---------------------------------------------------------------------------
# The torch side: an interpreter of the config, independent of paramlint.

class Rejected(Exception):
    """A rule of the format itself (not torch) that the config breaks."""


@dataclass(frozen=True)
class Value:
    tensor: Any
    batched: bool = True


@dataclass(frozen=True)
class Outcome:
    ok: bool
    params: int = 0
    trainable: int = 0
    buffers: int = 0
    shape: Tuple[int, ...] = ()
    flops: int = 0
    error: str = ""

    def figures(self) -> Tuple[int, int, int, Tuple[int, ...], int]:
        return self.params, self.trainable, self.buffers, self.shape, self.flops


def _arith(text: str, env: Mapping[str, Any]) -> int:
    """``${...}``: + - * // on integers and argument names, via Python's own parser."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            values = [value(a) for a in node.args]
            if node.func.id in ("max", "min") and len(values) >= 2:
                return (max if node.func.id == "max" else min)(values)
            if node.func.id == "make_divisible" and len(values) in (2, 3):
                return _make_divisible(*values)
            raise Rejected(f"not a function: {text}")
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.FloorDiv: int.__floordiv__}
            return ops[type(node.op)](value(node.left), value(node.right))
        raise Rejected(f"not arithmetic: {text}")

    return value(ast.parse(text, mode="eval").body)


def _make_divisible(v: float, divisor: int, min_value: Any = None) -> int:
    """torchvision's _make_divisible, as torchvision writes it."""
    if divisor < 1:
        raise Rejected("divisor")
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _substitute(value: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("${"):
        return _arith(value[2:-1], env)
    if isinstance(value, str) and value.startswith("$"):
        return env[value[1:]]
    if isinstance(value, list):
        return [_substitute(v, env) for v in value]
    return value


# Inferable constructor arguments: (argument, which input, how to read it off the tensor).
_CHANNELS = lambda t: t.shape[1]  # noqa: E731
_LAST = lambda t: t.shape[-1]  # noqa: E731
INFERRED = {
    "Conv": [("in_channels", 0, _CHANNELS)], "BatchNorm": [("num_features", 0, _CHANNELS)],
    "InstanceNorm": [("num_features", 0, _CHANNELS)], "GroupNorm": [("num_channels", 0, _CHANNELS)],
    "LayerNorm": [("normalized_shape", 0, lambda t: [t.shape[-1]])],
    "RMSNorm": [("normalized_shape", 0, lambda t: [t.shape[-1]])],
    "Linear": [("in_features", 0, _LAST)], "Bilinear": [("in1_features", 0, _LAST), ("in2_features", 1, _LAST)],
    "RNN": [("input_size", 0, _LAST)], "LSTM": [("input_size", 0, _LAST)], "GRU": [("input_size", 0, _LAST)],
    "MultiheadAttention": [("embed_dim", 0, _LAST), ("kdim", 1, _LAST), ("vdim", 2, _LAST)],
    "Transformer": [("d_model", 0, _LAST)],
}
BATCH_FIRST = ("RNN", "LSTM", "GRU", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
               "Transformer")


def make_inputs(config: Mapping[str, Any], batch: int) -> Dict[str, Any]:
    """A batch for each input: noise for float inputs, zeros (a valid id) for integer ones."""
    specs = config["inputs"] if "inputs" in config else {"input": config["input"]}
    tensors = {}
    for name, spec in specs.items():
        shape, dtype = (spec["shape"], spec.get("dtype", "float32")) if isinstance(spec, dict) else (spec, "float32")
        maker = torch.zeros if dtype.startswith("int") else torch.randn
        tensors[name] = maker(batch, *shape, dtype=getattr(torch, dtype))
    return tensors


def _inferred(layer_type: str) -> List[Tuple[str, int, Any]]:
    for prefix, rules in INFERRED.items():
        if layer_type.startswith(prefix):
            return rules
    return []


class Interpreter:
    def __init__(self, config: Mapping[str, Any], batch: int = BATCH) -> None:
        self.config = config
        self.blocks = config.get("blocks") or {}
        self.batch = batch
        self.modules: List[nn.Module] = []
        # The model takes the dtype of its floating-point inputs, as build() makes it.
        floats = {t.dtype for t in make_inputs(config, 1).values() if t.is_floating_point()}
        self.dtype = floats.pop() if len(floats) == 1 else torch.float32

    def run(self) -> Value:
        names = {name: (Value(tensor),) for name, tensor in make_inputs(self.config, self.batch).items()}
        first = next(iter(names.values()))
        return self.run_list(self.config["layers"], names, [first[0]], {}, True)[0]

    def run_list(self, entries: Sequence[Mapping[str, Any]], names: Dict[str, Tuple[Value, ...]],
                 previous: List[Value], env: Mapping[str, Any], trainable: bool) -> Tuple[Value, ...]:
        positions: List[Tuple[Value, ...]] = []
        modules: Dict[str, nn.Module] = {}
        out: Tuple[Value, ...] = tuple(previous)
        for entry in entries:
            if "from" in entry:
                refs = entry["from"] if isinstance(entry["from"], list) else [entry["from"]]
                sources = [self.resolve(r, names, positions) for r in refs]
            else:
                sources = list(previous)
            layer_trainable = trainable and entry.get("trainable", True) is not False
            repeat = _substitute(entry.get("repeat", 1), env)
            if repeat < 1:
                raise Rejected(f"repeat {repeat}")
            if str(entry["type"]).startswith("$"):  # type: $arg, a layer type or block passed in
                entry = dict(entry, type=_substitute(entry["type"], env))
            for _ in range(repeat):
                if entry["type"] in self.blocks:
                    out = self.run_block(entry, sources, env, layer_trainable)
                else:
                    out = self.run_layer(entry, sources, env, layer_trainable, modules)
                sources = [out[0]]
            positions.append(out)
            if "name" in entry:
                names[entry["name"]] = out
            previous = [out[0]]
        return out

    @staticmethod
    def resolve(ref: Any, names: Mapping[str, Tuple[Value, ...]], positions: Sequence[Tuple[Value, ...]]) -> Value:
        if isinstance(ref, int):
            return positions[ref][0]
        base, _, index = ref.rpartition(".")
        if base and index.isdigit():
            outputs = names[base]
            if int(index) >= len(outputs):
                raise Rejected(f"{base} has no output {index}")
            return outputs[int(index)]
        return names[ref][0]

    def run_block(self, entry: Mapping[str, Any], sources: List[Value], env: Mapping[str, Any],
                  trainable: bool) -> Tuple[Value, ...]:
        block = self.blocks[entry["type"]]
        inner_env = dict(block.get("args") or {})
        inner_env.update({k: _substitute(v, env) for k, v in entry.items() if k not in RESERVED})
        inputs = block.get("inputs") or ["input"]
        names = {name: (value,) for name, value in zip(inputs, sources)}
        last = self.run_list(block["layers"], names, [sources[0]], inner_env, trainable)
        return names[block["output"]] if "output" in block else last

    def run_layer(self, entry: Mapping[str, Any], sources: List[Value], env: Mapping[str, Any], trainable: bool,
                  scope: Dict[str, nn.Module]) -> Tuple[Value, ...]:
        kind = entry["type"]
        args = {k: _substitute(v, env) for k, v in entry.items() if k not in RESERVED}
        tensors = [v.tensor for v in sources]
        batched = kind not in ("Parameter", "Buffer") and any(v.batched for v in sources)
        forward_kwargs = {}
        if kind == "Parameter":
            module = nn.Module()
            module.weight = nn.Parameter(torch.randn(*args["shape"], dtype=self.dtype))
        elif kind == "Buffer":
            module = nn.Module()
            module.register_buffer("value", torch.randn(*args["shape"]), persistent=args.get("persistent", True))
        elif kind in OPERATIONS:
            module = nn.Module()
        else:
            if kind == "MultiheadAttention":
                forward_kwargs["need_weights"] = args.pop("need_weights", False)
                tensors = (tensors * 3)[:3] if len(tensors) == 1 else tensors + tensors[1:] * (3 - len(tensors))
            if kind in BATCH_FIRST:
                args.setdefault("batch_first", True)
            if _inferred(kind) and any(v.batched and v.tensor.dim() < 2 for v in sources):
                raise Rejected("a per-sample scalar: torch would read the batch as the features")
            for name, which, read in _inferred(kind):
                if args.get(name) is None:
                    args[name] = read(tensors[which])
            args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}  # as torch code writes them
            module = getattr(nn, kind)(**args).to(self.dtype)
        self._freeze_and_tie(module, entry, trainable, scope)
        self.modules.append(module)
        if "name" in entry:
            scope[entry["name"]] = module
        if kind == "Parameter":
            outputs: Tuple[Any, ...] = (module.weight,)
        elif kind == "Buffer":
            outputs = (module.value,)
        elif kind in OPERATIONS:
            result = OPERATIONS[kind](args, sources)
            outputs = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        else:
            outputs = _unpack(kind, module(*tensors, **forward_kwargs))
        values = tuple(Value(t, batched) for t in outputs)
        for value in values:
            if value.batched and (value.tensor.dim() == 0 or value.tensor.shape[0] != self.batch):
                raise Rejected("the batch moved out of dim 0")
            if value.tensor.numel() == 0:
                raise Rejected("an empty output")
        return values

    @staticmethod
    def _freeze_and_tie(module: nn.Module, entry: Mapping[str, Any], trainable: bool,
                        scope: Mapping[str, nn.Module]) -> None:
        if not trainable:
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        if "shares" not in entry:
            return
        owner = scope.get(entry["shares"])
        if owner is None:
            raise Rejected(f"shares: {entry['shares']} is not an earlier layer")
        mine, theirs = dict(module.named_parameters()), dict(owner.named_parameters())
        common = [n for n in mine if n in theirs]
        if not common or any(mine[n].shape != theirs[n].shape for n in common):
            raise Rejected("tied parameters do not match")
        for name in common:
            path, _, attr = name.rpartition(".")
            setattr(module.get_submodule(path), attr, theirs[name])


def _unpack(kind: str, result: Any) -> Tuple[Any, ...]:
    if isinstance(result, torch.Tensor):
        return (result,)
    if kind == "LSTM":
        return result[0], result[1][0].transpose(0, 1), result[1][1].transpose(0, 1)
    if kind in ("RNN", "GRU"):
        return result[0], result[1].transpose(0, 1)
    return tuple(t for t in result if t is not None)


def _concat(args: Mapping[str, Any], sources: Sequence[Value]) -> Any:
    batch = next(v.tensor.shape[0] for v in sources if v.batched)
    parts = []
    for v in sources:
        if not v.batched:
            rank = max(s.tensor.dim() for s in sources if s.batched)
            if v.tensor.dim() != rank or v.tensor.shape[0] != 1:
                raise Rejected("only an unbatched [1, ...] tensor is expanded over the batch")
            parts.append(v.tensor.expand(batch, *v.tensor.shape[1:]))
        else:
            parts.append(v.tensor)
    return torch.cat(parts, dim=args.get("dim", 1))


def _per_sample(value: Value, shape: Sequence[int]) -> Tuple[int, ...]:
    return (value.tensor.shape[0], *shape) if value.batched else tuple(shape)


def _dims(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def _aligned(sources: Sequence[Value]) -> Sequence[Value]:
    """Batched operands of a broadcast need one rank, or their batch dims would not line up (torch would
    broadcast the batch against another dim, and the result would depend on the batch size)."""
    if len({v.tensor.dim() for v in sources if v.batched}) > 1:
        raise Rejected("batched operands of different ranks")
    return sources


OPERATIONS = {
    "Add": lambda a, s: functools.reduce(operator.add, (v.tensor for v in _aligned(s))),
    "Multiply": lambda a, s: functools.reduce(operator.mul, (v.tensor for v in _aligned(s))),
    "Scale": lambda a, s: s[0].tensor * a["factor"],
    "Cast": lambda a, s: s[0].tensor.to(getattr(torch, a["dtype"])),
    "Concat": _concat,
    "Reshape": lambda a, s: s[0].tensor.reshape(_per_sample(s[0], a["shape"])),
    "View": lambda a, s: s[0].tensor.view(_per_sample(s[0], a["shape"])),
    "Permute": lambda a, s: s[0].tensor.permute(*_dims(a["dims"])),
    "Transpose": lambda a, s: s[0].tensor.transpose(a["dim0"], a["dim1"]),
    "Select": lambda a, s: s[0].tensor.select(a["dim"], a["index"]),
    "Slice": lambda a, s: s[0].tensor.narrow(a["dim"], 0, s[0].tensor.shape[a["dim"]])[
        (slice(None),) * (a["dim"] % s[0].tensor.dim()) + (slice(a.get("start"), a.get("end"), a.get("step", 1)),)],
    "Mean": lambda a, s: s[0].tensor.mean(dim=_dims(a["dim"]), keepdim=a.get("keepdim", False)),
    "Sum": lambda a, s: s[0].tensor.sum(dim=_dims(a["dim"]), keepdim=a.get("keepdim", False)),
    "MatMul": lambda a, s: torch.matmul(s[0].tensor, s[1].tensor),
    "Roll": lambda a, s: torch.roll(s[0].tensor, _dims(a["shifts"]), _dims(a["dims"])),
    "Chunk": lambda a, s: s[0].tensor.chunk(a["chunks"], a["dim"]),
    "Split": lambda a, s: s[0].tensor.split(a["split_size_or_sections"], a["dim"]),
    "StochasticDepth": lambda a, s: _drop_path(s[0].tensor, a["p"], a["mode"]),
    "ScaledDotProductAttention": lambda a, s: torch.nn.functional.scaled_dot_product_attention(
        *(v.tensor for v in _aligned(s)), dropout_p=a.get("dropout_p", 0.0), is_causal=a.get("is_causal", False),
        scale=a.get("scale"), enable_gqa=a.get("enable_gqa", False)),
}


def _drop_path(x: Any, p: float, mode: str) -> Any:
    """torchvision.ops.stochastic_depth in training mode."""
    if p == 0.0:
        return x
    noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim, dtype=x.dtype)
    noise = noise.bernoulli_(1 - p)
    return x * (noise.div_(1 - p) if p < 1 else noise)


def _count(modules: Sequence[nn.Module]) -> Tuple[int, int, int]:
    params = {id(p): p for m in modules for p in m.parameters()}
    buffers = sum(b.numel() for m in modules for b in m.buffers())
    return (sum(p.numel() for p in params.values()), sum(p.numel() for p in params.values() if p.requires_grad),
            buffers)


def _has_parameters(config: Mapping[str, Any]) -> bool:
    lists = [config["layers"]] + [block["layers"] for block in (config.get("blocks") or {}).values()]
    return any(entry.get("type") in ("Parameter", "Buffer") for entry in itertools.chain(*lists))


def _flops_per_sample(config: Mapping[str, Any], flops_at: Callable[[int], int]) -> int:
    """FLOPs for one sample: half the count at batch 2.

    Work on a Parameter does not grow with the batch, so with Parameters the
    count is taken at batch 1; where batch 1 fails (BatchNorm in training mode on 1 x 1 maps),
    from the counts a + b * N at batches 2 and 3: 2 * f(2) - f(3).
    """
    twice = flops_at(BATCH)
    if not _has_parameters(config):
        return twice // BATCH
    try:
        return flops_at(1)
    except Exception:  # noqa: BLE001 - any torch refusal at batch 1
        return 2 * twice - flops_at(BATCH + 1)


def _interpreted_flops(config: Mapping[str, Any], batch: int) -> int:
    """The interpreter's FLOPs, counted on ``meta`` (paramlint's convention, tests/meta_flops.py)."""
    return meta_flops.flops(lambda: Interpreter(config, batch), lambda: (),
                            run=lambda interpreter: interpreter.run().tensor).forward


# _verdict_mode: the CPU runs that judge a config (accept or reject, shapes)
# stay under FlopCounterMode, whose count is not used: a dispatch mode sends
# some kernels through their decompositions, with other output strides than
# a plain call (MaxPool1d on a channels-last input keeps that order under the
# mode, not in a plain CPU call), and paramlint's layout model was measured
# that way.  (The ``meta`` FLOP runs take views as reshapes: meta_flops.py.)


def torch_outcome(config: Mapping[str, Any]) -> Outcome:
    """What torch makes of the config: run it in training mode on a batch of 2."""
    interpreter = Interpreter(config)
    try:
        with warnings.catch_warnings(), FlopCounterMode(display=False):  # see _verdict_mode
            warnings.simplefilter("ignore")
            out = interpreter.run()
    except Exception as error:  # torch's rejection, or the format's (Rejected)
        return Outcome(False, error=f"{type(error).__name__}: {error}")
    params, trainable, buffers = _count(interpreter.modules)
    shape = tuple(out.tensor.shape[1:] if out.batched else out.tensor.shape)
    flops = _flops_per_sample(config, lambda n: _interpreted_flops(config, n))
    return Outcome(True, params, trainable, buffers, shape, flops)


def paramlint_outcome(config: Mapping[str, Any]) -> Outcome:
    try:
        findings, analysis = analyze_document(config, None, VALIDATOR)
    except Exception as error:  # a crash: the linter would report PL902, an internal error
        return Outcome(False, error=f"CRASH {type(error).__name__}: {error}")
    errors = [f for f in findings if (f.severity or severity_of(f.code)) == ERROR]
    if errors or analysis is None:
        return Outcome(False, error="; ".join(f"{f.code} {f.message}" for f in errors))
    shapes = analysis.shapes
    return Outcome(True, shapes.params, shapes.trainable_params, shapes.buffers, tuple(shapes.output.shape),
                   shapes.flops)


def built_outcome(config: Mapping[str, Any]) -> Outcome:
    """paramlint.torch.build's model, run like the interpreter's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's construction warnings (nested tensors, dropout)
        model = build(config)
    model.train()
    shapes: List[Tuple[int, ...]] = []

    def flops_at(batch: int) -> int:
        with warnings.catch_warnings(), FlopCounterMode(display=False):  # see _verdict_mode
            warnings.simplefilter("ignore")
            shapes.append(tuple(model(*make_inputs(config, batch).values()).shape))
        return meta_flops.flops(lambda: build(config), lambda: list(make_inputs(config, batch).values())).forward

    flops = _flops_per_sample(config, flops_at)
    params = list(model.parameters())
    # An output derived from Parameters only has no batch dim: its shape does not change with the batch.
    shape = shapes[0] if len(shapes) > 1 and shapes[0] == shapes[-1] else shapes[0][1:]
    return Outcome(True, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                   sum(b.numel() for b in model.buffers()), shape, flops)


# Disagreements already reported, each with a regression test marked xfail(strict=True) below: the
# fuzz runs skip them (so that they keep exploring) until the fix lands and the entry is removed.
def check(config: Mapping[str, Any]) -> None:
    """paramlint and torch agree on the config; so does the model build() makes."""
    ours, theirs = paramlint_outcome(config), torch_outcome(config)
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
    assert not ours.error.startswith("CRASH"), f"paramlint crashed ({ours.error}):\n{text}"
    assert ours.ok == theirs.ok, (f"paramlint {'accepts' if ours.ok else 'rejects'} ({ours.error}), torch "
                                  f"{'accepts' if theirs.ok else 'rejects'} ({theirs.error}):\n{text}")
    if ours.ok:
        assert ours.figures() == theirs.figures(), f"(params, trainable, buffers, shape, flops):\n{text}"
        assert built_outcome(config).figures() == ours.figures(), f"build() differs:\n{text}"


# ---------------------------------------------------------------------------
# The fuzz runs: the examples are shared out between the graph families.

SHARES = {"cnn": 0.35, "mlp": 0.2, "sequence": 0.2, "blocks": 0.15, "layout": 0.1}


def _fuzz(family: str) -> Any:
    return settings(max_examples=max(1, round(TOTAL * SHARES[family])), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@seed(SEED)
@_fuzz("cnn")
@given(strategies.cnn_graphs())
def test_cnn_graphs_agree_with_torch(config):
    check(config)


@seed(SEED + 1)
@_fuzz("mlp")
@given(strategies.mlp_graphs())
def test_mlp_graphs_agree_with_torch(config):
    check(config)


@seed(SEED + 2)
@_fuzz("sequence")
@given(strategies.sequence_graphs())
def test_sequence_graphs_agree_with_torch(config):
    check(config)


@seed(SEED + 3)
@_fuzz("blocks")
@given(strategies.block_graphs())
def test_block_graphs_agree_with_torch(config):
    check(config)


@seed(SEED + 4)
@_fuzz("layout")
@given(strategies.layout_graphs())
def test_layout_graphs_agree_with_torch(config):
    check(config)


# ---------------------------------------------------------------------------
# Disagreements found by the fuzzer, kept as regular tests.

def _yaml(text: str) -> Dict[str, Any]:
    return yaml.safe_load(text)


def test_check_notices_any_difference(monkeypatch):
    config = _yaml("{paramlint: 1, input: [3, 6, 6], layers: [{type: Conv2d, out_channels: 2, kernel_size: 3}]}")
    check(config)
    real = paramlint_outcome
    for field, value in (("params", 1), ("trainable", 1), ("buffers", 1), ("flops", 2), ("shape", (2, 4, 5))):
        def off(c: Mapping[str, Any], field: str = field, value: Any = value) -> Outcome:
            outcome = real(c)
            return dataclasses.replace(outcome, **{field: value if field == "shape" else
                                                   getattr(outcome, field) + value})
        monkeypatch.setattr(sys.modules[__name__], "paramlint_outcome", off)
        with pytest.raises(AssertionError):
            check(config)


def test_interpreter_rejects_what_torch_rejects():
    check(_yaml("{paramlint: 1, input: [3, 4, 4], layers: [{type: Conv2d, out_channels: 2, kernel_size: 5}]}"))
    check(_yaml("{paramlint: 1, input: [8], layers: [{type: Linear, in_features: 9, out_features: 2}]}"))


@pytest.mark.parametrize("config", [
    # batched operands of different ranks: torch broadcasts the batch against a feature dim
    "{paramlint: 1, input: [7], layers: [{type: Unflatten, dim: 1, unflattened_size: [1, 7]}, "
    "{type: Add, from: [0, input]}]}",
    # a per-sample scalar into Linear: torch would take the batch for the features
    "{paramlint: 1, input: [4], layers: [{type: Sum, dim: 1}, {type: Linear, out_features: 2}]}",
    # attention on an unbatched key/value: FLOPs as at batch 1
    "{paramlint: 1, input: [2, 3, 4], layers: [{type: Parameter, shape: [1, 2, 5, 4], name: kv}, "
    "{type: ScaledDotProductAttention, from: [input, kv, kv]}]}",
    # work on a Parameter alone does not grow with the batch
    "{paramlint: 1, input: [4], layers: [{type: Parameter, shape: [2, 3]}, {type: Linear, out_features: 5}]}",
    # a per-axis scale_factor, which nn.Upsample takes only as a tuple
    "{paramlint: 1, input: [2, 3, 3, 3], layers: [{type: Upsample, scale_factor: [1.5, 2, 0.7], "
    "mode: nearest-exact}]}",
    # repeat 0 is not allowed by the format
    "{paramlint: 1, input: [4], blocks: {B: {args: {n: 1}, layers: [{type: ReLU, repeat: '${n - 1}'}]}}, "
    "layers: [{type: B}]}",
    # a float Parameter takes the model's dtype: as an attn_mask and as a MatMul operand
    "{paramlint: 1, input: {shape: [1, 1], dtype: float64}, layers: [{type: Parameter, shape: [1, 1], name: m}, "
    "{type: ScaledDotProductAttention, from: [input, input, input, m]}]}",
    "{paramlint: 1, input: {shape: [1, 1], dtype: float64}, layers: [{type: GRU, hidden_size: 1, name: g}, "
    "{type: Parameter, shape: [1, 1], name: w}, {type: MatMul, from: [w, g]}]}",
])
def test_cases_the_fuzzer_taught_the_harness(config):
    check(_yaml(config))


def test_conv_replicate_padding_may_exceed_the_input():
    check(_yaml("""
        paramlint: 1
        input: [1, 1, 5]
        layers:
          - {type: Conv2d, out_channels: 1, kernel_size: 1, padding: 2, padding_mode: replicate}
    """))


@pytest.mark.parametrize("layers", [
    "[{type: Transpose, dim0: 1, dim1: 2}, {type: View, shape: [12]}]",
    "[{type: Permute, dims: [0, 2, 1]}, {type: View, shape: [12]}]",
    "[{type: Slice, dim: 2, start: 1}, {type: View, shape: [9]}]",
])
def test_view_needs_a_viewable_input(layers):
    check(_yaml(f"{{paramlint: 1, input: [3, 4], layers: {layers}}}"))


def test_view_of_a_viewable_input():
    check(_yaml("{paramlint: 1, input: [3, 4, 5], layers: [{type: Permute, dims: [0, 1, 3, 2]}, "
                "{type: View, shape: [3, 5, 2, 2]}]}"))
    check(_yaml("{paramlint: 1, input: [6, 4], layers: [{type: Select, dim: 2, index: 1}, "
                "{type: View, shape: [3, 2]}]}"))


def test_bilinear_needs_two_batched_inputs():
    check(_yaml("{paramlint: 1, input: [1], layers: [{type: Parameter, shape: [1], name: p}, "
                "{type: ReLU, from: input, name: r}, {type: Bilinear, from: [r, p], out_features: 1}]}"))


@pytest.mark.parametrize("layers", [
    # pixel shuffles keep channels-last, even by a factor of 1
    "[{type: Permute, dims: [0, 3, 1, 2]}, {type: PixelShuffle, upscale_factor: 1}, {type: View, shape: [-1]}]",
    "[{type: Permute, dims: [0, 3, 1, 2]}, {type: PixelUnshuffle, downscale_factor: 1}, {type: View, shape: [-1]}]",
    # MaxPool1d pools as a 2-d pool on x.unsqueeze(-2) here, and keeps the input's channels-last order
    "[{type: Flatten}, {type: Unflatten, dim: 1, unflattened_size: [3, 15]}, {type: Permute, dims: [0, 2, 1]}, "
    "{type: MaxPool1d, kernel_size: 1}, {type: View, shape: [-1]}]",
])
def test_layouts_the_layout_fuzzer_found(layers):
    check(_yaml(f"{{paramlint: 1, input: [5, 1, 9], layers: {layers}}}"))


def test_log_sigmoid_output_is_contiguous():
    check(_yaml("{paramlint: 1, input: [2, 2], layers: [{type: Permute, dims: [0, 2, 1]}, {type: LogSigmoid}, "
                "{type: View, shape: [-1]}]}"))


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_bilinear_inputs_share_one_dtype(dtype):
    check(_yaml(f"{{paramlint: 1, inputs: {{a: [4], b: {{shape: [3], dtype: {dtype}}}}}, "
                f"layers: [{{type: Bilinear, from: [a, b], out_features: 2}}]}}"))


@pytest.mark.parametrize("layer", ["{type: ReLU}", "{type: MaxPool2d, kernel_size: 2}",
                                   "{type: Upsample, scale_factor: 2}"])
def test_integer_tensors_through_layers_torch_accepts(layer):
    """A documented departure (docs/format.md): integer tensors are ids, so arithmetic layers refuse them
    with PL404 even where torch would run them."""
    config = _yaml(f"{{paramlint: 1, input: {{shape: [1, 4, 4], dtype: int64}}, layers: [{layer}]}}")
    ours, theirs = paramlint_outcome(config), torch_outcome(config)
    assert theirs.ok and not ours.ok and "PL404" in ours.error, (ours, theirs)


@pytest.mark.parametrize("merge", ["Add", "Multiply"])
def test_an_unbatched_tensor_of_higher_rank_cannot_move_the_batch(merge):
    check(_yaml(f"{{paramlint: 1, input: [3, 4], layers: [{{type: Parameter, shape: [1, 1, 1, 4], name: p}}, "
                f"{{type: {merge}, from: [input, p]}}]}}"))
