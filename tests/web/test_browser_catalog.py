"""The catalog story, in Chromium, on the demo city (示范市) — the issue's “done when”.

The 公安局 steward catalogs a resource with its data items in the editor and submits it; the platform
operator publishes it from the review queue; the steward changes it and the operator publishes the
change; the diff page shows what changed. A search for 人口 finds 常住人口基础信息 with facet counts,
and the statistics page draws its charts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from jutong.catalog.models import Resource
from jutong.catalog.stats import catalog_stats
from tests.browser import DemoSite, sign_in

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NAME = "流动人口居住登记信息"


def _new_page(chromium: Browser) -> tuple[BrowserContext, Page]:
    """Another person at another computer: a browser profile of their own."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    return context, context.new_page()


def _item(page: Page, index: int, name: str, element: str, *, key: bool = False) -> None:
    page.locator(f'input[name="items-{index}-name"]').fill(name)
    page.locator(f'input[name="items-{index}-element"]').fill(element)
    if key:
        page.locator(f'input[name="items-{index}-is_key"]').check()


def _resource(site: DemoSite, name: str) -> Resource:
    with site.session() as session:
        found = session.scalar(select(Resource).where(Resource.name == name))
    assert found is not None, f"没有资源“{name}”"
    return found


def _publish_from_the_queue(operator: Page, site: DemoSite, note: str) -> None:
    operator.goto(f"{site.url}/catalog/review")
    entry = operator.locator("section.card", has=operator.get_by_role("link", name=NAME, exact=True))
    entry.get_by_label("发布说明").fill(note)
    entry.get_by_role("button", name="审核通过并发布").click()
    operator.wait_for_url(f"{site.url}/catalog/review")
    assert (
        operator.locator("section.card", has=operator.get_by_role("link", name=NAME, exact=True)).count() == 0
    )


def test_a_steward_catalogs_the_operator_publishes_and_the_change_shows_in_the_diff(
    site: DemoSite, page: Page, chromium: Browser, tmp_path: Path
) -> None:
    with site.session() as session:
        population_code = session.scalar(select(Resource.code).where(Resource.name == "常住人口基础信息"))
    assert population_code

    # 1. the 公安局 steward catalogs a resource with four data items (the fourth row added by htmx)
    sign_in(page, site, "gongan")
    page.goto(f"{site.url}/catalog/resources/new")
    form = page.locator("main form")
    form.locator('select[name="classification_code"]').select_option("101001")
    page.get_by_label("信息资源名称").fill(NAME)
    page.get_by_label("信息资源摘要").fill(
        "在本市居住半年以上的流动人口办理居住登记形成的信息，供居住证和社会保障业务核验。"
    )
    form.locator('select[name="format_category"]').select_option("database")
    form.locator('input[name="format_type"]').fill("达梦 DM8")
    form.locator('select[name="update_cycle"]').select_option("daily")
    form.locator('select[name="share_type"]').select_option("conditional")
    form.locator('select[name="delivery"]').select_option("api")
    form.locator('textarea[name="share_condition"]').fill("仅限办理居住证和社会保险业务使用")
    form.locator('select[name="system_id"]').select_option(label="GA-001 人口信息管理系统")
    form.locator('input[name="related_codes"]').fill(population_code)
    _item(page, 0, "公民身份号码", "DE0001", key=True)
    _item(page, 1, "姓名", "DE0002")
    _item(page, 2, "居住地址", "DE0007")
    page.get_by_role("button", name="添加一行").click()
    page.locator('input[name="items-3-name"]').wait_for()
    _item(page, 3, "登记日期", "DE0012")
    page.get_by_role("button", name="保存草稿").click()
    page.wait_for_url(re.compile(r".*/catalog/resources/\d+$"))
    main = page.locator("main").inner_text()
    assert NAME in main and "草稿" in main and "重要" in main  # 公民身份号码 makes it 重要
    assert "公民身份号码" in main and "主键" in main
    page.get_by_role("button", name="提交审核").click()
    page.wait_for_url(re.compile(r".*/catalog/resources/\d+$"))
    assert "待审核" in page.locator("main h1").inner_text()
    resource = _resource(site, NAME)
    assert resource.code.startswith("101001/") and resource.status == "submitted"

    # 2. the operator publishes it from the review queue
    operator_context, operator = _new_page(chromium)
    try:
        sign_in(operator, site, "admin")
        _publish_from_the_queue(operator, site, "首次发布")
        assert _resource(site, NAME).published_version == 1

        # 3. the steward changes it: realtime updates and one more item; the operator publishes again
        page.goto(f"{site.url}/catalog/resources/{resource.id}")
        page.get_by_role("button", name="修改").click()
        page.wait_for_url(f"{site.url}/catalog/resources/{resource.id}/edit")
        page.locator('select[name="update_cycle"]').select_option("realtime")
        _item(page, 4, "联系电话", "DE0039")
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url(f"{site.url}/catalog/resources/{resource.id}")
        assert "未发布的修改" in page.locator("main").inner_text()
        page.get_by_role("button", name="提交审核").click()
        page.wait_for_url(f"{site.url}/catalog/resources/{resource.id}")
        _publish_from_the_queue(operator, site, "改为实时更新，增加联系电话")
    finally:
        operator_context.close()
    assert _resource(site, NAME).published_version == 2

    # 4. the diff between the two published versions
    page.goto(f"{site.url}/catalog/resources/{resource.id}")
    page.get_by_role("link", name="与第 1 版的差异").click()
    page.wait_for_url(re.compile(r".*/diff\?v1=1&v2=2$"))
    diff = page.locator("main").inner_text()
    assert "第 1 版 → 第 2 版：2 处变化" in diff, diff
    assert re.search(r"更新周期\s+修改\s+每日\s+实时", diff), diff
    assert re.search(r"联系电话.*\s+新增", diff), diff
    page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)


def test_search_and_facets_in_chinese(site: DemoSite, page: Page, tmp_path: Path) -> None:
    sign_in(page, site, "renshe")  # a consuming department reads the published catalog
    page.goto(f"{site.url}/catalog?q=人口")
    main = page.locator("main")
    assert main.get_by_role("link", name="常住人口基础信息").first.is_visible()
    text = main.inner_text()
    assert re.search(r"示范市公安局\D{0,3}\d+", text), text  # the department facet, with its count
    assert re.search(r"无条件共享\D{0,3}\d+", text), text  # the share type facet
    page.goto(f"{site.url}/catalog?q=社保")
    assert page.locator("main").get_by_role("link", name="社会保险参保信息").first.is_visible()
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)


def test_the_statistics_page_draws_its_charts(site: DemoSite, page: Page, tmp_path: Path) -> None:
    sign_in(page, site, "auditor")
    page.goto(f"{site.url}/catalog/stats")
    for chart in ("#share-pie", "#rank-bar", "#dept-bar"):
        page.locator(f"{chart} canvas").wait_for(state="visible")
        box = page.locator(f"{chart} canvas").bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, chart
    with site.session() as session:
        stats = catalog_stats(session)
    summary = page.locator("#catalog-summary").inner_text()
    assert f"全市已梳理资源目录 {stats.catalogued} 条，发布 {stats.published} 条" in summary
    table = page.locator("#share-table").inner_text()
    for count in stats.by_share_type:
        assert f"{count.label}\t{count.count}\t{count.percent:.1f}%" in table, table
    zero = page.locator("#zero-departments").inner_text()
    assert all(
        name in zero for name in ("示范市气象局", "示范市档案局", "示范市信访局", "示范市残疾人联合会")
    )
    page.screenshot(path=str(tmp_path / "catalog-stats.png"), full_page=True)
