"""API: statistics of use (共享调用统计) under /api/v1/sharing/stats."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from jutong.core.auth import Principal, Role
from jutong.sharing import stats
from jutong.web.deps import DbSession, record_read, roles

router = APIRouter(prefix="/sharing", tags=["共享调用统计"], dependencies=[Depends(record_read)])

Reader = Annotated[Principal, Depends(roles(Role.operator, Role.auditor, Role.steward, Role.consumer))]


class TotalOut(BaseModel):
    calls: int = Field(description="调用次数")
    rows: int = Field(description="提供的记录条数")


class KindOut(TotalOut):
    kind: str = Field(
        description="lookup 查询 / query 条件查询 / verify 核验 / export 导出 / feed / delivery"
    )
    label: str


class DayOut(TotalOut):
    day: date = Field(description="北京时间日期")


class ResourceOut(TotalOut):
    resource_id: int
    resource_code: str
    resource_name: str
    provider_name: str
    consumers: int = Field(description="使用部门数")


class DepartmentOut(TotalOut):
    department_id: int
    department_code: str
    department_name: str
    resources: int = Field(description="涉及资源数")


class UsageOut(BaseModel):
    summary: str
    start: date
    end: date = Field(description="截止日（含）")
    scope: str = Field(description="全平台 / 本部门提供和使用的 / 本部门使用的")
    total: TotalOut
    by_kind: list[KindOut]
    by_day: list[DayOut] = Field(description="区间内每一天（无调用为 0）")
    by_resource: list[ResourceOut]
    by_provider: list[DepartmentOut]
    by_consumer: list[DepartmentOut]


def usage_out(u: stats.Usage) -> UsageOut:
    return UsageOut(
        summary=u.summary(),
        start=u.start,
        end=u.end,
        scope=u.scope,
        total=TotalOut(calls=u.total.calls, rows=u.total.rows),
        by_kind=[KindOut(kind=k.kind, label=k.label, calls=k.calls, rows=k.rows) for k in u.by_kind],
        by_day=[DayOut(day=d.day, calls=d.calls, rows=d.rows) for d in u.by_day],
        by_resource=[
            ResourceOut(
                resource_id=r.resource_id,
                resource_code=r.resource_code,
                resource_name=r.resource_name,
                provider_name=r.provider_name,
                consumers=r.consumers,
                calls=r.calls,
                rows=r.rows,
            )
            for r in u.by_resource
        ],
        by_provider=[_department(d) for d in u.by_provider],
        by_consumer=[_department(d) for d in u.by_consumer],
    )


def _department(d: stats.DepartmentUsage) -> DepartmentOut:
    return DepartmentOut(
        department_id=d.department_id,
        department_code=d.department_code,
        department_name=d.department_name,
        resources=d.resources,
        calls=d.calls,
        rows=d.rows,
    )


@router.get(
    "/stats/usage", response_model=UsageOut, summary="共享调用统计（按资源、提供部门、使用部门、类型、日）"
)
def get_usage(
    session: DbSession,
    principal: Reader,
    start: Annotated[date | None, Query(description="起始日（含），默认截止日前 29 天")] = None,
    end: Annotated[date | None, Query(description="截止日（含），默认今天")] = None,
    resource_id: Annotated[int | None, Query()] = None,
    provider_department_id: Annotated[int | None, Query()] = None,
    consumer_department_id: Annotated[int | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> UsageOut:
    return usage_out(
        stats.usage(
            session,
            principal,
            start=start,
            end=end,
            resource_id=resource_id,
            provider_department_id=provider_department_id,
            consumer_department_id=consumer_department_id,
            kind=kind,
        )
    )
