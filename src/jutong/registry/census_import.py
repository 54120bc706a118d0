"""Importing a census file, all or nothing.

Every row and cell is checked before anything is written. A file with any problem changes
nothing and answers a Chinese report: sheet, row number as Excel shows it, column header, the
bad value, what is wrong, how to fix it, and a stable code. A good file creates the systems
whose code is new (or blank) and updates those whose code exists, so export → import changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.auth import Principal, Role, require_role
from jutong.registry import accounts, census
from jutong.registry.census_fields import PARSERS, SYSTEM_COLUMNS, USAGE_COLUMNS, Column
from jutong.registry.census_io import SHEET_HELP, SHEET_SYSTEMS, SHEET_USAGE, FileProblem, Sheet, read_file
from jutong.registry.models import Department, InformationSystem
from jutong.standards.normalize import normalize_header
from jutong.standards.tabular import LAYOUT_MESSAGES, ImportProblem, ProblemReport, parse_rows

__all__ = ["MAX_REPORTED", "MESSAGES", "ImportProblem", "ImportReport", "import_census"]

MAX_REPORTED = 500
_PCT_KEYS = ("cpu_utilization", "storage_utilization")

# Problems found across rows and columns: stable code → (what is wrong, how to fix it).
# Cell-level problems (bad number, date, label ...) come from ``census_fields.parse_cell``, and
# layout problems (missing, unknown, repeated columns ...) from ``standards.tabular``.
MESSAGES: dict[str, tuple[str, str]] = {
    "file_no_rows": ("文件中没有数据行", "请在表头下方逐行填写系统信息"),
    "department_unknown": ("平台中没有部门“{value}”", "请填写已有的部门名称或编码，例如：{names}"),
    "department_forbidden": (
        "您只能导入本部门的系统，这一行属于“{other}”",
        "请删除这一行，或交由该部门的数据管理员导入",
    ),
    "field_reserved": (
        "{value}",
        "请删除这一列的修改，或请平台管理员调整",
    ),
    "system_forbidden": (
        "系统编号“{value}”是其他部门的系统，您只能修改或填报本部门的系统",
        "请删除这一行，或换用本部门的系统编号",
    ),
    "code_duplicate": (
        "系统编号“{value}”在第 {first} 行已出现",
        "每个系统编号只能出现一次，请删除重复行或改用其他编号",
    ),
    "system_unknown": ("找不到系统编号“{value}”", f"请填写“{SHEET_SYSTEMS}”表或平台中已有的系统编号"),
    "usage_duplicate": (
        "系统“{other}”的 {value} 在第 {first} 行已填写",
        "每个系统每月只能填写一行，请合并或删除重复行",
    ),
}


@dataclass
class ImportReport(ProblemReport):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    usage_months: int = 0
    usage_changed: int = 0

    messages: ClassVar[dict[str, tuple[str, str]]] = {**LAYOUT_MESSAGES, **MESSAGES}
    max_reported: ClassVar[int] = MAX_REPORTED

    @property
    def denied(self) -> bool:
        return any(p.code in ("department_forbidden", "system_forbidden") for p in self.errors)

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"导入成功：新建 {self.created} 个系统，更新 {self.updated} 个，未变化 {self.unchanged} 个；"
                f"月度使用情况 {self.usage_months} 行（新增或变化 {self.usage_changed} 行）"
            )
        return f"导入失败：文件中有 {self.error_count} 处错误{self.shown_note}，未导入任何数据。请按报告逐项修改后重新上传。"

    def error_body(self) -> dict[str, Any]:
        """The API's 422 body: the uniform error shape, with the per-cell report in ``detail``."""
        return {
            "code": "census_import_invalid",
            "message": self.message,
            "detail": {
                "filename": self.filename,
                "error_count": self.error_count,
                "errors": self.problem_dicts(),
            },
        }


@dataclass
class _SystemRow:
    row: int
    code: str | None
    department: Department
    values: dict[str, Any]
    existing: InformationSystem | None


@dataclass
class _UsageRow:
    row: int
    code: str
    values: dict[str, Any]


