"""Exporting the catalog and the blank template as workbooks in the 编制指南 layout.

The export holds what the caller may see: every live resource as its latest published version, and
(``include_drafts``) the working copies the caller may read instead (operator, auditors, the
provider department's stewards), drafts included. Text cells that Excel would run as formulas are
prefixed with ' (the import takes it off again), so exporting then importing changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog import service
from jutong.catalog.excel_columns import (
    ITEM_COLUMNS,
    RESOURCE_COLUMNS,
    SHEET_HELP,
    SHEET_ITEMS,
    SHEET_RESOURCES,
    allowed_values,
    to_cell,
)
from jutong.catalog.models import Resource, ResourceStatus, ResourceVersion
from jutong.catalog.snapshot import snapshot_of
from jutong.core import audit
from jutong.core.auth import Principal, Role
from jutong.core.errors import Forbidden
from jutong.registry.models import Department
from jutong.standards.tabular_files import (
    XLSX_MEDIA_TYPE,
    ExportFile,
    add_dropdowns,
    format_dates,
    write_header,
    write_help_sheet,
    xlsx_bytes,
)

__all__ = ["DRAFT_ROLES", "catalog_template", "export_catalog"]

DRAFT_ROLES = (Role.operator, Role.auditor, Role.steward)
_TEXT_KINDS = ("classification", "resource_code", "text", "department", "codes")
RULES = (
    "导入规则：整个文件全部通过校验才会导入；任何一处有误都不会改动数据，并逐行逐列列出错误。",
    "“信息资源代码”留空的行新建资源（草稿），代码由平台按分类生成；代码已存在的行更新该资源的工作副本，"
    "内容与平台一致的行不做任何改动。",
    "“信息项”表的每一行属于一个资源：填写该资源的“信息资源代码”；新资源（代码留空）填写“信息资源名称”，"
    "新资源的名称在文件中须唯一。已有资源在“信息项”表中没有任何行时，保留其原有信息项；有行时以文件为准。",
    "共享类型为“有条件共享”须填写共享条件；“不予共享”须填写法律、行政法规或党中央、国务院政策依据，"
    "且开放类型只能是“不予开放”。",
    "代码类的列可写中文名称或代码，例如 无条件共享 或 unconditional、接口 或 api、C 或 字符型。",
    "部门数据管理员只能导入本部门的资源。“状态”“版本”两列导出时填写，导入时忽略。",
    "请使用 .xlsx 文件导入：目录有两张表，CSV 只能容纳一张表，不能用于目录导入。",
)


def _department_names(session: Session, principal: Principal) -> list[str]:
    stmt = select(Department.name).order_by(Department.code)
    if principal.role == Role.steward and principal.department_id is not None:
        stmt = stmt.where(Department.id == principal.department_id)
    return list(session.scalars(stmt))


def _published(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Latest published snapshot of each resource."""
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        stmt = (
            select(ResourceVersion.resource_id, ResourceVersion.snapshot)
            .join(Resource, Resource.id == ResourceVersion.resource_id)
            .where(
                ResourceVersion.resource_id.in_(ids[start : start + 500]),
                ResourceVersion.version == Resource.published_version,
            )
        )
        out.update({rid: dict(snap) for rid, snap in session.execute(stmt)})
    return out


def visible_snapshots(
    session: Session, principal: Principal, *, include_drafts: bool = False
) -> list[tuple[dict[str, Any], str, int | None]]:
    """(snapshot, status, published version) of every resource the export holds, by department and code."""
    service.require_reader(principal)
    if include_drafts and principal.role not in DRAFT_ROLES:
        raise Forbidden(
            "只有平台管理员、审计人员和部门数据管理员可以导出未发布的资源",
            code="export_drafts_forbidden",
        )
    found = session.execute(
        select(Resource, Department.code)
        .join(Department, Department.id == Resource.department_id)
        .order_by(Department.code, Resource.code)
    ).all()
    working = [r for r, _ in found if include_drafts and service.can_read_working(principal, r.department_id)]
    working_ids = {r.id for r in working}
    live = [r.id for r, _ in found if r.id not in working_ids and service.is_live(r)]
    published = _published(session, live)
    out: list[tuple[dict[str, Any], str, int | None]] = []
    for resource, _ in found:
        if resource.id in working_ids:
            out.append((snapshot_of(session, resource), resource.status, resource.published_version))
        elif resource.id in published:
            out.append((published[resource.id], ResourceStatus.published.value, resource.published_version))
    return out


