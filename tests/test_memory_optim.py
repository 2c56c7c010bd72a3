"""Optimizer state and step temporaries against torch (CPU, live storages).

For each optimizer, each implementation (for-loop, foreach, fused) and the
options that change what ``step()`` allocates, the state torch keeps and the
peak of a steady-state ``step()`` above parameters, gradients and state are
compared with paramlint's per-tensor state sizes and its (k_sum, k_max)
temporaries: k_sum times all parameter bytes plus k_max times the largest
tensor, each allocation rounded to 512 bytes.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from torch_memory import LiveStorages, rounded  # noqa: E402

from paramlint.model.training import OPTIMIZERS, TrainingSetup, optimizer_impl, state_tensor_bytes, step_temporaries  # noqa: E402

SHAPES = [(1000, 300), (300,), (2000, 100), (7,), (5000,), (64, 3, 3, 3)]

CASES = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"momentum": 0.9, "weight_decay": 0.1}), ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("Adam", {"weight_decay": 0.1}),
    ("AdamW", {}), ("AdamW", {"weight_decay": 0.1}),
    ("Adagrad", {}), ("RMSprop", {}), ("RMSprop", {"momentum": 0.9, "centered": True}),
    ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Adadelta", {}), ("Rprop", {}), ("ASGD", {}),
    ("Adafactor", {}),
]
IMPLS = ("for-loop", "foreach", "fused")


def _measure(name, options, impl):
    params = [torch.nn.Parameter(torch.randn(*shape)) for shape in SHAPES]
    kwargs = dict(options)
    if impl == "fused":
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = impl == "foreach"
    kwargs.setdefault("lr", 1e-3)
    optimizer = getattr(torch.optim, name)(params, **kwargs)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p)
        if _ == 0:
            optimizer.step()
    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    tracker = LiveStorages()
    tracker.track(params, [p.grad for p in params], state)
    base = tracker.current
    with tracker:
        optimizer.step()
    return sum(rounded(t.untyped_storage().nbytes()) for t in state), tracker.peak - base


def _setup(name, options, impl):
    options = dict(options)
    if impl == "fused":
        options["fused"] = True
    else:
        options["foreach"] = impl == "foreach"
    return TrainingSetup(1, name, options, "fp32", 1, "none")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}{o}" for n, o in CASES])
def test_state_and_step_temporaries_match_torch(name, options, impl):
    if impl not in OPTIMIZERS[name].impls:
        pytest.skip(f"{name} has no {impl} implementation")
    state, temporaries = _measure(name, options, impl)
    setup = _setup(name, options, impl)
    assert optimizer_impl(setup, "for-loop") == impl
    ours_state = sum(rounded(size) for shape in SHAPES for size in state_tensor_bytes(setup, shape, 4))
    ours_state += 512 * len(SHAPES) * OPTIMIZERS[name].step_scalar  # 0-d state tensors, on the CPU
    assert ours_state == state
    k_sum, k_max = step_temporaries(setup, impl)
    sizes = [rounded(4 * math.prod(shape)) for shape in SHAPES]
    ours_temporaries = rounded(int(k_sum * sum(sizes) + k_max * max(sizes)))
    assert abs(ours_temporaries - temporaries) <= 0.02 * sum(sizes) + 4096, (ours_temporaries, temporaries)


def test_default_implementation_by_device():
    setup = TrainingSetup(1, "Adam", {}, "fp32", 1, "none")
    assert optimizer_impl(setup, "foreach") == "foreach"      # CUDA
    assert optimizer_impl(setup, "for-loop") == "for-loop"    # CPU
    assert optimizer_impl(TrainingSetup(1, "Lion", {}, "fp32", 1, "none"), "foreach") == "for-loop"


def test_eight_bit_adam_state():
    """bitsandbytes' blockwise state: 2 bytes per value plus absmax; small tensors stay 32-bit
    (the quantile maps, shared by all tensors, are tests/test_bnb_exact.py's)."""
    setup = TrainingSetup(1, "Adam8bit", {}, "fp32", 1, "none")
    big = sum(state_tensor_bytes(setup, (4096, 1024), 4))
    assert big == 2 * 4096 * 1024 + 2 * 4 * (4096 * 1024 // 256)
    assert sum(state_tensor_bytes(setup, (100,), 4)) == 800
    assert optimizer_impl(setup, "foreach") == "fused" and step_temporaries(setup, "fused") == (0.0, 0.0)
