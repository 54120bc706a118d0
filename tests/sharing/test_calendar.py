"""Deadlines in working days: the 2026 Spring Festival, an adjusted working Saturday, operator overrides,
and a year the holiday library does not know yet (weekends only, with a warning)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from jutong.core.errors import ValidationFailed
from jutong.sharing import calendar
from jutong.sharing.calendar import Overrides, add_working_days, working_days_between


def test_spring_festival_2026_is_skipped_and_the_adjusted_saturday_counts() -> None:
    # Thu 12 Feb: Fri 13 and the adjusted working Saturday 14 count, 15–23 Feb are the holiday
    assert calendar.is_working_day(date(2026, 2, 14))  # 调休上班的星期六
    assert not calendar.is_working_day(date(2026, 2, 16))  # 春节
    assert add_working_days(date(2026, 2, 12), 1) == date(2026, 2, 13)
    assert add_working_days(date(2026, 2, 12), 2) == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 24)  # first day back
    # ten working days from Thursday 12 Feb: 13, 14, 24, 25, 26, 27, 28 (Sat, adjusted), 2, 3, 4 Mar
    assert add_working_days(date(2026, 2, 12), 10) == date(2026, 3, 4)


def test_counting_between_days_is_the_inverse_and_negative_when_overdue() -> None:
    start = date(2026, 2, 12)
    due = add_working_days(start, 10)
    assert working_days_between(start, due) == 10
    assert working_days_between(due, due) == 0
    assert working_days_between(due, date(2026, 3, 6)) == 2  # Thu 5, Fri 6
    assert working_days_between(date(2026, 3, 6), due) == -2
    assert add_working_days(start, 0) == start


def test_a_normal_week_skips_the_weekend() -> None:
    assert add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday → Monday


def test_operator_overrides_add_a_holiday_and_a_working_day(session: Session) -> None:
    # a local holiday on Monday 23 Nov 2026 and a working Saturday 28 Nov
    calendar.save_overrides(session, holidays=[date(2026, 11, 23)], workdays=[date(2026, 11, 28)])
    overrides = calendar.load_overrides(session)
    assert add_working_days(date(2026, 11, 20), 1, overrides) == date(2026, 11, 24)
    assert add_working_days(date(2026, 11, 26), 2, overrides) == date(2026, 11, 28)
    with pytest.raises(ValidationFailed) as problem:
        calendar.save_overrides(session, holidays=[date(2026, 12, 1)], workdays=[date(2026, 12, 1)])
    assert problem.value.code == "calendar_override_conflict"


def test_a_year_beyond_the_library_counts_weekends_only_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    year = calendar.LAST_YEAR + 3
    friday = next(date(year, 1, d) for d in range(1, 8) if date(year, 1, d).weekday() == 4)
    with caplog.at_level("WARNING"):
        monday = add_working_days(friday, 1)
    assert monday.weekday() == 0 and (monday - friday).days == 3
    assert str(year) in caplog.text and "周末" in caplog.text
    warning = calendar.coverage_warning(friday, monday)
    assert warning is not None and str(year) in warning
    assert calendar.coverage_warning(date(2026, 2, 12), date(2026, 3, 4)) is None
    # an operator can still mark that year's holidays by hand
    assert add_working_days(friday, 1, Overrides(holidays=frozenset({monday}))) == date.fromordinal(
        monday.toordinal() + 1
    )


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        add_working_days(date(2026, 1, 5), -1)
