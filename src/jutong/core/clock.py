"""The platform's calendar day: Beijing time, whatever the server's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PLATFORM_TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(PLATFORM_TZ).date()
