"""Page: catalog statistics (目录统计) with charts, at /catalog/stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from jutong.catalog import stats as catalog_stats
from jutong.catalog.models import ShareType
from jutong.core.auth import Principal, Role
from jutong.web.deps import DbSession, roles
from jutong.web.pages import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(roles(Role.operator, Role.steward, Role.auditor, Role.consumer))]


def chart_data(stats: catalog_stats.CatalogStats) -> dict[str, Any]:
    """What the three charts draw, inlined as JSON into the page."""
    shares = list(ShareType)
    ranked = [d for d in stats.ranking if d.published > 0]
    return {
        "pie": [{"name": c.label, "value": c.count} for c in stats.by_share_type],
        "ranking": {  # most published at the top of a horizontal bar chart
            "departments": [d.department_name for d in reversed(ranked)],
            "published": [d.published for d in reversed(ranked)],
        },
        "stacked": {
            "departments": [d.department_name for d in stats.ranking],
            "series": [
                {"name": share.label, "data": [d.share_counts[i] for d in stats.ranking]}
                for i, share in enumerate(shares)
            ],
        },
    }


@router.get("/catalog/stats", response_class=HTMLResponse)
def stats_page(request: Request, session: DbSession, principal: Reader) -> Response:
    stats = catalog_stats.catalog_stats(session)
    return render(
        request, "catalog/stats.html", {"stats": stats, "charts": chart_data(stats)}, principal=principal
    )
