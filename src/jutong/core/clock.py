"""The platform's calendar day: Beijing time, whatever the server's time zone."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(PLATFORM_TZ).date()


def last_months(as_of: date, count: int) -> list[str]:
    """The ``count`` full calendar months before ``as_of``, oldest first, as ``YYYY-MM``."""
    index = as_of.year * 12 + as_of.month - 1
    return [f"{(i // 12):04d}-{(i % 12) + 1:02d}" for i in range(index - count, index)]


def months_earlier(day: date, count: int) -> date:
    """The same day ``count`` months earlier (the month's last day when it has fewer days)."""
    index = day.year * 12 + day.month - 1 - count
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
