"""The sealed audit log: any edit, insertion or deletion in sealed history is found and named."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import AuditEvent


def _events(session: Session, n: int) -> list[AuditEvent]:
    return [audit.record(session, None, "test.event", summary=f"事件 {i}", detail={"i": i}) for i in range(n)]


def test_sealed_history_verifies(session: Session) -> None:
    _events(session, 7)
    assert audit.seal_all(session, batch_size=3) == 7
    report = audit.verify_chain(session)
    assert report.ok, report.problem
    assert report.sealed_events == 7
    assert report.seals == 3


def test_edit_names_the_edited_event(session: Session) -> None:
    events = _events(session, 5)
    audit.seal_all(session)
    session.execute(update(AuditEvent).where(AuditEvent.id == events[2].id).values(summary="改过了"))
    session.expire_all()
    report = audit.verify_chain(session)
    assert report.problem is not None
    assert report.problem.kind == "edited"
    assert report.problem.event_id == events[2].id


def test_deletion_is_found(session: Session) -> None:
    events = _events(session, 5)
    audit.seal_all(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[1].id})
    session.expire_all()
    report = audit.verify_chain(session)
    assert report.problem is not None
    assert report.problem.kind == "deleted"
    assert report.problem.event_id == events[0].id  # the gap follows the last good event


def test_deleting_the_newest_sealed_events_is_found(session: Session) -> None:
    events = _events(session, 4)
    audit.seal_all(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[-1].id})
    session.expire_all()
    report = audit.verify_chain(session)
    assert report.problem is not None and report.problem.kind == "deleted"


def test_insertion_into_sealed_history_is_found(session: Session) -> None:
    events = _events(session, 4)
    audit.seal_all(session)
    # make room at seq 3 and splice a forged event in with a copied hash
    session.execute(update(AuditEvent).where(AuditEvent.id == events[3].id).values(seq=10_000))
    session.execute(update(AuditEvent).where(AuditEvent.id == events[2].id).values(seq=4))
    forged = AuditEvent(
        occurred_at=events[2].occurred_at,
        actor_name="forger",
        via="api_key",
        action="x",
        outcome="success",
        summary="伪造",
        seq=3,
        chain_hash=events[2].chain_hash,
    )
    session.add(forged)
    session.flush()
    session.expire_all()
    report = audit.verify_chain(session)
    assert report.problem is not None
    assert report.problem.event_id == forged.id


def test_unsealed_events_are_sealed_next_time(session: Session) -> None:
    _events(session, 2)
    audit.seal_all(session)
    _events(session, 3)
    assert audit.verify_chain(session).unsealed_events == 3
    assert audit.seal_all(session) == 3
    report = audit.verify_chain(session)
    assert report.ok and report.sealed_events == 5
    assert session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == 5
