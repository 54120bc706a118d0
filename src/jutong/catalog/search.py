"""Catalog search in Chinese, kept in the database (目录检索): the search projection and the search itself.

``refresh_entry`` keeps ``catalog_entry`` equal to each resource's latest published version; the database
keeps the full-text index in step (SQLite FTS5 triggers / a PostgreSQL generated tsvector with GIN).
``search`` answers a query with one page of entries, the total and facet counts. Text, filters and the
"name holds the words" test are all full-text expressions (see ``search_text``), so matching never reads
the rows; only the page and a bounded window for facet counts do:

- facet counts are exact when the matches fit in ``FACET_WINDOW`` rows; above, they are counted over a
  window of ``FACET_WINDOW`` matches (SQLite: the newest) and scaled to the total, flagged
  ``facets_estimated``;
- totals are exact, except on PostgreSQL above ``FACET_WINDOW`` matches, where the planner's estimate is
  given, flagged ``total_estimated`` (counting tens of thousands of rows would cost more than the whole
  search); the last page always knows the exact total;
- relevance ranks entries whose name holds every word first, then the newest; other sorts: newest
  publish date, name, department.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jutong.catalog import search_backend as sb
from jutong.catalog import search_text as st
from jutong.catalog.models import (
    CatalogEntry,
    ClassCategory,
    Classification,
    FormatCategory,
    OpenType,
    Resource,
    ResourceStatus,
    ResourceVersion,
    ShareType,
    UpdateCycle,
)
from jutong.catalog.search_text import Term, parse_query
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import ValidationFailed
from jutong.core.labels import LabeledEnum
from jutong.registry.models import Department

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
FACET_LIMIT = 30  # values listed per facet (selected values always are)
FACET_WINDOW = 1000  # rows read at most for facet counts
SEARCH_ROLES = (Role.operator, Role.steward, Role.auditor, Role.consumer)

SORTS: dict[str, str] = {
    "relevance": "相关度",
    "newest": "发布日期（最新）",
    "name": "名称",
    "department": "提供部门",
}
FACETS: dict[str, str] = {
    "department": "提供部门",
    "category": "资源分类（类）",
    "classification": "资源分类（项）",
    "share_type": "共享类型",
    "open_type": "开放类型",
    "format": "资源格式",
    "update_cycle": "更新周期",
}
_ENUM_FACETS: dict[str, type[LabeledEnum]] = {
    "category": ClassCategory,
    "share_type": ShareType,
    "open_type": OpenType,
    "format": FormatCategory,
    "update_cycle": UpdateCycle,
}


# --- the projection ----------------------------------------------------------------------------


def _latest_version(session: Session, resource: Resource) -> ResourceVersion | None:
    stmt = select(ResourceVersion).where(ResourceVersion.resource_id == resource.id)
    if resource.published_version is not None:
        exact = session.scalar(stmt.where(ResourceVersion.version == resource.published_version))
        if exact is not None:
            return exact
    return session.scalar(stmt.order_by(ResourceVersion.version.desc()).limit(1))


def refresh_entry(session: Session, resource: Resource) -> CatalogEntry | None:
    """Make the resource's catalog entry match its latest published version (or remove it)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_id == resource.id))
    version = None
    if resource.published_version is not None and resource.status != ResourceStatus.withdrawn.value:
        version = _latest_version(session, resource)
    if version is None:
        if entry is not None:
            session.execute(delete(CatalogEntry).where(CatalogEntry.id == entry.id))
            session.expunge(entry)
        return None
    snap: dict[str, Any] = version.snapshot
    items = [
        str(i.get("name", "")) for i in sorted(snap.get("items", []), key=lambda i: i.get("position", 0))
    ]
    classification = str(snap.get("classification_code") or resource.classification_code)
    published = snap.get("publish_date")
    values: dict[str, Any] = {
        "code": str(snap.get("code") or resource.code),
        "version": version.version,
        "name": str(snap.get("name", "")),
        "summary": str(snap.get("summary", "")),
        "item_names": "、".join(items),
        "department_id": int(snap.get("department_id") or resource.department_id),
        "classification_code": classification,
        "category": classification[:1],
        "share_type": str(snap.get("share_type", "")),
        "open_type": str(snap.get("open_type", "")),
        "format_category": str(snap.get("format_category", "")),
        "update_cycle": str(snap.get("update_cycle", "")),
        "security_level": str(snap.get("security_level", "")),
        # an entry always has a publish date, so sorting by it is the same on every backend
        "publish_date": date.fromisoformat(published) if published else version.published_at.date(),
    }
    body = [values["summary"], *items, str(snap.get("department_name", "")), values["code"]]
    body.append(str(snap.get("format_type", "")))
    facets = st.facet_tokens(
        values["department_id"],
        classification,
        values["share_type"],
        values["open_type"],
        values["format_category"],
        values["update_cycle"],
    )
    values["search_text"] = st.search_text_of(values["name"], body, facets)
    if entry is None:
        entry = CatalogEntry(resource_id=resource.id, **values)
        session.add(entry)
    else:
        for key, value in values.items():
            setattr(entry, key, value)
    session.flush()
    return entry


