"""Pages: share requests, grants, applications and keys under /sharing.

- ``/sharing/requests``: the provider's approval queue (deadline, working days left, overdue in red),
  the department's own requests, and for operators the overdue ones to coordinate;
- ``/sharing/requests/new?resource_id=``: the request form, linked from the resource page;
- ``/sharing/requests/{id}``: one request, with approve / refuse / withdraw;
- ``/sharing/grants``: grants of the department (either side), revocable by the provider;
- ``/sharing/applications``: the department's applications and their keys (a token is shown once).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jutong.catalog import service as catalog_service
from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import Principal, Role
from jutong.core.errors import AppError, Forbidden, ValidationFailed
from jutong.registry.models import Department
from jutong.sharing import applications, calendar, grants, requests
from jutong.sharing.grants import DELIVERIES
from jutong.sharing.models import Grant, RequestStatus, ShareRequest
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm, record_read
from jutong.web.pages import redirect, render

router = APIRouter(prefix="/sharing", include_in_schema=False)
AUDITED = [Depends(record_read)]
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DELIVERY_LABELS = {"api": "接口调用", "file": "文件下载", "table": "库表推送"}
MASKING_LABELS = {
    "id_number": "身份证号脱敏",
    "name": "姓名脱敏",
    "phone": "电话脱敏",
    "address": "地址截至区县",
    "full": "全部遮盖",
    "none": "不脱敏",
}
_DONE = {
    "submitted": "申请已提交",
    "approved": "已同意，授权已生效",
    "refused": "已答复不同意",
    "withdrawn": "申请已撤回",
    "revoked": "授权已撤销，立即生效",
    "created": "应用已登记",
    "retired": "应用已停用，其密钥已全部吊销",
    "key_revoked": "密钥已吊销",
}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _ints(form: FormData, name: str) -> list[int]:
    out = []
    for value in form.getlist(name):
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
            out.append(int(value.strip()))
    return out


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"{what}“{text}”不是有效日期（格式 2026-03-31）", code="date_invalid") from exc


def _quota(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValidationFailed("每日配额须为正整数（不限则留空）", code="share_request_quota_invalid")
    return int(text)


def _names(session: Session, resource_ids: set[int]) -> dict[str, dict[int, str]]:
    resources: dict[int, str] = {}
    if resource_ids:
        rows = session.execute(select(Resource.id, Resource.name).where(Resource.id.in_(resource_ids)))
        resources = {int(i): str(n) for i, n in rows}
    departments = {int(i): str(n) for i, n in session.execute(select(Department.id, Department.name))}
    return {"resources": resources, "departments": departments}


# ---- requests ------------------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse, dependencies=AUDITED)
def requests_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    status = status if status in RequestStatus._value2member_map_ else None
    everyone = principal.role in (Role.operator, Role.auditor)
    incoming = [] if everyone else requests.list_requests(session, principal, side="incoming", status=status)
    outgoing = [] if everyone else requests.list_requests(session, principal, side="outgoing", status=status)
    all_requests = requests.list_requests(session, principal, status=status) if everyone else []
    overdue = requests.overdue_requests(session) if everyone else []
    shown = incoming + outgoing + all_requests + overdue
    today, overrides = clock.today(), calendar.load_overrides(session)
    context: dict[str, Any] = {
        "incoming": incoming,
        "outgoing": outgoing,
        "all_requests": all_requests,
        "overdue": overdue,
        "days_left": {r.id: requests.days_left(session, r, today, overrides) for r in shown},
        "names": _names(session, {r.resource_id for r in shown}),
        "statuses": list(RequestStatus),
        "status_labels": {s.value: s.label for s in RequestStatus},
        "status": status or "",
        "settings": requests.get_settings(session),
        "flashes": [_DONE[done]] if done in _DONE else [],
    }
    return render(request, "sharing/requests.html", context, principal=principal)


def _form_page(
    request: Request,
    session: Session,
    principal: Principal,
    resource: Resource,
    *,
    values: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    version = catalog_service.latest_version(session, resource)
    items = list(version.snapshot.get("items") or []) if version else []
    context: dict[str, Any] = {
        "resource": resource,
        "items": items,
        "apps": applications.list_applications(session, principal),
        "deliveries": [(d, DELIVERY_LABELS.get(d, d)) for d in DELIVERIES],
        "values": values
        or {
            "items": [],
            "application_ids": [],
            "delivery": "api",
            "period_start": clock.today().isoformat(),
            "period_end": "",
        },
        "answer_days": requests.get_settings(session).answer_days,
        "errors": errors or [],
    }
    return render(request, "sharing/request_form.html", context, principal=principal, status_code=status_code)


@router.get("/requests/new", response_class=HTMLResponse, dependencies=AUDITED)
def request_form(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    if principal.role not in (Role.consumer, Role.steward):
        raise Forbidden("只有使用部门的用户或部门数据管理员可以提交共享申请", code="role_forbidden")
    if resource_id is None:
        raise ValidationFailed("请从资源目录中资源页面的“申请共享”进入", code="resource_required")
    resource = catalog_service.get_resource(session, principal, resource_id)
    return _form_page(request, session, principal, resource)


@router.post("/requests/new", response_class=HTMLResponse)
def submit_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    if principal.role not in (Role.consumer, Role.steward):
        raise Forbidden("只有使用部门的用户或部门数据管理员可以提交共享申请", code="role_forbidden")
    raw_id = _field(form, "resource_id")
    resource_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 10 else 0
    resource = catalog_service.get_resource(session, principal, resource_id)
    values: dict[str, Any] = {
        "items": [str(v) for v in form.getlist("items")],
        "application_ids": _ints(form, "application_ids"),
        "delivery": _field(form, "delivery") or "api",
        "purpose": _field(form, "purpose"),
        "legal_basis": _field(form, "legal_basis"),
        "period_start": _field(form, "period_start"),
        "period_end": _field(form, "period_end"),
        "daily_quota": _field(form, "daily_quota"),
    }
    try:
        req = requests.submit(
            session,
            principal,
            resource_id=resource.id,
            purpose=values["purpose"],
            legal_basis=values["legal_basis"],
            items=values["items"],
            application_ids=values["application_ids"],
            delivery=values["delivery"],
            period_start=_date(values["period_start"], "起始日期")
            if values["period_start"]
            else clock.today(),
            period_end=_date(values["period_end"], "截止日期"),
            daily_quota=_quota(values["daily_quota"]),
        )
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _form_page(
            request,
            session,
            principal,
            resource,
            values=values,
            errors=[exc.message],
            status_code=exc.status_code,
        )
    return redirect(f"/sharing/requests/{req.id}?done=submitted")


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    req: ShareRequest,
    *,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    resource = session.get(Resource, req.resource_id)
    version = catalog_service.latest_version(session, resource) if resource else None
    item_names = (
        {str(i["column_name"]): str(i["name"]) for i in (version.snapshot.get("items") or [])}
        if version
        else {}
    )
    pending = req.status == RequestStatus.pending.value
    context: dict[str, Any] = {
        "req": req,
        "grant": requests.grant_of(session, req),
        "names": _names(session, {req.resource_id}),
        "item_names": item_names,
        "days_left": requests.days_left(session, req),
        "warning": requests.deadline_warning(req),
        "can_answer": pending
        and (
            principal.role == Role.operator
            or (principal.role == Role.steward and principal.department_id == req.provider_department_id)
        ),
        "can_withdraw": pending
        and principal.role in (Role.consumer, Role.steward)
        and principal.department_id == req.consumer_department_id,
        "can_coordinate": principal.role == Role.operator,
        "masking_labels": MASKING_LABELS,
        "delivery_labels": DELIVERY_LABELS,
        "status_label": RequestStatus(req.status).label,
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/request.html", context, principal=principal, status_code=status_code)


@router.get("/requests/{request_id}", response_class=HTMLResponse, dependencies=AUDITED)
def request_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    request_id: PathId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    req = requests.get_request(session, principal, request_id)
    return _detail(request, session, principal, req, flashes=[_DONE[done]] if done in _DONE else [])


def _answer(
    request: Request, session: Session, principal: Principal, request_id: int, action: str, form: FormData
) -> Response:
    try:
        if action == "approve":
            masking = {
                str(k)[5:]: str(v)
                for k, v in form.items()
                if str(k).startswith("mask.") and isinstance(v, str)
            }
            end = _field(form, "expires_on")
            requests.approve(
                session,
                principal,
                request_id,
                items=[str(v) for v in form.getlist("items")],
                masking={k: v for k, v in masking.items() if v and v != "none"},
                expires_on=_date(end, "授权截止日期") if end else None,
                daily_quota=_quota(_field(form, "daily_quota")),
                note=_field(form, "note"),
            )
        elif action == "refuse":
            requests.refuse(session, principal, request_id, _field(form, "reason"))
        elif action == "withdraw":
            requests.withdraw(session, principal, request_id)
        else:
            requests.coordinate(session, principal, request_id, _field(form, "note"))
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        req = requests.get_request(session, principal, request_id)
        return _detail(request, session, principal, req, errors=[exc.message], status_code=exc.status_code)
    done = {"approve": "approved", "refuse": "refused", "withdraw": "withdrawn"}.get(action, "")
    return redirect(f"/sharing/requests/{request_id}?done={done}")


@router.post("/requests/{request_id}/approve", response_class=HTMLResponse)
def approve_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, request_id: PathId, form: PostedForm
) -> Response:
    return _answer(request, session, principal, request_id, "approve", form)


@router.post("/requests/{request_id}/refuse", response_class=HTMLResponse)
def refuse_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, request_id: PathId, form: PostedForm
) -> Response:
    return _answer(request, session, principal, request_id, "refuse", form)


@router.post("/requests/{request_id}/withdraw", response_class=HTMLResponse)
def withdraw_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, request_id: PathId, form: PostedForm
) -> Response:
    return _answer(request, session, principal, request_id, "withdraw", form)


@router.post("/requests/{request_id}/coordinate", response_class=HTMLResponse)
def coordinate_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, request_id: PathId, form: PostedForm
) -> Response:
    return _answer(request, session, principal, request_id, "coordinate", form)


# ---- grants --------------------------------------------------------------------------------


def _grants_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    found = grants.list_grants(session, principal)
    context: dict[str, Any] = {
        "grants": found,
        "names": _names(session, {g.resource_id for g in found}),
        "live": {g.id: grants.is_live(g) for g in found},
        "can_revoke": {g.id: _may_revoke(principal, g) for g in found},
        "masking_labels": MASKING_LABELS,
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/grants.html", context, principal=principal, status_code=status_code)


def _may_revoke(principal: Principal, grant: Grant) -> bool:
    if grant.status != "active":
        return False
    return principal.role == Role.operator or (
        principal.role == Role.steward and principal.department_id == grant.provider_department_id
    )


@router.get("/grants", response_class=HTMLResponse, dependencies=AUDITED)
def grants_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _grants_page(request, session, principal, flashes=[_DONE[done]] if done in _DONE else [])


@router.post("/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, grant_id: PathId, form: PostedForm
) -> Response:
    try:
        grants.revoke_grant(session, principal, grant_id, _field(form, "reason"))
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _grants_page(request, session, principal, errors=[exc.message], status_code=exc.status_code)
    return redirect("/sharing/grants?done=revoked")


# ---- applications --------------------------------------------------------------------------


def _apps_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    new_token: str | None = None,
    errors: list[str] | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    apps = applications.list_applications(session, principal, include_retired=True)
    context: dict[str, Any] = {
        "apps": apps,
        "keys": {a.id: applications.application_keys(session, principal, a.id) for a in apps},
        "names": _names(session, set()),
        "can_manage": principal.role in (Role.operator, Role.steward, Role.consumer),
        "can_issue": principal.role in (Role.steward, Role.consumer),
        "new_token": new_token,
        "errors": errors or [],
        "flashes": flashes or [],
    }
    return render(request, "sharing/applications.html", context, principal=principal, status_code=status_code)


@router.get("/applications", response_class=HTMLResponse, dependencies=AUDITED)
def applications_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _apps_page(request, session, principal, flashes=[_DONE[done]] if done in _DONE else [])


@router.post("/applications", response_class=HTMLResponse)
def create_application_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    dept = _field(form, "department_id")
    try:
        applications.create_application(
            session,
            principal,
            name=_field(form, "name"),
            description=_field(form, "description"),
            department_id=int(dept) if dept.isdigit() and len(dept) < 10 else None,
        )
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _apps_page(request, session, principal, errors=[exc.message], status_code=exc.status_code)
    return redirect("/sharing/applications?done=created")


@router.post("/applications/{application_id}/keys", response_class=HTMLResponse)
def issue_key_form(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    application_id: PathId,
    form: PostedForm,
) -> Response:
    try:
        issued = applications.issue_key(session, principal, application_id, _field(form, "name"))
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _apps_page(request, session, principal, errors=[exc.message], status_code=exc.status_code)
    # the token is shown on this answer only, never again (no redirect that could lose or repeat it)
    return _apps_page(request, session, principal, new_token=issued.token)


@router.post("/applications/{application_id}/retire", response_class=HTMLResponse)
def retire_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, application_id: PathId
) -> Response:
    try:
        applications.retire_application(session, principal, application_id)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _apps_page(request, session, principal, errors=[exc.message], status_code=exc.status_code)
    return redirect("/sharing/applications?done=retired")


@router.post("/applications/{application_id}/keys/{api_key_id}/revoke", response_class=HTMLResponse)
def revoke_key_form(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    application_id: PathId,
    api_key_id: PathId,
) -> Response:
    applications.revoke_key(session, principal, application_id, api_key_id)
    return redirect("/sharing/applications?done=key_revoked")
