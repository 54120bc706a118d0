"""Page tests in a real browser: Debian's Chromium driven by Playwright against a real uvicorn server.

The server runs in a background thread on 127.0.0.1 and a free port, on its own SQLite file
with the migrations applied and the demo city (示范市) loaded and committed, so what the
browser sees is what ``make demo`` shows. Playwright never downloads a browser: it launches
``/usr/bin/chromium`` (``make test`` installs it from the system packages when missing).

Test modules load these fixtures with ``pytest_plugins = ("tests.browser",)`` and mark
themselves ``browser`` and ``xdist_group("browser")`` so one worker runs them all, sharing
one server (and one browser per module).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from jutong.core import audit, db
from jutong.core.migrate import upgrade
from jutong.demo.city import DemoCity
from jutong.demo.load import load_demo
from jutong.registry.models import InformationSystem
from tests.servers import serving

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Chromium is required in CI and skipped, with the reason, elsewhere."""
    if CHROMIUM.exists():
        return
    message = f"找不到 {CHROMIUM}：页面测试需要 Debian 的 chromium（make test 会自动安装；或 apt-get install chromium）"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class DemoSite:
    """The demo city served over HTTP."""

    url: str
    engine: Engine
    city: DemoCity

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def system_id(self, name: str) -> int:
        with self.session() as session:
            found = session.scalar(select(InformationSystem.id).where(InformationSystem.name == name))
        assert found is not None, f"示范市中没有系统“{name}”"
        return found

    def password(self, username: str) -> str:
        return next(u.password for u in self.city.users if u.username == username)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """One uvicorn server per test session on a committed demo database."""
    require_chromium()  # no browser, nothing to serve
    from jutong.web.app import create_app

    path = tmp_path_factory.mktemp("browser-db") / "jutong.db"
    engine = db.make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with Session(engine) as session:
        report = load_demo(session)
        audit.seal_all(session)  # as `jutong demo` does
        session.commit()

    try:
        # the background sealer would use the platform's global engine, so it stays off here
        with serving(create_app(seal_audit=False)) as url:
            yield DemoSite(url=url, engine=engine, city=report.city)
    finally:
        engine.dispose()


@pytest.fixture
def site(demo_server: DemoSite, monkeypatch: pytest.MonkeyPatch) -> DemoSite:
    """The demo server, with the platform pointed at its database for the length of one test."""
    from jutong.web import deps

    factory = sessionmaker(bind=demo_server.engine, expire_on_commit=False)
    monkeypatch.setattr(deps, "session_factory", factory)
    monkeypatch.setattr(db, "_engine", demo_server.engine)
    monkeypatch.setattr(db, "_session_factory", factory)
    return demo_server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser per test module. Not per session: Playwright's sync API keeps an asyncio loop
    marked as running in this thread while it is started, which would break later tests in the
    same worker that call ``anyio.run``."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test."""
    ctx = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, site: DemoSite, username: str, password: str | None = None) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{site.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password or site.password(username))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{site.url}/")


def csrf_token(page: Page) -> str:
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token, "page has no CSRF token"
    return token
