"""Snapshots (the contract ingest and exchange read) and the differences between two of them."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement
from jutong.catalog.snapshot import diff_snapshots, same_content, snapshot_of
from jutong.registry import census
from tests.catalog.test_resources import create
from tests.conftest import Org
from tests.registry.test_census_service import system_in

RESOURCE_KEYS = {
    "code", "classification_code", "name", "department_id", "department_name", "provider_code", "summary",
    "format_category", "format_type", "share_type", "share_condition", "delivery", "open_type",
    "open_condition", "update_cycle", "publish_date", "system_id", "system_code", "related_codes",
    "security_level", "items",
}  # fmt: skip
ITEM_KEYS = {
    "position", "name", "column_name", "element_identifier", "data_type", "length", "code_set_identifier",
    "required", "is_key", "sensitive", "security_level", "description",
}  # fmt: skip


def test_a_snapshot_holds_every_catalog_field_and_item(
    session: Session, org: Org, standards: dict[str, DataElement]
) -> None:
    system = census.create_system(session, org.principal(org.steward), system_in(name="人口管理系统"))
    resource = create(session, org, system_id=system.id, publish_date="2024-06-01")
    snap = snapshot_of(session, resource)
    assert set(snap) == RESOURCE_KEYS
    assert all(set(item) == ITEM_KEYS for item in snap["items"])
    assert snap["department_name"] == "市公安局" and snap["system_code"] == system.code
    assert snap["publish_date"] == "2024-06-01" and snap["share_type"] == "conditional"
    sex = snap["items"][2]
    assert (sex["element_identifier"], sex["code_set_identifier"], sex["position"]) == (
        "DE0003",
        "GB/T 2261.1-2003",
        3,
    )


def _base() -> dict[str, Any]:
    return {
        "code": "101002/000001",
        "name": "户籍人口基本信息",
        "share_type": "conditional",
        "share_condition": "身份核验",
        "department_id": 1,
        "department_name": "市公安局",
        "related_codes": ["101001/000001", "105001/000001"],
        "items": [
            {"position": 1, "name": "公民身份号码", "column_name": "sfzh", "element_identifier": "DE0001",
             "data_type": "C", "length": 18, "is_key": True, "sensitive": True, "security_level": "important"},
            {"position": 2, "name": "姓名", "column_name": "xm", "element_identifier": "DE0002",
             "data_type": "C", "length": 50, "is_key": False, "sensitive": True, "security_level": "important"},
            {"position": 3, "name": "住址", "column_name": "zz", "element_identifier": "DE0007",
             "data_type": "C", "length": 200, "is_key": False, "sensitive": True, "security_level": "important"},
        ],
    }  # fmt: skip


def test_diff_names_fields_in_chinese_with_labels_for_codes() -> None:
    a, b = _base(), _base()
    b["share_type"], b["share_condition"] = "none", "《中华人民共和国居民身份证法》第六条"
    b["related_codes"] = ["105001/000001", "101001/000001"]  # same codes, other order: no change
    changes = diff_snapshots(a, b)
    assert [(c.kind, c.field, c.label, c.old_text, c.new_text) for c in changes] == [
        ("field", "share_type", "共享类型", "有条件共享", "不予共享"),
        (
            "field",
            "share_condition",
            "共享条件/不予共享依据",
            "身份核验",
            "《中华人民共和国居民身份证法》第六条",
        ),
    ]
    assert changes[0].summary == "共享类型：有条件共享 → 不予共享"
    assert diff_snapshots(None, b) == [] and diff_snapshots(a, copy.deepcopy(a)) == []


def test_diff_lists_items_added_removed_and_changed_with_their_attributes() -> None:
    a, b = _base(), _base()
    b["items"][1].update(name="姓名（中文）", length=100)  # same column: changed, not replaced
    b["items"][2]["column_name"] = "jzdz"  # column renamed, same name: still the same item
    b["items"][2]["security_level"] = "core"
    del b["items"][0]
    b["items"].append(
        {
            "position": 4,
            "name": "手机号码",
            "column_name": "sjhm",
            "element_identifier": "DE0006",
            "data_type": "C",
        }
    )
    changes = diff_snapshots(a, b)
    kinds = [(c.kind, c.label) for c in changes]
    assert kinds == [
        ("item_changed", "信息项“姓名（中文）”"),
        ("item_changed", "信息项“住址”"),
        ("item_removed", "信息项“公民身份号码”"),
        ("item_added", "信息项“手机号码”"),
    ]
    name_change, address_change = changes[0], changes[1]
    assert [(x.label, x.old_text, x.new_text) for x in name_change.attributes] == [
        ("信息项名称", "姓名", "姓名（中文）"),
        ("长度", "50", "100"),
    ]
    assert [(x.label, x.old_text, x.new_text) for x in address_change.attributes] == [
        ("数据列名", "zz", "jzdz"),
        ("分级", "重要", "核心"),
    ]
    assert changes[0].summary == "修改信息项“姓名（中文）”：信息项名称、长度"
    assert changes[2].new is None and changes[3].old is None


def test_same_content_sees_item_order_too() -> None:
    a, b = _base(), _base()
    assert same_content(a, b)
    b["items"].reverse()
    for position, item in enumerate(b["items"], start=1):
        item["position"] = position
    assert diff_snapshots(a, b) == [] and not same_content(a, b)
