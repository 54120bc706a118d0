"""Data services on both backends: 民政局 reads 公安局's population data under its grant, and only that.

The grant covers 公民身份号码 (masked), 姓名 (masked) and 性别代码; the other three items never appear.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.core import clock
from jutong.core.audit import AuditEvent
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.exchange import service
from jutong.exchange.service import Filter
from jutong.sharing import grants
from jutong.sharing.models import DataAccess, GrantUsage
from tests.exchange.conftest import (
    GRANTED,
    NOT_GRANTED,
    PEOPLE,
    Served,
    make_grant,
    people_lines,
    person,
    ref,
)


def test_a_lookup_returns_only_granted_items_masked_and_is_recorded(session: Session, served: Served) -> None:
    pid, name, sex = person(7)
    answer = service.lookup(session, served.consumer, ref(served), [pid])
    session.commit()
    assert answer["found"] is True
    assert pid == person(7)[0] and name == "黄伟"
    assert answer["record"] == {"gmsfhm": pid[:6] + "********" + pid[-4:], "xm": "黄*", "xbdm": sex}
    assert not set(NOT_GRANTED) & set(answer["record"])

    access = session.scalars(select(DataAccess).where(DataAccess.grant_id == served.grant.id)).one()
    assert (access.kind, access.rows, access.items) == ("lookup", 1, GRANTED)
    assert access.consumer_department_id == served.org.civil.id
    assert access.provider_department_id == served.org.police.id
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "data.lookup")).one()
    assert event.detail is not None
    assert event.detail["grant_id"] == served.grant.id and event.detail["purpose"] == "最低生活保障资格核查"
    assert event.detail["rows"] == 1 and event.detail["items"] == GRANTED
    assert pid not in json.dumps(event.detail, ensure_ascii=False)  # the audit names, it does not copy data


def test_a_missing_person_is_an_answer_not_an_error(session: Session, served: Served) -> None:
    answer = service.lookup(session, served.consumer, ref(served), [person(999)[0]])
    assert answer == {"found": False, "record": None, "data_version": 1}
    assert session.scalar(select(DataAccess.rows).where(DataAccess.kind == "lookup")) == 0


def test_verification_says_match_no_match_or_no_record_and_never_the_stored_value(
    session: Session, served: Served
) -> None:
    pid, name, sex = person(3)
    match = service.verify(session, served.consumer, ref(served), [pid], {"xm": name, "xbdm": sex})
    assert match == {"result": "match", "differing": [], "checked": ["xm", "xbdm"]}

    wrong = service.verify(session, served.consumer, ref(served), [pid], {"xm": "冒名顶替", "xbdm": sex})
    assert wrong == {"result": "no_match", "differing": ["xm"], "checked": ["xm", "xbdm"]}
    assert name not in json.dumps(wrong, ensure_ascii=False)

    nobody = service.verify(session, served.consumer, ref(served), [person(998)[0]], {"xm": name})
    assert nobody["result"] == "no_record"

    # an item outside the grant cannot be probed by verification either
    with pytest.raises(ValidationFailed) as refused:
        service.verify(session, served.consumer, ref(served), [pid], {"csrq": "1990-03-07"})
    assert refused.value.code == "verify_item_not_granted"
    kinds = session.scalars(select(DataAccess.kind)).all()
    assert kinds == ["verify"] * 3


def test_a_query_pages_through_every_match_with_a_sealed_cursor(session: Session, served: Served) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = service.query(session, served.consumer, ref(served), [], limit=7, cursor=cursor)
        pages += 1
        seen += [r["xm"] for r in page["records"]]
        assert all(set(r) == set(GRANTED) for r in page["records"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        for n in range(1, PEOPLE + 1):  # the cursor hides the last key (an ID number)
            assert person(n)[0] not in cursor
    assert pages == 5 and len(seen) == PEOPLE
    usage = session.execute(
        select(func.sum(GrantUsage.rows), func.sum(GrantUsage.calls)).where(
            GrantUsage.grant_id == served.grant.id
        )
    ).one()  # the day's count is spread over slots (GrantUsage)
    assert tuple(usage) == (PEOPLE, 5)
    assert grants.used_today(session, served.grant) == PEOPLE


def test_filters_select_by_granted_items_only(session: Session, served: Served) -> None:
    women = service.query(session, served.consumer, ref(served), [Filter("xbdm", "eq", "2")], limit=100)
    assert len(women["records"]) == PEOPLE // 2 and {r["xbdm"] for r in women["records"]} == {"2"}

    zhang = service.query(session, served.consumer, ref(served), [Filter("xm", "prefix", "张")])
    assert [r["xm"][0] for r in zhang["records"]] == ["张", "张", "张"]

    two = [person(1)[0], person(2)[0]]
    picked = service.query(session, served.consumer, ref(served), [Filter("gmsfhm", "in", two)])
    assert len(picked["records"]) == 2

    ranged = service.query(
        session,
        served.consumer,
        ref(served),
        [Filter("gmsfhm", "gte", person(10)[0]), Filter("gmsfhm", "lte", person(12)[0])],
    )
    assert len(ranged["records"]) == 3

    for column in ("csrq", "jzdxzqh", "nope"):  # outside the grant or unknown: the same clean refusal
        with pytest.raises(ValidationFailed) as refused:
            service.query(session, served.consumer, ref(served), [Filter(column, "eq", "1")])
        assert refused.value.code == "filter_column_unknown"
        assert "1990" not in refused.value.message


@pytest.mark.parametrize(
    ("filters", "limit", "code"),
    [
        ([Filter('xm" OR 1=1 --', "eq", "x")], 10, "filter_column_unknown"),
        ([Filter("xm", "like", "张")], 10, "filter_op_unknown"),
        ([Filter("xm", "eq", "张" * 10_000)], 10, "filter_value_invalid"),
        ([Filter("xm", "in", ["a"] * 101)], 10, "filter_value_invalid"),
        ([Filter("xm", "eq", "张\x00三")], 10, "filter_value_invalid"),
        ([Filter("xbdm", "eq", "1")] * 21, 10, "filter_too_many"),
        ([], 100_000, "page_size_invalid"),
        ([], 0, "page_size_invalid"),
    ],
)
def test_bad_filters_get_clean_refusals(
    session: Session, served: Served, filters: list[Filter], limit: int, code: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.query(session, served.consumer, ref(served), filters, limit=limit)
    assert refused.value.code == code


def test_an_injection_attempt_in_a_value_is_just_a_value(session: Session, served: Served) -> None:
    for value in ("' OR '1'='1", "1; DROP TABLE share_grant; --", "%", "_"):
        found = service.query(session, served.consumer, ref(served), [Filter("xm", "eq", value)])
        assert found["records"] == []
    everything = service.query(session, served.consumer, ref(served), [Filter("xm", "prefix", "%")])
    assert everything["records"] == []  # % is a character here, not a wildcard
    assert session.scalar(select(func.count()).select_from(grants.Grant)) == 1


def test_a_tampered_or_foreign_cursor_is_refused(session: Session, served: Served) -> None:
    first = service.query(session, served.consumer, ref(served), [], limit=5)
    cursor = first["next_cursor"]
    assert cursor
    with pytest.raises(ValidationFailed) as refused:
        service.query(session, served.consumer, ref(served), [], limit=5, cursor=cursor[:-4] + "AAAA")
    assert refused.value.code == "cursor_invalid"
    with pytest.raises(ValidationFailed):  # the cursor of another query does not continue this one
        service.query(
            session, served.consumer, ref(served), [Filter("xbdm", "eq", "1")], limit=5, cursor=cursor
        )


def test_revocation_and_expiry_stop_access_at_once(session: Session, served: Served) -> None:
    pid = person(1)[0]
    service.lookup(session, served.consumer, ref(served), [pid])
    grants.revoke_grant(session, served.steward, served.grant.id, "用途已完成")
    session.commit()
    with pytest.raises(Forbidden) as refused:
        service.lookup(session, served.consumer, ref(served), [pid])
    assert refused.value.code == "grant_revoked" and "用途已完成" in refused.value.message

    expired = make_grant(session, served.org, served.resource, expires_on=clock.today() - timedelta(days=1),
                         starts_on=clock.today() - timedelta(days=30))  # fmt: skip
    with pytest.raises(Forbidden) as refused:
        service.lookup(session, served.consumer, ref(served), [pid])
    assert refused.value.code == "grant_expired" and str(expired.expires_on) in refused.value.message

    make_grant(session, served.org, served.resource)  # a fresh grant opens access again
    assert service.lookup(session, served.consumer, ref(served), [pid])["found"] is True


def test_only_the_consumer_department_and_the_named_applications_may_read(
    session: Session, served: Served
) -> None:
    pid = person(1)[0]
    with pytest.raises(Forbidden) as refused:  # the provider itself holds no grant for its own data service
        service.lookup(session, served.steward, ref(served), [pid])
    assert refused.value.code == "grant_missing"

    grants.revoke_grant(session, served.steward, served.grant.id, "改为按应用授权")
    make_grant(session, served.org, served.resource, application_ids=[424242])
    with pytest.raises(Forbidden) as refused:
        service.lookup(session, served.consumer, ref(served), [pid])
    assert refused.value.code == "grant_application_forbidden"


def test_the_daily_quota_counts_rows_and_stops_when_used_up(session: Session, served: Served) -> None:
    grants.revoke_grant(session, served.steward, served.grant.id, "改为限额授权")
    make_grant(session, served.org, served.resource, daily_quota=10)
    assert len(service.query(session, served.consumer, ref(served), [], limit=8)["records"]) == 8
    session.commit()
    with pytest.raises(Forbidden) as refused:  # 3 more would pass the 10 a day
        service.query(session, served.consumer, ref(served), [], limit=3)
    assert refused.value.code == "grant_quota_exhausted"
    session.rollback()
    service.query(session, served.consumer, ref(served), [], limit=2)
    session.commit()
    with pytest.raises(Forbidden) as refused:
        service.lookup(session, served.consumer, ref(served), [person(1)[0]])
    assert refused.value.code == "grant_quota_exhausted"


def test_the_change_feed_carries_granted_items_masked_in_order(session: Session, served: Served) -> None:
    version = served.reload(session, people_lines(range(1, PEOPLE + 2), rename={5: "王小明"}))
    feed = service.changes(session, served.consumer, ref(served), since=1)
    assert feed["data_version"] == version == 2
    ops = sorted((c["op"], c["row"]["xm"]) for c in feed["changes"])
    assert person(PEOPLE + 1)[1] == "李敏"
    assert ops == sorted([("U", "王*明"), ("I", "李*")])
    assert all(set(c["row"]) == set(GRANTED) for c in feed["changes"])
    assert service.changes(session, served.consumer, ref(served), since=2)["changes"] == []
    one = service.changes(session, served.consumer, ref(served), since=1, limit=1)
    assert len(one["changes"]) == 1 and one["next_after_seq"] == one["changes"][0]["seq"]
    rest = service.changes(session, served.consumer, ref(served), since=1, after_seq=one["next_after_seq"])
    assert len(rest["changes"]) == 1 and rest["next_after_seq"] is None


def test_values_are_checked_against_the_item_type_before_reaching_the_database(
    session: Session, served: Served
) -> None:
    access = service.open_access(session, served.consumer, ref(served))
    access.types.update({"xbdm": "I", "xm": "N", "mzdm": "D", "csrq": "F"})
    assert service.convert(access, "xbdm", "42") == 42
    assert str(service.convert(access, "xm", "12.50")) == "12.50"
    for column, value in [
        ("xbdm", str(2**70)),  # beyond BIGINT
        ("xbdm", "1.5"),
        ("xm", "1e999999"),  # a NUMERIC the database could not hold
        ("xm", "NaN"),
        ("mzdm", "2024-02-30"),
        ("csrq", "inf"),
        ("gmsfhm", ["a", "b"]),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            service.convert(access, column, value)
        assert refused.value.code == "filter_value_invalid", (column, value)
