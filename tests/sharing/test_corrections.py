"""Corrections (纠错，谁提供谁负责) on both backends: 民政局, granted 公安局's population resource, reports a
wrong name; 公安局 answers by its deadline in working days; the next load that changes the record closes it
with a link to that version; overdue ones are the operator's to follow up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.auth import Role
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.ingest.models import Load
from jutong.registry import accounts
from jutong.sharing import calendar as sharing_calendar
from jutong.sharing import corrections
from jutong.sharing.models import Correction, Grant
from tests.conftest import PASSWORD, Org, api_headers
from tests.ingest.conftest import Resources, resources, standards  # noqa: F401  (fixtures)
from tests.ingest.test_pipeline import HEADER, load, person_id, write

# Thursday before the 2026 Spring Festival holiday (15–23 Feb); Saturday 14 Feb is an adjusted working day
REPORTED_ON = date(2026, 2, 12)


@dataclass
class Population:
    resources: Resources
    grant: Grant
    first: Load


def people(names: dict[int, str]) -> list[str]:
    return [HEADER] + [f"{person_id(n)},{name},1,01,1990-03-07,341002" for n, name in names.items()]


def grant_to_civil(
    session: Session, org: Org, granted: Resources, *, starts_on: date, expires_on: date
) -> Grant:
    grant = Grant(
        resource_id=granted.population.id,
        provider_department_id=org.police.id,
        consumer_department_id=org.civil.id,
        items=["gmsfhm", "xm", "xbdm"],
        masking={"gmsfhm": "id_number"},
        application_ids=[],
        purpose="低保资格核查",
        delivery="api",
        starts_on=starts_on,
        expires_on=expires_on,
    )
    session.add(grant)
    session.flush()
    return grant


@pytest.fixture
def population(
    session: Session,
    org: Org,
    resources: Resources,  # noqa: F811
    tmp_path: Path,
) -> Population:
    first = load(
        session,
        org.principal(org.steward),
        resources.population,
        write(tmp_path, "人口.csv", people({1: "张三", 2: "李四", 3: "王五"})),
    )
    assert first.status == "succeeded", first.error_message
    today = date.today()
    start = min(REPORTED_ON, today) - timedelta(days=30)
    grant = grant_to_civil(
        session, org, resources, starts_on=start, expires_on=max(REPORTED_ON, today) + timedelta(365)
    )
    session.commit()
    return Population(resources, grant, first)


def report_wrong_name(session: Session, org: Org, p: Population, n: int = 1) -> Correction:
    return corrections.report(
        session,
        org.principal(org.consumer),
        resource_id=p.resources.population.id,
        record_key={"gmsfhm": person_id(n)},
        column_name="xm",
        note="姓名应为“张叁”，与户籍档案不符",
        evidence="申请人户口簿首页复印件（低保申请材料第 3 页）",
        today=REPORTED_ON,
    )


def test_a_confirmed_correction_closes_with_the_version_that_fixes_its_record(
    session: Session, org: Org, population: Population, tmp_path: Path
) -> None:
    wrong_name = report_wrong_name(session, org, population, 1)
    other = report_wrong_name(session, org, population, 2)
    assert wrong_name.status == "open" and wrong_name.grant_id == population.grant.id
    # 5 working days from Thursday 12 Feb 2026: Fri 13, the adjusted Saturday 14, then after the holiday
    # Tue 24, Wed 25, Thu 26
    assert wrong_name.due_on == date(2026, 2, 26)
    assert wrong_name.provider_department_id == org.police.id

    steward = org.principal(org.steward)
    corrections.answer(
        session, steward, wrong_name.id, decision="confirm", reason="已核实户籍档案，下次报送更正"
    )
    corrections.answer(session, steward, other.id, decision="confirm")
    assert wrong_name.status == "confirmed" and wrong_name.answered_by == org.steward.id

    # the next load corrects 张三's name only: version 2's change log has that key, not 李四's
    second = load(
        session,
        steward,
        population.resources.population,
        write(tmp_path, "人口2.csv", people({1: "张叁", 2: "李四", 3: "王五"})),
    )
    assert second.status == "succeeded" and second.data_version == 2
    # the load closed it itself; closing again for the same version changes nothing
    assert corrections.close_fixed(session, population.resources.population.id, 2) == []
    session.refresh(wrong_name)
    session.refresh(other)
    assert (wrong_name.status, wrong_name.fixed_version, wrong_name.fixed_load_id) == ("fixed", 2, second.id)
    assert other.status == "confirmed" and other.fixed_version is None  # still waiting for its fix
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "correction.fixed")).one()
    assert event.object_id == str(wrong_name.id) and event.detail == {
        "resource_id": population.resources.population.id, "version": 2, "load_id": second.id,
    }  # fmt: skip
    # called again for the same version, nothing more happens
    assert corrections.close_fixed(session, population.resources.population.id, 2) == []


def test_a_fix_loaded_before_the_answer_closes_the_correction_when_it_is_confirmed(
    session: Session, org: Org, population: Population, tmp_path: Path
) -> None:
    correction = report_wrong_name(session, org, population, 1)
    steward = org.principal(org.steward)
    second = load(
        session,
        steward,
        population.resources.population,
        write(tmp_path, "人口2.csv", people({1: "张叁", 2: "李四", 3: "王五"})),
    )
    # 公安局 corrected the record first; its load did not close an unanswered correction
    assert corrections.close_fixed(session, population.resources.population.id, 2) == []
    assert correction.status == "open"
    corrections.answer(session, steward, correction.id, decision="confirm", reason="已在今日报送中更正")
    assert (correction.status, correction.fixed_version, correction.fixed_load_id) == ("fixed", 2, second.id)


def test_open_and_rejected_corrections_are_not_closed_by_a_load(
    session: Session, org: Org, population: Population, tmp_path: Path
) -> None:
    still_open = report_wrong_name(session, org, population, 1)
    rejected = report_wrong_name(session, org, population, 2)
    corrections.answer(
        session, org.principal(org.steward), rejected.id, decision="reject", reason="与户籍档案一致，无误"
    )
    load(
        session,
        org.principal(org.steward),
        population.resources.population,
        write(tmp_path, "人口2.csv", people({1: "张叁", 2: "李肆", 3: "王五"})),
    )
    assert corrections.close_fixed(session, population.resources.population.id, 2) == []
    assert (still_open.status, rejected.status, rejected.answer) == (
        "open",
        "rejected",
        "与户籍档案一致，无误",
    )


def test_a_deleted_record_closes_its_confirmed_correction(
    session: Session, org: Org, population: Population, tmp_path: Path
) -> None:
    correction = corrections.report(
        session,
        org.principal(org.consumer),
        resource_id=population.resources.population.id,
        record_key={"gmsfhm": person_id(3)},
        note="此人已迁出本市，不应在常住人口中",
        today=REPORTED_ON,
    )
    assert correction.column_name == ""  # the whole record
    corrections.answer(session, org.principal(org.operator), correction.id, decision="confirm")
    load(
        session,
        org.principal(org.steward),
        population.resources.population,
        write(tmp_path, "人口2.csv", people({1: "张三", 2: "李四"})),
    )
    session.refresh(correction)  # the load that deleted the record closed the correction
    assert correction.status == "fixed" and correction.fixed_version == 2


def test_what_a_report_must_carry_and_who_may_make_it(
    session: Session, org: Org, population: Population
) -> None:
    consumer = org.principal(org.consumer)
    population_id = population.resources.population.id
    base = {
        "resource_id": population_id,
        "record_key": {"gmsfhm": person_id(1)},
        "today": REPORTED_ON,
    }

    with pytest.raises(ValidationFailed) as outside:  # 民族代码 was not granted: no probing it
        corrections.report(session, consumer, column_name="mzdm", note="民族有误", **base)  # type: ignore[arg-type]
    assert outside.value.code == "correction_item_not_granted"
    with pytest.raises(ValidationFailed) as no_note:
        corrections.report(session, consumer, column_name="xm", note="  ", **base)  # type: ignore[arg-type]
    assert no_note.value.code == "correction_note_required"
    with pytest.raises(ValidationFailed) as bad_key:
        corrections.report(
            session, consumer, resource_id=population_id, record_key={"xm": "张三"}, note="有误",
            today=REPORTED_ON,
        )  # fmt: skip
    assert bad_key.value.code == "correction_key_invalid" and bad_key.value.detail["missing"] == ["gmsfhm"]
    with pytest.raises(NotFound) as nobody:
        corrections.report(
            session, consumer, resource_id=population_id,
            record_key={"gmsfhm": person_id(99)}, note="查无此人", today=REPORTED_ON,
        )  # fmt: skip
    assert nobody.value.code == "correction_record_not_found"

    first = report_wrong_name(session, org, population, 1)
    with pytest.raises(Conflict) as twice:
        report_wrong_name(session, org, population, 1)
    assert twice.value.detail == {"correction_id": first.id}

    # 公安局 holds no grant on its own resource, and an expired grant is no grant
    with pytest.raises(Forbidden) as no_grant:
        corrections.report(session, org.principal(org.steward), column_name="xm", note="有误", **base)  # type: ignore[arg-type]
    assert no_grant.value.code == "correction_no_grant"
    late = {**base, "today": population.grant.expires_on + timedelta(days=1)}
    with pytest.raises(Forbidden):
        corrections.report(session, consumer, column_name="xbdm", note="性别有误", **late)  # type: ignore[arg-type]
    with pytest.raises(Forbidden) as operator:
        corrections.report(session, org.principal(org.operator), note="有误", **base)  # type: ignore[arg-type]
    assert operator.value.code == "correction_role_forbidden"


def test_only_the_provider_answers_once_and_a_rejection_needs_a_reason(
    session: Session, org: Org, population: Population
) -> None:
    correction = report_wrong_name(session, org, population)
    with pytest.raises(Forbidden):  # 民政局's steward does not answer for 公安局's data
        corrections.answer(session, org.principal(org.civil_steward), correction.id, decision="confirm")
    with pytest.raises(Forbidden):
        corrections.answer(session, org.principal(org.consumer), correction.id, decision="confirm")
    with pytest.raises(ValidationFailed) as no_reason:
        corrections.answer(session, org.principal(org.steward), correction.id, decision="reject")
    assert no_reason.value.code == "correction_reason_required"
    corrections.answer(
        session, org.principal(org.steward), correction.id, decision="reject", reason="核实无误"
    )
    with pytest.raises(Conflict):
        corrections.answer(session, org.principal(org.steward), correction.id, decision="confirm")


def test_each_department_sees_its_own_corrections_and_the_operator_sees_the_overdue(
    session: Session, org: Org, population: Population
) -> None:
    correction = report_wrong_name(session, org, population)  # due 26 Feb 2026
    answered = report_wrong_name(session, org, population, 2)
    corrections.answer(session, org.principal(org.steward), answered.id, decision="confirm")
    outsider_dept = accounts.upsert_department(session, "RS", "市人社局", "341000")
    outsider = accounts.create_user(
        session, username="rs_steward", password=PASSWORD, role=Role.steward, department_code="RS"
    )
    assert outsider_dept.id != org.police.id

    for user in (org.consumer, org.steward, org.operator, org.auditor):
        seen = corrections.list_corrections(session, org.principal(user))
        assert {c.id for c in seen} == {correction.id, answered.id}, user.username
    assert corrections.list_corrections(session, org.principal(outsider)) == []
    with pytest.raises(NotFound):
        corrections.get_correction(session, org.principal(outsider), correction.id)

    on_time, overdue_day = date(2026, 2, 26), date(2026, 2, 27)
    assert corrections.overdue_corrections(session, on_time) == []
    assert [c.id for c in corrections.list_overdue(session, org.principal(org.operator), overdue_day)] == [
        correction.id
    ]
    assert corrections.is_overdue(correction, overdue_day)
    # answered today, long after 26 Feb 2026: counted as answered late, but no longer waiting
    assert corrections.is_overdue(answered) and answered.id not in {
        c.id for c in corrections.overdue_corrections(session, overdue_day)
    }
    with pytest.raises(Forbidden):
        corrections.list_overdue(session, org.principal(org.consumer), overdue_day)


def test_the_answer_deadline_is_an_operator_setting(
    session: Session, org: Org, population: Population
) -> None:
    assert corrections.answer_days(session) == 5
    with pytest.raises(Forbidden):
        corrections.set_answer_days(session, org.principal(org.steward), 3)
    with pytest.raises(ValidationFailed):
        corrections.set_answer_days(session, org.principal(org.operator), 0)
    corrections.set_answer_days(session, org.principal(org.operator), 2)
    # two working days from Thursday 12 Feb 2026: Friday 13 and the adjusted working Saturday 14
    assert report_wrong_name(session, org, population).due_on == date(2026, 2, 14)
    # a local holiday the operator adds to the calendar (e.g. a typhoon day) moves the next deadline
    sharing_calendar.save_overrides(session, holidays=[date(2026, 2, 13)], workdays=[])
    assert report_wrong_name(session, org, population, 2).due_on == date(2026, 2, 24)


def test_the_correction_api_from_report_to_answer(
    client: TestClient, session: Session, org: Org, population: Population
) -> None:
    consumer, steward, operator = (api_headers(session, u) for u in (org.consumer, org.steward, org.operator))
    body = {
        "resource_id": population.resources.population.id,
        "record_key": {"gmsfhm": person_id(1)},
        "column_name": "xm",
        "note": "姓名有误",
        "evidence": "户口簿",
    }
    created = client.post("/api/v1/sharing/corrections", json=body, headers=consumer)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["status"] == "open" and out["status_label"] == "待答复" and out["overdue"] is False
    assert client.post("/api/v1/sharing/corrections", json=body, headers=consumer).status_code == 409
    outside = client.post(
        "/api/v1/sharing/corrections", json={**body, "column_name": "mzdm"}, headers=consumer
    )
    assert outside.status_code == 422 and outside.json()["code"] == "correction_item_not_granted"
    injected = client.post(
        "/api/v1/sharing/corrections",
        json={**body, "record_key": {"gmsfhm": "1' OR '1'='1"}, "column_name": ""},
        headers=consumer,
    )
    assert injected.status_code == 404 and injected.json()["code"] == "correction_record_not_found"

    # bad input gets a clean 4xx, never a 500
    for bad in (
        {**body, "record_key": {"gmsfhm": "9" * 5000}},
        {**body, "record_key": {f"k{i}": "1" for i in range(11)}},
        {**body, "resource_id": 2**40},
        {**body, "note": "错" * 5000},
    ):
        answer = client.post("/api/v1/sharing/corrections", json=bad, headers=consumer)
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    assert client.get(f"/api/v1/sharing/corrections/{2**40}", headers=consumer).status_code in (404, 422)
    assert client.get("/api/v1/sharing/corrections?status=x", headers=consumer).status_code == 422

    mine = client.get("/api/v1/sharing/corrections", headers=consumer).json()
    assert [c["id"] for c in mine] == [out["id"]]
    refused = client.post(
        f"/api/v1/sharing/corrections/{out['id']}/answer", json={"decision": "reject"}, headers=steward
    )
    assert refused.status_code == 422 and refused.json()["code"] == "correction_reason_required"
    answered = client.post(
        f"/api/v1/sharing/corrections/{out['id']}/answer",
        json={"decision": "confirm", "reason": "已核实"},
        headers=steward,
    )
    assert answered.status_code == 200 and answered.json()["status"] == "confirmed"
    assert (
        client.get(f"/api/v1/sharing/corrections/{out['id']}", headers=consumer).json()["answer"] == "已核实"
    )
    assert client.get("/api/v1/sharing/corrections/overdue", headers=consumer).status_code == 403
    assert client.get("/api/v1/sharing/corrections/overdue", headers=operator).json() == []
    assert client.put(
        "/api/v1/sharing/corrections/settings", json={"working_days": 7}, headers=operator
    ).json() == {"working_days": 7}
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "correction")))
    assert {"correction.report", "correction.confirm"} <= actions


def test_the_pages_report_answer_and_show_the_fix(
    client: TestClient, session: Session, org: Org, population: Population
) -> None:
    from tests.conftest import login

    csrf = login(client, "mz_consumer")
    page = client.get("/sharing/corrections")
    assert page.status_code == 200 and "常住人口基础信息" in page.text and 'name="key.gmsfhm"' in page.text
    assert "民族代码" not in page.text  # only granted items are offered
    form = {"csrf_token": csrf, "resource_id": str(population.resources.population.id)}
    sent = client.post(
        "/sharing/corrections",
        data={
            **form,
            "key.gmsfhm": person_id(2),
            "column_name": "xm",
            "note": "姓名有误",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    detail = client.get(sent.headers["location"])
    assert "纠错已提交" in detail.text and "待答复" in detail.text and "确认有误" not in detail.text
    missing = client.post(
        "/sharing/corrections",
        data={
            **form,
            "key.gmsfhm": person_id(77),
            "note": "查无此人",
        },
    )
    assert missing.status_code == 404 and "找不到记录" in missing.text

    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "ga_steward")
    correction_url = sent.headers["location"].split("?")[0]
    assert "确认有误" in client.get(correction_url).text  # the provider's steward may answer
    no_reason = client.post(correction_url + "/answer", data={"csrf_token": csrf, "decision": "reject"})
    assert no_reason.status_code == 422 and "须说明理由" in no_reason.text
    answered = client.post(
        correction_url + "/answer",
        data={"csrf_token": csrf, "decision": "confirm", "reason": "已核实"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert "已确认待修正" in client.get(correction_url).text
