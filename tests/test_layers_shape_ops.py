"""Shape operations against torch: tensor methods (through small nn.Module
wrappers registered in oracle.TORCH_BUILDERS), Upsample, shuffles, padding."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from family_checks import check_case, check_departure, ours

torch = pytest.importorskip("torch")


class _Method(torch.nn.Module):
    """A tensor method applied to the batch, as paramlint's op layers mean it."""

    def __init__(self, fn, **kwargs) -> None:
        super().__init__()
        self.fn, self.kwargs = fn, kwargs

    def forward(self, x):
        return self.fn(x, **self.kwargs)


def _reshape(x, shape):
    return x.reshape(x.shape[0], *shape)


def _view(x, shape):
    return x.view(x.shape[0], *shape)


def _slice(x, dim, start=None, end=None, step=1):
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, end, step)
    return x[tuple(index)]


oracle.TORCH_BUILDERS.update({
    "Reshape": lambda **kw: _Method(_reshape, **kw),
    "View": lambda **kw: _Method(_view, **kw),
    "Permute": lambda dims: _Method(lambda x, dims: x.permute(dims), dims=dims),
    "Transpose": lambda dim0, dim1: _Method(torch.transpose, dim0=dim0, dim1=dim1),
    "Select": lambda dim, index: _Method(torch.select, dim=dim, index=index),
    "Slice": lambda **kw: _Method(_slice, **kw),
    "Mean": lambda dim, keepdim=False: _Method(torch.mean, dim=dim, keepdim=keepdim),
    "Sum": lambda dim, keepdim=False: _Method(torch.sum, dim=dim, keepdim=keepdim),
})

