"""A department's own systems as sources: its MariaDB or PostgreSQL database, its HTTP API.

The databases are the real local servers (MariaDB 127.0.0.1:3306, PostgreSQL 127.0.0.1:5432);
the API is a small real server on 127.0.0.1 (``sources_http``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, create_engine, text

from jutong.ingest.connectors import check_select, open_http, open_source, open_sql
from jutong.ingest.errors import IngestInputError
from jutong.ingest.models import Source, SourceKind
from jutong.ingest.readers import SourceBatches
from tests.conftest import drop_postgres_database, fresh_postgres_database
from tests.ingest.sources_http import PEOPLE, api_server

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"


def pull(source: SourceBatches) -> tuple[list[str], list[pl.DataFrame]]:
    with source:
        return source.info.columns, list(source.batches)


def records(batches: list[pl.DataFrame]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.iter_rows(named=True)]


def refused(call: Any, *args: Any, **kwargs: Any) -> IngestInputError:
    with pytest.raises(IngestInputError) as caught:
        pull(call(*args, **kwargs))
    return caught.value


def _server_missing(what: str, exc: Exception) -> None:
    message = f"{what} 不可用：{exc.__class__.__name__}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# ---- MariaDB ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[Engine]:
    engine = create_engine(MARIADB)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        _server_missing("MariaDB（127.0.0.1:3306）", exc)
    yield engine
    engine.dispose()


@pytest.fixture
def residents_table(mariadb: Engine) -> Iterator[str]:
    """The 民政局's table of assistance recipients, in its own MariaDB (a table of our own per test)."""
    name = f"src_{uuid.uuid4().hex[:12]}"
    with mariadb.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE {name} (id INT PRIMARY KEY, sfzh CHAR(18), xm VARCHAR(50), xb CHAR(1),"
                " csrq DATE, djsj DATETIME, btje DECIMAL(10,2), bz VARCHAR(100), zp VARBINARY(8))"
                " CHARACTER SET utf8mb4"
            )
        )
        conn.execute(
            text(
                f"INSERT INTO {name} VALUES"
                " (1, '11010119900307123X', '张三', '1', '1990-03-07', '2024-01-02 08:30:00', 125.50, '', X'01FF'),"
                " (2, '110101199105051234', '李四', '2', '1991-05-05', NULL, 300, '100%完成', NULL),"
                " (3, '110101199206061234', '王五', '1', NULL, '2024-02-03 09:00:00', NULL, NULL, NULL)"
            )
        )
    yield name
    with mariadb.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def test_a_mariadb_table_is_pulled_as_text_in_batches(residents_table: str) -> None:
    columns, batches = pull(
        open_sql(
            MARIADB,
            f"SELECT sfzh, xm, xb, csrq, djsj, btje, bz, zp FROM {residents_table} ORDER BY id",
            batch_rows=2,
        )
    )

    assert columns == ["sfzh", "xm", "xb", "csrq", "djsj", "btje", "bz", "zp"]
    assert [b.height for b in batches] == [2, 1]
    assert batches[0].schema == pl.Schema({**dict.fromkeys(columns, pl.String), "_row": pl.Int64})
    assert records(batches) == [
        {"sfzh": "11010119900307123X", "xm": "张三", "xb": "1", "csrq": "1990-03-07", "djsj": "2024-01-02 08:30:00",
         "btje": "125.50", "bz": None, "zp": "01ff", "_row": 1},
        {"sfzh": "110101199105051234", "xm": "李四", "xb": "2", "csrq": "1991-05-05", "djsj": None,
         "btje": "300.00", "bz": "100%完成", "zp": None, "_row": 2},
        {"sfzh": "110101199206061234", "xm": "王五", "xb": "1", "csrq": None, "djsj": "2024-02-03 09:00:00",
         "btje": None, "bz": None, "zp": None, "_row": 3},
    ]  # fmt: skip


