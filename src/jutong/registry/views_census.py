"""Pages of the system census: list with filters and import, form, detail with usage trend, statistics."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import AppError, Forbidden
from jutong.registry import accounts, census, census_import, census_io
from jutong.registry.census_fields import (
    SYSTEM_COLUMNS,
    USAGE_COLUMNS,
    CellError,
    Column,
    parse_cell,
    to_cell,
)
from jutong.registry.census_import import ImportReport
from jutong.registry.census_schemas import SystemIn, SystemPatch, UsageIn
from jutong.registry.models import (
    FundingSource,
    InformationSystem,
    Network,
    SharingStatus,
    SystemStatus,
    UsageScope,
)
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm, keep_on_error
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)

_CHOICES = {
    "usage_scope": UsageScope.choices(),
    "funding_source": FundingSource.choices(),
    "network": Network.choices(),
    "sharing_status": SharingStatus.choices(),
    "status": SystemStatus.choices(),
}
_LABELS = {key: dict(pairs) for key, pairs in _CHOICES.items()}
_FORM_COLUMNS = tuple(c for c in SYSTEM_COLUMNS if c.key != "department")


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _departments(session: Session, principal: Principal) -> list[Any]:
    if principal.role == Role.steward and principal.department_id is not None:
        return [accounts.get_department(session, principal.department_id)]
    return accounts.list_departments(session)


def _list_page(
    request: Request,
    session: Session,
    principal: Principal,
    filters: dict[str, Any],
    *,
    report: ImportReport | None = None,
    status_code: int = 200,
) -> Response:
    result = census.list_systems(
        session,
        principal,
        department_id=filters.get("department_id"),
        status=filters.get("status") or None,
        sharing_status=filters.get("sharing_status") or None,
        q=filters.get("q") or None,
        page=filters.get("page") or 1,
    )
    query = {k: v for k, v in filters.items() if v not in (None, "") and k != "page"}
    return render(
        request,
        "systems/list.html",
        {
            "result": result,
            "filters": filters,
            "query": urlencode(query),
            "departments": _departments(session, principal),
            "choices": _CHOICES,
            "labels": _LABELS,
            "can_write": census.can_write(principal),
            "report": report,
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/systems", response_class=HTMLResponse)
def systems_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: str | None = None,
    status: str | None = None,
    sharing_status: str | None = None,
    q: str | None = None,
    page: str | None = None,
) -> Response:
    filters = {
        "department_id": _int_or_none(department_id),
        "status": status or "",
        "sharing_status": sharing_status or "",
        "q": q or "",
        "page": _int_or_none(page) or 1,
    }
    return _list_page(request, session, principal, filters)


@router.post("/systems/import", response_class=HTMLResponse)
def import_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, file: Annotated[UploadFile, File()]
) -> Response:
    data = file.file.read(
        census_io.MAX_FILE_BYTES + 1
    )  # a plain def: parsing and saving run in the thread pool
    report = census_import.import_census(session, principal, data, file.filename or "")
    if not report.ok:
        keep_on_error(request)  # nothing was written but the audit of the rejected attempt
    filters: dict[str, Any] = {"department_id": None, "status": "", "sharing_status": "", "q": "", "page": 1}
    return _list_page(
        request, session, principal, filters, report=report, status_code=200 if report.ok else 422
    )


# ---- form ----------------------------------------------------------------------------------


def _form_values(system: InformationSystem | None) -> dict[str, str]:
    """What the form fields show: codes for selects, 是/否, YYYY-MM-DD, plain numbers."""
    if system is None:
        return {"status": SystemStatus.running.value}
    values: dict[str, str] = {"department_id": str(system.department_id)}
    for column in _FORM_COLUMNS:
        value = getattr(system, column.key)
        if value is None:
            values[column.key] = ""
        elif column.enum is not None or column.kind in ("text", "code"):
            values[column.key] = str(value)
        else:
            values[column.key] = str(to_cell(column, value, text_only=True))
    return values


def _parse_form(
    form: FormData, columns: tuple[Column, ...]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    raw: dict[str, str] = {}
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for column in columns:
        text = form.get(column.key)
        raw[column.key] = text if isinstance(text, str) else ""
        try:
            values[column.key] = parse_cell(column, raw[column.key])
        except CellError as exc:
            errors[column.key] = f"{exc.problem}。{exc.fix}"
    return values, raw, errors


def _form_page(
    request: Request,
    session: Session,
    principal: Principal,
    system: InformationSystem | None,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "systems/form.html",
        {
            "system": system,
            "values": values,
            "errors": errors,
            "message": message,
            "columns": _FORM_COLUMNS,
            "choices": _CHOICES,
            "departments": _departments(session, principal),
            "department_fixed": principal.role == Role.steward,
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/systems/new", response_class=HTMLResponse)
def new_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    require_role(principal, *census.WRITERS, message="只有平台管理员和部门数据管理员可以登记系统")
    return _form_page(request, session, principal, None, _form_values(None), {})


@router.post("/systems/new", response_class=HTMLResponse)
def create_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    values, raw, errors = _parse_form(form, _FORM_COLUMNS)
    department = _int_or_none(str(form.get("department_id") or ""))
    raw["department_id"] = str(department or "")
    if principal.role == Role.steward:
        department = principal.department_id
    elif department is None:
        errors["department_id"] = "请选择所属部门"
    if errors:
        return _form_page(request, session, principal, None, raw, errors, status_code=422)
    try:
        system = census.create_system(session, principal, SystemIn(**values, department_id=department))
    except ValidationError as exc:
        return _form_page(request, session, principal, None, raw, _pydantic_errors(exc), status_code=422)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _form_page(request, session, principal, None, raw, {}, message=exc.message, status_code=422)
    return redirect(f"/systems/{system.id}")


def _pydantic_errors(exc: ValidationError) -> dict[str, str]:
    labels = {c.key: c.header for c in SYSTEM_COLUMNS}
    return {
        str(err["loc"][0]): f"{labels.get(str(err['loc'][0]), err['loc'][0])}填写有误"
        for err in exc.errors()
        if err["loc"]
    }


@router.get("/systems/stats", response_class=HTMLResponse)
def stats_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    stats = census.stats_for(session, principal)
    pie = [{"name": r.label, "value": r.count} for r in stats.rows]
    bar = {
        "departments": [d.department_name for d in stats.by_department],
        "series": [
            {"name": status.label, "data": [d.rows[i].count for d in stats.by_department]}
            for i, status in enumerate(SharingStatus)
        ],
    }
    return render(
        request, "systems/stats.html", {"stats": stats, "pie": pie, "bar": bar}, principal=principal
    )


# ---- one system ----------------------------------------------------------------------------


def _display(system: InformationSystem) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for column in SYSTEM_COLUMNS:
        if column.key == "department":
            text = system.department.name
        else:
            value = getattr(system, column.key)
            if value is None or value == "":
                text = "—" if column.kind != "text" else ""
            elif column.kind in ("text", "code"):
                text = str(value)
            else:
                text = str(to_cell(column, value, text_only=True))
                if column.kind == "money":
                    text += " 万元"
                elif column.kind == "pct":
                    text += "%"
                elif column.kind == "level":
                    text = f"第{text}级"
        out.append((column.header.replace("(万元)", "").replace("%", ""), text))
    return out


def _detail_page(
    request: Request,
    session: Session,
    principal: Principal,
    system: InformationSystem,
    *,
    usage_values: dict[str, str] | None = None,
    usage_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    usage = census.usage_of(session, system.id)
    trend = {
        "months": [u.month for u in usage],
        "transactions": [u.transactions for u in usage],
        "users": [u.active_users for u in usage],
    }
    return render(
        request,
        "systems/detail.html",
        {
            "system": system,
            "fields": _display(system),
            "usage": usage,
            "trend": trend,
            "can_write": census.can_write(principal, system.department_id),
            "usage_columns": USAGE_COLUMNS[1:],
            "usage_values": usage_values or {},
            "usage_errors": usage_errors or {},
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/systems/{system_id}", response_class=HTMLResponse)
def detail_page(
    system_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    return _detail_page(request, session, principal, census.get_system(session, principal, system_id))


@router.get("/systems/{system_id}/edit", response_class=HTMLResponse)
def edit_page(system_id: int, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    system = census.load_system(session, system_id)
    census.require_writer(principal, system.department_id)
    return _form_page(request, session, principal, system, _form_values(system), {})


@router.post("/systems/{system_id}/edit", response_class=HTMLResponse)
def update_page(
    system_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    system = census.load_system(session, system_id)
    census.require_writer(principal, system.department_id)  # refused (and audited) before saving
    values, raw, errors = _parse_form(form, _FORM_COLUMNS)
    department = _int_or_none(str(form.get("department_id") or ""))
    raw["department_id"] = str(department or system.department_id)
    if errors:
        return _form_page(request, session, principal, system, raw, errors, status_code=422)
    if department is not None:
        values["department_id"] = department
    if not values.get("code"):
        values.pop("code", None)  # a blank code keeps the current one
    try:
        census.update_system(session, principal, system_id, SystemPatch(**values))
    except ValidationError as exc:
        return _form_page(request, session, principal, system, raw, _pydantic_errors(exc), status_code=422)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _form_page(request, session, principal, system, raw, {}, message=exc.message, status_code=422)
    return redirect(f"/systems/{system_id}")


@router.post("/systems/{system_id}/usage", response_class=HTMLResponse)
def usage_page(
    system_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    system = census.load_system(session, system_id)
    census.require_writer(principal, system.department_id)
    values, raw, errors = _parse_form(form, USAGE_COLUMNS[1:])
    if errors:
        return _detail_page(
            request, session, principal, system, usage_values=raw, usage_errors=errors, status_code=422
        )
    census.record_usage(session, principal, system_id, [UsageIn(**values)])
    return redirect(f"/systems/{system_id}")
