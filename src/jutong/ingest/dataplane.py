"""The data plane writer: one typed table per resource, its change log, and how a load lands in them.

Tables (not ORM-mapped, created from the resource's published snapshot):
- ``dp_<resource id>``: one column per data item, ``_hash`` (stable row hash) and ``_version`` (the data
  version that last wrote the row); primary key = the key items.
- ``dp_<resource id>_log``: the change log, ``_seq`` (order), ``_version``, ``_op`` (I/U/D) and the item
  columns (new values for I/U, the old row for D). Sharing's change feed and subscriptions read it.

A **full** load builds a new table next to the live one (PostgreSQL: ``COPY`` into a table without an index,
then the primary key is built once; SQLite: batched inserts into a table with its primary key, the source
row number as ``rowid``), diffs it against the live table by key and hash, writes the change log and swaps
the tables. An **incremental** load stages its rows, then inserts, updates and deletes by key. Either way
everything happens in the caller's transaction, so readers never see half a load and a failure leaves the
previous version as it was.

The first load of a resource is its baseline: its rows are not copied into the change log (a new
subscriber starts from an export of a version, then follows the log from there).

Duplicate keys within one load keep the first row and reject the later ones, naming the first.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.orm import Session

from jutong.core.db import utcnow
from jutong.core.errors import ValidationFailed
from jutong.ingest.models import ResourceData

# data item type → (PostgreSQL type, SQLite declared type)
SQL_TYPES: dict[str, tuple[str, str]] = {
    "C": ("TEXT", "TEXT"),
    "M": ("TEXT", "TEXT"),
    "G": ("TEXT", "TEXT"),
    "N": ("NUMERIC", "NUMERIC"),
    "Y": ("NUMERIC", "NUMERIC"),
    "B": ("DOUBLE PRECISION", "REAL"),
    "F": ("DOUBLE PRECISION", "REAL"),
    "I": ("BIGINT", "INTEGER"),
    "D": ("DATE", "TEXT"),  # SQLite: ISO 8601 text, sorts and compares as dates
    "T": ("TIMESTAMP", "TEXT"),
    "L": ("BOOLEAN", "INTEGER"),
}
LOG_OPS = {"I": "新增", "U": "更新", "D": "删除"}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    is_key: bool = False


def columns_of(snapshot: dict[str, Any]) -> list[Column]:
    return [
        Column(str(i["column_name"]), str(i["data_type"]), bool(i.get("is_key")))
        for i in sorted(snapshot.get("items") or [], key=lambda i: i.get("position", 0))
    ]


def table_names(resource_id: int) -> tuple[str, str]:
    return f"dp_{resource_id}", f"dp_{resource_id}_log"


@dataclass
class Writer:
    """Dialect-specific SQL for one load into one resource's tables."""

    session: Session
    data: ResourceData
    columns: list[Column]
    load_id: int
    version: int
    dialect: str = field(init=False)

    def __post_init__(self) -> None:
        self.dialect = self.session.get_bind().dialect.name

    # ---- names -------------------------------------------------------------------------------
    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    @property
    def live(self) -> str:
        return self.q(self.data.table_name)

    @property
    def log(self) -> str:
        return self.q(self.data.log_table_name)

    @property
    def keys(self) -> list[str]:
        return [c.name for c in self.columns if c.is_key]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def sql_type(self, column: Column) -> str:
        pg, lite = SQL_TYPES.get(column.data_type, ("TEXT", "TEXT"))
        return pg if self.dialect == "postgresql" else lite

    def exec(self, sql: str, params: dict[str, Any] | None = None) -> int:
        result = self.session.execute(text(sql), params or {})
        return int(getattr(result, "rowcount", 0) or 0)

    def key_match(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{self.q(k)} = {b}.{self.q(k)}" for k in self.keys)

    def cols(self, prefix: str = "", names: Sequence[str] | None = None) -> str:
        return ", ".join(f"{prefix}{self.q(n)}" for n in (names or self.names))

    # ---- tables ------------------------------------------------------------------------------
    def column_ddl(self) -> str:
        return ", ".join(f"{self.q(c.name)} {self.sql_type(c)}" for c in self.columns)

    def create_live(self, name: str, *, with_key: bool) -> None:
        extra = ", _row BIGINT" if (self.dialect == "postgresql") else ""
        key = f", PRIMARY KEY ({self.cols(names=self.keys)})" if with_key else ""
        # PostgreSQL: room on each page so an incremental update stays on its page (HOT, no new index entry)
        room = " WITH (fillfactor = 90)" if self.dialect == "postgresql" else ""
        self.exec(
            f"CREATE TABLE {self.q(name)} ({self.column_ddl()}, _hash BIGINT, _version INTEGER{extra}{key}){room}"
        )

    def ensure_log(self) -> None:
        seq = "BIGSERIAL PRIMARY KEY" if self.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
        self.exec(
            f"CREATE TABLE IF NOT EXISTS {self.log} (_seq {seq}, _version INTEGER NOT NULL, "
            f"_op CHAR(1) NOT NULL, {self.column_ddl()})"
        )
        self.exec(
            f"CREATE INDEX IF NOT EXISTS {self.q('ix_' + self.data.log_table_name + '_version')} "
            f"ON {self.log} (_version)"
        )
        self.add_missing_columns(self.data.log_table_name)

    def existing_columns(self, table: str) -> set[str]:
        if self.dialect == "postgresql":
            rows = self.session.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"), {"t": table}
            )
        else:
            rows = self.session.execute(text(f"SELECT name FROM pragma_table_info('{table}')"))
        return {r[0] for r in rows}

    def table_exists(self, table: str) -> bool:
        if self.dialect == "postgresql":
            return bool(self.session.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}))
        return (
            self.session.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=:t"), {"t": table}
            )
            == 1
        )

    def add_missing_columns(self, table: str) -> None:
        """A later catalog version may add data items: add their columns (null in older rows)."""
        have = self.existing_columns(table)
        for column in self.columns:
            if column.name not in have:
                self.exec(
                    f"ALTER TABLE {self.q(table)} ADD COLUMN {self.q(column.name)} {self.sql_type(column)}"
                )

    # ---- writing batches ---------------------------------------------------------------------
    def encode(self, frame: pl.DataFrame, names: list[str]) -> pl.DataFrame | bytes:
        """What ``write`` sends, prepared without the database (the pipeline does it in its reading thread,
        overlapping the previous batch's write): CSV bytes for PostgreSQL's COPY, bindable values for SQLite."""
        if self.dialect == "postgresql":
            buffer = io.BytesIO()
            frame.select(names).write_csv(
                buffer,
                include_header=False,
                null_value="",  # an unquoted empty field is NULL; empty text was made null by the rules
                quote_style="necessary",
                datetime_format="%Y-%m-%d %H:%M:%S",
                date_format="%Y-%m-%d",
            )
            return buffer.getvalue()
        return sqlite_ready(frame.select(names))

    def write(
        self, table: str, frame: pl.DataFrame, names: list[str], *, rowid: bool = False, encoded: Any = None
    ) -> int:
        """Append a typed batch; returns how many rows the database took (SQLite ignores duplicate keys)."""
        if frame.height == 0:
            return 0
        if encoded is None:
            encoded = self.encode(frame, names)
        if self.dialect == "postgresql":
            raw = self.session.connection().connection.dbapi_connection
            assert raw is not None
            statement = f"COPY {self.q(table)} ({self.cols(names=names)}) FROM STDIN (FORMAT csv)"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
                copy.write(encoded)
            return frame.height
        return self._insert(table, encoded, names, rowid=rowid)

    def _insert(self, table: str, frame: pl.DataFrame, names: list[str], *, rowid: bool) -> int:
        """SQLite: one executemany per batch. With ``rowid`` the source row number becomes the rowid and a
        repeated key is skipped (``OR IGNORE``); the caller finds the skipped rows by their rowid."""
        target = ", ".join("rowid" if (rowid and n == "_row") else self.q(n) for n in names)
        marks = ", ".join("?" for _ in names)
        verb = "INSERT OR IGNORE" if rowid else "INSERT"
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            rows: Any = frame.iter_rows()  # a generator: sqlite3 takes any iterable, row by row in C
            cursor.executemany(f"{verb} INTO {self.q(table)} ({target}) VALUES ({marks})", rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def skipped_duplicates(self, table: str, batch: pl.DataFrame) -> list[tuple[int, int, dict[str, Any]]]:
        """SQLite full load: the batch rows ``OR IGNORE`` skipped, each with the row that holds its key."""
        first, last = int(batch["_row"].min()), int(batch["_row"].max())  # type: ignore[arg-type]
        present = self._rows_present(table, first, last)
        skipped = batch.filter(~pl.col("_row").is_in(present.implode()))
        out = []
        where = " AND ".join(f"{self.q(k)} = :k{i}" for i, k in enumerate(self.keys))
        for row in sqlite_ready(skipped.select(["_row", *self.names])).iter_rows(named=True):
            params = {f"k{i}": row[k] for i, k in enumerate(self.keys)}
            holder = self.session.scalar(text(f"SELECT rowid FROM {self.q(table)} WHERE {where}"), params)
            values = {n: row[n] for n in self.names}
            out.append((int(row["_row"]), int(holder) if holder is not None else 0, values))
        return out

    def _rows_present(self, table: str, first: int, last: int) -> pl.Series:
        column = "_row" if self.dialect == "postgresql" else "rowid"
        rows = self.session.execute(
            text(f"SELECT {column} FROM {self.q(table)} WHERE {column} BETWEEN :a AND :b"),
            {"a": first, "b": last},
        )
        return pl.Series("_row", [r[0] for r in rows], dtype=pl.Int64)

    # ---- duplicates --------------------------------------------------------------------------
    def duplicates(self, table: str, row_column: str) -> list[tuple[int, int, dict[str, Any]]]:
        """(row, first row with the same key, the row's values) for every later row of a repeated key."""
        sql = (
            f"SELECT s.{row_column}, f.first_row, {self.cols('s.')} FROM {self.q(table)} s JOIN ("
            f"SELECT {self.cols(names=self.keys)}, MIN({row_column}) AS first_row FROM {self.q(table)} "
            f"GROUP BY {self.cols(names=self.keys)} HAVING COUNT(*) > 1) f ON {self.key_match('s', 'f')} "
            f"WHERE s.{row_column} <> f.first_row ORDER BY s.{row_column}"
        )
        out = []
        for row in self.session.execute(text(sql)):
            out.append((int(row[0]), int(row[1]), dict(zip(self.names, row[2:], strict=True))))
        return out

    def delete_rows(self, table: str, row_column: str, rows: Iterable[int]) -> None:
        rows = list(rows)
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            marks = ", ".join(str(int(r)) for r in chunk)
            self.exec(f"DELETE FROM {self.q(table)} WHERE {row_column} IN ({marks})")

    def add_primary_key(self, table: str) -> bool:
        """PostgreSQL: build the key index once after COPY; False when the table still holds duplicates."""
        name = self.q(f"pk_{table}")
        try:
            with self.session.begin_nested():
                self.exec(
                    f"ALTER TABLE {self.q(table)} ADD CONSTRAINT {name} PRIMARY KEY ({self.cols(names=self.keys)})"
                )
        except Exception as exc:  # unique violation: find and reject the duplicates, then try again
            if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
                return False
            raise
        return True

    # ---- applying ----------------------------------------------------------------------------
    def count(self, table: str) -> int:
        return int(self.session.scalar(text(f"SELECT count(*) FROM {self.q(table)}")) or 0)

    def diff_full(self, new: str) -> tuple[int, int, int]:
        """Log the difference between the live table and ``new``; returns (inserted, updated, deleted)."""
        n, live, log, v = self.q(new), self.live, self.log, self.version
        first_key = self.q(self.keys[0])
        inserted = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'I', {self.cols('n.')} FROM {n} n "
            f"LEFT JOIN {live} o ON {self.key_match('n', 'o')} WHERE o.{first_key} IS NULL"
        )
        updated = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'U', {self.cols('n.')} FROM {n} n "
            f"JOIN {live} o ON {self.key_match('n', 'o')} WHERE n._hash <> o._hash"
        )
        deleted = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'D', {self.cols('o.')} FROM {live} o "
            f"LEFT JOIN {n} n ON {self.key_match('n', 'o')} WHERE n.{first_key} IS NULL"
        )
        return inserted, updated, deleted

    def swap(self, new: str) -> None:
        if self.dialect == "postgresql":
            self.exec(f"ALTER TABLE {self.q(new)} DROP COLUMN _row")
        self.exec(f"DROP TABLE IF EXISTS {self.live}")
        self.exec(f"ALTER TABLE {self.q(new)} RENAME TO {self.live}")
        self.analyze(self.data.table_name)

    def apply_incremental(self, stage: str) -> tuple[int, int, int]:
        """Upsert the staged ``U`` rows and delete the staged ``D`` keys; log each change.

        Cost follows the size of the change, not of the table: every statement is driven by the staged
        rows, each finding its live row through the primary key. On PostgreSQL the staged rows meet the
        live table once (``_classify``) and the rest reads that result; with fresh statistics PostgreSQL
        chose hash joins that scan the whole live table (bench/ingest.py: 21 s for 160,000 changes to
        10 million rows), so nested loops in the written order are forced."""
        if self.dialect != "postgresql":
            return self._apply_incremental(stage)
        self.exec("SET LOCAL enable_hashjoin = off")
        self.exec("SET LOCAL enable_mergejoin = off")
        self.exec("SET LOCAL join_collapse_limit = 1")  # joins in the order written: the stage first
        try:
            return self._apply_classified(stage)
        finally:
            self.exec("RESET enable_hashjoin")
            self.exec("RESET enable_mergejoin")
            self.exec("RESET join_collapse_limit")

    def _apply_classified(self, stage: str) -> tuple[int, int, int]:
        """PostgreSQL: one probe of the live key per staged row, then inserts, updates and deletes that
        only touch what changed (an upsert would probe every staged key again, changed or not)."""
        s, live, log, v = self.q(stage), self.live, self.log, self.version
        changes = self.q(f"{self.data.table_name}_changes")
        first_key = self.q(self.keys[0])
        # a deleted row is logged with the values it had; an inserted or updated one with the new values
        values = ", ".join(
            f"CASE WHEN s._op = 'D' THEN l.{self.q(c)} ELSE s.{self.q(c)} END AS {self.q(c)}"
            for c in self.names
        )
        self.exec(f"DROP TABLE IF EXISTS {changes}")
        self.exec(
            f"CREATE TEMP TABLE {changes} ON COMMIT DROP AS SELECT {values}, s._hash, l.ctid AS _at, "
            "CASE WHEN s._op = 'D' THEN 'D' WHEN l._hash IS NULL THEN 'I' ELSE 'U' END AS _op "
            f"FROM {s} s LEFT JOIN {live} l ON {self.key_match('s', 'l')} "
            f"WHERE (s._op = 'D' AND l.{first_key} IS NOT NULL) OR (s._op = 'U' AND l._hash IS NULL) "
            "OR (s._op = 'U' AND s._hash <> l._hash)"
        )
        counts = self.session.execute(
            text(
                f"SELECT COUNT(*) FILTER (WHERE _op = 'I'), COUNT(*) FILTER (WHERE _op = 'U'), "
                f"COUNT(*) FILTER (WHERE _op = 'D') FROM {changes}"
            )
        ).one()
        self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, _op, {self.cols()} FROM {changes} "
            "ORDER BY CASE _op WHEN 'I' THEN 0 WHEN 'U' THEN 1 ELSE 2 END"
        )
        sets = ", ".join(f"{self.q(c)} = c.{self.q(c)}" for c in self.names if c not in self.keys)
        sets = (sets + ", " if sets else "") + f"_hash = c._hash, _version = {v}"
        # through the row's address (ctid) found above, not a second search of the key index: loads of one
        # resource run one at a time and nothing else moves its rows, so it holds within this transaction
        self.exec(f"UPDATE {live} l SET {sets} FROM {changes} c WHERE l.ctid = c._at AND c._op = 'U'")
        self.exec(
            f"INSERT INTO {live} ({self.cols()}, _hash, _version) SELECT {self.cols()}, _hash, {v} "
            f"FROM {changes} WHERE _op = 'I'"
        )
        self.exec(f"DELETE FROM {live} l USING {changes} c WHERE l.ctid = c._at AND c._op = 'D'")
        self.exec(f"DROP TABLE {changes}")
        return int(counts[0]), int(counts[1]), int(counts[2])

    def _apply_incremental(self, stage: str) -> tuple[int, int, int]:
        s, live, log, v = self.q(stage), self.live, self.log, self.version
        first_key = self.q(self.keys[0])
        inserted = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'I', {self.cols('s.')} FROM {s} s "
            f"LEFT JOIN {live} l ON {self.key_match('s', 'l')} WHERE s._op = 'U' AND l.{first_key} IS NULL"
        )
        updated = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'U', {self.cols('s.')} FROM {s} s "
            f"JOIN {live} l ON {self.key_match('s', 'l')} WHERE s._op = 'U' AND s._hash <> l._hash"
        )
        deleted = self.exec(
            f"INSERT INTO {log} (_version, _op, {self.cols()}) SELECT {v}, 'D', {self.cols('l.')} FROM {s} s "
            f"JOIN {live} l ON {self.key_match('s', 'l')} WHERE s._op = 'D'"
        )
        # one upsert driven by the staged rows (each finds its live row through the primary key), then
        # the deletes by key: cost follows the size of the change, not of the table
        sets = ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in self.names if c not in self.keys)
        sets = (sets + ", " if sets else "") + "_hash = excluded._hash, _version = excluded._version"
        self.exec(
            f"INSERT INTO {live} ({self.cols()}, _hash, _version) SELECT {self.cols()}, _hash, {v} FROM {s} "
            f"WHERE _op = 'U' ON CONFLICT ({self.cols(names=self.keys)}) DO UPDATE SET {sets} "
            f"WHERE {live}._hash <> excluded._hash"
        )
        keys = self.cols(names=self.keys)
        keys = f"({keys})" if len(self.keys) > 1 else keys
        if self.dialect == "postgresql":
            self.exec(f"DELETE FROM {live} l USING {s} s WHERE {self.key_match('l', 's')} AND s._op = 'D'")
        else:
            self.exec(f"DELETE FROM {live} WHERE {keys} IN (SELECT {keys} FROM {s} WHERE _op = 'D')")
        return inserted, updated, deleted

    def create_stage(self, name: str) -> None:
        self.exec(
            f"CREATE TABLE {self.q(name)} ({self.column_ddl()}, _hash BIGINT, _op CHAR(1), _row BIGINT)"
        )

    def index_stage(self, name: str) -> None:
        """After staging: the key index that duplicate detection and the joins with the live table use."""
        self.exec(f"CREATE INDEX {self.q('ix_' + name)} ON {self.q(name)} ({self.cols(names=self.keys)})")
        self.analyze(name)

    def analyze(self, name: str) -> None:
        """Fresh statistics, so the planner joins a small stage to a big table through its key index
        instead of scanning the big table (PostgreSQL; SQLite plans from the indexes alone)."""
        if self.dialect == "postgresql":
            self.exec(f"ANALYZE {self.q(name)}")

    def drop(self, name: str) -> None:
        self.exec(f"DROP TABLE IF EXISTS {self.q(name)}")


