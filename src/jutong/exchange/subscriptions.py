"""Subscriptions (订阅): a consumer department has the changes of a granted resource delivered.

Two kinds: ``webhook`` (signed HTTP POSTs to the consumer's address, one per data version) and ``table``
(库表推送: rows upserted into a table of the consumer's own database, by SQLAlchemy URL). Only people of
the grant's consumer department create and cancel them; operators may cancel any (coordination).

A webhook subscription starts at the resource's current data version: the state before it is had
through the export, the changes after it arrive in order (``exchange.delivery``). A table push starts
with a full copy of the granted view (once data is loaded), then follows the changes. The webhook secret is
generated here and shown once, on creation; it signs every delivery (HMAC-SM3).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from jutong.core import audit, clock
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.ingest.models import ResourceData
from jutong.sharing.models import (
    Application,
    Grant,
    GrantStatus,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
)

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
# consumers' own databases reachable by push (the drivers installed with the platform); not SQLite: a
# file path would let a consumer write files on the platform's own server
TABLE_DIALECTS = ("postgresql", "mysql", "mariadb")


@dataclass(frozen=True)
class Created:
    subscription: Subscription
    secret: str  # the webhook signing secret, shown only now ("" for table push)


def grant_is_live(grant: Grant) -> str | None:
    """Why the grant no longer allows access (None when it does): revoked, not yet valid, expired."""
    today = clock.today()
    if grant.status != GrantStatus.active.value:
        return "授权已撤销"
    if grant.starts_on > today:
        return f"授权自 {grant.starts_on.isoformat()} 起生效"
    if grant.expires_on < today:
        return f"授权已于 {grant.expires_on.isoformat()} 到期"
    return None


def _own_grant(session: Session, principal: Principal, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"授权 {grant_id} 不存在", code="grant_not_found")
    if principal.department_id != grant.consumer_department_id:
        raise Forbidden("只有被授权的使用部门可以为该授权创建订阅", code="subscription_not_consumer")
    return grant


def _application_allowed(session: Session, grant: Grant, application_id: int) -> bool:
    """As for the data services: a grant that names applications allows those; one that names none allows
    any live application of the consumer department."""
    if grant.application_ids:
        return application_id in grant.application_ids
    app = session.get(Application, application_id)
    return app is not None and app.department_id == grant.consumer_department_id and app.retired_at is None


def _check_webhook_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a malformed host or port
        valid = False
    if not valid or len(url) > 2000 or any(ord(ch) < 32 for ch in url):
        raise ValidationFailed(
            "推送地址须为 http:// 或 https:// 开头的完整网址，例如 https://example.gov.cn/jutong/hook",
            code="subscription_url_invalid",
            detail={"url": url[:200]},
        )
    return url


def _check_table_target(url: str, table: str) -> tuple[str, str]:
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):  # unparseable, or a malformed host or port
        parsed = None
    if parsed is None or parsed.get_backend_name() not in TABLE_DIALECTS:
        raise ValidationFailed(
            "库表推送的数据库地址须为 SQLAlchemy URL，例如 postgresql+psycopg://用户:口令@主机/库 "
            "或 mysql+pymysql://用户:口令@主机/库",
            code="subscription_database_url_invalid",
        )
    if not TABLE_NAME.match(table or ""):
        raise ValidationFailed(
            "表名只能包含字母、数字和下划线，以字母或下划线开头，不超过 63 个字符",
            code="subscription_table_invalid",
            detail={"table": (table or "")[:100]},
        )
    return url.strip(), table


def _check_table_grant(grant: Grant, data: ResourceData | None) -> None:
    """Rows are upserted by key: the key items must be granted and unmasked."""
    keys = list(data.key_columns) if data else []
    missing = [k for k in keys if k not in grant.items]
    masked = [k for k in keys if grant.masking.get(k, "none") != "none"]
    if not keys or missing or masked:
        raise ValidationFailed(
            "库表推送按主键写入，授权须包含未脱敏的主键信息项"
            + (f"（缺少：{'、'.join(missing)}）" if missing else "")
            + (f"（已脱敏：{'、'.join(masked)}）" if masked else "")
            + "；请改用 HTTP 推送，或申请包含主键的授权",
            code="subscription_table_needs_key",
            detail={"missing": missing, "masked": masked},
        )


def create_subscription(
    session: Session,
    principal: Principal,
    *,
    grant_id: int,
    kind: str,
    url: str,
    table: str | None = None,
    application_id: int | None = None,
    timeout: float | None = None,
) -> Created:
    require_role(principal, Role.consumer, Role.steward)
    grant = _own_grant(session, principal, grant_id)
    why = grant_is_live(grant)
    if why:
        raise Forbidden(f"{why}，不能订阅", code="grant_not_live")
    if application_id is None:
        application_id = principal.application_id  # an application's own key subscribes for itself
    if application_id is not None and not _application_allowed(session, grant, application_id):
        raise ValidationFailed(
            f"应用 {application_id} 不在该授权列明的应用中", code="subscription_application_not_granted"
        )
    if timeout is not None and not (0 < timeout <= MAX_TIMEOUT):
        raise ValidationFailed(f"超时须在 0 到 {MAX_TIMEOUT:g} 秒之间", code="subscription_timeout_invalid")
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == grant.resource_id))
    secret = ""
    if kind == SubscriptionKind.webhook.value:
        target: dict[str, Any] = {"url": _check_webhook_url(url)}
        secret = secrets.token_hex(32)
    elif kind == SubscriptionKind.table.value:
        db_url, name = _check_table_target(url, table or "")
        _check_table_grant(grant, data)
        # the table starts as a full copy of the granted view, then follows the changes
        target = {"url": db_url, "table": name, "copied": False}
    else:
        raise ValidationFailed(
            f"订阅方式“{kind}”不存在，可选：webhook（HTTP 推送）、table（库表推送）",
            code="subscription_kind_invalid",
        )
    target["timeout"] = timeout or DEFAULT_TIMEOUT
    sub = Subscription(
        grant_id=grant.id,
        application_id=application_id,
        kind=kind,
        target=target,
        secret=secret,
        acked_version=0 if kind == SubscriptionKind.table.value else (data.data_version if data else 0),
        status=SubscriptionStatus.active.value,
        created_by=principal.user_id,
    )
    session.add(sub)
    session.flush()
    audit.record(
        session,
        principal,
        "subscription.create",
        summary=f"为授权 {grant.id} 创建{'HTTP 推送' if kind == 'webhook' else '库表推送'}订阅",
        object_type="subscription",
        object_id=sub.id,
        detail={
            "grant_id": grant.id,
            "kind": kind,
            "target": public_target(sub),
            "from_version": sub.acked_version,
        },
    )
    return Created(sub, secret)


def get_subscription(
    session: Session, principal: Principal, subscription_id: int, *, provider_reads: bool = False
) -> Subscription:
    """One subscription of the principal's department; ``provider_reads``: the steward of the resource's
    department may read it too (the pages show providers who receives their data; they change nothing)."""
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise NotFound(f"订阅 {subscription_id} 不存在", code="subscription_not_found")
    if principal.role in (Role.operator, Role.auditor):
        return sub
    grant = session.get(Grant, sub.grant_id)
    if grant is not None and principal.department_id == grant.consumer_department_id:
        return sub
    if (
        provider_reads
        and grant is not None
        and principal.role == Role.steward
        and principal.department_id == grant.provider_department_id
    ):
        return sub
    raise Forbidden("只能查看本部门的订阅", code="subscription_not_consumer")


def list_subscriptions(
    session: Session, principal: Principal, *, grant_id: int | None = None
) -> list[Subscription]:
    """The principal's department's subscriptions (operators and auditors: all), newest first."""
    query = (
        select(Subscription).join(Grant, Grant.id == Subscription.grant_id).order_by(Subscription.id.desc())
    )
    if principal.role not in (Role.operator, Role.auditor):
        query = query.where(Grant.consumer_department_id == principal.department_id)
    if grant_id is not None:
        query = query.where(Subscription.grant_id == grant_id)
    return list(session.scalars(query))


def provided_subscriptions(session: Session, principal: Principal) -> list[Subscription]:
    """Subscriptions to the steward's department's resources (read-only for the provider), newest first."""
    if principal.role != Role.steward or principal.department_id is None:
        return []
    return list(
        session.scalars(
            select(Subscription)
            .join(Grant, Grant.id == Subscription.grant_id)
            .where(Grant.provider_department_id == principal.department_id)
            .order_by(Subscription.id.desc())
        )
    )


def subscribable_grants(session: Session, principal: Principal) -> list[Grant]:
    """The live grants the principal's department holds as consumer: what a new subscription may follow."""
    if principal.role not in (Role.consumer, Role.steward) or principal.department_id is None:
        return []
    found = session.scalars(
        select(Grant)
        .where(
            Grant.consumer_department_id == principal.department_id,
            Grant.status == GrantStatus.active.value,
        )
        .order_by(Grant.id.desc())
    )
    return [g for g in found if grant_is_live(g) is None]


