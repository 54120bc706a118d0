"""The lookups' fast path (exchange.fast_lookup), on a real server and a PostgreSQL platform database.

It must give the general path's answer byte for byte and write the same records, and every change that
would make the general path refuse (a revoked grant, key or application, a deactivated issuer, an expired
grant, a used-up quota) must make it refuse at once: the fast path hands those calls on to the general path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from jutong.catalog.models import Resource
from jutong.cli.main import app as cli
from jutong.core import audit, clock, db
from jutong.core.auth import CLI_PRINCIPAL, Role
from jutong.demo import datagen
from jutong.demo.datagen import DataOptions
from jutong.exchange.fast_lookup import FastLookups
from jutong.ingest.models import ResourceData
from jutong.registry import accounts
from jutong.registry.models import ApiKey
from jutong.sharing import applications, grants
from jutong.sharing.models import DataAccess, Grant
from tests.ingest.e2e_platform import POLICE_MAPPING, platform_in_use, publish_population
from tests.servers import serving

PEOPLE = 30


@dataclass
class Setup:
    engine: Engine
    url: str
    lookups: FastLookups
    resource: Resource
    token: str
    application_id: int
    owner_id: int
    grant_id: int
    keys: list[str]

    def get(self, *key: str, token: str | None = None) -> httpx.Response:
        return httpx.get(
            f"{self.url}/api/v1/data/{self.resource.code}/records",
            params=[("key", k) for k in key],
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    with platform_in_use("postgresql", tmp_path, "fastpath", monkeypatch) as engine:
        resource = publish_population(engine)
        people = tmp_path / "人口.csv"
        datagen.generate(people, DataOptions(rows=PEOPLE, bad_share=0.0, fixable_share=0.0))
        loaded = CliRunner().invoke(cli, ["ingest", resource.code, str(people), "--mapping", POLICE_MAPPING])
        assert loaded.exit_code == 0, loaded.output
        with Session(engine, expire_on_commit=False) as session:
            accounts.upsert_department(session, "RS", "市人力资源和社会保障局", "341000")
            owner = accounts.create_user(
                session,
                username="rs_owner",
                password="fastpath-1",
                role=Role.consumer,
                department_code="RS",
            )
            principal = accounts.principal_for(owner, via="session")
            application = applications.create_application(session, principal, name="社保待遇认证系统")
            issued = applications.issue_key(session, principal, application.id, "快速通道")
            today = clock.today()
            grant = grants.create_grant(
                session, CLI_PRINCIPAL, request=None, resource=session.get_one(Resource, resource.id),
                consumer_department_id=owner.department_id, items=["gmsfhm", "xm", "csrq"],
                masking={"gmsfhm": "id_number", "xm": "name"}, application_ids=[application.id],
                purpose="社会保险待遇资格认证", delivery="api", starts_on=today - timedelta(days=1),
                expires_on=today + timedelta(days=30), daily_quota=None,
            )  # fmt: skip
            table = session.scalars(select(ResourceData.table_name)).one()
            keys = [str(r[0]) for r in session.execute(text(f'SELECT gmsfhm FROM "{table}" ORDER BY 1'))]
            session.commit()
        from jutong.web.app import create_app

        app = create_app(seal_audit=False)
        assert app.state.fast_lookups is not None  # PostgreSQL: on by default
        with serving(app) as base:
            yield Setup(
                engine, base, app.state.fast_lookups, resource, issued.token, application.id, owner.id,
                grant.id, keys,
            )  # fmt: skip


def warmed(setup: Setup) -> None:
    """The first call notes the key's use on the general path; from the next one the fast path answers."""
    assert setup.get(setup.keys[0]).status_code == 200
    served = setup.lookups.served
    assert setup.get(setup.keys[1]).status_code == 200
    assert setup.lookups.served == served + 1


def accesses(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            {k: v for k, v in row._asdict().items() if k not in ("id", "at")}
            for row in session.execute(select(DataAccess.__table__).order_by(DataAccess.id))
        ]


