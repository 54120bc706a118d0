"""The demo city's resource catalog: seed 003's share-type mix, the registry resources with their
key items, departments with no entry, versions, search, and loading twice changes nothing.

The demo is loaded once per backend for this module (it goes through the real workflow, which takes
a few seconds) inside a transaction that is rolled back at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from jutong.catalog import search, workflow
from jutong.catalog.models import (
    CatalogEntry,
    DataElement,
    DataItem,
    Resource,
    ResourceStatus,
    ResourceVersion,
)
from jutong.catalog.stats import catalog_stats
from jutong.core.audit import AuditEvent
from jutong.core.auth import Principal
from jutong.demo.catalog import EMPTY_DEPARTMENTS, build_catalog
from jutong.demo.city import build_city
from jutong.demo.load import LoadReport, load_demo
from jutong.registry import accounts
from jutong.registry.models import Department, InformationSystem, User

REFERENCE = date(2025, 3, 15)
SEED_003 = {"unconditional": 1257, "conditional": 1964, "none": 529}  # of 3750 published


@pytest.fixture(scope="module")
def loaded(engine: Engine) -> Iterator[tuple[Connection, LoadReport]]:
    conn = engine.connect()
    outer = conn.begin()
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        report = load_demo(session, today=REFERENCE)
        session.commit()
    try:
        yield conn, report
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def db(loaded: tuple[Connection, LoadReport]) -> Iterator[Session]:
    session = Session(bind=loaded[0], join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


def _resource(db: Session, department_code: str, name: str) -> Resource:
    found = db.scalar(
        select(Resource)
        .join(Department, Department.id == Resource.department_id)
        .where(Department.code == department_code, Resource.name == name)
    )
    assert found is not None, f"{department_code} 没有资源“{name}”"
    return found


def _items(db: Session, resource: Resource) -> dict[str, tuple[str, bool]]:
    """item name → (data element identifier, is key)."""
    rows = db.execute(
        select(DataItem.name, DataElement.identifier, DataItem.is_key)
        .join(DataElement, DataElement.id == DataItem.element_id)
        .where(DataItem.resource_id == resource.id)
        .order_by(DataItem.position)
    ).all()
    return {name: (identifier, is_key) for name, identifier, is_key in rows}


def _operator(db: Session) -> Principal:
    admin = db.scalar(select(User).where(User.username == "admin"))
    assert admin is not None
    return accounts.principal_for(admin, via="session")


def test_the_published_share_types_follow_seed_003(
    db: Session, loaded: tuple[Connection, LoadReport]
) -> None:
    assert loaded[1].created["resources"] == 318
    stats = catalog_stats(db)
    assert (stats.catalogued, stats.published) == (318, 300)
    assert {c.code: c.count for c in stats.by_status} == {"draft": 10, "submitted": 8, "published": 300}
    shares = {c.code: c.count for c in stats.by_share_type}
    for share, seed in SEED_003.items():
        assert abs(shares[share] - stats.published * seed / 3750) <= 1, shares
    assert shares == {"unconditional": 101, "conditional": 157, "none": 42}
    assert stats.summary() == (
        "全市已梳理资源目录 318 条，发布 300 条，其中无条件共享 101、有条件共享 157、不予共享 42；5 个部门上报数为 0"
    )


def test_five_departments_have_no_entry_and_the_rest_are_ranked(db: Session) -> None:
    stats = catalog_stats(db)
    assert sorted(z.department_code for z in stats.zero_departments) == sorted(EMPTY_DEPARTMENTS)
    assert {z.department_name for z in stats.zero_departments} == {
        "示范市气象局",
        "示范市档案局",
        "示范市信访局",
        "示范市退役军人事务局",
        "示范市残疾人联合会",
    }
    assert len(stats.departments) == 25 and stats.department_count == 30
    assert stats.ranking[0].department_name == "示范市公安局" and stats.ranking[0].rank == 1


def test_the_registry_resources_carry_their_key_items_bound_to_national_elements(db: Session) -> None:
    household = _resource(db, "GA", "户籍人口基本信息")
    assert _items(db, household) == {
        "公民身份号码": ("DE0001", True),
        "姓名": ("DE0002", False),
        "性别代码": ("DE0003", False),
        "民族代码": ("DE0004", False),
        "出生日期": ("DE0005", False),
        "户籍地址": ("DE0018", False),
        "户号": ("DE0016", False),
        "与户主关系": ("DE0017", False),
    }
    assert household.classification_code == "101002" and household.security_level == "important"

    marriage = _items(db, _resource(db, "MZ", "婚姻登记信息"))
    assert marriage["结婚证字号"] == ("DE0020", True)
    assert marriage["男方公民身份号码"][0] == marriage["女方公民身份号码"][0] == "DE0001"
    assert {"男方姓名", "女方姓名", "登记日期", "登记机关", "婚姻登记类别"} <= set(marriage)

    insurance = _resource(db, "RS", "社会保险参保信息")
    items = _items(db, insurance)
    assert {name for name, (_, key) in items.items() if key} == {"公民身份号码", "险种类型"}
    assert {"姓名", "参保状态", "参保日期", "单位名称", "统一社会信用代码"} <= set(items)
    assert insurance.share_type == "conditional" and insurance.share_condition == "仅限办理社保业务使用"

    enterprise = _items(db, _resource(db, "SJ", "企业登记信息"))
    assert enterprise["统一社会信用代码"] == ("DE0008", True)
    assert enterprise["住所"][0].startswith("LDE")  # a local element: 企业住所 is not personal information
    assert {"企业名称", "法定代表人姓名", "注册资本", "成立日期", "登记机关", "经营范围", "企业类型"} <= set(
        enterprise
    )

    licences = _resource(db, "ZW", "电子证照信息")
    assert _items(db, licences)["证照编号"] == ("DE0013", True)
    assert list(_items(db, licences)) == [
        "证照编号",
        "证照类型",
        "持证主体",
        "持证主体代码",
        "颁发机构",
        "颁发日期",
        "有效期至",
    ]
    assert _resource(db, "GA", "常住人口基础信息").classification_code == "101001"

    # seed 003's sex-code example needs 民政局 to hold people with a sex code: its 低保 roll
    subsistence = _resource(db, "MZ", "最低生活保障对象信息")
    assert _items(db, subsistence) == {
        "公民身份号码": ("DE0001", True),
        "姓名": ("DE0002", False),
        "性别代码": ("DE0003", False),
        "出生日期": ("DE0005", False),
        "居住地址": ("DE0007", False),
        "居住地行政区划代码": ("DE0011", False),
        "联系电话": ("DE0006", False),
        "认定日期": ("DE0012", False),
        "数据更新时间": ("DE0042", False),
    }
    system = db.get(InformationSystem, subsistence.system_id)
    assert system is not None and (system.code, system.name) == ("MZ-001", "社会救助信息管理系统")
    assert (subsistence.share_type, subsistence.update_cycle) == ("conditional", "daily")
    assert "社会救助" in subsistence.share_condition and subsistence.status == "published"


def test_terms_are_filled_as_the_rules_require(db: Session) -> None:
    live = list(db.scalars(select(Resource).where(Resource.status == ResourceStatus.published.value)))
    for resource in live:
        if resource.share_type == "none":
            assert "《" in resource.share_condition and "》" in resource.share_condition, resource.name
            assert resource.open_type == "closed", resource.name
        elif resource.share_type == "conditional":
            assert resource.share_condition, resource.name
        assert db.scalar(select(func.count()).where(DataItem.resource_id == resource.id, DataItem.is_key))
    none_bases = {r.share_condition for r in live if r.share_type == "none"}
    assert any(b.startswith("《中华人民共和国个人信息保护法》第") for b in none_bases)
    assert Counter(r.update_cycle for r in live).keys() >= {"realtime", "daily", "monthly", "yearly"}
    assert Counter(r.delivery for r in live).keys() == {"api", "file", "table"}

    # linked systems are the provider's own; department resources point at the base registries
    linked = db.execute(
        select(Resource.department_id, InformationSystem.department_id).join(
            InformationSystem, InformationSystem.id == Resource.system_id
        )
    ).all()
    assert len(linked) > 100 and all(a == b for a, b in linked)
    base_codes = {r.code for r in live if r.classification_code.startswith("1")}
    related = [c for r in live if r.classification_code.startswith("3") for c in r.related_codes]
    assert related and set(related) <= base_codes
    population = _resource(db, "GA", "常住人口基础信息")
    assert population.code in _resource(db, "MZ", "最低生活保障对象信息").related_codes


def test_three_resources_have_a_second_version_with_a_diff(db: Session) -> None:
    twice = db.scalars(
        select(Resource.name).where(Resource.published_version == 2).order_by(Resource.name)
    ).all()
    assert sorted(twice) == sorted(["户籍人口基本信息", "企业登记信息", "婚姻登记信息"])
    household = _resource(db, "GA", "户籍人口基本信息")
    changes = workflow.diff(db, _operator(db), household.id, "1", "2").changes
    assert {c.label for c in changes} >= {"更新周期"} and any("与户主关系" in c.summary for c in changes)
    assert db.scalar(select(func.count()).select_from(ResourceVersion)) == 303


def test_search_finds_population_and_social_insurance(db: Session) -> None:
    operator = _operator(db)
    population = search.search(db, operator, "人口")
    assert "常住人口基础信息" in [i.name for i in population.items]
    assert sum(v.count for v in population.facets["department"]) == population.total >= 3
    social = search.search(db, operator, "社保")
    assert "社会保险参保信息" in [i.name for i in social.items]
    assert "最低生活保障对象信息" in [i.name for i in search.search(db, operator, "低保").items]


def _everything(db: Session) -> dict[str, Any]:
    db.expire_all()

    def rows(model: Any, *order: Any, skip: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
        columns = [c for c in model.__table__.columns if c.name not in ("created_at", "updated_at", *skip)]
        return [tuple(r) for r in db.execute(select(*columns).order_by(*order)).all()]

    return {
        "resources": rows(Resource, Resource.code),
        "items": rows(DataItem, DataItem.resource_id, DataItem.position),
        "versions": rows(ResourceVersion, ResourceVersion.id, skip=("published_at",)),
        "entries": rows(CatalogEntry, CatalogEntry.code),
        "elements": rows(DataElement, DataElement.identifier),
        "audit": db.scalar(select(func.count()).select_from(AuditEvent)),
    }


def test_loading_twice_changes_nothing(db: Session) -> None:
    before = _everything(db)
    again = load_demo(db, today=REFERENCE)
    db.flush()
    assert again.created["resources"] == 0 and not again.changed
    assert _everything(db) == before


def test_the_catalog_is_deterministic() -> None:
    city = build_city(REFERENCE)
    first, second = build_catalog(city), build_catalog(city)
    assert first == second
    assert len(first) == 318 and len({(r.department_code, r.name) for r in first}) == 318
    assert not {r.department_code for r in first} & set(EMPTY_DEPARTMENTS)