def import_census(session: Session, principal: Principal, data: bytes, filename: str = "") -> ImportReport:
    """Check the whole file, then apply it in one savepoint; a rejected import is audited, not applied."""
    require_role(principal, *census.WRITERS, message="只有平台管理员和部门数据管理员可以导入系统普查")
    report = ImportReport(filename=filename)
    try:
        parsed = read_file(data, filename)
    except FileProblem as exc:
        report.add(ImportProblem(exc.code, filename or "文件", None, None, "", exc.problem, exc.fix))
        return _reject(session, principal, report)
    report.file_format, report.encoding = parsed.file_format, parsed.encoding
    main, usage = _pick_sheets(parsed.sheets)

    departments = accounts.departments_by_name(session)
    checked = _check_systems(session, principal, main, departments, report)
    system_rows, in_file = checked if checked is not None else ([], set())
    usage_rows = _check_usage(session, principal, usage, in_file, report) if usage is not None else []
    if report.ok and not system_rows and not usage_rows:
        report.flag("file_no_rows", main.name, None, None)
    if not report.ok:
        return _reject(session, principal, report)
    _apply(session, principal, report, system_rows, usage_rows)
    return report


def _pick_sheets(sheets: list[Sheet]) -> tuple[Sheet, Sheet | None]:
    by_name = {normalize_header(s.name): s for s in sheets}
    usage = by_name.get(SHEET_USAGE)
    main = by_name.get(SHEET_SYSTEMS)
    if main is None:
        others = [s for s in sheets if normalize_header(s.name) not in (SHEET_USAGE, SHEET_HELP)]
        main = others[0] if others else sheets[0]
    return main, usage


def _parse_rows(
    sheet: Sheet, columns: tuple[Column, ...], report: ImportReport
) -> list[tuple[int, dict[str, Any], bool]] | None:
    """Each data row's readable cells and whether all were readable (bad cells are reported).

    A blank utilisation keeps the monthly figure, so it is left out rather than cleared."""
    return parse_rows(sheet.name, sheet.rows, columns, report, parsers=PARSERS, omit_blank=_PCT_KEYS)


def _existing(session: Session, codes: set[str]) -> dict[str, InformationSystem]:
    found: dict[str, InformationSystem] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 500):
        stmt = select(InformationSystem).where(InformationSystem.code.in_(ordered[start : start + 500]))
        found.update({s.code: s for s in session.scalars(stmt)})
    return found


def _names(departments: dict[str, Department], principal: Principal) -> str:
    mine = principal.role == Role.steward
    names = sorted({d.name for d in departments.values() if not mine or d.id == principal.department_id})
    return "、".join(names[:8]) + ("等" if len(names) > 8 else "")


def _foreign(principal: Principal, department_id: int) -> bool:
    return principal.role == Role.steward and department_id != principal.department_id


def _check_systems(
    session: Session,
    principal: Principal,
    sheet: Sheet,
    departments: dict[str, Department],
    report: ImportReport,
) -> tuple[list[_SystemRow], set[str]] | None:
    """Valid rows, and every code the sheet names (usage rows may refer to them)."""
    parsed = _parse_rows(sheet, SYSTEM_COLUMNS, report)
    if parsed is None:
        return None
    existing = _existing(session, {v["code"] for _, v, _ in parsed if v.get("code")})
    first_row: dict[str, int] = {}
    rows: list[_SystemRow] = []
    for number, values, cells_ok in parsed:
        code: str | None = values.pop("code", None)
        named: str | None = values.pop("department", None)  # None: already reported as a bad cell
        before = report.error_count
        department = departments.get(named) if named else None
        if named and department is None:
            report.flag(
                "department_unknown",
                sheet.name,
                number,
                "所属部门",
                named,
                names=_names(departments, principal),
            )
        elif department is not None and _foreign(principal, department.id):
            report.flag(
                "department_forbidden", sheet.name, number, "所属部门", named or "", other=department.name
            )
        system = existing.get(code) if code else None
        if code and code in first_row:
            report.flag("code_duplicate", sheet.name, number, "系统编号", code, first=first_row[code])
        elif code:
            first_row[code] = number
        if system is not None and _foreign(principal, system.department_id):
            report.flag("system_forbidden", sheet.name, number, "系统编号", code or "")
        for problem in census.reserved_changes(principal, system, values):
            report.flag("field_reserved", sheet.name, number, None, problem)
        if cells_ok and report.error_count == before and department is not None:
            rows.append(_SystemRow(number, code, department, values, system))
    return rows, set(first_row)


