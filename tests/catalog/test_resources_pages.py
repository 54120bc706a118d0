"""The catalog pages as people use them: a steward catalogs a resource with items in the editor and
submits it, the operator publishes it from the review queue, the steward changes it and the diff
page shows the change; the yearly review and the department's list."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, Resource
from jutong.core.audit import AuditEvent
from tests.conftest import Org, login

FORM = {
    "classification_code": "101002",
    "name": "户籍人口基本信息",
    "summary": "全市户籍人口的身份号码、姓名、性别等基本信息",
    "format_category": "database",
    "format_type": "达梦",
    "share_type": "conditional",
    "share_condition": "用于政务服务中的身份核验",
    "delivery": "api",
    "open_type": "closed",
    "update_cycle": "daily",
    "related_codes": "",
    "items-0-name": "公民身份号码",
    "items-0-element": "DE0001",
    "items-0-is_key": "1",
    "items-1-name": "姓名",
    "items-1-element": "DE0002",
    "items-2-name": "性别",
    "items-2-element": "DE0003",
    "items-3-name": "",  # a blank row is not saved
    "items-3-element": "",
}


def _switch(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return login(client, username)


def _rid(response_location: str) -> int:
    found = re.fullmatch(r"/catalog/resources/(\d+)", response_location)
    assert found, response_location
    return int(found[1])


def test_catalog_submit_publish_change_and_see_the_diff_through_the_pages(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    csrf = login(client, "ga_steward")
    editor = client.get("/catalog/resources/new")
    assert editor.status_code == 200
    assert '<option value="DE0001">公民身份号码' in editor.text and "市公安局" in editor.text
    assert 'name="department_id"' not in editor.text  # a steward catalogs for their own department

    bad = client.post("/catalog/resources/new", data={**FORM, "share_condition": "", "csrf_token": csrf})
    assert bad.status_code == 422 and "有条件共享的资源必须写明共享条件" in bad.text
    assert 'value="公民身份号码"' in bad.text  # what was typed is shown again
    assert session.scalar(select(Resource)) is None

    created = client.post("/catalog/resources/new", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303, created.text
    rid = _rid(created.headers["location"])
    page = client.get(f"/catalog/resources/{rid}")
    assert "101002/000001" in page.text and "草稿" in page.text and "提交审核" in page.text
    assert "de0001" in page.text and "GB/T 2261.1-2003" in page.text and "敏感" in page.text
    assert client.post(f"/catalog/resources/{rid}/submit", data={"csrf_token": csrf}).status_code == 200

    csrf = _switch(client, "op")
    queue = client.get("/catalog/review")
    assert "户籍人口基本信息" in queue.text and "首次发布" in queue.text
    published = client.post(
        f"/catalog/resources/{rid}/publish",
        data={"note": "首次发布", "next": "/catalog/review", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert published.status_code == 303 and published.headers["location"] == "/catalog/review"
    assert "没有待审核的资源" in client.get("/catalog/review").text

    csrf = _switch(client, "ga_steward")
    edit = client.get(f"/catalog/resources/{rid}/edit")
    assert 'value="户籍人口基本信息"' in edit.text and 'name="items-2-element" value="DE0003"' in edit.text
    changed = {
        **FORM,
        "share_type": "unconditional",
        "share_condition": "",
        "items-3-name": "出生日期",
        "items-3-element": "DE0005",
        "csrf_token": csrf,
    }
    saved = client.post(f"/catalog/resources/{rid}/edit", data=changed, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    page = client.get(f"/catalog/resources/{rid}")
    assert "工作副本有未发布的修改" in page.text and "已发布的第 1 版" in page.text

    diff = client.get(f"/catalog/resources/{rid}/diff?v1=1&v2=draft")
    assert diff.status_code == 200
    assert "共享类型" in diff.text and "有条件共享" in diff.text and "无条件共享" in diff.text
    assert "信息项“出生日期”" in diff.text and "新增" in diff.text

    _switch(client, "mz_consumer")
    consumer_view = client.get(f"/catalog/resources/{rid}")
    assert consumer_view.status_code == 200 and "以下为已发布的第 1 版" in consumer_view.text
    assert "出生日期" not in consumer_view.text and f"/catalog/resources/{rid}/edit" not in consumer_view.text
    assert client.get(f"/catalog/resources/{rid}/edit").status_code == 403


def test_the_editor_adds_rows_with_htmx_and_shows_item_errors_on_their_row(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    csrf = login(client, "ga_steward")
    row = client.get("/catalog/resources/item-row?index=7")
    assert 'name="items-7-name"' in row.text and "item-row?index=8" in row.text and 'id="add-row"' in row.text
    form = {**FORM, "items-7-name": "住址", "items-7-element": "DE9999", "csrf_token": csrf}
    refused = client.post("/catalog/resources/new", data=form)
    assert refused.status_code == 422 and "数据元“DE9999”不存在" in refused.text
    deleted = {**form, "items-7-delete": "1"}
    assert client.post("/catalog/resources/new", data=deleted, follow_redirects=False).status_code == 303


def test_another_departments_steward_cannot_edit_through_the_page(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    csrf = login(client, "ga_steward")
    created = client.post("/catalog/resources/new", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    rid = _rid(created.headers["location"])
    csrf = _switch(client, "mz_steward")
    refused = client.post(f"/catalog/resources/{rid}/edit", data={**FORM, "name": "改名", "csrf_token": csrf})
    assert refused.status_code == 403
    session.expire_all()
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "access.denied")) is not None
    assert session.get(Resource, rid).name == "户籍人口基本信息"  # type: ignore[union-attr]


def test_the_yearly_review_and_department_pages(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    csrf = login(client, "ga_steward")
    created = client.post("/catalog/resources/new", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    rid = _rid(created.headers["location"])
    mine = client.get("/catalog/mine")
    assert "户籍人口基本信息" in mine.text and "草稿" in mine.text
    tasks = client.get("/catalog/tasks")
    assert (
        tasks.status_code == 200
        and "-08-31" in tasks.text
        and ("还剩" in tasks.text or "已逾期" in tasks.text)
    )

    csrf = _switch(client, "op")
    client.post(f"/catalog/resources/{rid}/submit", data={"csrf_token": csrf})
    client.post(f"/catalog/resources/{rid}/publish", data={"csrf_token": csrf})
    progress = client.get("/catalog/tasks")
    assert "各部门进度" in progress.text and "市公安局" in progress.text and "市民政局" in progress.text
    reviewed = client.post(
        f"/catalog/resources/{rid}/review",
        data={"next": "/catalog/tasks", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert reviewed.status_code == 303 and reviewed.headers["location"] == "/catalog/tasks"
    again = client.post(f"/catalog/resources/{rid}/submit", data={"csrf_token": csrf})
    assert again.status_code == 409 and "没有未发布的修改" in again.text


def test_the_operator_catalogs_for_any_department_in_the_editor(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    csrf = login(client, "op")
    editor = client.get("/catalog/resources/new")
    assert 'name="department_id"' in editor.text and "市民政局" in editor.text
    missing = client.post("/catalog/resources/new", data={**FORM, "csrf_token": csrf})
    assert missing.status_code == 422 and "没有选择提供方部门" in missing.text
    form = {**FORM, "department_id": str(org.civil.id), "csrf_token": csrf}
    created = client.post("/catalog/resources/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    resource = session.get(Resource, _rid(created.headers["location"]))
    assert resource is not None and resource.department_id == org.civil.id and resource.provider_code == "MZ"
