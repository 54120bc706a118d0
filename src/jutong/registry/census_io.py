"""Census files: reading .xlsx and .csv (UTF-8, UTF-8 with BOM, GBK/GB18030, detected), writing the
export and the blank template (.xlsx with 政务信息系统 / 月度使用情况 / 填写说明, or CSV).

The import checks and the unit of work live in ``census_import``.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.auth import Principal, Role
from jutong.core.errors import ValidationFailed
from jutong.registry import accounts, census
from jutong.registry.census_fields import (
    SYSTEM_COLUMNS,
    USAGE_COLUMNS,
    Column,
    allowed_values,
    to_cell,
)
from jutong.registry.models import Department, InformationSystem, SystemUsage

SHEET_SYSTEMS = "政务信息系统"
SHEET_USAGE = "月度使用情况"
SHEET_HELP = "填写说明"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000  # per sheet: 5,000 systems × 12 months of usage fit with room
TEMPLATE_ROWS = 1000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# ---- reading -------------------------------------------------------------------------------


class FileProblem(Exception):
    """The file as a whole cannot be read (empty, not a spreadsheet, unknown encoding)."""

    def __init__(self, code: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.code, self.problem, self.fix = code, problem, fix


@dataclass
class Sheet:
    name: str
    rows: list[tuple[int, list[Any]]]  # (row number as Excel shows it, cells)


@dataclass
class ParsedFile:
    file_format: str  # "xlsx" | "csv"
    encoding: str | None  # CSV only: "UTF-8", "UTF-8 (BOM)", "GB18030"
    sheets: list[Sheet]


def read_file(data: bytes, filename: str = "") -> ParsedFile:
    """Recognise the file by its content (not its name) and read every sheet's rows."""
    if not data.strip():
        raise FileProblem("file_empty", "文件是空的", "请使用导入模板填写后再上传")
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(
            "file_too_large", f"文件超过 {MAX_FILE_BYTES // (1024 * 1024)} MB", "请拆分为多个文件分批导入"
        )
    if data.startswith(b"PK\x03\x04"):
        return ParsedFile("xlsx", None, _read_xlsx(data))
    if data.startswith(_OLE_MAGIC):
        raise FileProblem(
            "file_xls_unsupported",
            "这是旧版 Excel（.xls）文件",
            "请在 Excel 中“另存为”Excel 工作簿（.xlsx）或 CSV 后再导入",
        )
    text, encoding = _decode(data)
    return ParsedFile("csv", encoding, [Sheet(filename or "CSV 文件", _read_csv(text))])


def _read_xlsx(data: bytes) -> list[Sheet]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileProblem(
            "file_unreadable",
            f"无法作为 Excel 文件读取（{exc.__class__.__name__}）",
            "请用 Excel 打开检查后另存为 .xlsx 再导入",
        ) from exc
    sheets = []
    try:
        for ws in workbook.worksheets:
            rows: list[tuple[int, list[Any]]] = []
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                if number > MAX_ROWS + 20:
                    raise FileProblem(
                        "file_too_many_rows",
                        f"工作表“{ws.title}”超过 {MAX_ROWS} 行",
                        "请拆分为多个文件分批导入",
                    )
                rows.append((number, list(values)))
            sheets.append(Sheet(ws.title, rows))
    finally:
        workbook.close()
    return sheets


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 with or without BOM, else GB18030 (a superset of GBK and GB2312)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(
            "file_encoding_unsupported", "文件是 UTF-16 编码", "请另存为“CSV UTF-8（逗号分隔）”后再导入"
        )
    if b"\x00" in data[:65536]:
        raise FileProblem(
            "file_unreadable",
            "文件不是 Excel（.xlsx）或 CSV 文本文件",
            "请上传导入模板格式的 .xlsx 或 .csv 文件",
        )
    candidates = [("utf-8-sig", "UTF-8 (BOM)")] if data.startswith(b"\xef\xbb\xbf") else []
    candidates += [("utf-8", "UTF-8"), ("gb18030", "GB18030")]
    for codec, name in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            break
        return text, name
    raise FileProblem(
        "file_unreadable",
        "无法识别文件内容：既不是 .xlsx，也不是 UTF-8 或 GBK 编码的 CSV",
        "请上传导入模板格式的 .xlsx，或另存为 CSV（UTF-8 或 GBK）后再导入",
    )


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    controls = sum(
        1 for ch in sample if unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\t\r\n"
    )
    return controls > max(2, len(sample) // 200)


def _read_csv(text: str) -> list[tuple[int, list[Any]]]:
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    try:
        for number, values in enumerate(reader, start=1):
            if number > MAX_ROWS + 20:
                raise FileProblem("file_too_many_rows", f"文件超过 {MAX_ROWS} 行", "请拆分为多个文件分批导入")
            rows.append((number, list(values)))
    except csv.Error as exc:
        raise FileProblem(
            "file_unreadable", f"CSV 格式有误：{exc}", "请用 Excel 打开检查后重新另存为 CSV"
        ) from exc
    return rows


# ---- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    filename: str
    media_type: str
    systems: int = 0

    @property
    def content_disposition(self) -> str:
        ascii_name = "census" + self.filename[self.filename.rfind(".") :]
        return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename)}"


