"""The subscriptions API as 民政局's program uses it: subscribe, list, cancel — its own department only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from tests.conftest import api_headers
from tests.exchange.conftest import Served, make_grant


def test_a_consumer_subscribes_sees_its_secret_once_and_cancels(
    session: Session, served: Served, client: TestClient
) -> None:
    consumer = api_headers(session, served.org.consumer)
    body = {"grant_id": served.grant.id, "kind": "webhook", "url": "https://mz.example.gov.cn/hook"}
    created = client.post("/api/v1/subscriptions", json=body, headers=consumer)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert len(sub["secret"]) == 64 and sub["status"] == "active" and sub["acked_version"] == 1

    listed = client.get("/api/v1/subscriptions", headers=consumer).json()
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]

    # 公安局 (the provider) neither sees nor subscribes on 民政局's grant
    police = api_headers(session, served.org.steward)
    assert client.get(f"/api/v1/subscriptions/{sub['id']}", headers=police).status_code == 403
    assert client.get("/api/v1/subscriptions", headers=police).json() == []
    refused = client.post("/api/v1/subscriptions", json=body, headers=police)
    assert refused.status_code == 403 and refused.json()["code"] == "subscription_not_consumer"

    cancelled = client.post(f"/api/v1/subscriptions/{sub['id']}/cancel", headers=consumer)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "stopped"
    again = client.post(f"/api/v1/subscriptions/{sub['id']}/cancel", headers=consumer)
    assert again.status_code == 409
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "subscription")))
    assert {"subscription.create", "subscription.cancel"} <= actions


def test_a_table_push_hides_the_database_password_and_bad_targets_get_clear_errors(
    session: Session, served: Served, client: TestClient
) -> None:
    consumer = api_headers(session, served.org.consumer)
    grant = make_grant(session, served.org, served.resource, items=["gmsfhm", "xm"], masking={"xm": "name"})
    body: dict[str, object] = {
        "grant_id": grant.id,
        "kind": "table",
        "url": "postgresql+psycopg://mz:s3cret@db.mz.example:5432/mz",
        "table": "rk_jcxx",
    }
    created = client.post("/api/v1/subscriptions", json=body, headers=consumer)
    assert created.status_code == 201, created.text
    assert "s3cret" not in created.text and created.json()["secret"] == ""
    assert "s3cret" not in client.get("/api/v1/subscriptions", headers=consumer).text

    for change, code in [
        ({"table": "rk; DROP TABLE x"}, "subscription_table_invalid"),
        ({"url": "not a url"}, "subscription_database_url_invalid"),
        ({"url": "postgresql://[::1"}, "subscription_database_url_invalid"),
        ({"url": "sqlite:////var/lib/jutong/x.db"}, "subscription_database_url_invalid"),
        ({"kind": "webhook", "url": "javascript:alert(1)"}, "subscription_url_invalid"),
        ({"kind": "webhook", "url": "http://[::1"}, "subscription_url_invalid"),
        ({"kind": "webhook", "url": "http://h:99999/x"}, "subscription_url_invalid"),
    ]:
        answer = client.post("/api/v1/subscriptions", json=body | change, headers=consumer)
        assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
    bad: list[dict[str, object]] = [{"grant_id": 2**40}, {"kind": "ftp"}, {"timeout": 1e9}]
    for wrong in bad:
        assert client.post("/api/v1/subscriptions", json=body | wrong, headers=consumer).status_code == 422
    assert client.get("/api/v1/subscriptions/99999999999", headers=consumer).status_code == 422
