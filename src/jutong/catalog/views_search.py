"""The catalog's browse and search page (/catalog): search box, facets with counts, sorting, pages.

A plain GET form; with htmx, ticking a facet or changing the sort refreshes only the results part.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from jutong.catalog import search
from jutong.core.errors import ValidationFailed
from jutong.web.deps import CurrentPrincipal, DbSession
from jutong.web.pages import render

router = APIRouter(include_in_schema=False)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 100_000 else 1


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    params = request.query_params
    query = params.get("q", "").strip()
    sort = params.get("sort") or None
    error = None
    try:
        filters = search.parse_filters({facet: params.getlist(facet) for facet in search.FACETS})
    except ValidationFailed as exc:
        filters, error = search.SearchFilters(), exc.message
    if sort not in (None, *search.SORTS):
        sort, error = None, f"排序方式“{sort}”无效，已按默认方式排序"
    result = search.search(session, principal, query, filters, sort, _page_number(params.get("page")))
    base = [("q", query)] if query else []
    base += filters.query_pairs()
    if sort:
        base.append(("sort", sort))
    context = {
        "result": result,
        "query": query,
        "sorts": search.SORTS,
        "facet_names": search.FACETS,
        "link": urlencode(base),
        "error": error,
    }
    partial = (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "search-body"
    )
    template = "catalog/_search_body.html" if partial else "catalog/search.html"
    return render(request, template, context, principal=principal)
