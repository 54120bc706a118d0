"""Signing in, CSRF, API keys, and the audit trail they leave."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from tests.conftest import PASSWORD, Org, api_headers, login


def _actions(session: Session) -> list[tuple[str, str, str]]:
    session.expire_all()
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
    return [(e.action, e.actor_name, e.outcome) for e in rows]


def test_operator_signs_in_and_sees_the_navigation(client: TestClient, org: Org, session: Session) -> None:
    login(client, "op")
    home = client.get("/")
    assert "系统普查" in home.text and "用户与部门" in home.text
    assert ("auth.login", "op", "success") in _actions(session)


def test_failed_sign_in_is_refused_and_audited(client: TestClient, org: Org, session: Session) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": "op", "password": "wrong-password", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text
    assert ("auth.login_failed", "op", "failed") in _actions(session)


def test_sign_in_without_csrf_token_is_refused(client: TestClient, org: Org) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "op", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert client.get("/api/v1/me").status_code == 401


def test_session_form_without_csrf_is_refused(client: TestClient, org: Org, session: Session) -> None:
    login(client, "ga_steward")
    response = client.post("/account/keys", data={"name": "x"})
    assert response.status_code == 403
    assert ("access.denied", "ga_steward", "denied") in _actions(session)


def test_api_errors_are_chinese_json(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "not_authenticated" and "登录" in body["message"] and "detail" in body
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_api_key_is_shown_once_stored_hashed_and_revocable(
    client: TestClient, org: Org, session: Session
) -> None:
    csrf = login(client, "op")
    created = client.post("/api/v1/api-keys", json={"name": "审批系统"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    token = created.json()["token"]
    client.post("/logout", data={"csrf_token": csrf})
    headers = api_headers(session, org.operator)
    assert token.startswith("jt_")
    listed = client.get("/api/v1/api-keys", headers=headers).json()
    assert all("token" not in k for k in listed)
    assert token not in str(session.execute(select(AuditEvent.detail)).all())

    new_headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=new_headers).json()["username"] == "op"
    revoked = client.post(f"/api/v1/api-keys/{created.json()['id']}/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    after = client.get("/api/v1/me", headers=new_headers)
    assert after.status_code == 401 and after.json()["code"] == "api_key_invalid"
    assert ("auth.api_key_failed", "anonymous", "failed") in _actions(session)


def test_an_api_key_cannot_mint_keys(client: TestClient, org: Org, session: Session) -> None:
    """A key that could make keys would outlive its own revocation."""
    response = client.post(
        "/api/v1/api-keys", json={"name": "影子密钥"}, headers=api_headers(session, org.operator)
    )
    assert response.status_code == 403 and response.json()["code"] == "api_key_cannot_mint"


def test_non_operator_cannot_list_users_and_the_refusal_is_audited(
    client: TestClient, org: Org, session: Session
) -> None:
    headers = api_headers(session, org.steward)
    response = client.get("/api/v1/users", headers=headers)
    assert response.status_code == 403 and response.json()["code"] == "role_forbidden"
    assert ("access.denied", "ga_steward", "denied") in _actions(session)


def test_healthz_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert "/api/v1/me" in client.get("/openapi.json").json()["paths"]


def test_signing_out_ends_the_session_even_for_a_copied_cookie(client: TestClient, org: Org) -> None:
    csrf = login(client, "ga_steward")
    stolen = dict(client.cookies)
    assert client.get("/api/v1/me").status_code == 200
    client.post("/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    for name, value in stolen.items():
        client.cookies.set(name, value)
    assert client.get("/api/v1/me").status_code == 401


def test_repeated_wrong_passwords_lock_the_name_for_a_while(
    client: TestClient, org: Org, session: Session
) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]

    def attempt(password: str) -> int:
        form = {"username": "op", "password": password, "csrf_token": token}
        return client.post("/login", data=form, follow_redirects=False).status_code

    assert [attempt("wrong-password") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # even the right password waits out the lock
    assert ("auth.login_locked", "op", "denied") in _actions(session)