def events(engine: Engine, action: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == action).order_by(audit.AuditEvent.id)
        )
        fields = ("actor_id", "actor_name", "actor_role", "department_id", "via", "ip", "object_type")
        return [
            {
                **{f: getattr(e, f) for f in fields},
                "object_id": e.object_id,
                "summary": e.summary,
                "detail": e.detail,
            }
            for e in rows
        ]


def test_the_fast_path_answers_and_records_exactly_as_the_general_path(setup: Setup) -> None:
    warmed(setup)
    probes = [(setup.keys[2],), (setup.keys[3].lower(),), ("110101199001011234",), (setup.keys[4],)]
    fast, general = [], []
    before = len(accesses(setup.engine))
    for key in probes:
        served = setup.lookups.served
        fast.append(setup.get(*key))
        assert setup.lookups.served == served + 1  # answered by the fast path
    fast_records = accesses(setup.engine)[before:]
    fast_events = events(setup.engine, "data.lookup")[-len(probes) :]
    setup.lookups.enabled = False
    for key in probes:
        general.append(setup.get(*key))
    setup.lookups.enabled = True
    assert [a.status_code for a in fast] == [200] * len(probes)
    assert [a.content for a in fast] == [a.content for a in general]
    assert [a.headers["content-type"] for a in fast] == [a.headers["content-type"] for a in general]
    body = fast[0].json()
    assert body["found"] and set(body["record"]) == {"gmsfhm", "xm", "csrq"} and "*" in body["record"]["xm"]
    assert fast[2].json() == {"found": False, "record": None, "data_version": body["data_version"]}
    # one DataAccess and one audit event per call, the same as the general path writes
    assert fast_records == accesses(setup.engine)[-len(probes) :]
    assert fast_events == events(setup.engine, "data.lookup")[-len(probes) :]
    assert fast_events[0]["detail"]["application_id"] == setup.application_id
    assert fast_events[0]["detail"]["items"] == ["gmsfhm", "xm", "csrq"]
    assert setup.lookups.recorder.commits >= 1


def test_what_the_fast_path_cannot_answer_gets_the_general_paths_answer(setup: Setup) -> None:
    warmed(setup)
    served = setup.lookups.served
    two = setup.get(setup.keys[0], setup.keys[1])
    assert (two.status_code, two.json()["code"]) == (422, "key_arity")
    wrong = setup.get(setup.keys[0], token=setup.token[:-2] + "xx")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "api_key_invalid")
    unknown = httpx.get(
        f"{setup.url}/api/v1/data/999999/records",
        params={"key": setup.keys[0]},
        headers={"Authorization": f"Bearer {setup.token}"},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "resource_not_found")
    anonymous = httpx.get(f"{setup.url}/api/v1/data/{setup.resource.code}/records", params={"key": "1"})
    assert anonymous.status_code == 401
    assert setup.lookups.served == served
    assert setup.get(setup.keys[0]).status_code == 200  # and the next good call is fast again
    assert setup.lookups.served == served + 1


def _commit(engine: Engine, change: Any) -> None:
    with Session(engine, expire_on_commit=False) as session:
        change(session)
        session.commit()


def test_a_revoked_grant_stops_access_at_once(setup: Setup) -> None:
    warmed(setup)
    _commit(setup.engine, lambda s: grants.revoke_grant(s, CLI_PRINCIPAL, setup.grant_id, "停止共享"))
    refused = setup.get(setup.keys[2])
    assert (refused.status_code, refused.json()["code"]) == (403, "grant_revoked")
    assert setup.get(setup.keys[3]).status_code == 403  # and stays refused


def test_a_new_grant_is_used_at_once(setup: Setup) -> None:
    """The newest live grant wins on the general path; a plan made before it must not outlive it."""
    warmed(setup)

    def narrower(session: Session) -> None:
        old = session.get_one(Grant, setup.grant_id)
        grants.create_grant(
            session, CLI_PRINCIPAL, request=None, resource=session.get_one(Resource, setup.resource.id),
            consumer_department_id=old.consumer_department_id, items=["xm"], masking={"xm": "name"},
            application_ids=[setup.application_id], purpose=old.purpose, delivery="api",
            starts_on=old.starts_on, expires_on=old.expires_on, daily_quota=None,
        )  # fmt: skip

    _commit(setup.engine, narrower)
    assert set(setup.get(setup.keys[2]).json()["record"]) == {"xm"}
    assert set(setup.get(setup.keys[3]).json()["record"]) == {"xm"}


