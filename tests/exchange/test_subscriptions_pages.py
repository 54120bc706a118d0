"""The subscription pages, on both backends: 民政局 subscribes to its grant on 公安局's population from the
form, sees how far each subscription got and cancels it; 公安局's steward sees who subscribes to its resource,
read-only; the auditor reads; another department sees nothing. No secret ever reaches a page twice.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.auth import Role
from jutong.exchange import delivery
from jutong.registry import accounts
from jutong.sharing.models import Subscription
from tests.conftest import PASSWORD, login
from tests.exchange.conftest import PEOPLE, Served, make_grant, people_lines

HOOK = "https://hook-user:hook-pass@mz.example.gov.cn/jutong/hook?token=tok-s3cret"
SHOWN = "https://mz.example.gov.cn/jutong/hook?…"  # the target as pages show it


def signed_in(app: object, username: str) -> tuple[TestClient, str]:
    """Another person at another computer: a client of their own, signed in through the form."""
    client = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    return client, login(client, username)


def subscribe(client: TestClient, csrf: str, **fields: str) -> tuple[int, str]:
    """Create through the form; returns the new subscription's number and the page that answered."""
    answer = client.post("/sharing/subscriptions", data={"csrf_token": csrf, **fields})
    assert answer.status_code == 200, answer.text
    found = re.search(r"<h1>订阅 (\d+)：", answer.text)
    assert found, answer.text
    return int(found.group(1)), answer.text


def test_a_consumer_subscribes_from_its_grant_sees_the_secret_once_and_cancels(
    app: object, session: Session, served: Served
) -> None:
    consumer, csrf = signed_in(app, "mz_consumer")
    form = consumer.get("/sharing/subscriptions")
    assert form.status_code == 200
    assert f'<option value="{served.grant.id}"' in form.text and "常住人口基础信息" in form.text
    assert 'href="/sharing/subscriptions"' in form.text  # the menu entry

    sub_id, created = subscribe(consumer, csrf, grant_id=str(served.grant.id), kind="webhook", url=HOOK)
    secret = re.search(r'<code id="new-secret">([0-9a-f]{64})</code>', created)
    assert secret
    sub = session.get(Subscription, sub_id)
    assert sub is not None and sub.secret == secret.group(1) and sub.target["url"] == HOOK
    assert sub.acked_version == 1  # from the version current when subscribing

    # later pages: masked target, versions, status; never the secret, the token or the password
    listed = consumer.get("/sharing/subscriptions").text
    detail = consumer.get(f"/sharing/subscriptions/{sub_id}").text
    for page in (listed, detail):
        assert SHOWN in page and "运行中" in page
        assert secret.group(1) not in page and "tok-s3cret" not in page and "hook-pass" not in page
    row = re.search(rf'<a href="/sharing/subscriptions/{sub_id}">.*?</tr>', listed, re.S)
    assert row and "1 / 1" in row.group(0) and "HTTP 推送" in row.group(0)
    assert "subscription.create" in detail  # the history starts with the creation

    # 公安局 loads a new version: the list shows it waiting to be pushed
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={1: "甲一"}))
    row = re.search(
        rf'<a href="/sharing/subscriptions/{sub_id}">.*?</tr>',
        consumer.get("/sharing/subscriptions").text,
        re.S,
    )
    assert row and "1 / 2" in row.group(0) and "待推送" in row.group(0)

    cancelled = consumer.post(
        f"/sharing/subscriptions/{sub_id}/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    after = consumer.get(cancelled.headers["location"]).text
    assert "订阅已取消" in after and "已停止" in after and "取消订阅</button>" not in after
    again = consumer.post(f"/sharing/subscriptions/{sub_id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409 and "该订阅已停止" in again.text
    actions = list(
        session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "subscription", AuditEvent.object_id == str(sub_id)
            )
        )
    )
    assert sorted(actions) == ["subscription.cancel", "subscription.create"]


def test_a_failed_delivery_shows_its_error_next_retry_and_attempt_in_the_history(
    app: object, session: Session, served: Served
) -> None:
    consumer, csrf = signed_in(app, "mz_consumer")
    sub_id, _ = subscribe(
        consumer, csrf, grant_id=str(served.grant.id), kind="webhook", url="http://127.0.0.1:9/hook"
    )
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={1: "甲一"}))
    assert delivery.deliver(session, sub_id)["failed"] == 2  # nobody listens on port 9

    detail = consumer.get(f"/sharing/subscriptions/{sub_id}").text
    assert "无法连接推送地址" in detail and "连续失败</th><td>1 次" in detail
    sub = session.get(Subscription, sub_id, populate_existing=True)
    assert sub is not None and sub.next_attempt_at is not None
    history = re.search(r'<table id="history">.*?</table>', detail, re.S)
    assert history and "exchange.delivery" in history.group(0) and "第 2 版" in history.group(0)
    listed = consumer.get("/sharing/subscriptions").text
    assert "无法连接推送地址" in listed and "连续失败 1 次" in listed
    assert "1 / 2" in listed