def data_versions(session: Session, resource_ids: set[int]) -> dict[int, int]:
    """The current data version of each resource (0 before its first load)."""
    if not resource_ids:
        return {}
    rows = session.execute(
        select(ResourceData.resource_id, ResourceData.data_version).where(
            ResourceData.resource_id.in_(resource_ids)
        )
    )
    return {int(r): int(v) for r, v in rows}


def history(session: Session, sub: Subscription, limit: int = 100) -> list[audit.AuditEvent]:
    """What happened to the subscription, newest first: creation, each delivery attempt, cancelling.
    The model keeps only the last outcome; the audit log keeps every attempt (recorded before it left)."""
    return list(
        session.scalars(
            select(audit.AuditEvent)
            .where(audit.AuditEvent.object_type == "subscription", audit.AuditEvent.object_id == str(sub.id))
            .order_by(audit.AuditEvent.id.desc())
            .limit(limit)
        )
    )


def cancel_subscription(session: Session, principal: Principal, subscription_id: int) -> Subscription:
    require_role(principal, Role.consumer, Role.steward, Role.operator)
    sub = get_subscription(session, principal, subscription_id)
    if sub.status == SubscriptionStatus.stopped.value:
        raise Conflict("该订阅已停止", code="subscription_stopped")
    sub.status = SubscriptionStatus.stopped.value
    sub.next_attempt_at = None
    audit.record(
        session,
        principal,
        "subscription.cancel",
        summary=f"取消订阅 {sub.id}",
        object_type="subscription",
        object_id=sub.id,
        detail={"grant_id": sub.grant_id, "acked_version": sub.acked_version},
    )
    return sub


def target_label(sub: Subscription) -> str:
    """The target for pages, with nothing secret in it: no password, user name or query string (webhook
    addresses often carry a token there); a table push shows its database without the password."""
    target = public_target(sub)
    url = str(target.get("url") or "")
    if sub.kind == SubscriptionKind.table.value:
        return f"{url} 表 {target.get('table', '')}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def public_target(sub: Subscription) -> dict[str, Any]:
    """The target as people may see it: a database URL without its password."""
    target = dict(sub.target)
    if sub.kind == SubscriptionKind.table.value and target.get("url"):
        try:
            target["url"] = make_url(target["url"]).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            target["url"] = "***"
    return target
