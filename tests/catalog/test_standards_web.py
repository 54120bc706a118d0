"""The data standards in the browser and over the API: everyone signed in reads, the operator adds."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement, DataItem, Resource, ResourceStatus
from jutong.catalog.standards import code_set_by_identifier, element_by_identifier
from tests.conftest import Org, api_headers, login

Elements = dict[str, DataElement]


def _published_resource(session: Session, org: Org, standards: Elements) -> Resource:
    resource = Resource(
        code="101001/000001",
        classification_code="101001",
        name="常住人口基础信息",
        department_id=org.police.id,
        format_category="database",
        share_type="conditional",
        share_condition="用于政务服务身份核验",
        delivery="api",
        update_cycle="daily",
        status=ResourceStatus.published.value,
        published_version=1,
    )
    session.add(resource)
    session.flush()
    session.add(
        DataItem(
            resource_id=resource.id,
            position=1,
            name="身份证号",
            column_name="sfzh",
            element_id=standards["DE0001"].id,
            data_type="C",
            length=18,
            is_key=True,
            sensitive=True,
            security_level="important",
        )
    )
    session.commit()
    return resource


def test_a_steward_browses_elements_and_code_sets(
    client: TestClient, org: Org, session: Session, standards: Elements
) -> None:
    login(client, "ga_steward")
    page = client.get("/standards")
    assert page.status_code == 200
    assert "公民身份号码" in page.text and "GB 3304-1991" in page.text and "基诺族" not in page.text
    assert "新增本地数据元" not in page.text  # the operator's forms are not offered
    found = client.get("/standards", params={"q": "身份"})
    assert "公民身份号码" in found.text and "统一社会信用代码" not in found.text
    assert "没有符合条件的数据元" in client.get("/standards", params={"source": "local"}).text

    ethnicity = code_set_by_identifier(session, "GB 3304-1991")
    assert ethnicity is not None
    values = client.get(f"/standards/code-sets/{ethnicity.id}")
    assert (
        values.status_code == 200
        and "01" in values.text
        and "汉族" in values.text
        and "基诺族" in values.text
    )
    assert "民族代码" in values.text  # the element that uses it


def test_the_element_page_lists_the_published_resources_using_it(
    client: TestClient, org: Org, session: Session, standards: Elements
) -> None:
    _published_resource(session, org, standards)
    login(client, "mz_consumer")
    page = client.get(f"/standards/elements/{standards['DE0001'].id}")
    assert page.status_code == 200
    assert "公民身份号码" in page.text and "居民身份证号码（GB 11643）" in page.text and "重要" in page.text
    assert "常住人口基础信息" in page.text and "101001/000001" in page.text and "市公安局" in page.text
    unused = client.get(f"/standards/elements/{standards['DE0035'].id}")
    assert "还没有已发布的资源使用本数据元" in unused.text
    assert client.get("/standards/elements/999999").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, standards: Elements) -> None:
    response = client.get("/standards", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code in (302, 303, 307) and "/login" in response.headers["location"]
    assert client.get("/api/v1/standards/elements").status_code == 401


def test_the_operator_adds_a_local_element_in_the_form(
    client: TestClient, org: Org, session: Session, standards: Elements
) -> None:
    csrf = login(client, "op")
    assert "新增本地数据元" in client.get("/standards").text
    assert client.get("/standards/elements/new").status_code == 200
    form = {"csrf_token": csrf, "name": "不动产单元号", "data_type": "C", "length": "28", "format": "an28"}
    created = client.post("/standards/elements", data=form, follow_redirects=False)
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert "已新增本地数据元 LDE0001 不动产单元号" in page.text and "本地扩展" in page.text

    bad = client.post("/standards/elements", data=form | {"length": "0", "name": "宗地代码"})
    assert bad.status_code == 422 and "长度：须为正整数" in bad.text and "宗地代码" in bad.text
    unknown = client.post("/standards/elements", data=form | {"name": "宗地代码", "code_set": "GB 0000"})
    assert unknown.status_code == 422 and "代码集：“GB 0000”不存在" in unknown.text
    taken = client.post("/standards/elements", data=form | {"identifier": "LDE0001"})
    assert taken.status_code == 409 and "已存在" in taken.text
    session.expire_all()
    assert element_by_identifier(session, "LDE0002") is None


def test_the_operator_uploads_a_gbk_code_set(
    client: TestClient, org: Org, session: Session, standards: Elements
) -> None:
    csrf = login(client, "op")
    assert client.get("/standards/code-sets/new").status_code == 200
    upload = "代码,名称\n1,城镇\n2,农村\n".encode("gbk")
    created = client.post(
        "/standards/code-sets",
        data={"csrf_token": csrf, "identifier": "LOCAL-CXLX", "name": "城乡类型代码"},
        files={"file": ("城乡.csv", upload, "text/csv")},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"])
    assert "城乡类型代码" in page.text and "农村" in page.text

    pasted = client.post(
        "/standards/code-sets",
        data={"csrf_token": csrf, "identifier": "LOCAL-2", "name": "测试", "values": "1,一\n1,二"},
    )
    assert pasted.status_code == 422 and "代码“1”重复出现" in pasted.text


def test_the_operator_adds_a_local_classification(client: TestClient, org: Org, standards: Elements) -> None:
    csrf = login(client, "op")
    assert "101001" in client.get("/standards/classifications/new").text
    created = client.post(
        "/standards/classifications",
        data={"csrf_token": csrf, "code": "101004", "name": "流动人口登记"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert "流动人口登记" in client.get("/standards").text
    missing = client.post(
        "/standards/classifications", data={"csrf_token": csrf, "code": "109001", "name": "甲"}
    )
    assert missing.status_code == 422 and "上级项“109”不存在" in missing.text


def test_stewards_are_refused_the_operators_forms(client: TestClient, org: Org, standards: Elements) -> None:
    csrf = login(client, "ga_steward")
    assert client.get("/standards/elements/new").status_code == 403
    refused = client.post("/standards/elements", data={"csrf_token": csrf, "name": "甲", "data_type": "C"})
    assert refused.status_code == 403
    assert client.post("/standards/code-sets", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/standards/classifications", data={"csrf_token": csrf}).status_code == 403


def test_the_api_reads_standards(client: TestClient, org: Org, session: Session, standards: Elements) -> None:
    headers = api_headers(session, org.consumer)
    sets = client.get("/api/v1/standards/code-sets", headers=headers).json()
    assert {s["identifier"]: s["value_count"] for s in sets}["GB 3304-1991"] == 58
    sex = client.get("/api/v1/standards/code-sets/GB/T 2261.1-2003", headers=headers)
    assert sex.status_code == 200
    assert [(v["code"], v["label"]) for v in sex.json()["values"]][:3] == [
        ("0", "未知的性别"),
        ("1", "男性"),
        ("2", "女性"),
    ]
    by_id = client.get(f"/api/v1/standards/code-sets/{sex.json()['id']}", headers=headers)
    assert by_id.json()["identifier"] == "GB/T 2261.1-2003"
    missing = client.get("/api/v1/standards/code-sets/GB 0000", headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "code_set_not_found"

    found = client.get("/api/v1/standards/elements", params={"q": "身份"}, headers=headers).json()
    assert [e["identifier"] for e in found] == ["DE0001", "DE0043"]  # 公民身份号码, 身份证件号码
    assert found[0]["validator"] == "cn_id" and found[0]["security_level_label"] == "重要"
    sex_code = client.get("/api/v1/standards/elements/DE0003", headers=headers).json()
    assert sex_code["code_set"] == "GB/T 2261.1-2003" and sex_code["used_by"] == []
    assert client.get("/api/v1/standards/elements", params={"source": "local"}, headers=headers).json() == []
    tree = client.get("/api/v1/standards/classifications", headers=headers).json()
    population = next(c for c in tree if c["code"] == "101")
    assert (population["name"], population["level"], population["parent_code"]) == ("人口", 2, "1")


def test_the_api_adds_local_standards_for_the_operator_only(
    client: TestClient, org: Org, session: Session, standards: Elements
) -> None:
    op = api_headers(session, org.operator)
    steward = api_headers(session, org.steward)
    element = {"name": "不动产单元号", "data_type": "字符型", "length": 28, "security_level": "一般"}
    assert client.post("/api/v1/standards/elements", json=element, headers=steward).status_code == 403
    created = client.post("/api/v1/standards/elements", json=element, headers=op)
    assert created.status_code == 201 and created.json()["identifier"] == "LDE0001"
    assert created.json()["source"] == "local" and created.json()["data_type"] == "C"
    bad = client.post("/api/v1/standards/elements", json=element | {"data_type": "Z"}, headers=op)
    assert bad.status_code == 422 and bad.json()["code"] == "data_type_invalid"
    assert bad.json()["message"].startswith("数据类型") and bad.json()["detail"]["field"] == "data_type"

    code_set = {
        "identifier": "LOCAL-CXLX",
        "name": "城乡类型代码",
        "values": [{"code": "1", "label": "城镇"}],
    }
    assert client.post("/api/v1/standards/code-sets", json=code_set, headers=steward).status_code == 403
    made = client.post("/api/v1/standards/code-sets", json=code_set, headers=op)
    assert made.status_code == 201 and made.json()["values"][0]["label"] == "城镇"
    again = client.post("/api/v1/standards/code-sets", json=code_set, headers=op)
    assert again.status_code == 409 and again.json()["code"] == "code_set_identifier_taken"

    node = {"code": "10100101", "name": "人口基本信息（常住）"}
    assert client.post("/api/v1/standards/classifications", json=node, headers=steward).status_code == 403
    added = client.post("/api/v1/standards/classifications", json=node, headers=op)
    assert added.status_code == 201 and added.json()["level"] == 4 and added.json()["parent_code"] == "101001"
