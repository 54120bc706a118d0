"""Schemathesis walks every operation of /openapi.json: no answer is a server error, and every answer
has a documented status, the declared shape (the uniform error body for 4XX) and content type.

The fuzzer calls the real ASGI app with real keys: an operator's for the whole API, and 民政局's
consumer key for the data services, pinned to the resource it holds a grant on, so both passes reach
the handlers rather than stopping at 401/404. Each generated call runs inside a SAVEPOINT that is
rolled back afterwards, so a call that deactivates a user, revokes the key in use or seals the audit
log cannot change what the next call sees: nothing needs excluding for the run's own sake.

The operations are driven one by one with Hypothesis here, not through ``schema.parametrize()``:
schemathesis' fixture-based pytest plugin needs the schema at collection time or pytest internals
that pytest 9 no longer has, and the app exists only inside the per-test transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.ingest.models import Load
from tests.conftest import Org, api_headers
from tests.exchange.conftest import Served, resources, served, standards  # noqa: F401  (fixtures)

# Few examples per operation, derandomized, no shrinking: the same calls on every run, well within a
# minute per backend; a failure names the call that failed and is replayed as is.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
FEW = settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def known_ids(session: Session, served: Served) -> dict[str, Any]:  # noqa: F811
    """Path parameters that name things that exist, so some calls get past the 404 into the handler."""
    return {
        "resource_id": served.resource.id,
        "ref": served.resource.id,
        "number": 1,
        "load_id": session.scalars(select(Load.id).order_by(Load.id.desc())).first(),
        "grant_id": served.grant.id,
        "department_id": served.org.police.id,
        "user_id": served.org.consumer.id,
        "event_id": session.scalars(select(AuditEvent.id)).first(),
        "key": "DE0001",
    }


def _fuzz(
    app: object,
    connection: Connection,
    headers: dict[str, str],
    known: dict[str, Any],
    *,
    path_regex: str,
    only_known: bool = False,
) -> int:
    """Call every operation under ``path_regex`` with valid and invalid inputs, with made-up ids and with
    ids that exist; fail listing each operation that answered 5xx or off its schema. Returns how many
    operations were called."""
    schema = from_asgi("/openapi.json", app).include(path_regex=path_regex)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation: APIOperation = result.ok()
        operations += 1
        pinned = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned),
        ]
        if not only_known:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE))
        cases = st.one_of(strategies)

        @FEW
        @given(case=cases)
        def call(case: Case) -> None:
            # each call on its own SAVEPOINT, undone afterwards: the next call starts from the same city
            undo = connection.begin_nested()
            try:
                case.call_and_validate(app=app, headers=headers, checks=CHECKS)
            finally:
                undo.rollback()

        try:
            call()
        # schemathesis reports failed checks as a BaseExceptionGroup; an app that raises, as itself
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {type(exc).__name__}\n{exc}")
    assert not failures, f"{len(failures)} 个接口未通过检查：\n\n" + "\n\n".join(failures)
    return operations


def test_no_operation_answers_an_operator_with_a_server_error(
    app: object,
    connection: Connection,
    session: Session,
    served: Served,  # noqa: F811
) -> None:
    known = known_ids(session, served)
    operations = _fuzz(app, connection, api_headers(session, served.org.operator), known, path_regex="^/")
    assert operations > 100  # the whole API was walked, not a filtered corner of it


def test_no_data_service_answers_a_consumer_with_a_server_error(
    app: object,
    connection: Connection,
    session: Session,
    served: Served,  # noqa: F811
) -> None:
    operations = _fuzz(
        app,
        connection,
        api_headers(session, served.org.consumer),
        known_ids(session, served),
        path_regex=r"^/api/v1/data/",
        only_known=True,  # a made-up resource is only ever a 404: spend the calls on the granted one
    )
    assert operations == 5


def test_the_fuzzer_reports_a_route_that_fails(app: FastAPI, connection: Connection, org: Org) -> None:
    """The check above can fail: a route that answers 500, and one that raises, are both reported."""

    @app.get("/api/v1/probe/answers-500")
    def answers_500() -> JSONResponse:
        return JSONResponse({"code": "internal_error", "message": "故障", "detail": None}, status_code=500)

    @app.get("/api/v1/probe/raises")
    def raises() -> None:
        raise RuntimeError("probe")

    with pytest.raises(AssertionError, match="2 个接口未通过检查") as failed:
        _fuzz(app, connection, {}, {}, path_regex="^/api/v1/probe/")
    assert "/api/v1/probe/answers-500" in str(failed.value) and "/api/v1/probe/raises" in str(failed.value)


def test_the_spec_documents_the_error_body_the_api_sends(
    client: TestClient, session: Session, org: Org
) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    body = schemas["ErrorBody"]
    assert body["required"] == ["code", "message", "detail"]
    assert schemas["HTTPValidationError"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "ValidationError" not in schemas  # FastAPI's {loc, msg, type}: never sent
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/api/"):
                assert "4XX" in operation["responses"], f"{method.upper()} {path} 未声明错误响应"

    headers = api_headers(session, org.auditor)
    invalid = client.get("/api/v1/audit/events", params={"limit": "many"}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["code"] == "request_invalid"
    missing = client.get("/api/v1/audit/events/999999", headers=headers)
    assert missing.status_code == 404
    for answer in (invalid, missing):
        assert set(answer.json()) == set(body["properties"])


def test_the_spec_lists_every_export_format(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/api/v1/data/{ref}/export"]["get"]["responses"]["200"]["content"]
    assert "text/csv; charset=utf-8" in content and "application/vnd.apache.parquet" in content
    assert len(content) == 4  # csv, json, xlsx, parquet
