"""The operator's pages for users and departments (用户与部门)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.registry.models import Department, User
from tests.conftest import PASSWORD, Org, login


def test_operator_sees_every_user_with_role_department_and_last_sign_in(client: TestClient, org: Org) -> None:
    login(client, "op")
    page = client.get("/admin/users")
    assert page.status_code == 200
    for shown in (
        "mz_consumer",
        "使用部门",
        "市民政局",
        "部门数据管理员",
        "审计人员",
        "从未登录",
        "当前账号",
    ):
        assert shown in page.text
    assert '<option value="steward">部门数据管理员</option>' in page.text
    assert '<option value="GA">市公安局</option>' in page.text


def test_operator_creates_a_steward_from_the_form(client: TestClient, org: Org, session: Session) -> None:
    csrf = login(client, "op")
    form = {"csrf_token": csrf, "username": "rs_steward", "display_name": "李四", "password": PASSWORD}
    done = client.post(
        "/admin/users", data={**form, "role": "steward", "department_code": "MZ"}, follow_redirects=True
    )
    assert done.status_code == 200 and "已创建用户 rs_steward" in done.text
    user = session.scalars(select(User).where(User.username == "rs_steward")).one()
    assert user.role == "steward" and user.department_id == org.civil.id and user.display_name == "李四"


def test_a_steward_without_department_is_refused_on_the_form(
    client: TestClient, org: Org, session: Session
) -> None:
    csrf = login(client, "op")
    form = {
        "csrf_token": csrf,
        "username": "nobody",
        "password": PASSWORD,
        "role": "steward",
        "department_code": "",
    }
    page = client.post("/admin/users", data=form)
    assert page.status_code == 422 and "必须属于一个部门" in page.text
    assert 'value="nobody"' in page.text  # what was typed is kept
    assert session.scalar(select(User).where(User.username == "nobody")) is None


def test_operator_deactivates_and_reactivates_a_user(client: TestClient, org: Org, session: Session) -> None:
    csrf = login(client, "op")
    page = client.post(
        f"/admin/users/{org.consumer.id}/deactivate", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "已停用用户 mz_consumer" in page.text and "已停用" in page.text
    session.expire_all()
    assert session.get(User, org.consumer.id).active is False  # type: ignore[union-attr]
    client.post(f"/admin/users/{org.consumer.id}/activate", data={"csrf_token": csrf})
    session.expire_all()
    assert session.get(User, org.consumer.id).active is True  # type: ignore[union-attr]


def test_a_deactivated_user_is_signed_out_of_their_session(
    client: TestClient, org: Org, session: Session
) -> None:
    from fastapi.testclient import TestClient as Browser

    login(client, "mz_consumer")
    with Browser(client.app, base_url="http://testserver") as admin:
        csrf = login(admin, "op")
        admin.post(f"/admin/users/{org.consumer.id}/deactivate", data={"csrf_token": csrf})
    assert client.get("/api/v1/me").status_code == 401


def test_operator_cannot_deactivate_their_own_account(client: TestClient, org: Org, session: Session) -> None:
    csrf = login(client, "op")
    refused = client.post(f"/admin/users/{org.operator.id}/deactivate", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "不能停用自己的账号" in refused.text
    session.expire_all()
    assert session.get(User, org.operator.id).active is True  # type: ignore[union-attr]


def test_operator_adds_a_department_and_a_bad_credit_code_is_explained(
    client: TestClient, org: Org, session: Session
) -> None:
    csrf = login(client, "op")
    page = client.get("/admin/departments")
    assert "示范市" in page.text and "市级" in page.text and "市公安局" in page.text
    form = {"csrf_token": csrf, "code": "RS", "name": "市人社局", "region_code": "341000"}
    bad = client.post("/admin/departments", data={**form, "credit_code": "91350100M000100Y44"})
    assert bad.status_code == 422 and "统一社会信用代码" in bad.text and 'value="市人社局"' in bad.text
    good = client.post(
        "/admin/departments", data={**form, "credit_code": "91350100M000100Y43"}, follow_redirects=True
    )
    assert (
        good.status_code == 200 and "已新增部门 市人社局" in good.text and "91350100M000100Y43" in good.text
    )
    assert session.scalars(select(Department.name).where(Department.code == "RS")).one() == "市人社局"
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.action == "department.create")).all()


def test_admin_pages_are_for_operators_only(client: TestClient, org: Org) -> None:
    for username in ("ga_steward", "auditor", "mz_consumer"):
        csrf = login(client, username)
        assert client.get("/admin/users").status_code == 403
        assert client.get("/admin/departments").status_code == 403
        form = {"csrf_token": csrf, "code": "X", "name": "X", "region_code": "341000"}
        assert client.post("/admin/departments", data=form).status_code == 403
