"""The audit log pages: an auditor looks through the log; an operator seals it on demand."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import AuditEvent
from tests.conftest import Org, login


def _sign_in_event(session: Session, org: Org) -> AuditEvent:
    event = audit.record(
        session,
        org.principal(org.steward),
        "system.create",
        summary="登记系统 人口库管理系统",
        object_type="system",
        object_id=7,
        ip="10.1.2.3",
    )
    event.occurred_at = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
    session.commit()
    return event


def test_auditor_reads_the_log_in_beijing_time(client: TestClient, org: Org, session: Session) -> None:
    event = _sign_in_event(session, org)
    login(client, "auditor")
    page = client.get("/audit", params={"actor": "ga_steward", "action": "system.*"})
    assert page.status_code == 200
    assert "2025-03-01 08:30:00" in page.text  # 00:30 UTC is 08:30 in Beijing
    for shown in (
        "ga_steward",
        "部门数据管理员",
        "市公安局",
        "system.create",
        "成功",
        "system #7",
        "人口库管理系统",
    ):
        assert shown in page.text
    assert "10.1.2.3" in page.text and "待封存" in page.text
    assert f'href="/audit/{event.id}"' in page.text
    assert 'hx-get="/audit/chain"' in page.text
    assert "立即封存" not in page.text  # the seal button is the operator's
    session.expire_all()
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.actor_name == "auditor")).all()[-1] == (
        "audit.read"
    )


def test_the_log_pages_with_a_next_link_that_keeps_the_filters(
    client: TestClient, org: Org, session: Session
) -> None:
    for i in range(5):
        audit.record(session, None, "test.paging", summary=f"事件 {i}")
    session.commit()
    login(client, "auditor")
    first = client.get("/audit", params={"action": "test.paging", "limit": 3})
    link = re.search(r'<a href="([^"]+)" rel="next">下一页</a>', first.text)
    assert link, "no next link"
    next_url = link.group(1).replace("&amp;", "&")
    assert "action=test.paging" in next_url and "cursor=" in next_url
    second = client.get(next_url + "&limit=3")
    assert second.text.count("test.paging") >= 2 and "没有更多了" in second.text
    assert "事件 4" in first.text and "事件 0" in second.text and "事件 0" not in first.text


def test_a_bad_filter_is_explained_on_the_page(client: TestClient, org: Org) -> None:
    login(client, "auditor")
    page = client.get("/audit", params={"from": "2025-03-09", "to": "2025-03-01"})
    assert page.status_code == 200 and "起始时间应早于截止时间" in page.text


def test_event_detail_page_shows_the_whole_record(client: TestClient, org: Org, session: Session) -> None:
    event = _sign_in_event(session, org)
    login(client, "op")
    page = client.get(f"/audit/{event.id}")
    assert page.status_code == 200
    shown = html.unescape(page.text)
    assert '"action": "system.create"' in shown and '"ip": "10.1.2.3"' in shown
    assert "市公安局" in page.text and "2025-03-01 08:30:00" in page.text
    assert client.get("/audit/999999").status_code == 404


def test_operator_seals_now_and_the_chain_panel_says_it_is_whole(
    client: TestClient, org: Org, session: Session
) -> None:
    _sign_in_event(session, org)
    csrf = login(client, "op")
    panel = client.get("/audit/chain", headers={"HX-Request": "true"})
    assert "<html" not in panel.text and "完整" in panel.text and "立即封存" in panel.text
    sealed = client.post("/audit/seal", data={"csrf_token": csrf}, follow_redirects=True)
    assert sealed.status_code == 200 and "已封存" in sealed.text
    assert re.search(r"已封存 #\d+", sealed.text)
    whole_page = client.get("/audit/chain")
    assert "<html" in whole_page.text and "待封存事件" in whole_page.text


def test_the_chain_panel_names_a_tampered_event(client: TestClient, org: Org, session: Session) -> None:
    event = _sign_in_event(session, org)
    audit.seal_all(session)
    session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(ip="10.9.9.9"))
    session.commit()
    login(client, "auditor")
    panel = client.get("/audit/chain", headers={"HX-Request": "true"})
    assert "发现问题" in panel.text and f"/audit/{event.id}" in panel.text
    assert "立即封存" not in panel.text


def test_stewards_and_consumers_are_refused_and_anonymous_sent_to_sign_in(
    client: TestClient, org: Org
) -> None:
    anonymous = client.get("/audit", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    csrf = login(client, "ga_steward")
    assert client.get("/audit").status_code == 403
    assert client.post("/audit/seal", data={"csrf_token": csrf}).status_code == 403
    csrf = login(client, "auditor")
    refused = client.post("/audit/seal", data={"csrf_token": csrf})
    assert refused.status_code == 403 and "平台管理员" in refused.text


def test_a_long_history_is_verified_on_request_not_on_every_visit(
    client: TestClient, org: Org, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jutong.web import audit_views

    audit.seal_all(session)
    session.commit()
    monkeypatch.setattr(audit_views, "AUTO_VERIFY_MAX_EVENTS", 1)
    login(client, "auditor")
    page = client.get("/audit")
    assert 'hx-trigger="load"' not in page.text and "校验全部已封存历史" in page.text
