"""Tables (Markdown pipe tables, so they paste into the README) and the statistics behind them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Table",
    "TargetCheck",
    "median",
    "paired_ratio",
    "paired_ratio_ci",
    "ratio",
    "span",
]


def median(values: Sequence[float]) -> float:
    """The median; NaN for no values."""
    return statistics.median(values) if values else float("nan")


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median of the per-round ratios: both sides of each ratio come from the same round."""
    return median([n / d for n, d in zip(numerators, denominators, strict=True) if d > 0])


def paired_ratio_ci(
    numerators: Sequence[float], denominators: Sequence[float]
) -> tuple[float, float]:
    """A distribution-free ~95% confidence interval for `paired_ratio` (order statistics).

    The ranks n/2 -+ 0.98 sqrt(n) of the sorted per-round ratios bracket their median
    with ~95% probability whatever their distribution; (NaN, NaN) below 6 rounds.
    """
    ratios = sorted(n / d for n, d in zip(numerators, denominators, strict=True) if d > 0)
    count = len(ratios)
    if count < 6:
        return float("nan"), float("nan")
    half_width = 0.98 * math.sqrt(count)
    low = max(0, math.floor(count / 2 - half_width))
    high = min(count - 1, math.ceil(count / 2 + half_width) - 1)
    return ratios[low], ratios[high]


def ratio(value: float) -> str:
    """`1.23x`."""
    return "n/a" if value != value else f"{value:.2f}x"  # noqa: PLR0124 - NaN check


def span(values: Sequence[int]) -> str:
    """`1` when every repeat agrees, else `min-max`."""
    if not values:
        return "n/a"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


@dataclass
class Table:
    """One family's table: a title, a note saying what was measured, and the rows."""

    title: str
    note: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list[list[str]])
    footnotes: list[str] = field(default_factory=list[str])

    def add(self, *cells: str) -> None:
        """Append a row."""
        self.rows.append(list(cells))

    def render(self) -> str:
        """The table as Markdown."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            padded = [
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return "| " + " | ".join(padded) + " |"

        rule = (
            "|"
            + "|".join(
                "-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(widths)
            )
            + "|"
        )
        parts = [f"### {self.title}", "", self.note, "", line(self.columns), rule]
        parts.extend(line(row) for row in self.rows)
        if self.footnotes:
            parts.append("")
            parts.extend(self.footnotes)
        return "\n".join(parts)


@dataclass(frozen=True)
class TargetCheck:
    """One target from issue 4 and what this run achieved."""

    target: str
    achieved: str
    passed: bool | None
    """None when it could not be measured (a peer missing, say)."""

    @property
    def verdict(self) -> str:
        """PASS, FAIL or n/a."""
        return "n/a" if self.passed is None else ("PASS" if self.passed else "FAIL")
