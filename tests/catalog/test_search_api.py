"""Catalog search through the API and the /catalog page, as a program and a person use them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from tests.catalog.test_search import Spec, make_catalog, publish
from tests.conftest import Org, api_headers, login

API = "/api/v1/catalog/search"


@pytest.fixture
def catalog(session: Session, org: Org) -> dict[str, Resource]:
    return make_catalog(session, org)


def test_the_api_answers_with_items_facets_and_paging(
    client: TestClient, session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    headers = api_headers(session, org.consumer)
    body = client.get(API, params={"q": "社保", "size": 1}, headers=headers).json()
    assert {"total", "items", "facets", "page", "size"} <= body.keys()
    assert body["total"] == 2 and body["page"] == 1 and body["size"] == 1 and len(body["items"]) == 1
    item = body["items"][0]
    assert item["name"] in {"社会保险参保信息", "社保缴费明细"}
    assert item["url"] == f"/catalog/resources/{item['resource_id']}"
    assert {
        "code",
        "department_name",
        "snippet",
        "share_type_label",
        "open_type_label",
        "update_cycle_label",
    } <= item.keys()
    assert item["publish_date"] and item["version"] == 1
    departments = body["facets"]["department"]
    assert departments == [{"value": str(org.civil.id), "label": "市民政局", "count": 2, "selected": False}]
    assert set(body["facets"]) == {
        "department", "category", "classification", "share_type", "open_type", "format", "update_cycle"
    }  # fmt: skip

    filtered = client.get(
        f"{API}?q=信息&share_type=conditional&share_type=none,unconditional&sort=name", headers=headers
    )
    assert filtered.status_code == 200 and filtered.json()["total"] == 5
    names = [i["name"] for i in filtered.json()["items"]]
    assert names == sorted(names)


def test_the_api_refuses_big_pages_bad_filters_and_strangers(
    client: TestClient, session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    headers = api_headers(session, org.auditor)
    too_big = client.get(API, params={"q": "人口", "size": 500}, headers=headers)
    assert too_big.status_code == 422
    assert too_big.json()["code"] == "page_size_invalid" and "每页条数" in too_big.json()["message"]
    bad = client.get(API, params={"open_type": "随便"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "search_filter_invalid"
    assert client.get(API, params={"sort": "random"}, headers=headers).json()["code"] == "search_sort_invalid"
    assert client.get(API, params={"q": '" AND ('}, headers=headers).status_code == 200
    assert client.get(API, params={"q": "人口"}).status_code == 401


def test_the_catalog_page_searches_with_facets_sorting_and_pages(
    client: TestClient, org: Org, catalog: dict[str, Resource]
) -> None:
    login(client, "mz_consumer")
    page = client.get("/catalog", params={"q": "社保"})
    assert page.status_code == 200
    assert "<mark>社会保险</mark>参保信息" in page.text and "<mark>社保</mark>缴费明细" in page.text
    assert f'href="/catalog/resources/{catalog["社会保险"].id}"' in page.text
    assert re.search(
        r'name="share_type" value="conditional"[^>]*>\s*<span>有条件共享</span> <span class="muted num">1</span>',
        page.text,
    )
    assert 'name="q" value="社保"' in page.text and '<option value="relevance" selected>' in page.text

    ticked = client.get("/catalog", params={"q": "社保", "share_type": "none"})
    assert "缴费明细" in ticked.text and "参保信息" not in ticked.text
    assert 'name="share_type" value="none" checked' in ticked.text

    # htmx refreshes only the results and facets
    partial = client.get("/catalog?q=社保", headers={"HX-Request": "true", "HX-Target": "search-body"})
    assert "<html" not in partial.text and 'class="search-layout"' in partial.text

    odd = client.get("/catalog", params={"sort": "random", "share_type": "随便"})
    assert odd.status_code == 200 and "无效" in odd.text
    assert "<script>" not in client.get("/catalog", params={"q": "<script>"}).text.split("</header>")[1]


def test_the_catalog_page_pages_through_many_entries(
    client: TestClient, session: Session, org: Org, catalog: dict[str, Resource]
) -> None:
    login(client, "op")
    first = client.get("/catalog", params={"sort": "name"})
    assert "第 1 / 1 页" not in first.text  # six entries fit one page: no pager
    for n in range(25):
        publish(session, org.police, Spec(f"治安卡口{n:02d}"))
    session.commit()
    page2 = client.get("/catalog", params={"q": "卡口", "page": 2})
    assert "第 2 / 2 页" in page2.text and "上一页" in page2.text
    assert page2.text.count('class="hit"') == 5
