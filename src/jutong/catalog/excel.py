"""Importing a catalog workbook (编制指南 layout), all or nothing.

Every sheet, row and cell is checked first: the file's layout, each cell, the rows against the
platform (departments, data elements, code sets, who may write what) and each resource against the
catalog rules (``catalog.service.validate_resource``). A file with any problem changes nothing and
answers a Chinese report: sheet, row as Excel shows it, column, the value, what is wrong, how to fix
it, and a stable code. A good file creates the resources it names without a code (or with a code the
platform does not have) as drafts, and replaces the working copy of each existing resource only
where it differs, so export → import changes nothing (no drafts, versions or audit noise).

Export and the template are ``catalog.excel_export``; the columns are ``catalog.excel_columns``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from jutong.catalog import rules, service
from jutong.catalog.excel_columns import (
    ITEM_BY_KEY,
    ITEM_COLUMNS,
    PARSERS,
    RESOURCE_BY_KEY,
    RESOURCE_COLUMNS,
    SHEET_ITEMS,
    SHEET_RESOURCES,
    to_cell,
)
from jutong.catalog.excel_report import MESSAGES, CatalogImportReport
from jutong.catalog.models import CodeSet, DataElement, Resource
from jutong.catalog.schemas import DataItemIn, Problem, ResourceIn
from jutong.catalog.snapshot import same_content, snapshot_of
from jutong.core import audit
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import AppError
from jutong.registry.models import Department
from jutong.standards.normalize import normalize_header
from jutong.standards.tabular import Column, ImportProblem, display, parse_rows
from jutong.standards.tabular_files import MAX_FILE_BYTES, FileProblem, Sheet, read_file

__all__ = ["MAX_FILE_BYTES", "MESSAGES", "CatalogImportReport", "import_catalog"]

# service problem fields → the workbook column that holds them
_FIELD_COLUMNS = {
    "department_id": "department",
    "system_id": "system_code",
    "element_id": "element_identifier",
    "element": "element_identifier",
    "code_set": "code_set_identifier",
}


@dataclass
class _ItemRow:
    row: int
    values: dict[str, Any]


@dataclass
class _ResourceRow:
    row: int
    values: dict[str, Any]
    ok: bool
    department: Department | None = None
    existing: Resource | None = None
    items: list[_ItemRow] = field(default_factory=list)
    data: ResourceIn | None = None
    unchanged: bool = False  # an existing resource the row repeats exactly: nothing to write

    @property
    def label(self) -> str:
        return str(self.values.get("code") or self.values.get("name") or f"第 {self.row} 行")


def import_catalog(
    session: Session, principal: Principal, data: bytes, filename: str = ""
) -> CatalogImportReport:
    """Check the whole workbook, then apply it in one savepoint; a rejected import is audited only."""
    require_role(
        principal, Role.operator, Role.steward, message="只有平台管理员和部门数据管理员可以导入资源目录"
    )
    report = CatalogImportReport(filename=filename)
    try:
        parsed = read_file(data, filename)
    except FileProblem as exc:
        report.add(ImportProblem(exc.code, filename or "文件", None, None, "", exc.problem, exc.fix))
        return _reject(session, principal, report)
    report.file_format, report.encoding = parsed.file_format, parsed.encoding
    if parsed.file_format == "csv":
        encoding = "GBK/GB18030" if parsed.encoding == "GB18030" else parsed.encoding
        report.flag("catalog_csv_unsupported", filename or "CSV 文件", None, None, encoding=encoding)
        return _reject(session, principal, report)
    sheets = {normalize_header(s.name): s for s in parsed.sheets}
    resources_sheet, items_sheet = sheets.get(SHEET_RESOURCES), sheets.get(SHEET_ITEMS)
    for name, sheet in ((SHEET_RESOURCES, resources_sheet), (SHEET_ITEMS, items_sheet)):
        if sheet is None:
            report.flag("sheet_missing", filename or "文件", None, None, name)
    if resources_sheet is None or items_sheet is None:
        return _reject(session, principal, report)

    rows = _check_resources(session, principal, resources_sheet, report)
    if rows is not None:
        _check_items(session, items_sheet, rows, report)
        if report.ok and not rows:
            report.flag("file_no_rows", SHEET_RESOURCES, None, None)
        _check_rules(session, [r for r in rows if r.ok], report)
    if not report.ok:
        return _reject(session, principal, report)
    assert rows is not None
    _apply(session, principal, rows, report)
    if not report.ok:
        return _reject(session, principal, report)
    return report


# ---- the resources sheet -------------------------------------------------------------------


def _chunks(values: set[str], size: int = 500) -> Iterator[list[str]]:
    """Values in slices small enough for one IN (...) on every backend."""
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _departments(session: Session) -> tuple[dict[str, Department], dict[str, Department]]:
    """Departments by name and by code; and by provider code (统一社会信用代码 or code)."""
    by_name: dict[str, Department] = {}
    by_provider: dict[str, Department] = {}
    for department in session.scalars(select(Department).order_by(Department.code)):
        by_name[department.name] = by_name[department.code] = department
        by_provider[department.code] = department
        if department.credit_code:
            by_provider[department.credit_code] = department
    return by_name, by_provider


def _names(departments: dict[str, Department], principal: Principal) -> str:
    mine = principal.role == Role.steward
    names = sorted({d.name for d in departments.values() if not mine or d.id == principal.department_id})
    return "、".join(names[:8]) + ("等" if len(names) > 8 else "")


def _provider_codes(department: Department) -> tuple[str, ...]:
    return tuple(c for c in (department.credit_code, department.code) if c)


def _check_resources(
    session: Session, principal: Principal, sheet: Sheet, report: CatalogImportReport
) -> list[_ResourceRow] | None:
    parsed = parse_rows(sheet.name, sheet.rows, RESOURCE_COLUMNS, report, parsers=PARSERS)
    if parsed is None:
        return None
    by_name, by_provider = _departments(session)
    existing: dict[str, Resource] = {}
    for codes in _chunks({v["code"] for _, v, _ in parsed if v.get("code")}):
        stmt = select(Resource).options(selectinload(Resource.items)).where(Resource.code.in_(codes))
        existing.update({r.code: r for r in session.scalars(stmt)})
    departments = {d.id: d for d in by_name.values()}
    first_code: dict[str, int] = {}
    first_name: dict[str, int] = {}
    rows: list[_ResourceRow] = []
    for number, values, cells_ok in parsed:
        row = _ResourceRow(number, values, cells_ok)
        before = report.error_count
        code, name = values.get("code"), values.get("name")
        if code and code in first_code:
            report.flag("code_duplicate", sheet.name, number, "信息资源代码", code, first=first_code[code])
        elif code:
            first_code[code] = number
            row.existing = existing.get(code)
        if not code and name:
            if name in first_name:
                report.flag(
                    "name_duplicate", sheet.name, number, "信息资源名称", name, first=first_name[name]
                )
            else:
                first_name[name] = number
        row.department = _department_of(sheet.name, row, by_name, by_provider, principal, report)
        if row.existing is not None and principal.role == Role.steward:
            owner = departments.get(row.existing.department_id)
            if row.existing.department_id != principal.department_id:
                report.flag(
                    "resource_forbidden",
                    sheet.name,
                    number,
                    "信息资源代码",
                    code or "",
                    other=owner.name if owner else "",
                )
        row.ok = row.ok and report.error_count == before and row.department is not None
        rows.append(row)
    return rows


def _department_of(
    sheet: str,
    row: _ResourceRow,
    by_name: dict[str, Department],
    by_provider: dict[str, Department],
    principal: Principal,
    report: CatalogImportReport,
) -> Department | None:
    named: str | None = row.values.get("department")
    provider: str = row.values.get("provider_code") or ""
    if "department" not in row.values:  # the cell itself was unreadable, already reported
        return None
    department: Department | None = None
    if named:
        department = by_name.get(named)
        if department is None:
            report.flag(
                "department_unknown",
                sheet,
                row.row,
                "信息资源提供方",
                named,
                names=_names(by_name, principal),
            )
            return None
        if provider and provider not in _provider_codes(department):
            report.flag(
                "provider_code_mismatch",
                sheet,
                row.row,
                "提供方代码",
                provider,
                other=department.name,
                expected=" 或 ".join(_provider_codes(department)),
            )
    elif provider:
        department = by_provider.get(provider)
        if department is None:
            report.flag(
                "department_unknown", sheet, row.row, "提供方代码", provider, names=_names(by_name, principal)
            )
            return None
    else:
        report.flag("department_required", sheet, row.row, "信息资源提供方")
        return None
    if principal.role == Role.steward and department.id != principal.department_id:
        report.flag(
            "department_forbidden", sheet, row.row, "信息资源提供方", named or provider, other=department.name
        )
    return department


# ---- the items sheet -----------------------------------------------------------------------


def _check_items(
    session: Session, sheet: Sheet, rows: list[_ResourceRow], report: CatalogImportReport
) -> None:
    parsed = parse_rows(sheet.name, sheet.rows, ITEM_COLUMNS, report, parsers=PARSERS)
    if parsed is None:
        for row in rows:
            row.ok = False
        return
    by_code = {r.values["code"]: r for r in rows if r.values.get("code")}
    by_name = {r.values["name"]: r for r in rows if not r.values.get("code") and r.values.get("name")}
    elements: set[str] = set()
    for chunk in _chunks({v["element_identifier"] for _, v, _ in parsed if v.get("element_identifier")}):
        elements.update(
            session.scalars(select(DataElement.identifier).where(DataElement.identifier.in_(chunk)))
        )
    code_sets: set[str] = set()
    for chunk in _chunks({v["code_set_identifier"] for _, v, _ in parsed if v.get("code_set_identifier")}):
        code_sets.update(session.scalars(select(CodeSet.identifier).where(CodeSet.identifier.in_(chunk))))
    positions: dict[tuple[int, int], int] = {}
    for number, values, cells_ok in parsed:
        before = report.error_count
        owner = _owner(sheet.name, number, values, by_code, by_name, report)
        element = values.get("element_identifier")
        if element and element not in elements:
            report.flag("element_unknown", sheet.name, number, "数据元标识符", element)
        code_set = values.get("code_set_identifier")
        if code_set and code_set not in code_sets:
            report.flag("code_set_unknown", sheet.name, number, "代码集", code_set)
        position = values.get("position")
        if owner is not None and position is not None:
            key = (owner.row, position)
            if key in positions:
                report.flag(
                    "position_duplicate",
                    sheet.name,
                    number,
                    "序号",
                    str(position),
                    other=owner.label,
                    first=positions[key],
                )
            else:
                positions[key] = number
        if owner is not None:
            owner.items.append(_ItemRow(number, values))
            owner.ok = owner.ok and cells_ok and report.error_count == before


def _owner(
    sheet: str,
    number: int,
    values: dict[str, Any],
    by_code: dict[str, _ResourceRow],
    by_name: dict[str, _ResourceRow],
    report: CatalogImportReport,
) -> _ResourceRow | None:
    code, name = values.get("resource_code"), values.get("resource_name")
    if code:
        found = by_code.get(code)
        if found is None:
            report.flag("item_resource_unknown", sheet, number, "信息资源代码", code, what="代码")
        return found
    if name:
        found = by_name.get(name)
        if found is None:
            report.flag(
                "item_resource_unknown", sheet, number, "信息资源名称", name, what="名称（且代码留空）"
            )
        return found
    if "resource_code" in values and "resource_name" in values:  # both readable and blank
        report.flag("item_resource_missing", sheet, number, "信息资源代码")
    return None


# ---- the catalog rules ---------------------------------------------------------------------


def _resource_input(row: _ResourceRow) -> ResourceIn:
    v = row.values
    assert row.department is not None
    ordered = sorted(
        row.items, key=lambda i: (i.values.get("position") is None, i.values.get("position") or 0, i.row)
    )
    row.items = ordered
    return ResourceIn(
        code=v.get("code"),
        classification_code=v["classification_code"],
        name=v["name"],
        department_id=row.department.id,
        summary=v.get("summary") or "",
        format_category=v["format_category"],
        format_type=v.get("format_type") or "",
        share_type=v["share_type"],
        share_condition=v.get("share_condition") or "",
        delivery=v["delivery"],
        open_type=v.get("open_type") or "closed",
        open_condition=v.get("open_condition") or "",
        update_cycle=v["update_cycle"],
        publish_date=v.get("publish_date"),
        system_code=v.get("system_code") or None,
        related_codes=list(v.get("related_codes") or ()),
        items=[
            DataItemIn(
                name=i.values["name"],
                column_name=i.values.get("column_name") or None,
                element_identifier=i.values["element_identifier"],
                data_type=i.values.get("data_type"),
                length=i.values.get("length"),
                code_set_identifier=i.values.get("code_set_identifier") or None,
                required=bool(i.values.get("required")),
                is_key=bool(i.values.get("is_key")),
                sensitive=i.values.get("sensitive"),
                security_level=i.values.get("security_level"),
                description=i.values.get("description") or "",
            )
            for i in ordered
        ],
    )


def _check_rules(session: Session, rows: list[_ResourceRow], report: CatalogImportReport) -> None:
    for row in rows:
        row.data = _resource_input(row)
        if row.existing is not None and not row.items:  # no item rows: the resource keeps its items
            kept = service.resource_input(session, row.existing).items
            row.data = row.data.model_copy(update={"items": kept})
        # the rules of ``service.validate_resource``, with the values they would write
        checked = rules.check(session, row.data, resource=row.existing)
        for problem in checked.problems:
            located = _locate(row, problem)
            (report.add if problem.is_error else report.warnings.append)(located)
        if row.existing is not None and not any(p.is_error for p in checked.problems):
            row.unchanged = _same(row.existing, checked)


def _same(resource: Resource, checked: rules.Checked) -> bool:
    """The working copy already holds what the row says: saving it would change nothing."""
    if any(getattr(resource, key) != value for key, value in checked.values.items()):
        return False
    current = [{key: getattr(item, key) for key in rules.ITEM_COLUMNS} for item in resource.items]
    return current == checked.items


def _locate(row: _ResourceRow, problem: Problem) -> ImportProblem:
    """Where in the workbook a rule's problem lies: the resource's row, or its item's row."""
    parts = problem.field.split(".")
    index = problem.item
    if index is None and parts[0] == "items" and len(parts) > 1 and parts[1].isdigit():
        index = int(parts[1])
    if index is not None and 0 <= index < len(row.items):
        item = row.items[index]
        key = _FIELD_COLUMNS.get(parts[-1], parts[-1])
        column = ITEM_BY_KEY.get(key)
        value = _shown(column, item.values.get(key)) if column else ""
        header = column.header if column else (problem.label or None)
        return ImportProblem(problem.code, SHEET_ITEMS, item.row, header, value, problem.problem, problem.fix)
    key = _FIELD_COLUMNS.get(parts[0], parts[0])
    column = RESOURCE_BY_KEY.get(key)
    value = _shown(column, row.values.get(key)) if column else ""
    header = column.header if column else (problem.label or None)
    return ImportProblem(problem.code, SHEET_RESOURCES, row.row, header, value, problem.problem, problem.fix)