# --- filters and results -----------------------------------------------------------------------


@dataclass
class SearchFilters:
    """Multi-select filters, one list of codes per facet (empty: no filter)."""

    department: list[str] = field(default_factory=list)  # department ids
    category: list[str] = field(default_factory=list)  # 类: 1 / 2 / 3
    classification: list[str] = field(default_factory=list)  # 项 (3 digits) or any longer code prefix
    share_type: list[str] = field(default_factory=list)
    open_type: list[str] = field(default_factory=list)
    format: list[str] = field(default_factory=list)
    update_cycle: list[str] = field(default_factory=list)

    def values(self, facet: str) -> list[str]:
        values: list[str] = getattr(self, facet)
        return values

    def query_pairs(self) -> list[tuple[str, str]]:
        return [(facet, v) for facet in FACETS for v in self.values(facet)]


def parse_filters(raw: dict[str, list[str]]) -> SearchFilters:
    """Filters from request parameters: repeated or comma-separated; codes or Chinese labels."""
    found = SearchFilters()
    for facet in FACETS:
        given = [v.strip() for value in raw.get(facet) or [] for v in value.replace("，", ",").split(",")]
        given = list(dict.fromkeys(v for v in given if v))
        if facet in _ENUM_FACETS:
            members = [_ENUM_FACETS[facet].from_label(v) for v in given]
            bad = [v for v, m in zip(given, members, strict=True) if m is None]
            ok = list(dict.fromkeys(m.value for m in members if m is not None))
            allowed = "、".join(f"{label}（{code}）" for code, label in _ENUM_FACETS[facet].choices())
        else:
            limit = 9 if facet == "department" else 20
            bad = [v for v in given if not (v.isdigit() and len(v) <= limit)]
            ok = [(v.lstrip("0") or "0") if facet == "department" else v for v in given if v not in bad]
            allowed = "部门编号（数字）" if facet == "department" else "资源分类代码（数字，如 101）"
        if bad:
            raise ValidationFailed(
                f"筛选条件“{FACETS[facet]}”（参数 {facet}）的取值“{'、'.join(bad)}”无效，可选：{allowed}",
                code="search_filter_invalid",
                detail={"parameter": facet, "values": bad},
            )
        setattr(found, facet, ok)
    return found


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool = False


@dataclass(frozen=True)
class SearchItem:
    resource_id: int
    code: str
    name: str
    name_html: Markup
    department_id: int
    department_name: str
    snippet: Markup
    classification_code: str
    share_type: str
    open_type: str
    format_category: str
    update_cycle: str
    publish_date: date | None
    version: int

    def label(self, facet: str) -> str:
        value = {"share_type": self.share_type, "open_type": self.open_type, "format": self.format_category}
        return facet_label(facet, value.get(facet, self.update_cycle))


