"""The issue's “done when”, as one story on both backends, through the HTTP API and pages only.

人社局 asks 公安局 for three items of 常住人口基础信息; 公安局's steward grants two of them, masked. 人社局
registers its application and gives it a key; the application looks a person up, verifies a name against
an ID number (once right, once wrong), exports the granted view as CSV and subscribes a webhook (a real
receiver on 127.0.0.1). 公安局 loads an incremental update; the worker delivers exactly the changed rows,
granted items only, masked. The auditor finds every one of those data accesses in the audit log with the
consumer, the application, the grant, the items and the row count.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, Resource
from jutong.core import db, jobs
from jutong.core.auth import Role
from jutong.core.config import get_settings
from jutong.exchange.masking import mask_value
from jutong.registry import accounts
from jutong.registry.models import User
from tests.catalog.conftest import standards  # noqa: F401  (fixture)
from tests.conftest import PASSWORD, Org, api_headers, login
from tests.exchange.receiver_webhook import Receiver
from tests.ingest.conftest import POPULATION_ITEMS, publish
from tests.ingest.test_pipeline import HEADER, person_id

PEOPLE = {1: "张伟", 2: "李芳", 3: "王秀英", 4: "赵敏", 5: "刘静"}
GRANTED = ["gmsfhm", "xm"]
ASKED = [*GRANTED, "csrq"]  # the birth date is asked for and not granted
MASKING = {"gmsfhm": "id_number", "xm": "name"}
PURPOSE = "社会保险待遇资格认证"


def line(n: int, name: str, op: str = "") -> str:
    return f"{person_id(n)},{name},{n % 2 or 2},01,1990-03-07,341002" + (f",{op}" if op else "")


def csv_file(lines: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def masked(n: int, name: str) -> dict[str, str]:
    return {"gmsfhm": mask_value("id_number", person_id(n)), "xm": mask_value("name", name)}


@pytest.fixture
def worker(engine: Engine, connection: Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The background worker (loads, deliveries) runs its units of work in the test's transaction."""
    monkeypatch.setattr(db, "_engine", engine)
    monkeypatch.setattr(
        db,
        "_session_factory",
        lambda: Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False),
    )
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path)  # uploaded files wait here for the worker


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def population(session: Session, org: Org, standards: dict[str, DataElement]) -> Resource:  # noqa: F811
    """公安局's resource, on conditional share: its steward answers each request."""
    found = publish(
        session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS,
        share_type="有条件共享", share_condition="仅限社会保障业务",
    )  # fmt: skip
    session.commit()
    return found


@pytest.fixture
def renshe_user(session: Session, org: Org) -> User:
    """A user of 市人社局, the consuming department."""
    accounts.upsert_department(session, "RS", "市人社局", "341000")
    user = accounts.create_user(
        session, username="rs_consumer", password=PASSWORD, role=Role.consumer, department_code="RS"
    )
    session.commit()
    return user


def upload(client: TestClient, headers: dict[str, str], resource_id: int, content: bytes, mode: str) -> int:
    """公安局 uploads a file; the worker loads it. Returns the new data version."""
    queued = client.post(
        f"/api/v1/ingest/resources/{resource_id}/loads",
        headers=headers,
        files={"file": ("人口.csv", content, "text/csv")},
        data={"mode": mode},
    )
    assert queued.status_code == 202, queued.text
    jobs.run_due()
    load = client.get(f"/api/v1/ingest/loads/{queued.json()['id']}", headers=headers).json()
    assert load["status"] == "succeeded" and load["rejected"] == 0, load
    return int(load["data_version"])