def export_catalog(session: Session, principal: Principal, *, include_drafts: bool = False) -> ExportFile:
    """The catalog the caller may see as an .xlsx workbook (信息资源 / 信息项 / 填写说明). Audited."""
    rows = visible_snapshots(session, principal, include_drafts=include_drafts)
    names = {d.id: d.name for d in session.scalars(select(Department))}
    workbook = _workbook(_department_names(session, principal), rows, names)
    stamp = date.today().strftime("%Y%m%d")
    items = sum(len(snap.get("items") or []) for snap, _, _ in rows)
    audit.record(
        session,
        principal,
        "catalog.export",
        summary=f"导出资源目录：{len(rows)} 个资源，{items} 个信息项"
        + ("（含未发布）" if include_drafts else ""),
        object_type="resource",
        detail={"resources": len(rows), "items": items, "include_drafts": include_drafts},
    )
    return ExportFile(
        xlsx_bytes(workbook), f"政务信息资源目录_{stamp}.xlsx", XLSX_MEDIA_TYPE, len(rows), "catalog"
    )


def catalog_template(session: Session, principal: Principal) -> ExportFile:
    """The blank workbook departments fill in: headers, drop-down lists and 填写说明."""
    service.require_reader(principal)
    workbook = _workbook(_department_names(session, principal), None, {})
    return ExportFile(
        xlsx_bytes(workbook), "政务信息资源目录导入模板.xlsx", XLSX_MEDIA_TYPE, 0, "catalog-template"
    )


def _resource_cells(
    snap: dict[str, Any], status: str, version: int | None, names: dict[int, str]
) -> list[Any]:
    values = dict(snap)
    values["department"] = names.get(int(snap.get("department_id") or 0), snap.get("department_name", ""))
    values["publish_date"] = date.fromisoformat(snap["publish_date"]) if snap.get("publish_date") else None
    values["status"] = ResourceStatus(status).label
    values["version"] = version
    return [to_cell(c, values.get(c.key)) for c in RESOURCE_COLUMNS]


def _item_cells(snap: dict[str, Any], item: dict[str, Any]) -> list[Any]:
    values = {**item, "resource_code": snap.get("code"), "resource_name": snap.get("name")}
    return [to_cell(c, values.get(c.key)) for c in ITEM_COLUMNS]


def _text_columns(ws: Worksheet, columns: tuple[Any, ...]) -> None:
    """Code and text columns are text in Excel, so 101001 stays 101001 and 0101 keeps its zero."""
    for index, column in enumerate(columns, start=1):
        if column.kind in _TEXT_KINDS:
            ws.column_dimensions[get_column_letter(index)].number_format = "@"


def _workbook(
    departments: list[str],
    rows: list[tuple[dict[str, Any], str, int | None]] | None,
    names: dict[int, str],
) -> Workbook:
    workbook = Workbook()
    main = workbook.active
    assert main is not None
    main.title = SHEET_RESOURCES
    write_header(main, RESOURCE_COLUMNS)
    items_ws = workbook.create_sheet(SHEET_ITEMS)
    write_header(items_ws, ITEM_COLUMNS)
    for snap, status, version in rows or []:
        main.append(_resource_cells(snap, status, version, names))
        for item in sorted(snap.get("items") or [], key=lambda i: i.get("position", 0)):
            items_ws.append(_item_cells(snap, item))
    format_dates(main, RESOURCE_COLUMNS)
    if rows is None:  # the blank template: drop-downs and text cells for the rows people will fill
        add_dropdowns(main, RESOURCE_COLUMNS, {"department": departments})
        add_dropdowns(items_ws, ITEM_COLUMNS)
        _text_columns(main, RESOURCE_COLUMNS)
        _text_columns(items_ws, ITEM_COLUMNS)

    def allowed(column: Any) -> str:
        return allowed_values(column, departments)

    write_help_sheet(
        workbook.create_sheet(SHEET_HELP),
        ((SHEET_RESOURCES, RESOURCE_COLUMNS), (SHEET_ITEMS, ITEM_COLUMNS)),
        allowed,
        RULES,
    )
    return workbook
