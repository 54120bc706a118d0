"""The fast path of key lookups (按主键查询快速通道) on PostgreSQL.

Lookups by key are most of a sharing platform's traffic (one person's record per case handled). Through
the general path each costs several milliseconds of server CPU (routing, dependency injection, thread
hand-offs, an ORM unit of work of seven statements). This path gives the same answer, after the same
checks, with the same records, in one statement and no thread hand-off, for the common case only:
``GET /api/v1/data/{ref}/records?key=…`` called with an API key. Every other request, and every call this
path is not sure of, goes on unchanged to the application, which answers or refuses as ever (delegated).

* **The decision is the general path's.** Who the key acts for (``web.deps.api_key_principal``), the role,
  the live grant, the granted items and the masking (``service.open_access``) are worked out by that code,
  once per key and resource, in one REPEATABLE READ snapshot, and kept as a plan with a fingerprint of
  every row the decision read: the ``xmin`` (the transaction that wrote the row version) of the key, its
  user, its application, the resource, its data plane record and each grant of the resource to the
  department.
* **Each call checks the plan in the statement that reads the record.** The fingerprint is read again in
  the same snapshot as the row: if any of those rows changed (a grant revoked or added, a key revoked, an
  application retired, a user deactivated or moved, a new load) the plan is dropped and the call delegated,
  so a revocation stops access at once, as on the general path. Plans also end with the day (grants start
  and expire by date) and when the key's last use is due to be noted (the general path notes it). The
  grant's daily quota is read in the same statement; a call that would pass it is delegated (and refused).
* **Recorded before the answer leaves.** The access record (usage, DataAccess, audit event: the general
  path's values, ``service.access_record``) is written by a recorder thread that commits the records of
  concurrent calls together (group commit); a call's answer is sent only once its record is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from urllib.parse import parse_qsl

import anyio.to_thread
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine
from starlette.datastructures import Headers

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import require_role
from jutong.core.db import utcnow
from jutong.core.errors import AppError
from jutong.exchange import service
from jutong.exchange.api import DATA_ROLES
from jutong.ingest.models import ResourceData
from jutong.registry.accounts import key_use_due
from jutong.registry.models import ApiKey, User
from jutong.sharing.models import AccessKind, Application, Grant, GrantUsage
from jutong.web.deps import api_key_principal, bearer_token

log = logging.getLogger("jutong.fast_lookup")

PREFIX = "/api/v1/data/"
SUFFIX = "/records"
MAX_KEY_VALUES = 8  # as the general path's query parameter
POOL_SIZE = 8  # connections per worker process
MAX_PLANS = 10_000  # (key, resource) pairs kept per worker process
RECORD_BATCH = 512  # records committed together at most

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _name(model: Any) -> str:
    return service.q(cast(Table, model.__table__).name)


def _sql_safe(identifier: str) -> str:
    return identifier.replace("%", "%%")  # the driver's placeholders start with %


def _fingerprint_sql() -> tuple[str, str]:
    """The fingerprint of the rows a lookup's decision reads, and the FROM clause it reads them in."""
    fingerprint = (
        "concat_ws('/', k.xmin, u.xmin, a.xmin, r.xmin, rd.xmin, "
        "(SELECT string_agg(g.id::text || ':' || g.xmin::text, ',' ORDER BY g.id) "
        f"FROM {_name(Grant)} g WHERE g.resource_id = r.id AND g.consumer_department_id = %(department)s))"
    )
    source = (
        f"FROM {_name(ApiKey)} k JOIN {_name(User)} u ON u.id = k.user_id "
        f"LEFT JOIN {_name(Application)} a ON a.id = k.application_id "
        f"JOIN {_name(Resource)} r ON r.id = %(resource)s "
        f"JOIN {_name(ResourceData)} rd ON rd.resource_id = r.id"
    )
    return fingerprint, source


