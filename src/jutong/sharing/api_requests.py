"""API: share requests, answers, grants and applications under /api/v1/sharing.

Who may: consumers and stewards submit requests for their department and withdraw them; the provider's
steward (or an operator) approves or refuses; operators coordinate, see overdue requests and set the
deadline; auditors read. Applications and their keys are managed by their own department. Every read
is audited (``record_read``), every change by the service that makes it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from jutong.core import audit, clock
from jutong.core.auth import Role
from jutong.sharing import applications, calendar, grants, requests
from jutong.sharing.models import Application, Grant, RequestStatus, ShareRequest
from jutong.web.deps import CurrentPrincipal, DbSession, record_read, roles

router = APIRouter(prefix="/sharing", tags=["共享申请与授权"], dependencies=[Depends(record_read)])

Text = Annotated[str, Field(max_length=4000)]
Column = Annotated[str, Field(max_length=64)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Quota = Annotated[int, Field(ge=1, le=10**9)]


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: Id
    purpose: Text
    legal_basis: Text = ""
    items: Annotated[list[Column], Field(max_length=500)]
    application_ids: Annotated[list[Id], Field(max_length=100)] = []
    delivery: Annotated[str, Field(max_length=32)] = "api"
    period_start: date | None = None
    period_end: date
    daily_quota: Quota | None = None


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[Column], Field(max_length=500)] | None = None
    masking: dict[Column, Annotated[str, Field(max_length=32)]] | None = None
    expires_on: date | None = None
    daily_quota: Quota | None = None
    note: Text = ""


class ReasonIn(BaseModel):
    reason: Text


class NoteIn(BaseModel):
    note: Text


class SettingsIn(BaseModel):
    answer_days: Annotated[int, Field(ge=1, le=requests.MAX_DAYS)]
    remind_days: Annotated[int, Field(ge=0, le=requests.MAX_DAYS)]
    extra_holidays: Annotated[list[date], Field(max_length=400)] = []
    extra_workdays: Annotated[list[date], Field(max_length=400)] = []


class SettingsOut(SettingsIn):
    calendar_years: str


class GrantOut(BaseModel):
    id: int
    request_id: int | None
    resource_id: int
    provider_department_id: int
    consumer_department_id: int
    items: list[str]
    masking: dict[str, str]
    application_ids: list[int]
    purpose: str
    delivery: str
    starts_on: date
    expires_on: date
    daily_quota: int | None
    status: str
    live: bool
    revoked_at: datetime | None
    revoke_reason: str


class RequestOut(BaseModel):
    id: int
    resource_id: int
    catalog_version: int
    provider_department_id: int
    consumer_department_id: int
    share_type: str
    purpose: str
    legal_basis: str
    items: list[str]
    application_ids: list[int]
    delivery: str
    period_start: date
    period_end: date
    daily_quota: int | None
    status: str
    status_label: str
    submitted_at: datetime
    due_on: date | None
    days_left: int | None
    deadline_warning: str | None
    overdue: bool
    escalated_at: datetime | None
    coordination_note: str
    decided_at: datetime | None
    decision_reason: str
    grant: GrantOut | None


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100)]
    description: Text = ""
    system_id: Id | None = None
    department_id: Id | None = None  # operators only


class ApplicationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100)] | None = None
    description: Text | None = None


class ApplicationOut(BaseModel):
    id: int
    department_id: int
    name: str
    description: str
    system_id: int | None
    created_at: datetime
    retired_at: datetime | None


class KeyIn(BaseModel):
    name: Annotated[str, Field(max_length=100)] = ""


class KeyOut(BaseModel):
    id: int
    name: str
    key_id: str
    application_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedKeyOut(KeyOut):
    token: str = Field(description="只显示这一次，请妥善保存")


def grant_out(grant: Grant) -> GrantOut:
    return GrantOut(
        id=grant.id,
        request_id=grant.request_id,
        resource_id=grant.resource_id,
        provider_department_id=grant.provider_department_id,
        consumer_department_id=grant.consumer_department_id,
        items=list(grant.items),
        masking=dict(grant.masking),
        application_ids=list(grant.application_ids),
        purpose=grant.purpose,
        delivery=grant.delivery,
        starts_on=grant.starts_on,
        expires_on=grant.expires_on,
        daily_quota=grant.daily_quota,
        status=grant.status,
        live=grants.is_live(grant),
        revoked_at=grant.revoked_at,
        revoke_reason=grant.revoke_reason,
    )


def request_out(
    session: Session, req: ShareRequest, overrides: calendar.Overrides | None = None
) -> RequestOut:
    grant = requests.grant_of(session, req)
    return RequestOut(
        id=req.id,
        resource_id=req.resource_id,
        catalog_version=req.catalog_version,
        provider_department_id=req.provider_department_id,
        consumer_department_id=req.consumer_department_id,
        share_type=req.share_type,
        purpose=req.purpose,
        legal_basis=req.legal_basis,
        items=list(req.items),
        application_ids=list(req.application_ids),
        delivery=req.delivery,
        period_start=req.period_start,
        period_end=req.period_end,
        daily_quota=req.daily_quota,
        status=req.status,
        status_label=RequestStatus(req.status).label,
        submitted_at=req.submitted_at,
        due_on=req.due_on,
        days_left=requests.days_left(session, req, overrides=overrides),
        deadline_warning=requests.deadline_warning(req),
        overdue=req.overdue,
        escalated_at=req.escalated_at,
        coordination_note=req.coordination_note,
        decided_at=req.decided_at,
        decision_reason=req.decision_reason,
        grant=grant_out(grant) if grant is not None else None,
    )


def application_out(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id,
        department_id=app.department_id,
        name=app.name,
        description=app.description,
        system_id=app.system_id,
        created_at=app.created_at,
        retired_at=app.retired_at,
    )


def key_out(key: Any) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        key_id=key.key_id,
        application_id=key.application_id,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


# ---- requests ------------------------------------------------------------------------------


@router.post("/requests", response_model=RequestOut, status_code=201, summary="提交共享申请")
def submit_request(body: RequestIn, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    req = requests.submit(
        session,
        principal,
        resource_id=body.resource_id,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        items=body.items,
        application_ids=body.application_ids,
        delivery=body.delivery,
        period_start=body.period_start or clock.today(),
        period_end=body.period_end,
        daily_quota=body.daily_quota,
    )
    return request_out(session, req)


@router.get("/requests", response_model=list[RequestOut], summary="共享申请列表")
def list_requests(
    session: DbSession,
    principal: CurrentPrincipal,
    side: Annotated[str | None, Query(pattern="^(incoming|outgoing)$")] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[RequestOut]:
    found = requests.list_requests(session, principal, side=side, status=status, resource_id=resource_id)
    overrides = calendar.load_overrides(session)
    return [request_out(session, r, overrides) for r in found]


@router.get(
    "/requests/overdue",
    response_model=list[RequestOut],
    summary="逾期未答复的共享申请（平台管理员协调）",
    dependencies=[Depends(roles(Role.operator, Role.auditor))],
)
def overdue(session: DbSession) -> list[RequestOut]:
    overrides = calendar.load_overrides(session)
    return [request_out(session, r, overrides) for r in requests.overdue_requests(session)]


@router.get("/requests/{request_id}", response_model=RequestOut, summary="共享申请详情")
def get_request(request_id: Id, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    return request_out(session, requests.get_request(session, principal, request_id))


@router.post("/requests/{request_id}/approve", response_model=RequestOut, summary="同意（可少于所申请）")
def approve(request_id: Id, body: ApproveIn, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    requests.approve(
        session,
        principal,
        request_id,
        items=body.items,
        masking=body.masking,
        expires_on=body.expires_on,
        daily_quota=body.daily_quota,
        note=body.note,
    )
    return request_out(session, requests.get_request(session, principal, request_id))


@router.post("/requests/{request_id}/refuse", response_model=RequestOut, summary="不同意（须说明理由）")
def refuse(request_id: Id, body: ReasonIn, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    return request_out(session, requests.refuse(session, principal, request_id, body.reason))


@router.post("/requests/{request_id}/withdraw", response_model=RequestOut, summary="撤回申请")
def withdraw(request_id: Id, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    return request_out(session, requests.withdraw(session, principal, request_id))


@router.post("/requests/{request_id}/coordinate", response_model=RequestOut, summary="记录协调意见")
def coordinate(request_id: Id, body: NoteIn, session: DbSession, principal: CurrentPrincipal) -> RequestOut:
    return request_out(session, requests.coordinate(session, principal, request_id, body.note))


def _settings_out(session: Session) -> SettingsOut:
    s = requests.get_settings(session)
    o = calendar.load_overrides(session)
    return SettingsOut(
        answer_days=s.answer_days,
        remind_days=s.remind_days,
        extra_holidays=sorted(o.holidays),
        extra_workdays=sorted(o.workdays),
        calendar_years=f"{calendar.FIRST_YEAR}–{calendar.LAST_YEAR}",
    )


@router.get("/settings", response_model=SettingsOut, summary="答复期限与节假日设置")
def get_settings(session: DbSession, principal: CurrentPrincipal) -> SettingsOut:
    return _settings_out(session)


@router.put(
    "/settings",
    response_model=SettingsOut,
    summary="设置答复期限、提醒与节假日调整（平台管理员）",
    dependencies=[Depends(roles(Role.operator))],
)
def put_settings(body: SettingsIn, session: DbSession, principal: CurrentPrincipal) -> SettingsOut:
    requests.put_settings(session, principal, answer_days=body.answer_days, remind_days=body.remind_days)
    calendar.save_overrides(session, holidays=body.extra_holidays, workdays=body.extra_workdays)
    audit.record(
        session,
        principal,
        "sharing.calendar",
        summary=f"节假日调整：另加节假日 {len(body.extra_holidays)} 天，调休工作日 {len(body.extra_workdays)} 天",
        detail={
            "holidays": [d.isoformat() for d in body.extra_holidays],
            "workdays": [d.isoformat() for d in body.extra_workdays],
        },
    )
    return _settings_out(session)


# ---- grants --------------------------------------------------------------------------------


@router.get("/grants", response_model=list[GrantOut], summary="授权列表（本部门作为提供方或使用方）")
def list_grants(
    session: DbSession,
    principal: CurrentPrincipal,
    resource_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[str | None, Query(pattern="^(active|revoked)$")] = None,
) -> list[GrantOut]:
    return [
        grant_out(g) for g in grants.list_grants(session, principal, resource_id=resource_id, status=status)
    ]


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, summary="撤销授权（立即生效）")
def revoke_grant(grant_id: Id, body: ReasonIn, session: DbSession, principal: CurrentPrincipal) -> GrantOut:
    return grant_out(grants.revoke_grant(session, principal, grant_id, body.reason))


# ---- applications and keys -----------------------------------------------------------------


@router.get("/applications", response_model=list[ApplicationOut], summary="应用列表")
def list_applications(
    session: DbSession, principal: CurrentPrincipal, include_retired: bool = False
) -> list[ApplicationOut]:
    found = applications.list_applications(session, principal, include_retired=include_retired)
    return [application_out(a) for a in found]


@router.post("/applications", response_model=ApplicationOut, status_code=201, summary="登记应用")
def create_application(
    body: ApplicationIn, session: DbSession, principal: CurrentPrincipal
) -> ApplicationOut:
    app = applications.create_application(
        session,
        principal,
        name=body.name,
        description=body.description,
        system_id=body.system_id,
        department_id=body.department_id,
    )
    return application_out(app)


@router.get("/applications/{application_id}", response_model=ApplicationOut, summary="应用详情")
def get_application(application_id: Id, session: DbSession, principal: CurrentPrincipal) -> ApplicationOut:
    return application_out(applications.get_application(session, principal, application_id))


@router.patch("/applications/{application_id}", response_model=ApplicationOut, summary="修改应用")
def update_application(
    application_id: Id, body: ApplicationPatch, session: DbSession, principal: CurrentPrincipal
) -> ApplicationOut:
    app = applications.update_application(
        session, principal, application_id, name=body.name, description=body.description
    )
    return application_out(app)


@router.post("/applications/{application_id}/retire", response_model=ApplicationOut, summary="停用应用")
def retire_application(application_id: Id, session: DbSession, principal: CurrentPrincipal) -> ApplicationOut:
    return application_out(applications.retire_application(session, principal, application_id))


@router.get("/applications/{application_id}/keys", response_model=list[KeyOut], summary="应用的 API 密钥")
def application_keys(application_id: Id, session: DbSession, principal: CurrentPrincipal) -> list[KeyOut]:
    return [key_out(k) for k in applications.application_keys(session, principal, application_id)]


@router.post(
    "/applications/{application_id}/keys",
    response_model=IssuedKeyOut,
    status_code=201,
    summary="为应用发放密钥",
)
def issue_key(
    application_id: Id, body: KeyIn, session: DbSession, principal: CurrentPrincipal
) -> IssuedKeyOut:
    issued = applications.issue_key(session, principal, application_id, body.name)
    return IssuedKeyOut(**key_out(issued.key).model_dump(), token=issued.token)


@router.post(
    "/applications/{application_id}/keys/{api_key_id}/revoke", response_model=KeyOut, summary="吊销应用的密钥"
)
def revoke_key(application_id: Id, api_key_id: Id, session: DbSession, principal: CurrentPrincipal) -> KeyOut:
    return key_out(applications.revoke_key(session, principal, application_id, api_key_id))