CASES = [
    # (type, args, input shape per sample)
    ("Reshape", {"shape": [192]}, [12, 4, 4]),
    ("Reshape", {"shape": [-1]}, [12, 4, 4]),
    ("Reshape", {"shape": [4, -1, 3]}, [12, 4, 4]),
    ("Reshape", {"shape": [5, -1]}, [12, 4, 4]),  # rejected: 192 % 5
    ("Reshape", {"shape": [-1, -1]}, [12, 4, 4]),  # rejected: two -1
    ("Reshape", {"shape": [100]}, [12, 4, 4]),  # rejected: 100 != 192
    ("Reshape", {"shape": [0, -1]}, [12]),  # rejected: kind
    ("View", {"shape": [6, 2]}, [12]),
    ("View", {"shape": [7, 2]}, [12]),  # rejected
    ("Permute", {"dims": [0, 2, 1]}, [3, 4]),
    ("Permute", {"dims": [0, -1, 1, 2]}, [3, 4, 5]),
    ("Permute", {"dims": [0, 1]}, [3, 4]),  # rejected: too few
    ("Permute", {"dims": [0, 1, 1]}, [3, 4]),  # rejected: repeated
    ("Permute", {"dims": [0, 1, 3]}, [3, 4]),  # rejected: out of range
    ("Transpose", {"dim0": 1, "dim1": 2}, [3, 4]),
    ("Transpose", {"dim0": -1, "dim1": -2}, [3, 4, 5]),
    ("Transpose", {"dim0": 1, "dim1": 1}, [3, 4]),
    ("Transpose", {"dim0": 1, "dim1": 3}, [3, 4]),  # rejected: out of range
    ("Select", {"dim": 1, "index": 0}, [3, 4]),
    ("Select", {"dim": -1, "index": -4}, [3, 4]),
    ("Select", {"dim": 1, "index": 3}, [3, 4]),  # rejected: out of range
    ("Select", {"dim": 2, "index": -5}, [3, 4]),  # rejected
    ("Select", {"dim": 1, "index": 0}, [3]),
    ("Slice", {"dim": 1, "start": 1}, [5, 4]),
    ("Slice", {"dim": 1, "start": -2}, [5, 4]),
    ("Slice", {"dim": -1, "end": -1, "step": 2}, [5, 4]),
    ("Slice", {"dim": 2, "start": -100, "end": 100}, [5, 4]),
    ("Slice", {"dim": 1, "start": 1, "end": 10, "step": 3}, [5, 4]),
    ("Slice", {"dim": 1, "start": 3, "end": 1}, [5, 4]),  # empty: torch gives size 0, paramlint PL403
    ("Slice", {"dim": 1, "step": 0}, [5, 4]),  # rejected: step
    ("Mean", {"dim": [2, 3]}, [64, 7, 7]),
    ("Mean", {"dim": -1, "keepdim": True}, [64, 7, 7]),
    ("Mean", {"dim": [1, -3]}, [64, 7, 7]),  # rejected: the same dim twice
    ("Mean", {"dim": 4}, [64, 7, 7]),  # rejected: out of range
    ("Mean", {"dim": 1}, [64]),
    ("Sum", {"dim": [1, 2], "keepdim": True}, [3, 4]),
    ("Sum", {"dim": 1}, [3, 4]),
    ("Mean", {"keepdim": True}, [3, 4]),  # rejected: dim required
    ("Upsample", {"scale_factor": 2}, [3, 8, 8]),
    ("Upsample", {"scale_factor": 1.5}, [3, 5]),
    ("Upsample", {"scale_factor": 0.3}, [3, 5]),
    ("Upsample", {"scale_factor": 0.1}, [3, 5]),  # rejected: output 0
    ("Upsample", {"scale_factor": [2.0, 3.0]}, [3, 5, 5]),
    ("Upsample", {"scale_factor": [2.0, 3.0]}, [3, 5]),  # rejected: 2 values, 1 spatial dim
    ("Upsample", {"size": [2, 3]}, [3, 5, 5]),
    ("Upsample", {"size": 7}, [3, 5, 5, 5]),
    ("Upsample", {"size": [2, 3]}, [3, 5]),  # rejected
    ("Upsample", {"size": 4, "scale_factor": 2}, [3, 5]),  # rejected: both
    ("Upsample", {}, [3, 5]),  # rejected: neither
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, [3, 5, 5]),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, [3, 5, 5]),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, [3, 5]),  # rejected: rank
    ("Upsample", {"scale_factor": 2, "mode": "linear"}, [3, 5, 5]),  # rejected: rank
    ("Upsample", {"scale_factor": 2.5, "mode": "trilinear"}, [3, 5, 3, 3]),
    ("Upsample", {"scale_factor": 2, "mode": "bicubic"}, [3, 5, 5]),
    ("Upsample", {"scale_factor": 2, "mode": "bicubic"}, [3, 5, 5, 5]),  # rejected: rank
    ("Upsample", {"scale_factor": 2, "align_corners": True}, [3, 5]),  # rejected: nearest
    ("Upsample", {"scale_factor": 0.5, "mode": "area"}, [3, 5]),
    ("Upsample", {"scale_factor": 1.7, "mode": "area"}, [3, 5]),
    ("Upsample", {"scale_factor": 1.7, "recompute_scale_factor": True}, [3, 5]),
    ("Upsample", {"size": 3, "recompute_scale_factor": True}, [3, 5]),  # rejected
    ("Upsample", {"scale_factor": 2.5, "mode": "nearest-exact"}, [3, 5]),
    ("Upsample", {"scale_factor": 2}, [3]),  # rejected: rank
    ("Upsample", {"scale_factor": 2, "mode": "lanczos"}, [3, 5, 5]),  # rejected: needs antialias
    ("UpsamplingNearest2d", {"scale_factor": 2}, [3, 4, 4]),
    ("UpsamplingBilinear2d", {"size": [6, 9]}, [3, 4, 4]),
    ("UpsamplingBilinear2d", {"size": 6}, [3, 4]),  # rejected: rank
    ("PixelShuffle", {"upscale_factor": 2}, [8, 3, 3]),
    ("PixelShuffle", {"upscale_factor": 2}, [3, 8, 3, 3]),
    ("PixelShuffle", {"upscale_factor": 2}, [6, 3, 3]),  # rejected: 6 % 4
    ("PixelShuffle", {"upscale_factor": 0}, [4, 3, 3]),  # rejected
    ("PixelUnshuffle", {"downscale_factor": 2}, [3, 4, 6]),
    ("PixelUnshuffle", {"downscale_factor": 2}, [3, 5, 6]),  # rejected: height
    ("PixelUnshuffle", {"downscale_factor": 2}, [3, 4, 5]),  # rejected: width
    ("ChannelShuffle", {"groups": 2}, [4, 3]),
    ("ChannelShuffle", {"groups": 2}, [4, 3, 1, 1]),
    ("ChannelShuffle", {"groups": 3}, [4, 3]),  # rejected: 4 % 3
    ("ChannelShuffle", {"groups": 2}, [4]),  # rejected: rank
    ("ZeroPad2d", {"padding": 1}, [3, 4, 4]),
    ("ZeroPad2d", {"padding": [1, 2, 3, 4]}, [3, 4, 4]),
    ("ZeroPad2d", {"padding": [-1, -1, 0, 2]}, [3, 4, 4]),
    ("ZeroPad2d", {"padding": -2}, [3, 4, 4]),  # torch: size 0
    ("ZeroPad2d", {"padding": -3}, [3, 4, 4]),  # rejected: crops more than there is
    ("ZeroPad2d", {"padding": [1, 2, 3]}, [3, 4, 4]),  # rejected: odd length
    ("ZeroPad1d", {"padding": [2, 0]}, [5]),
    ("ZeroPad3d", {"padding": 1}, [2, 2, 2]),
    ("ZeroPad3d", {"padding": 1}, [2, 2, 2, 2]),
    ("ConstantPad1d", {"padding": 2, "value": 3.5}, [3, 4]),
    ("ConstantPad1d", {"padding": [-4, 1]}, [3, 4]),  # rejected: value required
    ("ConstantPad1d", {"padding": [-4, 1], "value": 0.0}, [3, 4]),
    ("ConstantPad1d", {"padding": [-5, 3], "value": 0.0}, [3, 4]),  # rejected: crops past the start
    ("ConstantPad3d", {"padding": [1, 1, 2, 2, 0, 0], "value": 1.0}, [3, 4, 4, 4]),
    ("ReflectionPad1d", {"padding": 3}, [3, 4]),
    ("ReflectionPad1d", {"padding": 4}, [3, 4]),  # rejected: pad >= size
    ("ReflectionPad1d", {"padding": [-5, 3]}, [3, 4]),
    ("ReflectionPad1d", {"padding": [-3, -1]}, [3, 4]),  # rejected: output 0
    ("ReflectionPad2d", {"padding": [1, 1, 2, 2]}, [3, 4, 4]),
    ("ReflectionPad2d", {"padding": 1}, [3, 4, 4, 4]),  # rejected: rank
    ("ReflectionPad3d", {"padding": 1}, [2, 3, 3]),
    ("ReplicationPad1d", {"padding": 10}, [3, 4]),
    ("ReplicationPad2d", {"padding": [-4, 4, 0, 1]}, [3, 4, 4]),
    ("ReplicationPad3d", {"padding": -2}, [3, 4, 4, 4]),  # rejected: output 0
    ("ReplicationPad2d", {"padding": 1}, [4]),  # rejected: rank
    ("CircularPad1d", {"padding": 4}, [3, 4]),
    ("CircularPad1d", {"padding": 5}, [3, 4]),  # rejected: wraps twice
    ("CircularPad2d", {"padding": [-1, 2, 0, 1]}, [3, 4, 4]),
    ("CircularPad2d", {"padding": [-5, 3, 0, 0]}, [3, 4, 4]),  # rejected
    ("CircularPad3d", {"padding": 1}, [3, 4, 4]),  # rejected: rank
    ("CircularPad3d", {"padding": 1}, [2, 3, 4, 4]),
]


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shape_op_matches_torch(layer_type, args, shape):
    check_case(layer_type, args, [shape])


