"""Statistics of use (共享调用统计): calls and rows served per resource, provider, consumer, kind and day.

Read from ``DataAccess`` (one row per data access, written by the exchange's access check), aggregated
in SQL so a year of accesses costs one grouped query per view, never a loop over rows. Days are
Beijing calendar days (the platform's day; China keeps UTC+8 all year, no daylight saving).

Who sees what: operators and auditors the whole platform; a steward what its department provided or
consumed; a consumer what its department consumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import Principal, Role
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.registry.models import Department
from jutong.sharing.models import AccessKind, DataAccess

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Total:
    calls: int = 0
    rows: int = 0


@dataclass(frozen=True)
class KindUsage:
    kind: str
    label: str
    calls: int
    rows: int


@dataclass(frozen=True)
class DayUsage:
    day: date
    calls: int
    rows: int


@dataclass(frozen=True)
class ResourceUsage:
    resource_id: int
    resource_code: str
    resource_name: str
    provider_name: str
    calls: int
    rows: int
    consumers: int  # distinct consuming departments


@dataclass(frozen=True)
class DepartmentUsage:
    department_id: int
    department_code: str
    department_name: str
    calls: int
    rows: int
    resources: int  # distinct resources


@dataclass(frozen=True)
class Usage:
    start: date
    end: date  # inclusive
    scope: str  # 全平台 / 本部门
    total: Total
    by_kind: list[KindUsage]
    by_day: list[DayUsage]  # every day of the period, zeros included, oldest first
    by_resource: list[ResourceUsage]  # most calls first
    by_provider: list[DepartmentUsage]
    by_consumer: list[DepartmentUsage]
    filters: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.start.isoformat()} 至 {self.end.isoformat()}，{self.scope}共享调用 {self.total.calls} 次，"
            f"提供记录 {self.total.rows} 条，涉及资源 {len(self.by_resource)} 个、"
            f"提供部门 {len(self.by_provider)} 个、使用部门 {len(self.by_consumer)} 个"
        )


def period(start: date | None, end: date | None, today: date | None = None) -> tuple[date, date]:
    """The period asked for, by default the last 30 days up to today; at most a year (366 days)."""
    end = end or today or clock.today()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            f"统计起始日 {start.isoformat()} 晚于截止日 {end.isoformat()}，请调换",
            code="stats_period_invalid",
            detail={"start": start.isoformat(), "end": end.isoformat()},
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"统计区间最长 {MAX_DAYS} 天，请缩短（收到 {(end - start).days + 1} 天）",
            code="stats_period_too_long",
            detail={"start": start.isoformat(), "end": end.isoformat()},
        )
    return start, end


def _utc_bound(day: date) -> datetime:
    """The UTC instant a Beijing day begins."""
    return datetime.combine(day, time(), clock.PLATFORM_TZ).astimezone(UTC)


def _scope(principal: Principal) -> tuple[Any, str]:
    if principal.role in (Role.operator, Role.auditor):
        return None, "全平台"
    if principal.department_id is None:
        raise Forbidden("共享调用统计仅限平台管理员、审计人员和各部门查看", code="stats_forbidden")
    own = principal.department_id
    if principal.role == Role.steward:
        condition = or_(DataAccess.provider_department_id == own, DataAccess.consumer_department_id == own)
        return condition, "本部门提供和使用的"
    if principal.role == Role.consumer:
        return DataAccess.consumer_department_id == own, "本部门使用的"
    raise Forbidden("共享调用统计仅限平台管理员、审计人员和各部门查看", code="stats_forbidden")


def _beijing_day(session: Session) -> Any:
    """The Beijing calendar day of ``DataAccess.at`` (stored as naive UTC), in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(DataAccess.at + text("INTERVAL '8 hours'"), Date)
    return func.date(DataAccess.at, literal_column("'+8 hours'"))


