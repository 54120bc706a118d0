"""Pages every user has: sign-in, sign-out, home, own API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from jutong.core.security import tokens_match
from jutong.registry import accounts
from jutong.web.deps import CurrentPrincipal, DbSession, OptionalPrincipal, client_ip, keep_on_error
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    # only local paths: never bounce a fresh session to another site
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: OptionalPrincipal, next: str = "/") -> Response:
    if principal is not None:
        return redirect(_safe_next(next))
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not tokens_match(request.session.get("csrf"), csrf_token):
        return render(
            request,
            "login.html",
            {"error": "页面已过期，请重新输入后登录", "username": username},
            status_code=403,
        )
    try:
        user = accounts.sign_in(session, username, password, ip=client_ip(request))
    except accounts.TooManySignIns as exc:
        keep_on_error(request)
        return render(request, "login.html", {"error": exc.message, "username": username}, status_code=429)
    if user is None:
        keep_on_error(request)  # the failed attempt stays in the audit log
        return render(
            request,
            "login.html",
            {"error": "用户名或密码不正确", "username": username, "next": _safe_next(next)},
            status_code=401,
        )
    request.session.clear()  # a new session id on every sign-in
    request.session["user_id"] = user.id
    request.session["sv"] = user.session_version
    return redirect(_safe_next(next))


@router.post("/logout")
def logout(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    accounts.end_sessions(session, principal)
    request.session.clear()
    return redirect("/login")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return redirect("/login")
    department = (
        accounts.get_department(session, principal.department_id) if principal.department_id else None
    )
    return render(request, "home.html", {"department": department}, principal=principal)


def _keys_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, new_token: str | None
) -> Response:
    keys = accounts.list_api_keys(session, principal)
    owners = {u.id: u.username for u in accounts.list_users(session)}
    return render(
        request,
        "account/keys.html",
        {"keys": keys, "owners": owners, "new_token": new_token},
        principal=principal,
    )


@router.get("/account/keys", response_class=HTMLResponse)
def keys_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    return _keys_page(request, session, principal, None)


@router.post("/account/keys", response_class=HTMLResponse)
def create_key(
    request: Request, session: DbSession, principal: CurrentPrincipal, name: Annotated[str, Form()]
) -> Response:
    issued = accounts.issue_api_key(session, principal, name)
    return _keys_page(request, session, principal, issued.token)


@router.post("/account/keys/{key_id}/revoke")
def revoke_key(key_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    accounts.revoke_api_key(session, principal, key_id)
    return redirect("/account/keys")
