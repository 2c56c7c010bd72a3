"""parse_model without torch: Ultralytics YAML rows -> format-1 layers, with every generated layer mapped back
to the row it came from."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ...core.diagnostics import ConfigPath, Finding
from ...core.suggest import did_you_mean
from . import modules as M
from .builder import Builder, Tensor, TooManyLayers
from .rows import ARGS, KNOWN_UNSUPPORTED, NAMED_VALUES, bind_args, resolve_strings
from .scaling import Scale, depth_gain

# modules whose output channels are args[0] scaled by width (Classify's stays nc), parse_model's base_modules
_BASE = ("Conv", "DWConv", "Bottleneck", "C2f", "C3", "C3k2", "C2PSA", "SPPF", "Classify")
_REPEAT = ("C2f", "C3", "C3k2", "C2PSA")  # modules that take the repeats as an argument
_HEADS = ("Detect", "Segment", "Pose")
MAX_REPEATS = 1000  # keeps expansion bounded on hostile input; real models repeat a block at most a dozen times
_ACTIVATIONS = {"nn.SiLU()": "SiLU", "nn.ReLU()": "ReLU", "nn.LeakyReLU()": "LeakyReLU", "nn.Hardswish()": "Hardswish",
                "nn.Mish()": "Mish", "nn.GELU()": "GELU", "nn.ReLU6()": "ReLU6", "nn.Sigmoid()": "Sigmoid"}


class Converted:
    """The format-1 layers, the YAML row of each, the model's largest stride, and the leaf modules Ultralytics'
    model has (what ``model.info()`` calls layers)."""

    __slots__ = ("layers", "rows", "max_stride", "leaf_modules")

    def __init__(self, layers: List[Dict[str, Any]], rows: List[ConfigPath], max_stride: int,
                 leaf_modules: int) -> None:
        self.layers = layers
        self.rows = rows
        self.max_stride = max_stride
        self.leaf_modules = leaf_modules


def row_paths(data: Mapping[str, Any]) -> List[ConfigPath]:
    paths: List[ConfigPath] = []
    for section in ("backbone", "head"):
        rows = data.get(section)
        if isinstance(rows, list):
            paths.extend((section, i) for i in range(len(rows)))
    return paths


def convert(data: Mapping[str, Any], scale: Scale, imgsz: Tuple[int, int],
            channels: int = 3) -> Tuple[Optional[Converted], List[Finding]]:
    """Expand every row; on the first row that Ultralytics would refuse, stop with its finding."""
    act = data.get("activation")
    act_type = "SiLU"
    if act is not None:
        if act not in _ACTIVATIONS:
            return None, [Finding("PL703", f"activation {act!r} is not one paramlint knows "
                                           f"({', '.join(_ACTIVATIONS)})", ("activation",))]
        act_type = _ACTIVATIONS[act]
    names = {key: data.get(key) for key in NAMED_VALUES}
    names.update(reg_max=data.get("reg_max", 16), depth=scale.depth, width=scale.width,
                 max_channels=scale.max_channels, scale=scale.letter, kpt_shape=data.get("kpt_shape", 1.0))
    builder = Builder()
    cx = M.Context(builder, act_type)
    image = Tensor("input", (channels, imgsz[0], imgsz[1]))
    outputs: List[Tensor] = []
    legacy = True
    max_stride = 1
    paths = row_paths(data)
    for i, path in enumerate(paths):
        row = data[path[0]][path[1]]
        builder.row = path
        if not isinstance(row, list) or len(row) != 4:
            return None, [Finding("PL703", f"a row is [from, repeats, module, args], got {row!r}", path)]
        f, n, module, args = row
        problem = _check_from(f, i, path)
        if problem:
            return None, [problem]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_REPEATS:
            return None, [Finding("PL703", f"repeats must be an integer from 1 to {MAX_REPEATS:,}, got {n!r}",
                                  path + (1,))]
        if not isinstance(module, str) or module not in ARGS:
            return None, [_unknown_module(module, path)]
        if not isinstance(args, list):
            return None, [Finding("PL703", f"the arguments of {module} must be a list, got {args!r}", path + (3,))]
        n = depth_gain(n, scale.depth)
        if n > 1 and (module == "Concat" or module in _HEADS):
            return None, [Finding("PL703", f"{module} cannot be repeated ({n} after the depth gain): Ultralytics chains "
                                           f"the copies and the "
                                           f"second receives one tensor, not the list it reads", path + (1,))]
        takes_list = module == "Concat" or module in _HEADS
        if isinstance(f, list) != takes_list:
            return None, [Finding("PL703", f"{module} reads {'a list of rows' if takes_list else 'one row'}: `from` "
                                           f"must be {'a list like [-1, 6]' if takes_list else 'an integer'}, "
                                           f"got {f!r}", path + (0,))]
        resolved = resolve_strings(args, names)
        bound, bad = bind_args(module, resolved)
        if bound is not None and module == "SPPF":
            bound["legacy"] = len(args) <= 2  # rows older than YOLO26's unactivated cv1
        if bad is not None:
            index, message = bad
            return None, [Finding("PL703", message, path + (3, index) if 0 <= index < len(args) else path + (3,))]
        sources = [(image if i == 0 else outputs[-1]) if j == -1 else outputs[j] for j in
                   (f if isinstance(f, list) else [f])]
        x = sources[0]
        prefix = f"m{i}"
        if module in ("C3k2",):
            legacy = False
            if scale.letter in ("m", "l", "x"):
                bound["c3k"] = True
        try:
            if module == "Concat":
                problem = _check_concat(sources, f, bound["dimension"], paths, path)
                if problem:
                    return None, [problem]
                y = builder.concat(prefix, sources, bound["dimension"], module=True)
            elif module in _HEADS:
                y = _head(cx, prefix, module, sources, bound, names, legacy, scale)
                max_stride = max([max_stride] + [imgsz[0] // s.shape[1] for s in sources if len(s.shape) == 3])
            elif module == "nn.Upsample":
                y = _upsample(builder, prefix, x, bound, n)
            else:
                y = _base(cx, prefix, module, x, bound, n, scale)
        except _RowError as error:
            return None, [Finding(error.code, error.message, path)]
        except TooManyLayers as error:
            return None, [Finding("PL103", str(error), path)]
        outputs.append(y)
        if len(y.shape) == 3:
            max_stride = max(max_stride, imgsz[0] // max(y.shape[1], 1))
    if not outputs:
        return None, [Finding("PL703", "the model has no rows in `backbone` and `head`", ())]
    return Converted(builder.layers, builder.rows, max_stride, builder.leaf_modules + builder.shared_activation), []


class _RowError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _check_from(f: Any, i: int, path: ConfigPath) -> Optional[Finding]:
    indices = f if isinstance(f, list) else [f]
    if not indices or not all(isinstance(j, int) and not isinstance(j, bool) for j in indices):
        return Finding("PL703", f"`from` must be an integer or a list of integers, got {f!r}", path + (0,))
    for position, j in enumerate(indices):
        where = path + (0, position) if isinstance(f, list) else path + (0,)
        if j == -1:
            continue
        if j >= i:
            return Finding("PL702", f"`from` {j} points {'at this row' if j == i else 'forward'}: row {i} can read "
                                    f"rows 0..{i - 1} (or -1, the previous one)" if i else
                           f"`from` {j}: the first row can only read the input (-1)", where)
        if j < -i:
            return Finding("PL702", f"`from` {j} is out of range: row {i} has {i} rows before it "
                                    f"({-i}..{i - 1}, or -1)", where)
    return None


def _unknown_module(module: Any, path: ConfigPath) -> Finding:
    if isinstance(module, str) and module in KNOWN_UNSUPPORTED:
        return Finding("PL701", f"the Ultralytics module {module} is not supported by paramlint yet "
                                f"(supported: {', '.join(ARGS)})", path + (2,))
    return Finding("PL701", f"unknown module {module!r}{did_you_mean(str(module), list(ARGS) + list(KNOWN_UNSUPPORTED))}",
                   path + (2,))


def _row_label(paths: Sequence[ConfigPath], index: int) -> str:
    section, position = paths[index]
    return f"row {index} (`{section}[{position}]`)"


def _check_concat(sources: Sequence[Tensor], f: Any, dim: int, paths: Sequence[ConfigPath],
                  path: ConfigPath) -> Optional[Finding]:
    indices = f if isinstance(f, list) else [f]
    row = paths.index(path)
    rank = len(sources[0].shape)
    if not -rank - 1 <= dim <= rank or dim == 0 or dim == -rank - 1:
        return Finding("PL703", f"Concat dimension {dim} is out of range for tensors [batch, {rank} dims]", path + (3,))
    axis = dim - 1 if dim > 0 else rank + dim
    first = sources[0]
    for j, other in zip(indices[1:], sources[1:]):
        if len(other.shape) != rank or any(a != b for k, (a, b) in enumerate(zip(first.shape, other.shape))
                                           if k != axis):
            a_row = row - 1 if indices[0] == -1 else indices[0] % row
            b_row = row - 1 if j == -1 else j % row
            return Finding("PL704", f"Concat of tensors of different sizes: {_row_label(paths, a_row)} gives "
                                    f"{list(first.shape)} and {_row_label(paths, b_row)} gives {list(other.shape)} "
                                    f"(only dim {dim} may differ)", path + (0,))
    return None


def _upsample(b: Builder, p: str, x: Tensor, args: Mapping[str, Any], n: int) -> Tensor:
    if args["size"] is None and args["scale_factor"] is None:
        raise _RowError("PL703", "nn.Upsample needs a size or a scale_factor")
    for k in range(n):
        if args["size"] is not None:
            h, w = (args["size"], args["size"]) if isinstance(args["size"], int) else args["size"]
        else:
            h, w = int(x.shape[1] * args["scale_factor"]), int(x.shape[2] * args["scale_factor"])
        x = b.add(f"{p}-{k}" if n > 1 else p, "Upsample", x, (x.channels, h, w), module=True, size=args["size"],
                  scale_factor=args["scale_factor"], mode=args["mode"])
    return x


def _base(cx: M.Context, p: str, module: str, x: Tensor, a: Dict[str, Any], n: int, scale: Scale) -> Tensor:
    c2 = a["c2"] if module == "Classify" else scale.channels(a["c2"])
    if module in _REPEAT:
        return _one(cx, p, module, x, a, c2, n)
    if n == 1:
        return _one(cx, p, module, x, a, c2, 1)
    c1 = x.channels
    for k in range(n):  # nn.Sequential of n copies, each built for c1 input channels
        if x.channels != c1:
            raise _RowError("PL401", f"{module} repeated {n} times: each copy is built for {c1} input channels, but "
                                     f"copy {k} receives {x.channels} from copy {k - 1}")
        x = _one(cx, f"{p}-{k}", module, x, a, c2, 1)
    return x


def _one(cx: M.Context, p: str, module: str, x: Tensor, a: Dict[str, Any], c2: int, n: int) -> Tensor:
    if module == "Conv":
        return M.conv(cx, p, x, c2, a["k"], a["s"], a["p"], a["g"], a["d"], a["act"])
    if module == "DWConv":
        return M.dwconv(cx, p, x, c2, a["k"], a["s"], a["d"], a["act"])
    if module == "Bottleneck":
        return M.bottleneck(cx, p, x, c2, a["shortcut"], a["g"], tuple(a["k"]), a["e"])
    if module == "C2f":
        return M.c2f(cx, p, x, c2, n, a["shortcut"], a["g"], a["e"])
    if module == "C3":
        return M.c3(cx, p, x, c2, n, a["shortcut"], a["g"], a["e"])
    if module == "C3k2":
        return M.c3k2(cx, p, x, c2, n, a["c3k"], a["e"], a["attn"], a["g"], a["shortcut"])
    if module == "C2PSA":
        if x.channels != c2:
            raise _RowError("PL401", f"C2PSA keeps its channels: it receives {x.channels} but is asked for {c2} "
                                     f"(Ultralytics asserts c1 == c2)")
        return M.c2psa(cx, p, x, n, a["e"])
    if module == "SPPF":
        return M.sppf(cx, p, x, c2, a["k"], a["n"], a["shortcut"], legacy_act=a["legacy"])
    if module == "Classify":
        return M.classify(cx, p, x, c2, a["k"], a["s"], a["p"], a["g"])
    raise AssertionError(module)


def _head(cx: M.Context, p: str, module: str, xs: Sequence[Tensor], a: Dict[str, Any], names: Mapping[str, Any],
          legacy: bool, scale: Scale) -> Tensor:
    reg_max = names["reg_max"]
    if names.get("end2end"):
        raise _RowError("PL701", f"{module} with `end2end: true` is not supported by paramlint yet")
    if module == "Segment":  # the prototype channels scale like a base module's output
        return M.detect(cx, p, xs, a["nc"], reg_max, legacy=legacy, extra="segment", nm=a["nm"],
                        npr=scale.channels(a["npr"]))
    if module == "Pose":
        return M.detect(cx, p, xs, a["nc"], reg_max, legacy=legacy, extra="pose", kpt=tuple(a["kpt_shape"]))
    return M.detect(cx, p, xs, a["nc"], reg_max, legacy=legacy)
