"""Convolutions against torch: shapes, parameter counts and rejections."""
from __future__ import annotations

import pytest

from oracle import paramlint_outcome, torch_outcome

CASES = [
    # (type, args, input shape)
    ("Conv2d", {"out_channels": 5, "kernel_size": 5}, [3, 32, 32]),
    ("Conv2d", {"out_channels": 12, "kernel_size": 3}, [5, 13, 13]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}, [3, 32, 32]),
    ("Conv2d", {"out_channels": 8, "kernel_size": [3, 5], "stride": [1, 2], "padding": [1, 0]}, [3, 17, 19]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "dilation": 2}, [4, 9, 9]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 4}, [4, 9, 9]),
    ("Conv2d", {"out_channels": 10, "kernel_size": 3, "groups": 4}, [4, 9, 9]),  # rejected
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 3}, [4, 9, 9]),  # rejected
    ("Conv2d", {"out_channels": 8, "kernel_size": 4, "padding": "same"}, [4, 9, 9]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 4, "padding": "same", "stride": 2}, [4, 9, 9]),  # rejected
    ("Conv2d", {"out_channels": 8, "kernel_size": 4, "padding": "valid"}, [4, 9, 9]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 11}, [3, 8, 8]),  # rejected: kernel too large
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "bias": False}, [3, 8, 8]),
    ("Conv2d", {"in_channels": 4, "out_channels": 8, "kernel_size": 3}, [3, 8, 8]),  # rejected: wrong in_channels
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"}, [3, 8, 8]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 3, "padding_mode": "circular"}, [3, 3, 3]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3}, [3, 8]),  # rejected: wrong rank
    ("Conv1d", {"out_channels": 6, "kernel_size": 7, "stride": 3, "padding": 2}, [2, 50]),
    ("Conv1d", {"out_channels": 6, "kernel_size": 2, "padding": "same", "dilation": 3}, [2, 50]),
    ("Conv3d", {"out_channels": 4, "kernel_size": [1, 3, 3], "stride": [1, 2, 2]}, [2, 5, 9, 9]),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 2, "stride": 2}, [8, 7, 7]),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
     [8, 7, 7]),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": 2}, [8, 7, 7]),
    ("ConvTranspose2d", {"out_channels": 6, "kernel_size": 3, "groups": 2, "dilation": 2}, [8, 7, 7]),
    ("ConvTranspose1d", {"out_channels": 3, "kernel_size": 1, "padding": 1}, [3, 1]),  # rejected: size 0... or -1
    ("ConvTranspose3d", {"out_channels": 2, "kernel_size": 2, "stride": [1, 2, 2], "bias": False}, [3, 2, 4, 4]),
]


@pytest.mark.parametrize("layer_type,args,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_conv_matches_torch(layer_type, args, shape):
    ours = paramlint_outcome(layer_type, args, [shape])
    theirs = torch_outcome(layer_type, args, [shape], inferable=["in_channels"])
    assert ours.same_as(theirs), (ours, theirs)


def test_seed_conv_counts():
    assert paramlint_outcome("Conv2d", {"out_channels": 5, "kernel_size": 5}, [[3, 32, 32]]).params == 380
    assert paramlint_outcome("Conv2d", {"out_channels": 12, "kernel_size": 3}, [[5, 13, 13]]).params == 552
