"""An auditor reads, filters, pages and verifies the audit log through the API."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import AuditEvent
from tests.conftest import Org, api_headers

EVENTS = "/api/v1/audit/events"


def _story(session: Session, org: Org) -> dict[str, AuditEvent]:
    """A few days of a small city's log, with known times."""
    op, steward, consumer = (
        org.principal(org.operator),
        org.principal(org.steward),
        org.principal(org.consumer),
    )
    events = {
        "login": audit.record(
            session,
            steward,
            "auth.login",
            summary="ga_steward 登录",
            object_type="user",
            object_id=org.steward.id,
        ),
        "failed": audit.record(
            session,
            None,
            "auth.login_failed",
            summary="登录失败：mallory",
            outcome="failed",
            actor_name="mallory",
        ),
        "system": audit.record(
            session,
            steward,
            "system.create",
            summary="登记系统 人口库管理系统",
            object_type="system",
            object_id=7,
        ),
        "denied": audit.record(
            session,
            consumer,
            "access.denied",
            summary="拒绝 GET /api/v1/users",
            outcome="denied",
            object_type="route",
            object_id="/api/v1/users",
        ),
        "user": audit.record(
            session, op, "user.create", summary="创建用户 zhang（consumer）", object_type="user", object_id=99
        ),
    }
    days = [
        "2025-03-01T01:00",
        "2025-03-01T16:30",
        "2025-03-02T02:00",
        "2025-03-03T03:00",
        "2025-03-04T04:00",
    ]
    for event, when in zip(events.values(), days, strict=True):
        event.occurred_at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    session.commit()
    return events


def _ids(response_json: dict[str, object]) -> list[int]:
    return [e["id"] for e in response_json["events"]]  # type: ignore[index, union-attr]


def test_auditor_filters_the_log(client: TestClient, org: Org, session: Session) -> None:
    ev = _story(session, org)
    h = api_headers(session, org.auditor)

    def ids(**params: object) -> list[int]:
        response = client.get(EVENTS, params=params, headers=h)
        assert response.status_code == 200, response.text
        return _ids(response.json())

    assert ids(actor="ga_steward") == [ev["system"].id, ev["login"].id]  # newest first
    assert ids(action="auth.*") == [ev["failed"].id, ev["login"].id]
    assert ids(action="auth.") == ids(action="auth.*")
    assert ids(action="auth") == []  # no star, no dot: an exact action
    assert ids(outcome="denied") == [ev["denied"].id]
    assert ids(object_type="system", object_id="7") == [ev["system"].id]
    assert ids(department_id=org.civil.id) == [ev["denied"].id]
    assert ids(q="人口库") == [ev["system"].id]
    assert ids(q="MALLORY") == [ev["failed"].id]  # free text ignores case
    # 2025-03-01T16:30Z is already 2 March in Beijing; dates are Beijing days and "to" includes its day
    assert ids(**{"from": "2025-03-01", "to": "2025-03-01"}) == [ev["login"].id]
    assert ids(**{"from": "2025-03-02", "to": "2025-03-03"}) == [
        ev["denied"].id,
        ev["system"].id,
        ev["failed"].id,
    ]
    assert ids(**{"from": "2025-03-04T11:00:00+08:00", "to": "2025-03-05"}) == [ev["user"].id]


def test_reading_the_log_is_itself_audited(client: TestClient, org: Org, session: Session) -> None:
    _story(session, org)
    h = api_headers(session, org.auditor)
    client.get(EVENTS, params={"action": "auth.*"}, headers=h)
    session.expire_all()
    read = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.read")).one()
    assert read.actor_name == "auditor" and read.outcome == "success"
    assert read.detail == {"filters": {"action": "auth.*"}, "count": 2, "cursor": None}


