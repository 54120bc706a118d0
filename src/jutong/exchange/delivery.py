"""Delivery of subscriptions (推送): the change log of a resource, version by version, to each subscriber.

For every active subscription the next data version after ``acked_version`` is read from the change log
(``dp_<id>_log``), cut to the granted items and masked as the grant says, and delivered:

- ``webhook``: one POST per version, JSON ``{subscription_id, resource_code, version, changes: [{op, key,
  row}]}``, signed with ``X-Jutong-Signature`` (hex HMAC-SM3 of the body with the subscription's secret)
  and carrying ``Idempotency-Key: <subscription>:<version>``. A 2xx acknowledges the version.
- ``table``: rows deleted and re-inserted by key in the consumer's own table (created if missing), one
  transaction per version; the version is acknowledged after that commit.

Anything else (refused connection, timeout, non-2xx, database error) leaves ``acked_version`` where it
was and sets a backoff (30 s × 2^(failures-1), at most an hour); the next attempt starts again from
``acked_version + 1``. So versions arrive in order and none is lost; a version may arrive twice (the
receiver answered but we did not hear it), which the idempotency key lets the receiver recognise.

Each attempt is recorded (``DataAccess`` kind ``delivery`` and an audit event) and committed before the
data leaves; each acknowledgement is committed before the next version is read. ``deliver`` is therefore
a job boundary and commits; it runs as the ``subscription.deliver`` job, enqueued by the worker's tick.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    bindparam,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from jutong.catalog.models import Resource
from jutong.core import audit, jobs
from jutong.core.db import make_engine, utcnow
from jutong.exchange import masking
from jutong.exchange.subscriptions import grant_is_live
from jutong.ingest.models import ResourceData
from jutong.sharing.grants import count_usage
from jutong.sharing.models import (
    AccessKind,
    DataAccess,
    Grant,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
)

log = logging.getLogger(__name__)

JOB_KIND = "subscription.deliver"
BACKOFF_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
VERSIONS_PER_RUN = 50  # one job delivers at most this many versions, then the next tick goes on
USER_AGENT = "jutong-delivery/1"


class DeliveryFailed(Exception):
    """The consumer did not acknowledge: the version stays unacknowledged and is sent again later."""


def backoff(failures: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_CAP_SECONDS))


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SM3 of ``body`` with ``secret``: what a receiver computes to check ``X-Jutong-Signature``."""
    mac = hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(body)
    return mac.finalize().hex()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(type(value).__name__)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---- reading the change log ----------------------------------------------------------------------------
def granted_columns(grant: Grant, data: ResourceData) -> list[str]:
    """Granted items present in the data plane, in the resource's column order."""
    allowed = set(grant.items)
    return [str(c["name"]) for c in data.columns if c["name"] in allowed]


def next_version(session: Session, data: ResourceData, after: int) -> int | None:
    """The first logged data version after ``after`` that is committed (≤ the resource's version)."""
    found = session.scalar(
        text(
            f"SELECT min(_version) FROM {_quote(data.log_table_name)} WHERE _version > :a AND _version <= :b"
        ),
        {"a": after, "b": data.data_version},
    )
    return None if found is None else int(found)


def read_changes(session: Session, grant: Grant, data: ResourceData, version: int) -> list[dict[str, Any]]:
    """The version's changes as delivered: only granted items, masked; ``key`` holds the granted key items."""
    names = granted_columns(grant, data)
    keys = [k for k in data.key_columns if k in names]
    select_list = ", ".join(["_op", *(_quote(n) for n in names)])
    result = session.execute(
        text(f"SELECT {select_list} FROM {_quote(data.log_table_name)} WHERE _version = :v ORDER BY _seq"),
        {"v": version},
    )
    policies = {c: p for c, p in grant.masking.items() if c in names and p != "none"}
    out: list[dict[str, Any]] = []
    for raw in result:
        row = masking.mask_row(dict(zip(names, raw[1:], strict=True)), policies)
        op = str(raw[0]).strip()
        out.append({"op": op, "key": {k: row[k] for k in keys}, "row": None if op == "D" else row})
    return out


# ---- webhook ---------------------------------------------------------------------------------------------
def webhook_body(sub: Subscription, resource_code: str, version: int, changes: list[dict[str, Any]]) -> bytes:
    payload = {
        "subscription_id": sub.id,
        "resource_code": resource_code,
        "version": version,
        "changes": changes,
    }
    return json.dumps(payload, ensure_ascii=False, default=_json_default, separators=(",", ":")).encode()


