"""The ingest API as a provider's program uses it, on both backends: upload a file, let the background
worker run it, read the load, download the rejects, manage sources and mappings, read the quality report
and the change log — and who may do which."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from jutong.core import db, jobs
from jutong.core.audit import AuditEvent
from jutong.core.config import get_settings
from jutong.ingest.models import Load
from jutong.standards.codes import cn_id_check_char
from tests.conftest import Org, api_headers
from tests.ingest.conftest import Resources

HEADER = "公民身份号码,姓名,性别代码,民族代码,出生日期,居住地行政区划代码"
FORMULA = "=cmd|' /C calc'!A0"


def person_id(n: int) -> str:
    first17 = f"34100219850101{n:03d}"
    return first17 + cn_id_check_char(first17)


@pytest.fixture
def worker(engine: Engine, connection: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """The background worker's units of work join the test's transaction (rolled back afterwards)."""
    monkeypatch.setattr(db, "_engine", engine)
    monkeypatch.setattr(
        db,
        "_session_factory",
        lambda: Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False),
    )


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path)
    yield tmp_path


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode("utf-8")


def upload(
    client: TestClient,
    headers: dict[str, str],
    resource_id: int,
    content: bytes,
    *,
    name: str = "人口.csv",
    mode: str = "full",
    mapping: str = "",
) -> Any:
    return client.post(
        f"/api/v1/ingest/resources/{resource_id}/loads",
        headers=headers,
        files={"file": (name, content, "text/csv")},
        data={"mode": mode, "mapping": mapping},
    )


def run_jobs() -> int:
    return jobs.run_due()


FIRST = csv_bytes(
    f"{person_id(1)},张三,1,01,1985-01-01,341002",
    f"{person_id(2)},李四,2,01,1985年1月1日,341002",
    f"{person_id(3)},王五,1,01,19850101,341002",
    f"{person_id(4)}X,赵六,1,01,1985-01-01,341002",  # 19 characters
    f"{person_id(5)},{FORMULA},2,01,1985-01-01,341002",
)


def test_a_provider_uploads_a_file_the_worker_loads_it_and_the_counts_add_up(
    client: TestClient, session: Session, org: Org, resources: Resources, worker: None, data_dir: Path
) -> None:
    steward = api_headers(session, org.steward)
    rid = resources.population.id
    queued = upload(client, steward, rid, FIRST)
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["status"] == "queued" and body["status_label"] == "排队中" and not body["done"]
    assert body["source_label"] == "人口.csv" and list((data_dir / "uploads").iterdir())
    # one load at a time per resource
    again = upload(client, steward, rid, FIRST)
    assert again.status_code == 409 and again.json()["code"] == "load_in_progress"

    assert run_jobs() == 1
    load = client.get(f"/api/v1/ingest/loads/{body['id']}", headers=steward).json()
    assert load["status"] == "succeeded" and load["done"], load
    assert (load["read"], load["loaded"], load["rejected"]) == (5, 3, 2)
    assert load["identity_holds"] and load["read"] == load["loaded"] + load["rejected"]
    assert (load["inserted"], load["data_version"], load["encoding"]) == (3, 1, "UTF-8")
    assert load["quality_score"] is not None and load["quality_score"] < 100
    assert not list((data_dir / "uploads").iterdir())  # the worker removed the uploaded file

    listed = client.get(f"/api/v1/ingest/resources/{rid}/loads", headers=steward).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]

    # a second, incremental file: one changed, one new, one deleted
    second = csv_bytes(
        f"{person_id(1)},张三丰,1,01,1985-01-01,341002,U",
        f"{person_id(6)},钱七,2,01,1985-01-01,341002,U",
        f"{person_id(3)},,,,,,D",
        header=HEADER + ",操作类型",
    )
    queued = upload(client, steward, rid, second, name="变更.csv", mode="incremental")
    assert queued.status_code == 202, queued.text
    assert run_jobs() == 1
    load = client.get(f"/api/v1/ingest/loads/{queued.json()['id']}", headers=steward).json()
    assert load["status"] == "succeeded", load
    assert (load["inserted"], load["updated"], load["deleted"], load["data_version"]) == (1, 1, 1, 2)

    # the change log: versions with counts, never the rows
    versions = client.get(f"/api/v1/ingest/resources/{rid}/changes", headers=steward).json()
    assert [(v["version"], v["baseline"], v["inserted"], v["updated"], v["deleted"]) for v in versions] == [
        (2, False, 1, 1, 1),
        (1, True, 3, 0, 0),
    ]
    assert "gmsfhm" not in str(versions) and person_id(1) not in str(versions)

    report = client.get(f"/api/v1/ingest/resources/{rid}/quality", headers=steward).json()
    assert report["load_id"] == load["id"] and report["score"] == load["quality_score"]
    assert report["weights"] == {"completeness": 30, "validity": 40, "uniqueness": 15, "timeliness": 15}
    assert [p["load_id"] for p in report["history"]] == [body["id"], load["id"]]
    assert {c["dimension"] for c in report["checks"]} == {
        "completeness",
        "validity",
        "uniqueness",
        "timeliness",
    }
    checks = client.get(f"/api/v1/ingest/loads/{body['id']}/quality", headers=steward).json()
    formula = next(c for c in checks if c["column_name"] == "xm" and c["rule"] == "formula")
    assert formula["failing_count"] == 1 and formula["outcome_label"] == "不通过"
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ingest.upload")
        )
        == 2
    )


def test_rejects_come_as_a_page_and_as_csv_and_xlsx_files_that_excel_will_not_run(
    client: TestClient, session: Session, org: Org, resources: Resources, worker: None, data_dir: Path
) -> None:
    steward = api_headers(session, org.steward)
    load_id = upload(client, steward, resources.population.id, FIRST).json()["id"]
    run_jobs()

    page = client.get(f"/api/v1/ingest/loads/{load_id}/rejects?per_page=1", headers=steward).json()
    assert (page["total"], page["pages"], page["items"][0]["row_number"]) == (2, 2, 5)
    first = page["items"][0]
    assert first["raw"]["公民身份号码"] == person_id(4) + "X"
    assert "cn_id" in {r["rule"] for r in first["reasons"]} and all(r["message"] for r in first["reasons"])

    got = client.get(f"/api/v1/ingest/loads/{load_id}/rejects?format=csv", headers=steward)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    assert got.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert rows[0] == ["行号", *HEADER.split(","), "问题", "规则"]
    assert [r[0] for r in rows[1:]] == ["5", "6"]
    assert rows[1][1] == person_id(4) + "X" and "公民身份号码" in rows[1][7]
    assert rows[2][2] == "'" + FORMULA  # prefixed: Excel shows it as text
    assert "疑似公式注入" in rows[2][7] and rows[2][8] == "formula"

    got = client.get(f"/api/v1/ingest/loads/{load_id}/rejects?format=xlsx", headers=steward)
    assert got.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(got.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "行号" and values[0][-2:] == ["问题", "规则"]
    cell = sheet.cell(row=3, column=3)
    assert cell.value == FORMULA and cell.data_type == "s"  # a string cell, not a formula

    bad = client.get(f"/api/v1/ingest/loads/{load_id}/rejects?format=pdf", headers=steward)
    assert bad.status_code == 422 and bad.json()["code"] == "format_invalid"


def test_who_may_load_and_read_what(
    client: TestClient, session: Session, org: Org, resources: Resources, worker: None, data_dir: Path
) -> None:
    rid = resources.population.id  # 市公安局's
    steward = api_headers(session, org.steward)
    elsewhere = api_headers(session, org.civil_steward)
    consumer = api_headers(session, org.consumer)
    auditor = api_headers(session, org.auditor)
    operator = api_headers(session, org.operator)

    refused = upload(client, elsewhere, rid, FIRST)
    assert refused.status_code == 403 and refused.json()["code"] == "department_forbidden"
    assert upload(client, consumer, rid, FIRST).status_code == 403
    assert session.scalar(select(func.count()).select_from(Load)) == 0
    load_id = upload(client, steward, rid, FIRST).json()["id"]
    run_jobs()

    for headers, status in (
        (steward, 200),
        (operator, 200),
        (auditor, 200),
        (elsewhere, 403),
        (consumer, 403),
    ):
        assert client.get(f"/api/v1/ingest/loads/{load_id}", headers=headers).status_code == status
        assert client.get(f"/api/v1/ingest/resources/{rid}/quality", headers=headers).status_code == status
    # rejects hold the rows as sent: the provider and the operator only, not auditors
    for headers, status in (
        (steward, 200),
        (operator, 200),
        (auditor, 403),
        (elsewhere, 403),
        (consumer, 403),
    ):
        assert client.get(f"/api/v1/ingest/loads/{load_id}/rejects", headers=headers).status_code == status
    denied = client.get(f"/api/v1/ingest/loads/{load_id}/rejects?format=csv", headers=auditor)
    assert denied.status_code == 403 and "问题数据含原始记录" in denied.json()["message"]
    # every read is audited
    reads = session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "data.read")).all()
    assert f"/api/v1/ingest/loads/{load_id}/rejects" in reads


def test_too_large_and_empty_uploads_are_refused_with_a_reason(
    client: TestClient,
    session: Session,
    org: Org,
    resources: Resources,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steward = api_headers(session, org.steward)
    monkeypatch.setattr(get_settings(), "ingest_max_upload_bytes", 200)
    big = csv_bytes(*[f"{person_id(n)},居民{n},1,01,1985-01-01,341002" for n in range(1, 40)])
    refused = upload(client, steward, resources.population.id, big)
    assert refused.status_code == 413
    body = refused.json()
    assert body["code"] == "file_too_large" and "超过平台上限 200 字节" in body["message"]
    assert "jutong ingest" in body["detail"]["fix"]
    empty = upload(client, steward, resources.population.id, b"")
    assert empty.status_code == 422 and empty.json()["code"] == "file_empty"
    missing = client.post(
        f"/api/v1/ingest/resources/{resources.population.id}/loads", headers=steward, data={"mode": "full"}
    )
    assert missing.status_code == 422 and missing.json()["code"] == "file_missing"
    wrong_mode = upload(client, steward, resources.population.id, FIRST, mode="replace")
    assert wrong_mode.status_code == 422 and wrong_mode.json()["code"] == "mode_invalid"
    assert session.scalar(select(func.count()).select_from(Load)) == 0
    assert not list((data_dir / "uploads").iterdir())


def test_sources_show_their_config_without_the_password_and_can_be_pulled(
    client: TestClient, session: Session, org: Org, resources: Resources
) -> None:
    steward = api_headers(session, org.steward)
    rid = resources.population.id
    url = "postgresql+psycopg://reader:s3cret-pw@10.1.2.3:5432/hukou"
    created = client.post(
        f"/api/v1/ingest/resources/{rid}/sources",
        headers=steward,
        json={"name": "人口库", "kind": "数据库", "config": {"url": url, "query": "SELECT * FROM rk"}},
    )
    assert created.status_code == 201, created.text
    source = created.json()
    assert source["kind"] == "sql" and source["kind_label"] == "数据库"
    assert "s3cret-pw" not in created.text and source["config"]["url"].startswith(
        "postgresql+psycopg://reader:***@"
    )
    shown = client.get(f"/api/v1/ingest/sources/{source['id']}", headers=steward)
    assert "s3cret-pw" not in shown.text
    listed = client.get(f"/api/v1/ingest/resources/{rid}/sources", headers=steward)
    assert [s["name"] for s in listed.json()] == ["人口库"] and "s3cret-pw" not in listed.text
    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("ingest.source%"))).all()
    assert events and all("s3cret-pw" not in str(e.detail) for e in events)

    changed = client.put(
        f"/api/v1/ingest/sources/{source['id']}",
        headers=steward,
        json={"name": "人口库", "kind": "sql", "config": {"url": url, "query": "SELECT 1"}, "mode": "增量"},
    )
    assert changed.status_code == 200 and changed.json()["mode"] == "incremental"
    renamed = client.put(
        f"/api/v1/ingest/sources/{source['id']}", headers=steward, json={"name": "新名", "kind": "sql"}
    )
    assert renamed.status_code == 422 and renamed.json()["code"] == "source_rename"

    pulled = client.post(f"/api/v1/ingest/sources/{source['id']}/pull", headers=steward)
    assert pulled.status_code == 202 and pulled.json()["job_id"]
    job = session.get(jobs.Job, pulled.json()["job_id"])
    assert job is not None and job.kind == "ingest.pull" and job.payload["source_id"] == source["id"]

    other = api_headers(session, org.civil_steward)
    assert client.get(f"/api/v1/ingest/sources/{source['id']}", headers=other).status_code == 403
    assert client.delete(f"/api/v1/ingest/sources/{source['id']}", headers=other).status_code == 403
    assert client.delete(f"/api/v1/ingest/sources/{source['id']}", headers=steward).status_code == 204
    assert client.get(f"/api/v1/ingest/sources/{source['id']}", headers=steward).status_code == 404


def test_a_saved_mapping_turns_the_police_sex_codes_into_the_national_standard(
    client: TestClient, session: Session, org: Org, resources: Resources, worker: None, data_dir: Path
) -> None:
    steward = api_headers(session, org.steward)
    rid = resources.population.id
    saved = client.post(
        f"/api/v1/ingest/resources/{rid}/mappings",
        headers=steward,
        json={
            "name": "公安性别",
            "columns": {"身份证号": "gmsfhm"},
            "values": {"xbdm": {"0": "1", "1": "2"}},
        },
    )
    assert saved.status_code == 201, saved.text
    mapping = saved.json()
    assert (
        client.get(f"/api/v1/ingest/resources/{rid}/mappings", headers=steward).json()[0]["name"]
        == "公安性别"
    )
    data = csv_bytes(
        f"{person_id(1)},张三,0,01,1985-01-01,341002",
        f"{person_id(2)},李四,1,01,1985-01-01,341002",
        header=HEADER.replace("公民身份号码", "身份证号"),
    )
    load_id = upload(client, steward, rid, data, mapping="公安性别").json()["id"]
    run_jobs()
    load = client.get(f"/api/v1/ingest/loads/{load_id}", headers=steward).json()
    assert (load["status"], load["loaded"], load["mapping_id"]) == ("succeeded", 2, mapping["id"])
    stored = session.execute(text(f"SELECT gmsfhm, xbdm FROM dp_{rid} ORDER BY gmsfhm")).all()
    assert [tuple(r) for r in stored] == [(person_id(1), "1"), (person_id(2), "2")]  # GB/T 2261.1: 1 男 2 女

    renamed = client.put(f"/api/v1/ingest/mappings/{mapping['id']}", headers=steward, json={"name": "别名"})
    assert renamed.status_code == 422
    in_use = client.delete(f"/api/v1/ingest/mappings/{mapping['id']}", headers=steward)
    assert in_use.status_code == 409 and in_use.json()["code"] == "mapping_in_use"
    unknown = upload(client, steward, rid, data, mapping="没有这个")
    assert unknown.status_code == 404 and unknown.json()["code"] == "mapping_not_found"


def test_the_operator_sees_late_never_loaded_and_failing_resources(
    client: TestClient, session: Session, org: Org, resources: Resources, worker: None, data_dir: Path
) -> None:
    steward = api_headers(session, org.steward)
    upload(client, steward, resources.population.id, csv_bytes("只有一列"), name="坏.csv")  # no key column
    run_jobs()
    operator = api_headers(session, org.operator)
    overview = client.get("/api/v1/ingest/quality/overview", headers=operator).json()
    assert [f["name"] for f in overview["failing"]] == ["常住人口基础信息"]
    assert overview["failing"][0]["status"] == "failed"
    assert {n["name"] for n in overview["never_loaded"]} == {"常住人口基础信息", "最低生活保障对象信息"}
    assert overview["late"] == []
    # a steward sees their own department's; a consumer nothing
    civil = client.get(
        "/api/v1/ingest/quality/overview", headers=api_headers(session, org.civil_steward)
    ).json()
    assert civil["failing"] == [] and [n["name"] for n in civil["never_loaded"]] == ["最低生活保障对象信息"]
    consumer = client.get("/api/v1/ingest/quality/overview", headers=api_headers(session, org.consumer))
    assert consumer.status_code == 403
