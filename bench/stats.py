"""How the benchmarks summarise and print their figures."""

from __future__ import annotations

import statistics


def median(values: list[float]) -> float:
    """The median of ``values`` without their NaNs (NaN if none is left)."""
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def p90(values: list[float]) -> float:
    """The 90th percentile of ``values`` (nearest rank) without their NaNs."""
    clean = sorted(v for v in values if v == v)
    if not clean:
        return float("nan")
    return clean[min(len(clean) - 1, round(0.9 * (len(clean) - 1)))]


def fmt(value: float) -> str:
    """A figure for a table: about 3 significant digits, ``n/a`` for NaN."""
    if value != value:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.4f}"