DEPARTURES = [
    # each would touch the batch dim, produce an empty tensor, or mis-state the padding
    ("Permute", {"dims": [1, 0, 2]}, [3, 4], "float32"),
    ("Transpose", {"dim0": 0, "dim1": 1}, [3, 4], "float32"),
    ("Select", {"dim": 0, "index": 0}, [3, 4], "float32"),
    ("Slice", {"dim": 0, "end": 1}, [3, 4], "float32"),
    ("Sum", {"dim": [0, 1]}, [3, 4], "float32"),
    ("Mean", {"dim": -3}, [3, 4], "float32"),
    ("ZeroPad2d", {"padding": 1}, [4], "float32"),  # would pad the batch
    ("ConstantPad1d", {"padding": 1, "value": 0.0}, [], "float32"),
    ("ZeroPad2d", {"padding": [1, 1]}, [3, 4, 4], "float32"),  # torch pads the last dim only
    ("ZeroPad2d", {"padding": [1, 1, 1, 1, 1, 1]}, [3, 4, 4], "float32"),  # torch pads 3 dims
    ("PixelUnshuffle", {"downscale_factor": 2}, [4, 4], "float32"),  # C would be the batch
    ("PixelShuffle", {"upscale_factor": 1}, [4, 4], "float32"),
    ("Upsample", {"scale_factor": 0.2, "mode": "area"}, [3, 4], "float32"),  # area gives size 0
    ("CircularPad1d", {"padding": [-3, 2]}, [3, 2], "float32"),  # crops 3 of 2, torch's copies broadcast
]


@pytest.mark.parametrize("layer_type,args,shape,dtype", DEPARTURES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(DEPARTURES)])
def test_shape_op_departures(layer_type, args, shape, dtype):
    check_departure(layer_type, args, [shape], dtype)