def test_a_query_with_a_percent_sign_and_a_plain_mysql_url_works(residents_table: str) -> None:
    columns, batches = pull(
        open_sql(
            "mysql://root@127.0.0.1:3306/test",
            f"-- 仅取有备注的\nSELECT xm AS 姓名 FROM {residents_table} WHERE bz LIKE '%\\%%';",
        )
    )

    assert columns == ["姓名"]
    assert records(batches) == [{"姓名": "李四", "_row": 1}]


def test_a_database_that_is_not_listening_is_unreachable_and_the_password_never_shown() -> None:
    error = refused(open_sql, "mysql+pymysql://root:Pw-secret-9@127.0.0.1:1/test", "SELECT 1")

    assert error.code == "source_unreachable"
    assert "127.0.0.1:1" in error.message
    assert "Pw-secret-9" not in error.message + str(error.detail)
    assert "***" in error.message


def test_a_wrong_password_is_refused(mariadb: Engine) -> None:
    error = refused(open_sql, "mysql+pymysql://root:Wrong-pw-7@127.0.0.1:3306/test", "SELECT 1")

    assert error.code == "source_refused"
    assert "Access denied" in error.detail["database_error"]
    assert "Wrong-pw-7" not in error.message + str(error.detail)


def test_a_slow_mariadb_query_times_out(mariadb: Engine) -> None:
    started = time.monotonic()
    error = refused(open_sql, MARIADB, "SELECT SLEEP(5) AS s", timeout_seconds=1)

    assert error.code == "source_timeout"
    assert "1 秒内没有响应" in error.message
    assert time.monotonic() - started < 4


def test_a_query_the_database_rejects_carries_its_own_text(mariadb: Engine) -> None:
    error = refused(open_sql, MARIADB, "SELECT no_such_column FROM no_such_table_here")

    assert error.code == "source_query"
    assert "no_such_table_here" in error.detail["database_error"]
    assert "源数据库执行查询出错" in error.message


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM {table}",
        "UPDATE {table} SET xm = '改'",
        "SELECT 1; DROP TABLE {table}",
        "SELECT * FROM {table} INTO OUTFILE '/tmp/out.csv'",
        "/* 注释 */ DROP TABLE {table}",
    ],
)
def test_only_a_select_may_run_and_the_source_is_left_untouched(
    mariadb: Engine, residents_table: str, query: str
) -> None:
    error = refused(open_sql, MARIADB, query.format(table=residents_table))

    assert error.code == "source_query_not_select"
    with mariadb.connect() as conn:
        assert conn.execute(text(f"SELECT COUNT(*) FROM {residents_table} WHERE xm <> '改'")).scalar() == 3


def test_a_sqlite_file_on_the_platform_server_is_not_a_source(tmp_path: Path) -> None:
    error = refused(open_sql, f"sqlite:///{tmp_path}/jutong.db", "SELECT * FROM app_user")

    assert error.code == "source_config"
    assert "SQLite" in error.message


def test_semicolons_inside_strings_and_comments_before_the_select_are_fine() -> None:
    assert check_select("  -- 说明\n/* 多行\n注释 */ WITH t AS (SELECT 'a;b' AS x) SELECT x FROM t;  ") == (
        "-- 说明\n/* 多行\n注释 */ WITH t AS (SELECT 'a;b' AS x) SELECT x FROM t"
    )


def test_stopping_a_long_pull_early_does_not_read_the_rest(mariadb: Engine) -> None:
    source = open_sql(MARIADB, "SELECT seq, CONCAT('居民', seq) AS xm FROM seq_1_to_3000000", batch_rows=1000)
    first = next(iter(source))
    started = time.monotonic()
    source.close()

    assert first["_row"].to_list()[:3] == [1, 2, 3]
    assert time.monotonic() - started < 1


