"""Spreadsheet columns, cells and the per-cell problem report, shared by every import and export.

A domain describes its sheets as ``Column`` specs (Chinese header, kind, whether required, the
``LabeledEnum`` of a coded column). This module reads a cell into a value or a ``CellError`` (a
stable code, what is wrong and how to fix it, in Chinese), writes a value back as the file shows it
(labels for codes, 是/否, dates, formula-safe text), finds the header row and the columns of a sheet,
and collects problems as (sheet, row as Excel shows it, column, value, problem, fix, code).

No database here: domains add their own kinds (``parsers=``) and their own row-level checks.
Reading and writing the files themselves is ``standards.tabular_files``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from openpyxl.utils import get_column_letter

from jutong.core.labels import LabeledEnum
from jutong.standards.normalize import normalize_header, number_text, parse_bool, parse_date, parse_month

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CellError(Exception):
    """A cell that cannot be read: a stable code, what is wrong and how to fix it (Chinese)."""

    def __init__(self, code: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.code, self.problem, self.fix = code, problem, fix


@dataclass(frozen=True)
class Column:
    """One column of a sheet. ``kind`` names its parser (see ``PARSERS``; domains may add kinds)."""

    key: str
    header: str
    kind: str
    required: bool = False
    enum: type[LabeledEnum] | None = None
    max_len: int | None = None
    default: Any = None
    note: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)
    readonly: bool = False  # written on export for information; may be absent on import and is ignored
    width: int | None = None  # column width in the workbook (characters)


Parser = Callable[[Column, Any], Any]


def header_index(columns: Iterable[Column]) -> dict[str, Column]:
    """Normalised header (and alias) → column."""
    out: dict[str, Column] = {}
    for column in columns:
        for name in (column.header, *column.aliases):
            out[normalize_header(name)] = column
    return out


def allowed_values(column: Column) -> str:
    """What may be written in a column, for messages and the 填写说明 sheet ("" when free text)."""
    if column.enum is not None:
        return "、".join(member.label for member in column.enum)
    if column.kind == "bool":
        return "是、否"
    if column.kind == "date":
        return "YYYY-MM-DD，也可写 2019/3/5、2019年3月5日、20190305"
    if column.kind == "month":
        return "YYYY-MM，也可写 2024/3、2024年3月、202403"
    if column.kind == "int":
        return "不小于 0 的整数"
    return ""


# ---- formula injection -------------------------------------------------------------------------


def neutralize(text: str) -> str:
    """A cell starting with = + - @ would run as a formula in Excel: prefix it with '."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def unneutralize(text: str) -> str:
    """Undo ``neutralize``, so export → import changes nothing."""
    if text.startswith("'") and text[1:2] in FORMULA_PREFIXES:
        return text[1:]
    return text


# ---- reading cells -----------------------------------------------------------------------------


