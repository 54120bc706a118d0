"""A fresh install has the national standards: ``jutong db upgrade`` loads them, once per version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jutong.catalog import standards as std
from jutong.catalog.models import CodeValue, DataElement
from jutong.cli.main import app
from jutong.core import db
from jutong.core.config import get_settings
from jutong.core.db import make_engine, set_engine
from jutong.core.options import get_option


@pytest.fixture
def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("JUTONG_DATABASE_URL", url)
    monkeypatch.setattr(db, "_engine", None)
    monkeypatch.setattr(db, "_session_factory", None)
    get_settings.cache_clear()
    engine = make_engine(url)
    set_engine(engine)
    yield
    engine.dispose()
    get_settings.cache_clear()


def test_db_upgrade_loads_the_national_standards_once(fresh_database: None) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with db.session_scope() as session:
        marker = get_option(session, std.VERSION_OPTION)
        assert marker is not None and marker["digest"] == std.data_digest()
        elements = session.scalar(select(func.count()).select_from(DataElement))
        assert (
            elements == marker["data_elements"] and std.element_by_identifier(session, "DE0001") is not None
        )
        loaded_at = marker["loaded_at"]
        values = session.scalar(select(func.count()).select_from(CodeValue))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with db.session_scope() as session:
        again = get_option(session, std.VERSION_OPTION)
        assert again is not None and again["loaded_at"] == loaded_at  # not reloaded: same version
        assert session.scalar(select(func.count()).select_from(CodeValue)) == values
