"""Reading the audit log (审计日志查询): filters and stable cursor paging, newest first.

Pages are keyed by event id (ids only grow), so a cursor keeps its place while new events
arrive: ``next`` is an opaque token for "events older than the last one shown".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import GENESIS_HASH, AuditEvent, AuditSeal
from jutong.core.auth import Principal
from jutong.core.errors import NotFound, ValidationFailed

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # dates typed by people are Beijing dates
OUTCOMES: dict[str, str] = {"success": "成功", "failed": "失败", "denied": "拒绝"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor asks for; every field is optional and they combine with AND."""

    actor: str | None = None  # exact user name
    action: str | None = None  # exact, or a prefix when it ends with "." or "*" (``auth.*``)
    outcome: str | None = None  # success | failed | denied
    object_type: str | None = None
    object_id: str | None = None
    department_id: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    text: str | None = None  # free text in the summary

    def as_dict(self) -> dict[str, Any]:
        """The filters in use, for the audit trail of the reading itself."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value is None or value == "":
                continue
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass
class AuditPage:
    events: list[AuditEvent]
    next: str | None
    filters: AuditFilter = field(default_factory=AuditFilter)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_time_bound(value: str | None, *, end: bool, name: str) -> datetime | None:
    """``2025-03-01`` means that Beijing day (start for ``from``, the next midnight for ``to``);
    a date-time without a zone is Beijing time too."""
    text = _clean(value)
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            f"时间参数 {name}=“{text}”无法识别，请写成 2025-03-01 或 2025-03-01T08:30:00",
            code="audit_time_invalid",
            detail={"param": name, "value": text},
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def make_filter(
    *,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    department_id: int | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    text: str | None = None,
) -> AuditFilter:
    """Build a filter from request parameters, refusing values that cannot match anything."""
    outcome = _clean(outcome)
    if outcome is not None and outcome not in OUTCOMES:
        raise ValidationFailed(
            f"结果 outcome=“{outcome}”无效，应为 success（成功）、failed（失败）或 denied（拒绝）",
            code="audit_outcome_invalid",
            detail={"allowed": list(OUTCOMES)},
        )
    since = parse_time_bound(date_from, end=False, name="from")
    until = parse_time_bound(date_to, end=True, name="to")
    if since and until and since >= until:
        raise ValidationFailed(
            "起始时间应早于截止时间，请检查 from 和 to",
            code="audit_time_range_invalid",
            detail={"from": date_from, "to": date_to},
        )
    return AuditFilter(
        actor=_clean(actor),
        action=_clean(action),
        outcome=outcome,
        object_type=_clean(object_type),
        object_id=_clean(object_id),
        department_id=department_id,
        since=since,
        until=until,
        text=_clean(text),
    )


def _conditions(f: AuditFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.actor:
        where.append(AuditEvent.actor_name == f.actor)
    if f.action:
        if f.action.endswith(("*", ".")):
            where.append(AuditEvent.action.startswith(f.action.rstrip("*"), autoescape=True))
        else:
            where.append(AuditEvent.action == f.action)
    if f.outcome:
        where.append(AuditEvent.outcome == f.outcome)
    if f.object_type:
        where.append(AuditEvent.object_type == f.object_type)
    if f.object_id:
        where.append(AuditEvent.object_id == f.object_id)
    if f.department_id is not None:
        where.append(AuditEvent.department_id == f.department_id)
    if f.since:
        where.append(AuditEvent.occurred_at >= f.since)
    if f.until:
        where.append(AuditEvent.occurred_at < f.until)
    if f.text:
        where.append(AuditEvent.summary.icontains(f.text, autoescape=True))
    return where


def encode_cursor(before_id: int) -> str:
    raw = json.dumps({"before": before_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        before = json.loads(raw)["before"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValidationFailed(
            "翻页参数 cursor 无效，请使用上一页返回的 next 值", code="audit_cursor_invalid"
        ) from exc
    if not isinstance(before, int) or isinstance(before, bool):
        raise ValidationFailed(
            "翻页参数 cursor 无效，请使用上一页返回的 next 值", code="audit_cursor_invalid"
        )
    return before


def list_events(
    session: Session, filters: AuditFilter, *, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> AuditPage:
    """One page of matching events, newest first, and the cursor of the next page (None at the end)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"每页条数 limit 应在 1 到 {MAX_LIMIT} 之间", code="audit_limit_invalid")
    where = _conditions(filters)
    if cursor:
        where.append(AuditEvent.id < decode_cursor(cursor))
    stmt = select(AuditEvent).where(*where)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    events = rows[:limit]
    return AuditPage(events, encode_cursor(events[-1].id) if more else None, filters)


def get_event(session: Session, event_id: int) -> AuditEvent:
    event = session.get(AuditEvent, event_id)
    if event is None:
        raise NotFound(f"审计事件 #{event_id} 不存在", code="audit_event_not_found")
    return event


def event_as_dict(event: AuditEvent) -> dict[str, Any]:
    """Every stored field of an event, JSON-ready (the detail page and exports show this)."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "department_id": event.department_id,
        "via": event.via,
        "ip": event.ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "summary": event.summary,
        "detail": event.detail,
        "sealed": event.seq is not None,
        "seq": event.seq,
        "chain_hash": event.chain_hash,
        "seal_id": event.seal_id,
    }


@dataclass(frozen=True)
class ChainSummary:
    """Counts and the last seal's head, read without replaying the chain (cheap)."""

    sealed_events: int
    seals: int
    unsealed_events: int
    head_hash: str
    last_seq: int


def chain_summary(session: Session) -> ChainSummary:
    last = session.scalars(select(AuditSeal).order_by(AuditSeal.last_seq.desc()).limit(1)).first()
    sealed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_not(None)))
    unsealed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None)))
    seals = session.scalar(select(func.count()).select_from(AuditSeal))
    return ChainSummary(
        sealed_events=sealed or 0,
        seals=seals or 0,
        unsealed_events=unsealed or 0,
        head_hash=last.head_hash if last else GENESIS_HASH,
        last_seq=last.last_seq if last else 0,
    )


def record_read(
    session: Session,
    principal: Principal,
    filters: AuditFilter,
    count: int,
    *,
    cursor: str | None = None,
    event_id: int | None = None,
) -> None:
    """Reading the log is a data access like any other: it leaves its own event."""
    if event_id is not None:
        summary, detail = f"查阅审计事件 #{event_id}", None
    else:
        summary = f"查阅审计日志 {count} 条"
        detail = {"filters": filters.as_dict(), "count": count, "cursor": cursor}
    audit.record(
        session,
        principal,
        "audit.read",
        summary=summary,
        object_type="audit_event",
        object_id=event_id,
        detail=detail,
    )


def record_verify(session: Session, principal: Principal, report: audit.ChainReport) -> None:
    problem = report.problem
    audit.record(
        session,
        principal,
        "audit.verify",
        summary="校验审计日志：" + (f"发现问题（{problem.message}）" if problem else "完整"),
        object_type="audit_chain",
        detail={
            "ok": report.ok,
            "head": report.head_hash,
            "sealed_events": report.sealed_events,
            "problem_event_id": problem.event_id if problem else None,
        },
    )


def seal_now(session: Session, principal: Principal) -> int:
    """Seal every waiting event at once (operators); the request to seal is sealed with them."""
    audit.record(session, principal, "audit.seal", summary="手动封存审计日志", object_type="audit_chain")
    return audit.seal_all(session)
