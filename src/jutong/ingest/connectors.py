"""Pulling from a department's systems (数据库与接口连接器): SQL databases and HTTP JSON APIs.

Both hand back the same ``SourceBatches`` as the file readers: every column ``pl.String``, empty
text as null, ``_row`` = the 1-based index of the record.

SQL: any SQLAlchemy URL; ``mysql://``/``mariadb://`` use PyMySQL and ``postgresql://`` psycopg
unless a driver is named. Results are streamed (server-side cursor, ``fetchmany(batch_rows)``)
in a read-only transaction. Values become text: dates ``YYYY-MM-DD``, date-times
``YYYY-MM-DD HH:MM:SS[.ffffff]``, decimals plain (``12.50``), booleans ``true``/``false``,
binary as lowercase hex, JSON values as JSON text. ``timeout_seconds`` bounds connecting and
every wait for the server: PostgreSQL's ``statement_timeout`` (each ``FETCH`` of the cursor is a
statement), MySQL/MariaDB's client read timeout (no statement timeout there: a streamed
statement lasts as long as the pipeline takes to consume it). Only one ``SELECT`` (or
``WITH ... SELECT``) runs; the read-only transaction stops writes hidden in functions or CTEs,
but the account in the URL should still be a read-only one.

HTTP: ``GET`` pages of JSON; see ``open_http``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx
import polars as pl
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from jutong.ingest.errors import IngestInputError
from jutong.ingest.models import Source, SourceKind
from jutong.ingest.readers import (
    DEFAULT_BATCH_ROWS,
    ROW_COLUMN,
    SourceBatches,
    SourceInfo,
    clean_columns,
    json_records_frame,
    rebatch,
    stringify,
)

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_HTTP_PAGES = 100_000


# ---- dispatch ---------------------------------------------------------------------------------


def open_source(source: Source, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> SourceBatches:
    """Open a registered source by its kind (file sources have no data of their own)."""
    config = dict(source.config or {})
    if source.kind == SourceKind.sql.value:
        url, query = config.get("url"), config.get("query")
        if not url or not query:
            raise IngestInputError(
                f"数据源“{source.name}”缺少数据库连接地址（url）或查询语句（query），请在数据源设置中补全",
                code="source_config",
            )
        timeout = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
        return open_sql(str(url), str(query), timeout_seconds=timeout, batch_rows=batch_rows)
    if source.kind == SourceKind.http.value:
        return open_http(config, batch_rows=batch_rows)
    if source.kind == SourceKind.file.value:
        raise IngestInputError(
            f"数据源“{source.name}”是文件上传，没有可拉取的数据；每次归集时请上传文件",
            code="source_config",
        )
    raise IngestInputError(f"数据源“{source.name}”的类型“{source.kind}”无法识别", code="source_config")


# ---- SQL --------------------------------------------------------------------------------------


def open_sql(
    url: str,
    query: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> SourceBatches:
    """Run one SELECT on a source database and stream its rows as batches of strings."""
    statement = check_select(query)
    sa_url = source_url(url)
    shown = mask_url(sa_url)
    try:
        engine = create_engine(
            sa_url, poolclass=NullPool, connect_args=_connect_args(sa_url, timeout_seconds)
        )
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise IngestInputError(
            f"数据库连接地址 {shown} 无法使用（{exc.__class__.__name__}）；请使用 mysql+pymysql:// 或 postgresql+psycopg:// 形式的地址",
            code="source_config",
        ) from exc
    pull = _Pull(engine, shown, timeout_seconds)
    try:
        columns = pull.start(statement)
    except BaseException:
        pull.close()
        raise

    def frames() -> Iterator[pl.DataFrame]:
        index = 1
        try:
            while True:
                rows = pull.fetch(batch_rows)
                if not rows:
                    return
                yield rows_frame(columns, rows, index)
                index += len(rows)
        finally:
            pull.close()

    info = SourceInfo("sql", "", columns, None)
    return SourceBatches(info, rebatch(frames(), batch_rows), [pull.close])


class _Pull:
    """One streamed query on a DBAPI connection (SQLAlchemy only connects).

    The rows are read with the driver's own streaming cursor, bypassing SQLAlchemy's row
    processing, and the drivers hand most values over as the database's own text (no Python
    ``Decimal``/``datetime`` objects made only to be turned back into text).
    """

    def __init__(self, engine: Engine, shown: str, timeout: float) -> None:
        self.engine, self.shown, self.timeout = engine, shown, timeout
        self.raw: Any = None
        self.cursor: Any = None
        self.finished = False
        self.closed = False

    def start(self, statement: str) -> list[str]:
        try:
            self.raw = self.engine.raw_connection()
            driver = self.raw.driver_connection
            name = self.engine.dialect.driver
            if name == "pymysql":
                import pymysql.cursors  # type: ignore[import-untyped]

                self.cursor = driver.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows as they come
            elif name == "psycopg":
                self.cursor = driver.cursor(name="jutong_pull")  # server-side cursor: FETCH n at a time
                for type_name in _PG_TEXT_TYPES:
                    self.cursor.adapters.register_loader(type_name, _pg_text_loader())
            else:
                self.cursor = driver.cursor()
            self.cursor.execute(statement)  # no parameters: the drivers leave % alone
            described = [str(d[0]) for d in self.cursor.description or []]
        except Exception as exc:
            raise self._error(exc) from exc
        return clean_columns(described, code="source_columns")

    def fetch(self, n: int) -> list[Any]:
        try:
            rows = list(self.cursor.fetchmany(n))
        except Exception as exc:
            raise self._error(exc) from exc
        if not rows:
            self.finished = True
        return rows

    def _error(self, exc: Exception) -> Exception:
        dbapi_error = getattr(self.engine.dialect.loaded_dbapi, "Error", ())
        if isinstance(exc, SQLAlchemyError | dbapi_error):
            return _sql_error(exc, self.shown, self.timeout)
        return exc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.cursor is not None and not self.finished and self.engine.dialect.driver == "pymysql":
                # closing an unfinished unbuffered cursor would read every remaining row first;
                # dropping the connection ends the query at once
                result = getattr(self.cursor, "_result", None)
                if result is not None:
                    result.unbuffered_active = False
            elif self.cursor is not None:
                self.cursor.close()
        except Exception:
            pass  # a broken connection (e.g. after a timeout) has nothing left to close
        if self.raw is not None:
            try:
                if self.finished:
                    self.raw.close()
                else:
                    self.raw.invalidate()
            except Exception:
                pass
        self.engine.dispose()


# PostgreSQL prints these the way people write them (ISO dates, plain decimals); reading them as
# text skips building Python objects per value
_PG_TEXT_TYPES = (
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "timetz",
    "interval",
    "numeric",
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "money",
    "uuid",
    "json",
    "jsonb",
    "inet",
    "cidr",
)


def _pg_text_loader() -> type:
    from psycopg.types.string import TextLoader

    return TextLoader


def rows_frame(columns: list[str], rows: Any, first_index: int) -> pl.DataFrame:
    """Database rows (tuples of Python values) as a frame of strings with ``_row``."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    series = []
    for name, column in zip(columns, values, strict=True):
        try:
            series.append(pl.Series(name, list(column), strict=False))
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):  # mixed or exotic values
            series.append(pl.Series(name, [_text(v) for v in column], dtype=pl.String))
    frame = stringify(pl.DataFrame(series))
    return frame.with_columns(
        pl.int_range(first_index, first_index + frame.height, dtype=pl.Int64).alias(ROW_COLUMN)
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.S)
_LITERALS = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", re.S)
_FILE_WRITES = re.compile(r"\binto\s+(?:outfile|dumpfile)\b", re.I)


