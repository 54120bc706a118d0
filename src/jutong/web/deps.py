"""Request dependencies shared by every router: the unit of work and the acting principal.

Each HTTP request has one unit of work (``UnitOfWork``), opened on first use and committed by
``UnitOfWorkMiddleware`` just before the response starts, so every audit event written during the
request is stored before anyone sees the answer, and a failed commit becomes an error response
instead of a silent loss. (FastAPI runs the exit code of ``yield`` dependencies only after the
response is sent, too late for that promise.) A request refused for lack of rights rolls back its
changes but still stores the refusal in the audit log (see ``web.app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Annotated, Any

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers

from jutong.core import audit, db
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import Forbidden, NotAuthenticated
from jutong.core.security import new_csrf_token, tokens_match
from jutong.registry import accounts
from jutong.registry.models import ApiKey
from jutong.sharing.models import Application

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Tests replace this to run each request inside their rolled-back transaction.
session_factory: Callable[[], Session] = db.new_session

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class UnitOfWork:
    """One request's database session.

    Committed when the response is a success; rolled back when the request failed or the response
    is an error (a page that catches an error and shows it must not leave half its work behind),
    unless ``keep_on_error`` was set by code that deliberately records the failure (a refused
    request, a failed sign-in).
    """

    def __init__(self) -> None:
        self._session: Session | None = None
        self.failed = False
        self.keep_on_error = False

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = session_factory()
        return self._session

    @property
    def opened(self) -> bool:
        return self._session is not None

    @property
    def idle(self) -> bool:
        """No transaction open (never used, or committed and not used since): closing does no I/O."""
        return self._session is None or not self._session.in_transaction()

    def finish(self, status: int) -> None:
        if self._session is None:
            return
        if self.failed or (status >= 400 and not self.keep_on_error):
            self._session.rollback()
        else:
            self._session.commit()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # rolls back whatever was not committed
            self._session = None


_finish_limiter: RunVar[anyio.CapacityLimiter] = RunVar("jutong_finish_limiter")  # one per event loop


async def _finishing(func: Callable[..., None], *args: Any) -> None:
    """Commit or close a unit of work on threads of its own.

    Endpoints and dependencies share the default thread pool; when all its threads wait for a row
    lock (a usage slot, a key's last use) held by requests that have finished but not committed,
    those commits must not queue behind them for a thread, or the worker deadlocks. A commit never
    waits for a lock, so with threads of their own the holders always finish and let the others go."""
    try:
        limiter = _finish_limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(16)
        _finish_limiter.set(limiter)
    await anyio.to_thread.run_sync(func, *args, limiter=limiter)


class UnitOfWorkMiddleware:
    """Commits the request's unit of work before the first byte of the response is sent."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        uow = UnitOfWork()
        scope.setdefault("state", {})["uow"] = uow

        async def send_after_commit(message: Message) -> None:
            if message["type"] == "http.response.start" and uow.opened:
                await _finishing(uow.finish, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            if uow.idle:
                uow.close()  # nothing to roll back: no waiting, so no hand-off to the thread pool
            else:
                await _finishing(uow.close)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def unit_of_work(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


def keep_on_error(request: Request) -> None:
    """Store what this request wrote (its audit of the failure) even though it answers with an error."""
    unit_of_work(request).keep_on_error = True


async def get_db(request: Request) -> Session:
    # async although it does no waiting: FastAPI runs a plain ``def`` dependency in the thread pool,
    # a hand-off that costs more than the work (the session connects on its first query)
    return unit_of_work(request).session


DbSession = Annotated[Session, Depends(get_db)]


def bearer_token(headers: Headers) -> str | None:
    """The API key of a request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return headers.get("x-api-key")


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """API key (Authorization: Bearer / X-API-Key) or the page session; None when neither."""
    # the database work runs in the thread pool: blocking the event loop on it would stall every other
    # request of this worker, including the commit of the one holding a lock this one waits for
    principal = await run_in_threadpool(_resolve_principal, request, session)
    if principal is None:
        return None
    if principal.via == "session" and request.method not in SAFE_METHODS:
        await check_csrf(request)
    return principal


def _resolve_principal(request: Request, session: Session) -> Principal | None:
    ip = client_ip(request)
    token = bearer_token(request.headers)
    # nearly every request writes after it reads (an audited read, a refusal, a data access record): on
    # SQLite its transaction takes the write lock at its start (core.db), here off the event loop
    session.connection(execution_options={db.WRITE_INTENT: True})
    if token:
        principal, application, _key = api_key_principal(session, token, ip)
        if application is not None:
            request.state.principal = principal  # the refusal below names the application's key
            check_application_scope(request, application)
    else:
        user_id = request.session.get("user_id")
        if user_id is None:
            return None
        session_user = session.get(accounts.User, user_id)
        if (
            session_user is None
            or not session_user.active
            or request.session.get("sv") != session_user.session_version
        ):
            request.session.clear()
            return None
        principal = accounts.principal_for(session_user, via="session", ip=ip)
    request.state.principal = principal  # known before any refusal, so the audit names who was refused
    return principal


def api_key_principal(
    session: Session, token: str, ip: str | None, *, note_use: bool = True
) -> tuple[Principal, Application | None, ApiKey]:
    """Who calls with this API key: its user, or its application acting for the application's department.
    NotAuthenticated for an unknown, wrong, revoked or deactivated key, or one of a retired application."""
    found = accounts.resolve_api_key(session, token, note_use=note_use)
    if found is None:
        raise NotAuthenticated("API 密钥无效、已吊销或已停用", code="api_key_invalid")
    user, key = found
    principal = accounts.principal_for(user, via="api_key", ip=ip, api_key_id=key.id)
    if key.application_id is None:
        return principal, None, key
    application = session.get(Application, key.application_id)
    if application is None or application.retired_at is not None:
        # retiring revokes the keys too; this holds even for a key that was missed
        raise NotAuthenticated("API 密钥无效、已吊销或已停用", code="api_key_invalid")
    # it acts for its application's department, whatever became of the person who issued it
    principal = replace(principal, application_id=application.id, department_id=application.department_id)
    return principal, application, key


# What an application's key may call (应用密钥的调用范围): the data services, its department's
# subscriptions, and reading the published catalog to find a resource's code and items. Everything else
# (editing the catalog, answering requests, keys, accounts, audit) needs a person or their own key, so a
# key leaked from an application's server can do no more than that application does. The path compared
# is the one the router matches (decoded, without the proxy's root path), so no spelling reaches another
# route: every path under /api/v1/data/ is a data service or a 404.
APPLICATION_ROUTES = ("/api/v1/data/", "/api/v1/subscriptions")
APPLICATION_READ_ROUTES = ("/api/v1/catalog/resources", "/api/v1/catalog/search")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def application_may_call(method: str, route_path: str) -> bool:
    if _under(route_path, APPLICATION_ROUTES):
        return True
    return method in SAFE_METHODS and _under(route_path, APPLICATION_READ_ROUTES)


def check_application_scope(request: Request, application: Application) -> None:
    """Refuses (403 ``api_key_scope``, audited as a refusal) what an application's key may not call."""
    route_path = str(request.scope["path"]).removeprefix(str(request.scope.get("root_path") or ""))
    if application_may_call(request.method, route_path):
        return
    raise Forbidden(
        f"该 API 密钥属于应用“{application.name}”，只能调用数据服务（/api/v1/data）、"
        "本部门的订阅（/api/v1/subscriptions）和查阅资源目录；其他操作请使用个人账号或个人密钥",
        code="api_key_scope",
        detail={"application_id": application.id, "method": request.method, "path": route_path},
    )


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise NotAuthenticated()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return str(token)


async def posted_form(request: Request) -> FormData:
    """The posted form, read on the event loop, so that the page handling it can be a plain ``def``:
    FastAPI runs those in the thread pool, and a handler must never wait for the database on the loop
    (every other request of the worker would wait with it, the commits that free its locks included)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


async def check_csrf(request: Request) -> None:
    """Forms carry the session's token as a hidden field; htmx and scripts send it as a header."""
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not tokens_match(expected, sent):
        raise Forbidden("表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试", code="csrf_failed")


def roles(*allowed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency factory: the principal, if their role is one of ``allowed``."""

    async def dependency(principal: CurrentPrincipal) -> Principal:  # no waiting: async spares a hand-off
        require_role(principal, *allowed)
        return principal

    return dependency


def record_read(request: Request, session: DbSession, principal: OptionalPrincipal) -> None:
    """Router dependency: every read of the routes it guards leaves an audit event (数据访问留痕).

    Attached to whole routers, so a new page or endpoint of theirs cannot forget it.
    """
    if request.method != "GET" or principal is None:
        return
    audit.record(
        session,
        principal,
        "data.read",
        summary=f"查阅 {request.url.path}",
        object_type="route",
        object_id=request.url.path[:64],
        detail={"path": request.url.path, "query": str(request.url.query)[:500]},
    )
