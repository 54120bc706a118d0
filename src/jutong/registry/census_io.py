"""Census files: reading .xlsx and .csv (UTF-8, UTF-8 with BOM, GBK/GB18030, detected), writing the
export and the blank template (.xlsx with 政务信息系统 / 月度使用情况 / 填写说明, or CSV).

The import checks and the unit of work live in ``census_import``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
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
from jutong.standards import tabular_files
from jutong.standards.tabular_files import (
    MAX_FILE_BYTES,
    TEMPLATE_ROWS,
    XLSX_MEDIA_TYPE,
    FileProblem,
    ParsedFile,
    Sheet,
    add_dropdowns,
    format_dates,
    write_header,
    write_help_sheet,
    xlsx_bytes,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "SHEET_HELP",
    "SHEET_SYSTEMS",
    "SHEET_USAGE",
    "TEMPLATE_ROWS",
    "XLSX_MEDIA_TYPE",
    "ExportFile",
    "FileProblem",
    "ParsedFile",
    "Sheet",
    "census_template",
    "export_census",
    "read_file",
]

SHEET_SYSTEMS = "政务信息系统"
SHEET_USAGE = "月度使用情况"
SHEET_HELP = "填写说明"
MAX_ROWS = 100_000  # per sheet: 5,000 systems × 12 months of usage fit with room


# ---- reading -------------------------------------------------------------------------------


def read_file(data: bytes, filename: str = "") -> ParsedFile:
    """Recognise the file by its content (not its name) and read every sheet's rows."""
    return tabular_files.read_file(data, filename, max_rows=MAX_ROWS)


# ---- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile(tabular_files.ExportFile):
    ascii_stem: str = "census"

    @property
    def systems(self) -> int:
        return self.count


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
            xlsx_bytes(workbook), f"政务信息系统普查_{stamp}.xlsx", XLSX_MEDIA_TYPE, len(systems)
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
    return ExportFile(xlsx_bytes(workbook), "政务信息系统普查导入模板.xlsx", XLSX_MEDIA_TYPE)


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


def _workbook(
    departments: list[str],
    systems: list[InformationSystem] | None,
    usage: list[tuple[str, SystemUsage]] | None,
) -> Workbook:
    workbook = Workbook()
    main = workbook.active
    assert main is not None
    main.title = SHEET_SYSTEMS
    write_header(main, SYSTEM_COLUMNS)
    for system in systems or []:
        main.append([to_cell(c, _value_of(system, c)) for c in SYSTEM_COLUMNS])
    format_dates(main, SYSTEM_COLUMNS)

    usage_ws = workbook.create_sheet(SHEET_USAGE)
    write_header(usage_ws, USAGE_COLUMNS)
    for code, row in usage or []:
        usage_ws.append([to_cell(c, code if c.key == "code" else getattr(row, c.key)) for c in USAGE_COLUMNS])

    if systems is None:
        add_dropdowns(main, SYSTEM_COLUMNS, {"department": departments})
    _help_sheet(workbook.create_sheet(SHEET_HELP), departments)
    return workbook


def _help_sheet(ws: Worksheet, departments: list[str]) -> None:
    def allowed(column: Column) -> str:
        return "、".join(departments) if column.kind == "department" else allowed_values(column)

    write_help_sheet(
        ws,
        ((SHEET_SYSTEMS, SYSTEM_COLUMNS), (SHEET_USAGE, USAGE_COLUMNS)),
        allowed,
        (
            "导入规则：整个文件全部通过校验才会导入；任何一处有误都不会改动数据，并逐行逐列列出错误。",
            "系统编号已存在的行将更新该系统；系统编号为空或不存在的行将新建系统。",
            "日期写成 YYYY-MM-DD；是/否列写“是”或“否”；金额单位为万元。",
            "CSV 文件只包含“政务信息系统”一张表，可用 UTF-8 或 GBK 编码保存。",
        ),
    )
