"""Cataloging a resource: the rules (each naming its field), resource codes, column names, access."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog import service
from jutong.catalog.models import DataElement, Resource
from jutong.catalog.schemas import ResourceIn
from jutong.core.audit import AuditEvent
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.registry import census
from tests.conftest import Org, api_headers
from tests.registry.test_census_service import system_in

ITEMS: list[dict[str, Any]] = [
    {"name": "公民身份号码", "element_identifier": "DE0001", "is_key": True},
    {"name": "姓名", "element_identifier": "DE0002"},
    {"name": "性别", "element_identifier": "DE0003"},
]


def resource_data(**overrides: Any) -> dict[str, Any]:
    """A plausible 户籍 resource as JSON; Chinese labels are accepted where codes are stored."""
    data: dict[str, Any] = {
        "classification_code": "101002",
        "name": "户籍人口基本信息",
        "summary": "全市户籍人口的身份号码、姓名、性别等基本信息",
        "format_category": "数据库",
        "format_type": "达梦",
        "share_type": "有条件共享",
        "share_condition": "用于政务服务中的身份核验，须经本局同意",
        "delivery": "接口",
        "open_type": "不予开放",
        "update_cycle": "每日",
        "items": [dict(i) for i in ITEMS],
    }
    data.update(overrides)
    return data


def resource_in(**overrides: Any) -> ResourceIn:
    return ResourceIn.model_validate(resource_data(**overrides))


def create(session: Session, org: Org, **overrides: Any) -> Resource:
    """The police steward catalogs a resource (as a draft)."""
    return service.save_resource(session, org.principal(org.steward), resource_in(**overrides))


def problems_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    """field → code of every error in a refusal."""
    return {p["field"]: p["code"] for p in exc.value.detail if p["severity"] == "error"}


# ---- rules -----------------------------------------------------------------------------------


RULE_CASES = [
    ({"share_condition": ""}, "share_condition", "share_condition_required", "共享条件"),
    (
        {"share_type": "不予共享", "share_condition": ""},
        "share_condition",
        "share_basis_required",
        "不予共享依据",
    ),
    (
        {
            "share_type": "none",
            "share_condition": "《中华人民共和国居民身份证法》第六条",
            "open_type": "无条件开放",
        },
        "open_type",
        "none_cannot_open",
        "开放类型",
    ),
    ({"open_type": "有条件开放"}, "open_condition", "open_condition_required", "开放条件"),
    ({"share_type": "随便共享"}, "share_type", "share_type_invalid", "共享类型"),
    ({"delivery": "邮件"}, "delivery", "delivery_invalid", "共享方式"),
    ({"update_cycle": ""}, "update_cycle", "update_cycle_required", "更新周期"),
    ({"name": "人" * 101}, "name", "name_too_long", "信息资源名称"),
    ({"summary": ""}, "summary", "summary_required", "信息资源摘要"),
    ({"classification_code": "1010"}, "classification_code", "classification_invalid", "资源分类"),
    ({"classification_code": "101999"}, "classification_code", "classification_unknown", "资源分类"),
    ({"related_codes": ["101001/000099"]}, "related_codes", "related_code_unknown", "关联资源代码"),
    ({"code": "ABC"}, "code", "code_invalid", "资源代码"),
]


@pytest.mark.parametrize(("overrides", "field", "code", "label"), RULE_CASES)
def test_each_resource_rule_names_its_field_in_chinese(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],
    overrides: dict[str, Any],
    field: str,
    code: str,
    label: str,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        create(session, org, **overrides)
    assert refused.value.code == "resource_invalid"
    assert problems_of(refused)[field] == code
    problem = next(p for p in refused.value.detail if p["code"] == code)
    assert label in problem["label"] and problem["problem"] and problem["fix"]
    assert label in refused.value.message
    assert session.scalar(select(Resource)) is None


ITEM_CASES = [
    ({"element_identifier": None}, "element", "item_element_required"),
    ({"element_identifier": "DE9999"}, "element", "item_element_unknown"),
    ({"data_type": "X"}, "data_type", "item_type_invalid"),
    ({"length": 0}, "length", "item_length_invalid"),
    ({"column_name": "1sfzh"}, "column_name", "item_column_invalid"),
    ({"column_name": "身份证"}, "column_name", "item_column_invalid"),
    ({"sensitive": False}, "sensitive", "item_sensitive_required"),
    ({"security_level": "一般"}, "security_level", "item_level_too_low"),
    ({"security_level": "绝密"}, "security_level", "item_level_invalid"),
    ({"code_set_identifier": "GB/T 0000"}, "code_set", "item_code_set_unknown"),
]


@pytest.mark.parametrize(("change", "attribute", "code"), ITEM_CASES)
def test_each_data_item_rule_names_the_item_and_attribute(
    session: Session,
    org: Org,
    standards: dict[str, DataElement],
    change: dict[str, Any],
    attribute: str,
    code: str,
) -> None:
    items = [dict(i) for i in ITEMS]
    items[0].update(change)
    problems = service.validate_resource(session, resource_in(items=items, department_id=org.police.id))
    errors = [p for p in problems if p.is_error]
    assert [(p.field, p.code, p.item) for p in errors] == [(f"items.0.{attribute}", code, 0)]
    assert errors[0].label.startswith("信息项“公民身份号码”")


def test_item_names_and_column_names_are_unique(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    items = [*ITEMS, {"name": "姓名", "element_identifier": "DE0002"}]
    items += [{"name": "手机", "element_identifier": "DE0006", "column_name": "xm"}]
    items += [{"name": "电话", "element_identifier": "DE0039", "column_name": "xm"}]
    problems = service.validate_resource(session, resource_in(items=items, department_id=org.police.id))
    codes = {(p.field, p.code) for p in problems if p.is_error}
    assert codes == {
        ("items.3.name", "item_name_duplicate"),
        ("items.5.column_name", "item_column_duplicate"),
    }


def test_a_draft_may_lack_items_but_review_needs_items_and_a_key(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    draft = resource_in(items=[], department_id=org.police.id)
    assert not [p for p in service.validate_resource(session, draft) if p.is_error]
    submit = {p.code for p in service.validate_resource(session, draft, for_submit=True)}
    assert "items_required" in submit
    no_key = resource_in(items=[{**ITEMS[0], "is_key": False}], department_id=org.police.id)
    problems = service.validate_resource(session, no_key, for_submit=True)
    assert [(p.field, p.code) for p in problems if p.is_error] == [("items", "key_item_required")]


def test_long_names_and_summaries_are_warnings_not_errors(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    data = resource_in(name="户" * 60, summary="摘" * 300, department_id=org.police.id)
    problems = service.validate_resource(session, data)
    assert {(p.code, p.severity) for p in problems} == {("name_long", "warning"), ("summary_long", "warning")}
    resource = service.save_resource(session, org.principal(org.steward), data)
    assert resource.name == "户" * 60


def test_items_inherit_from_their_element_and_the_resource_takes_the_highest_level(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    items = [*ITEMS, {"name": "民族", "element_identifier": "DE0004", "security_level": "核心", "length": 3}]
    resource = create(session, org, items=items)
    by_name = {i.name: i for i in resource.items}
    id_number, sex, ethnicity = by_name["公民身份号码"], by_name["性别"], by_name["民族"]
    de1, de3 = standards["DE0001"], standards["DE0003"]
    assert (id_number.data_type, id_number.length, id_number.column_name) == (de1.data_type, 18, "de0001")
    assert id_number.sensitive and id_number.security_level == de1.security_level == "important"
    assert id_number.required and id_number.is_key  # key items are always required
    assert sex.code_set_id == de3.code_set_id is not None and not sex.sensitive
    assert ethnicity.length == 3 and ethnicity.security_level == "core"
    assert resource.security_level == "core"
    assert resource.provider_code == "GA"  # no credit code: the department code

    without_core = create(session, org, name="户籍人口简要信息", items=ITEMS)
    assert without_core.security_level == "important"


def test_two_items_of_one_element_get_distinct_columns_that_stay_put(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    items = [
        {"name": "男方身份号码", "element_identifier": "DE0001", "is_key": True},
        {"name": "女方身份号码", "element_identifier": "DE0001", "is_key": True},
    ]
    resource = create(session, org, name="结婚登记信息", items=items)
    assert [(i.name, i.column_name) for i in resource.items] == [
        ("男方身份号码", "de0001"),
        ("女方身份号码", "de0001_2"),
    ]

    reordered = resource_in(name="结婚登记信息", items=[items[1], items[0]])
    service.save_resource(session, org.principal(org.steward), reordered, resource)
    assert [(i.name, i.column_name) for i in resource.items] == [
        ("女方身份号码", "de0001_2"),
        ("男方身份号码", "de0001"),
    ]


# ---- codes -----------------------------------------------------------------------------------


def test_codes_follow_the_classification_and_never_change(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    first = create(session, org)
    second = create(session, org, name="户籍迁移信息")
    assert (first.code, second.code) == ("101002/000001", "101002/000002")

    moved = resource_in(classification_code="101001")
    service.save_resource(session, org.principal(org.steward), moved, first)
    assert first.classification_code == "101001" and first.code == "101002/000001"
    assert create(session, org, name="人口基本信息", classification_code="101001").code == "101001/000001"
    assert create(session, org, name="户籍变更信息").code == "101002/000003"

    with pytest.raises(ValidationFailed) as refused:
        service.save_resource(session, org.principal(org.steward), resource_in(code="101002/000009"), first)
    assert problems_of(refused) == {"code": "code_immutable"}


def test_an_import_may_bring_its_code_but_not_a_taken_one(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    kept = create(session, org, code="101002/000042")
    assert kept.code == "101002/000042"
    assert create(session, org, name="户籍迁移信息").code == "101002/000043"
    with pytest.raises(ValidationFailed) as refused:
        create(session, org, code="101002/000042")
    assert problems_of(refused) == {"code": "code_taken"}


# ---- links -----------------------------------------------------------------------------------


def test_the_linked_system_must_belong_to_the_provider_and_related_codes_must_exist(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    own = census.create_system(session, org.principal(org.steward), system_in(name="人口管理系统"))
    other = census.create_system(session, org.principal(org.civil_steward), system_in(name="婚姻登记系统"))
    base = create(session, org, system_id=own.id)
    assert base.system_id == own.id

    linked = create(session, org, name="户籍迁移信息", system_code=own.code, related_codes=[base.code])
    assert linked.system_id == own.id and linked.related_codes == [base.code]

    with pytest.raises(ValidationFailed) as refused:
        create(session, org, name="外部门系统", system_id=other.id)
    assert problems_of(refused) == {"system_id": "system_other_department"}
    assert "市民政局" in refused.value.message
    with pytest.raises(ValidationFailed) as refused:
        service.save_resource(
            session, org.principal(org.steward), resource_in(related_codes=[base.code]), base
        )
    assert problems_of(refused) == {"related_codes": "related_code_self"}


# ---- access ----------------------------------------------------------------------------------


def test_a_steward_catalogs_only_for_their_own_department(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    with pytest.raises(Forbidden):
        service.save_resource(session, org.principal(org.steward), resource_in(department_id=org.civil.id))
    with pytest.raises(Forbidden):
        service.save_resource(session, org.principal(org.consumer), resource_in())
    with pytest.raises(ValidationFailed) as refused:
        service.save_resource(session, org.principal(org.operator), resource_in())
    assert problems_of(refused) == {"department_id": "department_required"}
    by_operator = service.save_resource(
        session, org.principal(org.operator), resource_in(department_id=org.civil.id)
    )
    assert by_operator.department_id == org.civil.id


def test_api_create_and_patch_with_chinese_errors(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    headers = api_headers(session, org.steward)
    created = client.post("/api/v1/catalog/resources", json=resource_data(), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == "101002/000001" and body["status"] == "draft" and body["view"] == "working"
    assert body["department_name"] == "市公安局" and body["share_type_label"] == "有条件共享"
    assert [i["element_name"] for i in body["items"]] == ["公民身份号码", "姓名", "性别代码"]

    refused = client.patch(
        f"/api/v1/catalog/resources/{body['id']}", json={"share_condition": ""}, headers=headers
    )
    assert refused.status_code == 422
    error = refused.json()
    assert error["code"] == "resource_invalid" and "共享条件" in error["message"]
    assert {"field": "share_condition", "code": "share_condition_required"}.items() <= error["detail"][
        0
    ].items()

    patched = client.patch(
        f"/api/v1/catalog/resources/{body['id']}",
        json={
            "name": "户籍人口信息",
            "items": [*ITEMS, {"name": "出生日期", "element_identifier": "DE0005"}],
        },
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "户籍人口信息" and len(patched.json()["items"]) == 4
    assert patched.json()["share_condition"] == body["share_condition"]  # fields not given stay


def test_another_departments_steward_is_refused_and_audited(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    resource = create(session, org)
    session.commit()
    elsewhere = api_headers(session, org.civil_steward)
    url = f"/api/v1/catalog/resources/{resource.id}"
    assert client.get(url, headers=elsewhere).status_code == 403  # a draft of 市公安局
    refused = client.patch(url, json={"name": "改名"}, headers=elsewhere)
    assert refused.status_code == 403 and refused.json()["code"] == "department_forbidden"
    session.expire_all()
    denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(e.actor_name, e.object_id) for e in denied] == [("mz_steward", url[:64])] * 2
    assert session.get(Resource, resource.id).name == "户籍人口基本信息"  # type: ignore[union-attr]


def test_consumers_read_published_resources_only(
    client: TestClient, session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    resource = create(session, org)
    session.commit()
    consumer = api_headers(session, org.consumer)
    refused = client.get(f"/api/v1/catalog/resources/{resource.id}", headers=consumer)
    assert refused.status_code == 403 and refused.json()["code"] == "resource_unpublished"
    listed = client.get("/api/v1/catalog/resources", headers=consumer).json()
    assert listed["total"] == 0
    auditor = client.get("/api/v1/catalog/resources", headers=api_headers(session, org.auditor)).json()
    assert [r["code"] for r in auditor["items"]] == [resource.code]
