"""Pages: subscriptions (订阅推送) under /sharing/subscriptions.

- ``/sharing/subscriptions``: the department's subscriptions (what it receives) with how far each got,
  and the form to subscribe to one of its live grants; stewards also see, read-only, who subscribes to
  their department's resources; operators and auditors see all;
- ``/sharing/subscriptions/{id}``: one subscription with its delivery history (from the audit log), and
  cancel. The webhook secret is shown once, on the answer to the creation, never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jutong.catalog.models import Resource
from jutong.core.auth import Principal, Role
from jutong.core.errors import AppError, Forbidden
from jutong.exchange import subscriptions
from jutong.registry.models import Department
from jutong.sharing.models import Application, Grant, Subscription, SubscriptionKind, SubscriptionStatus
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm, record_read
from jutong.web.pages import redirect, render

router = APIRouter(prefix="/sharing/subscriptions", include_in_schema=False)
AUDITED = [Depends(record_read)]
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
KIND_LABELS = {k.value: k.label for k in SubscriptionKind}
STATUS_LABELS = {s.value: s.label for s in SubscriptionStatus}
_DONE = {"cancelled": "订阅已取消，不再推送"}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _rows(session: Session, subs: list[Subscription]) -> list[dict[str, Any]]:
    """What the tables show of each subscription: names, the masked target and how far it got."""
    found = {s.grant_id for s in subs}
    grants = {g.id: g for g in session.scalars(select(Grant).where(Grant.id.in_(found)))} if found else {}
    resource_ids = {g.resource_id for g in grants.values()}
    resources = (
        {
            int(i): str(n)
            for i, n in session.execute(
                select(Resource.id, Resource.name).where(Resource.id.in_(resource_ids))
            )
        }
        if resource_ids
        else {}
    )
    departments = {int(i): str(n) for i, n in session.execute(select(Department.id, Department.name))}
    app_ids = {s.application_id for s in subs if s.application_id}
    apps = (
        {
            int(i): str(n)
            for i, n in session.execute(
                select(Application.id, Application.name).where(Application.id.in_(app_ids))
            )
        }
        if app_ids
        else {}
    )
    versions = subscriptions.data_versions(session, resource_ids)
    out = []
    for s in subs:
        grant = grants.get(s.grant_id)
        resource_id = grant.resource_id if grant else 0
        out.append(
            {
                "sub": s,
                "resource": resources.get(resource_id, str(resource_id)),
                "consumer": departments.get(grant.consumer_department_id, "") if grant else "",
                "provider": departments.get(grant.provider_department_id, "") if grant else "",
                "application": apps.get(s.application_id or 0, ""),
                "kind": KIND_LABELS.get(s.kind, s.kind),
                "status": STATUS_LABELS.get(s.status, s.status),
                "target": subscriptions.target_label(s),
                "current_version": versions.get(resource_id, 0),
            }
        )
    return out


def _grant_choices(session: Session, principal: Principal) -> list[dict[str, Any]]:
    live = subscriptions.subscribable_grants(session, principal)
    ids = {g.resource_id for g in live}
    names = (
        {
            int(i): str(n)
            for i, n in session.execute(select(Resource.id, Resource.name).where(Resource.id.in_(ids)))
        }
        if ids
        else {}
    )
    apps = {
        int(i): str(n)
        for i, n in session.execute(
            select(Application.id, Application.name).where(
                Application.department_id == principal.department_id, Application.retired_at.is_(None)
            )
        )
    }
    return [
        {
            "grant": g,
            "resource": names.get(g.resource_id, str(g.resource_id)),
            # a grant naming no application allows any of the department's
            "apps": [(a, apps.get(a, str(a))) for a in g.application_ids] or sorted(apps.items()),
        }
        for g in live
    ]


def _list_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    everyone = principal.role in (Role.operator, Role.auditor)
    own = subscriptions.list_subscriptions(session, principal)
    provided = [] if everyone else subscriptions.provided_subscriptions(session, principal)
    context: dict[str, Any] = {
        "everyone": everyone,
        "own": _rows(session, own),
        "provided": _rows(session, provided),
        "choices": _grant_choices(session, principal),
        "can_create": principal.role in (Role.consumer, Role.steward),
        "values": values or {"kind": "webhook"},
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(
        request, "sharing/subscriptions.html", context, principal=principal, status_code=status_code
    )


@router.get("", response_class=HTMLResponse, dependencies=AUDITED)
def subscriptions_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _list_page(request, session, principal, flashes=[_DONE[done]] if done in _DONE else [])


@router.post("", response_class=HTMLResponse)
def create_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    values = {
        name: _field(form, name)
        for name in ("grant_id", "kind", "url", "database_url", "table", "application_id")
    }
    return _create(request, session, principal, values)


def _create(request: Request, session: Session, principal: Principal, values: dict[str, str]) -> Response:
    kind = values["kind"]
    try:
        created = subscriptions.create_subscription(
            session,
            principal,
            grant_id=_number(values["grant_id"]) or 0,
            kind=kind,
            url=values["database_url"] if kind == SubscriptionKind.table.value else values["url"],
            table=values["table"] or None,
            application_id=_number(values["application_id"]),
        )
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        # the database URL may hold a password: it is not echoed back into the form
        values["database_url"] = ""
        return _list_page(
            request, session, principal, values=values, errors=[exc.message], status_code=exc.status_code
        )
    # the secret is shown on this answer only (no redirect that could lose or repeat it)
    return _detail(request, session, principal, created.subscription, secret=created.secret)


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    sub: Subscription,
    *,
    secret: str = "",
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    grant = session.get(Grant, sub.grant_id)
    consumer_side = grant is not None and principal.department_id == grant.consumer_department_id
    context: dict[str, Any] = {
        "row": _rows(session, [sub])[0],
        "grant": grant,
        "history": subscriptions.history(session, sub),
        "secret": secret,
        "can_cancel": sub.status != SubscriptionStatus.stopped.value
        and (
            principal.role == Role.operator
            or (principal.role in (Role.consumer, Role.steward) and consumer_side)
        ),
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/subscription.html", context, principal=principal, status_code=status_code)


@router.get("/{subscription_id}", response_class=HTMLResponse, dependencies=AUDITED)
def subscription_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    subscription_id: PathId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    sub = subscriptions.get_subscription(session, principal, subscription_id, provider_reads=True)
    return _detail(request, session, principal, sub, flashes=[_DONE[done]] if done in _DONE else [])


@router.post("/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, subscription_id: PathId
) -> Response:
    try:
        subscriptions.cancel_subscription(session, principal, subscription_id)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        sub = subscriptions.get_subscription(session, principal, subscription_id)
        return _detail(request, session, principal, sub, errors=[exc.message], status_code=exc.status_code)
    return redirect(f"/sharing/subscriptions/{subscription_id}?done=cancelled")
