"""The national data standards ship with the platform; the operator adds local ones."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog import standards as std
from jutong.catalog.models import Classification, CodeSet, CodeValue, DataElement
from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.standards import VALIDATORS
from jutong.standards.codes import is_valid_region_code
from tests.conftest import Org


def _row_counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Classification, CodeSet, CodeValue, DataElement)
    )


def _values(session: Session, identifier: str) -> list[tuple[str, str]]:
    return [(v.code, v.label) for v in std.code_values(session, identifier)]


def test_loading_twice_changes_nothing(session: Session) -> None:
    first = std.load_national_standards(session)
    rows = _row_counts(session)
    assert std.load_national_standards(session) == first
    assert _row_counts(session) == rows
    assert first["code_sets"] == 5 and first["data_elements"] >= 40
    assert rows == (
        first["classifications"],
        first["code_sets"],
        first["code_values"],
        first["data_elements"],
    )


def test_an_install_loads_the_standards_once_per_version(session: Session) -> None:
    assert std.ensure_national_standards(session) is not None
    assert std.ensure_national_standards(session) is None  # the version marker says: already loaded


def test_a_reload_restores_labels_and_keeps_retired_codes(session: Session, standards: dict) -> None:
    sex = std.code_set_by_identifier(session, "GB/T 2261.1-2003")
    assert sex is not None
    male = next(v for v in std.code_values(session, sex) if v.code == "1")
    male.label = "男"
    session.add(CodeValue(code_set_id=sex.id, code="3", label="旧代码", position=9))
    session.flush()
    std.load_national_standards(session)
    values = {v.code: v for v in std.code_values(session, sex)}
    assert values["1"].label == "男性" and values["1"].valid
    assert not values["3"].valid  # kept for old data, no longer valid
    assert [v.code for v in std.code_values(session, sex, valid_only=True)] == ["0", "1", "2", "9"]


def test_sex_and_marital_status_codes(session: Session, standards: dict) -> None:
    assert _values(session, "GB/T 2261.1-2003") == [
        ("0", "未知的性别"),
        ("1", "男性"),
        ("2", "女性"),
        ("9", "未说明的性别"),
    ]
    marital = dict(_values(session, "GB/T 2261.2-2003"))
    assert marital == {
        "10": "未婚",
        "20": "已婚",
        "21": "初婚",
        "22": "再婚",
        "23": "复婚",
        "30": "丧偶",
        "40": "离婚",
        "90": "未说明的婚姻状况",
    }


def test_all_56_ethnicities_in_the_standards_order_plus_97_and_98(session: Session, standards: dict) -> None:
    values = _values(session, "GB 3304-1991")
    assert len(values) == 58
    assert values[0] == ("01", "汉族") and values[1] == ("02", "蒙古族") and values[55] == ("56", "基诺族")
    assert [code for code, _ in values[:56]] == [f"{n:02d}" for n in range(1, 57)]
    assert values[56:] == [("97", "其他"), ("98", "外国血统中国籍人士")]
    assert len({label for _, label in values}) == 58


def test_region_codes_cover_the_provinces_and_the_demo_province(session: Session, standards: dict) -> None:
    values = std.code_values(session, "GB/T 2260")
    by_code = {v.code: v for v in values}
    assert all(is_valid_region_code(v.code) for v in values)
    assert len([c for c in by_code if c.endswith("0000")]) == 34
    assert by_code["340000"].label == "安徽省" and by_code["341000"].label == "黄山市"
    assert len([v for v in values if v.parent_code == "340000"]) == 16
    assert [v.label for v in values if v.parent_code == "341000"] == [
        "屯溪区",
        "黄山区",
        "徽州区",
        "歙县",
        "休宁县",
        "黟县",
        "祁门县",
    ]
    relations = dict(_values(session, "GB/T 4761-2008"))
    assert relations["02"] == "户主" and relations["99"] == "非亲属"


def test_the_classification_tree(session: Session, standards: dict) -> None:
    tree = {c.code: c for c in std.list_classifications(session)}
    assert [tree[c].name for c in ("1", "2", "3")] == ["基础", "主题", "部门"]
    assert [c.name for c in tree.values() if c.parent_code == "1"] == [
        "人口",
        "法人单位",
        "自然资源和空间地理",
        "社会信用",
        "电子证照",
    ]
    assert len([c for c in tree.values() if c.parent_code == "2"]) == 12
    assert tree["212"].name == "应急维稳" and tree["308"].name == "计划单列市"
    assert (
        tree["101001"].name == "人口基本信息"
        and tree["101001"].level == 3
        and tree["101001"].parent_code == "101"
    )
    assert {"101002", "102001", "105001", "307001", "307030"} <= set(tree)


def test_national_data_elements(session: Session, standards: dict[str, DataElement]) -> None:
    names = {i: standards[i].name for i in ("DE0001", "DE0002", "DE0003", "DE0008", "DE0011", "DE0015")}
    assert names == {
        "DE0001": "公民身份号码",
        "DE0002": "姓名",
        "DE0003": "性别代码",
        "DE0008": "统一社会信用代码",
        "DE0011": "行政区划代码",
        "DE0015": "婚姻状况代码",
    }
    id_number = standards["DE0001"]
    assert (id_number.data_type, id_number.length, id_number.validator) == ("C", 18, "cn_id")
    assert id_number.sensitive and id_number.security_level == "important"
    assert standards["DE0008"].validator == "uscc" and not standards["DE0008"].sensitive
    for personal in ("DE0002", "DE0006", "DE0007"):  # 姓名 手机号码 住址
        assert standards[personal].sensitive and standards[personal].security_level == "important"
    assert not any(e.security_level == "core" for e in standards.values())
    sex = std.get_code_set(session, standards["DE0003"].code_set_id or 0)
    assert sex.identifier == "GB/T 2261.1-2003"
    assert all(e.validator in VALIDATORS for e in standards.values() if e.validator)
    for name in ("户号", "与户主关系代码", "结婚证字号", "注册资本", "经营范围", "持证主体代码", "备注"):
        assert any(e.name == name for e in standards.values()), name
    assert std.element_by_identifier(session, "DE0001") is id_number
    assert (
        std.get_element(session, "DE0001") is id_number
        and std.get_element(session, id_number.id) is id_number
    )


# ---------------------------------------------------------------- local additions


def test_the_operator_adds_local_data_elements(session: Session, org: Org, standards: dict) -> None:
    op = org.principal(org.operator)
    first = std.add_local_element(
        session, op, name="不动产单元号", data_type="字符型", length=28, format="an28"
    )
    second = std.add_local_element(
        session, op, name="救助类型", data_type="C", length=2, code_set="GB/T 2261.1-2003", sensitive=True
    )
    assert (first.identifier, second.identifier) == ("LDE0001", "LDE0002")
    assert first.source == "local" and first.data_type == "C" and second.code_set_id is not None
    assert [e.identifier for e in std.search_elements(session, q="不动产")] == ["LDE0001"]
    assert {e.identifier for e in std.search_elements(session, source="local")} == {"LDE0001", "LDE0002"}
    assert std.search_elements(session, q="de0001")[0].name == "公民身份号码"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "standards.add_element")).first()
    assert event is not None and event.actor_name == "op" and "LDE0001" in event.summary


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"identifier": "DE0001"}, "element_identifier_invalid", "标识符"),
        ({"data_type": "X"}, "data_type_invalid", "数据类型"),
        ({"length": 0}, "length_invalid", "长度"),
        ({"code_set": "GB 9999"}, "code_set_unknown", "代码集"),
        ({"validator": "passport"}, "validator_unknown", "校验规则"),
        ({"name": " "}, "name_required", "中文名称"),
        ({"security_level": "绝密"}, "security_level_invalid", "安全级别"),
    ],
)
def test_bad_local_elements_are_refused_naming_the_field(
    session: Session, org: Org, standards: dict, changes: dict, error: str, field: str
) -> None:
    values = {"name": "救助类型", "data_type": "C", "length": 2} | changes
    with pytest.raises(ValidationFailed) as caught:
        std.add_local_element(session, org.principal(org.operator), **values)
    assert caught.value.code == error and caught.value.message.startswith(field)


def test_a_duplicate_identifier_is_a_conflict(session: Session, org: Org, standards: dict) -> None:
    op = org.principal(org.operator)
    std.add_local_element(session, op, identifier="LDE0100", name="甲", data_type="C")
    with pytest.raises(Conflict) as caught:
        std.add_local_element(session, op, identifier="lde0100", name="乙", data_type="C")
    assert caught.value.code == "element_identifier_taken" and "LDE0100" in caught.value.message
    assert std.add_local_element(session, op, name="丙", data_type="C").identifier == "LDE0101"


def test_stewards_cannot_add_standards(session: Session, org: Org, standards: dict) -> None:
    steward = org.principal(org.steward)
    with pytest.raises(Forbidden):
        std.add_local_element(session, steward, name="甲", data_type="C")
    with pytest.raises(Forbidden):
        std.add_local_code_set(session, steward, identifier="X", name="甲", values=[std.ValueRow("1", "一")])
    with pytest.raises(Forbidden):
        std.add_local_classification(session, steward, code="101009", name="甲")


def test_a_local_code_set_from_pasted_lines(session: Session, org: Org, standards: dict) -> None:
    rows = std.parse_code_values(
        '代码,名称\n1,最低生活保障\n2，特困人员供养\n\n3\t临时救助\n31,"临时救助,急难型",3\n'
    )
    assert rows[1] == std.ValueRow("2", "特困人员供养") and rows[3].parent_code == "3"
    code_set = std.add_local_code_set(
        session, org.principal(org.operator), identifier="MZ-JZLX", name="救助类型代码", values=rows
    )
    assert code_set.source == "local"
    assert _values(session, "MZ-JZLX") == [
        ("1", "最低生活保障"),
        ("2", "特困人员供养"),
        ("3", "临时救助"),
        ("31", "临时救助,急难型"),
    ]
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "code_set")).all() == [
        "standards.add_code_set"
    ]


def test_a_gbk_upload_is_read(session: Session) -> None:
    data = "代码,名称\n1,城镇\n2,农村\n".encode("gbk")
    assert std.parse_code_values(std.decode_upload(data)) == [
        std.ValueRow("1", "城镇"),
        std.ValueRow("2", "农村"),
    ]
    assert std.decode_upload("\ufeff1,是\n".encode()) == "1,是\n"


@pytest.mark.parametrize(
    ("identifier", "text", "error"),
    [
        ("GB 3304-1991", "1,一", "code_set_identifier_taken"),
        ("", "1,一", "identifier_required"),
        ("LOCAL-1", "", "code_values_empty"),
        ("LOCAL-1", "1,一\n1,二", "code_value_duplicate"),
        ("LOCAL-1", "1,一\n2,二,9", "code_value_parent_missing"),
    ],
)
def test_bad_local_code_sets_are_refused(
    session: Session, org: Org, standards: dict, identifier: str, text: str, error: str
) -> None:
    with pytest.raises((ValidationFailed, Conflict)) as caught:
        std.add_local_code_set(
            session,
            org.principal(org.operator),
            identifier=identifier,
            name="测试",
            values=std.parse_code_values(text),
        )
    assert caught.value.code == error


def test_a_line_without_a_label_names_its_line(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        std.parse_code_values("1,一\n2")
    assert caught.value.code == "code_values_line_invalid" and "第 2 行" in caught.value.message


def test_local_classifications(session: Session, org: Org, standards: dict) -> None:
    op = org.principal(org.operator)
    item = std.add_local_classification(session, op, code="101004", name="流动人口登记")
    detail = std.add_local_classification(session, op, code="10100401", name="居住证")
    assert (item.level, item.parent_code, item.source) == (3, "101", "local")
    assert (detail.level, detail.parent_code) == (4, "101004")
    assert std.classification_by_code(session, "10100401") is not None


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        ("109001", "classification_parent_missing", "上级项“109”不存在"),
        ("10100901", "classification_parent_missing", "上级目“101009”不存在"),
        ("101", "classification_code_invalid", "只能新增目"),
        ("10a001", "classification_code_invalid", "纯数字"),
        ("101001", "classification_code_taken", "已存在"),
    ],
)
def test_bad_local_classifications_are_refused(
    session: Session, org: Org, standards: dict, code: str, error: str, words: str
) -> None:
    with pytest.raises((ValidationFailed, Conflict)) as caught:
        std.add_local_classification(session, org.principal(org.operator), code=code, name="测试")
    assert caught.value.code == error and words in caught.value.message
    assert caught.value.message.startswith("分类码")