# ---- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_source() -> Iterator[str]:
    """The 公安局's PostgreSQL database with its population table."""
    url, admin = fresh_postgres_database("sources")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE rk (id int PRIMARY KEY, gmsfhm char(18), xm text, xb smallint, csrq date,"
                " gxsj timestamp, zl numeric(12, 3), sfzx boolean, kz jsonb, zp bytea)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO rk VALUES"
                " (1, '11010119900307123X', '张三', 0, '1990-03-07', '2024-01-02 08:30:00.250', 1.5, true,"
                "  '{\"曾用名\": \"张叁\"}', '\\x01ff'),"
                " (2, '110101199105051234', '李四', 1, NULL, NULL, NULL, false, NULL, NULL)"
            )
        )
    engine.dispose()
    yield url
    drop_postgres_database(admin, url.rsplit("/", 1)[1])


def test_a_postgresql_table_is_pulled_as_text(postgres_source: str) -> None:
    columns, batches = pull(
        open_sql(postgres_source, "SELECT gmsfhm, xm, xb, csrq, gxsj, zl, sfzx, kz, zp FROM rk ORDER BY id")
    )

    assert columns == ["gmsfhm", "xm", "xb", "csrq", "gxsj", "zl", "sfzx", "kz", "zp"]
    assert records(batches) == [
        {"gmsfhm": "11010119900307123X", "xm": "张三", "xb": "0", "csrq": "1990-03-07",
         "gxsj": "2024-01-02 08:30:00.25", "zl": "1.500", "sfzx": "true", "kz": '{"曾用名": "张叁"}',
         "zp": "01ff", "_row": 1},
        {"gmsfhm": "110101199105051234", "xm": "李四", "xb": "1", "csrq": None, "gxsj": None, "zl": None,
         "sfzx": "false", "kz": None, "zp": None, "_row": 2},
    ]  # fmt: skip


def test_a_slow_postgresql_query_times_out(postgres_source: str) -> None:
    started = time.monotonic()
    error = refused(open_sql, postgres_source, "SELECT pg_sleep(5)", timeout_seconds=1)

    assert error.code == "source_timeout"
    assert "statement timeout" in error.detail["database_error"]
    assert time.monotonic() - started < 4


def test_an_unknown_postgresql_user_is_refused_and_a_closed_port_unreachable(postgres_source: str) -> None:
    database = postgres_source.rsplit("/", 1)[1]
    error = refused(open_sql, f"postgresql://nobody:Pg-secret-1@127.0.0.1:5432/{database}", "SELECT 1")
    assert error.code == "source_refused"
    assert "Pg-secret-1" not in error.message + str(error.detail)

    error = refused(open_sql, f"postgresql://postgres@127.0.0.1:1/{database}", "SELECT 1")
    assert error.code == "source_unreachable"


def test_a_write_hidden_in_a_with_query_cannot_change_the_source(postgres_source: str) -> None:
    error = refused(
        open_sql, postgres_source, "WITH gone AS (DELETE FROM rk RETURNING id) SELECT * FROM gone"
    )

    assert error.code == "source_query"
    _, batches = pull(open_sql(postgres_source, "SELECT count(*) AS n FROM rk"))
    assert records(batches) == [{"n": "2", "_row": 1}]


def test_duplicate_column_names_in_a_result_are_refused(postgres_source: str) -> None:
    error = refused(open_sql, postgres_source, "SELECT xm, xm FROM rk")

    assert error.code == "source_columns"
    assert "“xm”重复" in error.message


# ---- HTTP -------------------------------------------------------------------------------------


def test_an_api_is_read_page_by_page_until_an_empty_page() -> None:
    with api_server() as (base, requests):
        config = {
            "url": f"{base}/people",
            "records_path": "data.items",
            "page_param": "page",
            "size_param": "size",
            "page_size": 3,
        }
        columns, batches = pull(open_http(config, batch_rows=4))

    assert columns == ["身份证号", "姓名", "性别", "年龄", "地址"]
    assert [b.height for b in batches] == [4, 3]
    rows = records(batches)
    assert [r["身份证号"] for r in rows] == [p["身份证号"] for p in PEOPLE]
    assert rows[0] == {"身份证号": "11010119900307123X", "姓名": "张三", "性别": "1", "年龄": "36",
                       "地址": '{"区":"东城区"}', "_row": 1}  # fmt: skip
    assert (rows[2]["年龄"], rows[3]["年龄"], rows[4]["姓名"]) == ("34", None, None)
    assert [r["_row"] for r in rows] == list(range(1, 8))
    assert requests == [f"/people?size=3&page={n}" for n in (1, 2, 3, 4)]


