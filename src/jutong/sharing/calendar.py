"""Working days (工作日) for deadlines: Chinese public holidays and adjusted working days (调休).

The ``chinese_calendar`` library carries the State Council's holiday arrangement for the years it
knows; operators add what it lacks or what differs locally (an extra holiday, an adjusted working
day) as overrides, stored with ``core.options``. For a year beyond the library only weekends count as
rest days (plus the overrides): ``coverage_warning`` says so, because such a deadline may be a few
days early or late until the library (or the operator) adds that year's arrangement.

Counting: ``add_working_days(start, n)`` is the n-th working day after ``start`` (the day itself does
not count, as with "within 10 working days of receipt"); ``working_days_between(a, b)`` counts the
working days in (a, b], negative when b is before a.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from jutong.core import options
from jutong.core.errors import ValidationFailed

log = logging.getLogger(__name__)

OPTION_KEY = "sharing.calendar"
# the library raises for these; read its own constants instead of guessing
_KNOWN_YEARS = {d.year for d in chinese_calendar.constants.holidays} | {
    d.year for d in chinese_calendar.constants.workdays
}
FIRST_YEAR, LAST_YEAR = min(_KNOWN_YEARS), max(_KNOWN_YEARS)
_MAX_SPAN = 3660  # ten years of days: a guard against a runaway count, far beyond any deadline


@dataclass(frozen=True)
class Overrides:
    """Operator's corrections: days off that the library does not know, and working days it does not."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)


NO_OVERRIDES = Overrides()


def load_overrides(session: Session) -> Overrides:
    value = options.get_option(session, OPTION_KEY) or {}
    return Overrides(
        holidays=frozenset(date.fromisoformat(d) for d in value.get("holidays", [])),
        workdays=frozenset(date.fromisoformat(d) for d in value.get("workdays", [])),
    )


def save_overrides(session: Session, *, holidays: Iterable[date], workdays: Iterable[date]) -> Overrides:
    """Replace the overrides; a day cannot be both a holiday and a working day."""
    off, on = frozenset(holidays), frozenset(workdays)
    both = sorted(off & on)
    if both:
        raise ValidationFailed(
            f"这些日期同时被设为节假日和调休工作日，请只保留一种：{'、'.join(d.isoformat() for d in both)}",
            code="calendar_override_conflict",
        )
    options.put_option(
        session,
        OPTION_KEY,
        {"holidays": sorted(d.isoformat() for d in off), "workdays": sorted(d.isoformat() for d in on)},
    )
    return Overrides(off, on)


def library_covers(day: date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR


def is_working_day(day: date, overrides: Overrides = NO_OVERRIDES) -> bool:
    if day in overrides.workdays:
        return True
    if day in overrides.holidays:
        return False
    if library_covers(day):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5  # beyond the library: weekends only (see coverage_warning)


def coverage_warning(start: date, end: date) -> str | None:
    """A sentence for people when [start, end] reaches years the holiday library does not know."""
    years = sorted({y for y in range(min(start, end).year, max(start, end).year + 1)} - _KNOWN_YEARS)
    if not years:
        return None
    listed = "、".join(str(y) for y in years)
    return (
        f"节假日库只含 {FIRST_YEAR}–{LAST_YEAR} 年的安排，{listed} 年暂按周末休息计算（另加平台管理员设置的"
        f"节假日和调休），期限可能与实际放假安排相差几天；请升级 chinese_calendar 或在设置中补充"
    )


def add_working_days(start: date, n: int, overrides: Overrides = NO_OVERRIDES) -> date:
    """The n-th working day after ``start`` (n ≥ 0; n = 0 is ``start`` itself)."""
    if n < 0:
        raise ValidationFailed("工作日天数不能为负数", code="working_days_negative")
    day, left = start, n
    for _ in range(_MAX_SPAN):
        if left == 0:
            break
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            left -= 1
    else:
        raise ValidationFailed(f"{n} 个工作日超出可计算范围", code="working_days_too_many")
    warning = coverage_warning(start, day)
    if warning:
        log.warning(warning)
    return day


def working_days_between(a: date, b: date, overrides: Overrides = NO_OVERRIDES) -> int:
    """Working days in (a, b]: 0 when b == a, negative when b is before a (days overdue)."""
    if b < a:
        return -working_days_between(b, a, overrides)
    if (b - a).days > _MAX_SPAN:
        raise ValidationFailed("日期相隔过远，无法计算工作日", code="working_days_too_many")
    return sum(1 for i in range(1, (b - a).days + 1) if is_working_day(a + timedelta(days=i), overrides))
