"""Share requests on both backends: 民政局 asks 公安局 for population data.

Unconditional resources are granted at once, "none" resources refused at once with their legal basis,
conditional ones wait for the provider, who answers within 10 working days (Spring Festival skipped),
may narrow but never widen, and is reminded, then escalated to the operator when late.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, Resource
from jutong.core import clock, jobs
from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.sharing import applications, requests
from jutong.sharing.models import Grant, RequestStatus
from tests.catalog.conftest import standards  # noqa: F401  (fixture)
from tests.conftest import Org
from tests.ingest.conftest import POPULATION_ITEMS, publish

SUBMITTED_ON = date(2026, 2, 12)  # Thursday before the 2026 Spring Festival holiday


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> list[date]:
    """The platform's calendar day, movable by the test."""
    day = [SUBMITTED_ON]
    monkeypatch.setattr(clock, "today", lambda: day[0])
    return day


def resource(session: Session, org: Org, share_type: str, **fields: Any) -> Resource:
    return publish(
        session, org, steward=org.steward, name=f"常住人口（{share_type}）", items=POPULATION_ITEMS,
        share_type=share_type, **fields,
    )  # fmt: skip


def ask(session: Session, org: Org, res: Resource, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "resource_id": res.id,
        "purpose": "最低生活保障对象资格核查",
        "legal_basis": "《社会救助暂行办法》第十一条",
        "items": ["gmsfhm", "xm", "csrq"],
        "application_ids": [],
        "delivery": "api",
        "period_start": SUBMITTED_ON,
        "period_end": date(2026, 12, 31),
        "daily_quota": 5000,
    }
    fields.update(overrides)
    return requests.submit(session, org.principal(org.consumer), **fields)


def test_unconditional_is_granted_at_once_with_default_masking(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "无条件共享")
    req = ask(session, org, res)
    assert req.status == RequestStatus.approved.value and req.due_on is None
    grant = requests.grant_of(session, req)
    assert grant is not None
    assert grant.items == ["gmsfhm", "xm", "csrq"]
    assert grant.consumer_department_id == org.civil.id and grant.provider_department_id == org.police.id
    assert grant.masking.get("gmsfhm") == "id_number" and grant.masking.get("xm") == "name"
    assert grant.expires_on == date(2026, 12, 31) and grant.daily_quota == 5000


def test_none_is_refused_at_once_with_the_legal_basis(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "不予共享", share_condition="《中华人民共和国居民身份证法》第六条")
    req = ask(session, org, res)
    assert req.status == RequestStatus.refused.value
    assert "居民身份证法" in req.decision_reason
    assert session.scalar(select(Grant).where(Grant.request_id == req.id)) is None


def test_conditional_waits_ten_working_days_and_may_be_narrowed(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    req = ask(session, org, res)
    assert req.status == RequestStatus.pending.value
    assert req.due_on == date(2026, 3, 4)  # Spring Festival skipped, Saturday 14 and 28 Feb worked
    provider = org.principal(org.steward)
    assert requests.days_left(session, req) == 10
    assert [r.id for r in requests.list_requests(session, provider, side="incoming")] == [req.id]
    assert requests.list_requests(session, org.principal(org.consumer), side="incoming") == []

    with pytest.raises(ValidationFailed) as wider:
        requests.approve(session, provider, req.id, items=["gmsfhm", "xbdm"])
    assert wider.value.code == "share_request_items_widened"
    with pytest.raises(ValidationFailed) as longer:
        requests.approve(session, provider, req.id, expires_on=date(2027, 6, 30))
    assert longer.value.code == "share_request_period_widened"
    with pytest.raises(ValidationFailed) as more:
        requests.approve(session, provider, req.id, daily_quota=10_000)
    assert more.value.code == "share_request_quota_widened"
    with pytest.raises(Forbidden):  # the consumer cannot answer its own request
        requests.approve(session, org.principal(org.consumer), req.id)
    with pytest.raises(Forbidden):  # nor another department's steward
        requests.approve(session, org.principal(org.civil_steward), req.id)

    today[0] = date(2026, 2, 24)
    grant = requests.approve(
        session, provider, req.id, items=["gmsfhm", "xm"], masking={"gmsfhm": "id_number", "xm": "name"},
        expires_on=date(2026, 6, 30), daily_quota=1000, note="仅限核查使用",
    )  # fmt: skip
    assert req.status == RequestStatus.approved.value and not req.overdue
    assert grant.items == ["gmsfhm", "xm"] and grant.masking == {"gmsfhm": "id_number", "xm": "name"}
    assert grant.expires_on == date(2026, 6, 30) and grant.daily_quota == 1000
    assert grant.starts_on == date(2026, 2, 24)
    assert "仅限核查使用" in req.decision_reason and "2/3" in req.decision_reason
    with pytest.raises(Conflict):
        requests.refuse(session, provider, req.id, "重复答复")
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(req.id))))
    assert {"share_request.submit", "share_request.approved"} <= actions


