"""问题数据: reading a load's rejects page by page and downloading them as CSV or XLSX.

Rejects hold the rows as the provider sent them, personal data included: only the provider
department's stewards and the platform operators read them (auditors see counts, not values).

The download has one row per reject: 行号 (as the provider sees it in the file), every source column
of the raw row, 问题 (every reason, in Chinese) and 规则 (the rule ids). The provider fixes the rows
in Excel and sends them again. A value that Excel would run as a formula (``=cmd|...``, a common
attack through exported files) is written so it stays text: prefixed with ``'`` in the CSV, and a
string cell, never a formula, in the XLSX.
"""

from __future__ import annotations

import csv
import importlib
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.errors import ValidationFailed
from jutong.ingest.models import Load, Reject

CHUNK = 5_000
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header row
MAX_PER_PAGE = 500
FORMATS = ("csv", "xlsx")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROW_HEADER, PROBLEM_HEADER, RULE_HEADER = "行号", "问题", "规则"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def require_reject_reader(principal: Principal, load: Load) -> None:
    """Rejects carry the source rows: the provider department's stewards and operators only."""
    require_role(
        principal,
        Role.operator,
        Role.steward,
        message="问题数据含原始记录（可能有个人信息），只有提供部门的数据管理员和平台管理员可以查看",
    )
    require_department(principal, load.department_id, what="该批次")


def neutralize(value: str) -> str:
    """Keep a cell that starts like a formula from running in Excel (negative numbers stay as they are)."""
    if not value.startswith(_FORMULA_START):
        return value
    if _NUMBER.fullmatch(value):  # -12.5 is a number, not a formula; "-1+cmd|..." is not a number
        return value
    return "'" + value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def problems_text(reasons: list[dict[str, Any]]) -> str:
    """All reasons of one row, as one cell: ``信息项：说明；信息项：说明``."""
    parts = []
    for r in reasons or []:
        item = str(r.get("item") or "")
        message = str(r.get("message") or r.get("rule") or "")
        parts.append(f"{item}：{message}" if item else message)
    return "；".join(parts)


def rules_text(reasons: list[dict[str, Any]]) -> str:
    seen: list[str] = []
    for r in reasons or []:
        rule = str(r.get("rule") or "")
        if rule and rule not in seen:
            seen.append(rule)
    return ",".join(seen)


@dataclass(frozen=True)
class RejectPage:
    items: list[Reject]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def list_rejects(session: Session, load: Load, *, page: int = 1, per_page: int = 100) -> RejectPage:
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    total = int(
        session.scalar(select(func.count()).select_from(Reject).where(Reject.load_id == load.id)) or 0
    )
    items = list(
        session.scalars(
            select(Reject)
            .where(Reject.load_id == load.id)
            .order_by(Reject.row_number, Reject.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return RejectPage(items, total, page, per_page)


def _chunks(session: Session, load_id: int) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
    """Every reject of the load in file order, a chunk at a time (memory stays flat for big loads)."""
    last_row, last_id = -1, 0
    while True:
        rows = session.execute(
            select(Reject.id, Reject.row_number, Reject.raw, Reject.reasons)
            .where(
                Reject.load_id == load_id,
                (Reject.row_number > last_row) | ((Reject.row_number == last_row) & (Reject.id > last_id)),
            )
            .order_by(Reject.row_number, Reject.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        for reject_id, row_number, raw, reasons in rows:
            yield int(row_number), dict(raw or {}), list(reasons or [])
            last_row, last_id = int(row_number), int(reject_id)


def source_columns(session: Session, load_id: int) -> list[str]:
    """The source columns found in the raw rows, in the order first seen (rejects for repeated keys
    carry the item names instead of the source's, so the union is taken)."""
    seen: dict[str, None] = {}
    for _, raw, _ in _chunks(session, load_id):
        for key in raw:
            if key not in seen:
                seen[key] = None
    return list(seen)


def download_name(load: Load, fmt: str) -> str:
    return f"问题数据_批次{load.id}.{fmt}"


def write_csv(session: Session, load: Load, path: Path) -> int:
    """UTF-8 with BOM, so Excel opens the Chinese correctly. Returns the rows written."""
    columns = source_columns(session, load.id)
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([ROW_HEADER, *columns, PROBLEM_HEADER, RULE_HEADER])
        for row_number, raw, reasons in _chunks(session, load.id):
            writer.writerow(
                [
                    row_number,
                    *(neutralize(_text(raw.get(c))) for c in columns),
                    neutralize(problems_text(reasons)),
                    rules_text(reasons),
                ]
            )
            count += 1
    return count


def write_xlsx(session: Session, load: Load, path: Path) -> int:
    """One sheet, every cell written as a string (never a formula); constant memory however many rows."""
    xlsxwriter: Any = importlib.import_module("xlsxwriter")  # untyped: kept behind Any

    columns = source_columns(session, load.id)
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    try:
        sheet = workbook.add_worksheet("问题数据")
        bold = workbook.add_format({"bold": True, "bg_color": "#F2F2F2"})
        header = [ROW_HEADER, *columns, PROBLEM_HEADER, RULE_HEADER]
        for col, name in enumerate(header):
            sheet.write_string(0, col, name, bold)
        sheet.set_column(0, 0, 8)
        sheet.set_column(1, len(columns), 18)
        sheet.set_column(len(columns) + 1, len(columns) + 1, 60)
        sheet.set_column(len(columns) + 2, len(columns) + 2, 16)
        sheet.freeze_panes(1, 1)
        count = 0
        for row_number, raw, reasons in _chunks(session, load.id):
            if count >= XLSX_MAX_ROWS:
                break
            r = count + 1
            sheet.write_number(r, 0, row_number)
            for col, name in enumerate(columns, start=1):
                value = _text(raw.get(name))
                if value:
                    sheet.write_string(r, col, value)
            sheet.write_string(r, len(columns) + 1, problems_text(reasons))
            sheet.write_string(r, len(columns) + 2, rules_text(reasons))
            count += 1
    finally:
        workbook.close()
    return count


def export(session: Session, load: Load, fmt: str, directory: Path | None = None) -> tuple[Path, str]:
    """Write the rejects of ``load`` to a temporary file (the caller sends it and deletes it);
    returns the file and its media type."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed(f"下载格式只能是 csv 或 xlsx，收到“{fmt}”", code="format_invalid")
    descriptor, name = tempfile.mkstemp(prefix=f"rejects-{load.id}-", suffix=f".{fmt}", dir=directory)
    os.close(descriptor)
    path = Path(name)
    try:
        if fmt == "xlsx":
            write_xlsx(session, load, path)
        else:
            write_csv(session, load, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, (XLSX_MEDIA if fmt == "xlsx" else "text/csv; charset=utf-8")
