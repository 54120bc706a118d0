"""``jutong catalog search`` against a fresh SQLite file, as someone at a terminal would use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from jutong.catalog import cli as catalog_cli
from jutong.cli.main import app, migrate
from jutong.core import db
from jutong.core.config import get_settings
from jutong.core.db import make_engine, set_engine
from jutong.registry import accounts
from tests.catalog.test_search import Spec, publish


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'search.db'}"
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
        police = accounts.upsert_department(session, "GA", "市公安局", "341000")
        civil = accounts.upsert_department(session, "MZ", "市民政局", "341000")
        publish(session, police, Spec("常住人口基础信息", "全市常住人口", share_type="conditional"))
        publish(session, civil, Spec("社会保险参保信息", "参保缴费", classification="201005"))
        publish(session, civil, Spec("婚姻登记信息", "当事人的人口信息"))
    monkeypatch.setattr(catalog_cli, "console", Console(width=200))
    yield url
    engine.dispose()
    get_settings.cache_clear()


def test_search_prints_the_same_json_as_the_api(database: str) -> None:
    result = CliRunner().invoke(app, ["catalog", "search", "人口", "--format", "json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {"total", "items", "facets", "page", "size"} <= body.keys()
    assert body["total"] == 2 and body["size"] == 1 and body["page"] == 1
    assert [i["name"] for i in body["items"]] == ["常住人口基础信息"]
    assert body["items"][0]["share_type_label"] == "有条件共享"
    assert {f["label"]: f["count"] for f in body["facets"]["department"]} == {"市公安局": 1, "市民政局": 1}


def test_search_prints_a_table_and_refuses_huge_pages(database: str) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["catalog", "search", "社保"])
    assert table.exit_code == 0 and "社会保险参保信息" in table.output and "共 1 条" in table.output
    too_many = runner.invoke(app, ["catalog", "search", "人口", "--limit", "500"])
    assert too_many.exit_code == 2
    assert runner.invoke(app, ["catalog", "search", "人口", "--format", "xml"]).exit_code == 2
