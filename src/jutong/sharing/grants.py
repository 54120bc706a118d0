"""Grants (授权): what a consumer department may read of a resource, masked how, until when, how much a day.

``create_grant`` is called when a request is approved (or at once for an unconditional resource): it checks
the items and masking against the resource's published items. ``live_grant`` is the one check every data
service goes through; it names exactly why access is refused (no grant, not yet valid, expired, revoked,
application not named, quota used up), so a consumer knows what to ask for. An expired or revoked grant
stops access at once: nothing is cached.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date
from typing import cast

from sqlalchemy import Insert, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from jutong.catalog import service as catalog_service
from jutong.catalog.models import Resource
from jutong.core import audit, clock
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.exchange import masking as masking_rules
from jutong.sharing.models import USAGE_SLOTS, Grant, GrantStatus, GrantUsage, ShareRequest

DELIVERIES = ("api", "file", "table")


def resource_items(session: Session, resource: Resource) -> list[dict[str, object]]:
    """The items of the resource's published version (what may be granted)."""
    version = catalog_service.latest_version(session, resource)
    if version is None:
        raise Conflict(f"资源“{resource.name}”尚未发布，不能授权", code="resource_not_published")
    return list(version.snapshot.get("items") or [])


def create_grant(
    session: Session,
    principal: Principal,
    *,
    request: ShareRequest | None,
    resource: Resource,
    consumer_department_id: int,
    items: Sequence[str],
    masking: dict[str, str] | None,
    application_ids: Sequence[int],
    purpose: str,
    delivery: str,
    starts_on: date,
    expires_on: date,
    daily_quota: int | None,
) -> Grant:
    """A new grant. ``masking=None`` applies the defaults by data element (身份证号、姓名、电话、地址);
    ``{}`` grants every item as stored. Who may approve is the caller's check (the request workflow)."""
    published = {str(i["column_name"]): i for i in resource_items(session, resource)}
    chosen = list(dict.fromkeys(str(i) for i in items))
    if not chosen:
        raise ValidationFailed("请至少授权一个信息项", code="grant_items_required")
    unknown = [c for c in chosen if c not in published]
    if unknown:
        raise ValidationFailed(
            f"资源“{resource.name}”没有这些信息项：{'、'.join(unknown)}，请按资源目录中的信息项选择",
            code="grant_items_unknown",
            detail={"unknown": unknown, "available": list(published)},
        )
    if masking is None:
        masking = masking_rules.default_masking(published[c] for c in chosen)
    rules = {}
    for column, policy in masking.items():
        if column not in chosen:
            raise ValidationFailed(
                f"脱敏规则针对的信息项“{column}”不在授权范围内",
                code="grant_masking_item",
                detail={"column": column},
            )
        if masking_rules.check_policy(column, policy) != "none":
            rules[column] = policy
    if expires_on < starts_on:
        raise ValidationFailed(
            f"授权截止日期 {expires_on} 早于起始日期 {starts_on}", code="grant_period_invalid"
        )
    if daily_quota is not None and daily_quota < 1:
        raise ValidationFailed("每日配额须为正整数（不限则留空）", code="grant_quota_invalid")
    if delivery not in DELIVERIES:
        raise ValidationFailed(
            f"共享方式“{delivery}”无效，可选：{'、'.join(DELIVERIES)}", code="grant_delivery_invalid"
        )
    if not purpose.strip():
        raise ValidationFailed("请填写使用用途", code="grant_purpose_required")
    grant = Grant(
        request_id=request.id if request is not None else None,
        resource_id=resource.id,
        provider_department_id=resource.department_id,
        consumer_department_id=consumer_department_id,
        items=chosen,
        masking=rules,
        application_ids=[int(a) for a in application_ids],
        purpose=purpose.strip(),
        delivery=delivery,
        starts_on=starts_on,
        expires_on=expires_on,
        daily_quota=daily_quota,
        status=GrantStatus.active.value,
        created_by=principal.user_id,
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        principal,
        "grant.create",
        summary=f"授权资源“{resource.name}”的 {len(chosen)} 个信息项，有效期至 {expires_on}",
        object_type="grant",
        object_id=grant.id,
        detail={
            "resource_id": resource.id,
            "consumer_department_id": consumer_department_id,
            "items": chosen,
            "masking": rules,
            "application_ids": grant.application_ids,
            "expires_on": expires_on.isoformat(),
            "daily_quota": daily_quota,
            "request_id": grant.request_id,
        },
    )
    return grant


def get_grant(session: Session, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"授权 {grant_id} 不存在", code="grant_not_found")
    return grant


def revoke_grant(session: Session, principal: Principal, grant_id: int, reason: str) -> Grant:
    """The provider's steward or an operator stops a grant at once (须说明理由)."""
    require_role(
        principal, Role.operator, Role.steward, message="只有提供部门的数据管理员或平台管理员可以撤销授权"
    )
    grant = get_grant(session, grant_id)
    require_department(principal, grant.provider_department_id, what="该授权的资源")
    if not reason.strip():
        raise ValidationFailed("请填写撤销理由", code="grant_revoke_reason_required")
    if grant.status == GrantStatus.revoked.value:
        raise Conflict(f"授权 {grant_id} 已于 {grant.revoked_at} 撤销", code="grant_already_revoked")
    grant.status = GrantStatus.revoked.value
    grant.revoked_at = utcnow()
    grant.revoked_by = principal.user_id
    grant.revoke_reason = reason.strip()
    session.flush()
    audit.record(
        session,
        principal,
        "grant.revoke",
        summary=f"撤销授权 {grant_id}：{reason.strip()}",
        object_type="grant",
        object_id=grant.id,
        detail={"resource_id": grant.resource_id, "consumer_department_id": grant.consumer_department_id},
    )
    return grant


