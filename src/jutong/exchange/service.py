"""Data services (数据服务): lookup, filtered query, verification, export and change feed of a granted view.

Every call goes through one path (DESIGN §3): the live grant (``sharing.grants.live_grant``) → only the
granted items are selected → masked → counted against the daily quota (``GrantUsage``) → recorded
(``DataAccess`` and an audit event naming consumer, application, grant, purpose, items and rows) in the
caller's transaction, which the request boundary commits before the first byte of the answer leaves.

Items outside the grant are never selected, so they cannot leak through any format, error or feed; filters
may only name granted items and every value is a bound parameter. Cursors are sealed (Fernet), so a cursor
carries the last key without showing it (the key may itself be an item the consumer may not read).

Key lookups with an API key on PostgreSQL are answered by ``exchange.fast_lookup``, which keeps this module's
decision (``open_access``) per key and resource and writes this module's records (``access_record``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

import polars as pl
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Connection, Table, insert, inspect, select, text
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import audit
from jutong.core.auth import Principal
from jutong.core.config import get_settings
from jutong.core.errors import Forbidden, NotFound, ValidationFailed
from jutong.exchange import masking
from jutong.ingest.models import ResourceData
from jutong.sharing.grants import live_grant, usage_upsert, used_today
from jutong.sharing.models import AccessKind, DataAccess, Grant

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_FILTERS = 20
MAX_IN_VALUES = 100
MAX_VALUE_CHARS = 200
EXPORT_BATCH = 5000
XLSX_MAX_ROWS = 1_048_575  # one header row
TEXT_TYPES = {"C", "M", "G"}
Op = Literal["eq", "in", "prefix", "gte", "lte"]
OPS: tuple[str, ...] = ("eq", "in", "prefix", "gte", "lte")
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Access:
    """One granted view of one resource for one caller."""

    principal: Principal
    resource: Resource
    grant: Grant
    data: ResourceData
    columns: list[str]  # granted items that exist in the data plane, in table order
    types: dict[str, str]  # every data plane column → data item type
    keys: list[str]
    masking: dict[str, str]
    dialect: str

    @property
    def table(self) -> str:
        return q(self.data.table_name)

    def mask(self, row: dict[str, Any]) -> dict[str, Any]:
        return masking.mask_row(row, self.masking)


# ---- the access check -------------------------------------------------------------------------------------
def _resource_and_data(session: Session, ref: str) -> tuple[Resource, ResourceData | None]:
    """The resource, by its code (资源代码) or its number, with its data plane record in the same query."""
    if len(ref) > 64 or "\x00" in ref:
        raise NotFound("资源代码过长或含有非法字符，请使用资源代码或编号", code="resource_not_found")
    joined = select(Resource, ResourceData).outerjoin(ResourceData, ResourceData.resource_id == Resource.id)
    found = session.execute(joined.where(Resource.code == ref)).first()
    if found is None and ref.isdigit() and len(ref) < 12:
        found = session.execute(joined.where(Resource.id == int(ref))).first()
    if found is None:
        raise NotFound(f"资源“{ref[:64]}”不存在，请使用资源代码或编号", code="resource_not_found")
    return found[0], found[1]


def open_access(session: Session, principal: Principal, ref: str) -> Access:
    resource, data = _resource_and_data(session, ref)
    grant = live_grant(session, principal, resource.id)
    if data is None or data.data_version == 0:
        raise NotFound(f"资源“{resource.name}”尚未归集数据，暂无可查询的记录", code="resource_no_data")
    types = {str(c["name"]): str(c.get("data_type") or "C") for c in data.columns}
    granted = set(grant.items)
    columns = [name for name in types if name in granted]
    return Access(
        principal=principal,
        resource=resource,
        grant=grant,
        data=data,
        columns=columns,
        types=types,
        keys=list(data.key_columns),
        masking={c: p for c, p in (grant.masking or {}).items() if c in granted},
        dialect=session.get_bind().dialect.name,
    )


def account(session: Session, access: Access, kind: AccessKind, rows: int, **detail: Any) -> None:
    """Count the rows against the daily quota, then record the access (DataAccess + audit event)."""
    grant = access.grant
    check_quota(grant, 0 if grant.daily_quota is None else used_today(session, grant), rows)
    record_accesses(session.connection(), access.dialect, [access_record(access, kind, rows, **detail)])


def check_quota(grant: Grant, used: int, rows: int) -> None:
    """Forbidden when ``rows`` more rows would pass the grant's daily quota (``used`` so far today)."""
    if grant.daily_quota is not None and used + rows > grant.daily_quota:
        raise Forbidden(
            f"本次将返回 {rows} 条，超出授权 {grant.id} 今日剩余配额"
            f"（{grant.daily_quota - used} 条），请缩小范围或申请提高配额",
            code="grant_quota_exhausted",
            detail={"grant_id": grant.id, "daily_quota": grant.daily_quota, "used": used},
        )