def test_integer_ids_pass_through_data_movement():
    check_case("Reshape", {"shape": [2, 2]}, [[4]], "int64")
    check_case("Slice", {"dim": 1, "end": 2}, [[4]], "int64")
    check_case("Sum", {"dim": 1}, [[4]], "int32")
    check_case("ZeroPad1d", {"padding": 1}, [[4]], "int64")
    check_case("Mean", {"dim": 1}, [[4]], "int64")  # rejected by both (PL404 here)


def test_flatten_message_explains_the_size():
    mine, _, _ = ours("Reshape", {"shape": [100]}, [[12, 4, 4]])
    assert "192 = 12 x 4 x 4" in mine.error


PADS = [f"{p}{n}d" for p in ("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad")
        for n in (1, 2, 3)]
OPS = ["Reshape", "Permute", "Transpose", "Select", "Slice", "Mean", "Sum", "Upsample", "PixelShuffle",
       "PixelUnshuffle", "ChannelShuffle"]


def _op_args(data, layer_type, shape):
    rank = len(shape) + 1
    not_batch = st.integers(-rank - 1, rank).filter(lambda d: d not in (0, -rank))
    if layer_type in PADS:
        n = int(layer_type[-2])
        pad = st.integers(-5, 5)
        args = {"padding": data.draw(st.one_of(pad, st.lists(pad, min_size=2 * n, max_size=2 * n)))}
        if layer_type.startswith("ConstantPad"):
            args["value"] = 1.0
        return args
    if layer_type == "Reshape":
        return {"shape": data.draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6]), min_size=1, max_size=3))}
    if layer_type == "Permute":
        rest = data.draw(st.permutations(list(range(1, rank))))
        return {"dims": [0] + [d - rank if data.draw(st.booleans()) else d for d in rest]}
    if layer_type == "Transpose":
        return {"dim0": data.draw(not_batch), "dim1": data.draw(not_batch)}
    if layer_type == "Select":
        return {"dim": data.draw(not_batch), "index": data.draw(st.integers(-5, 4))}
    if layer_type == "Slice":
        bound = st.one_of(st.none(), st.integers(-6, 6))
        return {"dim": data.draw(not_batch), "start": data.draw(bound), "end": data.draw(bound),
                "step": data.draw(st.integers(1, 3))}
    if layer_type in ("Mean", "Sum"):
        return {"dim": data.draw(st.one_of(not_batch, st.lists(not_batch, min_size=1, max_size=3))),
                "keepdim": data.draw(st.booleans())}
    if layer_type == "Upsample":
        mode = data.draw(st.sampled_from(["nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic",
                                          "trilinear"]))
        args = {"mode": mode}
        if data.draw(st.booleans()):
            args["scale_factor"] = data.draw(st.sampled_from([0.25, 0.5, 0.7, 1.0, 1.3, 2.0, 2.5, 3.0]))
        else:
            args["size"] = data.draw(st.integers(1, 6))
        if mode not in ("nearest", "nearest-exact", "area") and data.draw(st.booleans()):
            args["align_corners"] = data.draw(st.booleans())
        return args
    factor = {"PixelShuffle": "upscale_factor", "PixelUnshuffle": "downscale_factor", "ChannelShuffle": "groups"}
    return {factor[layer_type]: data.draw(st.integers(1, 3))}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_shape_ops_property(data):
    layer_type = data.draw(st.sampled_from(OPS + PADS))
    shape = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    # Fewer dims would reach the batch: departures, tested above.
    if layer_type.startswith(("ZeroPad", "ConstantPad")):
        shape = [3] * (int(layer_type[-2]) - len(shape)) + shape
    if layer_type.startswith("Pixel"):
        shape = [2] * (3 - len(shape)) + shape
    args = _op_args(data, layer_type, shape)
    if layer_type.startswith("CircularPad") and _crops_past_the_input(args["padding"], shape, int(layer_type[-2])):
        assert not ours(layer_type, args, [shape])[0].ok
    else:
        check_case(layer_type, args, [shape])


def _crops_past_the_input(padding, shape, n):
    """Circular padding whose negative part removes more than the input has:
    paramlint rejects it; torch rejects most such paddings, but its slice
    copies let a few through by broadcasting (size 2 padded by (-3, 2) -> 1)."""
    pads = padding if isinstance(padding, list) else [padding] * (2 * n)
    sizes = list(reversed(shape))[:n]
    return any(size + min(pads[2 * i], 0) + min(pads[2 * i + 1], 0) < 0 for i, size in enumerate(sizes))