def post_webhook(sub: Subscription, version: int, body: bytes) -> None:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Jutong-Signature": sign(sub.secret, body),
        "Idempotency-Key": f"{sub.id}:{version}",
        "X-Jutong-Version": str(version),
    }
    timeout = float(sub.target.get("timeout") or 10.0)
    try:
        response = httpx.post(str(sub.target["url"]), content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(f"推送超时（{timeout:g} 秒内未答复）") from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"无法连接推送地址：{exc.__class__.__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"推送地址答复 HTTP {response.status_code}：{response.text[:200]}")


# ---- table push ------------------------------------------------------------------------------------------
_ENGINES: dict[str, Engine] = {}


def _target_engine(url: str) -> Engine:
    engine = _ENGINES.get(url)
    if engine is None:
        engine = make_engine(url)
        _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close the pooled connections to consumers' databases (tests, shutdown)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _column_type(data_type: str, *, key: bool, masked: bool) -> TypeEngine[Any]:
    if masked or data_type in ("C", "M", "G", ""):
        return String(255) if key else Text()
    types: dict[str, TypeEngine[Any]] = {
        "N": Numeric(38, 10),
        "Y": Numeric(38, 10),
        "B": Float(),
        "F": Float(),
        "I": BigInteger(),
        "D": Date(),
        "T": DateTime(),
        "L": Boolean(),
    }
    return types.get(data_type, String(255) if key else Text())


def _typed(value: Any, data_type: str, masked: bool) -> Any:
    """Values read from SQLite's log are text; the consumer's typed columns want Python values."""
    if value is None or masked:
        return value
    try:
        if data_type == "D" and isinstance(value, str):
            return date.fromisoformat(value[:10])
        if data_type == "T" and isinstance(value, str):
            return datetime.fromisoformat(value)
        if data_type in ("N", "Y") and not isinstance(value, Decimal):
            return Decimal(str(value))
        if data_type == "L" and not isinstance(value, bool):
            return bool(int(value))
    except (ValueError, InvalidOperation):
        return value
    return value


def consumer_table(engine: Engine, name: str, grant: Grant, data: ResourceData) -> Table:
    """The consumer's table: created with the granted items (key as primary key) when missing; an existing
    table must have every granted item as a column."""
    names = granted_columns(grant, data)
    types = {str(c["name"]): str(c.get("data_type") or "C") for c in data.columns}
    keys = [k for k in data.key_columns if k in names]
    existing = inspect(engine).has_table(name)
    metadata = MetaData()
    if existing:
        table = Table(name, metadata, autoload_with=engine)
        missing = [n for n in names if n not in table.c]
        if missing:
            raise DeliveryFailed(
                f"目标表 {name} 缺少列：{'、'.join(missing)}（请补上这些列，或删除该表由平台重建）"
            )
        return table
    columns = [
        Column(
            n,
            _column_type(types.get(n, "C"), key=n in keys, masked=grant.masking.get(n, "none") != "none"),
            primary_key=n in keys,
            nullable=n not in keys,
        )
        for n in names
    ]
    table = Table(name, metadata, *columns)
    metadata.create_all(engine, checkfirst=True)
    return table


def push_table(sub: Subscription, grant: Grant, data: ResourceData, changes: list[dict[str, Any]]) -> None:
    """One version into the consumer's table in one transaction: delete the changed keys, insert new rows."""
    engine = _target_engine(str(sub.target["url"]))
    try:
        table = consumer_table(engine, str(sub.target["table"]), grant, data)
        keys = [k for k in data.key_columns if k in table.c]
        types = {str(c["name"]): str(c.get("data_type") or "C") for c in data.columns}
        masked = {c for c, p in grant.masking.items() if p != "none"}
        delete = table.delete().where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in keys)))
        key_params = [
            {f"k_{k}": _typed(c["key"][k], types.get(k, "C"), False) for k in keys} for c in changes
        ]
        rows = [
            {n: _typed(v, types.get(n, "C"), n in masked) for n, v in c["row"].items()}
            for c in changes
            if c["op"] != "D"
        ]
        with engine.begin() as conn:
            if key_params:
                conn.execute(delete, key_params)
            if rows:
                conn.execute(table.insert(), rows)
    except DeliveryFailed:
        raise
    except Exception as exc:  # the consumer's database: unreachable, refused, or a constraint
        raise DeliveryFailed(f"写入目标库失败：{exc.__class__.__name__}: {str(exc)[:300]}") from exc


