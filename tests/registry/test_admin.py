"""An operator adds departments and stops and restarts accounts through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry.models import Department
from tests.conftest import Org, api_headers


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_operator_adds_a_department_with_a_checked_credit_code(
    client: TestClient, org: Org, session: Session
) -> None:
    h = api_headers(session, org.operator)
    body = {
        "code": "RS",
        "name": "市人力资源和社会保障局",
        "region_code": "341000",
        "credit_code": "91350100m000100y43",
    }
    created = client.post("/api/v1/departments", json=body, headers=h)
    assert created.status_code == 201, created.text
    assert created.json()["credit_code"] == "91350100M000100Y43"  # stored upper-case
    assert "市人力资源和社会保障局" in [
        d["name"] for d in client.get("/api/v1/departments", headers=h).json()
    ]
    [event] = _events(session, "department.create")
    assert event.actor_name == "op" and event.object_id == str(created.json()["id"])
    assert event.detail and event.detail["region_code"] == "341000"


def test_a_wrong_credit_code_or_a_taken_code_is_refused_with_a_reason(
    client: TestClient, org: Org, session: Session
) -> None:
    h = api_headers(session, org.operator)
    base = {"code": "RS", "name": "市人力资源和社会保障局", "region_code": "341000"}
    wrong = client.post("/api/v1/departments", json={**base, "credit_code": "91350100M000100Y44"}, headers=h)
    assert wrong.status_code == 422 and wrong.json()["code"] == "credit_code_invalid"
    assert "校验位" in wrong.json()["message"]
    taken = client.post("/api/v1/departments", json={**base, "code": "GA"}, headers=h)
    assert taken.status_code == 409 and taken.json()["code"] == "department_code_taken"
    same_name = client.post("/api/v1/departments", json={**base, "name": "市公安局"}, headers=h)
    assert same_name.status_code == 409 and same_name.json()["code"] == "department_name_taken"
    nowhere = client.post("/api/v1/departments", json={**base, "region_code": "999999"}, headers=h)
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "region_not_found"
    without = client.post("/api/v1/departments", json=base, headers=h)  # the credit code is optional
    assert without.status_code == 201 and without.json()["credit_code"] is None
    assert session.scalar(select(Department).where(Department.code == "RS")) is not None


def test_stewards_cannot_add_departments(client: TestClient, org: Org, session: Session) -> None:
    body = {"code": "RS", "name": "市人社局", "region_code": "341000"}
    refused = client.post("/api/v1/departments", json=body, headers=api_headers(session, org.steward))
    assert refused.status_code == 403
    assert [e.actor_name for e in _events(session, "access.denied")] == ["ga_steward"]


def test_a_deactivated_user_is_locked_out_until_reactivated(
    client: TestClient, org: Org, session: Session
) -> None:
    operator = api_headers(session, org.operator)
    consumer = api_headers(session, org.consumer)
    assert client.get("/api/v1/me", headers=consumer).status_code == 200

    stopped = client.post(f"/api/v1/users/{org.consumer.id}/deactivate", headers=operator)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    assert client.get("/api/v1/me", headers=consumer).status_code == 401  # the key stops working

    again = client.post(f"/api/v1/users/{org.consumer.id}/activate", headers=operator)
    assert again.status_code == 200 and again.json()["active"] is True
    assert client.get("/api/v1/me", headers=consumer).status_code == 200
    assert [e.action for e in _events(session, "user.deactivate") + _events(session, "user.activate")] == [
        "user.deactivate",
        "user.activate",
    ]


def test_repeating_a_status_change_changes_nothing(client: TestClient, org: Org, session: Session) -> None:
    h = api_headers(session, org.operator)
    for _ in range(2):
        assert client.post(f"/api/v1/users/{org.consumer.id}/deactivate", headers=h).status_code == 200
    assert len(_events(session, "user.deactivate")) == 1


def test_an_operator_cannot_deactivate_themselves(client: TestClient, org: Org, session: Session) -> None:
    h = api_headers(session, org.operator)
    refused = client.post(f"/api/v1/users/{org.operator.id}/deactivate", headers=h)
    assert refused.status_code == 403 and refused.json()["code"] == "user_self_deactivate"
    assert "另一位平台管理员" in refused.json()["message"]
    assert client.get("/api/v1/me", headers=h).status_code == 200
    assert [e.outcome for e in _events(session, "access.denied")] == ["denied"]


def test_only_operators_change_accounts(client: TestClient, org: Org, session: Session) -> None:
    steward = api_headers(session, org.steward)
    assert client.post(f"/api/v1/users/{org.consumer.id}/deactivate", headers=steward).status_code == 403
    missing = client.post("/api/v1/users/999999/deactivate", headers=api_headers(session, org.operator))
    assert missing.status_code == 404 and missing.json()["code"] == "user_not_found"
