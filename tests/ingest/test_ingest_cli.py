"""``jutong ingest`` at a terminal: a department's file or registered source into its published resource.

The story: 公安局's data steward generates (``jutong demo data``) a population file with a known share
of bad rows, loads it from the command line and reads a Chinese summary whose counts are exactly what
the file's manifest promises (``read = loaded + rejected``); an incremental change file then shows its
inserted, updated and deleted rows. A load that fails exits 1 with its reason and leaves the data as it
was; a command that cannot start exits 2 and says what to type instead.

The platform database is its own (a SQLite file, a fresh PostgreSQL database), as in production.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from jutong.catalog.models import Resource
from jutong.cli import main as cli_main
from jutong.core import db
from jutong.core.auth import CLI_PRINCIPAL
from jutong.core.config import get_settings
from jutong.core.db import make_engine, set_engine
from jutong.demo import datagen
from jutong.demo.datagen import ChangeOptions, DataOptions
from jutong.ingest import cli as ingest_cli
from jutong.ingest import service
from jutong.ingest.models import SourceKind
from jutong.standards.codes import cn_id_check_char
from tests.ingest.e2e_platform import (
    POLICE_MAPPING,
    data_state,
    live_rows,
    loads,
    platform_database,
    publish_population,
    reject_count,
)

ROWS = 3000  # 60 bad rows at the generator's default 2 %: every kind of bad row appears
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
COUNTS = ("read", "loaded", "rejected", "inserted", "updated", "deleted", "unchanged")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with platform_database(request.param, tmp_path_factory.mktemp("ingest_cli"), "ingestcli") as url:
        yield url


@dataclass
class Terminal:
    engine: Engine

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli_main.app, ["ingest", *args])

    def summary(self, *args: str) -> tuple[Result, dict[str, Any]]:
        """``--format json``: stdout is one JSON object and nothing else."""
        result = self.run(*args, "--format", "json")
        return result, json.loads(result.stdout)


@pytest.fixture
def terminal(platform: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Terminal]:
    monkeypatch.setenv("JUTONG_DATABASE_URL", platform)
    monkeypatch.setenv("JUTONG_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(db, "_engine", None)
    monkeypatch.setattr(db, "_session_factory", None)
    get_settings.cache_clear()
    engine = make_engine(platform)
    set_engine(engine)
    # wide enough that no Chinese sentence is folded mid-word
    monkeypatch.setattr(ingest_cli, "console", Console(width=250))
    monkeypatch.setattr(cli_main, "err_console", Console(stderr=True, width=250))
    yield Terminal(engine)
    engine.dispose()
    get_settings.cache_clear()


@pytest.fixture
def population(terminal: Terminal) -> Resource:
    """A resource of its own per test (the database is shared by the module's tests)."""
    return publish_population(terminal.engine)


def generated(tmp_path: Path, name: str = "常住人口.csv", rows: int = ROWS) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / name
    return path, datagen.generate(path, DataOptions(rows=rows))


def counts(summary: dict[str, Any], keys: tuple[str, ...] = COUNTS) -> dict[str, int]:
    return {k: summary[k] for k in keys}


def person_id(n: int) -> str:
    first17 = f"34100219900307{n:03d}"
    return first17 + cn_id_check_char(first17)


# ---- a file, in full and then incrementally --------------------------------------------------------


def test_a_generated_file_loads_with_the_counts_its_manifest_promises_then_its_changes_incrementally(
    terminal: Terminal, population: Resource, tmp_path: Path
) -> None:
    path, manifest = generated(tmp_path)

    result, summary = terminal.summary(population.code, str(path), "--mapping", POLICE_MAPPING)

    assert result.exit_code == 0, result.output
    assert {"read", "loaded", "rejected", "inserted", "updated", "deleted", "seconds"} <= summary.keys()
    assert summary["status"] == "succeeded" and summary["data_version"] == 1
    assert counts(summary, ("read", "loaded", "rejected")) == manifest["expected"]
    assert summary["read"] == summary["loaded"] + summary["rejected"] == ROWS
    assert (summary["inserted"], summary["updated"], summary["deleted"]) == (summary["loaded"], 0, 0)
    assert isinstance(summary["seconds"], float) and summary["seconds"] > 0
    # exactly the rows the manifest calls bad were rejected, each with its own reason
    assert reject_count(terminal.engine, summary["load_id"]) == manifest["bad_total"]
    with Session(terminal.engine) as session:
        reasons = {
            row: json.loads(r) if isinstance(r, str) else r
            for row, r in session.execute(
                text("SELECT row_number, reasons FROM ingest_reject WHERE load_id = :l"),
                {"l": summary["load_id"]},
            )
        }
    bad_rows = {r for entry in manifest["bad"].values() for r in entry["rows"]}
    assert set(reasons) == bad_rows
    assert all(reasons[r][0]["rule"] == "formula" for r in manifest["bad"]["formula"]["rows"])
    assert all(reasons[r][0]["rule"] == "key_unique" for r in manifest["bad"]["duplicate"]["rows"])
    assert data_state(terminal.engine, population.id) == (1, manifest["expected"]["loaded"])

    changes = tmp_path / "常住人口_变更.csv"
    promised = datagen.generate_changes(changes, DataOptions(rows=ROWS), ChangeOptions(base_rows=ROWS))
    result, delta = terminal.summary(
        population.code, str(changes), "--mode", "incremental", "--mapping", POLICE_MAPPING
    )

    assert result.exit_code == 0, result.output
    assert counts(delta) == promised["expected"]
    assert delta["inserted"] > 0 and delta["updated"] > 0 and delta["deleted"] > 0
    assert delta["mode"] == "incremental" and delta["data_version"] == 2
    rows_now = manifest["expected"]["loaded"] + delta["inserted"] - delta["deleted"]
    assert data_state(terminal.engine, population.id) == (2, rows_now)
    assert len(live_rows(terminal.engine, population.id)) == rows_now


def test_the_summary_is_a_chinese_table_with_the_counts_and_where_the_rejects_are(
    terminal: Terminal, population: Resource, tmp_path: Path
) -> None:
    path, manifest = generated(tmp_path, rows=1000)

    result = terminal.run(population.code, str(path), "--mapping", POLICE_MAPPING)

    assert result.exit_code == 0, result.output
    (load,) = loads(terminal.engine, population.id)
    out = result.stdout
    assert f"批次 #{load.id} 完成：数据版本 1" in out
    for header in ("读取", "入库", "问题数据", "新增", "更新", "删除", "未变", "用时（秒）"):
        assert header in out
    expected = manifest["expected"]
    assert "1,000" in out and f"{expected['loaded']:,}" in out
    assert f"有 {expected['rejected']:,} 行问题数据未入库" in out
    assert f"/ingest/loads/{load.id}" in out  # where the reasons are, row by row
    assert "质量评分" in out
    assert (load.read_count, load.loaded_count, load.rejected_count) == (
        1000,
        expected["loaded"],
        expected["rejected"],
    )


# ---- failures and usage errors --------------------------------------------------------------------


def test_a_load_that_fails_exits_1_with_its_reason_and_the_data_stays_as_it_was(
    terminal: Terminal, population: Resource, tmp_path: Path
) -> None:
    path, manifest = generated(tmp_path, rows=500)
    assert terminal.run(population.code, str(path), "--mapping", POLICE_MAPPING).exit_code == 0
    before = live_rows(terminal.engine, population.id)

    no_key = tmp_path / "缺主键.csv"
    no_key.write_text("姓名,性别代码\n张三,0\n", encoding="utf-8")
    result = terminal.run(population.code, str(no_key))
    assert result.exit_code == 1
    assert (
        "归集失败" in result.stdout and "公民身份号码" in result.stdout and "columns_missing" in result.stdout
    )
    assert "数据仍为上一版本" in result.stdout

    garbage = tmp_path / "人口.csv"
    garbage.write_bytes(bytes((i * 7919) % 256 for i in range(5000)))
    result, summary = terminal.summary(population.code, str(garbage))
    assert result.exit_code == 1
    assert summary["status"] == "failed" and summary["error_code"] == "file_binary"
    assert summary["error_message"] and summary["data_version"] is None
    assert summary["read"] == summary["loaded"] == summary["rejected"] == 0

    assert live_rows(terminal.engine, population.id) == before
    assert data_state(terminal.engine, population.id) == (1, manifest["expected"]["loaded"])
    assert [load.status for load in loads(terminal.engine, population.id)] == [
        "succeeded",
        "failed",
        "failed",
    ]


def test_a_command_that_cannot_start_exits_2_and_records_no_load(
    terminal: Terminal, population: Resource, tmp_path: Path
) -> None:
    path, _ = generated(tmp_path, rows=20)
    code = population.code
    cases: list[tuple[list[str], str]] = [
        ([code, str(path), "--source", "民政库"], "二者选一"),
        ([code], "二者选一"),
        ([code, str(path), "--mode", "append"], "--mode 只能是 full 或 incremental"),
        ([code, str(path), "--format", "xml"], "--format 只能是 table 或 json"),
        ([code, str(tmp_path / "不存在.csv")], "找不到文件"),
        (["999999/999999", str(path)], "资源代码“999999/999999”不存在（resource_not_found）"),
        ([code, str(path), "--mapping", "民政口径"], "没有名为“民政口径”的映射（mapping_not_found）"),
        ([code, "--source", "民政库"], "没有名为“民政库”的数据源（source_not_found）"),
    ]
    for args, words in cases:
        result = terminal.run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)
    assert loads(terminal.engine, population.id) == []
    assert data_state(terminal.engine, population.id) == (0, 0)


