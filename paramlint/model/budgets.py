"""Compare the model's figures with the budgets declared in the config.

A failure shows the figure, how it is made up, the budget as written, the
excess in absolute and relative terms, and the largest contributors.
"""
from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from ..core.diagnostics import Finding
from ..core.record import Record
from ..core.units import format_bytes, format_count, parse_bytes, parse_count


class Figure(Record):
    """One budgeted quantity: its value, how it is made up, who contributes most."""

    __slots__ = ("value", "arithmetic", "contributors", "is_bytes", "advice")

    # advice: what would fit a given limit (computed only when exceeded)
    def __init__(self, value: int, arithmetic: str = "", contributors: Tuple[Tuple[str, int], ...] = (),
                 is_bytes: bool = False, advice: Optional[Callable[[int], str]] = None) -> None:
        self.value = value
        self.arithmetic = arithmetic
        self.contributors = contributors
        self.is_bytes = is_bytes
        self.advice = advice


class BudgetUse(Record):
    """A budget and the figure it limits: for reports and the markdown table."""

    __slots__ = ("name", "limit", "value", "is_bytes")

    def __init__(self, name: str, limit: int, value: int, is_bytes: bool) -> None:
        self.name = name
        self.limit = limit
        self.value = value
        self.is_bytes = is_bytes

    @property
    def fraction(self) -> float:
        return self.value / self.limit if self.limit else float("inf")

    @property
    def exceeded(self) -> bool:
        return self.value > self.limit


def budget_uses(budgets: Mapping[str, Any], figures: Mapping[str, Figure]) -> List[BudgetUse]:
    uses = []
    for name, written in budgets.items():
        figure = figures.get(name)
        if figure is None:
            continue
        limit = parse_bytes(written) if figure.is_bytes else parse_count(written)
        uses.append(BudgetUse(name, limit, figure.value, figure.is_bytes))
    return uses


def check_budgets(budgets: Mapping[str, Any], figures: Mapping[str, Figure]) -> List[Finding]:
    findings = []
    for use in budget_uses(budgets, figures):
        if not use.exceeded:
            continue
        figure = figures[use.name]
        fmt: Callable[[int], str] = format_bytes if figure.is_bytes else format_count
        excess = use.value - use.limit
        percent = f"+{(1000 * excess + use.limit // 2) // use.limit / 10:.1f}%" if use.limit else "budget is 0"
        written = budgets[use.name]
        shown = fmt(use.limit) if str(written) == str(use.limit) else f"{fmt(use.limit)} ({written})"
        message = f"{use.name} {fmt(use.value)}"
        if figure.arithmetic:
            message += f" = {figure.arithmetic}"
        message += f" exceeds the budget {shown} by {fmt(excess)} ({percent})"
        if figure.contributors:
            message += "; largest: " + _contributors(figure.contributors, use.value, fmt)
        if figure.advice is not None:
            message += "; " + figure.advice(use.limit)
        findings.append(Finding("PL501", message, ("budgets", use.name)))
    return findings


def _contributors(items: Sequence[Tuple[str, int]], total: int, fmt: Callable[[int], str]) -> str:
    top = sorted(items, key=lambda item: -item[1])[:3]
    return ", ".join(f"{label} {fmt(value)} ({100 * value / total:.1f}%)" for label, value in top if total)


def top_contributors(pairs: Sequence[Tuple[str, int]], count: int = 3) -> Tuple[Tuple[str, int], ...]:
    return tuple(sorted((p for p in pairs if p[1] > 0), key=lambda p: -p[1])[:count])