@pytest.mark.parametrize("change", ["revoke_key", "retire_application", "deactivate_issuer"])
def test_a_stopped_key_stops_access_at_once(setup: Setup, change: str) -> None:
    warmed(setup)

    def stop(session: Session) -> None:
        owner = accounts.principal_for(session.get_one(accounts.User, setup.owner_id), via="session")
        if change == "revoke_key":
            key = applications.application_keys(session, owner, setup.application_id)[0]
            applications.revoke_key(session, owner, setup.application_id, key.id)
        elif change == "retire_application":
            applications.retire_application(session, owner, setup.application_id)
        else:
            accounts.set_user_active(session, CLI_PRINCIPAL, setup.owner_id, active=False)

    _commit(setup.engine, stop)
    refused = setup.get(setup.keys[2])
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_invalid")


def test_an_expired_grant_stops_access_on_the_day_after(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    warmed(setup)
    with Session(setup.engine) as session:
        expires_on = session.get_one(Grant, setup.grant_id).expires_on
    monkeypatch.setattr(clock, "today", lambda: expires_on + timedelta(days=1))
    refused = setup.get(setup.keys[2])
    assert (refused.status_code, refused.json()["code"]) == (403, "grant_expired")


def test_the_daily_quota_holds(setup: Setup) -> None:
    def quota(session: Session) -> None:
        session.get_one(Grant, setup.grant_id).daily_quota = 3

    _commit(setup.engine, quota)
    warmed(setup)  # two rows
    served = setup.lookups.served
    assert setup.get(setup.keys[2]).status_code == 200
    assert setup.lookups.served == served + 1
    refused = setup.get(setup.keys[3])
    assert (refused.status_code, refused.json()["code"]) == (403, "grant_quota_exhausted")
    assert setup.lookups.served == served + 1


def test_a_new_load_shows_at_once(setup: Setup, tmp_path: Path) -> None:
    warmed(setup)
    version = setup.get(setup.keys[2]).json()["data_version"]
    again = tmp_path / "人口2.csv"
    datagen.generate(again, DataOptions(rows=PEOPLE + 5, bad_share=0.0, fixable_share=0.0))
    loaded = CliRunner().invoke(cli, ["ingest", setup.resource.code, str(again), "--mapping", POLICE_MAPPING])
    assert loaded.exit_code == 0, loaded.output
    assert setup.get(setup.keys[2]).json()["data_version"] == version + 1


def test_a_failed_record_is_never_answered_by_the_fast_path(setup: Setup) -> None:
    """If the access record cannot be committed the call goes to the general path: answered with its
    record there, never without one."""
    warmed(setup)

    def broken(records: list[Any]) -> None:
        raise RuntimeError("数据库不可用")

    setup.lookups.recorder._write = broken  # type: ignore[method-assign]
    before = len(accesses(setup.engine))
    served = setup.lookups.served
    answer = setup.get(setup.keys[2])
    assert answer.status_code == 200 and answer.json()["found"]
    assert setup.lookups.served == served
    assert len(accesses(setup.engine)) == before + 1


def test_key_use_is_still_noted_to_the_minute(setup: Setup) -> None:
    warmed(setup)
    long_ago = db.utcnow() - timedelta(minutes=5)

    def last_used(session: Session) -> Any:
        return session.scalars(select(ApiKey).where(ApiKey.application_id == setup.application_id)).one()

    _commit(setup.engine, lambda s: setattr(last_used(s), "last_used_at", long_ago))
    served = setup.lookups.served
    assert setup.get(setup.keys[2]).status_code == 200  # due: the general path notes it
    assert setup.lookups.served == served
    with Session(setup.engine) as session:
        assert last_used(session).last_used_at > long_ago + timedelta(minutes=4)
    assert setup.get(setup.keys[3]).status_code == 200
    assert setup.lookups.served == served + 1
