"""``jutong systems import/export`` against a fresh SQLite file, as an operator at a terminal would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from jutong.cli.main import app, migrate
from jutong.core import db
from jutong.core.audit import AuditEvent
from jutong.core.config import get_settings
from jutong.core.db import make_engine, set_engine
from jutong.registry import accounts
from jutong.registry import cli as systems_cli
from jutong.registry.models import InformationSystem
from tests.registry.test_census_io import csv_text, row, xlsx


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JUTONG_DATABASE_URL", url)
    monkeypatch.setattr(db, "_engine", None)
    monkeypatch.setattr(db, "_session_factory", None)
    get_settings.cache_clear()
    engine = make_engine(url)
    set_engine(engine)
    migrate()
    with db.session_scope() as session:
        accounts.upsert_region(session, "340000", "示范省")
        accounts.upsert_region(session, "341000", "示范市", "340000")
        accounts.upsert_department(session, "GA", "市公安局", "341000")
        accounts.upsert_department(session, "MZ", "市民政局", "341000")
    # wide enough that the error table is not folded mid-word
    monkeypatch.setattr(systems_cli, "console", Console(width=250))
    yield url
    engine.dispose()
    get_settings.cache_clear()


def _count(model: type) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_import_then_export_from_the_command_line(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    source = tmp_path / "普查.xlsx"
    source.write_bytes(
        xlsx(
            [row(系统编号="MZ-1"), row(系统编号="GA-1", 所属部门="市公安局")],
            usage=[["MZ-1", "2024-01", 3, 4, 5, 6]],
        )
    )
    result = runner.invoke(app, ["systems", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert "导入成功：新建 2 个系统" in result.output and "月度使用情况 1 行" in result.output
    assert _count(InformationSystem) == 2

    target = tmp_path / "out" / "census.xlsx"
    exported = runner.invoke(app, ["systems", "export", str(target)])
    assert exported.exit_code == 0, exported.output
    assert "已导出 2 个系统" in exported.output
    workbook = load_workbook(io.BytesIO(target.read_bytes()))
    assert [r[0] for r in workbook["政务信息系统"].iter_rows(min_row=2, values_only=True)] == ["GA-1", "MZ-1"]
    assert list(workbook["月度使用情况"].iter_rows(min_row=2, values_only=True)) == [
        ("MZ-1", "2024-01", 3, 4, 5, 6)
    ]

    gbk = tmp_path / "census.csv"
    assert runner.invoke(app, ["systems", "export", str(gbk), "--encoding", "gbk"]).exit_code == 0
    assert "市民政局" in gbk.read_bytes().decode("gbk")
    again = runner.invoke(app, ["systems", "import", str(gbk)])
    assert again.exit_code == 0 and "未变化 2 个" in again.output

    with db.session_scope() as session:
        actions = [
            (e.action, e.actor_name) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert ("system.import", "cli") in actions and ("system.export", "cli") in actions


def test_a_bad_file_prints_the_error_table_and_exits_2(database: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_text([row(系统编号="X-1"), row(系统编号="X-2", 使用范围="全省")]).encode("gbk"))
    result = CliRunner().invoke(app, ["systems", "import", str(bad)])
    assert result.exit_code == 2
    assert "导入失败：文件中有 1 处错误" in result.output
    assert "bad.csv" in result.output and "使用范围" in result.output and "全省" in result.output
    assert "enum_invalid" in result.output
    assert _count(InformationSystem) == 0

    unknown = CliRunner().invoke(app, ["systems", "export", str(tmp_path / "census.pdf")])
    assert unknown.exit_code == 2 and ".xlsx 或 .csv" in unknown.output