def test_a_consumer_is_granted_reads_verifies_exports_and_receives_changes_and_all_is_audited(
    app: object,
    client: TestClient,
    session: Session,
    org: Org,
    population: Resource,
    renshe_user: User,
    worker: None,
    receiver: Receiver,
) -> None:
    police = api_headers(session, org.steward)
    rid = population.id
    assert upload(client, police, rid, csv_file([line(n, name) for n, name in PEOPLE.items()]), "full") == 1

    # 1. 人社局 asks for three items; 公安局's steward grants two, masked
    renshe = api_headers(session, renshe_user)
    asked = client.post(
        "/api/v1/sharing/requests",
        headers=renshe,
        json={"resource_id": rid, "purpose": PURPOSE, "legal_basis": "《社会保险法》", "items": ASKED,
              "delivery": "api", "period_end": "2099-12-31"},
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["items"] == ASKED
    request_id = asked.json()["id"]
    # the consumer cannot answer its own request
    assert (
        client.post(f"/api/v1/sharing/requests/{request_id}/approve", headers=renshe, json={}).status_code
        == 403
    )
    approved = client.post(
        f"/api/v1/sharing/requests/{request_id}/approve",
        headers=police,
        json={"items": GRANTED, "masking": MASKING, "note": "出生日期不在社保认证所需范围内"},
    )
    assert approved.status_code == 200, approved.text
    grant = approved.json()["grant"]
    assert approved.json()["status"] == "approved"
    assert (grant["items"], grant["masking"], grant["live"]) == (GRANTED, MASKING, True)

    # 2. 人社局 registers its application and gives it a key (a key is issued by a person signed in)
    made = client.post("/api/v1/sharing/applications", headers=renshe, json={"name": "社保待遇认证系统"})
    assert made.status_code == 201, made.text
    app_id = made.json()["id"]
    person = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    csrf = login(person, "rs_consumer")
    issued = person.post(f"/sharing/applications/{app_id}/keys", data={"csrf_token": csrf, "name": "生产"})
    token = re.search(r'<code id="new-token">([^<]+)</code>', issued.text)
    assert issued.status_code == 200 and token
    application = {"Authorization": f"Bearer {token.group(1)}"}

    # 3. the application looks a person up: only the two granted items, masked
    data = f"/api/v1/data/{rid}"
    found = client.get(f"{data}/records", params={"key": person_id(2)}, headers=application)
    assert found.status_code == 200, found.text
    assert found.json()["found"] and found.json()["record"] == masked(2, "李芳")
    assert person_id(2) not in found.text and "李芳" not in found.text and "1990-03-07" not in found.text

    # 4. it verifies a name against an ID number: yes for the right one, no (and nothing else) for a wrong one
    right = client.post(
        f"{data}/verify", headers=application, json={"key": [person_id(3)], "values": {"xm": "王秀英"}}
    )
    assert right.status_code == 200, right.text
    assert right.json() == {"result": "match", "differing": [], "checked": ["xm"]}
    wrong = client.post(
        f"{data}/verify", headers=application, json={"key": [person_id(3)], "values": {"xm": "王秀云"}}
    )
    assert wrong.json() == {"result": "no_match", "differing": ["xm"], "checked": ["xm"]}
    assert "王秀英" not in wrong.text
    # an item outside the grant cannot be verified either
    outside = client.post(
        f"{data}/verify", headers=application, json={"key": [person_id(3)], "values": {"csrq": "1990-03-07"}}
    )
    assert outside.status_code == 422 and outside.json()["code"] == "verify_item_not_granted", outside.text

    # 5. it exports the granted view as CSV
    exported = client.get(f"{data}/export", params={"format": "csv"}, headers=application)
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == GRANTED and exported.headers["X-Row-Count"] == "5"
    assert sorted(tuple(r) for r in rows[1:]) == sorted(
        (masked(n, name)["gmsfhm"], masked(n, name)["xm"]) for n, name in PEOPLE.items()
    )

    # 6. it subscribes a webhook with its own key: the subscription is the application's
    subscribed = client.post(
        "/api/v1/subscriptions",
        headers=application,
        json={"grant_id": grant["id"], "kind": "webhook", "url": receiver.url, "timeout": 5},
    )
    assert subscribed.status_code == 201, subscribed.text
    sub = subscribed.json()
    assert (sub["application_id"], sub["acked_version"], sub["status"]) == (app_id, 1, "active")
    receiver.secret = sub["secret"]

    # 7. 公安局 loads an incremental update: person 2 renamed, person 6 added, person 3 deleted
    update = csv_file(
        [line(2, "李芳芳", "U"), line(6, "陈洋", "U"), f"{person_id(3)},,,,,,D"],
        header=HEADER + ",操作类型",
    )
    assert upload(client, police, rid, update, "incremental") == 2

    # 8. the worker delivers version 2: exactly the changed rows, granted items only, masked, signed
    jobs.run_due()
    [got] = receiver.received
    assert receiver.bad_signatures == 0 and got["key"] == f"{sub['id']}:2"
    payload = got["payload"]
    assert (payload["subscription_id"], payload["version"]) == (sub["id"], 2)
    assert payload["resource_code"] == population.code
    changes = sorted(payload["changes"], key=lambda c: (c["op"], c["key"]["gmsfhm"]))
    assert changes == sorted(
        [
            {"op": "U", "key": {"gmsfhm": masked(2, "")["gmsfhm"]}, "row": masked(2, "李芳芳")},
            {"op": "I", "key": {"gmsfhm": masked(6, "")["gmsfhm"]}, "row": masked(6, "陈洋")},
            {"op": "D", "key": {"gmsfhm": masked(3, "")["gmsfhm"]}, "row": None},
        ],
        key=lambda c: (c["op"], c["key"]["gmsfhm"]),  # type: ignore[index]
    )
    body = json.dumps(payload, ensure_ascii=False)
    assert "csrq" not in body and "xbdm" not in body and "李芳芳" not in body and person_id(6) not in body
    listed = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=renshe).json()
    assert (listed["acked_version"], listed["attempts"], listed["last_error"]) == (2, 0, "")

    # 9. the auditor finds every data access: who, which application, under which grant, what, how many
    auditor = api_headers(session, org.auditor)
    events: list[dict[str, Any]] = []
    for action in ("data.lookup", "data.verify", "data.export", "exchange.delivery"):
        page = client.get("/api/v1/audit/events", params={"action": action}, headers=auditor)
        assert page.status_code == 200, page.text
        events += page.json()["events"]
    # the rejected verification of an item outside the grant read nothing and is not among them
    seen = sorted((e["action"], e["detail"]["rows"], e["detail"].get("version")) for e in events)
    assert seen == sorted(
        [
            ("data.lookup", 1, None),
            ("data.verify", 1, None),
            ("data.verify", 1, None),
            ("data.export", 5, None),
            ("exchange.delivery", 3, 2),
        ]
    ), seen
    renshe_id = renshe_user.department_id
    for e in events:
        detail = e["detail"]
        assert detail["consumer_department_id"] == renshe_id, e
        assert detail["application_id"] == app_id, e
        assert detail["grant_id"] == grant["id"], e
        assert detail["items"] == GRANTED, e
        assert detail["purpose"] == PURPOSE, e
        if e["action"].startswith("data."):
            assert e["actor_name"] == "rs_consumer" and e["via"] == "api_key", e