def _lookup_sql(access: service.Access) -> str:
    """One statement: the fingerprint, the data version, today's usage (if there is a quota) and the
    record's granted items (``_found`` tells a missing record from one whose items are all empty)."""
    fingerprint, source = _fingerprint_sql()
    used = (
        f"(SELECT COALESCE(SUM(rows), 0) FROM {_name(GrantUsage)} WHERE grant_id = %(grant)s AND day = %(day)s)"
        if access.grant.daily_quota is not None
        else "NULL::bigint"
    )
    items = "".join(f", {_sql_safe(service.q(c))}" for c in access.columns)
    where = " AND ".join(f"{_sql_safe(service.q(k))} = %(k{i})s" for i, k in enumerate(access.keys))
    record = f"SELECT 1 AS _found{items} FROM {_sql_safe(access.table)} WHERE {where}"
    return (
        f"SELECT {fingerprint}, rd.data_version, {used}, d.* {source} "
        f"LEFT JOIN LATERAL ({record}) d ON true WHERE k.id = %(key)s"
    )


@dataclass(frozen=True)
class Plan:
    """The general path's decision for one key on one resource, and what it was made from."""

    access: service.Access  # its resource, grant and data plane record are detached copies
    key_row_id: int
    key_noted: datetime | None  # the key's last use as stored
    fingerprint: str
    day: date
    sql: str


