"""Normalization layers against torch: shapes, parameters, buffers, rejections, saved tensors."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from oracle import infer_layer, layer_error, paramlint_outcome, torch_outcome
from torch_saved import paramlint_saved, torch_saved


# torch warns (and accepts) when InstanceNorm's num_features is unused and wrong; the cases want exactly that.
pytestmark = pytest.mark.filterwarnings("ignore:input's size at dim")

INFERABLE = {
    "BatchNorm": ["num_features"], "InstanceNorm": ["num_features"], "GroupNorm": ["num_channels"],
    "LayerNorm": ["normalized_shape"], "RMSNorm": ["normalized_shape"], "LocalResponseNorm": [],
}

CASES = [
    # (type, args, per-sample input shape); the torch oracle decides accept or reject
    ("BatchNorm1d", {}, [128]),
    ("BatchNorm1d", {}, [16, 20]),
    ("BatchNorm1d", {"num_features": 16}, [16, 20]),
    ("BatchNorm1d", {"num_features": 8}, [16, 20]),
    ("BatchNorm1d", {"num_features": 8, "affine": False, "track_running_stats": False}, [16, 20]),  # ignored
    ("BatchNorm1d", {"num_features": 8, "affine": False}, [16, 20]),  # running stats of the wrong size
    ("BatchNorm1d", {"num_features": 8, "track_running_stats": False}, [16, 20]),  # weight of the wrong size
    ("BatchNorm1d", {"affine": False}, [16]),
    ("BatchNorm1d", {"bias": False}, [16]),
    ("BatchNorm1d", {"track_running_stats": False}, [16]),
    ("BatchNorm1d", {"eps": 0}, [16]),  # training needs eps > 0
    ("BatchNorm1d", {"eps": -1e-3}, [16]),
    ("BatchNorm1d", {"momentum": None}, [16]),
    ("BatchNorm1d", {}, [4, 5, 6]),
    ("BatchNorm2d", {}, [5, 28, 28]),
    ("BatchNorm2d", {}, [12, 11, 11]),
    ("BatchNorm2d", {"affine": False, "track_running_stats": False}, [3, 4, 4]),
    ("BatchNorm2d", {}, [3, 4]),
    ("BatchNorm2d", {}, [3, 1, 1]),
    ("BatchNorm3d", {}, [2, 3, 4, 5]),
    ("BatchNorm3d", {}, [2, 3, 4]),
    ("InstanceNorm1d", {}, [3, 10]),
    ("InstanceNorm1d", {"affine": True}, [3, 10]),
    ("InstanceNorm1d", {"affine": True, "track_running_stats": True}, [3, 10]),
    ("InstanceNorm1d", {"num_features": 4}, [3, 10]),  # torch only warns
    ("InstanceNorm1d", {"num_features": 4, "affine": True}, [3, 10]),
    ("InstanceNorm1d", {"num_features": 4, "track_running_stats": True}, [3, 10]),
    ("InstanceNorm1d", {}, [10]),  # read as unbatched [C=N, L]
    ("InstanceNorm1d", {"affine": True}, [10]),
    ("InstanceNorm1d", {"track_running_stats": True}, [10]),
    ("InstanceNorm1d", {}, [3, 1]),  # one spatial element
    ("InstanceNorm1d", {}, [1]),
    ("InstanceNorm2d", {"affine": True, "bias": False}, [3, 8, 8]),
    ("InstanceNorm2d", {}, [3, 1, 1]),
    ("InstanceNorm2d", {}, [8, 8]),
    ("InstanceNorm2d", {}, [3]),
    ("InstanceNorm2d", {}, [2, 3, 4, 5]),
    ("InstanceNorm3d", {"affine": True}, [2, 3, 4, 5]),
    ("InstanceNorm3d", {"track_running_stats": True}, [2, 3, 4, 5]),
    ("InstanceNorm3d", {}, [3, 4, 5]),
    ("LayerNorm", {}, [10, 64]),
    ("LayerNorm", {"normalized_shape": 64}, [10, 64]),
    ("LayerNorm", {"normalized_shape": [10, 64]}, [10, 64]),
    ("LayerNorm", {"normalized_shape": [32]}, [10, 64]),
    ("LayerNorm", {"normalized_shape": 64, "elementwise_affine": False}, [64]),
    ("LayerNorm", {"normalized_shape": [8], "bias": False}, [4, 8]),
    ("LayerNorm", {"normalized_shape": [3, 8, 8]}, [3, 8, 8]),
    ("LayerNorm", {"normalized_shape": [8, 8], "elementwise_affine": False, "bias": False}, [3, 8, 8]),
    ("LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}, [4]),
    ("LayerNorm", {"normalized_shape": [4, 8]}, [3, 8]),
    ("RMSNorm", {}, [10, 64]),
    ("RMSNorm", {"normalized_shape": [10, 64]}, [10, 64]),
    ("RMSNorm", {"normalized_shape": 63}, [10, 64]),
    ("RMSNorm", {"elementwise_affine": False, "eps": 1e-6}, [64]),
    ("GroupNorm", {"num_groups": 4}, [16, 8, 8]),
    ("GroupNorm", {"num_groups": 3}, [16, 8, 8]),
    ("GroupNorm", {"num_groups": 4, "num_channels": 16}, [16, 8]),
    ("GroupNorm", {"num_groups": 4, "num_channels": 8}, [16, 8]),
    ("GroupNorm", {"num_groups": 4, "num_channels": 8, "affine": False}, [16, 8]),  # ignored
    ("GroupNorm", {"num_groups": 4, "num_channels": 8, "affine": False}, [6, 8]),
    ("GroupNorm", {"num_groups": 2, "affine": True, "bias": False}, [4]),
    ("GroupNorm", {"num_groups": 1, "num_channels": 2}, []),
    ("GroupNorm", {"num_groups": 16}, [16, 3, 3]),
    ("LocalResponseNorm", {"size": 2}, [3, 8]),
    ("LocalResponseNorm", {"size": 5}, [16, 8, 8]),
    ("LocalResponseNorm", {"size": 30}, [4, 5, 5]),
    ("LocalResponseNorm", {"size": 3}, [4, 5, 2, 2]),
    ("LocalResponseNorm", {"size": 2}, [8]),
]


def _family(layer_type):
    return next(f for f in INFERABLE if layer_type.startswith(f))


def _compare(layer_type, args, shape):
    ours = paramlint_outcome(layer_type, args, [shape])
    theirs = torch_outcome(layer_type, args, [shape], inferable=INFERABLE[_family(layer_type)])
    assert ours.same_as(theirs), (layer_type, args, shape, ours, theirs)
    return ours


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_norm_matches_torch(layer_type, args, shape):
    _compare(layer_type, args, shape)


def test_case_table_covers_rejections():
    rejected = [c for c in CASES if not paramlint_outcome(c[0], c[1], [c[2]]).ok]
    assert len(CASES) >= 40 and len(rejected) >= 15




def _torch_module(layer_type, args, shape):
    torch = pytest.importorskip("torch")
    resolved = infer_layer(layer_type, args, shape).args  # the complete constructor kwargs paramlint hands to torch
    return getattr(torch.nn, layer_type)(**resolved)


@pytest.mark.parametrize("layer_type,args,shape", [c for c in CASES if paramlint_outcome(c[0], c[1], [c[2]]).ok],
                         ids=lambda value: value if isinstance(value, str) else None)
def test_names_shapes_and_dtypes_of_parameters_and_buffers(layer_type, args, shape):
    """Built from paramlint's resolved args, torch has exactly paramlint's parameters and buffers."""
    result = infer_layer(layer_type, args, shape)
    module = _torch_module(layer_type, args, shape)
    assert result.params == {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert result.buffers == {name: (tuple(b.shape), str(b.dtype).replace("torch.", ""))
                              for name, b in module.named_buffers()}
    assert result.flops == 0


def test_batchnorm_buffers():
    result = infer_layer("BatchNorm2d", {}, [64, 8, 8])
    assert result.buffers == {"running_mean": ((64,), "float32"), "running_var": ((64,), "float32"),
                              "num_batches_tracked": ((), "int64")}
    assert infer_layer("BatchNorm2d", {"track_running_stats": False}, [64, 8, 8]).buffers == {}


def test_seed_network_with_batchnorm():
    """BatchNorm after both convolutions and after the first Linear: 290 parameters, 293 buffer values."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    plain = nn.Sequential(nn.Conv2d(3, 5, 5), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(5, 12, 3), nn.ReLU(),
                          nn.MaxPool2d(5, 2), nn.Flatten(), nn.Linear(192, 128), nn.ReLU(), nn.Linear(128, 10))
    with_bn = nn.Sequential(nn.Conv2d(3, 5, 5), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(3, 2),
                            nn.Conv2d(5, 12, 3), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(5, 2), nn.Flatten(),
                            nn.Linear(192, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    assert with_bn(torch.randn(2, 3, 32, 32)).shape == (2, 10)

    def count(tensors):
        return sum(t.numel() for t in tensors)

    added_params = count(with_bn.parameters()) - count(plain.parameters())
    added_buffers = count(with_bn.buffers())
    ours = [infer_layer("BatchNorm2d", {}, [5, 28, 28]), infer_layer("BatchNorm2d", {}, [12, 11, 11]),
            infer_layer("BatchNorm1d", {}, [128])]
    our_params = sum(count_shape(s) for r in ours for s in r.params.values())
    our_buffers = sum(count_shape(s) for r in ours for s, _ in r.buffers.values())
    assert (our_params, our_buffers) == (added_params, added_buffers) == (290, 293)


def count_shape(shape):
    n = 1
    for s in shape:
        n *= s
    return n


@pytest.mark.parametrize("layer_type,args,shape,code", [
    ("BatchNorm1d", {"num_features": 8, "affine": False, "track_running_stats": False}, [16, 20], "PL454"),
    ("InstanceNorm2d", {"num_features": 64}, [3, 8, 8], "PL454"),
    ("GroupNorm", {"num_groups": 4, "num_channels": 8, "affine": False}, [16, 8], "PL454"),
    ("InstanceNorm1d", {}, [10], "PL453"),
])
def test_warnings_where_torch_accepts_a_doubtful_layer(layer_type, args, shape, code):
    assert [w.code for w in infer_layer(layer_type, args, shape).warnings] == [code]


@pytest.mark.parametrize("layer_type,args,shape,code,arg", [
    ("BatchNorm1d", {"num_features": 8}, [16, 20], "PL401", "num_features"),
    ("BatchNorm1d", {"eps": 0}, [16], "PL402", "eps"),
    ("BatchNorm2d", {}, [3, 4], "PL401", None),
    ("GroupNorm", {"num_groups": 3}, [16, 8, 8], "PL402", "num_groups"),
    ("GroupNorm", {"num_groups": 4, "num_channels": 8}, [16, 8], "PL401", "num_channels"),
    ("LayerNorm", {"normalized_shape": [32]}, [10, 64], "PL401", "normalized_shape"),
    ("InstanceNorm2d", {}, [3, 1, 1], "PL401", None),
    ("InstanceNorm1d", {"affine": True}, [10], "PL401", None),
])
def test_error_codes(layer_type, args, shape, code, arg):
    error = layer_error(layer_type, args, shape)
    assert (error.code, error.arg) == (code, arg)


@pytest.mark.parametrize("layer_type,args,shape,torch_kwargs", [
    # normalized_shape reaching into the batch: torch accepts only when the batch size happens to fit
    ("LayerNorm", {"normalized_shape": [2, 4]}, [4], {"normalized_shape": [2, 4]}),
    ("RMSNorm", {"normalized_shape": [2, 4]}, [4], {"normalized_shape": [2, 4]}),
    ("LayerNorm", {}, [], {"normalized_shape": [2]}),  # a per-sample scalar: the batch is the last dim
    # the batch read as channels, tied to num_features by the affine weight or the running statistics
    ("InstanceNorm1d", {"affine": True}, [10], {"num_features": 2, "affine": True}),
    ("InstanceNorm2d", {"track_running_stats": True}, [6, 6], {"num_features": 2, "track_running_stats": True}),
])
def test_batch_dependent_layers_are_rejected(layer_type, args, shape, torch_kwargs):
    torch = pytest.importorskip("torch")
    module = getattr(torch.nn, layer_type)(**torch_kwargs)
    module(torch.randn(2, *shape))  # fits a batch of 2 ...
    with pytest.raises((RuntimeError, ValueError)):
        module(torch.randn(3, *shape))  # ... but not of 3
    assert layer_error(layer_type, args, shape).code == "PL401"


@pytest.mark.parametrize("layer_type,args,shape", [
    ("BatchNorm2d", {}, [3, 8, 8]),
    ("BatchNorm1d", {}, [3]),
    ("BatchNorm1d", {"affine": False, "track_running_stats": False}, [3, 8]),
    ("InstanceNorm1d", {}, [3, 8]),
    ("InstanceNorm2d", {"affine": True}, [3, 8, 8]),
    ("InstanceNorm2d", {"affine": True, "bias": False}, [3, 8, 8]),
    ("InstanceNorm1d", {"track_running_stats": True}, [3, 8]),
    ("InstanceNorm1d", {"affine": True, "track_running_stats": True}, [3, 8]),
    ("InstanceNorm1d", {}, [8]),
    ("LayerNorm", {}, [3, 8]),
    ("LayerNorm", {"normalized_shape": [3, 8]}, [3, 8]),
    ("LayerNorm", {"elementwise_affine": False}, [3, 8]),
    ("RMSNorm", {}, [3, 8]),
    ("RMSNorm", {"normalized_shape": [3, 8]}, [3, 8]),
    ("RMSNorm", {"elementwise_affine": False}, [3, 8]),
    ("GroupNorm", {"num_groups": 3}, [6, 8]),
    ("GroupNorm", {"num_groups": 1, "affine": False}, [6, 8]),
    ("LocalResponseNorm", {"size": 2}, [3, 8]),
    ("LocalResponseNorm", {"size": 4}, [3, 4, 4, 4]),
])
@pytest.mark.parametrize("batch", [2, 3])
def test_saved_tensors_match_autograd(layer_type, args, shape, batch):
    module = _torch_module(layer_type, args, shape)
    assert paramlint_saved(layer_type, args, shape, batch) == torch_saved(module, shape, batch)


# ---------------------------------------------------------------------------
# Property tests against torch

@st.composite
def running_norm_cases(draw):
    """BatchNorm and InstanceNorm over ranks around the expected ones, with num_features near the channels."""
    family = draw(st.sampled_from(["BatchNorm", "InstanceNorm"]))
    n = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(max(0, n - 1), n + 2)))]
    args = {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans()), "bias": draw(st.booleans())}
    if not shape or draw(st.booleans()):
        args["num_features"] = max(1, (shape[0] if shape else 2) + draw(st.integers(-1, 1)))
    if draw(st.booleans()):
        args["eps"] = draw(st.sampled_from([1e-5, 0.0, -1.0]))
    return f"{family}{n}d", args, shape


