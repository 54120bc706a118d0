"""The catalog workbook (编制指南 layout): template, export, and the all-or-nothing import.

A small catalog: 市公安局 publishes 户籍人口基本信息 (items bound to national data elements, one
description that Excel would run as a formula), 市民政局 publishes 婚姻登记信息 (有条件共享), and
市公安局 keeps a draft. Exporting and importing it back must change nothing at all.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog import excel, excel_export, service, workflow
from jutong.catalog.excel_columns import (
    ITEM_COLUMNS,
    RESOURCE_COLUMNS,
    SHEET_HELP,
    SHEET_ITEMS,
    SHEET_RESOURCES,
)
from jutong.catalog.models import DataElement, DataItem, Resource, ResourceStatus, ResourceVersion
from jutong.catalog.schemas import DataItemIn, ResourceIn
from jutong.core.audit import AuditEvent
from jutong.core.errors import Forbidden
from tests.conftest import Org

RESOURCE_HEADERS = [c.header for c in RESOURCE_COLUMNS]
ITEM_HEADERS = [c.header for c in ITEM_COLUMNS]
FORMULA = '=HYPERLINK("http://evil","点我")'


@dataclass
class Catalog:
    household: Resource  # 市公安局，已发布
    marriage: Resource  # 市民政局，已发布（有条件共享）
    draft: Resource  # 市公安局，草稿


def _item(name: str, element: str, **extra: Any) -> DataItemIn:
    return DataItemIn(name=name, element_identifier=element, **extra)


def _publish(session: Session, org: Org, data: ResourceIn) -> Resource:
    op = org.principal(org.operator)
    resource = service.save_resource(session, op, data)
    workflow.submit(session, op, resource.id)
    workflow.publish(session, op, resource.id)
    return resource


@pytest.fixture(name="catalog")
def catalog_fixture(session: Session, org: Org, standards: dict[str, DataElement]) -> Catalog:
    household = _publish(
        session,
        org,
        ResourceIn(
            classification_code="101002",
            name="户籍人口基本信息",
            department_id=org.police.id,
            summary="全市户籍人口的身份、姓名、性别等基本信息",
            format_category="数据库",
            format_type="达梦",
            share_type="无条件共享",
            delivery="接口",
            update_cycle="每日",
            items=[
                _item("公民身份号码", "DE0001", is_key=True, required=True),
                _item("姓名", "DE0002", required=True),
                _item("性别", "DE0003", description=FORMULA),
            ],
        ),
    )
    marriage = _publish(
        session,
        org,
        ResourceIn(
            classification_code="101003",
            name="婚姻登记信息",
            department_id=org.civil.id,
            summary="结婚、离婚登记信息",
            format_category="database",
            share_type="conditional",
            share_condition="仅限办理婚姻、户籍、社保业务核验使用",
            delivery="api",
            update_cycle="realtime",
            related_codes=[household.code],
            items=[_item("当事人身份号码", "DE0001", is_key=True), _item("婚姻状况", "DE0015")],
        ),
    )
    draft = service.save_resource(
        session,
        org.principal(org.steward),
        ResourceIn(
            classification_code="101002",
            name="户籍迁移记录",
            summary="户口迁入迁出记录",
            format_category="电子表格",
            share_type="有条件共享",
            share_condition="仅限户籍业务",
            delivery="文件",
            update_cycle="每月",
            items=[_item("公民身份号码", "DE0001", is_key=True)],
        ),
    )
    session.commit()
    return Catalog(household, marriage, draft)


# ---- workbook helpers (shared with the API, page and CLI tests) -------------------------------


def sheet_values(content: bytes) -> dict[str, list[list[Any]]]:
    workbook = load_workbook(io.BytesIO(content))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in workbook.worksheets}


def edit(content: bytes, change: Any) -> bytes:
    """The workbook after ``change(workbook)``, as bytes."""
    workbook = load_workbook(io.BytesIO(content))
    change(workbook)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def set_cell(workbook: Workbook, sheet: str, row: int, header: str, value: Any) -> None:
    ws = workbook[sheet]
    headers = [c.value for c in ws[1]]
    ws.cell(row=row, column=headers.index(header) + 1).value = value  # None clears the cell


def resource_row(**values: Any) -> list[Any]:
    defaults = {
        "信息资源分类代码": "101001",
        "信息资源名称": "常住人口基础信息",
        "信息资源提供方": "市公安局",
        "信息资源摘要": "常住人口的基本身份信息",
        "信息资源格式分类": "数据库",
        "共享类型": "无条件共享",
        "共享方式": "接口",
        "开放类型": "不予开放",
        "更新周期": "每日",
    }
    defaults.update(values)
    return [defaults.get(h) for h in RESOURCE_HEADERS]


def item_row(**values: Any) -> list[Any]:
    defaults = {
        "信息资源名称": "常住人口基础信息",
        "信息项名称": "公民身份号码",
        "数据元标识符": "DE0001",
        "是否主键": "是",
    }
    defaults.update(values)
    return [defaults.get(h) for h in ITEM_HEADERS]


def workbook_bytes(resources: list[list[Any]], items: list[list[Any]]) -> bytes:
    workbook = Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = SHEET_RESOURCES
    ws.append(RESOURCE_HEADERS)
    for row in resources:
        ws.append(row)
    items_ws = workbook.create_sheet(SHEET_ITEMS)
    items_ws.append(ITEM_HEADERS)
    for row in items:
        items_ws.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def problems(report: excel.CatalogImportReport) -> set[tuple[str, str, int | None, str | None]]:
    return {(p.code, p.sheet, p.row, p.column) for p in report.errors}


def footprint(session: Session) -> tuple[int, ...]:
    """Everything an import could write: resources, items, versions, and change events."""
    changes = select(func.count()).where(AuditEvent.action.in_(("catalog.create", "catalog.update")))
    return (
        session.scalar(select(func.count()).select_from(Resource)) or 0,
        session.scalar(select(func.count()).select_from(DataItem)) or 0,
        session.scalar(select(func.count()).select_from(ResourceVersion)) or 0,
        session.scalar(changes) or 0,
    )


# ---- template and export -----------------------------------------------------------------------


def test_the_template_has_the_guide_layout_with_chinese_headers(session: Session, org: Org) -> None:
    file = excel_export.catalog_template(session, org.principal(org.steward))
    sheets = sheet_values(file.content)
    assert list(sheets) == [SHEET_RESOURCES, SHEET_ITEMS, SHEET_HELP]
    assert sheets[SHEET_RESOURCES][0][:5] == [
        "信息资源分类代码",
        "信息资源名称",
        "信息资源代码",
        "信息资源提供方",
        "提供方代码",
    ]
    assert sheets[SHEET_RESOURCES][0][-2:] == ["状态", "版本"]
    assert sheets[SHEET_ITEMS][0][:4] == ["信息资源代码", "信息资源名称", "序号", "信息项名称"]
    assert "共享条件/不予共享依据" in sheets[SHEET_RESOURCES][0] and "数据元标识符" in sheets[SHEET_ITEMS][0]
    allowed = {row[1]: row[3] for row in sheets[SHEET_HELP][1:] if row and row[1]}
    assert allowed["共享类型"] == "无条件共享、有条件共享、不予共享"
    assert "接口" in allowed["共享方式"] and "每日" in allowed["更新周期"] and "一般" in allowed["安全级别"]
    assert allowed["信息资源提供方"] == "市公安局"  # a steward's template offers their own department
    assert file.filename.endswith(".xlsx") and "catalog-template.xlsx" in file.content_disposition


def test_export_holds_the_published_catalog_formula_safe(
    session: Session, org: Org, catalog: Catalog
) -> None:
    file = excel_export.export_catalog(session, org.principal(org.consumer))
    sheets = sheet_values(file.content)
    rows = sheets[SHEET_RESOURCES][1:]
    assert [r[1] for r in rows] == ["户籍人口基本信息", "婚姻登记信息"]  # by department code: GA, MZ
    household = dict(zip(RESOURCE_HEADERS, rows[0], strict=True))
    assert household["信息资源代码"] == catalog.household.code and household["信息资源提供方"] == "市公安局"
    assert (
        household["共享类型"] == "无条件共享"
        and household["共享方式"] == "接口"
        and household["更新周期"] == "每日"
    )
    assert household["状态"] == "已发布" and household["版本"] == 1
    marriage = dict(zip(RESOURCE_HEADERS, rows[1], strict=True))
    assert marriage["关联资源代码"] == catalog.household.code
    items = [dict(zip(ITEM_HEADERS, r, strict=True)) for r in sheets[SHEET_ITEMS][1:]]
    assert [(i["信息资源代码"], i["序号"], i["数据元标识符"]) for i in items[:3]] == [
        (catalog.household.code, 1, "DE0001"),
        (catalog.household.code, 2, "DE0002"),
        (catalog.household.code, 3, "DE0003"),
    ]
    assert items[0]["是否主键"] == "是" and items[0]["是否敏感"] == "是" and items[0]["安全级别"] == "重要"
    assert (
        items[2]["代码集"] == "GB/T 2261.1-2003" and items[2]["说明"] == "'" + FORMULA
    )  # never a live formula


def test_drafts_are_exported_only_to_those_who_may_read_them(
    session: Session, org: Org, catalog: Catalog
) -> None:
    def names(user: Any, drafts: bool) -> list[str]:
        file = excel_export.export_catalog(session, org.principal(user), include_drafts=drafts)
        return [r[1] for r in sheet_values(file.content)[SHEET_RESOURCES][1:]]

    assert names(org.operator, True) == ["户籍人口基本信息", "户籍迁移记录", "婚姻登记信息"]
    assert names(org.auditor, True) == names(org.operator, True)
    assert names(org.steward, True) == ["户籍人口基本信息", "户籍迁移记录", "婚姻登记信息"]
    assert names(org.civil_steward, True) == ["户籍人口基本信息", "婚姻登记信息"]  # not 公安局's draft
    assert names(org.operator, False) == ["户籍人口基本信息", "婚姻登记信息"]
    with pytest.raises(Forbidden) as refused:
        names(org.consumer, True)
    assert refused.value.code == "export_drafts_forbidden"


# ---- the round trip ----------------------------------------------------------------------------


def test_export_then_import_changes_nothing_and_exports_again_identically(
    session: Session, org: Org, catalog: Catalog
) -> None:
    op = org.principal(org.operator)
    first = excel_export.export_catalog(session, op, include_drafts=True)
    before = footprint(session)
    stamps = {r.id: (r.status, r.updated_at, r.published_version) for r in session.scalars(select(Resource))}

    report = excel.import_catalog(session, op, first.content, "目录.xlsx")

    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged, report.items) == (0, 0, 3, 6)
    assert footprint(session) == before  # no drafts, no versions, no audit noise
    session.expire_all()
    after = {r.id: (r.status, r.updated_at, r.published_version) for r in session.scalars(select(Resource))}
    assert after == stamps
    second = excel_export.export_catalog(session, op, include_drafts=True)
    assert sheet_values(second.content) == sheet_values(first.content)


def test_a_department_fills_the_template_and_gets_drafts(
    session: Session, org: Org, catalog: Catalog
) -> None:
    data = workbook_bytes(
        [
            resource_row(),
            resource_row(
                信息资源名称="法人基本信息",
                信息资源分类代码="102001",
                共享类型="conditional",
                **{"共享条件/不予共享依据": "仅限登记核验"},
            ),
        ],
        [
            item_row(序号=1),
            item_row(序号=2, 信息项名称="姓名", 数据元标识符="DE0002", 是否主键="否"),
            item_row(信息资源名称="法人基本信息", 信息项名称="统一社会信用代码", 数据元标识符="DE0008"),
        ],
    )
    report = excel.import_catalog(session, org.principal(org.steward), data, "新目录.xlsx")
    assert report.ok, report.errors
    assert (report.created, report.updated, report.items) == (2, 0, 3)
    people = session.scalar(select(Resource).where(Resource.name == "常住人口基础信息"))
    assert people is not None and people.status == ResourceStatus.draft.value
    assert people.code == "101001/000001" and people.department_id == org.police.id
    items = session.scalars(
        select(DataItem).where(DataItem.resource_id == people.id).order_by(DataItem.position)
    )
    assert [(i.name, i.column_name, i.is_key, i.sensitive) for i in items] == [
        ("公民身份号码", "de0001", True, True),
        ("姓名", "de0002", False, True),
    ]
    assert report.codes == [people.code, "102001/000001"]


def test_changing_a_published_resource_in_the_file_updates_only_its_working_copy(
    session: Session, org: Org, catalog: Catalog
) -> None:
    op = org.principal(org.operator)
    exported = excel_export.export_catalog(session, op).content
    changed = edit(
        exported, lambda wb: set_cell(wb, SHEET_RESOURCES, 3, "共享条件/不予共享依据", "仅限婚姻登记核验")
    )
    report = excel.import_catalog(session, op, changed, "改.xlsx")
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert report.codes == [catalog.marriage.code]
    session.refresh(catalog.marriage)
    assert catalog.marriage.status == ResourceStatus.draft.value and catalog.marriage.published_version == 1
    assert catalog.marriage.share_condition == "仅限婚姻登记核验"
    published = excel_export.export_catalog(session, op).content  # the live version is still the old one
    marriage = dict(zip(RESOURCE_HEADERS, sheet_values(published)[SHEET_RESOURCES][2], strict=True))
    assert marriage["共享条件/不予共享依据"] == "仅限办理婚姻、户籍、社保业务核验使用"


# ---- bad input: a precise error, nothing changed -----------------------------------------------


def _duplicate_code(wb: Workbook) -> None:
    ws = wb[SHEET_RESOURCES]
    ws.append([c.value for c in ws[2]])


def _extra_and_missing_columns(wb: Workbook) -> None:
    ws = wb[SHEET_RESOURCES]
    ws.cell(row=1, column=ws.max_column + 1, value="备注")
    headers = [c.value for c in ws[1]]
    ws.delete_cols(headers.index("更新周期") + 1)


BAD_EDITS = {
    "duplicate_code": (_duplicate_code, {("code_duplicate", SHEET_RESOURCES, 4, "信息资源代码")}),
    "unknown_department": (
        lambda wb: set_cell(wb, SHEET_RESOURCES, 2, "信息资源提供方", "市不存在局"),
        {("department_unknown", SHEET_RESOURCES, 2, "信息资源提供方")},
    ),
    "unknown_element": (
        lambda wb: set_cell(wb, SHEET_ITEMS, 3, "数据元标识符", "DE9999"),
        {("element_unknown", SHEET_ITEMS, 3, "数据元标识符")},
    ),
    "none_without_legal_basis": (
        lambda wb: (
            set_cell(wb, SHEET_RESOURCES, 3, "共享类型", "不予共享"),
            set_cell(wb, SHEET_RESOURCES, 3, "共享条件/不予共享依据", None),
        ),
        {("share_basis_required", SHEET_RESOURCES, 3, "共享条件/不予共享依据")},
    ),
    "extra_and_missing_columns": (
        _extra_and_missing_columns,
        {("column_unknown", SHEET_RESOURCES, 1, "备注"), ("column_missing", SHEET_RESOURCES, 1, "更新周期")},
    ),
    "bad_cells": (
        lambda wb: (
            set_cell(wb, SHEET_RESOURCES, 2, "共享方式", "邮寄"),
            set_cell(wb, SHEET_RESOURCES, 2, "发布日期", "2024年13月1日"),
            set_cell(wb, SHEET_ITEMS, 2, "是否主键", "也许"),
        ),
        {
            ("enum_invalid", SHEET_RESOURCES, 2, "共享方式"),
            ("date_invalid", SHEET_RESOURCES, 2, "发布日期"),
            ("bool_invalid", SHEET_ITEMS, 2, "是否主键"),
        },
    ),
    "item_rules": (  # the catalog rules' problems land on the item's own row and column
        lambda wb: (
            set_cell(wb, SHEET_ITEMS, 2, "是否敏感", "否"),
            set_cell(wb, SHEET_ITEMS, 3, "信息项名称", "公民身份号码"),
        ),
        {
            ("item_sensitive_required", SHEET_ITEMS, 2, "是否敏感"),
            ("item_name_duplicate", SHEET_ITEMS, 3, "信息项名称"),
        },
    ),
    "items_of_no_resource": (
        lambda wb: set_cell(wb, SHEET_ITEMS, 2, "信息资源代码", "101001/999999"),
        {("item_resource_unknown", SHEET_ITEMS, 2, "信息资源代码")},
    ),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_a_bad_workbook_changes_nothing_and_says_where(
    session: Session, org: Org, catalog: Catalog, case: str
) -> None:
    op = org.principal(org.operator)
    change, expected = BAD_EDITS[case]
    data = edit(excel_export.export_catalog(session, op).content, change)
    before = footprint(session)
    report = excel.import_catalog(session, op, data, f"{case}.xlsx")
    assert not report.ok
    assert problems(report) == expected
    assert all(p.problem and p.fix for p in report.errors)
    assert footprint(session) == before
    rejected = session.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.import")).all()
    assert [e.outcome for e in rejected] == ["failed"]


def test_a_gbk_csv_is_refused_with_the_template_named(session: Session, org: Org, catalog: Catalog) -> None:
    text = ",".join(RESOURCE_HEADERS) + "\r\n" + ",".join(str(v or "") for v in resource_row()) + "\r\n"
    before = footprint(session)
    report = excel.import_catalog(session, org.principal(org.operator), text.encode("gbk"), "目录.csv")
    assert problems(report) == {("catalog_csv_unsupported", "目录.csv", None, None)}
    assert "GBK" in report.errors[0].problem and ".xlsx" in report.errors[0].fix
    assert footprint(session) == before


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "file_empty"),
        (bytes(range(256)) * 40, "file_unreadable"),
        (b"PK\x03\x04 not really a zip", "file_unreadable"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "file_xls_unsupported"),
    ],
)
def test_files_that_are_not_workbooks_are_refused(
    session: Session, org: Org, catalog: Catalog, data: bytes, code: str
) -> None:
    before = footprint(session)
    report = excel.import_catalog(session, org.principal(org.operator), data, "x.xlsx")
    assert [p.code for p in report.errors] == [code]
    assert footprint(session) == before


def test_a_workbook_without_the_items_sheet_is_refused(session: Session, org: Org, catalog: Catalog) -> None:
    data = edit(
        excel_export.export_catalog(session, org.principal(org.operator)).content,
        lambda wb: wb.remove(wb[SHEET_ITEMS]),
    )
    report = excel.import_catalog(session, org.principal(org.operator), data, "x.xlsx")
    assert [(p.code, p.value) for p in report.errors] == [("sheet_missing", SHEET_ITEMS)]


def test_new_resources_must_have_unique_names_in_the_file(session: Session, org: Org, standards: Any) -> None:
    data = workbook_bytes([resource_row(), resource_row()], [item_row()])
    report = excel.import_catalog(session, org.principal(org.operator), data, "x.xlsx")
    assert problems(report) == {("name_duplicate", SHEET_RESOURCES, 3, "信息资源名称")}


def test_a_steward_cannot_import_another_departments_rows(
    session: Session, org: Org, catalog: Catalog
) -> None:
    civil = org.principal(org.civil_steward)
    exported = excel_export.export_catalog(session, civil).content  # both departments' published entries
    before = footprint(session)
    report = excel.import_catalog(session, civil, exported, "全市.xlsx")
    assert problems(report) == {
        ("department_forbidden", SHEET_RESOURCES, 2, "信息资源提供方"),
        ("resource_forbidden", SHEET_RESOURCES, 2, "信息资源代码"),
    }
    assert footprint(session) == before
    refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.import")).one()
    assert refused.outcome == "denied"

    own = edit(exported, lambda wb: wb[SHEET_RESOURCES].delete_rows(2))  # only 市民政局's row is left
    own = edit(own, lambda wb: wb[SHEET_ITEMS].delete_rows(2, 3))
    assert excel.import_catalog(session, civil, own, "民政.xlsx").ok