def usage(
    session: Session,
    principal: Principal,
    *,
    start: date | None = None,
    end: date | None = None,
    resource_id: int | None = None,
    provider_department_id: int | None = None,
    consumer_department_id: int | None = None,
    kind: str | None = None,
    today: date | None = None,
) -> Usage:
    start, end = period(start, end, today)
    scope_condition, scope = _scope(principal)
    if kind is not None and kind not in {k.value for k in AccessKind}:
        raise ValidationFailed(
            f"未知的调用类型“{kind[:20]}”，可选：" + "、".join(k.value for k in AccessKind),
            code="stats_kind_unknown",
        )
    conditions: list[Any] = [
        DataAccess.at >= _utc_bound(start),
        DataAccess.at < _utc_bound(end + timedelta(1)),
    ]
    if scope_condition is not None:
        conditions.append(scope_condition)
    filters: dict[str, Any] = {}
    for column, value, name in (
        (DataAccess.resource_id, resource_id, "resource_id"),
        (DataAccess.provider_department_id, provider_department_id, "provider_department_id"),
        (DataAccess.consumer_department_id, consumer_department_id, "consumer_department_id"),
        (DataAccess.kind, kind, "kind"),
    ):
        if value is not None:
            conditions.append(column == value)
            filters[name] = value

    calls = func.count(DataAccess.id)
    rows = func.coalesce(func.sum(DataAccess.rows), 0)

    total_row = session.execute(select(calls, rows).where(*conditions)).one()
    total = Total(int(total_row[0]), int(total_row[1]))

    kinds = {str(k): (int(c), int(r)) for k, c, r in session.execute(
        select(DataAccess.kind, calls, rows).where(*conditions).group_by(DataAccess.kind)
    )}  # fmt: skip
    by_kind = [
        KindUsage(k.value, k.label, *kinds.get(k.value, (0, 0))) for k in AccessKind if k.value in kinds
    ]

    day = _beijing_day(session).label("day")
    per_day: dict[date, tuple[int, int]] = {}
    for d, c, r in session.execute(select(day, calls, rows).where(*conditions).group_by(day)):
        key = d if isinstance(d, date) else date.fromisoformat(str(d)[:10])
        per_day[key] = (int(c), int(r))
    by_day = [
        DayUsage(start + timedelta(i), *per_day.get(start + timedelta(i), (0, 0)))
        for i in range((end - start).days + 1)
    ]

    provider = Department.__table__.alias("provider")
    resource_rows = session.execute(
        select(
            Resource.id,
            Resource.code,
            Resource.name,
            provider.c.name,
            calls,
            rows,
            func.count(func.distinct(DataAccess.consumer_department_id)),
        )
        .join(Resource, Resource.id == DataAccess.resource_id)
        .join(provider, provider.c.id == Resource.department_id)
        .where(*conditions)
        .group_by(Resource.id, Resource.code, Resource.name, provider.c.name)
        .order_by(calls.desc(), Resource.code)
    )
    by_resource = [ResourceUsage(int(i), str(c), str(n), str(p), int(k), int(r), int(d))
                   for i, c, n, p, k, r, d in resource_rows]  # fmt: skip

    return Usage(
        start=start,
        end=end,
        scope=scope,
        total=total,
        by_kind=by_kind,
        by_day=by_day,
        by_resource=by_resource,
        by_provider=_by_department(session, DataAccess.provider_department_id, conditions),
        by_consumer=_by_department(session, DataAccess.consumer_department_id, conditions),
        filters=filters,
    )


def _by_department(session: Session, column: Any, conditions: list[Any]) -> list[DepartmentUsage]:
    calls = func.count(DataAccess.id)
    found = session.execute(
        select(
            Department.id,
            Department.code,
            Department.name,
            calls,
            func.coalesce(func.sum(DataAccess.rows), 0),
            func.count(func.distinct(DataAccess.resource_id)),
        )
        .join(Department, Department.id == column)
        .where(*conditions)
        .group_by(Department.id, Department.code, Department.name)
        .order_by(calls.desc(), Department.code)
    )
    return [DepartmentUsage(int(i), str(c), str(n), int(k), int(r), int(d)) for i, c, n, k, r, d in found]