def _shown(column: Column, value: Any) -> str:
    return display(to_cell(column, value)) if value not in (None, "", ()) else ""


# ---- writing -------------------------------------------------------------------------------


def _reject(session: Session, principal: Principal, report: CatalogImportReport) -> CatalogImportReport:
    audit.record(
        session,
        principal,
        "catalog.import",
        summary=f"导入资源目录被拒绝：{report.filename or '文件'}，{report.error_count} 处错误",
        object_type="resource",
        outcome="denied" if report.denied else "failed",
        detail={
            "filename": report.filename,
            "error_count": report.error_count,
            "codes": sorted({p.code for p in report.errors}),
        },
    )
    return report


def _apply(
    session: Session, principal: Principal, rows: list[_ResourceRow], report: CatalogImportReport
) -> None:
    """Write every resource in one savepoint; anything unexpected undoes them all and is reported."""
    savepoint = session.begin_nested()
    current = rows[0].row if rows else None
    try:
        for row in rows:
            assert row.data is not None
            current = row.row
            report.items += len(row.data.items)
            if row.unchanged:
                report.unchanged += 1
                continue
            before = snapshot_of(session, row.existing) if row.existing is not None else None
            saved = service.save_resource(session, principal, row.data, row.existing)
            if before is None:
                report.created += 1
                report.codes.append(saved.code)
            elif same_content(before, snapshot_of(session, saved)):
                report.unchanged += 1
            else:
                report.updated += 1
                report.codes.append(saved.code)
    except AppError as exc:
        savepoint.rollback()
        report.created = report.updated = report.unchanged = report.items = 0
        report.codes.clear()
        report.flag("save_failed", SHEET_RESOURCES, current, None, exc.message)
        return
    savepoint.commit()
    audit.record(
        session,
        principal,
        "catalog.import",
        summary=f"导入资源目录：{report.filename or '文件'}，新建 {report.created}，更新 {report.updated}，"
        f"未变化 {report.unchanged}",
        object_type="resource",
        detail={
            "filename": report.filename,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "items": report.items,
            "codes": report.codes[:200],
        },
    )
