"""Check characters of 身份证号 and 统一社会信用代码, on the worked examples of STANDARDS.md §4."""

from __future__ import annotations

import pytest

from jutong.standards.codes import (
    cn_id_check_char,
    is_valid_cn_id,
    is_valid_org_code,
    is_valid_uscc,
    org_code_check_char,
    uscc_check_char,
)


def test_the_standards_own_id_example_ends_in_x() -> None:
    # GB 11643 example: 北京朝阳, 1949-12-31, 顺序码 002 (女); Σ=167, 167 mod 11 = 2 → X
    assert cn_id_check_char("11010519491231002") == "X"
    assert is_valid_cn_id("11010519491231002X")
    assert is_valid_cn_id("11010519491231002x")  # lower-case x is accepted
    assert is_valid_cn_id(" 110101199003078072 ")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("110105194912310021", "wrong check character"),
        ("110101199002308072", "2月30日 does not exist"),
        ("010101199003078072", "address code cannot start with 0"),
        ("11010117990307807X", "birth year before 1800"),
        ("11010119900307807", "17 characters"),
        ("", "empty"),
    ],
)
def test_bad_id_numbers_are_refused(value: str, why: str) -> None:
    assert not is_valid_cn_id(value), why


def test_the_credit_code_example_checks_both_characters() -> None:
    # 前 17 位加权和 1640, 1640 mod 31 = 28, 31-28 = 3; 内嵌组织机构代码 M000100Y → 4
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert org_code_check_char("M000100Y") == "4"
    assert is_valid_uscc("91350100M000100Y43")
    assert is_valid_org_code("M000100Y-4")
    assert is_valid_uscc("91110108MA01ABCD5T")
    assert is_valid_uscc("91110108ma01abcd5t")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("91350100M000100Y44", "wrong final check character"),
        ("91350100M000100I43", "I is not in the charset"),
        ("9135010XM000100Y43", "the region part must be digits"),
        ("91350100M000100Y4", "17 characters"),
    ],
)
def test_bad_credit_codes_are_refused(value: str, why: str) -> None:
    assert not is_valid_uscc(value), why


def test_the_embedded_organisation_code_check_can_be_skipped() -> None:
    # final check character recomputed for a body whose organisation code check character is wrong
    first17 = "91350100M000100Y5"
    code = first17 + uscc_check_char(first17)
    assert not is_valid_uscc(code)
    assert is_valid_uscc(code, check_org=False)