def check_select(query: str) -> str:
    """The query without trailing semicolons, if it is one SELECT / WITH query; else an error."""
    statement = query.strip().rstrip(";").strip()
    body = _LEADING_COMMENTS.sub("", statement, count=1)
    first = re.match(r"[A-Za-z]+", body)
    bare = _LITERALS.sub("''", body)
    if not first or first.group().lower() not in ("select", "with"):
        reason = "只能执行查询（SELECT 或 WITH ... SELECT）语句"
    elif ";" in bare:
        reason = "只能执行一条查询语句，请去掉语句中间的分号"
    elif _FILE_WRITES.search(bare):
        reason = "查询不能写文件（INTO OUTFILE / DUMPFILE）"
    else:
        return statement
    raise IngestInputError(f"{reason}；数据源只读取数据，不修改源系统", code="source_query_not_select")


def source_url(url: str) -> URL:
    """The SQLAlchemy URL with the project's drivers for MySQL/MariaDB and PostgreSQL."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError as exc:
        raise IngestInputError(
            "数据库连接地址格式有误；示例：mysql+pymysql://用户:密码@主机:3306/库名 或 postgresql+psycopg://用户:密码@主机:5432/库名",
            code="source_config",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        # a file on the platform's own disk (its own database, even) is not a department's system
        raise IngestInputError(
            "不支持以 SQLite 文件作为数据源；请连接部门的 MySQL/MariaDB 或 PostgreSQL 数据库，或导出为 CSV 上传",
            code="source_config",
        )
    driver = parsed.drivername
    if driver in ("mysql", "mariadb", "mariadb+pymysql"):
        parsed = parsed.set(drivername="mysql+pymysql")
    elif driver in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask_url(url: str | URL) -> str:
    """A URL safe to show and log: the password replaced by ``***``."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "（无法解析的地址）"
    return parsed.render_as_string(hide_password=True)


