"""Audit log (审计日志) sealed into an SM3 hash chain (封存).

Events are written in the same transaction as the change they describe, so nothing is
answered before its event is stored. A sealer assigns each unsealed event the next
sequence number and chains it: ``h(n) = SM3(h(n-1) || canonical(event n))``, batch by
batch. ``verify_chain`` replays the chain and names the first event that does not fit:
an edited event breaks its own hash, a deleted one leaves a gap in the sequence, an
inserted one breaks the hash where it was spliced in, or carries a sequence number no seal
covers when appended after the last seal. (A forger who also rewrites the seal table can only be
caught against a head hash kept elsewhere, e.g. printed by ``jutong audit verify``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography.hazmat.primitives import hashes
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from jutong.core.auth import Principal
from jutong.core.db import Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64
HASH_ALGORITHM = "SM3"

_BigId = BigInteger().with_variant(Integer, "sqlite")


def chain_digest(previous: str, payload: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(previous.encode("ascii"))
    digest.update(payload)
    return digest.finalize().hex()


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the log outlives users
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    summary: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("audit_seal.id"))

    __table_args__ = (
        Index("ix_audit_event_object", "object_type", "object_id"),
        # what the sealer looks for, in its order (migration 0006 says why)
        Index(
            "ix_audit_event_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    def canonical(self) -> bytes:
        """The bytes the chain commits to: every field but the chain's own."""
        return canonical({name: getattr(self, name) for name in CANONICAL_FIELDS})


CANONICAL_FIELDS = (
    "id",
    "seq",
    "occurred_at",
    "actor_id",
    "actor_name",
    "actor_role",
    "department_id",
    "via",
    "ip",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "summary",
    "detail",
)


def canonical(event: Mapping[str, Any]) -> bytes:
    """An event's fields (``CANONICAL_FIELDS``) as the bytes its chain hash commits to."""
    body = {name: event[name] for name in CANONICAL_FIELDS}
    body["occurred_at"] = event["occurred_at"].isoformat(timespec="microseconds")
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


class AuditSeal(Base):
    """One sealed batch: the chain head after its last event."""

    __tablename__ = "audit_seal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_count: Mapped[int] = mapped_column(Integer)
    previous_hash: Mapped[str] = mapped_column(String(64))
    head_hash: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16), default=HASH_ALGORITHM)


def event_values(
    principal: Principal | None,
    action: str,
    *,
    summary: str = "",
    object_type: str | None = None,
    object_id: object | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    actor_name: str | None = None,
    ip: str | None = None,
) -> dict[str, Any]:
    """The columns of one event (``record`` adds it to the session; the data services insert it with
    their access record, ``exchange.service.record_accesses``)."""
    return {
        "occurred_at": utcnow(),
        "actor_id": principal.user_id if principal else None,
        "actor_name": actor_name or (principal.username if principal else "anonymous"),
        "actor_role": principal.role.value if principal else None,
        "department_id": principal.department_id if principal else None,
        "via": principal.via if principal else "anonymous",
        "ip": ip or (principal.ip if principal else None),
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "outcome": outcome,
        "summary": summary[:500],
        "detail": detail,
    }


