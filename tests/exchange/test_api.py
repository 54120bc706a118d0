"""The data services over HTTP, as 民政局's application calls them with its API key."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry import accounts
from jutong.sharing import grants
from jutong.sharing.models import Application, DataAccess
from tests.conftest import api_headers
from tests.exchange.conftest import GRANTED, NOT_GRANTED, PEOPLE, Served, make_grant, people_lines, person


def app_key(session: Session, served: Served, name: str = "低保审批系统") -> tuple[int, dict[str, str]]:
    application = Application(department_id=served.org.civil.id, name=name, description="")
    session.add(application)
    session.flush()
    issued = accounts.issue_api_key(session, served.consumer, f"{name}密钥")
    issued.key.application_id = application.id
    session.commit()
    return application.id, {"Authorization": f"Bearer {issued.token}"}


def test_an_application_looks_up_a_person_by_resource_code_and_the_access_is_recorded(
    client: TestClient, session: Session, served: Served
) -> None:
    application_id, headers = app_key(session, served)
    grants.revoke_grant(session, served.steward, served.grant.id, "改为按应用授权")
    grant = make_grant(session, served.org, served.resource, application_ids=[application_id])
    pid, _, sex = person(2)
    url = f"/api/v1/data/{quote(served.resource.code, safe='')}/records"
    answer = client.get(url, params={"key": pid}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "found": True,
        "record": {"gmsfhm": pid[:6] + "********" + pid[-4:], "xm": "王*", "xbdm": sex},
        "data_version": 1,
    }
    access = session.scalars(select(DataAccess)).one()
    assert (access.grant_id, access.application_id, access.kind, access.rows) == (
        grant.id,
        application_id,
        "lookup",
        1,
    )
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "data.lookup")).one()
    assert event.detail is not None and event.detail["application_id"] == application_id

    # the department's own user key is not one of the named applications
    other = client.get(url, params={"key": pid}, headers=api_headers(session, served.org.consumer))
    assert other.status_code == 403 and other.json()["code"] == "grant_application_forbidden"


def test_query_pages_verify_and_feed_over_http(client: TestClient, session: Session, served: Served) -> None:
    headers = api_headers(session, served.org.consumer)
    base = f"/api/v1/data/{served.resource.id}"
    seen, cursor = 0, None
    while True:
        page = client.post(f"{base}/query", json={"limit": 12, "cursor": cursor}, headers=headers)
        assert page.status_code == 200, page.text
        seen += len(page.json()["records"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == PEOPLE

    pid, name, _ = person(4)
    checked = client.post(f"{base}/verify", json={"key": [pid], "values": {"xm": name}}, headers=headers)
    assert checked.json() == {"result": "match", "differing": [], "checked": ["xm"]}
    wrong = client.post(f"{base}/verify", json={"key": [pid], "values": {"xm": "别人"}}, headers=headers)
    assert wrong.json()["result"] == "no_match" and name not in wrong.text

    served.reload(session, people_lines(range(2, PEOPLE + 1)))  # person 1 is gone
    feed = client.get(f"{base}/changes", params={"since": 1}, headers=headers)
    assert feed.status_code == 200
    assert [(c["op"], c["row"]["xm"]) for c in feed.json()["changes"]] == [("D", "李*")]


def test_export_streams_csv_with_only_granted_items(
    client: TestClient, session: Session, served: Served
) -> None:
    headers = api_headers(session, served.org.consumer)
    with client.stream("GET", f"/api/v1/data/{served.resource.id}/export", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["x-row-count"] == str(PEOPLE)
        assert "attachment" in response.headers["content-disposition"]
        body = b"".join(response.iter_bytes())
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == GRANTED and len(rows) == PEOPLE + 1
    assert not set(NOT_GRANTED) & set(rows[0])
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "data.export")).one()
    assert event.detail is not None and event.detail["rows"] == PEOPLE


def test_bad_requests_get_clean_4xx_and_never_name_ungranted_values(
    client: TestClient, session: Session, served: Served
) -> None:
    headers = api_headers(session, served.org.consumer)
    base = f"/api/v1/data/{served.resource.id}"
    cases = [
        ({"limit": 1_000_000}, 422),
        ({"filters": [{"column": "xm'; DROP TABLE share_grant;--", "op": "eq", "value": "1"}]}, 422),
        ({"filters": [{"column": "csrq", "op": "eq", "value": "1990-03-07"}]}, 422),
        ({"filters": [{"column": "xm", "op": "regex", "value": ".*"}]}, 422),
        ({"filters": [{"column": "xm", "op": "eq", "value": "张" * 100_000}]}, 422),
        ({"cursor": "not-a-cursor"}, 422),
        ({"unexpected": 1}, 422),
    ]
    for body, status in cases:
        answer = client.post(f"{base}/query", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert "1990-03-07" not in answer.text  # an ungranted value never comes back, not even in errors
    too_long = client.get(f"{base}/records", params={"key": "1" * 5000}, headers=headers)
    assert too_long.status_code == 422
    assert client.get(f"{base}/export", params={"format": "exe"}, headers=headers).status_code == 422
    assert client.get(f"{base}/changes", params={"since": -1}, headers=headers).status_code == 422
    assert client.get(f"{base}/changes", params={"since": 10**30}, headers=headers).status_code == 422
    missing = client.get("/api/v1/data/nope/records", params={"key": "1"}, headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "resource_not_found"


def test_the_provider_without_a_grant_and_a_revoked_grant_are_refused_and_audited(
    client: TestClient, session: Session, served: Served
) -> None:
    pid = person(1)[0]
    url = f"/api/v1/data/{served.resource.id}/records"
    provider = client.get(url, params={"key": pid}, headers=api_headers(session, served.org.steward))
    assert provider.status_code == 403 and provider.json()["code"] == "grant_missing"

    headers = api_headers(session, served.org.consumer)
    assert client.get(url, params={"key": pid}, headers=headers).status_code == 200
    grants.revoke_grant(session, served.steward, served.grant.id, "超范围使用")
    session.commit()
    refused = client.get(url, params={"key": pid}, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "grant_revoked"
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert len(denied) == 2
