"""``jutong catalog import/export`` against a fresh SQLite file, as an operator at a terminal would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from jutong.catalog import cli as catalog_cli
from jutong.catalog.models import DataItem, Resource, ResourceStatus
from jutong.cli.main import app, migrate
from jutong.core import db
from jutong.core.audit import AuditEvent
from jutong.core.config import get_settings
from jutong.core.db import make_engine, set_engine
from jutong.registry import accounts
from tests.catalog.test_excel import (
    SHEET_ITEMS,
    SHEET_RESOURCES,
    item_row,
    resource_row,
    sheet_values,
    workbook_bytes,
)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JUTONG_DATABASE_URL", url)
    monkeypatch.setattr(db, "_engine", None)
    monkeypatch.setattr(db, "_session_factory", None)
    get_settings.cache_clear()
    engine = make_engine(url)
    set_engine(engine)
    migrate()  # also loads the national data standards (DE0001 …)
    with db.session_scope() as session:
        accounts.upsert_region(session, "340000", "示范省")
        accounts.upsert_region(session, "341000", "示范市", "340000")
        accounts.upsert_department(session, "GA", "市公安局", "341000")
        accounts.upsert_department(session, "MZ", "市民政局", "341000")
    monkeypatch.setattr(catalog_cli, "console", Console(width=250))  # the error table is not folded mid-word
    yield url
    engine.dispose()
    get_settings.cache_clear()


def _count(what: Any) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(what)) or 0


def test_import_export_and_import_again_from_the_command_line(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    source = tmp_path / "目录.xlsx"
    source.write_bytes(
        workbook_bytes(
            [
                resource_row(),
                resource_row(信息资源名称="婚姻登记信息", 信息资源提供方="MZ", 信息资源分类代码="101003"),
            ],
            [
                item_row(),
                item_row(信息项名称="姓名", 数据元标识符="DE0002", 是否主键="否"),
                item_row(信息资源名称="婚姻登记信息", 信息项名称="当事人身份号码"),
            ],
        )
    )
    result = runner.invoke(app, ["catalog", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert "导入成功：新建 2 个资源（草稿）" in result.output and "101001/000001" in result.output
    with db.session_scope() as session:
        statuses = set(session.scalars(select(Resource.status)))
    assert statuses == {ResourceStatus.draft.value} and _count(DataItem) == 3

    target = tmp_path / "out" / "catalog.xlsx"
    exported = runner.invoke(app, ["catalog", "export", str(target), "--drafts"])
    assert exported.exit_code == 0, exported.output
    assert "已导出 2 个资源" in exported.output
    sheets = sheet_values(target.read_bytes())
    assert [r[1] for r in sheets[SHEET_RESOURCES][1:]] == ["常住人口基础信息", "婚姻登记信息"]
    assert len(sheets[SHEET_ITEMS]) == 4
    published_only = runner.invoke(app, ["catalog", "export", str(tmp_path / "published.xlsx")])
    assert "已导出 0 个资源" in published_only.output  # nothing is published yet

    changes = _count(AuditEvent)
    again = runner.invoke(app, ["catalog", "import", str(target)])
    assert again.exit_code == 0, again.output
    assert "新建 0 个资源（草稿），更新 0 个，未变化 2 个" in again.output
    assert _count(Resource) == 2 and _count(AuditEvent) == changes + 1  # only the import's own event


def test_a_bad_file_prints_the_problems_and_exits_2(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(
        workbook_bytes([resource_row(信息资源提供方="市不存在局")], [item_row(数据元标识符="DE9999")])
    )
    result = runner.invoke(app, ["catalog", "import", str(bad)])
    assert result.exit_code == 2, result.output
    assert "导入失败：文件中有 2 处错误" in result.output
    assert "department_unknown" in result.output and "element_unknown" in result.output
    assert "数据元标识符" in result.output and _count(Resource) == 0

    gbk = tmp_path / "目录.csv"
    gbk.write_bytes("信息资源名称,共享类型\r\n户籍人口,无条件共享\r\n".encode("gbk"))
    refused = runner.invoke(app, ["catalog", "import", str(gbk)])
    assert refused.exit_code == 2 and "catalog_csv_unsupported" in refused.output and "GBK" in refused.output

    wrong = runner.invoke(app, ["catalog", "export", str(tmp_path / "catalog.csv")])
    assert wrong.exit_code == 2 and ".xlsx" in wrong.output