def _check_usage(
    session: Session, principal: Principal, sheet: Sheet, in_file: set[str], report: ImportReport
) -> list[_UsageRow]:
    parsed = _parse_rows(sheet, USAGE_COLUMNS, report)
    if parsed is None:
        return []
    existing = _existing(session, {v["code"] for _, v, _ in parsed if v.get("code")})
    seen: dict[tuple[str, str], int] = {}
    rows: list[_UsageRow] = []
    for number, values, cells_ok in parsed:
        code: str | None = values.pop("code", None)
        month: str | None = values.get("month")
        system = existing.get(code) if code else None
        before = report.error_count
        if code and code not in in_file and system is None:
            report.flag("system_unknown", sheet.name, number, "系统编号", code)
        elif system is not None and _foreign(principal, system.department_id):
            report.flag("system_forbidden", sheet.name, number, "系统编号", code or "")
        if code and month and (code, month) in seen:
            report.flag(
                "usage_duplicate", sheet.name, number, "月份", month, other=code, first=seen[(code, month)]
            )
        elif code and month:
            seen[(code, month)] = number
        if cells_ok and code and report.error_count == before:
            rows.append(_UsageRow(number, code, values))
    return rows


def _reject(session: Session, principal: Principal, report: ImportReport) -> ImportReport:
    audit.record(
        session,
        principal,
        "system.import",
        summary=f"导入系统普查被拒绝：{report.filename or '文件'}，{report.error_count} 处错误",
        object_type="system",
        outcome="denied" if report.denied else "failed",
        detail={
            "filename": report.filename,
            "error_count": report.error_count,
            "codes": sorted({p.code for p in report.errors}),
        },
    )
    return report


def _apply(
    session: Session,
    principal: Principal,
    report: ImportReport,
    system_rows: list[_SystemRow],
    usage_rows: list[_UsageRow],
) -> None:
    with session.begin_nested():  # a failure half-way leaves nothing behind
        pairs: list[tuple[_SystemRow, InformationSystem]] = []
        before: dict[int, dict[str, Any]] = {}
        created: list[InformationSystem] = []
        named = {row.code for row in system_rows if row.code}  # generated codes must not take these
        for row in system_rows:
            if row.existing is not None:
                system = row.existing
                before[system.id] = census.snapshot(system)
                census.apply_values(system, {**row.values, "department_id": row.department.id})
            else:
                code = row.code or census.next_code(session, row.department, named)
                system = census.new_system(session, row.department, code, row.values, flush=False)
                created.append(system)
            pairs.append((row, system))
        session.flush()
        listed = {row.existing.id for row in system_rows if row.existing is not None}

        by_code = {system.code: system for _, system in pairs}
        for code, system in _existing(session, {r.code for r in usage_rows} - set(by_code)).items():
            by_code[code] = system
            before.setdefault(system.id, census.snapshot(system))
        grouped: dict[str, list[dict[str, Any]]] = {}
        for usage in usage_rows:
            grouped.setdefault(usage.code, []).append(usage.values)
        months = census.usage_index(session, [by_code[code].id for code in grouped])
        for code, rows in grouped.items():
            system = by_code[code]
            report.usage_changed += census.upsert_usage(session, system, rows, months[system.id])
        report.usage_months = len(usage_rows)
        for row, system in pairs:  # a utilisation written in the systems sheet wins over the monthly figure
            census.apply_values(system, {k: row.values[k] for k in _PCT_KEYS if k in row.values})
        session.flush()

        for system in created:
            audit.record(
                session,
                principal,
                "system.create",
                summary=f"导入登记系统 {system.code}“{system.name}”",
                object_type="system",
                object_id=system.id,
                detail={
                    "code": system.code,
                    "department_id": system.department_id,
                    "import": report.filename,
                },
            )
        for system_id, old in before.items():
            changed = session.get(InformationSystem, system_id)
            assert changed is not None
            changes = census.diff(old, changed)
            if changes:
                report.updated += 1
                audit.record(
                    session,
                    principal,
                    "system.update",
                    summary=f"导入修改系统 {changed.code}“{changed.name}”",
                    object_type="system",
                    object_id=changed.id,
                    detail={"changes": changes, "import": report.filename},
                )
            elif system_id in listed:
                report.unchanged += 1
        report.created = len(created)
        audit.record(
            session,
            principal,
            "system.import",
            summary=f"导入系统普查：{report.filename or '文件'}，新建 {report.created}，更新 {report.updated}，"
            f"月度使用情况 {report.usage_months} 行",
            object_type="system",
            detail={
                "filename": report.filename,
                "format": report.file_format,
                "encoding": report.encoding,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "usage_months": report.usage_months,
                "usage_changed": report.usage_changed,
            },
        )
