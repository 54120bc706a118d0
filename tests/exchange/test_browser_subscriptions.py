"""A subscription made in Chromium, on the demo city (示范市).

人社局's user holds a grant on 公安局's 常住人口基础信息; she opens 数据订阅 from the menu, subscribes a
webhook with the form, copies the signing secret shown once, finds the subscription in her list with its
address masked, and cancels it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page
from sqlalchemy import delete, select

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.registry import accounts
from jutong.registry.models import Department, User
from jutong.sharing import grants
from jutong.sharing.models import Grant, Subscription
from tests.browser import DemoSite, sign_in

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

HOOK = "https://rs.example.gov.cn/jutong/hook?token=rs-s3cret"


@pytest.fixture
def grant(site: DemoSite) -> Iterator[Grant]:
    """人社局's grant on the population resource; removed afterwards with its subscriptions, so the
    shared demo database is as the other browser tests expect it."""
    with site.session() as session:
        resource = session.scalar(select(Resource).where(Resource.name == "常住人口基础信息"))
        renshe = session.scalar(select(Department).where(Department.code == "RS"))
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert resource and renshe and admin
        items = [str(i["column_name"]) for i in grants.resource_items(session, resource)][:2]
        today = clock.today()
        made = grants.create_grant(
            session,
            accounts.principal_for(admin, via="session"),
            request=None,
            resource=resource,
            consumer_department_id=renshe.id,
            items=items,
            masking=None,
            application_ids=[],
            purpose="社会保险待遇资格认证",
            delivery="api",
            starts_on=today - timedelta(days=1),
            expires_on=today + timedelta(days=180),
            daily_quota=None,
        )
        session.commit()
    try:
        yield made
    finally:
        with site.session() as session:
            session.execute(delete(Subscription).where(Subscription.grant_id == made.id))
            session.execute(delete(Grant).where(Grant.id == made.id))
            session.commit()


def test_a_consumer_subscribes_a_webhook_through_the_form_and_cancels_it(
    site: DemoSite, page: Page, grant: Grant, tmp_path: Path
) -> None:
    sign_in(page, site, "renshe")
    page.get_by_role("navigation").get_by_role("link", name="数据订阅", exact=True).click()
    page.wait_for_url(f"{site.url}/sharing/subscriptions")

    form = page.locator("#subscribe form")
    form.locator('select[name="grant_id"]').select_option(str(grant.id))
    form.locator('select[name="kind"]').select_option("webhook")
    page.get_by_label("接收推送的网址（HTTP 推送）").fill(HOOK)
    page.get_by_role("button", name="创建订阅").click()
    page.wait_for_load_state("load")

    secret = page.locator("#new-secret").inner_text()
    assert len(secret) == 64
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("订阅 ") and "常住人口基础信息" in heading
    with site.session() as session:
        sub = session.scalar(select(Subscription).where(Subscription.grant_id == grant.id))
    assert sub is not None and sub.secret == secret and sub.target["url"] == HOOK and sub.status == "active"
    page.screenshot(path=str(tmp_path / "created.png"), full_page=True)

    # the list: the new subscription, its address without the token, and no secret
    page.get_by_role("navigation").get_by_role("link", name="数据订阅", exact=True).click()
    page.wait_for_url(f"{site.url}/sharing/subscriptions")
    row = page.locator("#subscriptions tbody tr", has=page.get_by_role("link", name=str(sub.id), exact=True))
    text = row.inner_text()
    assert "HTTP 推送" in text and "https://rs.example.gov.cn/jutong/hook?…" in text and "运行中" in text
    page.screenshot(path=str(tmp_path / "list.png"), full_page=True)
    html = page.content()
    assert secret not in html and "rs-s3cret" not in html

    # cancel from the detail page
    row.get_by_role("link", name=str(sub.id), exact=True).click()
    page.wait_for_url(f"{site.url}/sharing/subscriptions/{sub.id}")
    assert page.locator("#new-secret").count() == 0  # shown once only
    page.get_by_role("button", name="取消订阅").click()
    page.wait_for_url(f"{site.url}/sharing/subscriptions/{sub.id}?done=cancelled")
    assert page.locator("#status").inner_text() == "已停止"
    with site.session() as session:
        assert session.scalar(select(Subscription.status).where(Subscription.id == sub.id)) == "stopped"
