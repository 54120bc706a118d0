"""Pages: 整合清单 (plans with progress, targets, assignments) and 经费备案 (filing and review)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from jutong.core.auth import Principal, Role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.registry import plans
from jutong.registry.models import FilingKind, FilingReview, IntegrationState, SystemStatus
from jutong.web.deps import CurrentPrincipal, DbSession
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)
_RECOVERABLE = (ValidationFailed, Conflict, NotFound)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    progress = plans.list_plans(session, principal)
    return render(request, "plans/index.html", {"plans": progress}, principal=principal)


def _plan_page(
    request: Request,
    session: DbSession,
    principal: Principal,
    department_id: int,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    plan = plans.get_plan(session, principal, department_id)
    can_edit = principal.role == Role.operator or (
        principal.role == Role.steward and principal.department_id == department_id
    )
    context: dict[str, Any] = {
        "plan": plan,
        "can_edit": can_edit,
        "errors": errors or [],
        "states": dict(IntegrationState.choices()),
        "status_labels": dict(SystemStatus.choices()),
    }
    return render(request, "plans/detail.html", context, principal=principal, status_code=status_code)


@router.get("/plans/{department_id}", response_class=HTMLResponse)
def plan_page(
    department_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    return _plan_page(request, session, principal, department_id)


@router.post("/plans/{department_id}/targets", response_class=HTMLResponse)
def create_target(
    department_id: int,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    try:
        plans.create_target(session, principal, department_id, name=name, description=description)
    except _RECOVERABLE as exc:
        return _plan_page(
            request, session, principal, department_id, errors=[exc.message], status_code=exc.status_code
        )
    return redirect(f"/plans/{department_id}")


@router.post("/plans/systems/{system_id}/integration", response_class=HTMLResponse)
def set_integration(
    system_id: int,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: Annotated[int, Form()],
    state: Annotated[str, Form()],
    target_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        target = int(target_id) if target_id.strip() else None
        plans.set_integration(session, principal, system_id, target_id=target, state=state)
    except ValueError:
        return _plan_page(
            request, session, principal, department_id, errors=["请选择整合目标"], status_code=422
        )
    except _RECOVERABLE as exc:
        return _plan_page(
            request, session, principal, department_id, errors=[exc.message], status_code=exc.status_code
        )
    return redirect(f"/plans/{department_id}")


def _filings_page(
    request: Request,
    session: DbSession,
    principal: Principal,
    *,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "rows": plans.list_filings(session, principal),
        "systems": plans.filing_systems(session, principal) if principal.role == Role.steward else [],
        "kinds": FilingKind.choices(),
        "kind_labels": dict(FilingKind.choices()),
        "review_labels": dict(FilingReview.choices()),
        "results": [(r.value, r.label) for r in FilingReview if r != FilingReview.pending],
        "can_review": principal.role == Role.operator,
        "errors": errors or [],
        "form": form or {"fiscal_year": str(date.today().year + 1)},
    }
    return render(request, "filings/index.html", context, principal=principal, status_code=status_code)


@router.get("/filings", response_class=HTMLResponse)
def filings_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    return _filings_page(request, session, principal)


@router.post("/filings", response_class=HTMLResponse)
def create_filing(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    system_id: Annotated[int, Form()],
    kind: Annotated[str, Form()],
    fiscal_year: Annotated[int, Form()],
    amount: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        plans.create_filing(
            session,
            principal,
            system_id=system_id,
            kind=kind,
            fiscal_year=fiscal_year,
            amount=amount,
            note=note,
        )
    except _RECOVERABLE as exc:
        form = {
            "system_id": str(system_id),
            "kind": kind,
            "fiscal_year": str(fiscal_year),
            "amount": amount,
            "note": note,
        }
        return _filings_page(
            request, session, principal, errors=[exc.message], form=form, status_code=exc.status_code
        )
    return redirect("/filings")


@router.post("/filings/{filing_id}/review", response_class=HTMLResponse)
def review_filing(
    filing_id: int,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    result: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        plans.review_filing(session, principal, filing_id, result=result or None, note=note)
    except _RECOVERABLE as exc:
        return _filings_page(request, session, principal, errors=[exc.message], status_code=exc.status_code)
    return redirect("/filings")
