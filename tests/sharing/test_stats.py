"""Statistics of use on both backends: a week of accesses to 公安局's and 民政局's resources, counted per
resource, provider, consumer, kind and Beijing day, each department seeing its own share of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jutong.core.auth import Role
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.registry import accounts
from jutong.registry.models import Department, User
from jutong.sharing import stats
from jutong.sharing.models import DataAccess
from tests.conftest import PASSWORD, Org, api_headers
from tests.ingest.conftest import Resources, resources, standards  # noqa: F401  (fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser import DemoSite

pytest_plugins = ("tests.browser",)  # imported by pytest as a plugin first, so its asserts are rewritten

START, END = date(2026, 3, 1), date(2026, 3, 7)


@dataclass
class City:
    org: Org
    resources: Resources
    labour: Department  # 市人社局: consumes 公安局's population resource too
    labour_user: User


def access(session: Session, at: datetime, resource: object, consumer: int, kind: str, rows: int) -> None:
    session.add(
        DataAccess(
            at=at,
            resource_id=resource.id,  # type: ignore[attr-defined]
            provider_department_id=resource.department_id,  # type: ignore[attr-defined]
            consumer_department_id=consumer,
            kind=kind,
            rows=rows,
            items=["gmsfhm", "xm"],
        )
    )


@pytest.fixture
def city(session: Session, org: Org, resources: Resources) -> City:  # noqa: F811
    labour = accounts.upsert_department(session, "RS", "市人社局", "341000")
    labour_user = accounts.create_user(
        session, username="rs_consumer", password=PASSWORD, role=Role.consumer, department_code="RS"
    )
    population, assistance = resources.population, resources.assistance

    def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)

    # 民政局 looks people up in 公安局's population resource
    access(session, utc(2026, 3, 1, 1, 0), population, org.civil.id, "lookup", 1)
    access(session, utc(2026, 3, 1, 2, 0), population, org.civil.id, "verify", 0)
    # 16:30 UTC on 2 March is 00:30 on 3 March in Beijing: counted on the 3rd
    access(session, utc(2026, 3, 2, 16, 30), population, org.civil.id, "export", 500)
    # 人社局 too, on the last day
    access(session, utc(2026, 3, 7, 3, 0), population, labour.id, "query", 40)
    # 公安局 reads 民政局's assistance resource
    access(session, utc(2026, 3, 5, 8, 0), assistance, org.police.id, "lookup", 1)
    # outside the period: 23:59 Beijing on 28 Feb, and 8 March
    access(session, utc(2026, 2, 28, 15, 59), population, org.civil.id, "lookup", 1)
    access(session, utc(2026, 3, 7, 16, 0), population, org.civil.id, "lookup", 1)
    session.commit()
    return City(org, resources, labour, labour_user)


def test_the_operator_sees_every_access_of_the_period_by_resource_department_kind_and_day(
    session: Session, city: City
) -> None:
    u = stats.usage(session, city.org.principal(city.org.operator), start=START, end=END)
    assert (u.total.calls, u.total.rows) == (5, 542)
    assert u.scope == "全平台"

    assert [(r.resource_name, r.calls, r.rows, r.consumers) for r in u.by_resource] == [
        ("常住人口基础信息", 4, 541, 2),
        ("最低生活保障对象信息", 1, 1, 1),
    ]
    assert [(d.department_name, d.calls, d.rows) for d in u.by_provider] == [
        ("市公安局", 4, 541),
        ("市民政局", 1, 1),
    ]
    assert {(d.department_name, d.calls, d.rows, d.resources) for d in u.by_consumer} == {
        ("市民政局", 3, 501, 1),
        ("市人社局", 1, 40, 1),
        ("市公安局", 1, 1, 1),
    }
    assert {(k.kind, k.label, k.calls, k.rows) for k in u.by_kind} == {
        ("lookup", "查询", 2, 2),
        ("query", "条件查询", 1, 40),
        ("verify", "核验", 1, 0),
        ("export", "导出", 1, 500),
    }
    days = {d.day.day: (d.calls, d.rows) for d in u.by_day}
    assert len(u.by_day) == 7 and u.by_day[0].day == START and u.by_day[-1].day == END
    assert days == {1: (2, 1), 2: (0, 0), 3: (1, 500), 4: (0, 0), 5: (1, 1), 6: (0, 0), 7: (1, 40)}
    assert u.summary().startswith("2026-03-01 至 2026-03-07，全平台共享调用 5 次，提供记录 542 条")

    only_exports = stats.usage(
        session, city.org.principal(city.org.auditor), start=START, end=END, kind="export"
    )
    assert (only_exports.total.calls, only_exports.total.rows) == (1, 500)
    one_consumer = stats.usage(
        session,
        city.org.principal(city.org.operator),
        start=START,
        end=END,
        consumer_department_id=city.labour.id,
    )
    assert [r.rows for r in one_consumer.by_resource] == [40]


def test_each_department_sees_what_it_provided_or_consumed(session: Session, city: City) -> None:
    org = city.org
    provider = stats.usage(session, org.principal(org.steward), start=START, end=END)  # 公安局's steward
    # 4 calls to its population resource, and its own call to 民政局's assistance resource
    assert (provider.total.calls, provider.total.rows) == (5, 542)
    labour = stats.usage(session, org.principal(city.labour_user), start=START, end=END)
    assert (labour.total.calls, labour.total.rows, labour.scope) == (1, 40, "本部门使用的")
    assert [d.department_name for d in labour.by_consumer] == ["市人社局"]
    civil_consumer = stats.usage(session, org.principal(org.consumer), start=START, end=END)
    assert (civil_consumer.total.calls, civil_consumer.total.rows) == (3, 501)
    civil_steward = stats.usage(session, org.principal(org.civil_steward), start=START, end=END)
    assert civil_steward.total.calls == 4  # its 3 calls and 公安局's call to its assistance resource


def test_a_period_must_be_in_order_and_at_most_a_year(session: Session, city: City) -> None:
    operator = city.org.principal(city.org.operator)
    with pytest.raises(ValidationFailed) as backwards:
        stats.usage(session, operator, start=END, end=START)
    assert backwards.value.code == "stats_period_invalid"
    with pytest.raises(ValidationFailed) as too_long:
        stats.usage(session, operator, start=date(2025, 1, 1), end=date(2026, 3, 1))
    assert too_long.value.code == "stats_period_too_long"
    with pytest.raises(ValidationFailed):
        stats.usage(session, operator, start=START, end=END, kind="'; DROP TABLE data_access; --")
    default = stats.usage(session, operator, today=date(2026, 3, 7))
    assert (default.start, default.end, default.total.calls) == (date(2026, 2, 6), END, 6)  # the last 30 days


def test_developers_see_no_statistics(session: Session, city: City) -> None:
    developer = accounts.create_user(session, username="dev", password=PASSWORD, role=Role.developer)
    with pytest.raises(Forbidden):
        stats.usage(session, city.org.principal(developer), start=START, end=END)


def test_the_usage_api(client: TestClient, session: Session, city: City) -> None:
    org = city.org
    operator, consumer = api_headers(session, org.operator), api_headers(session, org.consumer)
    everything = client.get(
        "/api/v1/sharing/stats/usage", params={"start": "2026-03-01", "end": "2026-03-07"}, headers=operator
    )
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["total"] == {"calls": 5, "rows": 542} and len(body["by_day"]) == 7
    assert body["by_day"][2] == {"day": "2026-03-03", "calls": 1, "rows": 500}
    mine = client.get(
        "/api/v1/sharing/stats/usage", params={"start": "2026-03-01", "end": "2026-03-07"}, headers=consumer
    ).json()
    assert mine["total"] == {"calls": 3, "rows": 501} and mine["scope"] == "本部门使用的"
    wrong = client.get(
        "/api/v1/sharing/stats/usage", params={"start": "2026-03-07", "end": "2026-03-01"}, headers=operator
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "stats_period_invalid"
    huge = client.get("/api/v1/sharing/stats/usage", params={"resource_id": 10**30}, headers=operator)
    assert huge.status_code == 422


def test_the_statistics_page_draws_the_period(client: TestClient, city: City) -> None:
    from tests.conftest import login

    login(client, "op")
    page = client.get("/sharing/stats", params={"start": "2026-03-01", "end": "2026-03-07"})
    assert page.status_code == 200
    assert "全平台共享调用 5 次，提供记录 542 条" in page.text
    assert 'id="day-line"' in page.text and "/static/vendor/echarts.min.js" in page.text
    assert '"2026-03-03"' in page.text  # the days the chart draws
    backwards = client.get("/sharing/stats", params={"start": "2026-03-07", "end": "2026-03-01"})
    assert backwards.status_code == 422 and "晚于截止日" in backwards.text


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_the_statistics_page_draws_its_charts_in_chromium(site: DemoSite, page: Page) -> None:
    from jutong.catalog.models import Resource
    from tests.browser import sign_in

    # a week of 2025 nobody else uses on the shared demo database; removed again at the end
    with site.session() as session:
        police = session.scalars(select(Department).where(Department.code == "GA")).one()
        labour = session.scalars(select(Department).where(Department.code == "RS")).one()
        resource = session.scalars(select(Resource).where(Resource.department_id == police.id)).first()
        assert resource is not None
        for day, kind, rows in ((1, "lookup", 1), (1, "verify", 0), (3, "export", 800), (6, "query", 25)):
            access(session, datetime(2025, 1, day, 3, 0, tzinfo=UTC), resource, labour.id, kind, rows)
        session.commit()
    try:
        sign_in(page, site, "auditor")
        page.goto(f"{site.url}/sharing/stats?start=2025-01-01&end=2025-01-07")
        for chart in ("#day-line", "#kind-pie", "#resource-bar", "#consumer-bar"):
            page.locator(f"{chart} canvas").wait_for(state="visible")
            box = page.locator(f"{chart} canvas").bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, chart
        assert "全平台共享调用 4 次，提供记录 826 条" in page.locator("#usage-summary").inner_text()
        assert resource.name in page.locator("#resource-table").inner_text()
        assert labour.name in page.locator("#consumer-table").inner_text()
    finally:
        with site.session() as session:
            session.execute(
                delete(DataAccess).where(
                    DataAccess.at >= datetime(2025, 1, 1, tzinfo=UTC),
                    DataAccess.at < datetime(2025, 1, 8, tzinfo=UTC),
                    DataAccess.consumer_department_id == labour.id,
                )
            )
            session.commit()