@dataclass(frozen=True)
class AccessRecord:
    """What one data access writes: its rows against the grant's quota, its DataAccess row, its audit event."""

    grant_id: int
    rows: int
    access: dict[str, Any]
    event: dict[str, Any]


def access_record(
    access: Access, kind: AccessKind, rows: int, *, ip: str | None = None, **detail: Any
) -> AccessRecord:
    """The record of one access (``ip``: the caller's address, if not the principal's)."""
    grant, principal = access.grant, access.principal
    event = audit.event_values(
        principal,
        f"data.{kind.value}",
        ip=ip,
        summary=f"{kind.label}资源“{access.resource.name}”，{rows} 条",
        object_type="resource",
        object_id=access.resource.id,
        detail={
            "kind": kind.value,
            "grant_id": grant.id,
            "consumer_department_id": grant.consumer_department_id,
            "application_id": principal.application_id,
            "purpose": grant.purpose,
            "items": list(access.columns),
            "rows": rows,
            **detail,
        },
    )
    recorded = {
        "grant_id": grant.id,
        "resource_id": access.resource.id,
        "provider_department_id": access.resource.department_id,
        "consumer_department_id": grant.consumer_department_id,
        "application_id": principal.application_id,
        "kind": kind.value,
        "rows": rows,
        "items": list(access.columns),
    }
    return AccessRecord(grant.id, rows, recorded, event)


def record_accesses(connection: Connection, dialect: str, records: Sequence[AccessRecord]) -> None:
    """Write accesses: each grant's usage today (one upsert per grant), the DataAccess rows and the audit
    events."""
    usage: dict[int, list[int]] = {}
    for record in records:
        counted = usage.setdefault(record.grant_id, [0, 0])
        counted[0] += record.rows
        counted[1] += 1
    upserts = [usage_upsert(dialect, grant_id, rows, calls) for grant_id, (rows, calls) in usage.items()]
    accesses, events = (
        insert(cast(Table, DataAccess.__table__)),
        insert(cast(Table, audit.AuditEvent.__table__)),
    )
    if dialect == "postgresql" and len(records) == 1:
        # one call (the general path): its usage, access and event in one round trip
        one = events.values(records[0].event)
        connection.execute(
            one.add_cte(upserts[0].cte("usage"), accesses.values(records[0].access).cte("access"))
        )
        return
    for upsert in upserts:
        connection.execute(upsert)
    # many calls (the lookups' fast path commits them together): statements compiled once, rows sent in bulk
    connection.execute(accesses, [r.access for r in records])
    connection.execute(events, [r.event for r in records])


# ---- values -----------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral_value() else str(value)
    return value


def _bad_value(column: str, value: Any, what: str) -> ValidationFailed:
    shown = str(value)[:40]
    return ValidationFailed(
        f"信息项“{column}”的值“{shown}”无效：{what}", code="filter_value_invalid", detail={"column": column}
    )