def sqlite_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Values sqlite3 binds without adapters: dates and times as ISO text, decimals as text, booleans as 0/1."""
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d %H:%M:%S"))
        elif isinstance(dtype, pl.Decimal):
            casts.append(pl.col(name).cast(pl.String))
        elif dtype == pl.Boolean:
            casts.append(pl.col(name).cast(pl.Int8))
    return frame.with_columns(casts) if casts else frame


def ensure_resource_data(session: Session, resource_id: int, snapshot: dict[str, Any]) -> ResourceData:
    """The resource's data plane record (created on its first load), checked against the snapshot."""
    columns = columns_of(snapshot)
    keys = [c.name for c in columns if c.is_key]
    if not keys:
        raise ValidationFailed(
            f"资源“{snapshot.get('name', '')}”没有标为记录主键的信息项，无法归集",
            code="resource_without_key",
            detail={
                "fix": "请在资源目录中把能唯一确定一条记录的信息项（如公民身份号码）标为记录主键，发布新版本后再归集"
            },
        )
    data = session.query(ResourceData).filter_by(resource_id=resource_id).one_or_none()
    table, log = table_names(resource_id)
    if data is None:
        data = ResourceData(
            resource_id=resource_id, table_name=table, log_table_name=log, data_version=0, row_count=0
        )
        session.add(data)
        session.flush()
    return data


