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
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jutong.core import audit, db
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import Forbidden, NotAuthenticated
from jutong.core.security import new_csrf_token, tokens_match
from jutong.registry import accounts

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
                await run_in_threadpool(uow.finish, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            await run_in_threadpool(uow.close)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def unit_of_work(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


def keep_on_error(request: Request) -> None:
    """Store what this request wrote (its audit of the failure) even though it answers with an error."""
    unit_of_work(request).keep_on_error = True


def get_db(request: Request) -> Session:
    return unit_of_work(request).session


DbSession = Annotated[Session, Depends(get_db)]


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """API key (Authorization: Bearer / X-API-Key) or the page session; None when neither."""
    ip = client_ip(request)
    token = _bearer_token(request)
    if token:
        found = accounts.resolve_api_key(session, token)
        if found is None:
            raise NotAuthenticated("API 密钥无效、已吊销或已停用", code="api_key_invalid")
        user, key = found
        principal = accounts.principal_for(
            user, via="api_key", ip=ip, api_key_id=key.id, application_id=key.application_id
        )
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
    if principal.via == "session" and request.method not in SAFE_METHODS:
        await check_csrf(request)
    return principal


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


def roles(*allowed: Role) -> Callable[[Principal], Principal]:
    """Dependency factory: the principal, if their role is one of ``allowed``."""

    def dependency(principal: CurrentPrincipal) -> Principal:
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
