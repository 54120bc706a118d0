"""Applications and their keys, on both backends: 民政局 registers its 低保审核系统, issues it a key,
and only that key reads under a grant that names the application; retiring the application stops it."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.registry import accounts
from jutong.sharing import applications, grants, requests
from tests.catalog.conftest import standards  # noqa: F401  (fixture)
from tests.conftest import Org, api_headers, login
from tests.ingest.conftest import POPULATION_ITEMS, publish


def test_register_issue_a_key_and_call_only_as_that_application(
    client: TestClient,
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
) -> None:
    consumer_key = api_headers(session, org.consumer)
    made = client.post(
        "/api/v1/sharing/applications", json={"name": "低保审核系统", "description": "低保资格核查"},
        headers=consumer_key,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    app_id = made.json()["id"]
    twice = client.post("/api/v1/sharing/applications", json={"name": "低保审核系统"}, headers=consumer_key)
    assert twice.status_code == 409 and twice.json()["code"] == "application_exists"

    # a key cannot mint keys; the person signed in issues one (the token is shown once)
    by_key = client.post(
        f"/api/v1/sharing/applications/{app_id}/keys", json={"name": "生产"}, headers=consumer_key
    )
    assert by_key.status_code == 403 and by_key.json()["code"] == "api_key_cannot_mint"
    csrf = login(client, "mz_consumer")
    issued = client.post(
        f"/api/v1/sharing/applications/{app_id}/keys",
        json={"name": "生产环境"},
        headers={"X-CSRF-Token": csrf},
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    found = accounts.resolve_api_key(session, token)
    assert found is not None and found[1].application_id == app_id
    listed = client.get(f"/api/v1/sharing/applications/{app_id}/keys", headers=consumer_key).json()
    assert [k["name"] for k in listed] == ["生产环境"] and "token" not in listed[0]

    # a grant that names the application: the department's plain key is refused, the application's key is not
    resource = publish(session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS)
    requests.submit(
        session, org.principal(org.consumer), resource_id=resource.id, purpose="低保资格核查", legal_basis="",
        items=["gmsfhm", "xm"], application_ids=[app_id], delivery="api", period_start=date(2026, 1, 1),
        period_end=date(2099, 12, 31),
    )  # fmt: skip
    session.commit()
    plain = accounts.principal_for(org.consumer, via="api_key")
    with pytest.raises(Forbidden) as refused:
        grants.live_grant(session, plain, resource.id)
    assert refused.value.code == "grant_application_forbidden"
    as_app = accounts.principal_for(org.consumer, via="api_key", application_id=app_id)
    assert grants.live_grant(session, as_app, resource.id).application_ids == [app_id]

    # another department sees nothing of it; retiring it revokes its keys at once
    other = api_headers(session, org.steward)
    assert client.get(f"/api/v1/sharing/applications/{app_id}", headers=other).status_code == 403
    assert client.get("/api/v1/sharing/applications", headers=other).json() == []
    retired = client.post(f"/api/v1/sharing/applications/{app_id}/retire", headers=consumer_key)
    assert retired.status_code == 200 and retired.json()["retired_at"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/api/v1/sharing/applications", headers=consumer_key).json() == []


def test_service_rules_for_applications(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
) -> None:
    consumer = org.principal(org.consumer)
    app = applications.create_application(session, consumer, name=" 社会救助系统 ")
    assert app.name == "社会救助系统" and app.department_id == org.civil.id
    with pytest.raises(Forbidden):
        applications.create_application(session, org.principal(org.auditor), name="审计系统")
    with pytest.raises(Forbidden):  # operators do not issue keys that would act as an operator
        applications.issue_key(session, org.principal(org.operator), app.id, "运维")
    with pytest.raises(Forbidden):  # 公安局's steward does not manage 民政局's application
        applications.update_application(session, org.principal(org.steward), app.id, description="改")
    issued = applications.issue_key(session, consumer, app.id, "")
    assert issued.key.name == "社会救助系统" and issued.key.application_id == app.id
    revoked = applications.revoke_key(session, org.principal(org.civil_steward), app.id, issued.key.id)
    assert revoked.revoked_at is not None
    applications.retire_application(session, consumer, app.id)
    with pytest.raises(Conflict):
        applications.issue_key(session, consumer, app.id, "再发")
    resource = publish(session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS)
    with pytest.raises(ValidationFailed) as retired_app:  # a retired application is not named in new requests
        requests.submit(
            session, consumer, resource_id=resource.id, purpose="低保资格核查", legal_basis="", items=["xm"],
            application_ids=[app.id], delivery="api", period_start=date(2026, 1, 1), period_end=date(2099, 1, 1),
        )  # fmt: skip
    assert retired_app.value.code == "share_request_application_invalid"
