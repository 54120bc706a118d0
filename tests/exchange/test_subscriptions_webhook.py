"""A consumer subscribes a webhook and gets every change of the granted view, in order, whatever its
receiver does: down for a while, answering 500, answering too slowly.

民政局 has a grant on 公安局's population (ID number and name masked, sex code as stored; ethnic group,
birth date and residence outside it). Its receiver is a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core import jobs
from jutong.core.audit import AuditEvent
from jutong.core.db import utcnow
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.exchange import delivery
from jutong.exchange.masking import mask_value
from jutong.exchange.subscriptions import cancel_subscription, create_subscription
from jutong.sharing import grants
from jutong.sharing.models import AccessKind, DataAccess, Subscription
from tests.exchange.conftest import NOT_GRANTED, PEOPLE, Served, people_lines, person
from tests.exchange.receiver_webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def subscribe(session: Session, served: Served, receiver: Receiver, timeout: float = 5.0) -> Subscription:
    created = create_subscription(
        session, served.consumer, grant_id=served.grant.id, kind="webhook", url=receiver.url, timeout=timeout
    )
    session.commit()
    receiver.secret = created.secret
    return created.subscription


def granted_view(numbers: range, rename: dict[int, str] | None = None) -> dict[str, dict[str, str]]:
    """What the consumer should hold: granted items only, masked, keyed like the receiver keys rows."""
    out = {}
    for n in numbers:
        pid, name, sex = person(n)
        masked = mask_value("id_number", pid)
        row = {"gmsfhm": masked, "xm": mask_value("name", (rename or {}).get(n, name)), "xbdm": sex}
        out[json.dumps({"gmsfhm": masked}, sort_keys=True, ensure_ascii=False)] = row
    return out


def fresh(session: Session, sub: Subscription) -> Subscription:
    found = session.get(Subscription, sub.id, populate_existing=True)
    assert found is not None
    return found


def test_a_load_reaches_the_webhook_signed_with_exactly_the_changed_granted_rows(
    session: Session, served: Served, receiver: Receiver
) -> None:
    sub = subscribe(session, served, receiver)
    assert sub.acked_version == 1  # starts at the version it was created on: the rest comes by export
    receiver.rows = granted_view(range(1, PEOPLE + 1))

    # 公安局 renames person 2, drops 29 and 30, adds 31
    served.reload(
        session, people_lines(range(1, PEOPLE - 1), rename={2: "张新名"}) + people_lines(range(31, 32))[1:]
    )
    result = delivery.deliver(session, sub.id)

    assert result["delivered"] == [2]
    [got] = receiver.received
    assert got["key"] == f"{sub.id}:2" and receiver.bad_signatures == 0
    payload = got["payload"]
    assert payload["subscription_id"] == sub.id and payload["version"] == 2
    assert payload["resource_code"] == served.resource.code
    ops = sorted((c["op"], c["key"]["gmsfhm"]) for c in payload["changes"])
    assert ops == sorted(
        [("U", mask_value("id_number", person(2)[0])), ("I", mask_value("id_number", person(31)[0]))]
        + [("D", mask_value("id_number", person(n)[0])) for n in (29, 30)]
    )
    update = next(c for c in payload["changes"] if c["op"] == "U")
    assert update["row"] == {
        "gmsfhm": mask_value("id_number", person(2)[0]),
        "xm": "张*名",
        "xbdm": person(2)[2],
    }
    # nothing outside the grant, and no stored ID number or name anywhere in the body
    text = json.dumps(payload, ensure_ascii=False)
    assert not any(item in text for item in NOT_GRANTED) and "1990-03-07" not in text
    assert person(2)[0] not in text and "张新名" not in text
    assert receiver.rows == granted_view(range(1, PEOPLE - 1), rename={2: "张新名"}) | granted_view(
        range(31, 32)
    )

    assert fresh(session, sub).acked_version == 2 and sub.attempts == 0
    access = session.scalars(select(DataAccess).where(DataAccess.kind == AccessKind.delivery.value)).one()
    assert (access.rows, access.items, access.grant_id) == (4, ["gmsfhm", "xm", "xbdm"], served.grant.id)
    assert grants.used_today(session, served.grant) == 4
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "exchange.delivery")).one()
    assert event.detail is not None
    assert event.detail["rows"] == 4 and event.detail["purpose"] == served.grant.purpose


def test_after_an_outage_500s_and_a_slow_receiver_deliveries_resume_in_order_and_nothing_is_lost(
    session: Session, served: Served, receiver: Receiver
) -> None:
    sub = subscribe(session, served, receiver, timeout=0.5)
    receiver.rows = granted_view(range(1, PEOPLE + 1))
    t0 = utcnow()

    # the receiver is down while three versions are loaded
    receiver.stop()
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={1: "甲一"}), "v2.csv")
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={1: "甲一", 2: "乙二"}), "v3.csv")
    served.reload(session, people_lines(range(2, PEOPLE + 3), rename={1: "甲一", 2: "乙二"}), "v4.csv")
    failed = delivery.deliver(session, sub.id, now=t0)
    assert failed["delivered"] == [] and failed["failed"] == 2 and "无法连接" in failed["error"]
    sub = fresh(session, sub)
    assert (sub.acked_version, sub.attempts) == (1, 1)
    assert sub.next_attempt_at == t0 + timedelta(seconds=30)
    # backing off: an early run does nothing
    assert delivery.deliver(session, sub.id, now=t0 + timedelta(seconds=10))["delivered"] == []

    # back up, but answering 500: the next attempt waits twice as long
    receiver.start()
    receiver.mode = "error"
    t1 = t0 + timedelta(seconds=31)
    assert delivery.deliver(session, sub.id, now=t1)["failed"] == 2
    sub = fresh(session, sub)
    assert (sub.acked_version, sub.attempts, sub.next_attempt_at) == (1, 2, t1 + timedelta(seconds=60))
    assert "HTTP 500" in sub.last_error

    # slow: the receiver applies version 2 after we gave up, so we send it again later
    receiver.mode = "slow"
    receiver.delay = 1.0
    t2 = t1 + timedelta(seconds=61)
    assert "超时" in delivery.deliver(session, sub.id, now=t2)["error"]
    assert fresh(session, sub).acked_version == 1

    import time

    time.sleep(1.2)  # the slow answer lands at the receiver
    receiver.mode = "ok"
    t3 = t2 + timedelta(seconds=200)
    assert delivery.deliver(session, sub.id, now=t3)["delivered"] == [2, 3, 4]
    sub = fresh(session, sub)
    assert (sub.acked_version, sub.attempts, sub.last_error, sub.next_attempt_at) == (4, 0, "", None)

    # in order, each version applied once; the only repeat is the one the slow receiver had taken
    assert receiver.applied == [2, 3, 4]
    assert receiver.duplicates == [f"{sub.id}:2"]
    assert [r["version"] for r in receiver.received if r.get("done")] == [2, 2, 3, 4]
    assert receiver.bad_signatures == 0
    # the consumer's copy is exactly the granted view of the last version
    assert receiver.rows == granted_view(range(2, PEOPLE + 3), rename={2: "乙二"})


def test_the_worker_delivers_due_subscriptions_and_retries_on_its_own(
    session: Session, served: Served, receiver: Receiver, units_of_work: None
) -> None:
    sub = subscribe(session, served, receiver)
    receiver.mode = "error"
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={5: "赵五"}))
    now = utcnow()
    jobs.run_due(now=now)
    assert fresh(session, sub).attempts == 1 and receiver.applied == []
    jobs.run_due(now=now + timedelta(seconds=5))  # backing off: not even enqueued
    assert len(receiver.received) == 1

    receiver.mode = "ok"
    jobs.run_due(now=now + timedelta(seconds=31))
    assert receiver.applied == [2] and fresh(session, sub).acked_version == 2
    jobs.run_due(now=now + timedelta(seconds=60))  # caught up: nothing more is sent
    assert len(receiver.received) == 2


def test_revoking_the_grant_stops_the_subscription_before_anything_more_leaves(
    session: Session, served: Served, receiver: Receiver
) -> None:
    sub = subscribe(session, served, receiver)
    grants.revoke_grant(session, served.org.principal(served.org.steward), served.grant.id, "核查工作结束")
    session.commit()
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={3: "王三"}))
    assert delivery.deliver(session, sub.id)["delivered"] == []
    sub = fresh(session, sub)
    assert sub.status == "stopped" and "撤销" in sub.last_error
    assert receiver.received == []


def test_only_the_consumer_department_subscribes_and_cancelling_stops_deliveries(
    session: Session, served: Served, receiver: Receiver
) -> None:
    with pytest.raises(Forbidden) as refused:
        create_subscription(
            session, served.steward, grant_id=served.grant.id, kind="webhook", url=receiver.url
        )
    assert refused.value.code == "subscription_not_consumer"
    with pytest.raises(ValidationFailed) as bad:
        create_subscription(session, served.consumer, grant_id=served.grant.id, kind="webhook", url="ftp://x")
    assert bad.value.code == "subscription_url_invalid"
    # a table push needs the key as stored; this grant masks the ID number
    with pytest.raises(ValidationFailed) as masked:
        create_subscription(
            session,
            served.consumer,
            grant_id=served.grant.id,
            kind="table",
            url="postgresql+psycopg://mz@127.0.0.1/mz",
            table="rk",
        )
    assert masked.value.code == "subscription_table_needs_key"

    sub = subscribe(session, served, receiver)
    cancel_subscription(session, served.consumer, sub.id)
    session.commit()
    served.reload(session, people_lines(range(1, PEOPLE + 1), rename={4: "刘四"}))
    assert delivery.deliver(session, sub.id)["delivered"] == []
    assert receiver.received == []
