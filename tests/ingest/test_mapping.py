"""Matching a department's columns to the resource's data items, and saved mappings.

A provider's file rarely uses the platform's column names: the plan finds each item by the saved
mapping, by its column name, by its Chinese name however it was typed, or by its data element's
name; a missing key or required item stops the load with what to do about it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.catalog.service import latest_version
from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.ingest import mapping as mappings
from jutong.ingest.mapping import build_plan, resolve_columns
from jutong.ingest.models import Load, Mapping, Source
from tests.conftest import Org
from tests.ingest.conftest import Resources


def snapshot(session: Session, resource: Resource) -> dict[str, Any]:
    version = latest_version(session, resource)
    assert version is not None
    return version.snapshot


def test_columns_named_like_the_data_items_are_matched(session: Session, resources: Resources) -> None:
    snap = snapshot(session, resources.population)
    plan = build_plan(session, snap, None, ["gmsfhm", "xm", "XBDM", "mzdm", "csrq", "jzdxzqh"])
    assert [i.source_column for i in plan.items] == ["gmsfhm", "xm", "XBDM", "mzdm", "csrq", "jzdxzqh"]
    assert plan.key_columns == ["gmsfhm"] and plan.unmapped_source_columns == [] and plan.op_column is None


def test_chinese_item_names_match_however_they_were_typed(session: Session, resources: Resources) -> None:
    snap = snapshot(session, resources.population)
    source = ["公民身份号码*", " 姓 名 ", "性别代码", "出生日期", "备注", "操作类型"]
    plan = build_plan(session, snap, None, source)
    feeds = {i.column: i.source_column for i in plan.items}
    assert feeds == {
        "gmsfhm": "公民身份号码*",
        "xm": " 姓 名 ",
        "xbdm": "性别代码",
        "mzdm": None,  # optional and absent: loaded as null
        "csrq": "出生日期",
        "jzdxzqh": None,
    }
    assert plan.unmapped_source_columns == ["备注"]  # reported, ignored
    assert plan.op_column == "操作类型"
    assert plan.missing_optional == ["mzdm", "jzdxzqh"]


def test_a_data_elements_name_is_the_last_resort(session: Session, resources: Resources) -> None:
    # the item is called 居住地行政区划代码; its data element DE0011 is 行政区划代码
    plan = build_plan(
        session,
        snapshot(session, resources.population),
        None,
        ["公民身份号码", "姓名", "性别代码", "行政区划代码"],
    )
    assert {i.column: i.source_column for i in plan.items}["jzdxzqh"] == "行政区划代码"


def test_a_saved_mapping_comes_first(session: Session, resources: Resources) -> None:
    saved = Mapping(
        resource_id=resources.population.id,
        name="公安人口库",
        columns={"SFZH": "gmsfhm", "XM": "xm", "XB": "xbdm", "姓名": "mzdm"},
        values={"xbdm": {"0": "1", "1": "2"}},
        normalizers={"xm": ["squeeze"]},
        patterns={"xm": "[^0-9]+"},
    )
    plan = build_plan(
        session, snapshot(session, resources.population), saved, ["SFZH", "XM", "XB", "姓名", "MZ"]
    )
    items = {i.column: i for i in plan.items}
    assert items["gmsfhm"].source_column == "SFZH" and items["xm"].source_column == "XM"
    assert items["mzdm"].source_column == "姓名"  # the mapping wins over the name match
    assert items["xbdm"].value_map == {"0": "1", "1": "2"}
    assert items["xm"].normalizers == ("trim", "halfwidth", "squeeze") and items["xm"].pattern == "[^0-9]+"
    assert plan.unmapped_source_columns == ["MZ"]


def test_a_missing_key_stops_the_load_and_says_how_to_fix_it(session: Session, resources: Resources) -> None:
    with pytest.raises(ValidationFailed) as refused:
        build_plan(session, snapshot(session, resources.population), None, ["姓名", "身份证", "性别"])
    error = refused.value
    assert error.code == "columns_missing"
    assert "公民身份号码（gmsfhm）" in error.message and "性别代码（xbdm）" in error.message
    assert "姓名" not in error.message  # found
    assert "映射" in error.detail["fix"] and "增加" in error.detail["fix"]
    assert [m["column_name"] for m in error.detail["missing"]] == ["gmsfhm", "xbdm"]
    assert error.detail["missing"][0]["is_key"] is True


def test_items_carry_their_standards(session: Session, resources: Resources) -> None:
    plan = build_plan(
        session, snapshot(session, resources.population), None, ["gmsfhm", "xm", "xbdm", "csrq"]
    )
    items = {i.column: i for i in plan.items}
    assert items["gmsfhm"].validator == "cn_id" and items["gmsfhm"].is_key
    assert items["gmsfhm"].normalizers == ("trim", "halfwidth", "upper_x", "cn_id15")
    assert items["xbdm"].code_set_identifier == "GB/T 2261.1-2003"
    assert items["xbdm"].codes == ("0", "1", "2", "9")  # valid codes only
    assert items["csrq"].data_type == "D"
    assert items["jzdxzqh"].validator == "region_code" and items["jzdxzqh"].codes is not None
    assert "341002" in items["jzdxzqh"].codes


def test_resolve_columns_takes_each_source_column_once() -> None:
    items: list[dict[str, Any]] = [
        {"name": "姓名", "column_name": "xm", "required": True},
        {"name": "曾用名", "column_name": "cym", "element_identifier": "DE0002"},
    ]
    match = resolve_columns(items, ["姓名", "_row"], None, {"DE0002": "姓名"})
    assert match.source_to_column == {"姓名": "xm"}  # not also 曾用名 by its element's name
    assert match.unmapped == [] and [i["column_name"] for i in match.missing_optional] == ["cym"]


# ---------------------------------------------------------------- saved mappings


def save(session: Session, org: Org, resource: Resource, name: str = "公安人口库", **kw: Any) -> Mapping:
    args: dict[str, Any] = {
        "columns": {"SFZH": "gmsfhm", "XB": "xbdm"},
        "values": {"xbdm": {"0": "1", "1": 2}},
        "normalizers": {"xm": ["squeeze"]},
        "patterns": {},
    }
    args.update(kw)
    return mappings.save_mapping(session, resource, name, principal=org.principal(org.steward), **args)


def test_a_steward_saves_reuses_and_deletes_a_mapping(
    session: Session, org: Org, resources: Resources
) -> None:
    saved = save(session, org, resources.population)
    assert saved.values == {"xbdm": {"0": "1", "1": "2"}}  # codes are text
    again = save(session, org, resources.population, columns={"SFZH": "gmsfhm"})
    assert again.id == saved.id and again.columns == {"SFZH": "gmsfhm"}
    assert [m.name for m in mappings.list_mappings(session, resources.population)] == ["公安人口库"]
    assert mappings.get_mapping(session, resources.population, "公安人口库").id == saved.id

    mappings.delete_mapping(session, resources.population, "公安人口库", org.principal(org.steward))
    with pytest.raises(NotFound) as gone:
        mappings.get_mapping(session, resources.population, "公安人口库")
    assert gone.value.code == "mapping_not_found"
    actions = list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "ingest_mapping")
            .order_by(AuditEvent.id)
        )
    )
    assert actions == ["ingest.mapping.save", "ingest.mapping.save", "ingest.mapping.delete"]


def test_only_the_providers_stewards_and_operators_save_mappings(
    session: Session, org: Org, resources: Resources
) -> None:
    with pytest.raises(Forbidden):
        mappings.save_mapping(
            session, resources.population, "x", {}, {}, {}, {}, org.principal(org.civil_steward)
        )
    with pytest.raises(Forbidden):
        mappings.save_mapping(session, resources.population, "x", {}, {}, {}, {}, org.principal(org.consumer))
    made = mappings.save_mapping(
        session, resources.population, "x", {}, {}, {}, {}, org.principal(org.operator)
    )
    assert made.id is not None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"columns": {"SFZH": "sfz"}}, "sfz"),
        ({"columns": {"SFZH": "gmsfhm", "ID": "gmsfhm"}}, "一个信息项只能取一列"),
        ({"normalizers": {"xm": ["pinyin"]}}, "pinyin"),
        ({"patterns": {"xm": "[unclosed"}}, "正则表达式"),
        ({"values": {"nosuch": {"0": "1"}}}, "nosuch"),
    ],
)
def test_a_wrong_mapping_is_refused_with_what_is_wrong(
    session: Session, org: Org, resources: Resources, change: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        save(session, org, resources.population, **change)
    assert refused.value.code == "mapping_invalid" and words in refused.value.message


def test_a_mapping_in_use_is_kept(session: Session, org: Org, resources: Resources) -> None:
    saved = save(session, org, resources.population)
    session.add(Source(resource_id=resources.population.id, name="人口库", kind="sql", mapping_id=saved.id))
    session.flush()
    with pytest.raises(Conflict) as kept:
        mappings.delete_mapping(session, resources.population, saved.name, org.principal(org.steward))
    assert kept.value.code == "mapping_in_use" and "人口库" in kept.value.message
    assert session.scalar(select(Load).where(Load.mapping_id == saved.id)) is None
