"""``jutong requests overdue`` and ``jutong grants list|revoke`` on the platform's own database (a SQLite
file, a fresh PostgreSQL database), as an operator's cron job or shell would run them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from jutong.cli.main import app
from jutong.core import clock, db
from jutong.core.auth import CLI_PRINCIPAL
from jutong.core.config import get_settings
from jutong.registry import accounts
from jutong.sharing import grants
from jutong.sharing.models import Grant, ShareRequest
from tests.ingest.e2e_platform import platform_database, publish_population

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    with platform_database(request.param, tmp_path, "sharingcli") as url:
        monkeypatch.setenv("JUTONG_DATABASE_URL", url)
        get_settings.cache_clear()
        monkeypatch.setattr(db, "_engine", None)
        monkeypatch.setattr(db, "_session_factory", None)
        engine = db.make_engine(url)
        db.set_engine(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            get_settings.cache_clear()


def test_overdue_requests_then_list_and_revoke_a_grant(platform: Engine) -> None:
    resource = publish_population(platform)
    today = clock.today()
    with Session(platform, expire_on_commit=False) as session:
        civil = accounts.upsert_department(session, "MZ", "市民政局", "341000")
        police_id = resource.department_id
        common = {
            "resource_id": resource.id, "catalog_version": 1, "provider_department_id": police_id,
            "consumer_department_id": civil.id, "share_type": "conditional", "purpose": "低保资格核查",
            "items": ["xm"], "delivery": "api", "period_start": today, "period_end": today + timedelta(days=365),
        }  # fmt: skip
        session.add(ShareRequest(**common, due_on=today - timedelta(days=7)))  # a week late
        session.add(ShareRequest(**common, due_on=today + timedelta(days=30)))  # still in time
        columns = [str(i["column_name"]) for i in grants.resource_items(session, resource)]
        grant = grants.create_grant(
            session, CLI_PRINCIPAL, request=None, resource=resource, consumer_department_id=civil.id,
            items=columns[:2], masking=None, application_ids=[], purpose="低保资格核查", delivery="api",
            starts_on=today, expires_on=date(2099, 12, 31), daily_quota=None,
        )  # fmt: skip
        session.commit()

    late = runner.invoke(app, ["requests", "overdue", "--json"])
    assert late.exit_code == 1, late.output  # a cron job notices
    rows = json.loads(late.output)
    assert len(rows) == 1 and rows[0]["provider"] == "市公安局" and rows[0]["consumer"] == "市民政局"
    assert rows[0]["working_days_overdue"] >= 1
    table = runner.invoke(app, ["requests", "overdue"])
    assert table.exit_code == 1 and "逾期未答复" in table.output

    listed = runner.invoke(app, ["grants", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [g["id"] for g in json.loads(listed.output)] == [grant.id]
    assert json.loads(listed.output)[0]["live"] is True

    no_reason = runner.invoke(app, ["grants", "revoke", str(grant.id), "--reason", " "])
    assert no_reason.exit_code == 2 and "撤销理由" in no_reason.output
    revoked = runner.invoke(app, ["grants", "revoke", str(grant.id), "--reason", "项目结束"])
    assert revoked.exit_code == 0 and "已撤销授权" in revoked.output
    again = runner.invoke(app, ["grants", "revoke", str(grant.id), "--reason", "项目结束"])
    assert again.exit_code == 2 and "grant_already_revoked" in again.output
    missing = runner.invoke(app, ["grants", "revoke", "999999", "--reason", "x"])
    assert missing.exit_code == 2 and "grant_not_found" in missing.output
    with Session(platform) as session:
        assert session.scalar(select(Grant.status).where(Grant.id == grant.id)) == "revoked"
    active = runner.invoke(app, ["grants", "list", "--status", "active", "--json"])
    assert json.loads(active.output) == []
