"""How census cells are read and written: the formats people actually type in Excel."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from jutong.registry.census_fields import (
    SYSTEM_COLUMNS,
    CellError,
    neutralize,
    normalize_header,
    parse_cell,
    parse_date,
    parse_month,
    to_cell,
    unneutralize,
)

COLUMN = {c.key: c for c in SYSTEM_COLUMNS}


@pytest.mark.parametrize(
    "raw",
    [
        "2019-03-05",
        "2019/3/5",
        "2019.3.5",
        "2019年3月5日",
        "20190305",
        "２０１９－０３－０５",
        43529,
        "43529",
        datetime(2019, 3, 5, 0, 0),
        date(2019, 3, 5),
        "2019-03-05 00:00:00",
    ],
)
def test_dates_in_every_usual_spelling(raw: object) -> None:
    assert parse_date(raw) == date(2019, 3, 5)


@pytest.mark.parametrize("raw", ["2019-02-30", "3/5/2019", "去年", "2019-13-01"])
def test_impossible_dates_are_refused(raw: str) -> None:
    with pytest.raises(CellError) as bad:
        parse_cell(COLUMN["approval_date"], raw)
    assert bad.value.code == "date_invalid" and "YYYY-MM-DD" in bad.value.fix


@pytest.mark.parametrize(
    "raw", ["2024-03", "2024/3", "2024年3月", "202403", 202403, datetime(2024, 3, 1), "2024-03-15"]
)
def test_months(raw: object) -> None:
    assert parse_month(raw) == "2024-03"


def test_coded_values_take_the_chinese_label_or_the_code() -> None:
    assert parse_cell(COLUMN["usage_scope"], "处室内部") == "office"
    assert parse_cell(COLUMN["usage_scope"], "office") == "office"
    assert parse_cell(COLUMN["status"], None) == "running"  # blank status means 运行
    assert (
        parse_cell(COLUMN["offsite_backup"], "是") is True
        and parse_cell(COLUMN["offsite_backup"], "") is False
    )
    assert [parse_cell(COLUMN["protection_level"], v) for v in ("三级", "第二级", "5", 4)] == [3, 2, 5, 4]
    with pytest.raises(CellError) as bad:
        parse_cell(COLUMN["sharing_status"], "部分共享")
    assert bad.value.fix == "请填写：已共享、不共享、处室内部共享、部门内部共享、单机运行"


def test_money_and_percentages() -> None:
    money = COLUMN["construction_cost"]
    assert parse_cell(money, "1,234.5") == Decimal("1234.50")
    assert parse_cell(money, "80万元") == Decimal("80.00")
    assert parse_cell(money, 12.3) == Decimal("12.30")
    for raw, code in (("-1", "number_negative"), ("1.234", "number_precision"), ("很多", "number_invalid")):
        with pytest.raises(CellError) as bad:
            parse_cell(money, raw)
        assert bad.value.code == code
    assert parse_cell(COLUMN["cpu_utilization"], "35.5%") == 35.5
    with pytest.raises(CellError):
        parse_cell(COLUMN["cpu_utilization"], 120)


def test_cells_that_excel_would_run_as_formulas_are_neutralised_both_ways() -> None:
    for text in ("=1+1", "+86", "-低保", "@SUM(A1)"):
        assert neutralize(text) == "'" + text and unneutralize(neutralize(text)) == text
    assert neutralize("普通文字") == "普通文字" and unneutralize("'引号开头") == "'引号开头"
    assert to_cell(COLUMN["description"], "=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert parse_cell(COLUMN["description"], "'=cmd") == "=cmd"


def test_headers_match_however_they_were_typed() -> None:
    assert normalize_header(" 建设经费（万元） ") == normalize_header("建设经费(万元)")
    assert normalize_header("CPU使用率％") == "CPU使用率%" and normalize_header("*系统名称") == "系统名称"