@dataclass
class SearchResult:
    query: str
    terms: list[Term]
    total: int
    total_estimated: bool
    items: list[SearchItem]
    facets: dict[str, list[FacetValue]]
    facets_estimated: bool
    filters: SearchFilters
    sort: str
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def facet_label(facet: str, value: str) -> str:
    enum = _ENUM_FACETS.get(facet)
    try:
        return enum(value).label if enum else value
    except ValueError:
        return value


def highlight(text_: str, terms: list[Term], width: int | None = None) -> Markup:
    """HTML-escaped text with the query's words in <mark>; cut to ``width`` around the first match."""
    pattern = _needles(tuple(v for t in terms for v in t.variants))
    first = pattern.search(text_) if pattern else None
    prefix = suffix = ""
    if width and len(text_) > width:
        start = max(0, (first.start() if first else 0) - width // 4)
        prefix, suffix = ("…" if start else ""), ("…" if start + width < len(text_) else "")
        text_ = text_[start : start + width]
    out, last = [prefix], 0
    for m in pattern.finditer(text_) if pattern else ():
        out += [html.escape(text_[last : m.start()]), "<mark>", html.escape(m.group(0)), "</mark>"]
        last = m.end()
    out += [html.escape(text_[last:]), suffix]
    return Markup("".join(out))


@lru_cache(maxsize=256)
def _needles(words: tuple[str, ...]) -> re.Pattern[str] | None:
    ordered = sorted(set(words), key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in ordered), re.IGNORECASE) if ordered else None


# --- searching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """The full-text expressions of one search."""

    terms: list[Term]
    filters: dict[str, st.Expr]  # facet → expression

    def matching(self, *, without: str | None = None) -> st.Expr | None:
        parts = [st.term_expr(t) for t in self.terms]
        return st.all_of(parts + [e for facet, e in self.filters.items() if facet != without])

    def in_name(self) -> st.Expr | None:
        """Every word in the name (and every filter): the first tier of relevance."""
        return st.all_of([st.term_expr(t, in_name=True) for t in self.terms] + list(self.filters.values()))


def _plan(terms: list[Term], filters: SearchFilters) -> _Plan:
    expressions = {}
    for facet in FACETS:
        if values := filters.values(facet):
            expressions[facet] = st.filter_expr("classification" if facet == "category" else facet, values)
    return _Plan(terms, expressions)


