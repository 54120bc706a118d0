"""The catalog workbook over HTTP: template and export downloads, the import API (422 with the
per-cell report), and the /catalog/import page a steward uses."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource, ResourceStatus
from jutong.standards.tabular_files import XLSX_MEDIA_TYPE
from tests.catalog.test_excel import (
    RESOURCE_HEADERS,
    SHEET_ITEMS,
    SHEET_RESOURCES,
    Catalog,
    catalog_fixture,  # noqa: F401  (the fixture ``catalog``)
    edit,
    footprint,
    item_row,
    resource_row,
    set_cell,
    sheet_values,
    workbook_bytes,
)
from tests.conftest import Org, api_headers, login


def test_any_signed_in_role_downloads_the_template_and_the_published_export(
    client: TestClient, session: Session, org: Org, catalog: Catalog
) -> None:
    headers = api_headers(session, org.consumer)
    template = client.get("/api/v1/catalog/template", headers=headers)
    assert template.status_code == 200 and template.headers["content-type"] == XLSX_MEDIA_TYPE
    assert "filename*=UTF-8''" in template.headers["content-disposition"]
    assert sheet_values(template.content)[SHEET_RESOURCES] == [RESOURCE_HEADERS]

    exported = client.get("/api/v1/catalog/export", headers=headers)
    assert exported.status_code == 200
    assert [r[1] for r in sheet_values(exported.content)[SHEET_RESOURCES][1:]] == [
        "户籍人口基本信息",
        "婚姻登记信息",
    ]
    refused = client.get("/api/v1/catalog/export?include=drafts", headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "export_drafts_forbidden"
    drafts = client.get("/api/v1/catalog/export?include=drafts", headers=api_headers(session, org.steward))
    assert "户籍迁移记录" in [r[1] for r in sheet_values(drafts.content)[SHEET_RESOURCES][1:]]
    assert client.get("/api/v1/catalog/export").status_code == 401


def test_the_import_api_answers_422_with_the_report_or_the_summary(
    client: TestClient, session: Session, org: Org, catalog: Catalog
) -> None:
    headers = api_headers(session, org.operator)
    exported = client.get("/api/v1/catalog/export", headers=headers).content
    bad = edit(exported, lambda wb: set_cell(wb, SHEET_ITEMS, 3, "数据元标识符", "DE9999"))
    before = footprint(session)
    answer = client.post(
        "/api/v1/catalog/import", headers=headers, files={"file": ("目录.xlsx", bad, XLSX_MEDIA_TYPE)}
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "catalog_import_invalid" and "未导入任何数据" in body["message"]
    [error] = body["detail"]["errors"]
    assert (error["sheet"], error["row"], error["column"], error["value"], error["code"]) == (
        SHEET_ITEMS,
        3,
        "数据元标识符",
        "DE9999",
        "element_unknown",
    )
    assert footprint(session) == before

    same = client.post(
        "/api/v1/catalog/import", headers=headers, files={"file": ("目录.xlsx", exported, XLSX_MEDIA_TYPE)}
    )
    assert same.status_code == 200, same.text
    assert same.json()["warnings"] == [] and same.json()["unchanged"] == 2
    assert (same.json()["created"], same.json()["updated"]) == (0, 0)


def test_a_consumer_cannot_import(client: TestClient, session: Session, org: Org, catalog: Catalog) -> None:
    data = workbook_bytes([resource_row()], [item_row()])
    answer = client.post(
        "/api/v1/catalog/import",
        headers=api_headers(session, org.consumer),
        files={"file": ("x.xlsx", data, XLSX_MEDIA_TYPE)},
    )
    assert answer.status_code == 403


def test_a_steward_imports_on_the_page_and_sees_the_report_then_the_summary(
    client: TestClient, session: Session, org: Org, catalog: Catalog
) -> None:
    csrf = login(client, "ga_steward")
    page = client.get("/catalog/import")
    assert page.status_code == 200
    assert 'href="/api/v1/catalog/template"' in page.text and 'href="/api/v1/catalog/export"' in page.text

    bad = workbook_bytes([resource_row(信息资源提供方="市民政局")], [item_row()])
    refused = client.post(
        "/catalog/import", data={"csrf_token": csrf}, files={"file": ("民政.xlsx", bad, XLSX_MEDIA_TYPE)}
    )
    assert refused.status_code == 422
    assert "department_forbidden" in refused.text and "您只能导入本部门的资源" in refused.text
    assert session.scalar(select(Resource).where(Resource.name == "常住人口基础信息")) is None

    good = workbook_bytes(
        [resource_row()], [item_row(), item_row(信息项名称="姓名", 数据元标识符="DE0002", 是否主键="否")]
    )
    done = client.post(
        "/catalog/import", data={"csrf_token": csrf}, files={"file": ("公安.xlsx", good, XLSX_MEDIA_TYPE)}
    )
    assert done.status_code == 200, done.text
    assert "导入成功：新建 1 个资源" in done.text and "101001/000001" in done.text
    created = session.scalar(select(Resource).where(Resource.name == "常住人口基础信息"))
    assert created is not None and created.status == ResourceStatus.draft.value


def test_the_import_page_is_for_those_who_may_import(client: TestClient, org: Org) -> None:
    login(client, "mz_consumer")
    assert client.get("/catalog/import").status_code == 403
