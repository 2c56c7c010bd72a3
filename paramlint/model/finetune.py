"""LoRA and DoRA adapters: which parameters exist and which are trained,
exactly as peft's ``get_peft_model(model, LoraConfig(...))`` leaves them.

peft (0.21) does three things in order, and so does :func:`apply_lora`:

1. every module whose dotted name matches ``target_modules`` (the name
   itself or a suffix after a dot; a string is a regular expression that
   must match the whole name; ``"all-linear"``: every ``Linear``, except a
   transformers model's output embeddings, ``output_embeddings``, which the
   Hugging Face front end names: peft keeps every Linear of a plain
   ``nn.Module``) gets ``lora_A``
   and ``lora_B`` (and DoRA's magnitude vector).  Modules named by
   ``modules_to_save`` (as a whole path component) are never targeted.  In
   a format-1 config a target may also be a layer type (``Linear``).
   Linear(in, out): A = r x in, B = out x r.  ConvNd(in, out, k, groups=g):
   A = ConvNd(in, r, k) (no groups), B = ConvNd(r, out, 1, groups=g).
   Embedding(n, d): A = r x n, B = d x r.  DoRA adds a magnitude of out
   (Linear, ConvNd) or d (Embedding) values.
2. every other parameter is frozen; ``bias: all`` then unfreezes every
   parameter named ``bias`` (in the whole model), ``bias: lora_only`` the
   biases of the adapted layers.
3. every module whose name ends with an entry of ``modules_to_save`` (a
   plain string suffix) is wrapped: the original is frozen and a deep copy
   (its own parameters, ties inside it kept, ties to outside cut) is
   trained.

``ensure_weight_tying`` first rewrites ``target_modules`` and
``modules_to_save`` as peft does, and ties what is trained of a tied head to
the embedding's (finetune_tying.py).

Parameters are identities here as in torch: a tied weight is one tensor.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple

from ..core.diagnostics import Finding
from ..core.record import Record
from .analysis import ShapeAnalysis
from .finetune_tying import is_tied_name, tie_adapters, tie_copies, tie_weights
from .layers.base import Shape

LORA_TYPES = ("Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding")
BIAS_MODES = ("none", "all", "lora_only")


class LoraSettings(Record):
    """``training.lora``: peft's LoraConfig fields that change what is stored."""

    __slots__ = ("r", "target_modules", "lora_alpha", "lora_dropout", "bias", "use_dora", "modules_to_save",
                 "exclude_modules", "ensure_weight_tying")

    def __init__(self, r: int = 8, target_modules: Any = None, lora_alpha: float = 8, lora_dropout: float = 0.0,
                 bias: str = "none", use_dora: bool = False, modules_to_save: Sequence[str] = (),
                 exclude_modules: Any = None, ensure_weight_tying: bool = False) -> None:
        self.r = r
        self.target_modules = target_modules
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.bias = bias
        self.use_dora = use_dora
        self.modules_to_save = tuple(modules_to_save)
        self.exclude_modules = exclude_modules
        self.ensure_weight_tying = ensure_weight_tying


def read_lora(section: Optional[Mapping[str, Any]]) -> Optional[LoraSettings]:
    if not section:
        return None
    return LoraSettings(
        r=section.get("r", 8), target_modules=section.get("target_modules"),
        lora_alpha=section.get("lora_alpha", 8), lora_dropout=section.get("lora_dropout", 0.0),
        bias=section.get("bias", "none"), use_dora=bool(section.get("use_dora", False)),
        modules_to_save=section.get("modules_to_save") or (), exclude_modules=section.get("exclude_modules"),
        ensure_weight_tying=bool(section.get("ensure_weight_tying", False)))


