"""A request's changes and their audit events are committed before the response starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import AuditEvent
from jutong.core.db import make_engine
from jutong.core.migrate import upgrade
from jutong.web import deps
from jutong.web.deps import DbSession
from tests.conftest import Org, api_headers


def _run(app: Any, path: str, engine: Any) -> tuple[int, int]:
    """Call the ASGI app; when the response starts, count the audit events another connection sees."""
    seen: dict[str, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            with Session(engine) as other:
                seen["events"] = other.scalar(select(func.count()).select_from(AuditEvent)) or 0

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b"", "state": {}}
    anyio.run(app, scope, receive, send)
    return seen["status"], seen["events"]


def test_commit_happens_before_the_response_starts_and_failures_roll_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    upgrade(engine)
    inner = FastAPI()

    @inner.get("/ok")
    def ok(session: DbSession) -> dict[str, str]:
        audit.record(session, None, "test.ok")
        return {"ok": "yes"}

    @inner.get("/boom")
    def boom(session: DbSession) -> dict[str, str]:
        audit.record(session, None, "test.boom")
        raise ValueError("boom")

    @inner.get("/shown-error")
    def shown_error(session: DbSession) -> Any:
        from fastapi.responses import JSONResponse

        audit.record(session, None, "test.half-done")  # a page that shows its error keeps nothing
        return JSONResponse({"code": "bad"}, status_code=422)

    @inner.get("/kept-error")
    def kept_error(request: Request, session: DbSession) -> Any:
        from fastapi.responses import JSONResponse

        audit.record(session, None, "test.failed-attempt")
        deps.keep_on_error(request)
        return JSONResponse({"code": "bad"}, status_code=401)

    @inner.exception_handler(ValueError)
    async def failed(request: Any, exc: ValueError) -> Any:
        from fastapi.responses import JSONResponse

        deps.unit_of_work(request).failed = True
        return JSONResponse({"code": "x"}, status_code=500)

    original = deps.session_factory
    deps.session_factory = lambda: Session(engine, expire_on_commit=False)
    try:
        app = deps.UnitOfWorkMiddleware(inner)
        assert _run(app, "/ok", engine) == (200, 1)
        assert _run(app, "/boom", engine) == (500, 1)  # the failed request's event was rolled back
        assert _run(app, "/shown-error", engine) == (422, 1)
        assert _run(app, "/kept-error", engine) == (401, 2)
    finally:
        deps.session_factory = original
        engine.dispose()


def test_a_uniqueness_race_is_a_409_not_a_500(client: TestClient, org: Org, session: Session) -> None:
    """Two requests that both pass a service's uniqueness check: the loser gets a clear conflict."""
    app = client.app
    assert isinstance(app, FastAPI)

    @app.get("/api/v1/_race")
    def race(db: DbSession) -> None:
        region_id = org.police.region_id
        db.execute(text(f"INSERT INTO department (code, name, region_id) VALUES ('GA', 'dup', {region_id})"))

    response = client.get("/api/v1/_race", headers=api_headers(session, org.operator))
    assert response.status_code == 409
    assert response.json()["code"] == "integrity_conflict"


def test_numbers_and_dates_out_of_range_are_422_not_500(
    client: TestClient, org: Org, session: Session
) -> None:
    headers = api_headers(session, org.operator)
    for path in (
        "/api/v1/systems/99999999999999999999",
        "/api/v1/systems?page=99999999999999999999",
        "/api/v1/audit/events?to=9999-12-31",
        "/api/v1/audit/events?from=0001-01-01",
    ):
        response = client.get(path, headers=headers)
        assert response.status_code in (404, 422), (path, response.status_code, response.text)
        assert response.json()["message"], path


def test_reading_census_data_is_audited_and_a_refused_read_is_not_counted_as_one(
    client: TestClient, org: Org, session: Session
) -> None:
    from jutong.core.audit import AuditEvent as Event

    assert client.get("/api/v1/systems", headers=api_headers(session, org.auditor)).status_code == 200
    assert client.get("/api/v1/systems", headers=api_headers(session, org.consumer)).status_code == 403
    session.expire_all()
    reads = session.execute(
        select(Event.actor_name, Event.action).where(Event.object_id == "/api/v1/systems")
    ).all()
    assert ("auditor", "data.read") in reads
    assert ("mz_consumer", "access.denied") in reads and ("mz_consumer", "data.read") not in reads
