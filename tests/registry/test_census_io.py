"""Census files: the template, export → import round trip, encodings, and all-or-nothing imports
whose report names the sheet, row and column of every bad cell."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry import census, census_import, census_io
from jutong.registry.census_fields import SYSTEM_COLUMNS, USAGE_COLUMNS
from jutong.registry.census_schemas import UsageIn
from jutong.registry.models import InformationSystem, SystemUsage
from tests.conftest import Org
from tests.registry.test_census_service import system_in

HEADERS = [c.header for c in SYSTEM_COLUMNS]
USAGE_HEADERS = [c.header for c in USAGE_COLUMNS]


def row(**values: Any) -> list[Any]:
    """One systems-sheet row by header, with plausible defaults."""
    data: dict[str, Any] = {
        "系统名称": "不动产登记系统",
        "所属部门": "市民政局",
        "功能描述": "不动产登记受理与发证",
        "使用范围": "跨部门",
        "经费来源": "政府投资",
        "部署网络": "外网",
        "共享情况": "已共享",
        "是否接入共享交换平台": "是",
        "等保定级": "三级",
        "审批时间": "2019/3/5",
        "建设经费(万元)": 88.5,
    }
    data.update(values)
    return [data.get(h) for h in HEADERS]


def xlsx(rows: list[list[Any]], usage: list[list[Any]] | None = None, headers: list[str] = HEADERS) -> bytes:
    workbook = Workbook()
    ws = workbook.active
    assert ws is not None
    ws.title = census_io.SHEET_SYSTEMS
    ws.append(headers)
    for r in rows:
        ws.append(r)
    if usage is not None:
        usage_ws = workbook.create_sheet(census_io.SHEET_USAGE)
        usage_ws.append(USAGE_HEADERS)
        for r in usage:
            usage_ws.append(r)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_text(rows: list[list[Any]], headers: list[str] = HEADERS) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    return buffer.getvalue()


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def problems(report: census_import.ImportReport) -> set[tuple[str, int | None, str | None, str]]:
    return {(p.sheet, p.row, p.column, p.code) for p in report.errors}


def test_template_has_the_chinese_headers_usage_sheet_and_allowed_values(session: Session, org: Org) -> None:
    file = census_io.census_template(session, org.principal(org.operator))
    workbook = load_workbook(io.BytesIO(file.content))
    assert workbook.sheetnames == ["政务信息系统", "月度使用情况", "填写说明"]
    assert [c.value for c in workbook["政务信息系统"][1]] == HEADERS
    assert [c.value for c in workbook["月度使用情况"][1]] == [
        "系统编号",
        "月份",
        "月活跃用户数",
        "月业务量",
        "CPU使用率%",
        "存储使用率%",
    ]
    help_rows = {r[1]: r[3] for r in workbook["填写说明"].iter_rows(min_row=2, values_only=True) if r[1]}
    assert help_rows["系统状态"] == "运行、拟整合、拟清理、已停用"
    assert help_rows["共享情况"] == "已共享、不共享、处室内部共享、部门内部共享、单机运行"
    assert help_rows["是否异地备份"] == "是、否"
    assert "市公安局" in help_rows["所属部门"] and "市民政局" in help_rows["所属部门"]
    assert file.filename.endswith(".xlsx")


def test_an_import_creates_systems_and_usage_with_generated_codes(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    data = xlsx(
        [
            row(系统编号="MZ-BDC-01"),
            row(系统名称="婚姻登记系统", 审批时间="2020年1月2日"),
            row(所属部门="GA"),
        ],
        usage=[["MZ-BDC-01", "2024-01", 30, 400, 12, 40], ["MZ-BDC-01", "2024/2", 35, 420, "15%", 41]],
    )
    report = census_import.import_census(session, op, data, "普查.xlsx")
    assert report.ok, report.errors
    assert (report.created, report.updated, report.usage_months, report.usage_changed) == (3, 0, 2, 2)

    systems = {s.name: s for s in session.scalars(select(InformationSystem))}
    assert (
        systems["婚姻登记系统"].code == "SYS-MZ-001"
        and systems["婚姻登记系统"].approval_date.isoformat() == "2020-01-02"
    )
    bdc = session.scalar(select(InformationSystem).where(InformationSystem.code == "MZ-BDC-01"))
    assert bdc is not None and bdc.protection_level == 3 and bdc.connected_to_platform is True
    assert bdc.cpu_utilization == 15 and bdc.storage_utilization == 41  # from the newest month
    assert {a for (a,) in session.execute(select(AuditEvent.action))} >= {"system.import", "system.create"}


def test_export_then_import_changes_nothing(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    first = census.create_system(
        session,
        op,
        system_in(department_id=org.police.id, description='=HYPERLINK("http://x")', offsite_backup=True),
    )
    census.create_system(
        session,
        op,
        system_in(department_id=org.civil.id, name="-低保", approval_date=None, protection_level=None),
    )
    census.record_usage(
        session, op, first.id, [UsageIn(month="2024-05", active_users=3, transactions=7, cpu_utilization=4.5)]
    )
    census.update_system(session, op, first.id, {"cpu_utilization": 9.25})  # edited after the last month
    before_systems = [
        census.snapshot(s) for s in session.scalars(select(InformationSystem).order_by(InformationSystem.id))
    ]
    before_usage = session.execute(
        select(SystemUsage.month, SystemUsage.transactions, SystemUsage.cpu_utilization)
    ).all()

    exported = census_io.export_census(session, op)
    sheet = load_workbook(io.BytesIO(exported.content))["政务信息系统"]
    cells = [c.value for r in sheet.iter_rows(min_row=2) for c in r]
    assert '\'=HYPERLINK("http://x")' in cells and "'-低保" in cells  # formulas are neutralised

    report = census_import.import_census(session, op, exported.content, exported.filename)
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged, report.usage_changed) == (0, 0, 2, 0)
    session.expire_all()
    after_systems = [
        census.snapshot(s) for s in session.scalars(select(InformationSystem).order_by(InformationSystem.id))
    ]
    assert after_systems == before_systems
    assert session.execute(
        select(SystemUsage.month, SystemUsage.transactions, SystemUsage.cpu_utilization)
    ).all() == (before_usage)
    assert [
        e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "system.export"))
    ] == ["system.export"]


def test_gbk_and_bom_csv_files_import(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    gbk = csv_text([row(系统编号="GBK-1", 系统名称="社区矫正管理系统", 所属部门="市公安局")]).encode("gbk")
    report = census_import.import_census(session, op, gbk, "gbk.csv")
    assert report.ok, report.errors
    assert (report.file_format, report.encoding, report.created) == ("csv", "GB18030", 1)
    bom = csv_text([row(系统编号="BOM-1", 系统名称="养老服务系统")]).encode("utf-8-sig")
    assert census_import.import_census(session, op, bom, "bom.csv").encoding == "UTF-8 (BOM)"
    names = set(session.scalars(select(InformationSystem.name)))
    assert names == {"社区矫正管理系统", "养老服务系统"}


def test_csv_export_is_utf8_with_bom_or_gbk_on_request(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    census.create_system(session, op, system_in(department_id=org.civil.id))
    utf8 = census_io.export_census(session, op, file_format="csv")
    assert utf8.content.startswith(b"\xef\xbb\xbf")
    gbk = census_io.export_census(session, op, file_format="csv", encoding="gbk")
    lines = gbk.content.decode("gbk").splitlines()
    assert lines[0].split(",") == HEADERS and "社会救助管理系统" in lines[1] and "跨部门" in lines[1]
    again = census_import.import_census(session, op, gbk.content, "again.csv")
    assert again.ok and (again.created, again.unchanged) == (0, 1)


def test_a_file_with_several_bad_rows_changes_nothing_and_names_each_cell(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    data = xlsx(
        [
            row(系统编号="OK-1"),
            row(系统编号="BAD-2", 使用范围="全省", 审批时间="2019-02-30"),
            row(系统编号="BAD-3", 所属部门="市水务局", **{"建设经费(万元)": "一百万"}),
            row(系统编号="OK-1"),
            row(系统编号="BAD-5", 系统名称=None, 是否异地备份="也许", 等保定级="六级"),
        ],
        usage=[["OK-1", "2024-13", 1, 2, None, None], ["NOPE", "2024-01", 1, 2, None, None]],
    )
    report = census_import.import_census(session, op, data, "bad.xlsx")
    assert not report.ok
    assert problems(report) == {
        ("政务信息系统", 3, "使用范围", "enum_invalid"),
        ("政务信息系统", 3, "审批时间", "date_invalid"),
        ("政务信息系统", 4, "所属部门", "department_unknown"),
        ("政务信息系统", 4, "建设经费(万元)", "number_invalid"),
        ("政务信息系统", 5, "系统编号", "code_duplicate"),
        ("政务信息系统", 6, "系统名称", "required"),
        ("政务信息系统", 6, "是否异地备份", "bool_invalid"),
        ("政务信息系统", 6, "等保定级", "level_invalid"),
        ("月度使用情况", 2, "月份", "month_invalid"),
        ("月度使用情况", 3, "系统编号", "system_unknown"),
    }
    scope = next(p for p in report.errors if p.column == "使用范围")
    assert scope.value == "全省" and "跨部门" in scope.fix  # the fix lists the allowed values
    assert "第 2 行" in next(p for p in report.errors if p.code == "code_duplicate").problem
    assert count(session, InformationSystem) == 0 and count(session, SystemUsage) == 0
    body = report.error_body()
    assert body["code"] == "census_import_invalid" and len(body["detail"]["errors"]) == 10
    [rejected] = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.import"))
    assert rejected.outcome == "failed" and rejected.detail["error_count"] == 10  # type: ignore[index]


def test_extra_and_missing_columns_are_named(session: Session, org: Org) -> None:
    headers = [h for h in HEADERS if h != "共享情况"] + ["备注"]
    text = csv_text([["x"] * len(headers)], headers=headers)
    report = census_import.import_census(session, org.principal(org.operator), text.encode(), "cols.csv")
    assert problems(report) == {
        ("cols.csv", 1, "备注", "column_unknown"),
        ("cols.csv", 1, "共享情况", "column_missing"),
    }
    assert "备注" in report.errors[0].problem and count(session, InformationSystem) == 0


def test_headers_may_be_typed_loosely_under_a_title_row(session: Session, org: Org) -> None:
    loose = [h.replace("(", "（").replace(")", "）").replace("%", "％") for h in HEADERS]
    loose[1] = "*系统名称"
    text = "示范市政务信息系统普查表\n" + csv_text([row(系统编号="T-1")], headers=loose)
    report = census_import.import_census(session, org.principal(org.operator), text.encode(), "loose.csv")
    assert report.ok, report.errors


def test_garbage_empty_and_legacy_files_are_refused_with_a_reason(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    garbage = random.Random(7).randbytes(4096)
    cases = {
        "garbage.xlsx": (garbage, "file_unreadable"),
        "fake.xlsx": (b"PK\x03\x04" + garbage, "file_unreadable"),
        "empty.csv": (b"", "file_empty"),
        "old.xls": (bytes.fromhex("d0cf11e0a1b11ae1") + garbage, "file_xls_unsupported"),
        "header-only.xlsx": (xlsx([]), "file_no_rows"),
    }
    for name, (data, code) in cases.items():
        report = census_import.import_census(session, op, data, name)
        assert [p.code for p in report.errors] == [code], name
        assert report.errors[0].problem and report.errors[0].fix
    assert count(session, InformationSystem) == 0


def test_a_steward_cannot_import_rows_of_another_department(session: Session, org: Org) -> None:
    op, ga = org.principal(org.operator), org.principal(org.steward)
    civil = census.create_system(session, op, system_in(department_id=org.civil.id, code="MZ-1"))
    data = xlsx(
        [
            row(系统编号="GA-NEW", 所属部门="市公安局"),
            row(系统编号="X-2", 所属部门="市民政局"),
            row(系统编号="MZ-1", 所属部门="市公安局"),
        ],
        usage=[["MZ-1", "2024-01", 1, 1, None, None]],
    )
    report = census_import.import_census(session, ga, data, "ga.xlsx")
    assert problems(report) == {
        ("政务信息系统", 3, "所属部门", "department_forbidden"),
        ("政务信息系统", 4, "系统编号", "system_forbidden"),
        ("月度使用情况", 2, "系统编号", "system_forbidden"),
    }
    assert count(session, InformationSystem) == 1 and civil.department_id == org.civil.id
    [refused] = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.import"))
    assert (refused.outcome, refused.actor_name) == ("denied", "ga_steward")


def test_generated_codes_skip_codes_named_later_in_the_file(session: Session, org: Org) -> None:
    data = xlsx([row(系统名称="甲"), row(系统编号="SYS-MZ-001", 系统名称="乙")])
    report = census_import.import_census(session, org.principal(org.operator), data, "codes.xlsx")
    assert report.ok, report.errors
    codes = {
        name: code for name, code in session.execute(select(InformationSystem.name, InformationSystem.code))
    }
    assert codes == {"甲": "SYS-MZ-002", "乙": "SYS-MZ-001"}
