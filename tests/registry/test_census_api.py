"""The census API (/api/v1/systems) as programs use it: keys, JSON, files, refusals in the audit log."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry.models import InformationSystem
from tests.conftest import Org, api_headers
from tests.registry.test_census_io import HEADERS, csv_text, row, xlsx

SYSTEM = {
    "name": "最低生活保障系统",
    "description": "低保申请审批",
    "usage_scope": "部门内部",
    "funding_source": "government",
    "network": "外网",
    "sharing_status": "已共享",
}


def audit_trail(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_operator_registers_reads_and_changes_a_system(
    client: TestClient, org: Org, session: Session
) -> None:
    headers = api_headers(session, org.operator)
    created = client.post("/api/v1/systems", json={**SYSTEM, "department_id": org.civil.id}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == "SYS-MZ-001" and body["department_name"] == "市民政局"
    assert (body["usage_scope"], body["usage_scope_label"]) == ("department", "部门内部")

    patched = client.patch(
        f"/api/v1/systems/{body['id']}", json={"status": "拟整合", "protection_level": 2}, headers=headers
    )
    assert patched.status_code == 200 and patched.json()["status_label"] == "拟整合"
    assert client.get(f"/api/v1/systems/{body['id']}", headers=headers).json()["protection_level"] == 2
    listed = client.get(
        "/api/v1/systems", params={"q": "低保", "status": "to_integrate"}, headers=headers
    ).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
    assert [e.object_id for e in audit_trail(session, "system.update")] == [str(body["id"])]


def test_a_police_steward_editing_a_civil_affairs_system_gets_403_and_is_audited(
    client: TestClient, org: Org, session: Session
) -> None:
    civil = client.post(
        "/api/v1/systems", json=SYSTEM, headers=api_headers(session, org.civil_steward)
    ).json()
    police = api_headers(session, org.steward)

    refused = client.patch(f"/api/v1/systems/{civil['id']}", json={"name": "被改名"}, headers=police)
    assert refused.status_code == 403
    assert refused.json()["code"] == "department_forbidden" and "本部门" in refused.json()["message"]
    [denied] = audit_trail(session, "access.denied")
    assert (denied.actor_name, denied.outcome) == ("ga_steward", "denied")
    assert denied.detail == {
        "method": "PATCH",
        "path": f"/api/v1/systems/{civil['id']}",
        "code": "department_forbidden",
    }
    assert session.get(InformationSystem, civil["id"]).name == "最低生活保障系统"  # type: ignore[union-attr]

    assert client.get(f"/api/v1/systems/{civil['id']}", headers=police).status_code == 403
    assert (
        client.post(
            f"/api/v1/systems/{civil['id']}/usage", json=[{"month": "2024-01"}], headers=police
        ).status_code
        == 403
    )
    assert client.get("/api/v1/systems", headers=police).json()["total"] == 0


def test_auditors_only_read_and_consumers_have_no_access(
    client: TestClient, org: Org, session: Session
) -> None:
    op = api_headers(session, org.operator)
    system = client.post(
        "/api/v1/systems", json={**SYSTEM, "department_id": org.police.id}, headers=op
    ).json()
    auditor = api_headers(session, org.auditor)
    assert client.get("/api/v1/systems", headers=auditor).json()["total"] == 1
    assert (
        client.patch(f"/api/v1/systems/{system['id']}", json={"name": "x"}, headers=auditor).status_code
        == 403
    )
    assert client.post("/api/v1/systems", json=SYSTEM, headers=auditor).json()["code"] == "role_forbidden"
    consumer = api_headers(session, org.consumer)
    for path in (
        "/api/v1/systems",
        "/api/v1/systems/stats",
        "/api/v1/systems/export",
        f"/api/v1/systems/{system['id']}",
    ):
        assert client.get(path, headers=consumer).status_code == 403, path


def test_monthly_usage_through_the_api(client: TestClient, org: Org, session: Session) -> None:
    headers = api_headers(session, org.steward)
    system = client.post("/api/v1/systems", json=SYSTEM, headers=headers).json()
    months = [
        {
            "month": "2024-01",
            "active_users": 12,
            "transactions": 300,
            "cpu_utilization": 20,
            "storage_utilization": 30,
        },
        {
            "month": "2024-02",
            "active_users": 15,
            "transactions": 350,
            "cpu_utilization": 25.5,
            "storage_utilization": 31,
        },
    ]
    stored = client.post(f"/api/v1/systems/{system['id']}/usage", json=months, headers=headers)
    assert stored.status_code == 200 and [m["month"] for m in stored.json()] == ["2024-01", "2024-02"]
    assert client.get(f"/api/v1/systems/{system['id']}", headers=headers).json()["cpu_utilization"] == 25.5
    assert (
        client.get(f"/api/v1/systems/{system['id']}/usage", headers=headers).json()[1]["transactions"] == 350
    )
    bad = client.post(f"/api/v1/systems/{system['id']}/usage", json=[{"month": "2024-13"}], headers=headers)
    assert bad.status_code == 422


def test_stats_json_overall_and_by_department(client: TestClient, org: Org, session: Session) -> None:
    headers = api_headers(session, org.operator)
    for department, sharing in ((org.police, "已共享"), (org.police, "单机运行"), (org.civil, "已共享")):
        client.post(
            "/api/v1/systems",
            json={**SYSTEM, "department_id": department.id, "sharing_status": sharing},
            headers=headers,
        )
    stats = client.get("/api/v1/systems/stats", headers=headers).json()
    assert stats["total"] == 3
    assert [(r["label"], r["count"], r["percent"]) for r in stats["rows"]] == [
        ("已共享", 2, 66.7),
        ("不共享", 0, 0.0),
        ("处室内部共享", 0, 0.0),
        ("部门内部共享", 0, 0.0),
        ("单机运行", 1, 33.3),
    ]
    assert [(d["department_name"], d["total"]) for d in stats["by_department"]] == [
        ("市公安局", 2),
        ("市民政局", 1),
    ]
    mine = client.get("/api/v1/systems/stats", headers=api_headers(session, org.civil_steward)).json()
    assert mine["total"] == 1


def test_template_export_and_import_files(client: TestClient, org: Org, session: Session) -> None:
    headers = api_headers(session, org.operator)
    template = client.get("/api/v1/systems/template", headers=headers)
    assert template.status_code == 200 and "attachment" in template.headers["content-disposition"]
    assert [c.value for c in load_workbook(io.BytesIO(template.content))["政务信息系统"][1]] == HEADERS

    upload = {"file": ("普查.xlsx", xlsx([row(系统编号="MZ-9")], usage=[["MZ-9", "2024-03", 5, 50, 1, 2]]))}
    imported = client.post("/api/v1/systems/import", files=upload, headers=headers)
    assert imported.status_code == 200, imported.text
    assert imported.json() | {"filename": None} == {
        "filename": None,
        "file_format": "xlsx",
        "encoding": None,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "usage_months": 1,
        "usage_changed": 1,
    }

    gbk = client.get("/api/v1/systems/export", params={"format": "csv", "encoding": "gbk"}, headers=headers)
    assert gbk.status_code == 200 and "charset=gbk" in gbk.headers["content-type"]
    assert "MZ-9" in gbk.content.decode("gbk")
    exported = client.get("/api/v1/systems/export", headers=headers)
    again = client.post(
        "/api/v1/systems/import", files={"file": ("x.xlsx", exported.content)}, headers=headers
    )
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 1)
    assert len(audit_trail(session, "system.export")) == 2


def test_a_bad_import_is_422_with_the_per_cell_report_and_changes_nothing(
    client: TestClient, org: Org, session: Session
) -> None:
    headers = api_headers(session, org.operator)
    text = csv_text([row(系统编号="A-1"), row(系统编号="A-2", 部署网络="卫星网")])
    response = client.post(
        "/api/v1/systems/import", files={"file": ("bad.csv", text.encode("gbk"))}, headers=headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "census_import_invalid" and "未导入任何数据" in body["message"]
    [problem] = body["detail"]["errors"]
    assert (problem["sheet"], problem["row"], problem["column"], problem["value"], problem["code"]) == (
        "bad.csv",
        3,
        "部署网络",
        "卫星网",
        "enum_invalid",
    )
    assert "内网" in problem["fix"]
    assert session.scalar(select(InformationSystem).where(InformationSystem.code == "A-1")) is None
    [rejected] = audit_trail(session, "system.import")
    assert rejected.outcome == "failed"
    garbage = client.post(
        "/api/v1/systems/import", files={"file": ("x.xlsx", b"\x00\x01\x02garbage")}, headers=headers
    )
    assert garbage.status_code == 422 and garbage.json()["detail"]["errors"][0]["code"] == "file_unreadable"
