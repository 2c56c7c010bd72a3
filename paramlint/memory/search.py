"""The batch-size search and the GPUs it searches for: below the memory model's
users (``paramlint fit``, the advice of a failed memory budget), above nothing."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

GiB = 2**30
MiB = 2**20

# Memory as torch.cuda.get_device_properties(...).total_memory reports it,
# rounded down to a MiB (approximate: boards and drivers differ a little).
GPUS: Dict[str, int] = {
    "T4": 15_095 * MiB,
    "V100-16GB": 16_160 * MiB,
    "V100-32GB": 32_510 * MiB,
    "RTX-3090": 24_268 * MiB,
    "RTX-4090": 24_217 * MiB,
    "A10G": 22_731 * MiB,
    "L4": 22_491 * MiB,
    "L40S": 45_488 * MiB,
    "A100-40GB": 40_536 * MiB,
    "A100-80GB": 81_050 * MiB,
    "H100-80GB": 81_090 * MiB,
    "H200": 143_167 * MiB,
}
MAX_BATCH = 1 << 40


def largest_batch(peak_at: Callable[[int], int], budget: int, *, limit: int = MAX_BATCH) -> Tuple[int, int]:
    """(largest batch up to ``limit`` whose peak fits ``budget``, its peak); (0, peak at 1) when none does.

    Peaks grow with the batch (monotone) and nearly linearly, so the search starts from the slope between
    batch 1 and 2 and gallops out from that guess before bisecting: a dozen simulations where doubling and
    bisecting up to 2^40 took eighty (each one a walk over every tensor of the model).
    """
    peaks: Dict[int, int] = {}

    def fits(batch: int) -> bool:
        if batch not in peaks:
            peaks[batch] = peak_at(batch)
        return peaks[batch] <= budget

    if not fits(1):
        return 0, peaks[1]
    if limit <= 1 or not fits(2):
        return 1, peaks[1]
    slope = peaks[2] - peaks[1]
    # no growth from 1 to 2 (allocator rounding): no estimate, gallop up from 2
    guess = 2 if slope <= 0 else min(limit, max(2, 1 + (budget - peaks[1]) // slope))
    step = 1
    if fits(guess):
        low = guess
        while True:
            if low == limit:
                return low, peaks[low]
            probe = min(limit, low + step)
            if not fits(probe):
                high = probe
                break
            low, step = probe, step * 2
    else:
        high = guess
        while True:
            probe = max(1, high - step)
            if fits(probe):
                low = probe
                break
            high, step = probe, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low, peaks[low]


def resolve_gpu(name: str) -> str:
    """The GPUS key ``name`` means (case-insensitive), or ValueError with the likeliest ones:
    those it begins (``a100`` -> A100-40GB, A100-80GB), else the closest spelling."""
    names = {key.lower(): key for key in GPUS}
    found = names.get(name.strip().lower())
    if found:
        return found
    from ..core.suggest import closest

    starting = [key for key in GPUS if key.lower().startswith(name.strip().lower())] if name.strip() else []
    likely = starting or [match for match in (closest(name, GPUS),) if match]
    hint = f"; did you mean {' or '.join(f'`{m}`' for m in likely)}?" if likely else ""
    raise ValueError(f"unknown GPU {name!r}{hint} Known: {', '.join(GPUS)}")