def _value_of(system: InformationSystem, column: Column) -> Any:
    if column.key == "department":
        return system.department.name
    return getattr(system, column.key)


def export_census(
    session: Session,
    principal: Principal,
    *,
    file_format: str = "xlsx",
    encoding: str = "utf-8",
    department_id: int | None = None,
) -> ExportFile:
    """The census the principal may see, as .xlsx (three sheets) or CSV (systems only). Audited."""
    file_format, encoding = file_format.lower().lstrip("."), encoding.lower().replace("_", "-")
    if file_format not in ("xlsx", "csv"):
        raise ValidationFailed(
            f"不支持的导出格式“{file_format}”，可选 xlsx 或 csv", code="export_format_invalid"
        )
    if encoding not in ("utf-8", "utf8", "gbk", "gb18030"):
        raise ValidationFailed(f"不支持的编码“{encoding}”，可选 utf-8 或 gbk", code="export_encoding_invalid")
    systems = census.visible_systems(session, principal, department_id)
    stamp = date.today().strftime("%Y%m%d")
    if file_format == "csv":
        content = _csv_bytes(systems, gbk=encoding in ("gbk", "gb18030"))
        charset = "gbk" if encoding in ("gbk", "gb18030") else "utf-8"
        result = ExportFile(
            content, f"政务信息系统普查_{stamp}.csv", f"text/csv; charset={charset}", len(systems)
        )
    else:
        usage = _usage_for(session, systems)
        workbook = _workbook(_department_names(session, principal), systems, usage)
        result = ExportFile(
            _xlsx_bytes(workbook), f"政务信息系统普查_{stamp}.xlsx", XLSX_MEDIA_TYPE, len(systems)
        )
    audit.record(
        session,
        principal,
        "system.export",
        summary=f"导出系统普查：{len(systems)} 个系统（{file_format.upper()}）",
        object_type="system",
        detail={
            "format": file_format,
            "encoding": encoding if file_format == "csv" else None,
            "systems": len(systems),
            "department_id": principal.department_id if principal.role == Role.steward else department_id,
        },
    )
    return result


def census_template(session: Session, principal: Principal) -> ExportFile:
    """The blank workbook users fill in: headers, drop-downs for coded columns, and 填写说明."""
    census.require_reader(principal)
    workbook = _workbook(_department_names(session, principal), None, None)
    return ExportFile(_xlsx_bytes(workbook), "政务信息系统普查导入模板.xlsx", XLSX_MEDIA_TYPE)


def _department_names(session: Session, principal: Principal) -> list[str]:
    if principal.role == Role.steward and principal.department_id is not None:
        return [accounts.get_department(session, principal.department_id).name]
    return [d.name for d in session.scalars(select(Department).order_by(Department.code))]


def _usage_for(session: Session, systems: list[InformationSystem]) -> list[tuple[str, SystemUsage]]:
    codes = {s.id: s.code for s in systems}
    out: list[tuple[str, SystemUsage]] = []
    ids = list(codes)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for usage in session.scalars(select(SystemUsage).where(SystemUsage.system_id.in_(chunk))):
            out.append((codes[usage.system_id], usage))
    out.sort(key=lambda pair: (pair[0], pair[1].month))
    return out