def record(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    summary: str = "",
    object_type: str | None = None,
    object_id: object | None = None,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    actor_name: str | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add an event to the current unit of work; it is stored when the change is."""
    event = AuditEvent(
        **event_values(
            principal,
            action,
            summary=summary,
            object_type=object_type,
            object_id=object_id,
            outcome=outcome,
            detail=detail,
            actor_name=actor_name,
            ip=ip,
        )
    )
    session.add(event)
    session.flush()
    return event


def seal_pending(session: Session, *, batch_size: int = 500) -> AuditSeal | None:
    """Seal the oldest unsealed events (in id order) as one batch; None when nothing waits."""
    if session.get_bind().dialect.name == "postgresql":
        # one sealer at a time across processes; released with the transaction
        session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
    last = session.scalars(select(AuditSeal).order_by(AuditSeal.last_seq.desc()).limit(1)).first()
    previous_hash = last.head_hash if last else GENESIS_HASH
    next_seq = (last.last_seq + 1) if last else 1
    table = cast(Table, AuditEvent.__table__)
    fields = [table.c[name] for name in CANONICAL_FIELDS]
    # plain rows, not ORM objects, and one UPDATE for the batch: sealing follows every data access
    events = session.execute(
        select(*fields).where(table.c.seq.is_(None)).order_by(table.c.id).limit(batch_size)
    ).all()
    if not events:
        return None
    seal = AuditSeal(
        first_seq=next_seq,
        last_seq=next_seq + len(events) - 1,
        event_count=len(events),
        previous_hash=previous_hash,
        head_hash="",
        algorithm=HASH_ALGORITHM,
    )
    session.add(seal)
    session.flush()
    head = previous_hash
    chained: list[dict[str, Any]] = []
    for offset, event in enumerate(events):
        values = dict(event._mapping)
        values["seq"] = next_seq + offset
        head = chain_digest(head, canonical(values))
        chained.append({"event_id": event.id, "new_seq": values["seq"], "new_hash": head})
    seal.head_hash = head
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "UPDATE audit_event AS e SET seq = v.seq, chain_hash = v.hash, seal_id = :seal "
                "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:seqs AS BIGINT[]), CAST(:hashes AS VARCHAR[])) "
                "AS v(id, seq, hash) WHERE e.id = v.id"
            ),
            {
                "seal": seal.id,
                "ids": [c["event_id"] for c in chained],
                "seqs": [c["new_seq"] for c in chained],
                "hashes": [c["new_hash"] for c in chained],
            },
        )
    else:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("event_id"))
            .values(seq=bindparam("new_seq"), chain_hash=bindparam("new_hash"), seal_id=seal.id),
            chained,
        )
    for loaded in [o for o in session.identity_map.values() if isinstance(o, AuditEvent)]:
        session.expire(loaded, ["seq", "chain_hash", "seal_id"])  # written past the ORM, read again
    return seal


def seal_all(session: Session, *, batch_size: int = 500) -> int:
    sealed = 0
    while (seal := seal_pending(session, batch_size=batch_size)) is not None:
        sealed += seal.event_count
    return sealed


@dataclass(frozen=True)
class ChainProblem:
    event_id: int | None
    seq: int | None
    kind: str  # "edited" | "deleted" | "inserted" | "seal"
    message: str


@dataclass(frozen=True)
class ChainReport:
    sealed_events: int
    seals: int
    unsealed_events: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _sealed_in_order(session: Session) -> Iterator[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
    yield from session.scalars(stmt.execution_options(yield_per=2000))


def _gap(before: int | None, after: int, missing: int) -> str:
    """Where sealed events are missing; when the ids around the gap leave room for exactly the
    missing events, name them."""
    if before is None:
        return f"在事件 #{after} 之前"
    where = f"在事件 #{before} 与 #{after} 之间"
    if after - before - 1 == missing <= 5:
        where += "，按编号推断为事件 " + "、".join(f"#{i}" for i in range(before + 1, after))
    return where


def verify_chain(session: Session) -> ChainReport:
    """Replay the sealed history; report the first event that breaks it."""
    seals = {s.last_seq: s for s in session.scalars(select(AuditSeal).order_by(AuditSeal.last_seq))}
    last_sealed = max(seals) if seals else 0
    unsealed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None)))
    head = GENESIS_HASH
    expected_seq = 1
    count = 0
    previous_event_id: int | None = None

    def report(problem: ChainProblem | None) -> ChainReport:
        return ChainReport(count, len(seals), unsealed or 0, head, problem)

    for event in _sealed_in_order(session):
        assert event.seq is not None
        if event.seq > last_sealed:
            # a row carrying a sequence number no seal covers was written outside the sealer
            return report(
                ChainProblem(
                    event_id=event.id,
                    seq=event.seq,
                    kind="inserted",
                    message=f"事件 #{event.id} 的封存序号 {event.seq} 超出最后一个封存批次（至 {last_sealed}），"
                    "是绕过封存程序插入的伪造记录",
                )
            )
        if event.seq != expected_seq:
            return report(
                ChainProblem(
                    event_id=previous_event_id,
                    seq=expected_seq,
                    kind="deleted",
                    message=f"封存序号 {expected_seq} 的事件缺失（{_gap(previous_event_id, event.id, event.seq - expected_seq)}），"
                    "已封存的历史被删除",
                )
            )
        recomputed = chain_digest(head, event.canonical())
        if recomputed != event.chain_hash:
            return report(
                ChainProblem(
                    event_id=event.id,
                    seq=event.seq,
                    kind="edited",
                    message=f"事件 #{event.id}（封存序号 {event.seq}）的内容与哈希链不符，已被篡改或插入",
                )
            )
        head = recomputed
        count += 1
        seal = seals.get(event.seq)
        if seal is not None and seal.head_hash != head:
            return report(
                ChainProblem(
                    event_id=event.id,
                    seq=event.seq,
                    kind="seal",
                    message=f"封存批次 #{seal.id} 的链头与事件 #{event.id} 重算结果不符",
                )
            )
        previous_event_id = event.id
        expected_seq += 1

    if last_sealed >= expected_seq:
        return report(
            ChainProblem(
                event_id=previous_event_id,
                seq=expected_seq,
                kind="deleted",
                message=f"封存序号 {expected_seq} 至 {last_sealed} 的事件缺失（在事件 #{previous_event_id} 之后），"
                "已封存的历史被删除",
            )
        )
    return report(None)