def test_cursor_pages_are_stable_while_new_events_arrive(
    client: TestClient, org: Org, session: Session
) -> None:
    for i in range(7):
        audit.record(session, None, "test.paging", summary=f"第 {i} 条")
    session.commit()
    h = api_headers(session, org.auditor)
    first = client.get(EVENTS, params={"action": "test.paging", "limit": 3}, headers=h).json()
    assert set(first) == {"events", "next"} and first["next"]
    audit.record(session, None, "test.paging", summary="翻页时新到的事件")
    session.commit()
    seen = _ids(first)
    cursor = first["next"]
    while cursor:
        page = client.get(
            EVENTS, params={"action": "test.paging", "limit": 3, "cursor": cursor}, headers=h
        ).json()
        seen += _ids(page)
        cursor = page["next"]
    expected = session.scalars(
        select(AuditEvent.id).where(
            AuditEvent.action == "test.paging", AuditEvent.summary != "翻页时新到的事件"
        )
    ).all()
    assert seen == sorted(expected, reverse=True)  # newest first, no hole, no repeat


def test_bad_parameters_are_explained(client: TestClient, org: Org, session: Session) -> None:
    h = api_headers(session, org.auditor)
    for params, code in [
        ({"outcome": "ok"}, "audit_outcome_invalid"),
        ({"cursor": "not-a-cursor"}, "audit_cursor_invalid"),
        ({"from": "2025-13-01"}, "audit_time_invalid"),
        ({"from": "2025-03-05", "to": "2025-03-01"}, "audit_time_range_invalid"),
    ]:
        response = client.get(EVENTS, params=params, headers=h)
        assert response.status_code == 422, params
        assert response.json()["code"] == code and response.json()["message"]
    assert client.get(EVENTS, params={"limit": 0}, headers=h).status_code == 422


def test_event_detail(client: TestClient, org: Org, session: Session) -> None:
    ev = _story(session, org)
    h = api_headers(session, org.operator)
    body = client.get(f"{EVENTS}/{ev['denied'].id}", headers=h).json()
    assert body["action"] == "access.denied" and body["actor_name"] == "mz_consumer"
    assert body["sealed"] is False and body["seq"] is None
    missing = client.get(f"{EVENTS}/999999", headers=h)
    assert missing.status_code == 404 and missing.json()["code"] == "audit_event_not_found"


def test_only_auditors_and_operators_read_and_refusals_are_audited(
    client: TestClient, org: Org, session: Session
) -> None:
    for user in (org.steward, org.consumer):
        response = client.get(EVENTS, headers=api_headers(session, user))
        assert response.status_code == 403 and response.json()["code"] == "role_forbidden"
    assert client.get(EVENTS).status_code == 401
    session.expire_all()
    denied = session.scalars(select(AuditEvent.actor_name).where(AuditEvent.action == "access.denied")).all()
    assert denied == ["ga_steward", "mz_consumer"]


def test_operator_seals_and_auditor_verifies_then_finds_tampering(
    client: TestClient, org: Org, session: Session
) -> None:
    ev = _story(session, org)
    auditor, operator = api_headers(session, org.auditor), api_headers(session, org.operator)
    refused = client.post("/api/v1/audit/seal", headers=auditor)
    assert refused.status_code == 403

    sealed = client.post("/api/v1/audit/seal", headers=operator).json()
    assert sealed["sealed"] >= 6 and sealed["counts"]["unsealed_events"] == 0
    listed = client.get(EVENTS, params={"actor": "ga_steward"}, headers=auditor).json()["events"]
    assert all(e["sealed"] and e["seq"] for e in listed)

    status = client.get("/api/v1/audit/verify", headers=auditor).json()
    assert status["ok"] is True and status["problem"] is None
    assert status["head"] == sealed["head"] and status["algorithm"] == "SM3"
    assert status["counts"]["sealed_events"] == sealed["counts"]["sealed_events"]

    session.execute(update(AuditEvent).where(AuditEvent.id == ev["failed"].id).values(summary="登录成功"))
    session.commit()
    broken = client.get("/api/v1/audit/verify", headers=auditor).json()
    assert broken["ok"] is False
    assert broken["problem"]["kind"] == "edited" and broken["problem"]["event_id"] == ev["failed"].id
    session.expire_all()
    verified = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "audit.verify").order_by(AuditEvent.id)
    ).all()  # in the order they happened, not as the (updated, so moved) rows happen to lie
    assert [e.detail["ok"] for e in verified if e.detail] == [True, False]
