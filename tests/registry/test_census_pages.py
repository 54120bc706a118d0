"""The census pages as people use them: list, register form, detail with the trend, import, statistics."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry import census
from jutong.registry.census_schemas import UsageIn
from jutong.registry.models import InformationSystem
from tests.conftest import Org, login
from tests.registry.test_census_io import row, xlsx
from tests.registry.test_census_service import system_in

FORM = {
    "name": "居住证管理系统",
    "description": "居住证申领与签注",
    "usage_scope": "cross_department",
    "funding_source": "government",
    "network": "extranet",
    "sharing_status": "shared",
    "connected_to_platform": "是",
    "connection_required": "否",  # the bureau's call (operator only); the form's default
    "protection_level": "3",
    "protection_assessed": "否",
    "offsite_backup": "否",
    "approval_date": "2021-06-01",
    "construction_cost": "300",
    "annual_om_budget": "25.5",
    "status": "running",
}


def test_a_steward_registers_a_system_through_the_form_and_sees_its_page(
    client: TestClient, org: Org, session: Session
) -> None:
    csrf = login(client, "ga_steward")
    form = client.get("/systems/new")
    assert form.status_code == 200 and "市公安局" in form.text and 'name="department_id"' not in form.text

    created = client.post("/systems/new", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303, created.text
    system = session.scalar(select(InformationSystem).where(InformationSystem.name == "居住证管理系统"))
    assert system is not None and system.department_id == org.police.id and system.code == "SYS-GA-001"

    census.record_usage(
        session,
        org.principal(org.steward),
        system.id,
        [UsageIn(month="2024-01", active_users=9, transactions=99)],
    )
    detail = client.get(created.headers["location"])
    assert "居住证管理系统" in detail.text and "第3级" in detail.text and "25.50 万元" in detail.text
    assert 'id="usage-trend"' in detail.text and "/static/vendor/echarts.min.js" in detail.text
    assert '"transactions": [99]' in detail.text


def test_form_errors_are_shown_in_chinese_and_nothing_is_saved(
    client: TestClient, org: Org, session: Session
) -> None:
    csrf = login(client, "op")
    bad = {
        **FORM,
        "name": "",
        "approval_date": "2021-02-30",
        "department_id": str(org.civil.id),
        "csrf_token": csrf,
    }
    response = client.post("/systems/new", data=bad)
    assert response.status_code == 422
    assert "“系统名称”不能为空" in response.text and "不是有效日期" in response.text
    assert session.scalar(select(InformationSystem)) is None


def test_a_police_steward_editing_a_civil_affairs_system_through_the_page_gets_403_and_is_audited(
    client: TestClient, org: Org, session: Session
) -> None:
    civil = census.create_system(session, org.principal(org.civil_steward), system_in())
    session.commit()
    csrf = login(client, "ga_steward")

    assert client.get(f"/systems/{civil.id}/edit").status_code == 403
    refused = client.post(f"/systems/{civil.id}/edit", data={**FORM, "name": "被改名", "csrf_token": csrf})
    assert refused.status_code == 403 and "本部门" in refused.text

    session.expire_all()
    assert session.get(InformationSystem, civil.id).name == "社会救助管理系统"  # type: ignore[union-attr]
    denied = [
        (e.actor_name, e.outcome, e.detail["method"] if e.detail else None)
        for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
    ]
    assert ("ga_steward", "denied", "POST") in denied and ("ga_steward", "denied", "GET") in denied


def test_operator_edits_a_system_through_the_form(client: TestClient, org: Org, session: Session) -> None:
    system = census.create_system(session, org.principal(org.operator), system_in(department_id=org.civil.id))
    session.commit()
    csrf = login(client, "op")
    page = client.get(f"/systems/{system.id}/edit")
    assert 'value="社会救助管理系统"' in page.text
    saved = client.post(
        f"/systems/{system.id}/edit",
        data={
            **FORM,
            "name": "社会救助系统",
            "department_id": str(org.civil.id),
            "status": "to_integrate",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.expire_all()
    changed = session.get(InformationSystem, system.id)
    assert changed is not None and (changed.name, changed.status) == ("社会救助系统", "to_integrate")


def test_list_filters_and_the_import_form_with_its_error_report(
    client: TestClient, org: Org, session: Session
) -> None:
    op = org.principal(org.operator)
    census.create_system(
        session, op, system_in(department_id=org.police.id, name="警综平台", sharing_status="不共享")
    )
    census.create_system(session, op, system_in(department_id=org.civil.id, name="婚姻登记"))
    session.commit()
    csrf = login(client, "op")

    listed = client.get("/systems", params={"sharing_status": "not_shared"})
    assert "警综平台" in listed.text and "婚姻登记" not in listed.text
    assert "/api/v1/systems/template" in listed.text and "format=csv&amp;encoding=gbk" in listed.text

    bad = xlsx([row(系统编号="P-1", 共享情况="部分共享"), row(系统编号="P-2", 所属部门="市水务局")])
    response = client.post("/systems/import", data={"csrf_token": csrf}, files={"file": ("普查.xlsx", bad)})
    assert response.status_code == 422
    table = re.sub(r"\s+", " ", response.text)
    assert "未导入任何数据" in table
    assert '<td class="num">2</td> <td>共享情况</td> <td><code>部分共享</code></td>' in table
    assert '<td class="num">3</td> <td>所属部门</td> <td><code>市水务局</code></td>' in table
    assert session.scalar(select(InformationSystem).where(InformationSystem.code == "P-1")) is None

    good = client.post(
        "/systems/import",
        data={"csrf_token": csrf},
        files={"file": ("普查.xlsx", xlsx([row(系统编号="P-1")]))},
    )
    assert good.status_code == 200 and "导入成功：新建 1 个系统" in good.text


def test_stats_page_has_the_table_and_the_charts(client: TestClient, org: Org, session: Session) -> None:
    op = org.principal(org.operator)
    for sharing in ("已共享", "已共享", "单机运行"):
        census.create_system(session, op, system_in(department_id=org.police.id, sharing_status=sharing))
    session.commit()
    login(client, "auditor")
    page = client.get("/systems/stats")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert '>已共享</a></td><td class="num">2</td><td class="num">66.7%</td>' in text
    assert 'id="share-pie"' in text and 'id="share-bar"' in text and "/api/v1/systems/stats" in text
    assert 'stack: "total"' in text


def test_consumers_have_no_census_pages(client: TestClient, org: Org) -> None:
    login(client, "mz_consumer")
    assert client.get("/systems").status_code == 403
    assert client.get("/systems/stats").status_code == 403