def test_bad_targets_get_clear_errors_and_a_database_password_is_never_echoed(
    app: object, session: Session, served: Served
) -> None:
    consumer, csrf = signed_in(app, "mz_consumer")
    bad = consumer.post(
        "/sharing/subscriptions",
        data={"csrf_token": csrf, "grant_id": str(served.grant.id), "kind": "webhook", "url": "ftp://x/y"},
    )
    assert bad.status_code == 422 and "推送地址须为 http:// 或 https://" in bad.text
    assert 'value="ftp://x/y"' in bad.text  # what was typed stays in the form

    keyed = make_grant(session, served.org, served.resource, items=["gmsfhm", "xm"], masking={"xm": "name"})
    wrong_table = consumer.post(
        "/sharing/subscriptions",
        data={"csrf_token": csrf, "grant_id": str(keyed.id), "kind": "table",
              "database_url": "postgresql+psycopg://mz:db-s3cret@db.mz.example/mz", "table": "rk; DROP"},
    )  # fmt: skip
    assert wrong_table.status_code == 422 and "表名只能包含字母" in wrong_table.text
    assert "db-s3cret" not in wrong_table.text

    sub_id, created = subscribe(
        consumer, csrf, grant_id=str(keyed.id), kind="table",
        database_url="postgresql+psycopg://mz:db-s3cret@db.mz.example/mz", table="rk_jcxx",
    )  # fmt: skip
    assert "库表推送" in created and 'id="new-secret"' not in created  # a table push has no secret
    assert "db-s3cret" not in created and "postgresql+psycopg://mz:***@db.mz.example/mz 表 rk_jcxx" in created
    assert "db-s3cret" not in consumer.get("/sharing/subscriptions").text
    assert session.scalar(select(Subscription.kind).where(Subscription.id == sub_id)) == "table"


def test_who_sees_and_who_may_change_a_subscription(app: object, session: Session, served: Served) -> None:
    consumer, csrf = signed_in(app, "mz_consumer")
    sub_id, _ = subscribe(consumer, csrf, grant_id=str(served.grant.id), kind="webhook", url=HOOK)
    link = f'href="/sharing/subscriptions/{sub_id}"'

    # 公安局's steward (the provider): sees it among the subscriptions to its resources, read-only
    police, police_csrf = signed_in(app, "ga_steward")
    listed = police.get("/sharing/subscriptions").text
    provided = re.search(r'<table id="provided">.*?</table>', listed, re.S)
    own = re.search(r'<table id="subscriptions">.*?</table>', listed, re.S)
    assert provided and link in provided.group(0) and SHOWN in provided.group(0)
    assert own and link not in own.group(0)
    assert "本部门还没有有效的授权" in listed  # it holds no grant of its own to subscribe with
    detail = police.get(f"/sharing/subscriptions/{sub_id}")
    assert (
        detail.status_code == 200
        and "取消订阅</button>" not in detail.text
        and "tok-s3cret" not in detail.text
    )
    assert (
        police.post(f"/sharing/subscriptions/{sub_id}/cancel", data={"csrf_token": police_csrf}).status_code
        == 403
    )
    refused = police.post(
        "/sharing/subscriptions",
        data={"csrf_token": police_csrf, "grant_id": str(served.grant.id), "kind": "webhook", "url": HOOK},
    )
    assert refused.status_code == 403 and "只有被授权的使用部门" in refused.text

    # the auditor reads everything and changes nothing
    auditor, auditor_csrf = signed_in(app, "auditor")
    listed = auditor.get("/sharing/subscriptions").text
    assert "全部订阅" in listed and link in listed and "新建订阅" not in listed
    assert "取消订阅</button>" not in auditor.get(f"/sharing/subscriptions/{sub_id}").text
    assert (
        auditor.post(f"/sharing/subscriptions/{sub_id}/cancel", data={"csrf_token": auditor_csrf}).status_code
        == 403
    )

    # another department (人社局) neither lists nor opens it
    accounts.upsert_department(session, "RS", "市人社局", "341000")
    accounts.create_user(
        session, username="rs_consumer", password=PASSWORD, role=Role.consumer, department_code="RS"
    )
    session.commit()
    other, _ = signed_in(app, "rs_consumer")
    assert link not in other.get("/sharing/subscriptions").text
    assert other.get(f"/sharing/subscriptions/{sub_id}").status_code == 403
    assert other.get("/sharing/subscriptions/999999").status_code == 404

    # the operator may cancel any (coordination)
    operator, operator_csrf = signed_in(app, "op")
    assert "取消订阅</button>" in operator.get(f"/sharing/subscriptions/{sub_id}").text
    done = operator.post(
        f"/sharing/subscriptions/{sub_id}/cancel", data={"csrf_token": operator_csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert session.scalar(select(Subscription.status).where(Subscription.id == sub_id)) == "stopped"
