"""In Chromium: the sign-in page renders from local assets only, and signing in works."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, Request

from tests.browser import DemoSite, sign_in

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_sign_in_page_renders_in_chromium_and_the_operator_signs_in(
    page: Page, site: DemoSite, tmp_path: Path
) -> None:
    requested: list[str] = []

    def remember(request: Request) -> None:
        requested.append(request.url)

    page.on("request", remember)
    page.goto(f"{site.url}/")
    assert page.url == f"{site.url}/login?next=/" or page.url.startswith(f"{site.url}/login")
    assert page.title().startswith("登录")
    assert page.get_by_role("heading", name="登录").is_visible()
    shot = tmp_path / "login.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000

    sign_in(page, site, "admin")
    header = page.locator("header.topbar")
    assert "admin · 平台管理员" in header.inner_text()
    assert page.get_by_role("navigation").get_by_role("link", name="系统普查").is_visible()
    assert page.evaluate("typeof htmx") == "object", "htmx should load from /static/vendor"
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

    # government networks are isolated: every request stays on the platform (no CDN)
    assert requested and all(url.startswith(site.url) for url in requested), requested


def test_a_wrong_password_is_refused_on_the_page(page: Page, site: DemoSite) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("用户名").fill("gongan")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码不正确"
    assert page.url.startswith(f"{site.url}/login")