# ---- a registered source ---------------------------------------------------------------------------


@pytest.fixture
def source_table() -> Iterator[str]:
    """公安局's own MariaDB: a table of residents (one of our own per test)."""
    engine = create_engine(MARIADB)
    name = f"rk_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(f"CREATE TABLE {name} (id INT PRIMARY KEY, sfzh CHAR(18), xm VARCHAR(50), xb CHAR(1))")
            )
            conn.execute(
                text(
                    f"INSERT INTO {name} VALUES (1, :a, '张三', '1'), (2, :b, '李梅', '2'), (3, :c, '王五', '5')"
                ),
                {"a": person_id(1), "b": person_id(2), "c": person_id(3)},
            )
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"MariaDB（127.0.0.1:3306）不可用：{exc.__class__.__name__}: {exc}")
    yield name
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def register(engine: Engine, resource: Resource, name: str, url: str, table: str) -> None:
    with Session(engine) as session:
        service.save_source(
            session,
            CLI_PRINCIPAL,
            session.get(Resource, resource.id),  # type: ignore[arg-type]
            name=name,
            kind=SourceKind.sql,
            config={
                "url": url,
                "query": f"SELECT sfzh AS 公民身份号码, xm AS 姓名, xb AS 性别代码 FROM {table} ORDER BY id",
                "timeout_seconds": 5,
            },
        )
        session.commit()


def test_a_registered_database_source_is_pulled_by_its_name(
    terminal: Terminal, population: Resource, source_table: str
) -> None:
    register(terminal.engine, population, "公安人口库（MariaDB）", MARIADB, source_table)

    result, summary = terminal.summary(population.code, "--source", "公安人口库（MariaDB）")

    assert result.exit_code == 0, result.output
    assert counts(summary, ("read", "loaded", "rejected", "inserted")) == {
        "read": 3, "loaded": 2, "rejected": 1, "inserted": 2,
    }  # fmt: skip
    assert [r[0] for r in live_rows(terminal.engine, population.id)] == [person_id(1), person_id(2)]
    (load,) = loads(terminal.engine, population.id)
    assert load.source_label == "公安人口库（MariaDB）" and load.file_format == "sql"

    register(terminal.engine, population, "停机的旧库", "mysql+pymysql://root@127.0.0.1:1/test", source_table)
    result = terminal.run(population.code, "--source", "停机的旧库")
    assert result.exit_code == 1
    assert "归集失败" in result.stdout and "source_unreachable" in result.stdout
    assert data_state(terminal.engine, population.id) == (1, 2)