def _connect_args(url: URL, timeout: float) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "mysql" and url.get_driver_name() == "pymysql":
        import pymysql.converters  # type: ignore[import-untyped]

        return {
            # encoders only: without decoders PyMySQL returns every value as MySQL's own text
            "conv": {k: v for k, v in pymysql.converters.conversions.items() if isinstance(k, type)},
            "connect_timeout": max(1, math.ceil(timeout)),
            "read_timeout": max(1, math.ceil(timeout)),
            "write_timeout": max(1, math.ceil(timeout)),
            "init_command": "SET SESSION TRANSACTION READ ONLY",
        }
    if backend == "postgresql":
        options = " ".join(
            part
            for part in (
                str(url.query.get("options", "")),
                f"-c statement_timeout={max(1, round(timeout * 1000))}",
                "-c DateStyle=ISO,YMD",
                "-c IntervalStyle=iso_8601",
                "-c default_transaction_read_only=on",
            )
            if part
        )
        return {"connect_timeout": max(2, math.ceil(timeout)), "options": options}
    return {}


_MYSQL_AUTH = {1044, 1045, 1049, 1698, 1130, 1251}
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006}
_PG_AUTH = ("28P01", "28000", "3D000", "42501")


def _sql_error(exc: Exception, shown: str, timeout: float) -> IngestInputError:
    """The database's problem as a Chinese message; its own text goes in ``detail`` (no password)."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    args = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else None
    sqlstate = getattr(orig, "sqlstate", None)
    lowered = text.lower()
    detail = {"url": shown, "database_error": text[:2000]}
    connecting = bool(getattr(exc, "connection_invalidated", False))
    if (
        sqlstate == "57014"
        or "timed out" in lowered
        or "timeout expired" in lowered
        or "statement timeout" in lowered
        or "max_statement_time" in lowered
    ):
        return IngestInputError(
            f"数据库 {shown} 在 {timeout:g} 秒内没有响应（超时）；请稍后重试、优化查询，或在数据源设置中加大超时时间",
            code="source_timeout",
            detail=detail,
        )
    if (
        number in _MYSQL_AUTH
        or sqlstate in _PG_AUTH
        or "authentication failed" in lowered
        or (
            "does not exist" in lowered
            and ("role" in lowered or "database" in lowered)
            and "connection" in lowered
        )
    ):
        return IngestInputError(
            f"数据库 {shown} 拒绝了连接（用户名、密码、库名或访问权限不对）；请核对连接地址中的账号和库名",
            code="source_refused",
            detail=detail,
        )
    if (
        number in _MYSQL_UNREACHABLE
        or connecting
        or "connection refused" in lowered
        or "could not translate host" in lowered
        or "name or service not known" in lowered
        or "connection failed" in lowered
        or "can't connect" in lowered
        or "lost connection" in lowered
    ):
        return IngestInputError(
            f"无法连接数据库 {shown}（服务未启动、地址或端口不对，或网络不通）；请检查连接地址并确认源数据库可以访问",
            code="source_unreachable",
            detail=detail,
        )
    return IngestInputError(
        f"源数据库执行查询出错：{text[:300]}；请检查查询语句中的表名和列名",
        code="source_query",
        detail=detail,
    )


# ---- HTTP -------------------------------------------------------------------------------------


def open_http(config: dict[str, Any], *, batch_rows: int = DEFAULT_BATCH_ROWS) -> SourceBatches:
    """Read JSON records from an HTTP endpoint, page by page, until a page comes back empty.

    ``config``: ``url``; ``records_path`` (dot path to the list, ``""`` = the body is the list);
    ``page_param`` + ``start_page`` (default 1) to number pages, ``size_param`` + ``page_size``;
    ``next_path`` (dot path to the next page's URL or a cursor; a cursor is sent as
    ``cursor_param``, default ``cursor``; paging stops when it is missing or empty); ``params``
    (extra query parameters); ``headers``; ``timeout_seconds`` (per request, default 30).
    Without ``page_param`` or ``next_path`` one request is made. The columns are the fields of
    the first page's records; a field that first appears on a later page stops the load
    (``source_columns``) rather than being dropped.
    """
    url = str(config.get("url") or "").strip()
    if not url.startswith(("http://", "https://")):
        raise IngestInputError(
            "HTTP 数据源缺少以 http:// 或 https:// 开头的地址（url）", code="source_config"
        )
    timeout = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    headers = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
    client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)
    pages = _http_pages(client, config, url, timeout)
    try:
        first = next(pages, None)
    except BaseException:
        client.close()
        raise
    if first is None:
        client.close()
        raise IngestInputError(
            f"接口 {_short(url)} 没有返回任何记录；请确认地址和 records_path 设置", code="file_empty"
        )
    frame = json_records_frame(first, code="http_not_json", header_code="source_columns")
    columns = [c for c in frame.columns if c != ROW_COLUMN]

    def frames() -> Iterator[pl.DataFrame]:
        index = frame.height + 1
        try:
            yield frame
            for body in pages:
                page = json_records_frame(
                    body, first_index=index, code="http_not_json", header_code="source_columns"
                )
                late = [c for c in page.columns if c not in columns and c != ROW_COLUMN]
                if late:
                    raise IngestInputError(
                        f"接口第 {_fmt(index)} 条起的记录出现了第一页中没有的字段“{'、'.join(late)}”；"
                        "请让接口在每条记录中都返回全部字段（没有值时为 null），或加大每页条数",
                        code="source_columns",
                        detail={"fields": late, "record": index},
                    )
                yield page.select(
                    *(pl.col(c) if c in page.columns else pl.lit(None, pl.String).alias(c) for c in columns),
                    ROW_COLUMN,
                )
                index += page.height
        finally:
            client.close()

    info = SourceInfo("http", "", columns, None)
    return SourceBatches(info, rebatch(frames(), batch_rows), [client.close])


def _http_pages(client: httpx.Client, config: dict[str, Any], url: str, timeout: float) -> Iterator[bytes]:
    """Each non-empty page's records as a UTF-8 JSON array."""
    records_path = str(config.get("records_path") or "")
    page_param = config.get("page_param") or None
    size_param = config.get("size_param") or None
    next_path = config.get("next_path") or None
    cursor_param = str(config.get("cursor_param") or "cursor")
    params: dict[str, Any] = dict(config.get("params") or {})
    page = int(config.get("start_page", 1) if config.get("start_page") is not None else 1)
    if size_param:
        params[str(size_param)] = int(config.get("page_size") or 1000)
    seen: set[str] = set()
    for _ in range(MAX_HTTP_PAGES):
        if page_param:
            params[str(page_param)] = page
        body = _get_json(client, url, params, timeout)
        records = _dig(body, records_path)
        if not isinstance(records, list):
            raise IngestInputError(
                f"接口 {_short(url)} 的响应中“{records_path or '（顶层）'}”不是记录列表；请检查 records_path 设置",
                code="http_records",
                detail={"records_path": records_path},
            )
        if not records:
            return
        yield json.dumps(records, ensure_ascii=False).encode("utf-8")
        if next_path:
            following = _dig(body, str(next_path))
            if following in (None, "", [], {}):
                return
            key = str(following)
            if key in seen:  # a server that keeps handing out the same page would loop forever
                return
            seen.add(key)
            if isinstance(following, str) and (following.startswith(("http://", "https://", "/", "?"))):
                url = urljoin(url, following)
                params = {}  # the next URL carries its own query
            else:
                params[cursor_param] = following
        elif page_param:
            page += 1
        else:
            return
    raise IngestInputError(
        f"接口 {_short(url)} 超过 {_fmt(MAX_HTTP_PAGES)} 页仍未结束；请检查分页设置", code="http_records"
    )