def test_refusal_needs_a_reason_and_withdrawal_is_the_consumers(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    first, second = ask(session, org, res), ask(session, org, res)
    provider = org.principal(org.steward)
    with pytest.raises(ValidationFailed) as blank:
        requests.refuse(session, provider, first.id, "  ")
    assert blank.value.code == "share_request_reason_required"
    requests.refuse(session, provider, first.id, "申请用途与资源共享条件不符")
    assert (
        first.status == RequestStatus.refused.value and first.decision_reason == "申请用途与资源共享条件不符"
    )
    with pytest.raises(Forbidden):
        requests.withdraw(session, provider, second.id)
    requests.withdraw(session, org.principal(org.consumer), second.id)
    assert second.status == RequestStatus.withdrawn.value


def test_bad_requests_are_refused_with_clear_codes(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    cases: dict[str, dict[str, Any]] = {
        "share_request_items_unknown": {"items": ["gmsfhm", "password"]},
        "share_request_items_required": {"items": []},
        "share_request_purpose_required": {"purpose": " "},
        "share_request_delivery_invalid": {"delivery": "ftp"},
        "share_request_period_invalid": {"period_end": date(2026, 1, 1)},
        "share_request_quota_invalid": {"daily_quota": 0},
        "share_request_application_invalid": {"application_ids": [999_999]},
    }
    for code, change in cases.items():
        with pytest.raises(ValidationFailed) as problem:
            ask(session, org, res, **change)
        assert problem.value.code == code, change
    with pytest.raises(Conflict):  # the provider does not ask for its own resource
        requests.submit(
            session, org.principal(org.steward), resource_id=res.id, purpose="自用", legal_basis="",
            items=["xm"], application_ids=[], delivery="api", period_start=SUBMITTED_ON,
            period_end=date(2026, 12, 31),
        )  # fmt: skip


def test_the_grant_names_the_requested_applications(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    app = applications.create_application(session, org.principal(org.consumer), name="低保审核系统")
    res = resource(session, org, "无条件共享")
    req = ask(session, org, res, application_ids=[app.id])
    grant = requests.grant_of(session, req)
    assert grant is not None and grant.application_ids == [app.id]


def test_reminder_once_then_escalation_to_the_operator_when_overdue(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    req = ask(session, org, res)
    assert req.due_on == date(2026, 3, 4)

    def tick(day: date) -> requests.DeadlineRun:
        today[0] = day
        return requests.process_deadlines(session, datetime(day.year, day.month, day.day, 1, tzinfo=UTC))

    assert tick(date(2026, 2, 27)).reminded == []  # 4 working days left: 28 Feb (Sat, adjusted), 2, 3, 4 Mar
    assert tick(date(2026, 3, 2)).reminded == [req.id]  # 2 working days left
    assert tick(date(2026, 3, 3)).reminded == []  # once only
    assert tick(date(2026, 3, 4)).escalated == []  # the due day itself is still in time
    assert requests.overdue_requests(session, date(2026, 3, 4)) == []
    run = tick(date(2026, 3, 5))
    assert run.escalated == [req.id] and req.overdue and req.escalated_at is not None
    assert tick(date(2026, 3, 6)).escalated == []  # escalated once
    assert [r.id for r in requests.overdue_requests(session, date(2026, 3, 6))] == [req.id]
    assert requests.overdue_counts(session) == {org.police.id: 1}
    assert requests.days_left(session, req, date(2026, 3, 6)) == -2

    requests.coordinate(session, org.principal(org.operator), req.id, "已电话协调公安局，三日内答复")
    assert "三日内答复" in req.coordination_note
    requests.approve(session, org.principal(org.steward), req.id)
    assert req.overdue  # answered late: still counted
    events = list(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(req.id))))
    assert "share_request.remind" in events and "share_request.escalate" in events


def test_the_deadline_setting_is_the_operators(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
) -> None:
    with pytest.raises(Forbidden):
        requests.put_settings(session, org.principal(org.steward), answer_days=5, remind_days=1)
    requests.put_settings(session, org.principal(org.operator), answer_days=5, remind_days=1)
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    assert ask(session, org, res).due_on == date(2026, 2, 26)  # 13, 14, 24, 25, 26


def test_the_worker_tick_escalates_overdue_requests(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],  # noqa: F811
    today: list[date],
    units_of_work: None,
) -> None:
    res = resource(session, org, "有条件共享", share_condition="仅限社会救助业务")
    req = ask(session, org, res)
    session.commit()
    today[0] = date(2026, 3, 5)
    jobs.tick(datetime(2026, 3, 5, 1, tzinfo=UTC))  # what the background worker runs every few seconds
    session.expire_all()
    assert req.escalated_at is not None and req.overdue
