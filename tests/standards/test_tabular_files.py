"""Reading people's spreadsheets: damaged or oversized workbooks get a precise error, not a crash."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from jutong.standards.tabular_files import MAX_COLUMNS, FileProblem, read_file, xlsx_bytes


def _workbook(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)  # type: ignore[union-attr]
    return xlsx_bytes(workbook)


def test_a_workbook_whose_sheet_xml_is_damaged_is_reported_as_unreadable() -> None:
    good = _workbook([["系统名称", "所属部门"], ["人口库", "公安局"]])
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]  # cut off mid-element
            target.writestr(item, content)
    with pytest.raises(FileProblem) as problem:
        read_file(damaged.getvalue(), "普查.xlsx")
    assert problem.value.code == "file_unreadable"


def test_columns_beyond_the_limit_are_not_read() -> None:
    wide = _workbook([["x"] * (MAX_COLUMNS + 50)])
    parsed = read_file(wide, "wide.xlsx")
    assert len(parsed.sheets[0].rows[0][1]) == MAX_COLUMNS
