"""The request workflow in the browser, on both backends: 民政局's user fills the form from the resource
page; 公安局's steward sees it in the approval queue with its deadline, approves two of three items with
masking; 民政局 sees the grant, registers its application and gets a key shown once."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, Resource
from jutong.core import clock
from jutong.sharing.models import Grant, ShareRequest
from tests.catalog.conftest import standards  # noqa: F401  (fixture)
from tests.conftest import Org, login
from tests.ingest.conftest import POPULATION_ITEMS, publish


@pytest.fixture
def conditional(session: Session, org: Org, standards: dict[str, DataElement]) -> Resource:  # noqa: F811
    res = publish(
        session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS,
        share_type="有条件共享", share_condition="仅限社会救助业务",
    )  # fmt: skip
    session.commit()
    return res


def test_request_form_queue_approval_and_keys(
    app: object, session: Session, org: Org, conditional: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today", lambda: date(2026, 2, 12))
    consumer = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    csrf = login(consumer, "mz_consumer")
    form = consumer.get(f"/sharing/requests/new?resource_id={conditional.id}")
    assert form.status_code == 200 and "常住人口基础信息" in form.text and 'value="gmsfhm"' in form.text

    blank = consumer.post(
        "/sharing/requests/new",
        data={"csrf_token": csrf, "resource_id": str(conditional.id), "items": ["xm"], "purpose": "",
              "period_end": "2026-12-31"},
    )  # fmt: skip
    assert blank.status_code == 422 and "请填写使用用途" in blank.text

    sent = consumer.post(
        "/sharing/requests/new",
        data={"csrf_token": csrf, "resource_id": str(conditional.id), "items": ["gmsfhm", "xm", "csrq"],
              "purpose": "低保资格核查", "legal_basis": "《社会救助暂行办法》", "delivery": "api",
              "period_start": "2026-02-12", "period_end": "2026-12-31", "daily_quota": "500"},
        follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 303, sent.text
    req = session.query(ShareRequest).one()
    assert req.due_on == date(2026, 3, 4)
    assert "申请已提交" in consumer.get(sent.headers["location"]).text

    steward = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    steward_csrf = login(steward, "ga_steward")
    queue = steward.get("/sharing/requests").text
    assert "待本部门答复" in queue and "2026-03-04" in queue and f"/sharing/requests/{req.id}" in queue
    monkeypatch.setattr(clock, "today", lambda: date(2026, 3, 6))  # late: shown in red
    assert "已超期 2 个工作日" in steward.get("/sharing/requests").text

    approved = steward.post(
        f"/sharing/requests/{req.id}/approve",
        data={"csrf_token": steward_csrf, "items": ["gmsfhm", "xm"], "mask.gmsfhm": "id_number",
              "mask.xm": "name", "mask.csrq": "none", "expires_on": "2026-12-31", "daily_quota": "500"},
        follow_redirects=False,
    )  # fmt: skip
    assert approved.status_code == 303, approved.text
    grant = session.query(Grant).one()
    assert grant.items == ["gmsfhm", "xm"] and grant.masking == {"gmsfhm": "id_number", "xm": "name"}
    session.refresh(req)
    assert req.overdue  # answered after the deadline

    grants_page = consumer.get("/sharing/grants").text
    assert "常住人口基础信息" in grants_page and "身份证号脱敏" in grants_page

    made = consumer.post(
        "/sharing/applications", data={"csrf_token": csrf, "name": "低保审核系统"}, follow_redirects=False
    )
    assert made.status_code == 303
    page = consumer.get("/sharing/applications").text
    app_id = re.search(r'id="app-(\d+)"', page)
    assert app_id
    issued = consumer.post(
        f"/sharing/applications/{app_id.group(1)}/keys", data={"csrf_token": csrf, "name": "生产环境"}
    )
    token = re.search(r'<code id="new-token">([^<]+)</code>', issued.text)
    assert issued.status_code == 200 and token
    assert token.group(1) not in consumer.get("/sharing/applications").text  # shown once
    # the application's key works, for what an application may call (the data services, subscriptions)
    works = consumer.get("/api/v1/subscriptions", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert works.status_code == 200