def _get_json(client: httpx.Client, url: str, params: dict[str, Any], timeout: float) -> Any:
    try:
        response = client.get(url, params=params or None)
    except httpx.TimeoutException as exc:
        raise IngestInputError(
            f"接口 {_short(url)} 在 {timeout:g} 秒内没有响应（超时）；请稍后重试或在数据源设置中加大超时时间",
            code="source_timeout",
        ) from exc
    except httpx.HTTPError as exc:
        raise IngestInputError(
            f"无法连接接口 {_short(url)}（{exc.__class__.__name__}）；请检查地址并确认网络可以访问",
            code="source_unreachable",
            detail={"error": str(exc)[:500]},
        ) from exc
    if response.status_code >= 400:
        hint = "请检查请求头中的令牌或账号权限" if response.status_code in (401, 403) else "请联系接口提供方"
        raise IngestInputError(
            f"接口 {_short(url)} 返回错误状态 {response.status_code}；{hint}",
            code="http_status",
            detail={"status": response.status_code, "body": response.text[:500]},
        )
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = response.headers.get("content-type", "未知类型")
        raise IngestInputError(
            f"接口 {_short(url)} 返回的不是 JSON（{kind}）；请确认地址指向数据接口而不是网页",
            code="http_not_json",
            detail={"content_type": kind, "body": response.text[:200]},
        ) from exc


def _dig(body: Any, path: str) -> Any:
    for part in (p for p in path.split(".") if p):
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def _short(url: str) -> str:
    return url.split("?", 1)[0]


def _fmt(n: int) -> str:
    return f"{n:,}"
