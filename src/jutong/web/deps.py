"""Request dependencies shared by every router: the unit of work and the acting principal.

The unit of work commits before the response is sent, so every audit event added during the
request is stored before anyone sees the answer. A request refused for lack of rights rolls
back its changes but still stores the refusal in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from jutong.core import audit, db
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import AppError, Forbidden, NotAuthenticated
from jutong.core.security import tokens_match
from jutong.registry import accounts

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Tests replace this to run each request inside their rolled-back transaction.
session_factory: Callable[[], Session] = db.new_session


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_db(request: Request) -> Iterator[Session]:
    session = session_factory()
    request.state.db = session
    try:
        yield session
        session.commit()
    except Forbidden as exc:
        session.rollback()
        _record_refusal(session, request, exc)
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _record_refusal(session: Session, request: Request, exc: AppError) -> None:
    principal: Principal | None = getattr(request.state, "principal", None)
    audit.record(
        session,
        principal,
        "access.denied",
        summary=f"拒绝 {request.method} {request.url.path}：{exc.message}",
        outcome="denied",
        object_type="route",
        object_id=request.url.path[:64],
        detail={"method": request.method, "path": request.url.path, "code": exc.code},
        ip=client_ip(request),
    )
    session.commit()


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
        principal = accounts.principal_for(user, via="api_key", ip=ip, api_key_id=key.id)
    else:
        user_id = request.session.get("user_id")
        if user_id is None:
            return None
        user = session.get(accounts.User, user_id)
        if user is None or not user.active:
            request.session.clear()
            return None
        principal = accounts.principal_for(user, via="session", ip=ip)
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
        from jutong.core.security import new_csrf_token

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
