"""Region code shapes (GB/T 2260), mobile numbers, the 15→18 ID upgrade and the validator registry."""

from __future__ import annotations

import pytest

from jutong.standards import VALIDATOR_NAMES, VALIDATORS
from jutong.standards.codes import (
    PROVINCE_PREFIXES,
    is_valid_cn_id,
    is_valid_mobile,
    is_valid_region_code,
    region_level,
    upgrade_cn_id_15,
)


def test_all_34_provincial_units_have_a_prefix() -> None:
    assert len(PROVINCE_PREFIXES) == 34
    assert {"11", "34", "65", "71", "81", "82"} <= PROVINCE_PREFIXES


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("340000", "province"),  # 安徽省
        ("341000", "prefecture"),  # 黄山市
        ("341021", "county"),  # 歙县
        ("110101", "county"),  # 东城区, under 01 市辖区
        ("429004", "county"),  # 仙桃市, 90 省直辖县级
    ],
)
def test_region_codes_have_a_level(code: str, level: str) -> None:
    assert region_level(code) == level
    assert is_valid_region_code(code)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("990000", "no province 99"),
        ("160000", "no province 16"),
        ("340021", "a county part under no prefecture part"),
        ("34100", "5 digits"),
        ("34100A", "a letter"),
        ("", "empty"),
    ],
)
def test_bad_region_codes_are_refused(code: str, why: str) -> None:
    assert not is_valid_region_code(code), why


@pytest.mark.parametrize("number", ["13812345678", "19912345678", "+86 138 1234 5678", "8613812345678"])
def test_mobile_numbers(number: str) -> None:
    assert is_valid_mobile(number)


@pytest.mark.parametrize("number", ["12812345678", "1381234567", "138123456789", "0551-1234567", ""])
def test_not_mobile_numbers(number: str) -> None:
    assert not is_valid_mobile(number)


def test_a_15_digit_id_is_upgraded_to_the_standards_example() -> None:
    # 110105 491231 002: insert 19 before the birth year, then the MOD 11-2 check character (X)
    upgraded = upgrade_cn_id_15("110105491231002")
    assert upgraded == "11010519491231002X"
    assert is_valid_cn_id(upgraded)
    assert upgrade_cn_id_15(" 110101900307807 ") == "110101199003078072"


@pytest.mark.parametrize(
    "value", ["11010549123100", "110105491331002", "11010549123100X", "11010519491231002X"]
)
def test_only_real_15_digit_ids_upgrade(value: str) -> None:
    with pytest.raises(ValueError):
        upgrade_cn_id_15(value)


def test_validators_by_id_with_chinese_names() -> None:
    assert set(VALIDATORS) == {"cn_id", "uscc", "org_code", "region_code", "mobile"} == set(VALIDATOR_NAMES)
    assert VALIDATORS["cn_id"]("11010519491231002X")
    assert not VALIDATORS["cn_id"]("110105194912310021")
    assert VALIDATORS["uscc"]("91350100M000100Y43") and VALIDATORS["uscc"]("91110108MA01ABCD5T")
    assert not VALIDATORS["uscc"]("91350100M000100Y44")
    assert VALIDATORS["org_code"]("M000100Y-4")
    assert VALIDATORS["region_code"]("341002") and VALIDATORS["mobile"]("13912345678")
    assert "身份证" in VALIDATOR_NAMES["cn_id"] and "统一社会信用代码" in VALIDATOR_NAMES["uscc"]
