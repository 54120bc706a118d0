"""API: catalog search (目录检索) under /api/v1/catalog/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jutong.catalog import search
from jutong.catalog.search_schemas import SearchResultOut
from jutong.web.deps import CurrentPrincipal, DbSession

router = APIRouter(tags=["资源目录"])

Multi = Annotated[list[str], Query()]


@router.get(
    "/catalog/search",
    response_model=SearchResultOut,
    summary="检索已发布的资源目录：中文全文检索、分面计数与筛选、排序、分页",
    description=(
        "q：检索词，多个词用空格分隔（同时满足）；同义词自动扩展（如 社保 ↔ 社会保险）。"
        "筛选参数可重复或用逗号分隔（同一分面内满足其一）：department 部门编号、category 类（1 基础/2 主题/3 部门）、"
        "classification 分类代码前缀（如 101）、share_type、open_type、format、update_cycle（代码或中文名称均可）。"
        f"sort：relevance（有检索词时默认）/ newest（无检索词时默认）/ name / department。size 不超过 {search.MAX_PAGE_SIZE}。"
    ),
)
def search_catalog(
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(description="检索词")] = None,
    department: Multi = [],  # noqa: B006 (FastAPI copies defaults)
    category: Multi = [],  # noqa: B006
    classification: Multi = [],  # noqa: B006
    share_type: Multi = [],  # noqa: B006
    open_type: Multi = [],  # noqa: B006
    format: Multi = [],  # noqa: B006
    update_cycle: Multi = [],  # noqa: B006
    sort: Annotated[str | None, Query(description="排序方式")] = None,
    page: Annotated[int, Query(description="页码，从 1 开始")] = 1,
    size: Annotated[int, Query(description="每页条数")] = search.DEFAULT_PAGE_SIZE,
) -> SearchResultOut:
    filters = search.parse_filters(
        {
            "department": department,
            "category": category,
            "classification": classification,
            "share_type": share_type,
            "open_type": open_type,
            "format": format,
            "update_cycle": update_cycle,
        }
    )
    result = search.search(session, principal, q, filters, sort or None, page, size)
    return SearchResultOut.of(result)
