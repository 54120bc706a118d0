"""Bad input never costs a department its data: each gets a clear reason, and the next good load works.

The story: 公安局's population resource holds a first version. Then files arrive that are cut off, in a
wrong or mixed encoding, without the key column, empty, only a header, binary, 2 GB, or the source
database is down or too slow. Each load fails with a stable ``error_code`` and a Chinese message that
says what is wrong and where; readers still see the first version, whole; nothing of the failed load
is left (no rejects, no half table); the corrected file then loads as version 2. Problems in single rows
(an extra column, a cell that would run as a spreadsheet formula) do not fail the load: the rows are
loaded or rejected with their reasons, and ``read = loaded + rejected``.

Everything goes through the real readers, rules and data plane on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from jutong.core.auth import Principal
from jutong.core.config import get_settings
from jutong.ingest import connectors, dataplane, pipeline, readers
from jutong.ingest.errors import IngestInputError
from jutong.ingest.models import Load, Reject, ResourceData
from jutong.standards.codes import cn_id_check_char
from tests.conftest import Org
from tests.ingest.conftest import Resources

HEADER = "公民身份号码,姓名,性别代码,民族代码,出生日期,居住地行政区划代码"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"


def person_id(n: int) -> str:
    first17 = f"34100219900307{n:03d}"
    return first17 + cn_id_check_char(first17)


def line(n: int, name: str | None = None, sex: str = "1") -> str:
    return f"{person_id(n)},{name or f'居民{n}'},{sex},01,1990-03-07,341002"


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def attempt(
    session: Session,
    principal: Principal,
    resource: Any,
    path: Path | None = None,
    *,
    source: Callable[[], readers.SourceBatches] | None = None,
    label: str = "",
    seen: list[int] | None = None,
    **open_options: Any,
) -> Load:
    """One load as the boundaries run it: a source refused before its first batch fails the load too."""
    load = pipeline.start_load(
        session, resource, principal, mode="full", source_label=label or (path.name if path else "")
    )
    try:
        if source is not None:
            batches = source()
        else:
            assert path is not None
            batches = readers.open_file(path, filename=path.name, **open_options)
    except IngestInputError as exc:
        pipeline.mark_failed(session, load, exc, 0.0)
        return load
    if seen is not None:
        batches.batches = observed(batches.batches, seen)
    done = pipeline.execute_load(session, load, batches, principal)
    if done.status == "succeeded":
        assert done.read_count == done.loaded_count + done.rejected_count
        # a full load's deletes are rows of the old version the file no longer has, not rows of the file
        assert done.loaded_count == done.inserted_count + done.updated_count + done.unchanged_count
    return done


def observed(frames: Iterator[pl.DataFrame], heights: list[int]) -> Iterator[pl.DataFrame]:
    """The batches as the pipeline takes them, their sizes noted (to know a failure came mid-load)."""
    try:
        for frame in frames:
            heights.append(frame.height)
            yield frame
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def stored(session: Session, resource: Any) -> list[tuple[Any, ...]]:
    table, _ = dataplane.table_names(resource.id)
    return [
        tuple(r) for r in session.execute(text(f"SELECT gmsfhm, xm, _version FROM {table} ORDER BY gmsfhm"))
    ]


def version(session: Session, resource: Any) -> int:
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resource.id))
    return data.data_version if data else 0


def leftovers(session: Session, resource: Any) -> list[str]:
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resource.id))
    assert data is not None
    writer = dataplane.Writer(session, data, [], 0, 0)
    names = {f"{data.table_name}__{kind}{load.id}" for load in session.scalars(select(Load)) for kind in "ls"}
    return sorted(name for name in names if writer.table_exists(name))


@pytest.fixture
def first_version(session: Session, org: Org, resources: Resources, tmp_path: Path) -> list[tuple[Any, ...]]:
    """The resource's data before the bad input arrives: version 1, three people."""
    path = write(tmp_path / "第一版.csv", "\n".join([HEADER, line(1), line(2), line(3)]) + "\n")
    done = attempt(session, org.principal(org.steward), resources.population, path)
    assert done.status == "succeeded" and done.data_version == 1
    return stored(session, resources.population)


def good_rerun(session: Session, org: Org, resources: Resources, tmp_path: Path) -> Load:
    path = write(tmp_path / "修正后.csv", "\n".join([HEADER, line(1, "改名"), line(2), line(4)]) + "\n")
    done = attempt(session, org.principal(org.steward), resources.population, path)
    assert done.status == "succeeded" and done.data_version == 2, done.error_message
    assert (done.inserted_count, done.updated_count, done.deleted_count, done.unchanged_count) == (1, 1, 1, 1)
    return done