class Tensor:
    """One parameter tensor (an identity, as a torch Parameter is)."""

    __slots__ = ("shape", "trainable", "role", "layer", "name", "view_of")

    # role: "base" (the model's own), "adapter" (lora_A, lora_B, magnitude), "copy" (modules_to_save)
    # view_of: a Parameter of its own on another tensor's storage (ensure_weight_tying's tied adapters)
    def __init__(self, shape: Shape, trainable: bool, role: str, layer: int, name: str,
                 view_of: Optional["Tensor"] = None) -> None:
        self.shape = tuple(shape)
        self.trainable = trainable
        self.role = role
        self.layer = layer
        self.name = name
        self.view_of = view_of

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class FineTune(Record):
    """The parameters after peft: ``tensors`` each once; per layer, the
    tensors it uses in order (``layer_tensors``) and its adapters."""

    __slots__ = ("settings", "tensors", "layer_tensors", "adapted", "copies", "paths", "wrapped")

    # wrapped: layer -> adapters peft puts on its parameters (ParamWrapper: a Mixtral's experts)
    def __init__(self, settings: LoraSettings, tensors: List[Tensor], layer_tensors: Dict[int, List[Tensor]],
                 adapted: Dict[int, List[Tensor]], copies: Dict[int, List[Tensor]], paths: Sequence[str],
                 wrapped: Optional[Dict[int, List[Tensor]]] = None) -> None:
        self.settings = settings
        self.tensors = tensors
        self.layer_tensors = layer_tensors
        self.adapted = adapted
        self.copies = copies
        self.paths = tuple(paths)
        self.wrapped: Dict[int, List[Tensor]] = {} if wrapped is None else wrapped

    @property
    def params(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def trainable_params(self) -> int:
        return sum(t.numel for t in self.tensors if t.trainable)

    @property
    def adapter_params(self) -> int:
        return sum(t.numel for t in self.tensors if t.role == "adapter")

    @property
    def trainable_shapes(self) -> Tuple[Shape, ...]:
        return tuple(t.shape for t in self.tensors if t.trainable)

    def copy_of(self, layer: int, name: str) -> Optional[Tensor]:
        """The trained copy of ``layer``'s parameter ``name`` (modules_to_save), if it has one."""
        return next((t for t in self.copies.get(layer, ()) if t.name == name), None)

    def untied_copies(self) -> FrozenSet[int]:
        """Layers whose trained copy cuts a tie: the layer shares another's parameter, and its copy of
        it is not that layer's copy (peft's deep copy of a tied head without ensure_weight_tying)."""
        untied = set()
        for index in self.copies:
            for tensor in self.layer_tensors[index]:
                if tensor.role != "adapter" and tensor.layer != index:
                    mine = self.copy_of(index, tensor.name)
                    if mine is not None and mine is not self.copy_of(tensor.layer, tensor.name):
                        untied.add(index)
        return frozenset(untied)


class _Names:
    """peft's name matching, compiled once: a string is a regular expression that must match the whole
    name; a list matches a name equal to an entry or ending with ``.`` + an entry (and, in a format-1
    config, a layer type).  A list is a set of names here, and a name is looked up with each of its
    dotted suffixes: linear in the name's depth, not in the list's length (``"all-linear"`` on a
    70B model lists 560 layers)."""

    __slots__ = ("regex", "names")

    def __init__(self, target: Any) -> None:
        self.regex = re.compile(target) if isinstance(target, str) and target else None
        self.names = frozenset(t for t in target if isinstance(t, str)) if self.regex is None and target else \
            frozenset()

    def match(self, path: str, layer_type: Optional[str] = None) -> bool:
        if self.regex is not None:
            return self.regex.fullmatch(path) is not None
        names = self.names
        if not names:
            return False
        if path in names or layer_type in names:
            return True
        dot = path.find(".")
        while dot >= 0:
            if path[dot + 1:] in names:
                return True
            dot = path.find(".", dot + 1)
        return False


def _adapter_shapes(layer_type: str, weight: Shape, args: Mapping[str, Any], r: int,
                    dora: bool) -> List[Tuple[str, Shape]]:
    if layer_type == "Linear":
        out, inp = weight
        shapes = [("lora_A", (r, inp)), ("lora_B", (out, r))]
    elif layer_type == "Embedding":
        num, dim = weight
        shapes = [("lora_embedding_A", (r, num)), ("lora_embedding_B", (dim, r))]
        out = dim
    else:
        groups = args.get("groups", 1) if isinstance(args.get("groups", 1), int) else 1
        out, per_group, *kernel = weight
        ones = (1,) * len(kernel)
        shapes = [("lora_A", (r, per_group * groups, *kernel)), ("lora_B", (out, r // groups, *ones))]
    if dora:
        shapes.append(("lora_magnitude_vector", (out,)))
    return shapes


def _target_list(target: Any, shapes: ShapeAnalysis, paths: Sequence[str], output_embeddings: Optional[str]) -> Any:
    if isinstance(target, str) and target.lower() == "all-linear":
        return [p for p, info in zip(paths, shapes.layers) if info.node.type == "Linear" and p != output_embeddings]
    return target


def apply_lora(shapes: ShapeAnalysis, paths: Sequence[str], containers: Sequence[str],
               settings: LoraSettings, *, output_embeddings: Optional[str] = None,
               model_type: Optional[str] = None) -> Tuple[FineTune, List[Finding]]:
    """The parameters peft leaves for this model and LoraConfig; findings
    where peft would raise (nothing matched, a layer it cannot adapt).
    ``output_embeddings`` and ``model_type``: a transformers model's (see
    the module docstring and finetune_moe.py)."""
    where = ("training", "lora")
    # The model's own parameters; a tied one is its owner's tensor.
    layer_tensors: Dict[int, List[Tensor]] = {}
    own: Dict[Tuple[int, str], Tensor] = {}
    tensors: List[Tensor] = []
    for info in shapes.layers:
        node = info.node
        owner = shapes.layers[node.shares].result.params if node.shares is not None else {}
        used = []
        for name, shape in info.result.params.items():
            if name in owner:
                tensor = own[(node.shares, name)]  # type: ignore[index]
            else:
                tensor = own[(node.index, name)] = Tensor(shape, node.trainable, "base", node.index, name)
                tensors.append(tensor)
            used.append(tensor)
        layer_tensors[node.index] = used

    # 0. ensure_weight_tying: peft rewrites target_modules and modules_to_save (finetune_tying.py)
    tying, findings = tie_weights(settings, shapes, paths, model_type)
    to_save = tying.modules_to_save

    # 1. adapters
    target = _target_list(tying.target_modules, shapes, paths, output_embeddings)
    moe = None
    if model_type == "mixtral":
        from .finetune_moe import convert_mixtral_targets  # a Mixtral's LoRA only

        linear = [p for p, info in zip(paths, shapes.layers) if info.node.type == "Linear"]
        moe, moe_findings = convert_mixtral_targets(settings.target_modules, settings.r, linear, paths,
                                                    output_embeddings)
        findings += moe_findings
        if moe is not None:
            target = moe.modules + (["gate"] if "gate.weight" in moe.parameters else [])
            if moe.parameters and (settings.use_dora or settings.lora_dropout):
                findings.append(Finding("PL521", "peft wraps a Mixtral's router and experts as parameters "
                                                 "(ParamWrapper), which takes neither DoRA nor lora_dropout",
                                        where + ("target_modules",)))
    problems = _pattern_problems(settings, paths, where)
    if problems:
        return FineTune(settings, tensors, layer_tensors, {}, {}, paths), problems
    saved = [re.compile(rf"(^|.*\.){m}($|\..*)") for m in to_save]
    adapted: Dict[int, List[Tensor]] = {}
    targets, excluded = _Names(target), _Names(settings.exclude_modules)
    for info, path in zip(shapes.layers, paths):
        node = info.node
        if not is_tied_name(path, tying.targets):  # a tied module is adapted before anything is checked
            if not targets.match(path, node.type) or excluded.match(path):
                continue
            if any(p.match(path) for p in saved):
                continue
        if node.type not in LORA_TYPES:
            findings.append(Finding("PL521", f"LoRA target `{path}` is a {node.type}; peft adapts only "
                                             f"{', '.join(LORA_TYPES)} layers here", where + ("target_modules",)))
            continue
        groups = node.args.get("groups", 1)
        if node.type.startswith("Conv") and isinstance(groups, int) and settings.r % groups:
            findings.append(Finding("PL521", f"LoRA target `{path}` is a {node.type} with groups={groups}: peft "
                                             f"needs r ({settings.r}) divisible by groups", where + ("r",)))
            continue
        weight = info.result.params["weight"]
        new = [Tensor(shape, True, "adapter", node.index, name)
               for name, shape in _adapter_shapes(node.type, weight, node.args, settings.r, settings.use_dora)]
        adapted[node.index] = new
        tensors.extend(new)
        layer_tensors[node.index] = layer_tensors[node.index] + new
    on_params: Dict[int, List[Tensor]] = {}
    for info in shapes.layers if moe is not None and moe.parameters else ():
        if info.node.type == "Experts":
            from .finetune_moe import expert_adapter_shapes

            new = [Tensor(shape, True, "adapter", info.node.index, name)
                   for name, shape in expert_adapter_shapes(info.result.params, moe.parameters)]
            if new:
                on_params[info.node.index] = new
                tensors.extend(new)
                layer_tensors[info.node.index] = layer_tensors[info.node.index] + new
    findings += tie_adapters(tying, paths, adapted, where)
    if not adapted and not on_params and all(f.code == "PL522" for f in findings):  # peft raises: nothing to adapt
        findings.append(Finding("PL521", f"target_modules {_show(settings.target_modules)} matches no layer that "
                                         f"is not in modules_to_save (layer names: {_sample(paths)})",
                                where + ("target_modules",)))

    # 2. freeze what is not an adapter; biases by mode
    for tensor in tensors:
        if tensor.role != "adapter":
            tensor.trainable = False
    if settings.bias == "all":
        for tensor in tensors:
            if tensor.name == "bias":
                tensor.trainable = True
    elif settings.bias == "lora_only":
        for index in adapted:
            for tensor in layer_tensors[index]:
                if tensor.name == "bias" and tensor.role == "base":
                    tensor.trainable = True

    # 3. modules_to_save: a trained deep copy of each matching module
    copies: Dict[int, List[Tensor]] = {}
    wrapped: List[str] = []
    found = set()
    for key in _named_modules(paths, containers) if to_save else ():
        hit = [m for m in to_save if key.endswith(m)]
        if not hit or any(key.startswith(w + ".") for w in wrapped):
            continue
        found.update(hit)
        wrapped.append(key)
        memo: Dict[int, Tensor] = {}
        for index, path in enumerate(paths):
            if path != key and not path.startswith(key + "."):
                continue
            copied = []
            for tensor in layer_tensors[index]:
                tensor.trainable = False
                if id(tensor) not in memo:
                    memo[id(tensor)] = Tensor(tensor.shape, True, "copy", index, tensor.name)
                    tensors.append(memo[id(tensor)])
                copied.append(memo[id(tensor)])
            copies[index] = copied
    findings += tie_copies(tying, paths, layer_tensors, adapted, copies, where)
    missing = [m for m in to_save if m not in found]
    if missing:  # peft 0.21 ignores them silently
        findings.append(Finding("PL522", f"modules_to_save {_show(missing)} matches no module: peft ignores it "
                                         f"(layer names: {_sample(paths)})", where + ("modules_to_save",)))
    return FineTune(settings, tensors, layer_tensors, adapted, copies, paths, on_params), findings


def _pattern_problems(settings: LoraSettings, paths: Sequence[str], where: Tuple[str, ...]) -> List[Finding]:
    """PL202 for a regular expression peft would refuse, PL103 for one paramlint will not run
    (model/name_patterns.py)."""
    longest = max(map(len, paths), default=0)
    patterns = [("target_modules", settings.target_modules, 0), ("exclude_modules", settings.exclude_modules, 0)]
    patterns += [("modules_to_save", m, 2) for m in settings.modules_to_save]  # inside (^|.*\.)m($|\..*)
    findings = []
    for field, pattern, surrounding in patterns:
        if not isinstance(pattern, str) or not pattern or pattern.lower() == "all-linear":
            continue
        from .name_patterns import pattern_problem  # a regular expression only

        problem = pattern_problem(pattern, longest, surrounding)
        if problem:
            code = "PL202" if problem.startswith("is not a valid") else "PL103"
            findings.append(Finding(code, f"{field} {_show(pattern)} {problem}", where + (field,)))
    return findings


def _named_modules(paths: Sequence[str], containers: Sequence[str]) -> Iterator[str]:
    """Module names in torch's pre-order: a container before what it holds."""
    seen = set()
    ordered = sorted(containers, key=lambda c: c.count("."))
    children = set(containers)
    for path in paths:
        parts = path.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in children and prefix not in seen:
                seen.add(prefix)
                yield prefix
        yield path
    for container in ordered:  # containers that hold no layer
        if container not in seen:
            yield container


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "[" + ", ".join(map(str, value)) + "]"


def _sample(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:6])
    return shown + (", ..." if len(paths) > 6 else "")
