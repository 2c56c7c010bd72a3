"""Counts (``30K``, ``1.5M``) and sizes in bytes (``128 MiB``) for budgets."""
from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Union

COUNT_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
BYTE_SUFFIXES = {
    "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")

# Budgets measured in bytes; every other budget is a count.
BYTE_BUDGETS = frozenset({"memory", "inference_memory", "kv_cache"})


MAX_DIGITS = 40


class UnitError(ValueError):
    pass


def _split(value: str) -> tuple:
    match = _NUMBER_UNIT.match(value)
    if match and len(match.group(1)) > MAX_DIGITS:
        raise UnitError(f"a budget of {len(match.group(1))} digits is beyond any model; write it with a unit")
    if not match:
        raise UnitError(f"{value!r} is not a number with an optional unit")
    try:
        return Decimal(match.group(1)), match.group(2)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise UnitError(f"{value!r} is not a number")


_EXACT = Context(prec=MAX_DIGITS + 20)  # every digit a budget can have, times the largest suffix: no rounding


def _whole(number: Decimal, value: str) -> int:
    if number != number.to_integral_value(context=_EXACT):
        raise UnitError(f"{value!r} is not a whole number")
    return int(number)


def parse_count(value: Union[int, str]) -> int:
    """``30K`` -> 30000; byte units are refused, not guessed."""
    if isinstance(value, int):
        return value
    number, unit = _split(value)
    if unit in BYTE_SUFFIXES and unit != "B":
        raise UnitError(f"{value!r} is a size in bytes, but this budget is a count: use K, M, B or T (e.g. 30K)")
    if unit not in COUNT_SUFFIXES:
        raise UnitError(f"unknown count suffix {unit!r} in {value!r}: use K, M, B or T (e.g. 1.5M)")
    return _whole(_EXACT.multiply(number, COUNT_SUFFIXES[unit]), value)


def parse_bytes(value: Union[int, str]) -> int:
    """``128 MiB`` -> 134217728; count suffixes are refused, not guessed."""
    if isinstance(value, int):
        return value
    number, unit = _split(value)
    if unit not in BYTE_SUFFIXES:
        if unit in COUNT_SUFFIXES:
            raise UnitError(f"{value!r} is a count, but this budget is a size in bytes: write {unit}B "
                            f"(powers of 1000) or {unit}iB (powers of 1024)" if unit else
                            f"{value!r} has no unit: write B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
        raise UnitError(f"unknown size unit {unit!r} in {value!r}: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
    return _whole(_EXACT.multiply(number, BYTE_SUFFIXES[unit]), value)


def format_count(value: int) -> str:
    return f"{value:,}"


def format_bytes(value: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{int(value):,} B"