def assert_failed_and_nothing_changed(
    session: Session, resources: Resources, failed: Load, before: list[tuple[Any, ...]], code: str, words: str
) -> None:
    assert failed.status == "failed", failed.status
    assert failed.error_code == code, failed.error_message
    assert words in failed.error_message, failed.error_message
    assert failed.data_version is None and failed.finished_at is not None
    assert (failed.read_count, failed.loaded_count, failed.rejected_count) == (0, 0, 0)
    assert session.scalars(select(Reject).where(Reject.load_id == failed.id)).all() == []
    assert stored(session, resources.population) == before
    assert version(session, resources.population) == 1
    assert leftovers(session, resources.population) == []


# ---- files that cannot be loaded --------------------------------------------------------------------

ROWS = [line(n) for n in range(10, 70)]  # enough rows for several batches and chunks before a problem


def _truncated_line(path: Path) -> Path:
    return write(path, "\n".join([HEADER, *ROWS, f"{person_id(99)},赵六"]))  # the last line cut short


def _truncated_quote(path: Path) -> Path:
    return write(path, "\n".join([HEADER, *ROWS, f'{person_id(99)},"赵六,1,01']))  # a quote never closed


def _mixed_encoding(path: Path) -> Path:
    before = "\n".join([HEADER, *ROWS]).encode("utf-8") + b"\n"  # lines 1-61
    gbk = (line(98, "户籍迁入") + "\n").encode("gbk")  # line 62: saved by another program
    return write(path, before + gbk + (line(99) + "\n").encode("utf-8"))


def _utf16(path: Path) -> Path:
    return write(path, b"\xff\xfe" + "\n".join([HEADER, line(1)]).encode("utf-16-le"))


def _missing_key(path: Path) -> Path:
    return write(path, "姓名,性别代码\n张三,1\n")


def _more_fields(path: Path) -> Path:
    return write(path, "\n".join([HEADER, *ROWS[:48], line(98) + ",多出的一列", *ROWS[48:]]) + "\n")


def _empty(path: Path) -> Path:
    return write(path, b"")


def _header_only(path: Path) -> Path:
    return write(path, HEADER + "\n\n")


def _garbage(path: Path) -> Path:
    return write(path, bytes((i * 7919) % 256 for i in range(5000)))


def _two_gigabytes(path: Path) -> Path:
    with path.open("wb") as handle:  # sparse: takes no disk, but is 2 GB to whoever reads its size
        handle.truncate(2 * 1024**3)
    return path


@dataclass(frozen=True)
class BadFile:
    make: Callable[[Path], Path]
    code: str  # the stable error_code
    words: str  # what the Chinese message must say (the line, the limit, ...)
    options: dict[str, Any] = field(default_factory=dict)  # small chunks and batches: streamed paths
    mid_load: bool = False  # found after batches were already written