def lookup_target(scope: Scope) -> tuple[str, str, list[str]] | None:
    """(API key, resource reference, key values) of a lookup this path may answer, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path = str(scope["path"]).removeprefix(str(scope.get("root_path") or ""))
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)) or len(path) <= len(PREFIX) + len(SUFFIX):
        return None
    token = bearer_token(Headers(scope=scope))
    if not token:
        return None  # a page session: the general path
    keys = [
        value
        for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if name == "key"
    ]
    if len(keys) > MAX_KEY_VALUES or any(len(v) > service.MAX_VALUE_CHARS for v in keys):
        return None  # refused there, with the request's own 422
    return token, path[len(PREFIX) : -len(SUFFIX)], keys


class Recorder:
    """Commits access records of concurrent calls together, in a thread of its own (group commit)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None  # kept between batches: no checkout and ping each time
        self._queue: queue.SimpleQueue[tuple[service.AccessRecord, asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="access-recorder", daemon=True)
        self.commits = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self._connection is not None:
            self._connection.close()

    async def record(self, record: service.AccessRecord) -> None:
        """Returns once ``record`` is committed; raises what the commit raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((record, done))
        await done

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < RECORD_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: Sequence[tuple[service.AccessRecord, asyncio.Future[None]]]) -> None:
        error: BaseException | None = None
        try:
            self._write([r for r, _ in batch])
            self.commits += 1
        except Exception as exc:  # each waiting call hears of it and is delegated, nothing is answered
            log.exception("快速通道：访问记录写入失败")
            error = exc
            if self._connection is not None:
                self._connection.invalidate()  # the next batch starts on a new connection
                self._connection = None
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, done in batch:
            by_loop.setdefault(done.get_loop(), []).append(done)
        for loop, futures in by_loop.items():
            loop.call_soon_threadsafe(_settle, futures, error)

    def _write(self, records: list[service.AccessRecord]) -> None:
        if self._connection is None:
            self._connection = self._engine.connect()
        with self._connection.begin():
            service.record_accesses(self._connection, "postgresql", records)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in futures:
        if done.done():  # the caller went away
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class FastLookups:
    """The plans, the connection pool and the recorder of one worker process."""

    def __init__(self, engine: Engine, session_factory: Callable[[], Any]) -> None:
        self._session_factory = session_factory
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0},
            name="jutong-fast-lookups",
        )
        self.recorder = Recorder(engine)
        self._plans: dict[tuple[bytes, str], Plan] = {}
        self._planning: dict[tuple[bytes, str], asyncio.Future[Plan | None]] = {}
        self.enabled = True
        self.served = 0
        self.delegated = 0

    async def open(self) -> None:
        await self._pool.open(wait=False)
        self.recorder.start()

    async def close(self) -> None:
        await self._pool.close()
        await anyio.to_thread.run_sync(self.recorder.stop)

    # ---- the plan ----------------------------------------------------------------------------------------
    def _make_plan(self, token: str, ref: str) -> Plan | None:
        """The general path's decision in one snapshot, or None where it refuses (it will say why)."""
        session = self._session_factory()
        try:
            connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            principal, _application, key = api_key_principal(session, token, None, note_use=False)
            require_role(principal, *DATA_ROLES)
            access = service.open_access(session, principal, ref)
            params = {"key": key.id, "resource": access.resource.id, "department": principal.department_id}
            fingerprint, source = _fingerprint_sql()
            stamp = connection.exec_driver_sql(f"SELECT {fingerprint} {source} WHERE k.id = %(key)s", params)
            found = stamp.scalar_one_or_none()
            if found is None:
                return None
            session.expunge_all()  # the decision's rows stay readable after the session ends
            return Plan(access, key.id, key.last_used_at, str(found), clock.today(), _lookup_sql(access))
        except AppError:
            return None
        finally:
            session.rollback()
            session.close()

    async def _plan(self, cache_key: tuple[bytes, str], token: str, ref: str) -> Plan | None:
        pending = self._planning.get(cache_key)
        if pending is None:  # concurrent first calls of one key wait for one plan
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(self._make_plan, token, ref))
            self._planning[cache_key] = pending
            pending.add_done_callback(lambda _: self._planning.pop(cache_key, None))
        plan = await asyncio.shield(pending)
        if plan is not None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            self._plans[cache_key] = plan
        return plan

    # ---- the call ----------------------------------------------------------------------------------------
    async def answer(self, token: str, ref: str, keys: list[str], ip: str | None) -> bytes | None:
        """The lookup's JSON answer, recorded; None where the general path must answer."""
        cache_key = (hashlib.sha256(token.encode()).digest(), ref)
        plan = self._plans.get(cache_key) or await self._plan(cache_key, token, ref)
        if plan is None:
            return None
        today = clock.today()
        if plan.day != today or key_use_due(plan.key_noted, utcnow()):
            self._plans.pop(cache_key, None)
            return None
        access = plan.access
        try:
            params = service.key_params(access, keys)
        except AppError:
            return None
        params.update(
            key=plan.key_row_id,
            resource=access.resource.id,
            department=access.principal.department_id,
            grant=access.grant.id,
            day=today,
        )
        async with self._pool.connection() as connection:
            try:
                row = await (await connection.execute(plan.sql, params)).fetchone()
            except Exception:
                await connection.close()  # the pool replaces it: no prepared statement outlives a failure
                raise
        if row is None or row[0] != plan.fingerprint:
            self._plans.pop(cache_key, None)
            return None
        data_version, used, found = row[1], row[2], row[3] is not None
        quota = access.grant.daily_quota
        if quota is not None and used >= quota:
            return None  # refused there: the quota is used up
        record = None
        if found:
            record = access.mask(
                {c: service.jsonable(v) for c, v in zip(access.columns, row[4:], strict=True)}
            )
        await self.recorder.record(
            service.access_record(access, AccessKind.lookup, int(found), ip=ip, found=found)
        )
        answer = {"found": found, "record": record, "data_version": data_version}
        return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class FastLookupMiddleware:
    """Answers the lookups ``FastLookups`` can answer; everything else goes on to the application."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], lookups: FastLookups) -> None:
        self.app, self.lookups = app, lookups

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = lookup_target(scope) if self.lookups.enabled else None
        if target is not None:
            client = scope.get("client")
            try:
                body = await self.lookups.answer(*target, client[0] if client else None)
            except Exception:  # nothing was recorded or sent: the general path answers, or says what failed
                log.exception("快速通道出错，改由常规路径处理")
                body = None
            if body is not None:
                self.lookups.served += 1
                headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            self.lookups.delegated += 1
        await self.app(scope, receive, send)
