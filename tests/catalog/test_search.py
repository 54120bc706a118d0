"""Catalog search in Chinese: matching, synonyms, facets, filters, sorting, paging, and the index in step.

Published resources are made directly (a Resource with a ResourceVersion snapshot, then ``refresh_entry``),
as the workflow does when the operator publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from jutong.catalog import search
from jutong.catalog.models import CatalogEntry, Resource, ResourceStatus, ResourceVersion
from jutong.catalog.search import SearchFilters, refresh_entry
from jutong.core.auth import Principal, Role
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.registry.models import Department
from tests.conftest import Org


@dataclass
class Spec:
    name: str
    summary: str = ""
    items: list[str] = field(default_factory=lambda: ["公民身份号码", "姓名"])
    classification: str = "101001"
    share_type: str = "unconditional"
    open_type: str = "closed"
    format_category: str = "database"
    update_cycle: str = "daily"
    publish_date: date = date(2024, 1, 1)


def publish(
    session: Session, department: Department, spec: Spec, resource: Resource | None = None
) -> Resource:
    """Publish ``spec`` as a new resource, or as the next version of ``resource``; refresh its entry."""
    if resource is None:
        seq = (session.scalar(select(func.count()).select_from(Resource)) or 0) + 1
        resource = Resource(
            code=f"{spec.classification}/{seq:06d}",
            classification_code=spec.classification,
            name=spec.name,
            department_id=department.id,
            format_category=spec.format_category,
            share_type=spec.share_type,
            delivery="api",
            update_cycle=spec.update_cycle,
            related_codes=[],
        )
        session.add(resource)
        session.flush()
    version = (resource.published_version or 0) + 1
    snapshot = {
        "code": resource.code,
        "classification_code": spec.classification,
        "name": spec.name,
        "department_id": department.id,
        "department_name": department.name,
        "summary": spec.summary,
        "format_category": spec.format_category,
        "format_type": "",
        "share_type": spec.share_type,
        "share_condition": "",
        "delivery": "api",
        "open_type": spec.open_type,
        "open_condition": "",
        "update_cycle": spec.update_cycle,
        "publish_date": spec.publish_date.isoformat(),
        "security_level": "general",
        "items": [{"position": i, "name": n} for i, n in enumerate(spec.items, 1)],
    }
    session.add(ResourceVersion(resource_id=resource.id, version=version, snapshot=snapshot))
    resource.name, resource.status, resource.published_version = spec.name, "published", version
    session.flush()
    refresh_entry(session, resource)
    return resource


def names(result: search.SearchResult) -> list[str]:
    return [i.name for i in result.items]


def find(session: Session, org: Org, query: str, **kwargs: object) -> search.SearchResult:
    return search.search(session, org.principal(org.consumer), query, **kwargs)  # type: ignore[arg-type]


def make_catalog(session: Session, org: Org) -> dict[str, Resource]:
    """Six published resources of 市公安局 and 市民政局 (the API and page tests use them too)."""
    police, civil = org.police, org.civil
    made = {
        "常住人口": publish(
            session,
            police,
            Spec(
                "常住人口基础信息",
                "全市常住人口的基本情况",
                share_type="conditional",
                publish_date=date(2024, 3, 1),
            ),
        ),
        "户籍": publish(
            session,
            police,
            Spec(
                "户籍登记信息", "户籍人口的登记与迁移", classification="101002", publish_date=date(2024, 5, 1)
            ),
        ),
        "社会保险": publish(
            session,
            civil,
            Spec(
                "社会保险参保信息",
                "参保人员的缴费记录",
                ["参保险种", "缴费基数"],
                "201005",
                "conditional",
                format_category="spreadsheet",
                update_cycle="monthly",
                publish_date=date(2023, 7, 1),
            ),
        ),
        "社保缴费": publish(
            session,
            civil,
            Spec("社保缴费明细", "每月缴费", ["缴费月份"], "201006", "none", update_cycle="monthly"),
        ),
        "婚姻": publish(
            session,
            civil,
            Spec("婚姻登记信息", "结婚与离婚登记，含当事人的人口信息", publish_date=date(2022, 1, 1)),
        ),
        "GIS": publish(
            session,
            police,
            Spec("GIS地理信息服务", "警务地图图层", ["坐标"], "103001", format_category="service"),
        ),
    }
    session.commit()
    return made


@pytest.fixture
def catalog(session: Session, org: Org) -> dict[str, Resource]:
    return make_catalog(session, org)


def test_a_two_character_word_finds_longer_names(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    result = find(session, org, "人口")
    # the name holding the word comes first; the others match in summary or items
    assert names(result)[0] == "常住人口基础信息"
    assert set(names(result)) == {"常住人口基础信息", "户籍登记信息", "婚姻登记信息"}
    assert result.total == 3 and not result.total_estimated
    assert "<mark>人口</mark>" in str(result.items[0].name_html)


def test_longer_words_match_as_a_whole(session: Session, org: Org, catalog: dict[str, Resource]) -> None:
    assert names(find(session, org, "常住人口")) == ["常住人口基础信息"]
    assert names(find(session, org, "口基础信")) == ["常住人口基础信息"]
    assert names(find(session, org, "人口信息")) == ["婚姻登记信息"]  # not 常住人口基础信息
    assert names(find(session, org, "社会保险参保")) == ["社会保险参保信息"]


def test_synonyms_work_in_both_directions(session: Session, org: Org, catalog: dict[str, Resource]) -> None:
    assert set(names(find(session, org, "社保"))) == {"社会保险参保信息", "社保缴费明细"}
    assert set(names(find(session, org, "社会保险"))) == {"社会保险参保信息", "社保缴费明细"}
    assert names(find(session, org, "社保缴费")) == ["社保缴费明细"]


def test_one_character_ascii_words_codes_and_full_width_input(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    assert set(names(find(session, org, "婚"))) == {"婚姻登记信息"}
    assert "户籍登记信息" in names(find(session, org, "籍"))  # inside a run
    assert "GIS地理信息服务" in names(find(session, org, "务"))  # the last character of a run
    assert names(find(session, org, "GIS")) == ["GIS地理信息服务"]
    assert names(find(session, org, "ｇｉｓ")) == ["GIS地理信息服务"]  # full width, lower case
    assert names(find(session, org, "101002")) == ["户籍登记信息"]
    assert names(find(session, org, catalog["GIS"].code)) == ["GIS地理信息服务"]
    assert find(session, org, "人口，信息！").total == 3  # full-width punctuation separates words


def test_several_words_must_all_match(session: Session, org: Org, catalog: dict[str, Resource]) -> None:
    assert names(find(session, org, "人口 户籍")) == ["户籍登记信息"]
    assert names(find(session, org, "登记 婚姻")) == ["婚姻登记信息"]
    assert find(session, org, "人口 保险").total == 0


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "AND (",
        "*",
        "OR",
        "NEAR(a b)",
        "人口 NOT",
        "'; DROP TABLE catalog_entry; --",
        "a:*",
        "!",
        "ǂd1",
        "^人口",
        "x" * 500,
    ],
)
def test_odd_input_never_breaks_the_query(
    session: Session, org: Org, catalog: dict[str, Resource], query: str
) -> None:
    result = find(session, org, query)
    assert result.total >= 0
    assert session.scalar(select(func.count()).select_from(CatalogEntry)) == 6


def test_facets_count_the_matching_set(session: Session, org: Org, catalog: dict[str, Resource]) -> None:
    result = find(session, org, "信息")
    counts = {name: {v.label: v.count for v in values} for name, values in result.facets.items()}
    assert result.total == 5 and not result.facets_estimated
    assert counts["department"] == {"市公安局": 3, "市民政局": 2}
    assert counts["category"] == {"基础": 4, "主题": 1}
    assert {v.value: v.count for v in result.facets["classification"]} == {"101": 3, "103": 1, "201": 1}
    assert counts["share_type"] == {"无条件共享": 3, "有条件共享": 2}
    assert counts["format"] == {"数据库": 3, "电子表格": 1, "服务接口": 1}
    assert counts["update_cycle"] == {"每日": 4, "每月": 1}
    assert all(v.value for values in result.facets.values() for v in values)


def test_filters_are_multi_select_and_each_facet_ignores_its_own_filter(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    filters = search.parse_filters({"share_type": ["有条件共享", "none"]})  # label or code
    result = find(session, org, "", filters=filters)
    assert set(names(result)) == {"常住人口基础信息", "社会保险参保信息", "社保缴费明细"}
    share = {v.value: (v.count, v.selected) for v in result.facets["share_type"]}
    assert share == {"unconditional": (3, False), "conditional": (2, True), "none": (1, True)}
    departments = {v.label: v.count for v in result.facets["department"]}
    assert departments == {"市公安局": 1, "市民政局": 2}

    both = SearchFilters(department=[str(org.civil.id)], update_cycle=["monthly"], classification=["201"])
    assert set(names(find(session, org, "缴费", filters=both))) == {"社会保险参保信息", "社保缴费明细"}
    assert names(find(session, org, "", filters=SearchFilters(category=["1"], format=["service"]))) == [
        "GIS地理信息服务"
    ]
    with pytest.raises(ValidationFailed) as bad:
        search.parse_filters({"share_type": ["随便"]})
    assert bad.value.code == "search_filter_invalid" and "共享类型" in bad.value.message


def test_sorting_by_name_date_department_and_relevance(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    everything = find(session, org, "")
    assert everything.sort == "newest"
    dates = [i.publish_date for i in everything.items]
    assert dates == sorted(dates, reverse=True)
    assert names(find(session, org, "", sort="name")) == sorted(names(everything))
    by_department = find(session, org, "", sort="department")
    assert [i.department_name for i in by_department.items] == sorted(
        i.department_name for i in by_department.items
    )
    assert names(find(session, org, "登记", sort="relevance"))[:2] == ["户籍登记信息", "婚姻登记信息"]
    with pytest.raises(ValidationFailed) as bad:
        find(session, org, "", sort="random")
    assert bad.value.code == "search_sort_invalid"


def test_pages_are_stable_and_their_size_is_limited(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    for n in range(12):
        publish(session, org.police, Spec(f"道路监控点位{n:02d}", "交通卡口", publish_date=date(2024, 1, 1)))
    pages = [names(find(session, org, "监控", page=p, size=5)) for p in (1, 2, 3)]
    flat = [n for page in pages for n in page]
    assert [len(p) for p in pages] == [5, 5, 2] and len(set(flat)) == 12
    assert pages == [names(find(session, org, "监控", page=p, size=5)) for p in (1, 2, 3)]
    assert find(session, org, "监控", page=9, size=5).items == []
    with pytest.raises(ValidationFailed) as too_big:
        find(session, org, "监控", size=101)
    assert too_big.value.code == "page_size_invalid" and "100" in too_big.value.message
    with pytest.raises(ValidationFailed):
        find(session, org, "监控", page=0)


def test_large_result_sets_estimate_facets_from_a_window(
    session: Session, org: Org, catalog: dict[str, Resource], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "FACET_WINDOW", 2)
    result = find(session, org, "信息", size=2)
    assert result.facets_estimated and len(result.items) == 2
    assert sum(v.count for v in result.facets["department"]) == pytest.approx(result.total, abs=2)
    # SQLite counts in its index; PostgreSQL gives the planner's estimate rather than count many rows
    postgres = session.get_bind().dialect.name == "postgresql"
    assert result.total_estimated == postgres and (postgres or result.total == 5)
    # the last page knows the exact total
    last = find(session, org, "信息", size=2, page=3)
    assert last.total == 5 and not last.total_estimated and len(last.items) == 1


def test_a_withdrawn_resource_leaves_the_catalog(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    resource = catalog["婚姻"]
    resource.status, resource.published_version = ResourceStatus.withdrawn.value, None
    assert refresh_entry(session, resource) is None
    assert "婚姻登记信息" not in names(find(session, org, "登记"))
    assert find(session, org, "婚").total == 0


def test_a_new_version_is_found_by_its_new_words_only(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    resource = catalog["GIS"]
    publish(session, org.police, Spec("警用地图服务", "治安巡逻路线", ["路线编号"], "103001"), resource)
    publish(session, org.police, Spec("警务地图服务", "巡逻防控路线", ["路线编号"], "103001"), resource)
    assert names(find(session, org, "警务地图")) == ["警务地图服务"]
    assert find(session, org, "GIS").total == 0 and find(session, org, "警用").total == 0
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.resource_id == resource.id))
    assert entry is not None and entry.version == 3


def test_the_full_text_index_stays_in_step_with_the_entries(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    publish(session, org.police, Spec("警务地图服务", "巡逻防控路线"), catalog["GIS"])
    withdrawn = catalog["户籍"]
    withdrawn.status = ResourceStatus.withdrawn.value
    refresh_entry(session, withdrawn)
    session.flush()
    entries = session.scalar(select(func.count()).select_from(CatalogEntry))
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO catalog_entry_fts(catalog_entry_fts) VALUES ('integrity-check')"))
        indexed = session.scalar(
            text("SELECT count(*) FROM catalog_entry_fts WHERE catalog_entry_fts MATCH '\"ǂoclosed\"'")
        )
    else:
        drift = "SELECT count(*) FROM catalog_entry WHERE search_vector IS DISTINCT FROM to_tsvector('simple', search_text)"
        assert session.scalar(text(drift)) == 0
        indexed = session.scalar(
            text("SELECT count(*) FROM catalog_entry WHERE search_vector @@ 'ǂoclosed'::tsquery")
        )
    assert indexed == entries == 5


def test_snippets_escape_html_and_mark_the_words(session: Session, org: Org) -> None:
    publish(session, org.police, Spec("人口<b>统计</b>", "人口数据 <script>alert(1)</script> & 其他"))
    item = find(session, org, "人口").items[0]
    assert "<script>" not in str(item.snippet) and "&lt;script&gt;" in str(item.snippet)
    assert str(item.snippet).startswith("<mark>人口</mark>数据")
    assert str(item.name_html) == "<mark>人口</mark>&lt;b&gt;统计&lt;/b&gt;"


def test_every_signed_in_catalog_role_may_search_and_developers_may_not(
    session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    for user in (org.operator, org.steward, org.auditor, org.consumer):
        assert search.search(session, org.principal(user), "人口").total == 3
    developer = Principal(
        user_id=None, username="dev", role=Role.developer, department_id=None, via="api_key"
    )
    with pytest.raises(Forbidden):
        search.search(session, developer, "人口")
