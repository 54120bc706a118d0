"""The request workflow over HTTP, on both backends: 民政局's program asks with its API key, 公安局's
steward approves less than asked, the grant is visible to both and stops at once when revoked."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, Resource
from jutong.core import clock
from jutong.core.audit import AuditEvent
from jutong.core.errors import Forbidden
from jutong.sharing import grants
from jutong.sharing.models import Grant
from tests.catalog.conftest import standards  # noqa: F401  (fixture)
from tests.conftest import Org, api_headers
from tests.ingest.conftest import POPULATION_ITEMS, publish


@pytest.fixture
def conditional(session: Session, org: Org, standards: dict[str, DataElement]) -> Resource:  # noqa: F811
    res = publish(
        session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS,
        share_type="有条件共享", share_condition="仅限社会救助、社会保障业务",
    )  # fmt: skip
    session.commit()
    return res


def body(resource_id: int, **change: object) -> dict[str, object]:
    data: dict[str, object] = {
        "resource_id": resource_id,
        "purpose": "最低生活保障对象资格核查",
        "legal_basis": "《社会救助暂行办法》第十一条",
        "items": ["gmsfhm", "xm", "csrq"],
        "period_end": "2099-12-31",
        "daily_quota": 5000,
    }
    data.update(change)
    return data


def test_request_approve_narrowed_then_revoke(
    client: TestClient, session: Session, org: Org, conditional: Resource
) -> None:
    consumer, steward = api_headers(session, org.consumer), api_headers(session, org.steward)
    created = client.post("/api/v1/sharing/requests", json=body(conditional.id), headers=consumer)
    assert created.status_code == 201, created.text
    req = created.json()
    assert req["status"] == "pending" and req["status_label"] == "待答复"
    assert req["due_on"] and req["days_left"] == 10 and req["grant"] is None

    queue = client.get("/api/v1/sharing/requests?side=incoming", headers=steward).json()
    assert [r["id"] for r in queue] == [req["id"]]
    assert client.get("/api/v1/sharing/requests?side=incoming", headers=consumer).json() == []

    civil_steward = api_headers(session, org.civil_steward)
    other = client.post(f"/api/v1/sharing/requests/{req['id']}/approve", json={}, headers=civil_steward)
    assert other.status_code == 403 and other.json()["code"] == "department_forbidden"
    wider = client.post(
        f"/api/v1/sharing/requests/{req['id']}/approve", json={"items": ["gmsfhm", "mzdm"]}, headers=steward
    )
    assert wider.status_code == 422 and wider.json()["code"] == "share_request_items_widened"
    assert "mzdm" in wider.json()["message"]

    approved = client.post(
        f"/api/v1/sharing/requests/{req['id']}/approve",
        json={
            "items": ["gmsfhm", "xm"],
            "masking": {"gmsfhm": "id_number", "xm": "name"},
            "daily_quota": 100,
        },
        headers=steward,
    )
    assert approved.status_code == 200, approved.text
    answer = approved.json()
    assert answer["status"] == "approved" and answer["days_left"] is None
    grant = answer["grant"]
    assert grant["items"] == ["gmsfhm", "xm"] and grant["masking"] == {"gmsfhm": "id_number", "xm": "name"}
    assert grant["daily_quota"] == 100 and grant["live"] is True

    mine = client.get("/api/v1/sharing/grants", headers=consumer).json()
    assert [g["id"] for g in mine] == [grant["id"]]
    live = grants.live_grant(session, org.principal(org.consumer), conditional.id)
    assert live.id == grant["id"]

    blank = client.post(f"/api/v1/sharing/grants/{grant['id']}/revoke", json={"reason": " "}, headers=steward)
    assert blank.status_code == 422
    revoked = client.post(
        f"/api/v1/sharing/grants/{grant['id']}/revoke", json={"reason": "用途已变更"}, headers=steward
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    session.expire_all()
    with pytest.raises(Forbidden) as stopped:
        grants.live_grant(session, org.principal(org.consumer), conditional.id)
    assert stopped.value.code == "grant_revoked"
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"share_request.submit", "share_request.approved", "grant.create", "grant.revoke"} <= actions


def test_refuse_needs_a_reason_and_the_consumer_sees_it(
    client: TestClient, session: Session, org: Org, conditional: Resource
) -> None:
    consumer, steward = api_headers(session, org.consumer), api_headers(session, org.steward)
    req = client.post("/api/v1/sharing/requests", json=body(conditional.id), headers=consumer).json()
    url = f"/api/v1/sharing/requests/{req['id']}/refuse"
    assert (
        client.post(url, json={"reason": ""}, headers=steward).json()["code"]
        == "share_request_reason_required"
    )
    assert client.post(url, json={"reason": "用途与共享条件不符"}, headers=steward).status_code == 200
    seen = client.get(f"/api/v1/sharing/requests/{req['id']}", headers=consumer).json()
    assert seen["status"] == "refused" and seen["decision_reason"] == "用途与共享条件不符"
    again = client.post(f"/api/v1/sharing/requests/{req['id']}/withdraw", headers=consumer)
    assert again.status_code == 409 and again.json()["code"] == "share_request_not_pending"


def test_bad_input_gets_clean_4xx(
    client: TestClient, session: Session, org: Org, conditional: Resource
) -> None:
    consumer = api_headers(session, org.consumer)
    cases = [
        body(conditional.id, items=["gmsfhm'; DROP TABLE share_request; --"]),
        body(conditional.id, items=["x" * 10_000]),
        body(conditional.id, daily_quota=10**12),
        body(conditional.id, period_end="not a date"),
        body(2**40),
        body(conditional.id, unexpected="field"),
        body(conditional.id, items=["gmsfhm"] * 1000),
    ]
    for case in cases:
        response = client.post("/api/v1/sharing/requests", json=case, headers=consumer)
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:200])
    missing = client.post("/api/v1/sharing/requests", json=body(999_999), headers=consumer)
    assert missing.status_code == 404 and missing.json()["code"] == "resource_not_found"
    assert client.get("/api/v1/sharing/requests?status=nonsense", headers=consumer).status_code == 422
    assert client.get("/api/v1/sharing/requests/99999999999", headers=consumer).status_code == 422
    assert session.scalar(select(Grant)) is None


def test_overdue_requests_are_the_operators_to_coordinate(
    client: TestClient, session: Session, org: Org, conditional: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer, operator = api_headers(session, org.consumer), api_headers(session, org.operator)
    monkeypatch.setattr(clock, "today", lambda: date(2026, 2, 12))
    req = client.post("/api/v1/sharing/requests", json=body(conditional.id), headers=consumer).json()
    assert req["due_on"] == "2026-03-04"
    assert client.get("/api/v1/sharing/requests/overdue", headers=operator).json() == []
    monkeypatch.setattr(clock, "today", lambda: date(2026, 3, 6))
    late = client.get("/api/v1/sharing/requests/overdue", headers=operator).json()
    assert [r["id"] for r in late] == [req["id"]] and late[0]["days_left"] == -2
    assert client.get("/api/v1/sharing/requests/overdue", headers=consumer).status_code == 403
    noted = client.post(
        f"/api/v1/sharing/requests/{req['id']}/coordinate",
        json={"note": "已协调，本周内答复"},
        headers=operator,
    )
    assert noted.status_code == 200 and "本周内答复" in noted.json()["coordination_note"]


def test_settings_change_the_deadline_and_the_calendar(
    client: TestClient, session: Session, org: Org, conditional: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator, consumer = api_headers(session, org.operator), api_headers(session, org.consumer)
    monkeypatch.setattr(clock, "today", lambda: date(2026, 11, 20))  # a Friday
    put = client.put(
        "/api/v1/sharing/settings",
        json={"answer_days": 2, "remind_days": 1, "extra_holidays": ["2026-11-23"]},
        headers=operator,
    )
    assert put.status_code == 200, put.text
    assert put.json()["extra_holidays"] == ["2026-11-23"]
    assert client.put("/api/v1/sharing/settings", json={"answer_days": 2, "remind_days": 1},
                      headers=consumer).status_code == 403  # fmt: skip
    req = client.post("/api/v1/sharing/requests", json=body(conditional.id), headers=consumer).json()
    assert req["due_on"] == "2026-11-25"  # Mon 23 is the local holiday: Tue 24, Wed 25


def test_bad_answers_and_settings_get_clean_4xx(
    client: TestClient, session: Session, org: Org, conditional: Resource
) -> None:
    consumer, steward = api_headers(session, org.consumer), api_headers(session, org.steward)
    operator = api_headers(session, org.operator)
    req = client.post("/api/v1/sharing/requests", json=body(conditional.id), headers=consumer).json()
    url = f"/api/v1/sharing/requests/{req['id']}/approve"
    for bad in (
        {"masking": {"gmsfhm": "rot13"}},
        {"masking": {"mzdm": "full"}},  # not among the granted items
        {"items": []},
        {"items": [1, 2]},
        {"expires_on": "1900-01-01"},
        {"daily_quota": -5},
        {"surprise": True},
    ):
        response = client.post(url, json=bad, headers=steward)
        assert 400 <= response.status_code < 500, (bad, response.status_code, response.text[:200])
    assert client.get(f"/api/v1/sharing/requests/{req['id']}", headers=consumer).json()["status"] == "pending"
    settings = client.put(
        "/api/v1/sharing/settings", json={"answer_days": 5, "remind_days": 5}, headers=operator
    )
    assert settings.status_code == 422 and settings.json()["code"] == "remind_days_invalid"
    clash = client.put(
        "/api/v1/sharing/settings",
        json={
            "answer_days": 5,
            "remind_days": 1,
            "extra_holidays": ["2026-12-01"],
            "extra_workdays": ["2026-12-01"],
        },
        headers=operator,
    )
    assert clash.status_code == 422 and clash.json()["code"] == "calendar_override_conflict"
    long_name = client.post("/api/v1/sharing/applications", json={"name": "系" * 101}, headers=consumer)
    assert long_name.status_code == 422
    assert (
        client.post("/api/v1/sharing/applications", json={"name": "  "}, headers=consumer).status_code == 422
    )
