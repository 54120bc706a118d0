"""The ingest pages as people use them.

On both backends through the real app: the 公安局 steward saves a mapping for the police sex codes in
the form, uploads a file with it, follows the load to its page (counts, the identity, rejects, the
quality report) and downloads the rejects; an auditor reads the load but not its rejects; the operator
reads the list of failing resources. Then once in Chromium on the demo city: upload with the progress
bar, the load page that follows the load until it is done, the reject download link and the charts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jutong.core import jobs
from jutong.ingest.models import Load, Mapping, Source
from tests.conftest import Org, login
from tests.ingest.conftest import Resources
from tests.ingest.test_ingest_api import HEADER, csv_bytes, data_dir, person_id, worker  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser import DemoSite

pytest_plugins = ("tests.browser",)  # imported by pytest as a plugin first, so its asserts are rewritten

# Records, in the tab's session storage (it outlives the page), each upload progress event and what the
# page's bar and text showed then.
WATCH_PROGRESS = """() => {
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    this.upload.addEventListener("progress", (e) => {
      const seen = JSON.parse(sessionStorage.getItem("progress") || "[]");
      seen.push({ loaded: e.loaded, total: e.total, bar: document.getElementById("upload-progress").value,
                  text: document.getElementById("upload-percent").textContent });
      sessionStorage.setItem("progress", JSON.stringify(seen));
    });
    return send.call(this, body);
  };
}"""

POLICE_FILE = csv_bytes(
    f"{person_id(1)},张三,0,01,1985-01-01,341002",
    f"{person_id(2)},李四,1,01,1985-01-01,341002",
    f"{person_id(3)},王五,7,01,1985-01-01,341002",  # 7: not a police code, not a national one
    f"{person_id(4)},=1+2,0,01,1985-01-01,341002",  # formula injection
    header=HEADER.replace("性别代码", "性别"),
)


def _switch(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return login(client, username)


def test_a_steward_maps_uploads_and_reads_the_load_and_its_quality_through_the_pages(
    client: TestClient,
    session: Session,
    org: Org,
    resources: Resources,
    worker: None,  # noqa: F811
    data_dir: Path,  # noqa: F811
) -> None:
    rid = resources.population.id
    csrf = login(client, "ga_steward")
    home = client.get("/")
    assert 'href="/ingest"' in home.text and 'href="/ingest/quality"' in home.text  # in the menu
    listing = client.get("/ingest")
    assert "常住人口基础信息" in listing.text and "最低生活保障对象信息" not in listing.text  # own department

    page = client.get(f"/ingest/resources/{rid}")
    assert page.status_code == 200 and 'id="upload-form"' in page.text and "/static/ingest.js" in page.text

    form = client.get(f"/ingest/resources/{rid}/mappings/new")
    assert form.status_code == 200 and 'name="val-xbdm"' in form.text and "GB/T 2261.1" in form.text
    saved = client.post(
        f"/ingest/resources/{rid}/mappings",
        data={"csrf_token": csrf, "name": "公安性别", "col-xbdm": "性别", "val-xbdm": "0=1\n1=2"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    mapping = session.scalars(select(Mapping).where(Mapping.resource_id == rid)).one()
    assert mapping.columns == {"性别": "xbdm"} and mapping.values == {"xbdm": {"0": "1", "1": "2"}}
    bad = client.post(
        f"/ingest/resources/{rid}/mappings",
        data={"csrf_token": csrf, "name": "坏的", "val-xbdm": "0 1"},
    )
    assert bad.status_code == 422 and "每行写一对“源值=标准代码”" in bad.text

    sent = client.post(
        f"/ingest/resources/{rid}/loads",
        data={"csrf_token": csrf, "mode": "full", "mapping": "公安性别"},
        files={"file": ("公安人口.csv", POLICE_FILE, "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    load_id = int(location.rsplit("/", 1)[1])
    waiting = client.get(location)
    assert "排队中" in waiting.text and f'hx-get="/ingest/loads/{load_id}/status"' in waiting.text
    assert 'hx-trigger="every 2s"' in client.get(f"/ingest/resources/{rid}").text  # the loads table polls

    assert jobs.run_due() == 1
    status = client.get(f"/ingest/loads/{load_id}/status", headers={"HX-Request": "true"})
    assert status.headers.get("hx-refresh") == "true"  # done: the page reloads itself
    done = client.get(location)
    assert "成功" in done.text and "计数一致" in done.text and 'data-identity="ok"' in done.text
    assert re.search(r'id="count-read">4<', done.text) and re.search(r'id="count-rejected">2<', done.text)
    assert "疑似公式注入" in done.text and "不在 GB/T 2261.1-2003 代码集中" in done.text
    assert f"/ingest/loads/{load_id}/rejects/download?format=csv" in done.text
    assert f"/ingest/loads/{load_id}/rejects/download?format=xlsx" in done.text
    assert 'id="rule-chart"' in done.text and "echarts.min.js" in done.text
    stored = session.execute(text(f"SELECT xbdm FROM dp_{rid} ORDER BY gmsfhm")).scalars().all()
    assert stored == ["1", "2"]  # the police's 0/1 became GB/T 2261.1's 1/2

    csv_file = client.get(f"/ingest/loads/{load_id}/rejects/download?format=csv")
    assert csv_file.status_code == 200 and csv_file.content.startswith(b"\xef\xbb\xbf")
    assert "'=1+2" in csv_file.content.decode("utf-8-sig")

    report = client.get(f"/ingest/resources/{rid}/quality")
    assert report.status_code == 200 and 'id="score-chart"' in report.text and "质量得分" in report.text
    assert "不通过" in report.text and "代码集" in report.text
    changes = client.get(f"/ingest/resources/{rid}").text
    assert "基线版本" in changes and "公安性别" in changes

    # a source, saved in the form; its password never shows
    url = "mysql+pymysql://etl:hunter2@10.0.0.8/rk"
    made = client.post(
        f"/ingest/resources/{rid}/sources",
        data={"csrf_token": csrf, "name": "人口库", "kind": "sql", "url": url, "query": "SELECT * FROM rk"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    shown = client.get(f"/ingest/resources/{rid}")
    assert "人口库" in shown.text and "hunter2" not in shown.text and "立即拉取" in shown.text
    assert session.scalars(select(Source).where(Source.resource_id == rid)).one().config["url"] == url

    # the auditor reads the load and its quality, not the rejects
    _switch(client, "auditor")
    seen = client.get(location)
    assert seen.status_code == 200 and "计数一致" in seen.text and "=1+2" not in seen.text
    assert (
        "只对提供部门的数据管理员和平台管理员开放" in seen.text
        and 'id="upload-form"' not in client.get(f"/ingest/resources/{rid}").text
    )
    assert client.get(f"/ingest/loads/{load_id}/rejects/download?format=csv").status_code == 403
    # another department's steward and a consumer get nothing
    _switch(client, "mz_steward")
    assert client.get(location, headers={"Accept": "text/html"}).status_code == 403
    _switch(client, "mz_consumer")
    assert client.get("/ingest/quality", headers={"Accept": "text/html"}).status_code == 403


def test_the_operator_reads_failing_and_never_loaded_resources(
    client: TestClient,
    session: Session,
    org: Org,
    resources: Resources,
    worker: None,  # noqa: F811
    data_dir: Path,  # noqa: F811
) -> None:
    csrf = login(client, "ga_steward")
    sent = client.post(
        f"/ingest/resources/{resources.population.id}/loads",
        data={"csrf_token": csrf, "mode": "full"},
        files={"file": ("坏.csv", "只有一列\n值\n".encode(), "text/csv")},
        headers={"Accept": "application/json"},
    )
    assert sent.status_code == 202 and sent.json()["location"].startswith("/ingest/loads/")
    jobs.run_due()
    failed = client.get(sent.json()["location"])
    assert "归集失败" in failed.text and "columns_missing" in failed.text

    refused = client.post(
        f"/ingest/resources/{resources.population.id}/loads",
        data={"csrf_token": csrf, "mode": "full"},
        files={"file": ("空.csv", b"", "text/csv")},
    )
    assert refused.status_code == 422 and "是空的" in refused.text

    _switch(client, "op")
    overview = client.get("/ingest/quality")
    assert overview.status_code == 200
    failing = overview.text.split('id="failing"')[1].split("</section>")[0]
    assert "常住人口基础信息" in failing and "最近一次归集失败" in failing
    never = overview.text.split('id="never"')[1].split("</section>")[0]
    assert "最低生活保障对象信息" in never
    assert session.scalar(select(Load.status)) == "failed"


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_upload_with_progress_then_the_load_page_the_reject_download_and_the_charts_in_chromium(
    site: DemoSite,
    page: Page,
    data_dir: Path,  # noqa: F811
) -> None:
    from jutong.catalog.models import Resource
    from tests.browser import sign_in

    tmp_path = data_dir
    with site.session() as session:
        rid = session.scalar(select(Resource.id).where(Resource.name == "常住人口基础信息"))
    assert rid is not None
    sign_in(page, site, "gongan")
    page.get_by_role("navigation").get_by_role("link", name="数据归集", exact=True).click()
    page.get_by_role("link", name="常住人口基础信息").click()
    page.wait_for_url(f"{site.url}/ingest/resources/{rid}")

    rows = [f"{person_id(n)},居民{n},{1 + n % 2},01,1985-01-01,341002" for n in range(1, 200)]
    rows.append(f"{person_id(1)}0,坏号码,1,01,1985-01-01,341002")
    path = tmp_path / "常住人口.csv"
    path.write_bytes(csv_bytes(*rows))
    page.locator('input[name="file"]').set_input_files(str(path))
    # first the server refuses it (answered here, as a too large upload would be): the page says why
    refusal = '{"code": "file_too_large", "message": "上传的文件超过平台上限 1.0 KB", "detail": {"fix": "请分批上传"}}'
    page.route(
        "**/ingest/resources/*/loads",
        lambda route: route.fulfill(status=413, content_type="application/json", body=refusal),
    )
    page.get_by_role("button", name="上传并归集").click()
    page.get_by_text("上传的文件超过平台上限 1.0 KB。请分批上传").wait_for()
    assert page.locator("#upload-progress").is_visible()
    page.unroute("**/ingest/resources/*/loads")

    # then for real: note what the progress bar shows at each upload progress event the browser fires
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="上传并归集").click()
    page.wait_for_url(re.compile(rf"{site.url}/ingest/loads/\d+$"))
    shown = page.evaluate("() => JSON.parse(sessionStorage.getItem('progress') || '[]')")
    assert shown and shown[-1]["loaded"] == shown[-1]["total"] >= path.stat().st_size
    assert shown[-1]["bar"] == 100 and shown[-1]["text"].startswith("100%")
    assert page.locator("#load-status [data-status]").get_attribute("data-status") in ("queued", "running")

    assert jobs.run_due() >= 1  # the background worker's pass
    page.locator('#load-status [data-status="succeeded"]').wait_for(
        timeout=15_000
    )  # the page polls, then reloads
    page.locator("#count-read").wait_for()
    assert page.locator("#count-read").inner_text() == "200"
    assert page.locator("#count-rejected").inner_text() == "1"
    assert page.locator("p.identity .tag").inner_text() == "计数一致"

    with page.expect_download() as download:
        page.get_by_role("button", name="下载 CSV").click()
    saved = tmp_path / "rejects.csv"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"\xef\xbb\xbf") and "坏号码" in saved.read_text("utf-8-sig")

    page.get_by_role("link", name="查看该资源历次归集的质量变化").click()
    page.wait_for_url(f"{site.url}/ingest/resources/{rid}/quality")
    page.locator("#score-chart canvas").first.wait_for()
    page.locator("#rule-chart canvas").first.wait_for()
    assert page.locator("table.checks tbody tr").count() > 5
