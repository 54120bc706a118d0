"""The main story, in Chromium, on the demo city (示范市).

The platform operator signs in, reads the census, the zombie candidates with their evidence
and the sharing statistics chart; the 公安局 steward tries to edit a 民政局 system and is
refused; the auditor finds that refusal in the audit log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from jutong.registry.models import InformationSystem
from tests.browser import DemoSite, csrf_token, sign_in

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CIVIL_SYSTEM = "婚姻登记管理系统"  # belongs to 示范市民政局


def _new_page(chromium: Browser) -> tuple[BrowserContext, Page]:
    """Another person at another computer: a browser profile of their own."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    return context, context.new_page()


def _nav(page: Page, label: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state("load")


def test_operator_reviews_the_census_a_steward_is_refused_and_the_auditor_sees_it(
    site: DemoSite, page: Page, chromium: Browser, tmp_path: Path
) -> None:
    # 1. the platform operator signs in and opens the census
    sign_in(page, site, "admin")
    _nav(page, "系统普查")
    assert page.url == f"{site.url}/systems"
    main = page.locator("main")
    assert "共 130 个系统" in main.inner_text()
    page.get_by_placeholder("名称、功能描述或编号").fill("婚姻登记")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**/systems?*q=*")
    row = page.locator("table tbody tr", has_text=CIVIL_SYSTEM)
    assert "示范市民政局" in row.inner_text() and "已共享" in row.inner_text()

    # 2. the zombie candidates, each with the evidence behind it
    _nav(page, "僵尸系统")
    assert page.url.startswith(f"{site.url}/zombies")
    expected = {s.name for s in site.city.systems if s.expected_rules}
    assert page.get_by_role("heading", name=f"候选系统（{len(expected)} 个）").is_visible()
    cards = page.locator("section.zombie")
    assert {cards.nth(i).locator("strong").first.inner_text() for i in range(cards.count())} == expected

    def card(name: str) -> str:
        return cards.filter(has=page.locator("strong", has_text=name)).inner_text()

    no_business = card("粮食储备监管系统")
    assert "与业务脱节" in no_business and "业务量均为 0" in no_business
    twin = card("出租房屋登记管理系统")
    assert "功能可被替代" in twin and "房屋租赁登记备案系统" in twin and "相似度" in twin
    stale = card("审计档案管理工作站")
    assert "停止维护" in stale and "未填写" in stale

    # 3. the sharing statistics, drawn by ECharts (served locally) into a canvas
    _nav(page, "普查统计")
    page.locator("#share-pie canvas").wait_for(state="visible")
    page.locator("#share-bar canvas").wait_for(state="visible")
    box = page.locator("#share-pie canvas").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    table = page.locator("#share-table").inner_text()
    for label, count in (
        ("已共享", 40),
        ("不共享", 26),
        ("处室内部共享", 17),
        ("部门内部共享", 37),
        ("单机运行", 10),
    ):
        assert f"{label}\t{count}\t" in table, table
    page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)

    # 4. the 公安局 steward tries to edit a 民政局 system: refused, page and form alike
    civil_id = site.system_id(CIVIL_SYSTEM)
    steward_context, steward = _new_page(chromium)
    try:
        sign_in(steward, site, "gongan")
        response = steward.goto(f"{site.url}/systems/{civil_id}/edit")
        assert response is not None and response.status == 403
        assert "其他部门" in steward.locator("main").inner_text()
        steward.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
        posted = steward.request.post(
            f"{site.url}/systems/{civil_id}/edit",
            form={
                "csrf_token": csrf_token(steward),
                "code": "MZ-002",
                "name": f"{CIVIL_SYSTEM}（公安局改）",
                "description": "被其他部门改写",
            },
            headers={"Accept": "text/html"},
        )
        assert posted.status == 403
    finally:
        steward_context.close()
    with site.session() as session:
        assert (
            session.scalar(select(InformationSystem.name).where(InformationSystem.id == civil_id))
            == CIVIL_SYSTEM
        )

    # 5. the auditor finds both refusals in the audit log
    auditor_context, auditor = _new_page(chromium)
    try:
        sign_in(auditor, site, "auditor")
        _nav(auditor, "审计日志")
        auditor.get_by_label("动作").fill("access.denied")
        auditor.get_by_label("操作者").fill("gongan")
        auditor.get_by_role("button", name="查询").click()
        auditor.wait_for_url("**/audit?*action=access.denied*")
        rows = auditor.locator("#audit-events tbody tr", has_text=f"/systems/{civil_id}/edit")
        assert rows.count() == 2  # the page and the form
        for i in range(2):
            text = rows.nth(i).inner_text()
            assert "gongan" in text and "access.denied" in text and "拒绝" in text
        texts = " ".join(rows.all_inner_texts())
        assert (
            f"拒绝 GET /systems/{civil_id}/edit" in texts and f"拒绝 POST /systems/{civil_id}/edit" in texts
        )
        auditor.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    finally:
        auditor_context.close()