def test_an_api_with_next_links_or_cursors_is_followed_to_the_end() -> None:
    with api_server() as (base, requests):
        _, by_link = pull(
            open_http({"url": f"{base}/cursor", "records_path": "records", "next_path": "next"})
        )
        _, by_cursor = pull(
            open_http({"url": f"{base}/token", "records_path": "rows", "next_path": "meta.next_cursor"})
        )
        _, whole = pull(open_http({"url": f"{base}/list"}))

    assert [r["姓名"] for r in records(by_link)] == [p["姓名"] or None for p in PEOPLE]
    assert [r["_row"] for r in records(by_cursor)] == list(range(1, 8))
    assert "/token?cursor=4" in requests
    assert [r["姓名"] for r in records(whole)] == ["张三", "李四"]


def test_an_api_key_in_the_headers_is_sent() -> None:
    with api_server() as (base, _):
        error = refused(open_http, {"url": f"{base}/secret"})
        _, batches = pull(open_http({"url": f"{base}/secret", "headers": {"X-Token": "s3cret"}}))

    assert (error.code, error.detail["status"]) == ("http_status", 401)
    assert "令牌" in error.message
    assert records(batches) == [{"k": "v", "_row": 1}]


@pytest.mark.parametrize(
    ("path", "extra", "code"),
    [
        ("/broken", {}, "http_status"),
        ("/html", {}, "http_not_json"),
        ("/people", {"records_path": "data.rows"}, "http_records"),
        ("/late-field", {"records_path": "items", "page_param": "page"}, "source_columns"),
    ],
)
def test_an_api_that_misbehaves_gets_a_precise_error(path: str, extra: dict[str, Any], code: str) -> None:
    with api_server() as (base, _):
        error = refused(open_http, {"url": f"{base}{path}", **extra})

    assert error.code == code
    if code == "http_status":
        assert error.detail["status"] == 500
    if code == "source_columns":
        assert "“备注”" in error.message


def test_a_slow_api_times_out_and_a_dead_one_is_unreachable() -> None:
    with api_server() as (base, _):
        started = time.monotonic()
        slow = refused(open_http, {"url": f"{base}/slow", "timeout_seconds": 1})
        assert time.monotonic() - started < 2.5

    assert slow.code == "source_timeout"
    dead = refused(open_http, {"url": "http://127.0.0.1:1/people"})
    assert dead.code == "source_unreachable"
    assert refused(open_http, {"url": "ftp://example/people"}).code == "source_config"


# ---- a registered source ------------------------------------------------------------------------


def test_a_registered_source_opens_by_its_kind(residents_table: str) -> None:
    database = Source(
        name="民政救助库",
        kind=SourceKind.sql.value,
        config={
            "url": MARIADB,
            "query": f"SELECT xm FROM {residents_table} ORDER BY id",
            "timeout_seconds": 5,
        },
    )
    _, batches = pull(open_source(database, batch_rows=10))
    assert [r["xm"] for r in records(batches)] == ["张三", "李四", "王五"]

    with api_server() as (base, _):
        api = Source(name="人口接口", kind=SourceKind.http.value, config={"url": f"{base}/list"})
        _, batches = pull(open_source(api))
    assert len(records(batches)) == 2

    upload = Source(name="上传文件", kind=SourceKind.file.value, config={})
    error = refused(open_source, upload)
    assert error.code == "source_config"
    assert "每次归集时请上传文件" in error.message

    incomplete = Source(name="半成品", kind=SourceKind.sql.value, config={"url": MARIADB})
    assert refused(open_source, incomplete).code == "source_config"