def _csv_bytes(systems: list[InformationSystem], *, gbk: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.header for c in SYSTEM_COLUMNS])
    for system in systems:
        writer.writerow([to_cell(c, _value_of(system, c), text_only=True) for c in SYSTEM_COLUMNS])
    text = buffer.getvalue()
    # GB18030 is byte-identical to GBK for every GBK character and still encodes the rare others
    return text.encode("gb18030") if gbk else text.encode("utf-8-sig")


def _xlsx_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="FCE8E6")
_REQUIRED_FONT = Font(bold=True, color="B3261E")


def _header(ws: Worksheet, columns: tuple[Column, ...]) -> None:
    ws.append([c.header for c in columns])
    for index, column in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = _REQUIRED_FONT if column.required else _HEADER_FONT
        cell.fill = _HEADER_FILL
        width = 40 if column.key == "description" else max(12, len(column.header) * 2 + 2)
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"


def _date_formats(ws: Worksheet, columns: tuple[Column, ...]) -> None:
    for index, column in enumerate(columns, start=1):
        if column.kind == "date":
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "yyyy-mm-dd"


def _validations(ws: Worksheet, columns: tuple[Column, ...], departments: list[str]) -> None:
    """Drop-down lists for coded columns in the blank template."""
    for index, column in enumerate(columns, start=1):
        if column.enum is not None:
            values = [m.label for m in column.enum]
        elif column.kind == "bool":
            values = ["是", "否"]
        elif column.kind == "department" and departments and len(",".join(departments)) < 250:
            values = departments
        else:
            continue
        letter = get_column_letter(index)
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(values) + '"',
            allow_blank=not column.required,
            showErrorMessage=True,
            errorTitle=column.header,
            error=f"请从下拉列表中选择：{'、'.join(values)}",
        )
        validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
        ws.add_data_validation(validation)


def _workbook(
    departments: list[str],
    systems: list[InformationSystem] | None,
    usage: list[tuple[str, SystemUsage]] | None,
) -> Workbook:
    workbook = Workbook()
    main = workbook.active
    assert main is not None
    main.title = SHEET_SYSTEMS
    _header(main, SYSTEM_COLUMNS)
    for system in systems or []:
        main.append([to_cell(c, _value_of(system, c)) for c in SYSTEM_COLUMNS])
    _date_formats(main, SYSTEM_COLUMNS)

    usage_ws = workbook.create_sheet(SHEET_USAGE)
    _header(usage_ws, USAGE_COLUMNS)
    for code, row in usage or []:
        usage_ws.append([to_cell(c, code if c.key == "code" else getattr(row, c.key)) for c in USAGE_COLUMNS])

    if systems is None:
        _validations(main, SYSTEM_COLUMNS, departments)
    _help_sheet(workbook.create_sheet(SHEET_HELP), departments)
    return workbook


def _help_sheet(ws: Worksheet, departments: list[str]) -> None:
    ws.append(["工作表", "列名", "是否必填", "可填写的值", "说明"])
    for cell in ws[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for sheet, columns in ((SHEET_SYSTEMS, SYSTEM_COLUMNS), (SHEET_USAGE, USAGE_COLUMNS)):
        for column in columns:
            allowed = "、".join(departments) if column.kind == "department" else allowed_values(column)
            ws.append([sheet, column.header, "必填" if column.required else "选填", allowed, column.note])
    ws.append([])
    for line in (
        "导入规则：整个文件全部通过校验才会导入；任何一处有误都不会改动数据，并逐行逐列列出错误。",
        "系统编号已存在的行将更新该系统；系统编号为空或不存在的行将新建系统。",
        "日期写成 YYYY-MM-DD；是/否列写“是”或“否”；金额单位为万元。",
        "CSV 文件只包含“政务信息系统”一张表，可用 UTF-8 或 GBK 编码保存。",
    ):
        ws.append([line])
    widths = {"A": 16, "B": 22, "C": 10, "D": 60, "E": 50}
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
