"""How each database runs a catalog search expression: counts, facet windows and pages.

SQLite: the FTS5 table ``catalog_entry_fts`` (rowid = catalog_entry.id) finds and counts matches without
reading rows. For a page it either sorts every match through the narrow covering index (up to a few
thousand matches), or — when matches are plentiful — walks the sort index and tests each row's
``search_text`` by substrings (the same expression), stopping when the page is full; it takes whichever
reads fewer rows. PostgreSQL: ``search_vector @@ tsquery`` through the GIN index; its planner makes that
choice itself, and gives the row estimate used above the counting window.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from jutong.catalog import search_text as st
from jutong.catalog.models import CatalogEntry
from jutong.registry.models import Department

# SQLite: up to this many matches, sort them all. Publish dates hardly depend on the words searched, so
# walking the date index finds a page quickly; names and departments do (a department's entries share
# words), so walking those indexes pays off only when matches are everywhere.
SORT_ALL_CAP = {"newest": 4000, "name": 30000, "department": 30000}
SORT_ROW_COST, WALK_ROW_COST = 1.0, 5.0  # SQLite, µs per row: sorting a match / testing a walked row
COVER = "INDEXED BY ix_catalog_entry_search_cover"

ITEM_COLUMNS = (
    CatalogEntry.id,
    CatalogEntry.resource_id,
    CatalogEntry.code,
    CatalogEntry.name,
    CatalogEntry.department_id,
    Department.name.label("department_name"),
    CatalogEntry.summary,
    CatalogEntry.classification_code,
    CatalogEntry.share_type,
    CatalogEntry.open_type,
    CatalogEntry.format_category,
    CatalogEntry.update_cycle,
    CatalogEntry.publish_date,
    CatalogEntry.version,
)
_FTS = table("catalog_entry_fts", column("rowid"))


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def _fts_match(expr: st.Expr) -> ColumnElement[bool]:
    return literal_column("catalog_entry_fts").op("MATCH")(bindparam("fts", st.to_fts5(expr)))


def _tsquery_sql(expr: st.Expr) -> tuple[str, dict[str, str]]:
    return "catalog_entry.search_vector @@ to_tsquery('simple'::regconfig, :tsq)", {
        "tsq": st.to_tsquery(expr)
    }


def _tsquery_match(expr: st.Expr) -> ColumnElement[bool]:
    sql, params = _tsquery_sql(expr)
    return text(sql).bindparams(**params)  # type: ignore[return-value]


def _substrings(expr: st.Expr) -> ColumnElement[bool]:
    sql, params = st.to_substrings(expr)
    return text(sql).bindparams(**params)  # type: ignore[return-value]


def _match(dialect: str, expr: st.Expr | None) -> list[ColumnElement[bool]]:
    if expr is None:
        return []
    if dialect == "sqlite":
        fts_rowids = select(_FTS.c.rowid).where(_fts_match(expr))
        return [CatalogEntry.id.in_(fts_rowids)]
    return [_tsquery_match(expr)]


def count(session: Session, expr: st.Expr | None) -> int:
    """Exact number of matches. SQLite counts in the FTS index without reading rows."""
    dialect = dialect_of(session)
    if dialect == "sqlite" and expr is not None:
        sql = "SELECT count(*) FROM catalog_entry_fts WHERE catalog_entry_fts MATCH :m"
        return session.scalar(text(sql), {"m": st.to_fts5(expr)}) or 0
    return session.scalar(select(func.count()).select_from(CatalogEntry).where(*_match(dialect, expr))) or 0


def estimate(session: Session, expr: st.Expr | None) -> int:
    """The PostgreSQL planner's row estimate (from the lexeme statistics ANALYZE keeps)."""
    sql, params = "EXPLAIN (FORMAT JSON) SELECT 1 FROM catalog_entry", dict[str, str]()
    if expr is not None:
        where, params = _tsquery_sql(expr)
        sql += f" WHERE {where}"
    plan = session.execute(text(sql), params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


_FACET_GROUPS = """
SELECT '' AS facet, '' AS value, count(*) AS n FROM w
UNION ALL SELECT 'department', CAST(department_id AS VARCHAR(12)), count(*) FROM w GROUP BY department_id
UNION ALL SELECT 'category', substr(classification_code, 1, 1), count(*) FROM w GROUP BY 2
UNION ALL SELECT 'classification', substr(classification_code, 1, 3), count(*) FROM w GROUP BY 2
UNION ALL SELECT 'share_type', share_type, count(*) FROM w GROUP BY share_type
UNION ALL SELECT 'open_type', open_type, count(*) FROM w GROUP BY open_type
UNION ALL SELECT 'format', format_category, count(*) FROM w GROUP BY format_category
UNION ALL SELECT 'update_cycle', update_cycle, count(*) FROM w GROUP BY update_cycle"""
_FACET_COLUMNS = "department_id, classification_code, share_type, open_type, format_category, update_cycle"
_WINDOWS = {  # the window's rows: every entry (newest first), SQLite FTS5 (newest first), PostgreSQL
    "all": f"SELECT {_FACET_COLUMNS} FROM catalog_entry ORDER BY id DESC LIMIT :size",
    "sqlite": f"SELECT {_FACET_COLUMNS} FROM catalog_entry WHERE id IN (SELECT rowid FROM catalog_entry_fts "
    "WHERE catalog_entry_fts MATCH :m ORDER BY rowid DESC LIMIT :size)",
    "postgresql": f"SELECT {_FACET_COLUMNS} FROM catalog_entry WHERE {{where}} LIMIT :size",
}


@contextmanager
def _index_only(session: Session) -> Iterator[None]:
    """PostgreSQL: no sequential scan for a window. With LIMIT the planner likes to read the table until
    enough rows match, not counting what it costs to unpack each row's tsvector; the GIN index is far
    cheaper. Only for this statement: the previous setting comes back afterwards."""
    if dialect_of(session) != "postgresql":
        yield
        return
    sql = "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
    previous = session.execute(text(sql)).scalar_one()
    try:
        yield
    finally:
        session.execute(text("SELECT set_config('enable_seqscan', :v, true)"), {"v": previous})


def facet_counts(session: Session, expr: st.Expr | None, size: int) -> tuple[int, dict[str, dict[str, int]]]:
    """How many rows the window holds (at most ``size`` matches; SQLite: the newest entries) and the
    counts per facet value in it. The window stays in the database: one statement groups it seven ways."""
    dialect = dialect_of(session)
    params: dict[str, Any] = {"size": size}
    if expr is None:
        window = _WINDOWS["all"]
    elif dialect == "sqlite":
        window, params["m"] = _WINDOWS["sqlite"], st.to_fts5(expr)
    else:
        where, more = _tsquery_sql(expr)
        window, params = _WINDOWS["postgresql"].format(where=where), params | more
    counts: dict[str, dict[str, int]] = {}
    rows = 0
    with _index_only(session):
        found = session.execute(text(f"WITH w AS MATERIALIZED ({window}){_FACET_GROUPS}"), params).all()
    for facet, value, n in found:
        if facet:
            counts.setdefault(facet, {})[str(value)] = int(n)
        else:
            rows = int(n)
    return rows, counts


def _order(sort: str) -> list[Any]:
    if sort == "name":
        return [CatalogEntry.name, CatalogEntry.id]
    if sort == "department":
        return [Department.name, CatalogEntry.name, CatalogEntry.id]
    return [CatalogEntry.publish_date.desc(), CatalogEntry.id.desc()]


def _sqlite_ids(
    session: Session, expr: st.Expr, sort: str, offset: int, limit: int, matches: int | None
) -> Any:
    matches = count(session, expr) if matches is None else matches
    cap, walk_cost = SORT_ALL_CAP.get(sort, SORT_ALL_CAP["newest"]), 0.0
    if matches > cap:
        rows = session.scalar(select(func.count()).select_from(CatalogEntry)) or 0
        walk_cost = (offset + limit) * rows / max(matches, 1) * WALK_ROW_COST
    if matches <= cap or matches * SORT_ROW_COST <= walk_cost:
        return (
            select(CatalogEntry.id)
            .select_from(_FTS)
            .join(CatalogEntry, CatalogEntry.id == _FTS.c.rowid)
            .with_hint(CatalogEntry, COVER, "sqlite")
            .where(_fts_match(expr))
        )
    return select(CatalogEntry.id).where(_substrings(expr))


def page(
    session: Session, expr: st.Expr | None, sort: str, offset: int, limit: int, matches: int | None = None
) -> list[Row[Any]]:
    """Rows ``offset`` .. ``offset + limit`` of the matches in ``sort`` order: the page's ids first
    (sort keys only), then their columns. ``matches``: how many there are, when known."""
    if limit <= 0:
        return []
    dialect = dialect_of(session)
    if dialect == "sqlite" and expr is not None:
        ids_stmt = _sqlite_ids(session, expr, sort, offset, limit, matches)
    else:
        ids_stmt = select(CatalogEntry.id).where(*_match(dialect, expr))
    if sort == "department":
        ids_stmt = ids_stmt.join(Department, Department.id == CatalogEntry.department_id)
    ids = list(session.scalars(ids_stmt.order_by(*_order(sort)).limit(limit).offset(offset)))
    if not ids:
        return []
    stmt = (
        select(*ITEM_COLUMNS)
        .join(Department, Department.id == CatalogEntry.department_id)
        .where(CatalogEntry.id.in_(ids))
    )
    found: dict[int, Row[Any]] = {row.id: row for row in session.execute(stmt).all()}  # type: ignore[misc]
    return [found[i] for i in ids if i in found]
