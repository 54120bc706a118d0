"""Reading and writing spreadsheet files for imports and exports.

Reading recognises the file by its content, not its name: .xlsx (every sheet), or CSV/TSV text in
UTF-8, UTF-8 with BOM, or GBK/GB18030 (detected); old .xls, UTF-16, binary garbage and empty files
get a precise ``FileProblem``. Writing builds .xlsx workbooks with styled Chinese headers,
drop-down lists for coded columns and a 填写说明 sheet.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import ParseError

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from jutong.standards.tabular import Column, Rows

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000  # per sheet
TEMPLATE_ROWS = 1000  # rows of the blank template that get drop-down lists
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
    rows: Rows  # (row number as Excel shows it, cells)


@dataclass
class ParsedFile:
    file_format: str  # "xlsx" | "csv"
    encoding: str | None  # CSV only: "UTF-8", "UTF-8 (BOM)", "GB18030"
    sheets: list[Sheet]


def read_file(data: bytes, filename: str = "", *, max_rows: int = MAX_ROWS) -> ParsedFile:
    """Recognise the file by its content (not its name) and read every sheet's rows."""
    if not data.strip():
        raise FileProblem("file_empty", "文件是空的", "请使用导入模板填写后再上传")
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(
            "file_too_large", f"文件超过 {MAX_FILE_BYTES // (1024 * 1024)} MB", "请拆分为多个文件分批导入"
        )
    if data.startswith(b"PK\x03\x04"):
        return ParsedFile("xlsx", None, _read_xlsx(data, max_rows))
    if data.startswith(_OLE_MAGIC):
        raise FileProblem(
            "file_xls_unsupported",
            "这是旧版 Excel（.xls）文件",
            "请在 Excel 中“另存为”Excel 工作簿（.xlsx）或 CSV 后再导入",
        )
    text, encoding = decode_text(data)
    return ParsedFile("csv", encoding, [Sheet(filename or "CSV 文件", _read_csv(text, max_rows))])


def _read_xlsx(data: bytes, max_rows: int) -> list[Sheet]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _BROKEN_XLSX as exc:
        raise _unreadable(exc) from exc
    sheets = []
    try:
        for ws in workbook.worksheets:
            rows: Rows = []
            # a sheet claiming 16,384 columns must not be read into memory cell by cell
            cells = ws.iter_rows(values_only=True, max_col=MAX_COLUMNS)
            for number, values in enumerate(cells, start=1):
                if number > max_rows + 20:
                    raise FileProblem(
                        "file_too_many_rows",
                        f"工作表“{ws.title}”超过 {max_rows} 行",
                        "请拆分为多个文件分批导入",
                    )
                rows.append((number, list(values)))
            sheets.append(Sheet(ws.title, rows))
    except _BROKEN_XLSX as exc:  # the sheets' XML is read lazily, so damage may surface only here
        raise _unreadable(exc) from exc
    finally:
        workbook.close()
    return sheets


MAX_COLUMNS = 200
_BROKEN_XLSX = (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, ParseError, EOFError)


def _unreadable(exc: Exception) -> FileProblem:
    return FileProblem(
        "file_unreadable",
        f"无法作为 Excel 文件读取（{exc.__class__.__name__}）",
        "请用 Excel 打开检查后另存为 .xlsx 再导入",
    )


def decode_text(data: bytes) -> tuple[str, str]:
    """UTF-8 with or without BOM, else GB18030 (a superset of GBK and GB2312); the text and its encoding."""
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


def _read_csv(text: str, max_rows: int) -> Rows:
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    rows: Rows = []
    try:
        for number, values in enumerate(reader, start=1):
            if number > max_rows + 20:
                raise FileProblem("file_too_many_rows", f"文件超过 {max_rows} 行", "请拆分为多个文件分批导入")
            rows.append((number, list(values)))
    except csv.Error as exc:
        raise FileProblem(
            "file_unreadable", f"CSV 格式有误：{exc}", "请用 Excel 打开检查后重新另存为 CSV"
        ) from exc
    return rows


# ---- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """A file to download: its bytes, Chinese file name, media type and how many records it holds."""

    content: bytes
    filename: str
    media_type: str
    count: int = 0
    ascii_stem: str = "export"  # the file name for clients that do not read filename*

    @property
    def content_disposition(self) -> str:
        ascii_name = self.ascii_stem + self.filename[self.filename.rfind(".") :]
        return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename)}"


def xlsx_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="FCE8E6")
REQUIRED_FONT = Font(bold=True, color="B3261E")
READONLY_FILL = PatternFill("solid", fgColor="EEEEEE")


def write_header(ws: Worksheet, columns: Sequence[Column]) -> None:
    """The header row: required columns in red, read-only ones grey, frozen below."""
    ws.append([c.header for c in columns])
    for index, column in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = REQUIRED_FONT if column.required else HEADER_FONT
        cell.fill = READONLY_FILL if column.readonly else HEADER_FILL
        width = column.width or max(12, len(column.header) * 2 + 2)
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"


def format_dates(ws: Worksheet, columns: Sequence[Column]) -> None:
    """Date columns show as YYYY-MM-DD in Excel."""
    for index, column in enumerate(columns, start=1):
        if column.kind == "date":
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "yyyy-mm-dd"


def add_dropdowns(
    ws: Worksheet, columns: Sequence[Column], lists: dict[str, list[str]] | None = None
) -> None:
    """Drop-down lists for coded columns (enums, 是/否, and any ``lists`` given by column key)."""
    for index, column in enumerate(columns, start=1):
        if column.readonly:
            continue
        if column.enum is not None:
            values = [m.label for m in column.enum]
        elif column.kind == "bool":
            values = ["是", "否"]
        elif lists and lists.get(column.key) and len(",".join(lists[column.key])) < 250:
            values = lists[column.key]
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


def write_help_sheet(
    ws: Worksheet,
    sections: Iterable[tuple[str, Sequence[Column]]],
    allowed: Any,
    rules: Iterable[str],
) -> None:
    """The 填写说明 sheet: one line per column (sheet, header, required, allowed values, note), then rules.

    ``allowed(column)`` gives the allowed values of a column as text."""
    ws.append(["工作表", "列名", "是否必填", "可填写的值", "说明"])
    for cell in ws[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    for sheet, columns in sections:
        for column in columns:
            need = "只读" if column.readonly else "必填" if column.required else "选填"
            ws.append([sheet, column.header, need, allowed(column), column.note])
    ws.append([])
    for line in rules:
        ws.append([line])
    widths = {"A": 16, "B": 22, "C": 10, "D": 60, "E": 50}
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
