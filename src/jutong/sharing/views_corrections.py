"""Pages: corrections (纠错) at /sharing/corrections — report, answer, follow up the overdue ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import Principal, Role
from jutong.core.errors import AppError, Forbidden
from jutong.registry.models import Department
from jutong.sharing import corrections
from jutong.sharing.models import Correction, CorrectionStatus
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm, record_read
from jutong.web.pages import redirect, render

router = APIRouter(prefix="/sharing/corrections", include_in_schema=False)
AUDITED = [Depends(record_read)]
STATUS_LABELS = {s.value: s.label for s in CorrectionStatus}
_DONE = {"reported": "纠错已提交，等待提供部门答复", "answered": "已答复"}


def _names(session: Session, found: list[Correction]) -> dict[str, dict[int, str]]:
    resource_ids = {c.resource_id for c in found}
    department_ids = {c.provider_department_id for c in found} | {c.consumer_department_id for c in found}
    resources = session.execute(select(Resource.id, Resource.name).where(Resource.id.in_(resource_ids)))
    departments = session.execute(
        select(Department.id, Department.name).where(Department.id.in_(department_ids))
    )
    return {
        "resources": {int(i): str(n) for i, n in resources},
        "departments": {int(i): str(n) for i, n in departments},
    }


def _can_answer(principal: Principal, c: Correction) -> bool:
    if c.status != CorrectionStatus.open.value:
        return False
    return principal.role == Role.operator or (
        principal.role == Role.steward and principal.department_id == c.provider_department_id
    )


def _list_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    overdue: bool,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    today = clock.today()
    found = corrections.list_corrections(
        session, principal, status=status or None, overdue=overdue or None, today=today
    )
    overdue_list = (
        corrections.overdue_corrections(session, today)
        if principal.role in (Role.operator, Role.auditor)
        else []
    )
    context: dict[str, Any] = {
        "corrections": found,
        "overdue_list": overdue_list,
        "names": _names(session, found + overdue_list),
        "today": today,
        "is_overdue": corrections.is_overdue,
        "statuses": list(CorrectionStatus),
        "status_labels": STATUS_LABELS,
        "status": status or "",
        "overdue_only": overdue,
        "reportable": corrections.reportable(session, principal, today),
        "answer_days": corrections.answer_days(session),
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/corrections.html", context, principal=principal, status_code=status_code)


@router.get("", response_class=HTMLResponse, dependencies=AUDITED)
def corrections_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status: Annotated[str | None, Query(max_length=20)] = None,
    overdue: Annotated[bool, Query()] = False,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    flashes = [_DONE[done]] if done in _DONE else []
    return _list_page(request, session, principal, status=status, overdue=overdue, flashes=flashes)


@router.post("", response_class=HTMLResponse)
def report_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:

    def field(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        resource_id = int(field("resource_id") or "0")
    except ValueError:
        resource_id = 0
    # key inputs are named key.<column>
    record_key = {
        str(k)[4:]: str(v) for k, v in form.items() if str(k).startswith("key.") and isinstance(v, str)
    }
    try:
        found = corrections.report(
            session,
            principal,
            resource_id=resource_id,
            record_key=record_key,
            column_name=field("column_name"),
            note=field("note"),
            evidence=field("evidence"),
        )
    except AppError as exc:
        if isinstance(exc, Forbidden) and exc.code != "correction_no_grant":
            raise
        return _list_page(
            request, session, principal, status=None, overdue=False, errors=[exc.message],
            status_code=exc.status_code,
        )  # fmt: skip
    return redirect(f"/sharing/corrections/{found.id}?done=reported")


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    c: Correction,
    *,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "c": c,
        "names": _names(session, [c]),
        "overdue": corrections.is_overdue(c),
        "status_labels": STATUS_LABELS,
        "can_answer": _can_answer(principal, c),
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/correction.html", context, principal=principal, status_code=status_code)


@router.get("/{correction_id}", response_class=HTMLResponse, dependencies=AUDITED)
def correction_page(
    request: Request,
    correction_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    c = corrections.get_correction(session, principal, correction_id)
    return _detail(request, session, principal, c, flashes=[_DONE[done]] if done in _DONE else [])


@router.post("/{correction_id}/answer", response_class=HTMLResponse)
def answer_form(
    request: Request,
    correction_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=corrections.NOTE_MAX)] = "",
) -> Response:
    try:
        corrections.answer(session, principal, correction_id, decision=decision, reason=reason)
    except AppError as exc:
        if isinstance(exc, Forbidden) or exc.status_code == 404:
            raise
        c = corrections.get_correction(session, principal, correction_id)
        return _detail(request, session, principal, c, errors=[exc.message], status_code=exc.status_code)
    return redirect(f"/sharing/corrections/{correction_id}?done=answered")