def convert(access: Access, column: str, value: Any) -> Any:
    """A caller's value as a bound parameter for ``column``'s type; clean 422 on anything odd."""
    if isinstance(value, list | dict) or value is None:
        raise _bad_value(column, value, "须为单个文字或数字")
    raw = str(value).strip()
    if len(raw) > MAX_VALUE_CHARS:
        raise _bad_value(column, raw, f"长度超过 {MAX_VALUE_CHARS} 个字符")
    if "\x00" in raw:
        raise _bad_value(column, raw.replace("\x00", ""), "含有空字符（\\0）")
    kind = access.types.get(column, "C")
    try:
        if kind == "I":
            number = int(raw)
            if not -(2**63) <= number < 2**63:
                raise ValueError
            return number
        if kind in ("N", "Y"):
            dec = Decimal(raw)
            if not dec.is_finite() or abs(dec.adjusted()) > 30:
                raise ValueError
            return dec
        if kind in ("B", "F"):
            num = float(raw)
            if not math.isfinite(num):
                raise ValueError
            return num
        if kind == "D":
            day = date.fromisoformat(raw)
            return day if access.dialect == "postgresql" else day.isoformat()
        if kind == "T":
            moment = datetime.fromisoformat(raw)
            return moment if access.dialect == "postgresql" else moment.isoformat(sep=" ")
        if kind == "L":
            if raw.lower() in ("1", "true", "是"):
                return True
            if raw.lower() in ("0", "false", "否"):
                return False
            raise ValueError
    except (ValueError, InvalidOperation, OverflowError):
        raise _bad_value(column, raw, f"与类型 {kind} 不符") from None
    return raw


def key_params(access: Access, key: Sequence[Any]) -> dict[str, Any]:
    if len(key) != len(access.keys):
        raise ValidationFailed(
            f"该资源的主键由 {len(access.keys)} 个信息项组成，请按顺序提供 {len(access.keys)} 个值",
            code="key_arity",
            detail={"expected": len(access.keys), "given": len(key)},
        )
    return {
        f"k{i}": convert(access, name, value)
        for i, (name, value) in enumerate(zip(access.keys, key, strict=True))
    }


def _key_where(access: Access, op: str = "=") -> str:
    if op == "=":
        return " AND ".join(f"{q(k)} = :k{i}" for i, k in enumerate(access.keys))
    left = ", ".join(q(k) for k in access.keys)
    right = ", ".join(f":k{i}" for i in range(len(access.keys)))
    return f"({left}) {op} ({right})"


def _select_list(names: Sequence[str]) -> str:
    return ", ".join(q(n) for n in names)


# ---- lookup and verification ---------------------------------------------------------------------------------
def lookup(session: Session, principal: Principal, ref: str, key: Sequence[Any]) -> dict[str, Any]:
    """按主键查询: the granted, masked record, or ``found: false``."""
    access = open_access(session, principal, ref)
    params = key_params(access, key)
    row = session.execute(
        text(f"SELECT {_select_list(access.columns)} FROM {access.table} WHERE {_key_where(access)}"), params
    ).first()
    record = access.mask({c: jsonable(v) for c, v in zip(access.columns, row, strict=True)}) if row else None
    account(session, access, AccessKind.lookup, 1 if row else 0, found=row is not None)
    return {"found": record is not None, "record": record, "data_version": access.data.data_version}


def _same(stored: Any, given: Any) -> bool:
    if stored is None:
        return given is None or str(given).strip() == ""
    left, right = str(jsonable(stored)).strip(), str(given).strip()
    if left == right:
        return True
    try:
        return Decimal(left) == Decimal(right)
    except (InvalidOperation, ValueError):
        return left.upper() == right.upper() and left.isascii()  # ID numbers: x and X are the same


def verify(
    session: Session, principal: Principal, ref: str, key: Sequence[Any], values: dict[str, Any]
) -> dict[str, Any]:
    """核验: do these values match the record? ``match`` / ``no_match`` (with the items that differ) /
    ``no_record``; the stored values are never returned. Only granted items may be checked."""
    access = open_access(session, principal, ref)
    if not values:
        raise ValidationFailed("请提供要核验的信息项及其值", code="verify_values_required")
    unknown = [c for c in values if c not in access.columns]
    if unknown:
        raise ValidationFailed(
            f"这些信息项不在授权范围内或不存在，不能核验：{'、'.join(str(u)[:40] for u in unknown[:10])}",
            code="verify_item_not_granted",
            detail={"granted": access.columns},
        )
    for column, value in values.items():
        if value is not None and len(str(value)) > MAX_VALUE_CHARS:
            raise _bad_value(column, value, f"长度超过 {MAX_VALUE_CHARS} 个字符")
    params = key_params(access, key)
    names = list(values)
    row = session.execute(
        text(f"SELECT {_select_list(names)} FROM {access.table} WHERE {_key_where(access)}"), params
    ).first()
    if row is None:
        result, differing = "no_record", []
    else:
        differing = [c for c, stored in zip(names, row, strict=True) if not _same(stored, values[c])]
        result = "no_match" if differing else "match"
    account(session, access, AccessKind.verify, 0 if row is None else 1, result=result, checked=names)
    return {"result": result, "differing": differing, "checked": names}