def copy_table(
    session: Session, sub: Subscription, grant: Grant, data: ResourceData, batch: int = 5000
) -> None:
    """The first delivery of a table push: the whole granted view replaces the table's rows, in one
    transaction on the consumer's side, read in batches on ours."""
    names = granted_columns(grant, data)
    types = {str(c["name"]): str(c.get("data_type") or "C") for c in data.columns}
    policies = {c: p for c, p in grant.masking.items() if c in names and p != "none"}
    engine = _target_engine(str(sub.target["url"]))
    try:
        table = consumer_table(engine, str(sub.target["table"]), grant, data)
        result = session.execute(
            text(f"SELECT {', '.join(_quote(n) for n in names)} FROM {_quote(data.table_name)}")
        )
        with engine.begin() as conn:
            conn.execute(table.delete())
            while chunk := result.fetchmany(batch):
                rows = [masking.mask_row(dict(zip(names, r, strict=True)), policies) for r in chunk]
                conn.execute(
                    table.insert(),
                    [{n: _typed(v, types.get(n, "C"), n in policies) for n, v in r.items()} for r in rows],
                )
    except DeliveryFailed:
        raise
    except Exception as exc:
        raise DeliveryFailed(f"写入目标库失败：{exc.__class__.__name__}: {str(exc)[:300]}") from exc


