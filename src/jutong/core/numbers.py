"""Figures as officials read them in statistics tables."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percent(count: int, total: int) -> float:
    """Share of ``total`` in %, one decimal, rounded half up as in audit reports (40 of 130 → 30.8)."""
    if total <= 0:
        return 0.0
    return float((Decimal(count * 100) / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