@st.composite
def shape_norm_cases(draw):
    layer_type = draw(st.sampled_from(["LayerNorm", "RMSNorm"]))
    shape = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    args = {"elementwise_affine": draw(st.booleans())}
    if layer_type == "LayerNorm":
        args["bias"] = draw(st.booleans())
    if draw(st.booleans()):
        count = draw(st.integers(1, len(shape)))
        dims = [s + (draw(st.integers(-1, 1)) if draw(st.integers(0, 3)) == 0 else 0) for s in shape[-count:]]
        dims = [max(1, d) for d in dims]
        args["normalized_shape"] = dims[0] if count == 1 and draw(st.booleans()) else dims
    return layer_type, args, shape


@st.composite
def group_norm_cases(draw):
    shape = [draw(st.integers(1, 8)) for _ in range(draw(st.integers(0, 3)))]
    args = {"num_groups": draw(st.integers(1, 8)), "affine": draw(st.booleans()), "bias": draw(st.booleans())}
    if not shape or draw(st.booleans()):
        args["num_channels"] = draw(st.integers(1, 8))
    return "GroupNorm", args, shape


def _batch_dependent(layer_type, args, shape):
    """Cases where torch's answer depends on the batch size (tested on their own above)."""
    if layer_type.startswith("InstanceNorm"):
        n = int(layer_type[-2])
        return len(shape) == n and (args["affine"] or args["track_running_stats"])
    return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(running_norm_cases())
def test_running_norm_property(case):
    assume(not _batch_dependent(*case))
    _compare(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape_norm_cases())
def test_shape_norm_property(case):
    _compare(*case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group_norm_cases())
def test_group_norm_property(case):
    _compare(*case)


@pytest.mark.parametrize("layer_type,args,shape", [
    ("BatchNorm2d", {}, [3, 8, 8]),
    ("InstanceNorm1d", {"affine": True}, [3, 8]),
    ("LayerNorm", {}, [4, 8]),
    ("RMSNorm", {}, [4, 8]),
    ("GroupNorm", {"num_groups": 2}, [4, 8]),
    ("LocalResponseNorm", {"size": 2}, [3, 8, 8]),
])
def test_norms_count_no_flops(layer_type, args, shape):
    import meta_flops
    counted = meta_flops.forward_flops(lambda: _torch_module(layer_type, args, shape), meta_flops.noise([shape], 2))
    assert counted == 0 == infer_layer(layer_type, args, shape).flops