def _counts(session: Session, plan: _Plan) -> tuple[int, bool, dict[str, dict[str, int]], bool]:
    """(total, total exact?, counts per facet value, counts estimated?) over the matches; each facet
    ignores its own filter (multi-select). Facets are counted in a window of ``FACET_WINDOW`` matches,
    which also counts small result sets exactly; above it SQLite counts in the index and PostgreSQL
    takes the planner's estimate."""
    sqlite = sb.dialect_of(session) == "sqlite"
    groups: dict[str | None, list[str]] = {}
    for facet in FACETS:
        groups.setdefault(facet if facet in plan.filters else None, []).append(facet)
    groups.setdefault(None, [])
    counts: dict[str, dict[str, int]] = {}
    total, exact, estimated = 0, True, False
    for without, facets in sorted(groups.items(), key=lambda g: g[0] is not None):
        expr = plan.matching(without=without)
        window = FACET_WINDOW if without is None else max(1, FACET_WINDOW // 2)  # one facet each
        rows, found = sb.facet_counts(session, expr, window + 1)
        matches, scale = rows, 1.0
        if rows > window:
            matches = sb.count(session, expr) if sqlite else max(rows, sb.estimate(session, expr))
            scale, estimated = matches / rows, True
        if without is None:
            total, exact = matches, rows <= FACET_WINDOW or sqlite
        for facet in facets:
            counts[facet] = {k: round(n * scale) for k, n in found.get(facet, {}).items()}
    return total, exact, counts, estimated


def _facet_values(
    session: Session, counts: dict[str, dict[str, int]], filters: SearchFilters
) -> dict[str, list[FacetValue]]:
    wanted = {int(d) for d in list(counts["department"]) + filters.department}
    names = dict(
        session.execute(select(Department.id, Department.name).where(Department.id.in_(wanted))).all()
    )
    codes = list(counts["classification"]) + filters.classification
    rows = session.execute(
        select(Classification.code, Classification.name).where(Classification.code.in_(codes))
    )
    classes = {code: name for code, name in rows}
    out: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        selected = filters.values(facet)
        found = {v: 0 for v in selected} | dict(counts[facet])
        if facet in _ENUM_FACETS:
            order = [m.value for m in _ENUM_FACETS[facet]]
            keys = sorted(found, key=lambda v: (order.index(v) if v in order else len(order), v))
        elif facet == "classification":
            keys = sorted(found)
        else:
            keys = sorted(found, key=lambda v: (-found[v], v))
        keys = keys[:FACET_LIMIT] + [k for k in keys[FACET_LIMIT:] if k in selected]
        labels = {"department": {str(k): v for k, v in names.items()}, "classification": classes}
        out[facet] = [
            FacetValue(k, labels.get(facet, {}).get(k) or facet_label(facet, k), found[k], k in selected)
            for k in keys
        ]
    return out


def _page_rows(
    session: Session, plan: _Plan, sort: str, offset: int, size: int, total: int, exact: bool
) -> list[Any]:
    expr, first = plan.matching(), plan.in_name()
    known = total if exact else None
    if sort != "relevance" or expr is None or first is None or not plan.terms:
        return sb.page(session, expr, sort, offset, size, known)
    # relevance: entries whose name holds every word, newest first; then the other matches, newest first
    named = sb.count(session, first) if sb.dialect_of(session) == "sqlite" else None
    rows = sb.page(session, first, "newest", offset, size, named)
    if len(rows) < size:
        if named is None:  # PostgreSQL: where the first tier ends, from this page if it can tell
            named = offset + len(rows) if rows or not offset else sb.count(session, first)
        rest = st.Without(expr, first)
        others = total - named if exact else None
        rows += sb.page(session, rest, "newest", max(0, offset - named), size - len(rows), others)
    return rows


def search(
    session: Session,
    principal: Principal,
    query: str | None = None,
    filters: SearchFilters | None = None,
    sort: str | None = None,
    page: int = 1,
    size: int = DEFAULT_PAGE_SIZE,
) -> SearchResult:
    """Search the published catalog: one page of entries, the total and the facet counts."""
    require_role(principal, *SEARCH_ROLES)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            f"每页条数（size）须在 1 到 {MAX_PAGE_SIZE} 之间，当前为 {size}，请调小后重试",
            code="page_size_invalid",
            detail={"size": size, "max": MAX_PAGE_SIZE},
        )
    if page < 1:
        raise ValidationFailed(f"页码（page）须从 1 开始，当前为 {page}", code="page_invalid")
    terms = parse_query(query)
    sort = sort or ("relevance" if terms else "newest")
    if sort not in SORTS:
        choices = "、".join(f"{label}（{code}）" for code, label in SORTS.items())
        raise ValidationFailed(f"排序方式“{sort}”无效，可选：{choices}", code="search_sort_invalid")
    filters = filters or SearchFilters()
    plan = _plan(terms, filters)
    total, exact, counts, facets_estimated = _counts(session, plan)
    facets = _facet_values(session, counts, filters)
    offset = (page - 1) * size
    rows = _page_rows(session, plan, sort, offset, size, total, exact) if total else []
    if 0 < len(rows) < size or (offset == 0 and not rows):  # the last page tells the exact total
        total, exact = offset + len(rows), True
    total = max(total, offset + len(rows))
    items = [
        SearchItem(
            resource_id=r.resource_id,
            code=r.code,
            name=r.name,
            name_html=highlight(r.name, terms),
            department_id=r.department_id,
            department_name=r.department_name,
            snippet=highlight(r.summary, terms, 120),
            classification_code=r.classification_code,
            share_type=r.share_type,
            open_type=r.open_type,
            format_category=r.format_category,
            update_cycle=r.update_cycle,
            publish_date=r.publish_date,
            version=r.version,
        )
        for r in rows
    ]
    return SearchResult(
        query or "", terms, total, not exact, items, facets, facets_estimated, filters, sort, page, size
    )
