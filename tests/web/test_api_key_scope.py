"""An application's API key reads data, and nothing more, even when a person of high rank issued it.

民政局's steward issues a key to the department's 低保审核系统. Leaked from that server, the key must not
edit 民政局's catalog or manage its applications: it calls only the data services, the department's
subscriptions and the catalog's reads. Retiring the application, or deactivating the person, stops it.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core.audit import AuditEvent
from jutong.core.db import utcnow
from jutong.registry.models import User
from jutong.sharing import applications
from jutong.sharing.models import Application
from tests.conftest import Org, api_headers
from tests.exchange.conftest import Served, served  # noqa: F401  (fixture)
from tests.ingest.conftest import Resources, resources, standards  # noqa: F401  (fixtures)


def application_key(
    session: Session, org: Org, issuer: User, name: str = "低保审核系统"
) -> tuple[int, dict[str, str]]:
    """A 民政局 application registered and given a key by ``issuer``, as the 应用与密钥 page does."""
    by = org.principal(issuer)
    app = applications.create_application(session, by, name=name)
    issued = applications.issue_key(session, by, app.id, "生产")
    session.commit()
    return app.id, {"Authorization": f"Bearer {issued.token}"}


def _refusals(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_a_stewards_application_key_cannot_edit_the_catalog_its_issuer_may_edit(
    client: TestClient,
    org: Org,
    session: Session,
    resources: Resources,  # noqa: F811
) -> None:
    app_id, key = application_key(session, org, org.civil_steward)
    own = resources.assistance  # 民政局's resource: its steward edits it with their own key
    url = f"/api/v1/catalog/resources/{own.id}"

    refused = client.patch(url, json={"summary": "被泄露的密钥改写的摘要"}, headers=key)
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "api_key_scope"
    assert "低保审核系统" in body["message"] and "数据服务" in body["message"]
    assert body["detail"] == {"application_id": app_id, "method": "PATCH", "path": url}
    session.expire_all()
    assert session.get(Resource, own.id).summary != "被泄露的密钥改写的摘要"  # type: ignore[union-attr]
    denied = _refusals(session, "access.denied")[-1]
    assert (denied.actor_name, denied.outcome, denied.via) == ("mz_steward", "denied", "api_key")
    assert denied.detail == {
        "method": "PATCH",
        "path": url,
        "code": "api_key_scope",
        "application_id": app_id,
    }

    # the same person's own key may, so it is the key's scope that refused, not the role
    personal = client.patch(
        url, json={"summary": "本人修改的摘要"}, headers=api_headers(session, org.civil_steward)
    )
    assert personal.status_code == 200, personal.text


def test_an_application_key_reads_the_catalog_and_its_subscriptions_but_writes_nothing_else(
    client: TestClient,
    org: Org,
    session: Session,
    resources: Resources,  # noqa: F811
) -> None:
    app_id, key = application_key(session, org, org.consumer)
    population = resources.population
    found = client.get(f"/api/v1/catalog/resources/{population.id}", headers=key)
    assert found.status_code == 200 and found.json()["code"] == population.code
    assert client.get("/api/v1/catalog/search", params={"q": "人口"}, headers=key).status_code == 200
    assert client.get("/api/v1/subscriptions", headers=key).json() == []

    for method, path, body in [
        ("POST", "/api/v1/catalog/resources", {"name": "应用登记的资源"}),  # a write under the read prefix
        ("GET", "/api/v1/catalog/stats", None),
        ("GET", "/api/v1/me", None),
        ("POST", "/api/v1/sharing/requests", {"resource_id": population.id}),
        ("POST", f"/api/v1/sharing/applications/{app_id}/retire", None),
        ("GET", "/api/v1/audit/events", None),
        ("GET", "/catalog", None),  # pages neither
    ]:
        answer = client.request(method, path, json=body, headers=key)
        assert (answer.status_code, answer.json()["code"]) == (403, "api_key_scope"), (method, path)
    session.expire_all()
    assert session.get(Application, app_id).retired_at is None  # type: ignore[union-attr]


def test_retiring_the_application_stops_its_keys_at_once(
    client: TestClient, org: Org, session: Session
) -> None:
    app_id, key = application_key(session, org, org.consumer)
    assert client.get("/api/v1/subscriptions", headers=key).status_code == 200
    retired = client.post(
        f"/api/v1/sharing/applications/{app_id}/retire", headers=api_headers(session, org.consumer)
    )
    assert retired.status_code == 200, retired.text
    after = client.get("/api/v1/subscriptions", headers=key)
    assert after.status_code == 401 and after.json()["code"] == "api_key_invalid"
    assert _refusals(session, "auth.api_key_failed")[-1].outcome == "failed"


def test_a_retired_applications_key_stops_even_if_its_revocation_was_missed(
    client: TestClient, org: Org, session: Session
) -> None:
    app_id, key = application_key(session, org, org.consumer)
    application = session.get(Application, app_id)
    assert application is not None
    application.retired_at = utcnow()  # retired by hand in the database: the keys stay unrevoked
    session.commit()
    after = client.get("/api/v1/subscriptions", headers=key)
    assert after.status_code == 401 and after.json()["code"] == "api_key_invalid"


def test_deactivating_a_person_stops_their_own_key_and_the_keys_they_issued(
    client: TestClient, org: Org, session: Session
) -> None:
    _, app_key = application_key(session, org, org.civil_steward)
    own_key = api_headers(session, org.civil_steward)
    assert client.get("/api/v1/me", headers=own_key).status_code == 200
    assert client.get("/api/v1/subscriptions", headers=app_key).status_code == 200
    operator = api_headers(session, org.operator)
    deactivated = client.post(f"/api/v1/users/{org.civil_steward.id}/deactivate", headers=operator)
    assert deactivated.status_code == 200, deactivated.text
    for key, path in [(own_key, "/api/v1/me"), (app_key, "/api/v1/subscriptions")]:
        answer = client.get(path, headers=key)
        assert answer.status_code == 401 and answer.json()["code"] == "api_key_invalid", path


def test_an_application_key_reads_for_its_applications_department_whatever_became_of_its_issuer(
    client: TestClient,
    session: Session,
    served: Served,  # noqa: F811
) -> None:
    org = served.org
    _, key = application_key(session, org, org.consumer)
    url = f"/api/v1/data/{quote(served.resource.code, safe='')}/query"
    assert client.post(url, json={"limit": 1}, headers=key).status_code == 200
    consumer = session.get(User, org.consumer.id)
    assert consumer is not None
    consumer.department_id = org.police.id  # the issuer moves to 公安局, which holds no grant
    session.commit()
    still = client.post(url, json={"limit": 1}, headers=key)
    assert still.status_code == 200, still.text
    personal = client.post(url, json={"limit": 1}, headers=api_headers(session, consumer))
    assert personal.status_code == 403 and personal.json()["code"] == "grant_missing"
