"""The shape of a catalog search answer, shared by the API and ``jutong catalog search --format json``."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from jutong.catalog.search import FACET_WINDOW, SearchResult


class FacetValueOut(BaseModel):
    value: str = Field(description="筛选用的代码（部门为部门编号）")
    label: str = Field(description="中文名称")
    count: int = Field(description="匹配的条目数（facets_estimated 为真时为估计值）")
    selected: bool = Field(default=False, description="是否已选为筛选条件")


class SearchItemOut(BaseModel):
    resource_id: int
    code: str = Field(description="资源代码")
    name: str = Field(description="资源名称")
    department_id: int
    department_name: str = Field(description="提供部门")
    snippet: str = Field(description="摘要片段，HTML：已转义，命中的词用 <mark> 标出")
    classification_code: str = Field(description="资源分类代码")
    share_type: str
    share_type_label: str = Field(description="共享类型")
    open_type: str
    open_type_label: str = Field(description="开放类型")
    format_category: str
    format_label: str = Field(description="资源格式")
    update_cycle: str
    update_cycle_label: str = Field(description="更新周期")
    publish_date: date | None = Field(description="发布日期")
    version: int = Field(description="已发布版本号")
    url: str = Field(description="资源页面")


class SearchResultOut(BaseModel):
    query: str
    total: int = Field(description="匹配的条目总数")
    total_estimated: bool = Field(
        description="为真时 total 是数据库的估计值（匹配很多时 PostgreSQL 不逐条计数）"
    )
    items: list[SearchItemOut]
    facets: dict[str, list[FacetValueOut]] = Field(
        description="分面：department 提供部门、category 类、classification 项、share_type 共享类型、"
        "open_type 开放类型、format 资源格式、update_cycle 更新周期；每个分面的计数不受它自身的筛选影响"
    )
    facets_estimated: bool = Field(description=f"为真时分面计数按前 {FACET_WINDOW} 条匹配结果估算")
    sort: str = Field(description="relevance 相关度 / newest 发布日期 / name 名称 / department 提供部门")
    page: int
    size: int
    pages: int

    @classmethod
    def of(cls, result: SearchResult) -> SearchResultOut:
        return cls(
            query=result.query,
            total=result.total,
            total_estimated=result.total_estimated,
            items=[
                SearchItemOut(
                    resource_id=i.resource_id,
                    code=i.code,
                    name=i.name,
                    department_id=i.department_id,
                    department_name=i.department_name,
                    snippet=str(i.snippet),
                    classification_code=i.classification_code,
                    share_type=i.share_type,
                    share_type_label=i.label("share_type"),
                    open_type=i.open_type,
                    open_type_label=i.label("open_type"),
                    format_category=i.format_category,
                    format_label=i.label("format"),
                    update_cycle=i.update_cycle,
                    update_cycle_label=i.label("update_cycle"),
                    publish_date=i.publish_date,
                    version=i.version,
                    url=f"/catalog/resources/{i.resource_id}",
                )
                for i in result.items
            ],
            facets={
                name: [
                    FacetValueOut(value=v.value, label=v.label, count=v.count, selected=v.selected)
                    for v in values
                ]
                for name, values in result.facets.items()
            },
            facets_estimated=result.facets_estimated,
            sort=result.sort,
            page=result.page,
            size=result.size,
            pages=result.pages,
        )