def describe_columns(columns: list[Column]) -> list[dict[str, Any]]:
    return [{"name": c.name, "data_type": c.data_type, "is_key": c.is_key} for c in columns]


def reject_frame_for_duplicates(
    duplicates: list[tuple[int, int, dict[str, Any]]], labels: dict[str, str], key_names: list[str]
) -> pl.DataFrame:
    """Rejects for repeated keys (few rows: built row by row from what the database returned)."""
    rows, raws, reasons = [], [], []
    for row, first, values in duplicates:
        rows.append(row)
        raws.append(json.dumps({labels.get(k, k): _text(v) for k, v in values.items()}, ensure_ascii=False))
        key_text = "、".join(f"{labels.get(k, k)}={_text(values.get(k))}" for k in key_names)
        reasons.append(
            json.dumps(
                [
                    {
                        "item": "、".join(labels.get(k, k) for k in key_names),
                        "column": ",".join(key_names),
                        "value": key_text,
                        "rule": "key_unique",
                        "message": f"记录主键重复：与第 {first} 行相同（{key_text}），保留第 {first} 行",
                    }
                ],
                ensure_ascii=False,
            )
        )
    return pl.DataFrame(
        {"_row": rows, "raw": raws, "reasons": reasons},
        schema={"_row": pl.Int64, "raw": pl.String, "reasons": pl.String},
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def touch(
    data: ResourceData, *, version: int, load_id: int, rows: int, catalog_version: int, columns: list[Column]
) -> None:
    data.data_version = version
    data.last_load_id = load_id
    data.row_count = rows
    data.catalog_version = catalog_version
    data.columns = describe_columns(columns)
    data.key_columns = [c.name for c in columns if c.is_key]
    data.last_loaded_at = utcnow()