def used_today(session: Session, grant: Grant, day: date | None = None) -> int:
    used = session.scalar(
        select(func.sum(GrantUsage.rows)).where(
            GrantUsage.grant_id == grant.id, GrantUsage.day == (day or clock.today())
        )
    )
    return int(used or 0)


def usage_upsert(dialect: str, grant_id: int, rows: int, calls: int = 1) -> Insert:
    """The statement adding ``calls`` calls of ``rows`` rows in all to the grant's usage today, in one
    of its slots."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, GrantUsage.__table__)
    stmt = insert(table).values(
        grant_id=grant_id, day=clock.today(), slot=random.randrange(USAGE_SLOTS), rows=rows, calls=calls
    )
    return stmt.on_conflict_do_update(
        index_elements=["grant_id", "day", "slot"],
        set_={"rows": table.c.rows + rows, "calls": table.c.calls + calls},
    )


def count_usage(session: Session, grant_id: int, rows: int) -> None:
    """Add one call of ``rows`` rows to the grant's usage today (see GrantUsage)."""
    session.connection().execute(usage_upsert(session.get_bind().dialect.name, grant_id, rows))


def _refuse(code: str, message: str, **detail: object) -> Forbidden:
    return Forbidden(message, code=code, detail=detail or None)


def live_grant(session: Session, principal: Principal, resource_id: int) -> Grant:
    """The grant under which ``principal`` reads ``resource_id`` now, or Forbidden saying why not.

    Callers: users and API keys of the consumer department (an application's key must be named in the
    grant when the grant names applications). Among several grants the first that is live wins.
    """
    if principal.department_id is None:
        raise _refuse("grant_no_department", "数据服务仅供使用部门调用；当前账号不属于任何部门")
    grants = list(
        session.scalars(
            select(Grant)
            .where(Grant.resource_id == resource_id, Grant.consumer_department_id == principal.department_id)
            .order_by(Grant.id.desc())
        )
    )
    if not grants:
        raise _refuse(
            "grant_missing",
            "本部门没有该资源的共享授权，请先在资源页面提交共享申请",
            resource_id=resource_id,
        )
    today = clock.today()
    reasons: list[Forbidden] = []
    for grant in grants:
        if grant.status == GrantStatus.revoked.value:
            reasons.append(
                _refuse(
                    "grant_revoked",
                    f"授权 {grant.id} 已被撤销（{grant.revoke_reason}），如仍需使用请重新申请",
                    grant_id=grant.id,
                )
            )
        elif today > grant.expires_on:
            reasons.append(
                _refuse(
                    "grant_expired",
                    f"授权 {grant.id} 已于 {grant.expires_on} 到期，如仍需使用请重新申请",
                    grant_id=grant.id,
                    expires_on=grant.expires_on.isoformat(),
                )
            )
        elif today < grant.starts_on:
            reasons.append(
                _refuse(
                    "grant_not_started",
                    f"授权 {grant.id} 自 {grant.starts_on} 起生效",
                    grant_id=grant.id,
                    starts_on=grant.starts_on.isoformat(),
                )
            )
        elif grant.application_ids and principal.application_id not in grant.application_ids:
            reasons.append(
                _refuse(
                    "grant_application_forbidden",
                    f"授权 {grant.id} 只允许其列明的应用调用，请使用这些应用的 API 密钥",
                    grant_id=grant.id,
                    application_ids=list(grant.application_ids),
                )
            )
        elif grant.daily_quota is not None and used_today(session, grant, today) >= grant.daily_quota:
            reasons.append(
                _refuse(
                    "grant_quota_exhausted",
                    f"授权 {grant.id} 今日配额 {grant.daily_quota} 条已用完，请明日再试或申请提高配额",
                    grant_id=grant.id,
                    daily_quota=grant.daily_quota,
                )
            )
        else:
            return grant
    raise reasons[0]  # the newest grant's reason


def list_grants(
    session: Session,
    principal: Principal,
    *,
    resource_id: int | None = None,
    consumer_department_id: int | None = None,
    provider_department_id: int | None = None,
    status: str | None = None,
) -> list[Grant]:
    """Grants the principal may see: operators and auditors all; others their department's (either side)."""
    stmt = select(Grant).order_by(Grant.id.desc())
    if principal.role not in (Role.operator, Role.auditor):
        if principal.department_id is None:
            return []
        dept = principal.department_id
        stmt = stmt.where((Grant.consumer_department_id == dept) | (Grant.provider_department_id == dept))
    if resource_id is not None:
        stmt = stmt.where(Grant.resource_id == resource_id)
    if consumer_department_id is not None:
        stmt = stmt.where(Grant.consumer_department_id == consumer_department_id)
    if provider_department_id is not None:
        stmt = stmt.where(Grant.provider_department_id == provider_department_id)
    if status is not None:
        stmt = stmt.where(Grant.status == status)
    return list(session.scalars(stmt))


def is_live(grant: Grant, today: date | None = None) -> bool:
    """Active and within its period (quota and applications aside): subscriptions stop when this is false."""
    day = today or clock.today()
    return grant.status == GrantStatus.active.value and grant.starts_on <= day <= grant.expires_on