def display(value: Any) -> str:
    """A raw cell as the user typed it, for error reports."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_text(column: Column, raw: Any) -> str:
    text = display(raw).strip()
    if column.max_len and len(text) > column.max_len:
        raise CellError(
            "too_long",
            f"长度 {len(text)} 超过上限 {column.max_len} 个字",
            f"请缩短到 {column.max_len} 个字以内",
        )
    return text


def parse_enum(column: Column, raw: Any) -> str:
    assert column.enum is not None
    member = column.enum.from_label(display(raw))
    if member is None:
        raise CellError(
            "enum_invalid", f"“{display(raw)}”不是有效的{column.header}", f"请填写：{allowed_values(column)}"
        )
    return member.value


def parse_yes_no(column: Column, raw: Any) -> bool:
    value = parse_bool(raw)
    if value is None:
        raise CellError("bool_invalid", f"“{display(raw)}”不是“是”或“否”", "请填写“是”或“否”")
    return value


def parse_day(column: Column, raw: Any) -> date:
    value = parse_date(raw)
    if value is None:
        raise CellError("date_invalid", f"“{display(raw)}”不是有效日期", "请写成 YYYY-MM-DD，例如 2019-03-05")
    return value


def parse_yyyy_mm(column: Column, raw: Any) -> str:
    value = parse_month(raw)
    if value is None:
        raise CellError("month_invalid", f"“{display(raw)}”不是有效月份", "请写成 YYYY-MM，例如 2024-03")
    return value


def parse_count(column: Column, raw: Any) -> int:
    """A whole number ≥ 0 (typed as 12, 12.0, "1,200")."""
    try:
        number = float(raw) if isinstance(raw, int | float) else float(number_text(display(raw)))
    except ValueError:
        raise CellError("number_invalid", f"“{display(raw)}”不是整数", "请填写不小于 0 的整数") from None
    if not number.is_integer() or number < 0:
        raise CellError("number_invalid", f"“{display(raw)}”不是不小于 0 的整数", "请填写不小于 0 的整数")
    if number > 2**31 - 1:
        raise CellError("number_too_large", "数值过大", "请检查是否多写了位数")
    return int(number)


PARSERS: dict[str, Parser] = {
    "text": parse_text,
    "department": parse_text,
    "enum": parse_enum,
    "bool": parse_yes_no,
    "date": parse_day,
    "month": parse_yyyy_mm,
    "int": parse_count,
}


def parse_cell(column: Column, raw: Any, parsers: Mapping[str, Parser] = PARSERS) -> Any:
    """The value of one cell, or ``CellError``. Blank cells give the column's default."""
    if isinstance(raw, str):
        raw = unneutralize(raw.strip())
    if is_blank(raw):
        if column.required:
            raise CellError("required", f"“{column.header}”不能为空", f"请填写{column.header}")
        return column.default
    return parsers[column.kind](column, raw)


# ---- writing cells -----------------------------------------------------------------------------


def to_cell(column: Column, value: Any, *, text_only: bool = False) -> Any:
    """A stored value as written to a file: labels for codes, 是/否, YYYY-MM-DD, formula-safe text.

    ``text_only`` (CSV, form fields) gives strings: dates as YYYY-MM-DD, decimals in full, numbers
    without a trailing .0."""
    if value is None:
        return "" if text_only else None
    if column.enum is not None:
        member = column.enum.from_label(str(value))
        return member.label if member is not None else str(value)
    if column.kind == "bool" or isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, date):
        return value.isoformat() if text_only else value
    if isinstance(value, Decimal):
        return format(value, "f") if text_only else value
    if isinstance(value, int | float):
        return format(value, "g") if text_only else value
    return neutralize(str(value))


# ---- the problem report ------------------------------------------------------------------------

# Problems with a sheet's layout: stable code → (what is wrong, how to fix it).
LAYOUT_MESSAGES: dict[str, tuple[str, str]] = {
    "sheet_empty": ("工作表是空的", "请按模板填写表头：{names}"),
    "column_unnamed": ("这一列有数据但没有列名", "请删除该列，或填上模板中的列名：{names}"),
    "column_unknown": ("未知的列“{value}”", "请删除该列，或改为模板中的列名：{names}"),
    "column_duplicate": ("列“{value}”出现了不止一次", "每一列只能出现一次，请删除重复的列"),
    "column_missing": ("缺少列“{column}”", "请按模板补上“{column}”列（选填列可以留空）"),
}


@dataclass(frozen=True)
class ImportProblem:
    """One problem of an import, located as Excel shows it."""

    code: str
    sheet: str
    row: int | None
    column: str | None
    value: str
    problem: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProblemReport:
    """The problems of one file: every one is counted, the first ``max_reported`` are kept.

    Domains subclass it to add their counts, and extend ``messages`` with their own codes."""

    filename: str
    file_format: str = ""
    encoding: str | None = None
    errors: list[ImportProblem] = field(default_factory=list)
    error_count: int = 0

    messages: ClassVar[dict[str, tuple[str, str]]] = LAYOUT_MESSAGES
    max_reported: ClassVar[int] = 500

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add(self, problem: ImportProblem) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_reported:
            self.errors.append(problem)

    def flag(
        self, code: str, sheet: str, row: int | None, column: str | None, value: str = "", **fill: Any
    ) -> None:
        """Report a problem from ``messages``; ``fill`` completes its text."""
        problem, fix = self.messages[code]
        words = {"value": value, "column": column, **fill}
        self.add(ImportProblem(code, sheet, row, column, value, problem.format(**words), fix.format(**words)))

    def cell_error(self, sheet: str, row: int, column: Column, raw: Any, exc: CellError) -> None:
        self.add(ImportProblem(exc.code, sheet, row, column.header, display(raw), exc.problem, exc.fix))

    def problem_dicts(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.errors]

    @property
    def shown_note(self) -> str:
        return "" if self.error_count <= len(self.errors) else f"（只列出前 {len(self.errors)} 处）"


