"""Share requests (共享申请) and their answers: submit, approve, refuse, withdraw, deadlines.

What happens on submit follows the resource's published share type (STANDARDS §1):
- 无条件共享: approved at once and a grant made (default masking by data element);
- 有条件共享: pending; the provider answers by ``due_on`` = submit day + N working days (N an operator
  setting, default 10). A reminder goes out once, a few working days before; a request still pending
  after its due day is escalated to the operators for coordination (协调) and counted as overdue;
- 不予共享: refused at once, the resource's legal basis in ``decision_reason``.

An approval may only narrow what was asked: fewer items, masking, a shorter period, a lower quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog import service as catalog_service
from jutong.catalog.models import Resource, ShareType
from jutong.core import audit, clock, jobs, options
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.sharing import calendar
from jutong.sharing.grants import DELIVERIES, create_grant
from jutong.sharing.models import Application, Grant, RequestStatus, ShareRequest

SETTINGS_KEY = "sharing.requests"
DEFAULT_ANSWER_DAYS = 10  # 提供部门 10 个工作日内答复
DEFAULT_REMIND_DAYS = 2  # reminder when this many working days (or fewer) are left
MAX_DAYS = 60


@dataclass(frozen=True)
class Settings:
    answer_days: int = DEFAULT_ANSWER_DAYS
    remind_days: int = DEFAULT_REMIND_DAYS


def get_settings(session: Session) -> Settings:
    value = options.get_option(session, SETTINGS_KEY) or {}
    return Settings(
        answer_days=int(value.get("answer_days", DEFAULT_ANSWER_DAYS)),
        remind_days=int(value.get("remind_days", DEFAULT_REMIND_DAYS)),
    )


def put_settings(session: Session, principal: Principal, *, answer_days: int, remind_days: int) -> Settings:
    require_role(principal, Role.operator, message="只有平台管理员可以设置答复期限")
    if not 1 <= answer_days <= MAX_DAYS:
        raise ValidationFailed(f"答复期限须在 1–{MAX_DAYS} 个工作日之间", code="answer_days_invalid")
    if not 0 <= remind_days < answer_days:
        raise ValidationFailed("提前提醒的工作日数须小于答复期限（0 表示不提醒）", code="remind_days_invalid")
    options.put_option(session, SETTINGS_KEY, {"answer_days": answer_days, "remind_days": remind_days})
    audit.record(
        session,
        principal,
        "sharing.settings",
        summary=f"共享申请答复期限设为 {answer_days} 个工作日，提前 {remind_days} 个工作日提醒",
        detail={"answer_days": answer_days, "remind_days": remind_days},
    )
    return Settings(answer_days, remind_days)


# ---- reading -------------------------------------------------------------------------------


def get_request(session: Session, principal: Principal, request_id: int) -> ShareRequest:
    """A request, for its two departments, the operators and the auditors."""
    req = session.get(ShareRequest, request_id)
    if req is None:
        raise NotFound(f"共享申请 {request_id} 不存在", code="share_request_not_found")
    if principal.role in (Role.operator, Role.auditor):
        return req
    if principal.department_id in (req.consumer_department_id, req.provider_department_id):
        return req
    raise Forbidden(
        "该共享申请不属于本部门", code="share_request_forbidden", detail={"request_id": request_id}
    )


def list_requests(
    session: Session,
    principal: Principal,
    *,
    side: str | None = None,
    status: str | None = None,
    resource_id: int | None = None,
) -> list[ShareRequest]:
    """``side``: ``incoming`` (our resources, to answer), ``outgoing`` (ours, asked of others), or both."""
    stmt = select(ShareRequest).order_by(ShareRequest.id.desc())
    if principal.role not in (Role.operator, Role.auditor):
        if principal.department_id is None:
            return []
        dept = principal.department_id
        if side == "incoming":
            stmt = stmt.where(ShareRequest.provider_department_id == dept)
        elif side == "outgoing":
            stmt = stmt.where(ShareRequest.consumer_department_id == dept)
        else:
            stmt = stmt.where(
                (ShareRequest.provider_department_id == dept) | (ShareRequest.consumer_department_id == dept)
            )
    if status is not None:
        if status not in RequestStatus._value2member_map_:
            raise ValidationFailed(
                f"申请状态“{status}”无效，可选：{'、'.join(RequestStatus._value2member_map_)}",
                code="share_request_status_invalid",
            )
        stmt = stmt.where(ShareRequest.status == status)
    if resource_id is not None:
        stmt = stmt.where(ShareRequest.resource_id == resource_id)
    return list(session.scalars(stmt.limit(1000)))


def grant_of(session: Session, req: ShareRequest) -> Grant | None:
    return session.scalar(select(Grant).where(Grant.request_id == req.id).order_by(Grant.id.desc()))


def days_left(
    session: Session,
    req: ShareRequest,
    today: date | None = None,
    overrides: calendar.Overrides | None = None,
) -> int | None:
    """Working days until the answer is due (0: today; negative: working days overdue).

    Lists pass ``overrides`` once instead of reading them for every row."""
    if req.due_on is None or req.status != RequestStatus.pending.value:
        return None
    found = overrides if overrides is not None else calendar.load_overrides(session)
    return calendar.working_days_between(today or clock.today(), req.due_on, found)


def overdue_requests(session: Session, today: date | None = None) -> list[ShareRequest]:
    """Conditional requests still unanswered after their due day (逾期未答复), oldest due first."""
    day = today or clock.today()
    return list(
        session.scalars(
            select(ShareRequest)
            .where(ShareRequest.status == RequestStatus.pending.value, ShareRequest.due_on < day)
            .order_by(ShareRequest.due_on, ShareRequest.id)
        )
    )


def overdue_counts(session: Session) -> dict[int, int]:
    """Per provider department: requests answered late or not yet (counted for the annual evaluation)."""
    rows = session.execute(
        select(ShareRequest.provider_department_id, func.count())
        .where(ShareRequest.overdue.is_(True))
        .group_by(ShareRequest.provider_department_id)
    )
    return {int(dept): int(n) for dept, n in rows}


# ---- submitting ----------------------------------------------------------------------------


def _published_items(session: Session, resource: Resource) -> tuple[dict[str, Any], list[str]]:
    version = catalog_service.latest_version(session, resource)
    if version is None or not catalog_service.is_live(resource):
        raise Conflict(f"资源“{resource.name}”尚未发布或已撤销，不能申请", code="resource_not_published")
    snapshot = dict(version.snapshot)
    return snapshot, [str(i["column_name"]) for i in snapshot.get("items") or []]


def _check_applications(session: Session, department_id: int, application_ids: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(int(a) for a in application_ids))
    if not ids:
        return []
    found = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_(ids)))}
    bad = [i for i in ids if i not in found or found[i].department_id != department_id or found[i].retired_at]
    if bad:
        raise ValidationFailed(
            f"这些应用不存在、已停用或不属于本部门：{'、'.join(str(i) for i in bad)}，请先在“应用与密钥”中登记",
            code="share_request_application_invalid",
            detail={"application_ids": bad},
        )
    return ids


def submit(
    session: Session,
    principal: Principal,
    *,
    resource_id: int,
    purpose: str,
    legal_basis: str,
    items: Sequence[str],
    application_ids: Sequence[int],
    delivery: str,
    period_start: date,
    period_end: date,
    daily_quota: int | None = None,
) -> ShareRequest:
    """A consumer department asks for a resource; the answer depends on its share type (see above)."""
    require_role(
        principal, Role.consumer, Role.steward, message="只有使用部门的用户或部门数据管理员可以提交共享申请"
    )
    if principal.department_id is None:
        raise Forbidden("当前账号不属于任何部门，不能提交共享申请", code="share_request_no_department")
    resource = catalog_service.load_resource(session, resource_id)
    if resource.department_id == principal.department_id:
        raise Conflict("这是本部门自己的资源，无需申请", code="share_request_own_resource")
    snapshot, available = _published_items(session, resource)
    chosen = list(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))
    if not chosen:
        raise ValidationFailed("请至少选择一个信息项", code="share_request_items_required")
    unknown = [c for c in chosen if c not in available]
    if unknown:
        raise ValidationFailed(
            f"资源“{resource.name}”没有这些信息项：{'、'.join(unknown)}，请按资源目录中的信息项选择",
            code="share_request_items_unknown",
            detail={"unknown": unknown, "available": available},
        )
    if not purpose.strip():
        raise ValidationFailed("请填写使用用途（只能按申请用途使用）", code="share_request_purpose_required")
    if delivery not in DELIVERIES:
        raise ValidationFailed(
            f"共享方式“{delivery}”无效，可选：{'、'.join(DELIVERIES)}", code="share_request_delivery_invalid"
        )
    today = clock.today()
    if period_end < period_start:
        raise ValidationFailed(
            f"使用期限的截止日期 {period_end} 早于起始日期 {period_start}",
            code="share_request_period_invalid",
        )
    if period_end < today:
        raise ValidationFailed(
            f"使用期限已于 {period_end} 结束，请重新选择", code="share_request_period_past"
        )
    if daily_quota is not None and daily_quota < 1:
        raise ValidationFailed("每日配额须为正整数（不限则留空）", code="share_request_quota_invalid")
    app_ids = _check_applications(session, principal.department_id, application_ids)
    share_type = str(snapshot.get("share_type") or resource.share_type)
    req = ShareRequest(
        resource_id=resource.id,
        catalog_version=resource.published_version,
        provider_department_id=resource.department_id,
        consumer_department_id=principal.department_id,
        requested_by=principal.user_id,
        share_type=share_type,
        purpose=purpose.strip(),
        legal_basis=legal_basis.strip(),
        items=chosen,
        application_ids=app_ids,
        delivery=delivery,
        period_start=period_start,
        period_end=period_end,
        daily_quota=daily_quota,
        status=RequestStatus.pending.value,
        submitted_at=utcnow(),
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        principal,
        "share_request.submit",
        summary=f"申请共享资源“{resource.name}”的 {len(chosen)} 个信息项：{req.purpose[:60]}",
        object_type="share_request",
        object_id=req.id,
        detail={
            "resource_id": resource.id,
            "items": chosen,
            "share_type": share_type,
            "purpose": req.purpose,
        },
    )
    if share_type == ShareType.unconditional.value:
        _grant(
            session,
            principal,
            req,
            resource,
            items=chosen,
            masking=None,
            expires_on=period_end,
            daily_quota=daily_quota,
        )
        _decide(session, principal, req, RequestStatus.approved, "无条件共享，自动同意")
    elif share_type == ShareType.none.value:
        basis = str(snapshot.get("share_condition") or resource.share_condition or "").strip()
        reason = (
            f"该资源为不予共享，依据：{basis}"
            if basis
            else "该资源为不予共享（提供部门未填写依据，请联系平台管理员）"
        )
        _decide(session, principal, req, RequestStatus.refused, reason)
    else:
        overrides = calendar.load_overrides(session)
        req.due_on = calendar.add_working_days(today, get_settings(session).answer_days, overrides)
        session.flush()
    return req


def deadline_warning(req: ShareRequest) -> str | None:
    """Said next to a deadline that reaches years the holiday library does not know."""
    if req.due_on is None:
        return None
    return calendar.coverage_warning(req.submitted_at.date(), req.due_on)


def _grant(
    session: Session,
    principal: Principal,
    req: ShareRequest,
    resource: Resource,
    *,
    items: list[str],
    masking: dict[str, str] | None,
    expires_on: date,
    daily_quota: int | None,
) -> Grant:
    return create_grant(
        session,
        principal,
        request=req,
        resource=resource,
        consumer_department_id=req.consumer_department_id,
        items=items,
        masking=masking,
        application_ids=list(req.application_ids),
        purpose=req.purpose,
        delivery=req.delivery,
        starts_on=max(req.period_start, clock.today()),
        expires_on=expires_on,
        daily_quota=daily_quota,
    )


def _decide(
    session: Session, principal: Principal | None, req: ShareRequest, status: RequestStatus, reason: str
) -> None:
    req.status = status.value
    req.decided_at = utcnow()
    req.decided_by = principal.user_id if principal else None
    req.decision_reason = reason
    session.flush()
    audit.record(
        session,
        principal,
        f"share_request.{status.value}",
        summary=f"共享申请 {req.id}：{status.label}，{reason[:80]}",
        object_type="share_request",
        object_id=req.id,
        detail={
            "resource_id": req.resource_id,
            "consumer_department_id": req.consumer_department_id,
            "reason": reason,
            "overdue": req.overdue,
        },
    )


# ---- answering -----------------------------------------------------------------------------


def _pending_for_provider(session: Session, principal: Principal, request_id: int) -> ShareRequest:
    require_role(
        principal, Role.operator, Role.steward, message="只有提供部门的数据管理员或平台管理员可以答复共享申请"
    )
    req = get_request(session, principal, request_id)
    require_department(principal, req.provider_department_id, what="该申请所涉资源")
    if req.status != RequestStatus.pending.value:
        raise Conflict(
            f"共享申请 {req.id} 已是“{RequestStatus(req.status).label}”，不能再答复",
            code="share_request_not_pending",
        )
    return req


def _mark_late(req: ShareRequest, today: date) -> None:
    if req.due_on is not None and today > req.due_on:
        req.overdue = True  # answered after the deadline: still counted


def approve(
    session: Session,
    principal: Principal,
    request_id: int,
    *,
    items: Sequence[str] | None = None,
    masking: dict[str, str] | None = None,
    expires_on: date | None = None,
    daily_quota: int | None = None,
    note: str = "",
) -> Grant:
    """The provider agrees, possibly to less: a subset of the items, masking, an earlier end, a lower quota.

    ``masking=None`` applies the defaults by data element (身份证号、姓名、电话、地址)."""
    req = _pending_for_provider(session, principal, request_id)
    chosen = list(req.items) if items is None else list(dict.fromkeys(str(i) for i in items))
    wider = [c for c in chosen if c not in req.items]
    if wider:
        raise ValidationFailed(
            f"只能同意所申请的信息项或其中一部分；这些未申请：{'、'.join(wider)}",
            code="share_request_items_widened",
            detail={"requested": list(req.items), "extra": wider},
        )
    end = expires_on or req.period_end
    if end > req.period_end:
        raise ValidationFailed(
            f"授权截止日期 {end} 晚于申请的 {req.period_end}，只能缩短不能延长",
            code="share_request_period_widened",
        )
    if daily_quota is not None and req.daily_quota is not None and daily_quota > req.daily_quota:
        raise ValidationFailed(
            f"每日配额 {daily_quota} 高于申请的 {req.daily_quota}，只能降低不能提高",
            code="share_request_quota_widened",
        )
    quota = daily_quota if daily_quota is not None else req.daily_quota
    _mark_late(req, clock.today())
    resource = catalog_service.load_resource(session, req.resource_id)
    grant = _grant(
        session, principal, req, resource, items=chosen, masking=masking, expires_on=end, daily_quota=quota
    )
    narrowed = []
    if len(chosen) < len(req.items):
        narrowed.append(f"同意 {len(chosen)}/{len(req.items)} 个信息项")
    if grant.masking:
        narrowed.append(f"{len(grant.masking)} 个信息项脱敏")
    if end < req.period_end:
        narrowed.append(f"期限至 {end}")
    if quota != req.daily_quota:
        narrowed.append(f"每日配额 {quota}")
    reason = note.strip() or "同意"
    if narrowed:
        reason = f"{reason}（{'；'.join(narrowed)}）"
    _decide(session, principal, req, RequestStatus.approved, reason)
    return grant


def refuse(session: Session, principal: Principal, request_id: int, reason: str) -> ShareRequest:
    """不同意: the reason is required (拒绝须说明理由)."""
    req = _pending_for_provider(session, principal, request_id)
    if not reason.strip():
        raise ValidationFailed("不同意共享须说明理由", code="share_request_reason_required")
    _mark_late(req, clock.today())
    _decide(session, principal, req, RequestStatus.refused, reason.strip())
    return req


def withdraw(session: Session, principal: Principal, request_id: int) -> ShareRequest:
    """The consumer department takes back a request not yet answered."""
    require_role(principal, Role.consumer, Role.steward, message="只有申请部门可以撤回共享申请")
    req = get_request(session, principal, request_id)
    if principal.department_id != req.consumer_department_id:
        raise Forbidden("只有申请部门可以撤回共享申请", code="share_request_withdraw_forbidden")
    if req.status != RequestStatus.pending.value:
        raise Conflict(
            f"共享申请 {req.id} 已是“{RequestStatus(req.status).label}”，不能撤回",
            code="share_request_not_pending",
        )
    _decide(session, principal, req, RequestStatus.withdrawn, "申请部门撤回")
    return req


def coordinate(session: Session, principal: Principal, request_id: int, note: str) -> ShareRequest:
    """The operator records the coordination (协调意见) of an escalated or disputed request."""
    require_role(principal, Role.operator, message="只有平台管理员可以协调共享申请")
    req = get_request(session, principal, request_id)
    if not note.strip():
        raise ValidationFailed("请填写协调意见", code="share_request_note_required")
    stamp = clock.today().isoformat()
    req.coordination_note = (
        req.coordination_note + "\n" if req.coordination_note else ""
    ) + f"{stamp} {note.strip()}"
    session.flush()
    audit.record(
        session,
        principal,
        "share_request.coordinate",
        summary=f"协调共享申请 {req.id}：{note.strip()[:80]}",
        object_type="share_request",
        object_id=req.id,
    )
    return req


# ---- deadlines -----------------------------------------------------------------------------


@dataclass
class DeadlineRun:
    reminded: list[int]
    escalated: list[int]


def process_deadlines(session: Session, now: datetime) -> DeadlineRun:
    """Remind providers once before the due day; escalate what is overdue to the operators (once)."""
    today = now.astimezone(clock.PLATFORM_TZ).date()
    settings = get_settings(session)
    overrides = calendar.load_overrides(session)
    run = DeadlineRun([], [])
    pending = session.scalars(
        select(ShareRequest).where(
            ShareRequest.status == RequestStatus.pending.value,
            ShareRequest.due_on.is_not(None),
            ShareRequest.escalated_at.is_(None),  # escalated ones wait for the answer or the operator
        )
    )
    for req in pending:
        assert req.due_on is not None
        if req.due_on < today:
            if req.escalated_at is None:
                req.escalated_at = now
                req.overdue = True
                run.escalated.append(req.id)
                audit.record(
                    session,
                    None,
                    "share_request.escalate",
                    summary=f"共享申请 {req.id} 已超过答复期限（{req.due_on}），转平台管理员协调",
                    object_type="share_request",
                    object_id=req.id,
                    detail={
                        "provider_department_id": req.provider_department_id,
                        "due_on": req.due_on.isoformat(),
                    },
                    actor_name="期限提醒",
                )
        elif (
            req.reminded_at is None
            and settings.remind_days > 0
            and calendar.working_days_between(today, req.due_on, overrides) <= settings.remind_days
        ):
            req.reminded_at = now
            run.reminded.append(req.id)
            audit.record(
                session,
                None,
                "share_request.remind",
                summary=f"提醒：共享申请 {req.id} 须在 {req.due_on} 前答复",
                object_type="share_request",
                object_id=req.id,
                detail={
                    "provider_department_id": req.provider_department_id,
                    "due_on": req.due_on.isoformat(),
                },
                actor_name="期限提醒",
            )
    session.flush()
    return run


@jobs.on_tick
def deadlines_tick(session: Session, now: datetime) -> None:
    process_deadlines(session, now)
