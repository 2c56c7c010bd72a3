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
    """(largest batch whose peak fits ``budget``, its peak); (0, peak at 1) when none does."""
    first = peak_at(1)
    if first > budget:
        return 0, first
    low, low_peak, high = 1, first, 2
    while high <= limit:
        peak = peak_at(high)
        if peak > budget:
            break
        low, low_peak, high = high, peak, high * 2
    else:
        return low, low_peak
    while high - low > 1:
        middle = (low + high) // 2
        peak = peak_at(middle)
        if peak > budget:
            high = middle
        else:
            low, low_peak = middle, peak
    return low, low_peak


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
