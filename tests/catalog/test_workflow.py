"""The catalog workflow through the API: submit, send back, publish, edit, republish, withdraw;
versions kept and compared; the operator's queue; the yearly review."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog import service, workflow
from jutong.catalog.models import CatalogEntry, DataElement, Resource, ResourceVersion
from jutong.core.audit import AuditEvent
from jutong.core.clock import today
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from tests.catalog.test_resources import ITEMS, create, resource_data
from tests.conftest import Org, api_headers

API = "/api/v1/catalog/resources"


def _actions(session: Session, resource_id: int) -> list[str]:
    session.expire_all()
    stmt = (
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "resource", AuditEvent.object_id == str(resource_id))
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(stmt))


def test_the_workflow_end_to_end_through_the_api(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    steward, operator = api_headers(session, org.steward), api_headers(session, org.operator)
    consumer = api_headers(session, org.consumer)

    # a draft without a key item cannot go to review
    no_key = [{**ITEMS[0], "is_key": False}, *ITEMS[1:]]
    rid = client.post(API, json=resource_data(items=no_key), headers=steward).json()["id"]
    refused = client.post(f"{API}/{rid}/submit", headers=steward)
    assert refused.status_code == 422 and "记录主键" in refused.json()["message"]
    client.patch(f"{API}/{rid}", json={"items": ITEMS}, headers=steward)
    submitted = client.post(f"{API}/{rid}/submit", headers=steward)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    assert client.post(f"{API}/{rid}/submit", headers=steward).json()["code"] == "already_submitted"

    # only the operator reviews; sending back needs a reason
    assert client.post(f"{API}/{rid}/publish", headers=steward).status_code == 403
    queue = client.get("/api/v1/catalog/review-queue", headers=operator).json()
    assert [(q["id"], q["changes"]) for q in queue] == [(rid, 0)]
    no_reason = client.post(f"{API}/{rid}/return", json={"reason": " "}, headers=operator)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "return_reason_required"
    returned = client.post(f"{API}/{rid}/return", json={"reason": "摘要请写明数据范围"}, headers=operator)
    assert returned.json()["status"] == "draft" and returned.json()["return_reason"] == "摘要请写明数据范围"

    client.patch(f"{API}/{rid}", json={"summary": "全市户籍人口（不含流动人口）的基本信息"}, headers=steward)
    client.post(f"{API}/{rid}/submit", headers=steward)
    published = client.post(f"{API}/{rid}/publish", json={"note": "首次发布"}, headers=operator)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["status"] == "published" and body["published_version"] == 1 and body["return_reason"] == ""
    assert body["publish_date"] == today().isoformat()
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_id == rid))
    assert entry is not None and entry.version == 1 and "公民身份号码" in entry.item_names

    # consumers read the published version; editing it does not change what they see
    assert client.get(f"{API}/{rid}", headers=consumer).json()["view"] == "published"
    changed = client.patch(
        f"{API}/{rid}",
        json={
            "share_type": "无条件共享",
            "items": [*ITEMS, {"name": "出生日期", "element_identifier": "DE0005"}],
        },
        headers=steward,
    )
    assert changed.json()["status"] == "draft" and changed.json()["published_version"] == 1
    seen = client.get(f"{API}/{rid}", headers=consumer).json()
    assert seen["share_type"] == "conditional" and len(seen["items"]) == 3 and seen["status"] == "published"
    pending = client.get(f"{API}/{rid}/diff", headers=steward).json()
    assert (pending["from_version"], pending["to_version"]) == ("1", "draft")
    assert [c["kind"] for c in pending["changes"]] == ["field", "item_added"]
    assert client.get(f"{API}/{rid}/diff?to=draft", headers=consumer).status_code == 403

    client.post(f"{API}/{rid}/submit", headers=steward)
    assert client.get("/api/v1/catalog/review-queue", headers=operator).json()[0]["changes"] == 2
    client.post(f"{API}/{rid}/publish", headers=operator)
    versions = client.get(f"{API}/{rid}/versions", headers=consumer).json()
    assert [(v["version"], v["published_by"], v["submitted_by"]) for v in versions] == [
        (2, "op", "ga_steward"),
        (1, "op", "ga_steward"),
    ]
    assert versions[1]["change_note"] == "首次发布"
    first = client.get(f"{API}/{rid}/versions/1", headers=consumer).json()
    assert first["snapshot"]["share_type"] == "conditional" and len(first["snapshot"]["items"]) == 3
    between = client.get(f"{API}/{rid}/diff?from=1&to=2", headers=consumer).json()
    share = between["changes"][0]
    assert (share["label"], share["old_text"], share["new_text"]) == ("共享类型", "有条件共享", "无条件共享")
    assert between["changes"][1]["kind"] == "item_added" and "出生日期" in between["changes"][1]["label"]
    latest = client.get(f"{API}/{rid}/diff", headers=consumer).json()  # by default: the latest two versions
    assert (latest["from_version"], latest["to_version"], latest["changes"]) == ("1", "2", between["changes"])

    # withdrawing takes it out of the catalog; the versions stay
    withdrawn = client.post(f"{API}/{rid}/withdraw", json={"reason": "并入人口基础库"}, headers=steward)
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["published_version"] is None
    assert session.scalar(select(CatalogEntry).where(CatalogEntry.resource_id == rid)) is None
    assert client.get(f"{API}/{rid}", headers=consumer).status_code == 403
    assert len(client.get(f"{API}/{rid}/versions", headers=operator).json()) == 2
    assert client.post(f"{API}/{rid}/withdraw", headers=steward).json()["code"] == "not_published"

    # and it may come back as the next version
    client.post(f"{API}/{rid}/submit", headers=steward)
    again = client.post(f"{API}/{rid}/publish", headers=operator).json()
    assert again["published_version"] == 3 and again["status"] == "published"

    assert _actions(session, rid) == [
        "catalog.create",
        "catalog.update",
        "catalog.submit",
        "catalog.return",
        "catalog.update",
        "catalog.submit",
        "catalog.publish",
        "catalog.update",
        "catalog.submit",
        "catalog.publish",
        "catalog.withdraw",
        "catalog.submit",
        "catalog.publish",
    ]


def test_editing_back_to_the_published_content_makes_it_published_again(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    steward, operator = org.principal(org.steward), org.principal(org.operator)
    resource = create(session, org)
    workflow.submit(session, steward, resource.id)
    workflow.publish(session, operator, resource.id)
    original = service.resource_input(session, resource)
    service.save_resource(session, steward, original.model_copy(update={"name": "户籍人口信息"}), resource)
    assert resource.status == "draft"
    service.save_resource(session, steward, original, resource)
    assert resource.status == "published"
    with pytest.raises(Conflict) as nothing:
        workflow.submit(session, steward, resource.id)
    assert nothing.value.code == "nothing_to_submit"


def test_who_may_move_a_resource_through_the_workflow(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    resource = create(session, org)
    with pytest.raises(Forbidden):
        workflow.submit(session, org.principal(org.civil_steward), resource.id)
    with pytest.raises(Forbidden):
        workflow.submit(session, org.principal(org.auditor), resource.id)
    with pytest.raises(Conflict):
        workflow.publish(session, org.principal(org.operator), resource.id)  # not submitted yet
    workflow.submit(session, org.principal(org.operator), resource.id)  # the operator may submit too
    with pytest.raises(Forbidden):
        workflow.send_back(session, org.principal(org.steward), resource.id, "自己退回")
    with pytest.raises(Forbidden):
        workflow.review_queue(session, org.principal(org.auditor))
    version = workflow.publish(session, org.principal(org.operator), resource.id)
    assert version.version == 1 and version.snapshot["items"][0]["column_name"] == "de0001"
    with pytest.raises(Forbidden):
        workflow.withdraw(session, org.principal(org.civil_steward), resource.id)


def test_publishing_rechecks_the_rules(session: Session, org: Org, standards: dict[str, DataElement]) -> None:
    resource = create(session, org)
    workflow.submit(session, org.principal(org.steward), resource.id)
    resource.share_condition = ""  # changed behind the service's back
    with pytest.raises(ValidationFailed) as refused:
        workflow.publish(session, org.principal(org.operator), resource.id)
    assert refused.value.detail[0]["code"] == "share_condition_required"
    assert session.scalar(select(ResourceVersion)) is None


# ---- yearly review ---------------------------------------------------------------------------


def _published(session: Session, org: Org, name: str, *, published_at: datetime) -> Resource:
    resource = create(session, org, name=name)
    workflow.submit(session, org.principal(org.steward), resource.id)
    version = workflow.publish(session, org.principal(org.operator), resource.id)
    version.published_at = published_at
    session.flush()
    return resource


def test_the_yearly_review_lists_entries_not_reviewed_this_year(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    old = _published(session, org, "户籍人口基本信息", published_at=datetime(2024, 5, 1, tzinfo=UTC))
    fresh = _published(session, org, "户籍迁移信息", published_at=datetime(2025, 2, 1, tzinfo=UTC))
    create(session, org, name="未发布的草稿")

    tasks = workflow.review_tasks(session, org.principal(org.operator), on=date(2025, 3, 1))
    assert (tasks.year, tasks.deadline, tasks.days_left) == (2025, date(2025, 8, 31), 183)
    police = next(d for d in tasks.departments if d.department_name == "市公安局")
    civil = next(d for d in tasks.departments if d.department_name == "市民政局")
    assert (police.total, police.reviewed, [p.code for p in police.pending]) == (2, 1, [old.code])
    assert police.pending[0].last_reviewed == date(2024, 5, 1)
    assert (civil.total, civil.pending) == (0, [])

    workflow.mark_reviewed(session, org.principal(org.steward), old.id, on=date(2025, 3, 2))
    after = workflow.review_tasks(session, org.principal(org.steward), on=date(2025, 9, 2))
    assert [d.department_name for d in after.departments] == ["市公安局"]  # a steward sees their own
    assert after.departments[0].pending == [] and after.departments[0].percent == 100
    assert after.days_left == -2  # overdue
    assert fresh.reviewed_on is None

    next_year = workflow.review_tasks(session, org.principal(org.auditor), on=date(2026, 1, 5))
    assert next_year.pending == 2
    with pytest.raises(Forbidden):
        workflow.review_tasks(session, org.principal(org.consumer))
    with pytest.raises(Forbidden):
        workflow.mark_reviewed(session, org.principal(org.civil_steward), old.id)


def test_the_review_tasks_api_and_marking_reviewed(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    resource = _published(session, org, "户籍人口基本信息", published_at=datetime(2020, 1, 1, tzinfo=UTC))
    session.commit()
    steward = api_headers(session, org.steward)
    tasks = client.get("/api/v1/catalog/tasks", headers=steward).json()
    assert tasks["deadline"].endswith("-08-31")
    assert [p["code"] for p in tasks["departments"][0]["pending"]] == [resource.code]
    reviewed = client.post(f"{API}/{resource.id}/review", headers=steward)
    assert reviewed.status_code == 200 and reviewed.json()["reviewed_on"] == today().isoformat()
    assert client.get("/api/v1/catalog/tasks", headers=steward).json()["departments"][0]["pending"] == []
    assert "catalog.review" in _actions(session, resource.id)
