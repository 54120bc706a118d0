"""Catalog statistics on a small known catalog: counts, percentages, zero-entry departments, ranking.

The catalog is written row by row here (working copies and their search projection), so the counting
is checked on its own; the demo catalog's test checks the same statistics over the real workflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jutong.catalog.models import (
    CatalogEntry,
    ClassCategory,
    OpenType,
    Resource,
    ResourceStatus,
    ShareType,
    UpdateCycle,
)
from jutong.catalog.stats import catalog_stats, percent
from jutong.registry import accounts
from jutong.registry.models import Department
from tests.conftest import Org, api_headers, login

U, C, N = ShareType.unconditional, ShareType.conditional, ShareType.none


@dataclass(frozen=True)
class Known:
    police: Department  # 市公安局: 5 published (3 无条件、1 有条件、1 不予), draft, submitted, withdrawn
    civil: Department  # 市民政局: 2 published, 1 draft
    education: Department  # 市教育局: 2 published (ties with 民政局 for rank 2)
    health: Department  # 市卫健委: 1 draft only, nothing published
    statistics: Department  # 市统计局: nothing at all


class _Seq:
    n = 0


def _resource(
    session: Session,
    department: Department,
    status: ResourceStatus,
    share: ShareType = U,
    *,
    open_type: OpenType = OpenType.closed,
    cycle: UpdateCycle = UpdateCycle.monthly,
    category: ClassCategory = ClassCategory.department,
    published_share: ShareType | None = None,
) -> Resource:
    """A resource in ``status``; published ones (or edited after publishing: ``published_share``) get
    their search projection, which carries the terms of the published version."""
    _Seq.n += 1
    classification = f"{category.value}01001"
    resource = Resource(
        code=f"{classification}/{_Seq.n:06d}",
        classification_code=classification,
        name=f"{department.name}资源{_Seq.n}",
        department_id=department.id,
        format_category="database",
        share_type=share.value,
        share_condition="" if share == U else "依据",
        delivery="api",
        open_type=open_type.value,
        update_cycle=cycle.value,
        status=status.value,
        published_version=1 if status == ResourceStatus.published or published_share else None,
    )
    session.add(resource)
    session.flush()
    if resource.published_version:
        session.add(
            CatalogEntry(
                resource_id=resource.id,
                code=resource.code,
                version=1,
                name=resource.name,
                department_id=department.id,
                classification_code=classification,
                category=category.value,
                share_type=(published_share or share).value,
                open_type=open_type.value,
                format_category="database",
                update_cycle=cycle.value,
                security_level="general",
                search_text=resource.name,
            )
        )
        session.flush()
    return resource


@pytest.fixture
def known(session: Session, org: Org) -> Known:
    education = accounts.upsert_department(session, "JY", "市教育局", "341000")
    health = accounts.upsert_department(session, "WJ", "市卫健委", "341000")
    statistics = accounts.upsert_department(session, "TJ", "市统计局", "341000")
    P, D = ResourceStatus.published, ResourceStatus.draft
    base = ClassCategory.base
    police, civil = org.police, org.civil
    _resource(session, police, P, U, open_type=OpenType.open, cycle=UpdateCycle.realtime, category=base)
    _resource(session, police, P, U, open_type=OpenType.conditional, cycle=UpdateCycle.daily, category=base)
    # edited after publishing: the working copy says 不予共享, the live version 无条件共享
    _resource(session, police, D, N, published_share=U, cycle=UpdateCycle.daily, category=base)
    _resource(session, police, P, C, cycle=UpdateCycle.realtime, category=base)
    _resource(session, police, P, N, cycle=UpdateCycle.yearly)
    _resource(session, police, D, U)
    _resource(session, police, ResourceStatus.submitted, C)
    _resource(session, police, ResourceStatus.withdrawn, U)
    _resource(session, civil, P, U, category=ClassCategory.theme)
    _resource(session, civil, P, C, category=ClassCategory.theme)
    _resource(session, civil, D, C)
    _resource(session, education, P, C, open_type=OpenType.open)
    _resource(session, education, P, C)
    _resource(session, health, D, U)
    session.commit()
    return Known(police, civil, education, health, statistics)


def test_percentages_are_rounded_half_up_to_one_decimal() -> None:
    # seed 003: 3750 published = 1257 无条件 + 1964 有条件 + 529 不共享
    assert (percent(1257, 3750), percent(1964, 3750), percent(529, 3750)) == (33.5, 52.4, 14.1)
    assert percent(1, 16) == 6.3  # 6.25 → 6.3, not banker's 6.2
    assert percent(0, 0) == 0.0


def test_the_report_counts_catalogued_and_published_by_share_and_open_type(
    session: Session, known: Known
) -> None:
    stats = catalog_stats(session)

    # withdrawn resources are not catalogued; drafts and submitted ones are
    assert stats.catalogued == 13 and stats.published == 9
    assert [(c.code, c.count) for c in stats.by_status] == [("draft", 4), ("submitted", 1), ("published", 8)]

    # the live version counts, not the edit waiting for review: 4 无条件, 4 有条件, 1 不予
    shares = [(c.label, c.count, c.percent) for c in stats.by_share_type]
    assert shares == [("无条件共享", 4, 44.4), ("有条件共享", 4, 44.4), ("不予共享", 1, 11.1)]
    assert stats.share(N).count == 1
    opens = [(c.label, c.count, c.percent) for c in stats.by_open_type]
    assert opens == [("无条件开放", 2, 22.2), ("有条件开放", 1, 11.1), ("不予开放", 6, 66.7)]
    cycles = {c.code: c.count for c in stats.by_update_cycle}
    assert cycles == {
        "realtime": 2,
        "daily": 2,
        "weekly": 0,
        "monthly": 4,
        "quarterly": 0,
        "semiannual": 0,
        "yearly": 1,
        "other": 0,
    }
    assert [(c.label, c.count) for c in stats.by_category] == [("基础", 4), ("主题", 2), ("部门", 3)]
    assert stats.summary() == (
        "全市已梳理资源目录 13 条，发布 9 条，其中无条件共享 4、有条件共享 4、不予共享 1；1 个部门上报数为 0"
    )


def test_departments_with_no_entries_are_named_and_the_rest_ranked(session: Session, known: Known) -> None:
    stats = catalog_stats(session)

    assert stats.department_count == 5
    assert [z.department_name for z in stats.zero_departments] == ["市统计局"]
    police = next(d for d in stats.departments if d.department_id == known.police.id)
    assert (police.catalogued, police.published) == (7, 5)
    assert (police.unconditional, police.conditional, police.none, police.open) == (3, 1, 1, 2)

    ranking = [(d.department_name, d.published, d.rank) for d in stats.ranking]
    assert ranking == [
        ("市公安局", 5, 1),
        ("市民政局", 2, 2),  # ties share a rank; more catalogued comes first
        ("市教育局", 2, 2),
        ("市卫健委", 0, None),  # catalogued, nothing published: listed, not ranked
    ]


def test_an_empty_catalog_lists_every_department_as_zero(session: Session, org: Org) -> None:
    stats = catalog_stats(session)
    assert (stats.catalogued, stats.published, stats.departments, stats.ranking) == (0, 0, [], [])
    assert {z.department_code for z in stats.zero_departments} == {"GA", "MZ"}
    assert all(c.percent == 0.0 for c in stats.by_share_type)


def test_every_signed_in_role_reads_the_statistics_as_json(
    client: TestClient, session: Session, org: Org, known: Known
) -> None:
    assert client.get("/api/v1/catalog/stats").status_code == 401

    body = client.get("/api/v1/catalog/stats", headers=api_headers(session, org.consumer)).json()
    assert body["catalogued"] == 13 and body["published"] == 9
    assert [(r["code"], r["count"], r["percent"]) for r in body["by_share_type"]] == [
        ("unconditional", 4, 44.4),
        ("conditional", 4, 44.4),
        ("none", 1, 11.1),
    ]
    assert body["zero_departments"] == [
        {"department_id": known.statistics.id, "department_code": "TJ", "department_name": "市统计局"}
    ]
    assert [(d["department_code"], d["rank"]) for d in body["ranking"]] == [
        ("GA", 1),
        ("MZ", 2),
        ("JY", 2),
        ("WJ", None),
    ]
    assert body["summary"].startswith("全市已梳理资源目录 13 条，发布 9 条")
    for user in (org.operator, org.steward, org.auditor):
        assert client.get("/api/v1/catalog/stats", headers=api_headers(session, user)).status_code == 200


def test_the_statistics_page_shows_the_charts_and_tables(client: TestClient, org: Org, known: Known) -> None:
    anonymous = client.get("/catalog/stats", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code in (302, 303, 307) and "/login" in anonymous.headers["location"]

    login(client, "mz_consumer")
    page = client.get("/catalog/stats")
    assert page.status_code == 200
    html = page.text
    for chart in ('id="share-pie"', 'id="rank-bar"', 'id="dept-bar"', "/static/vendor/echarts.min.js"):
        assert chart in html
    assert "cdn" not in html.lower()
    assert "全市已梳理资源目录 <strong>13</strong> 条，发布 <strong>9</strong> 条" in html
    zero = html.split('id="zero-departments"')[1].split("</p>")[0]
    assert "市统计局" in zero and "市公安局" not in zero
    table = html.split('id="department-table"')[1].split("</table>")[0]
    assert (
        table.index("市公安局") < table.index("市民政局") < table.index("市教育局") < table.index("市卫健委")
    )