STREAMED = {"chunk_bytes": 512, "batch_rows": 10}
BAD_FILES = {
    "truncated_line": BadFile(_truncated_line, "file_truncated", "第 62 行", STREAMED, mid_load=True),
    "truncated_quote": BadFile(_truncated_quote, "file_truncated", "双引号", STREAMED, mid_load=True),
    "mixed_encoding": BadFile(
        _mixed_encoding, "file_encoding", "第 62 行附近的内容不是 UTF-8 编码", STREAMED, mid_load=True
    ),
    "utf16": BadFile(_utf16, "file_encoding", "UTF-16"),
    "missing_key_column": BadFile(_missing_key, "columns_missing", "公民身份号码"),
    "more_fields_than_header": BadFile(_more_fields, "file_columns", "第 50 行", STREAMED, mid_load=True),
    "empty": BadFile(_empty, "file_empty", "0 字节"),
    "header_only": BadFile(_header_only, "file_empty", "没有数据行"),
    "binary_garbage": BadFile(_garbage, "file_binary", "不是文本文件"),
    "two_gigabytes": BadFile(_two_gigabytes, "file_too_large", "超过上限 1.0 GB"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_cannot_be_loaded_fails_with_its_reason_and_the_next_good_one_loads(
    session: Session,
    org: Org,
    resources: Resources,
    first_version: list[tuple[Any, ...]],
    tmp_path: Path,
    case: str,
) -> None:
    bad = BAD_FILES[case]
    path = bad.make(tmp_path / "人口.csv")
    limit = get_settings().ingest_max_upload_bytes  # what the pages and the API allow
    seen: list[int] = []

    failed = attempt(
        session,
        org.principal(org.steward),
        resources.population,
        path,
        max_bytes=limit,
        seen=seen,
        **bad.options,
    )

    assert_failed_and_nothing_changed(session, resources, failed, first_version, bad.code, bad.words)
    if bad.mid_load:
        assert len(seen) >= 2, seen  # batches were handed over (and written) before the problem
    good_rerun(session, org, resources, tmp_path)


# ---- rows that are loaded, or rejected with their reasons ------------------------------------------


def test_extra_columns_are_loaded_around_and_reported(
    session: Session, org: Org, resources: Resources, first_version: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    path = write(
        tmp_path / "带备注.csv",
        "\n".join([HEADER + ",备注,联系人电话", line(1) + ",已核实,13800000000", line(5) + ",,"]) + "\n",
    )

    done = attempt(session, org.principal(org.steward), resources.population, path)

    assert done.status == "succeeded", done.error_message
    assert (done.read_count, done.loaded_count, done.rejected_count) == (2, 2, 0)
    assert done.stats["unmapped_columns"] == ["备注", "联系人电话"]
    assert [r[0] for r in stored(session, resources.population)] == [person_id(1), person_id(5)]


def test_formula_injection_cells_are_rejected_and_never_stored(
    session: Session, org: Org, resources: Resources, first_version: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    formulas = [
        "=cmd|' /C calc'!A0",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-cmd|' /C calc'!A0",
    ]
    lines = [
        HEADER,
        line(1),
        *(line(20 + n, f'"{f}"') for n, f in enumerate(formulas)),
        line(2, "张=三"),
    ]
    path = write(tmp_path / "公式.csv", "\n".join(lines) + "\n")

    done = attempt(session, org.principal(org.steward), resources.population, path)

    assert done.status == "succeeded", done.error_message
    assert (done.read_count, done.loaded_count, done.rejected_count) == (6, 2, 4)
    rejects = {r.row_number: r for r in session.scalars(select(Reject).where(Reject.load_id == done.id))}
    assert set(rejects) == {3, 4, 5, 6}
    for row, formula in zip((3, 4, 5, 6), formulas, strict=True):
        (reason,) = rejects[row].reasons
        assert reason["rule"] == "formula" and reason["item"] == "姓名"
        assert "公式" in reason["message"] and rejects[row].raw["姓名"] == formula
    names = [r[1] for r in stored(session, resources.population)]
    assert names == ["居民1", "张=三"]  # a formula sign inside the text is harmless
    assert not any(name[0] in "=+@" for name in names)


# ---- a source database that refuses or does not answer ---------------------------------------------


@pytest.fixture
def mariadb() -> Iterator[None]:
    engine = create_engine(MARIADB)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"MariaDB（127.0.0.1:3306）不可用：{exc.__class__.__name__}: {exc}")
    finally:
        engine.dispose()
    yield


@pytest.mark.parametrize(
    ("url", "query", "timeout", "code", "words"),
    [
        (
            "mysql+pymysql://root@127.0.0.1:1/test",
            "SELECT 1 AS 公民身份号码",
            5,
            "source_unreachable",
            "127.0.0.1:1",
        ),
        (
            "mysql+pymysql://root:not-it@127.0.0.1:3306/test",
            "SELECT 1 AS 公民身份号码",
            5,
            "source_refused",
            "***",
        ),
        (MARIADB, "SELECT SLEEP(5) AS 公民身份号码", 1, "source_timeout", "1 秒内没有响应"),
        (MARIADB, "SELECT xm FROM no_such_table_of_ours", 5, "source_query", "源数据库执行查询出错"),
    ],
    ids=["unreachable", "refused", "timeout", "query"],
)
def test_a_source_database_that_fails_keeps_the_previous_version(
    session: Session,
    org: Org,
    resources: Resources,
    first_version: list[tuple[Any, ...]],
    tmp_path: Path,
    mariadb: None,
    url: str,
    query: str,
    timeout: float,
    code: str,
    words: str,
) -> None:
    failed = attempt(
        session,
        org.principal(org.steward),
        resources.population,
        source=lambda: connectors.open_sql(url, query, timeout_seconds=timeout),
        label="公安人口库",
    )

    assert_failed_and_nothing_changed(session, resources, failed, first_version, code, words)
    assert "not-it" not in failed.error_message
    good_rerun(session, org, resources, tmp_path)