# ---- one subscription ------------------------------------------------------------------------------------
def _lock(session: Session, subscription_id: int) -> Subscription | None:
    query = select(Subscription).where(Subscription.id == subscription_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # another worker is delivering it: leave it
    return session.scalars(query.execution_options(populate_existing=True)).first()


def _record_attempt(
    session: Session, sub: Subscription, grant: Grant, data: ResourceData, version: int, rows: int
) -> None:
    """What leaves the platform is recorded before it leaves (statistics, quota and audit)."""
    items = granted_columns(grant, data)
    session.add(
        DataAccess(
            grant_id=grant.id,
            resource_id=grant.resource_id,
            provider_department_id=grant.provider_department_id,
            consumer_department_id=grant.consumer_department_id,
            application_id=sub.application_id,
            kind=AccessKind.delivery.value,
            rows=rows,
            items=items,
        )
    )
    # counted in the day's usage; a delivery is not refused for the quota, which limits what
    # applications look up
    count_usage(session, grant.id, rows)
    audit.record(
        session,
        None,
        "exchange.delivery",
        actor_name=f"订阅推送#{sub.id}",
        summary=f"向使用部门推送第 {version} 版变更 {rows} 条",
        object_type="subscription",
        object_id=sub.id,
        detail={
            "grant_id": grant.id,
            "consumer_department_id": grant.consumer_department_id,
            "application_id": sub.application_id,
            "purpose": grant.purpose,
            "items": items,
            "rows": rows,
            "version": version,
            "kind": sub.kind,
        },
    )


def _fail(sub: Subscription, message: str, now: datetime) -> None:
    sub.attempts = (sub.attempts or 0) + 1
    sub.next_attempt_at = now + backoff(sub.attempts)
    sub.last_error = message[:2000]


def _copy_first(session: Session, sub: Subscription, grant: Grant, data: ResourceData, now: datetime) -> bool:
    """The initial copy; acknowledged as the version read *before* copying, so changes committed meanwhile
    are sent again afterwards (idempotent in the table) rather than missed."""
    subscription_id, version = sub.id, data.data_version
    rows = int(session.scalar(text(f"SELECT count(*) FROM {_quote(data.table_name)}")) or 0)
    _record_attempt(session, sub, grant, data, version, rows)
    session.commit()
    try:
        copy_table(session, sub, grant, data)
    except DeliveryFailed as exc:
        session.rollback()
        locked = _lock(session, subscription_id)
        if locked is not None:
            _fail(locked, str(exc), now)
        session.commit()
        return False
    locked = _lock(session, subscription_id)
    if locked is None:
        return False
    locked.target = {**locked.target, "copied": True}
    locked.acked_version = max(locked.acked_version, version)
    locked.attempts, locked.next_attempt_at, locked.last_error = 0, None, ""
    locked.last_delivered_at = utcnow()
    session.commit()
    return True


def deliver(session: Session, subscription_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Deliver the subscription's unacknowledged versions in order until caught up, a failure or
    ``VERSIONS_PER_RUN``; commits after each step (a job boundary). Returns what happened."""
    now = now or utcnow()
    delivered: list[int] = []
    for _ in range(VERSIONS_PER_RUN):
        sub = _lock(session, subscription_id)
        if sub is None or sub.status != SubscriptionStatus.active.value:
            break
        if sub.next_attempt_at is not None and sub.next_attempt_at > now:
            break  # backing off
        # fresh reads each round: a revocation or a new load committed meanwhile counts at once
        grant = session.get(Grant, sub.grant_id, populate_existing=True)
        why = grant_is_live(grant) if grant else "授权不存在"
        if grant is None or why:
            sub.status = SubscriptionStatus.stopped.value
            sub.last_error = f"{why}，订阅已停止"
            session.commit()
            break
        data = session.scalar(
            select(ResourceData)
            .where(ResourceData.resource_id == grant.resource_id)
            .execution_options(populate_existing=True)
        )
        if data is None or data.data_version <= sub.acked_version:
            session.commit()
            break
        if sub.kind == SubscriptionKind.table.value and not sub.target.get("copied"):
            if _copy_first(session, sub, grant, data, now):
                delivered.append(data.data_version)
                continue
            return {
                "subscription_id": subscription_id,
                "delivered": delivered,
                "failed": 0,
                "error": sub.last_error,
            }
        version = next_version(session, data, sub.acked_version)
        if version is None:  # later versions changed nothing (or only the baseline): nothing to send
            sub.acked_version = data.data_version
            session.commit()
            continue
        changes = read_changes(session, grant, data, version)
        resource_code = session.scalar(select(Resource.code).where(Resource.id == grant.resource_id)) or ""
        _record_attempt(session, sub, grant, data, version, len(changes))
        session.commit()  # recorded before the data leaves; the row lock (PostgreSQL) is released here
        try:
            if sub.kind == SubscriptionKind.webhook.value:
                post_webhook(sub, version, webhook_body(sub, resource_code, version, changes))
            else:
                push_table(sub, grant, data, changes)
        except DeliveryFailed as exc:
            sub = _lock(session, subscription_id)
            if sub is not None:
                _fail(sub, str(exc), now)
            session.commit()
            log.info("subscription %s version %s not delivered: %s", subscription_id, version, exc)
            return {
                "subscription_id": subscription_id,
                "delivered": delivered,
                "failed": version,
                "error": str(exc),
            }
        sub = _lock(session, subscription_id)
        if sub is None:
            break
        if sub.acked_version < version:  # a concurrent run may have acknowledged it already
            sub.acked_version = version
        sub.attempts = 0
        sub.next_attempt_at = None
        sub.last_error = ""
        sub.last_delivered_at = utcnow()
        session.commit()
        delivered.append(version)
    return {"subscription_id": subscription_id, "delivered": delivered}


# ---- the worker ------------------------------------------------------------------------------------------
def due_subscriptions(session: Session, now: datetime) -> Iterable[Subscription]:
    """Active subscriptions not backing off whose resource has a version they have not acknowledged."""
    return session.scalars(
        select(Subscription)
        .join(Grant, Grant.id == Subscription.grant_id)
        .join(ResourceData, ResourceData.resource_id == Grant.resource_id)
        .where(
            Subscription.status == SubscriptionStatus.active.value,
            (Subscription.next_attempt_at.is_(None)) | (Subscription.next_attempt_at <= now),
            ResourceData.data_version > Subscription.acked_version,
        )
        .order_by(Subscription.id)
    )


@jobs.on_tick
def enqueue_due_deliveries(session: Session, now: datetime) -> None:
    # the key names the subscription's state: one job per state, a new one once it moved on or failed
    for sub in due_subscriptions(session, now):
        jobs.enqueue(
            session,
            JOB_KIND,
            {"subscription_id": sub.id, "now": now.isoformat()},
            run_at=now,
            key=f"subscription:{sub.id}:{sub.acked_version}:{sub.attempts}",
        )


@jobs.handler(JOB_KIND)
def _deliver_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(payload["now"]) if payload.get("now") else None
    return deliver(session, int(payload["subscription_id"]), now=now)
