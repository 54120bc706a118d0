"""Page: statistics of use (共享调用统计) with charts, at /sharing/stats."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from jutong.core.auth import Principal, Role
from jutong.core.errors import ValidationFailed
from jutong.sharing import stats
from jutong.web.deps import DbSession, record_read, roles
from jutong.web.pages import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(record_read)])

Reader = Annotated[Principal, Depends(roles(Role.operator, Role.auditor, Role.steward, Role.consumer))]
TOP = 15  # resources and departments drawn in the bar charts; the tables list them all


def chart_data(u: stats.Usage) -> dict[str, Any]:
    """What the charts draw, inlined as JSON into the page."""
    top = u.by_resource[:TOP]
    return {
        "days": [d.day.isoformat() for d in u.by_day],
        "calls": [d.calls for d in u.by_day],
        "rows": [d.rows for d in u.by_day],
        "kinds": [{"name": k.label, "value": k.calls} for k in u.by_kind],
        "resources": {  # most called at the top of a horizontal bar chart
            "names": [r.resource_name for r in reversed(top)],
            "calls": [r.calls for r in reversed(top)],
        },
        "consumers": {
            "names": [d.department_name for d in u.by_consumer[:TOP]],
            "calls": [d.calls for d in u.by_consumer[:TOP]],
            "rows": [d.rows for d in u.by_consumer[:TOP]],
        },
    }


@router.get("/sharing/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    session: DbSession,
    principal: Reader,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    errors: list[str] = []
    try:
        u = stats.usage(session, principal, start=start, end=end)
    except ValidationFailed as exc:  # a period in the wrong order: say so, show the default period
        errors.append(exc.message)
        u = stats.usage(session, principal)
    return render(
        request,
        "sharing/stats.html",
        {"u": u, "charts": chart_data(u), "errors": errors},
        principal=principal,
        status_code=422 if errors else 200,
    )