# ---- filtered query with a sealed cursor ---------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any


def _fernet() -> Fernet:
    secret = get_settings().resolved_secret_key().encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret + b"|exchange-cursor").digest()))


def _filters_digest(filters: Sequence[Filter]) -> str:
    body = json.dumps([[f.column, f.op, f.value] for f in filters], ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def seal_cursor(access: Access, key: Sequence[Any], filters: Sequence[Filter]) -> str:
    body = {
        "r": access.resource.id,
        "g": access.grant.id,
        "k": [jsonable(v) for v in key],
        "f": _filters_digest(filters),
    }
    return _fernet().encrypt(json.dumps(body, ensure_ascii=False).encode()).decode()


def open_cursor(access: Access, cursor: str, filters: Sequence[Filter]) -> list[Any]:
    bad = ValidationFailed("游标无效或已不适用于本次查询条件，请从第一页重新查询", code="cursor_invalid")
    if len(cursor) > 4000:
        raise bad
    try:
        body = json.loads(_fernet().decrypt(cursor.encode()))
    except (InvalidToken, ValueError, TypeError):
        raise bad from None
    if body.get("r") != access.resource.id or body.get("f") != _filters_digest(filters):
        raise bad
    key = body.get("k")
    if not isinstance(key, list) or len(key) != len(access.keys):
        raise bad
    return key


def _filter_sql(access: Access, filters: Sequence[Filter], params: dict[str, Any]) -> list[str]:
    if len(filters) > MAX_FILTERS:
        raise ValidationFailed(f"查询条件最多 {MAX_FILTERS} 个", code="filter_too_many")
    clauses: list[str] = []
    for n, f in enumerate(filters):
        if f.column not in access.columns:
            raise ValidationFailed(
                f"查询条件中的信息项“{str(f.column)[:40]}”不存在或不在授权范围内",
                code="filter_column_unknown",
                detail={"granted": access.columns},
            )
        if f.op not in OPS:
            raise ValidationFailed(
                f"查询条件的运算“{str(f.op)[:20]}”不支持，可选：{'、'.join(OPS)}", code="filter_op_unknown"
            )
        col = q(f.column)
        name = f"f{n}"
        if f.op == "in":
            if not isinstance(f.value, list) or not 0 < len(f.value) <= MAX_IN_VALUES:
                raise _bad_value(f.column, "…", f"in 须为 1 至 {MAX_IN_VALUES} 个值的列表")
            names = []
            for m, v in enumerate(f.value):
                params[f"{name}_{m}"] = convert(access, f.column, v)
                names.append(f":{name}_{m}")
            clauses.append(f"{col} IN ({', '.join(names)})")
            continue
        if f.op == "prefix":
            if access.types.get(f.column, "C") not in TEXT_TYPES:
                raise _bad_value(f.column, f.value, "前缀匹配只适用于文字型信息项")
            raw = str(convert(access, f.column, f.value))
            escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params[name] = escaped + "%"
            clauses.append(f"{col} LIKE :{name} ESCAPE '\\'")
            continue
        params[name] = convert(access, f.column, f.value)
        sign = {"eq": "=", "gte": ">=", "lte": "<="}[f.op]
        clauses.append(f"{col} {sign} :{name}")
    return clauses


def query(
    session: Session,
    principal: Principal,
    ref: str,
    filters: Sequence[Filter],
    *,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> dict[str, Any]:
    """条件查询: records matching every filter, in key order, ``limit`` at a time; ``next_cursor`` continues."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"每页条数须在 1 至 {MAX_PAGE} 之间", code="page_size_invalid")
    access = open_access(session, principal, ref)
    params: dict[str, Any] = {}
    clauses = _filter_sql(access, filters, params)
    if cursor:
        params.update(key_params(access, open_cursor(access, cursor, filters)))
        clauses.append(_key_where(access, ">"))
    names = list(
        dict.fromkeys([*access.columns, *access.keys])
    )  # keys for the cursor, not shown unless granted
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = ", ".join(q(k) for k in access.keys)
    result = session.execute(
        text(f"SELECT {_select_list(names)} FROM {access.table}{where} ORDER BY {order} LIMIT {limit + 1}"),
        params,
    ).all()
    more = len(result) > limit
    page = result[:limit]
    records = [
        access.mask({c: jsonable(v) for c, v in zip(names, row, strict=True) if c in access.columns})
        for row in page
    ]
    next_cursor = None
    if more:
        last = dict(zip(names, page[-1], strict=True))
        next_cursor = seal_cursor(access, [last[k] for k in access.keys], filters)
    account(
        session,
        access,
        AccessKind.query,
        len(records),
        filters=[{"column": f.column, "op": f.op} for f in filters],
    )
    return {"records": records, "next_cursor": next_cursor, "data_version": access.data.data_version}


# ---- export -----------------------------------------------------------------------------------------------
def _batches(session: Session, access: Access, size: int = EXPORT_BATCH) -> Iterator[pl.DataFrame]:
    """The granted view in key order, ``size`` rows at a time (keyset: memory stays flat), masked."""
    names = list(dict.fromkeys([*access.columns, *access.keys]))
    order = ", ".join(q(k) for k in access.keys)
    last: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {}
        where = ""
        if last is not None:
            params = {f"k{i}": last[k] for i, k in enumerate(access.keys)}
            where = f" WHERE {_key_where(access, '>')}"
        rows = session.execute(
            text(f"SELECT {_select_list(names)} FROM {access.table}{where} ORDER BY {order} LIMIT {size}"),
            params,
        ).all()
        if not rows:
            return
        last = dict(zip(names, rows[-1], strict=True))
        data = {
            c: [None if r[i] is None else str(jsonable(r[i])) for r in rows]
            for i, c in enumerate(names)
            if c in access.columns
        }
        frame = pl.DataFrame(data, schema={c: pl.String for c in access.columns})
        yield masking.mask_frame(frame, access.masking)
        if len(rows) < size:
            return


class _Sink(io.RawIOBase):
    """A write-only file whose bytes the export generator drains after each batch."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def _csv(batches: Iterator[pl.DataFrame], columns: list[str]) -> Iterator[bytes]:
    head = io.StringIO()
    csv.writer(head, lineterminator="\r\n").writerow(columns)
    yield "\ufeff".encode() + head.getvalue().encode()  # BOM: Excel opens UTF-8 as such
    for frame in batches:
        yield frame.write_csv(include_header=False, line_terminator="\r\n").encode()


def _json(batches: Iterator[pl.DataFrame]) -> Iterator[bytes]:
    yield b"["
    first = True
    for frame in batches:
        for row in frame.iter_rows(named=True):
            yield (b"" if first else b",") + json.dumps(row, ensure_ascii=False).encode()
            first = False
        # one yield per row keeps memory flat; the server coalesces small writes
    yield b"]"


def _typed(frame: pl.DataFrame, types: dict[str, str], masked: dict[str, str]) -> pl.DataFrame:
    """Unmasked numbers, dates and flags typed again (batches are built as text); decimals stay exact text."""
    casts: list[pl.Expr] = []
    for column in frame.columns:
        kind = types.get(column, "C")
        if column in masked:
            continue
        if kind == "I":
            casts.append(pl.col(column).cast(pl.Int64))
        elif kind in ("B", "F"):
            casts.append(pl.col(column).cast(pl.Float64))
        elif kind == "D":
            casts.append(pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d"))
        elif kind == "L":
            flag = pl.col(column).str.to_lowercase().is_in(["true", "1"])
            casts.append(pl.when(pl.col(column).is_null()).then(None).otherwise(flag).alias(column))
    return frame.with_columns(casts) if casts else frame


def _parquet(batches: Iterator[pl.DataFrame], access: Access) -> Iterator[bytes]:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    arrow_types = {"I": pa.int64(), "B": pa.float64(), "F": pa.float64(), "D": pa.date32(), "L": pa.bool_()}
    schema = pa.schema(
        [
            (
                c,
                pa.string()
                if c in access.masking
                else arrow_types.get(access.types.get(c, "C"), pa.string()),
            )
            for c in access.columns
        ]
    )
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    for frame in batches:
        writer.write_table(_typed(frame, access.types, access.masking).to_arrow().cast(schema))
        yield sink.drain()
    writer.close()
    yield sink.drain()


def _xlsx(batches: Iterator[pl.DataFrame], columns: list[str], labels: dict[str, str]) -> Iterator[bytes]:
    import xlsxwriter  # type: ignore[import-untyped]

    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="jutong-export-")
    os.close(handle)
    try:
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
        sheet = book.add_worksheet("数据")
        sheet.write_row(0, 0, [labels.get(c, c) for c in columns])
        line = 1
        for frame in batches:
            for row in frame.iter_rows():
                sheet.write_row(line, 0, ["" if v is None else v for v in row])
                line += 1
        book.close()
        with open(path, "rb") as done:
            while chunk := done.read(1 << 16):
                yield chunk
    finally:
        os.unlink(path)


@dataclass
class Export:
    media_type: str
    filename: str
    rows: int
    body: Iterator[bytes]


def export(session: Session, principal: Principal, ref: str, fmt: str) -> Export:
    """导出: the whole granted view, streamed. Counted and recorded before the first byte is sent."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"导出格式“{fmt[:20]}”不支持，可选：{'、'.join(FORMATS)}", code="export_format_unknown"
        )
    access = open_access(session, principal, ref)
    rows = int(session.scalar(text(f"SELECT COUNT(*) FROM {access.table}")) or 0)
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        raise ValidationFailed(
            f"共 {rows} 条，超过 Excel 单表上限 {XLSX_MAX_ROWS} 行，请改用 CSV 或 Parquet",
            code="export_too_large",
        )
    account(session, access, AccessKind.export, rows, format=fmt)
    batches = _batches(session, access)
    columns = list(access.columns)
    if fmt == "csv":
        body = _csv(batches, columns)
    elif fmt == "json":
        body = _json(batches)
    elif fmt == "parquet":
        body = _parquet(batches, access)
    else:
        body = _xlsx(batches, columns, _labels(session, access))
    media, ext = FORMATS[fmt]
    name = f"{access.resource.code}_v{access.data.data_version}.{ext}".replace("/", "-")
    return Export(media, name, rows, body)


def _labels(session: Session, access: Access) -> dict[str, str]:
    from jutong.catalog import service as catalog_service

    version = catalog_service.latest_version(session, access.resource)
    items = (version.snapshot.get("items") or []) if version else []
    return {str(i["column_name"]): f"{i.get('name', '')}（{i['column_name']}）" for i in items}


# ---- change feed ------------------------------------------------------------------------------------------
def changes(
    session: Session,
    principal: Principal,
    ref: str,
    *,
    since: int = 0,
    after_seq: int = 0,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """变更读取: changes after data version ``since`` in order (granted items only, masked);
    ``next_after_seq`` continues a long feed. The first load (baseline) is not a change: export it."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"每页条数须在 1 至 {MAX_PAGE} 之间", code="page_size_invalid")
    if since < 0 or after_seq < 0 or since >= 2**31 or after_seq >= 2**62:
        raise ValidationFailed("since 与 after_seq 须为非负整数", code="feed_position_invalid")
    access = open_access(session, principal, ref)
    out: list[dict[str, Any]] = []
    if inspect(session.connection()).has_table(access.data.log_table_name):
        rows = session.execute(
            text(
                f"SELECT _seq, _version, _op, {_select_list(access.columns)} FROM {q(access.data.log_table_name)} "
                f"WHERE _version > :since AND _seq > :after ORDER BY _seq LIMIT {limit + 1}"
            ),
            {"since": since, "after": after_seq},
        ).all()
        for row in rows:
            record = {c: jsonable(v) for c, v in zip(access.columns, row[3:], strict=True)}
            out.append({"seq": row[0], "version": row[1], "op": row[2], "row": access.mask(record)})
    more = len(out) > limit
    out = out[:limit]
    account(session, access, AccessKind.feed, len(out), since=since)
    return {
        "changes": out,
        "next_after_seq": out[-1]["seq"] if more else None,
        "data_version": access.data.data_version,
    }
