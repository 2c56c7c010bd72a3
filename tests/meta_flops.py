"""The FLOP oracle: ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device.

paramlint's FLOPs are what FlopCounterMode counts when the model runs on
``meta`` in training mode (docs/format.md, "FLOPs").  There every operation
runs as the decomposition torch would compute it, with shapes only:
scaled-dot-product attention as two batched matrix products, LSTM/GRU/RNN
step by step.  The CPU differs only where it runs a fused kernel that has no
FLOP formula (flash attention, oneDNN's LSTM) and counts 0 for it; every
test that compares FLOPs with torch counts through this module, and
``CPU`` is there only to show that difference.

A module and its inputs are made *inside* ``torch.device(device)`` by the
factories passed in, so nothing is ever copied to or from ``meta``.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence

import pytest

torch = pytest.importorskip("torch")
from torch.overrides import TorchFunctionMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

META = "meta"
CPU = "cpu"


class Flops(NamedTuple):
    forward: int
    backward: int = 0


def made(factory: Callable[[], Any], device: str = META) -> Any:
    """``factory()`` with tensors and modules created on ``device`` (torch's warnings muted)."""
    with torch.device(device), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return factory()


def noise(shapes: Sequence[Sequence[int]], batch: Optional[int], dtype: Any = None,
          requires_grad: bool = False) -> Callable[[], list]:
    """A factory of random float inputs, one per shape, with a leading batch unless ``batch`` is None."""
    def make() -> list:
        lead = () if batch is None else (batch,)
        return [torch.randn(*lead, *shape, dtype=dtype or torch.float32, requires_grad=requires_grad)
                for shape in shapes]

    return make


class _ViewsAsReshapes(TorchFunctionMode):
    """``Tensor.view`` as ``reshape``.  Meta kernels do not always give the
    CPU's output strides (LogSigmoid of a permuted input: contiguous on the
    CPU, permuted on ``meta``), so a view the CPU makes may fail on ``meta``.
    Views and copies cost no FLOPs; whether a view is possible is judged by
    the CPU runs of the tests."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.Tensor.view and not (len(args) == 2 and isinstance(args[1], torch.dtype)):
            func = torch.Tensor.reshape
        return func(*args, **(kwargs or {}))


def count(module: Callable[..., Any], inputs: Sequence[Any], *, backward: bool = False,
          run: Optional[Callable[..., Any]] = None) -> Flops:
    """FlopCounterMode's forward (and, given ``backward``, backward) total of
    ``module(*inputs)`` (or ``run(module, *inputs)``); a ``torch.nn.Module``
    runs in training mode.  The
    backward starts from ``out.sum()`` of the first output (a tuple's first
    element), if it needs a gradient."""
    if isinstance(module, torch.nn.Module):
        module.train()
    with warnings.catch_warnings(), _ViewsAsReshapes(), FlopCounterMode(display=False) as forward:
        warnings.simplefilter("ignore")
        out = run(module, *inputs) if run is not None else module(*inputs)
    if not backward:
        return Flops(forward.get_total_flops())
    while isinstance(out, (tuple, list)):
        out = out[0]
    if not out.requires_grad:
        return Flops(forward.get_total_flops())
    with warnings.catch_warnings(), FlopCounterMode(display=False) as counter:
        warnings.simplefilter("ignore")
        out.float().sum().backward()
    return Flops(forward.get_total_flops(), counter.get_total_flops())


def flops(module: Callable[[], Any], inputs: Callable[[], Sequence[Any]], *, device: str = META,
          backward: bool = False, run: Optional[Callable[..., Any]] = None) -> Flops:
    """Make the module and its inputs on ``device`` (the factories), run and count
    there (tensors the run itself creates land on ``device`` too)."""
    with torch.device(device):
        return count(made(module, device), made(inputs, device), backward=backward, run=run)


def forward_flops(module: Callable[[], Any], inputs: Callable[[], Sequence[Any]], device: str = META) -> int:
    return flops(module, inputs, device=device).forward