# ---- a sheet's layout --------------------------------------------------------------------------

Rows = list[tuple[int, list[Any]]]  # (row number as Excel shows it, cells)


def header_row(rows: Rows, known: Mapping[str, Column]) -> tuple[int, list[Any]] | None:
    """The header is the first row naming at least two known columns (a title row above is allowed)."""
    non_empty = [(n, cells) for n, cells in rows if any(not is_blank(c) for c in cells)]
    for number, cells in non_empty[:10]:
        if sum(1 for c in cells if normalize_header(c) in known) >= 2:
            return number, cells
    return non_empty[0] if non_empty else None


def locate_columns(
    sheet: str, rows: Rows, columns: tuple[Column, ...], report: ProblemReport
) -> tuple[int, dict[str, int]] | None:
    """Each column key's position; missing, unknown, unnamed and repeated columns are reported.

    Read-only columns may be absent. None when the layout has a problem."""
    known = header_index(columns)
    found = header_row(rows, known)
    names = "、".join(c.header for c in columns if not c.readonly)
    if found is None:
        report.flag("sheet_empty", sheet, None, None, names=names)
        return None
    header, cells = found
    positions: dict[str, int] = {}
    before = report.error_count
    for index, cell in enumerate(cells):
        spec = known.get(normalize_header(cell))
        if is_blank(cell):
            if any(index < len(c) and not is_blank(c[index]) for n, c in rows if n > header):
                report.flag(
                    "column_unnamed", sheet, header, f"第 {get_column_letter(index + 1)} 列", names=names
                )
        elif spec is None:
            report.flag("column_unknown", sheet, header, display(cell), display(cell), names=names)
        elif spec.key in positions:
            report.flag("column_duplicate", sheet, header, display(cell), spec.header)
        else:
            positions[spec.key] = index
    for spec in columns:
        if spec.key not in positions and not spec.readonly:
            report.flag("column_missing", sheet, header, spec.header)
    return (header, positions) if report.error_count == before else None


def data_rows(rows: Rows, header: int) -> Rows:
    """The non-blank rows below the header."""
    return [(n, c) for n, c in rows if n > header and any(not is_blank(v) for v in c)]


def parse_rows(
    sheet: str,
    rows: Rows,
    columns: tuple[Column, ...],
    report: ProblemReport,
    *,
    parsers: Mapping[str, Parser] = PARSERS,
    omit_blank: Iterable[str] = (),
) -> list[tuple[int, dict[str, Any], bool]] | None:
    """Each data row's readable cells and whether all were readable (bad cells are reported).

    Keys in ``omit_blank`` are left out of a row's values when their cell is blank (instead of
    taking the default); read-only columns are not read. None when the sheet's layout is wrong."""
    layout = locate_columns(sheet, rows, columns, report)
    if layout is None:
        return None
    header, positions = layout
    omit = frozenset(omit_blank)
    out = []
    for number, cells in data_rows(rows, header):
        values: dict[str, Any] = {}
        ok = True
        for column in columns:
            if column.readonly:
                continue
            index = positions[column.key]
            raw = cells[index] if index < len(cells) else None
            if column.key in omit and is_blank(raw):
                continue
            try:
                values[column.key] = parse_cell(column, raw, parsers)
            except CellError as exc:
                report.cell_error(sheet, number, column, raw, exc)
                ok = False
        out.append((number, values, ok))
    return out


def split_list(text: str) -> list[str]:
    """A cell holding several values, separated by ; ； 、 , ， or line breaks; blanks dropped."""
    return [part.strip() for part in re.split(r"[;；、,，\n\r]+", text) if part.strip()]
