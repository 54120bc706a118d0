"""API: catalog statistics (目录统计) under /api/v1/catalog/stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from jutong.catalog import stats as catalog_stats
from jutong.core.auth import Principal, Role
from jutong.web.deps import DbSession, roles

router = APIRouter(tags=["资源目录统计"])

# every signed-in role of the catalog reads the statistics
Reader = Annotated[Principal, Depends(roles(Role.operator, Role.steward, Role.auditor, Role.consumer))]


class CountOut(BaseModel):
    code: str = Field(description="代码（英文）")
    label: str = Field(description="中文名称")
    count: int
    percent: float = Field(description="占比（%，一位小数，四舍五入）")


class DepartmentStatsOut(BaseModel):
    department_id: int
    department_code: str
    department_name: str
    catalogued: int = Field(description="已梳理（未撤销的全部资源，含草稿、待审核）")
    published: int = Field(description="已发布")
    unconditional: int = Field(description="已发布中无条件共享")
    conditional: int = Field(description="已发布中有条件共享")
    none: int = Field(description="已发布中不予共享")
    open: int = Field(description="已发布中向社会开放（无条件开放 + 有条件开放）")
    rank: int | None = Field(description="按已发布数排名（并列同名次）；未发布为 null")


class ZeroDepartmentOut(BaseModel):
    department_id: int
    department_code: str
    department_name: str


class CatalogStatsOut(BaseModel):
    summary: str = Field(description="统计结论（全市已梳理资源目录 … 条，发布 … 条 …）")
    catalogued: int = Field(description="已梳理资源数（未撤销）")
    published: int = Field(description="已发布资源数")
    by_status: list[CountOut] = Field(description="已梳理资源按状态（占已梳理数）")
    by_share_type: list[CountOut] = Field(description="已发布资源按共享类型（占已发布数）")
    by_open_type: list[CountOut] = Field(description="已发布资源按开放类型")
    by_update_cycle: list[CountOut] = Field(description="已发布资源按更新周期")
    by_category: list[CountOut] = Field(description="已发布资源按分类（类：基础/主题/部门）")
    department_count: int = Field(description="平台部门总数")
    departments: list[DepartmentStatsOut] = Field(description="有资源的部门（按部门代码）")
    ranking: list[DepartmentStatsOut] = Field(description="部门按已发布资源数排名")
    zero_departments: list[ZeroDepartmentOut] = Field(description="没有任何资源的部门（上报数为 0）")


def _counts(items: list[catalog_stats.Count]) -> list[CountOut]:
    return [CountOut(code=c.code, label=c.label, count=c.count, percent=c.percent) for c in items]


def _department(d: catalog_stats.DepartmentStats) -> DepartmentStatsOut:
    return DepartmentStatsOut(
        department_id=d.department_id,
        department_code=d.department_code,
        department_name=d.department_name,
        catalogued=d.catalogued,
        published=d.published,
        unconditional=d.unconditional,
        conditional=d.conditional,
        none=d.none,
        open=d.open,
        rank=d.rank,
    )


def stats_out(stats: catalog_stats.CatalogStats) -> CatalogStatsOut:
    return CatalogStatsOut(
        summary=stats.summary(),
        catalogued=stats.catalogued,
        published=stats.published,
        by_status=_counts(stats.by_status),
        by_share_type=_counts(stats.by_share_type),
        by_open_type=_counts(stats.by_open_type),
        by_update_cycle=_counts(stats.by_update_cycle),
        by_category=_counts(stats.by_category),
        department_count=stats.department_count,
        departments=[_department(d) for d in stats.departments],
        ranking=[_department(d) for d in stats.ranking],
        zero_departments=[
            ZeroDepartmentOut(
                department_id=z.department_id,
                department_code=z.department_code,
                department_name=z.department_name,
            )
            for z in stats.zero_departments
        ],
    )


@router.get(
    "/catalog/stats",
    response_model=CatalogStatsOut,
    summary="资源目录统计（按共享类型、开放类型、部门、更新周期、分类；零上报部门与排名）",
)
def get_stats(session: DbSession, principal: Reader) -> CatalogStatsOut:
    return stats_out(catalog_stats.catalog_stats(session))
