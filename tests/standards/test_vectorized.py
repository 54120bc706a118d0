"""The vectorized rules answer what their scalar twins answer, value for value.

Each test generates a few hundred values (valid ones, and the mistakes people make: a wrong check
character, a day that does not exist, a letter too many, lower-case x, spaces, full-width digits)
from a fixed seed, runs the polars expression over all of them at once and the scalar function of
``standards.codes`` / ``standards.normalize`` over each, and compares.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from jutong.standards import codes, normalize
from jutong.standards import vectorized as vz

SEED = 20240305


def run(expr: Callable[[pl.Expr], pl.Expr], values: Sequence[str | None]) -> list[Any]:
    return (
        pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr(pl.col("v"))).to_series().to_list()
    )


def agree(expr: Callable[[pl.Expr], pl.Expr], scalar: Callable[[str], object], values: list[str]) -> None:
    """Vectorized and scalar answers are equal for every value; a null stays null."""
    got = run(expr, [*values, None])
    assert got[-1] is None
    mismatches = [(v, g, scalar(v)) for v, g in zip(values, got, strict=False) if g != scalar(v)]
    assert mismatches == [], mismatches[:5]


def mutate(rng: random.Random, value: str, alphabet: str) -> str:
    """One typical mistake: a changed, dropped, doubled or swapped character, spaces, lower case."""
    i = rng.randrange(len(value))
    kind = rng.randrange(7)
    if kind == 0:
        return value[:i] + rng.choice(alphabet) + value[i + 1 :]
    if kind == 1:
        return value[:i] + value[i + 1 :]
    if kind == 2:
        return value[:i] + value[i] + value[i:]
    if kind == 3 and i + 1 < len(value):
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind == 4:
        return f"  {value} "
    if kind == 5:
        return value.lower()
    return value[:i] + rng.choice("-/ .x中") + value[i + 1 :]


# ---------------------------------------------------------------- 居民身份证号


def id_numbers(rng: random.Random, count: int) -> list[str]:
    regions = ["110101", "341002", "440307", "650102", "820000"]
    out = []
    for _ in range(count):
        birth = date(1900, 1, 1) + timedelta(days=rng.randrange(110 * 365))
        first17 = f"{rng.choice(regions)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
        out.append(first17 + codes.cn_id_check_char(first17))
    return out


def test_id_number_checks_agree_with_the_scalar_validator() -> None:
    rng = random.Random(SEED)
    valid = id_numbers(rng, 150)
    broken = [mutate(rng, v, string.digits + "X") for v in valid]
    impossible_days = [f"34100219{y:02d}0230{n:03d}" for y, n in zip(range(10, 40), range(30), strict=True)]
    impossible_days = [d + codes.cn_id_check_char(d) for d in impossible_days]
    values = [*valid, *broken, *impossible_days, "11010519491231002X", "11010519491231002x", "", "X" * 18]
    assert sum(codes.is_valid_cn_id(v) for v in values) >= 150  # the sample holds both kinds
    agree(vz.cn_id_valid, codes.is_valid_cn_id, values)


def test_id_number_parts_tell_the_birth_date_from_the_check_character() -> None:
    values = ["11010519491231002X", "110105194912310021", "110101199002308079", "11010519491231002"]
    first17 = "11010119900230807"
    values[2] = first17 + codes.cn_id_check_char(first17)  # 2月30日 with a right check character
    parts = run(vz.cn_id_parts, values)
    assert parts[0] == {"layout": True, "birth": True, "check": True}
    assert parts[1] == {"layout": True, "birth": True, "check": False}
    assert parts[2] == {"layout": True, "birth": False, "check": True}
    assert parts[3] is not None and parts[3]["layout"] is False


def test_check_characters_agree() -> None:
    rng = random.Random(SEED)
    first17s = [v[:17] for v in id_numbers(rng, 200)]
    assert run(vz.cn_id_check_char, first17s) == [codes.cn_id_check_char(f) for f in first17s]
    credit = credit_codes(rng, 200)
    assert run(vz.uscc_expected_check_char, credit) == [codes.uscc_check_char(c[:17]) for c in credit]
    assert run(vz.uscc_expected_org_char, credit) == [codes.org_code_check_char(c[8:16]) for c in credit]
    orgs = org_codes(rng, 200)
    assert run(lambda e: vz.org_code_expected_char(vz.org_code_body(e)), orgs) == [
        codes.org_code_check_char(o[:8]) for o in orgs
    ]


def test_15_digit_id_numbers_are_upgraded_like_the_scalar_upgrade() -> None:
    rng = random.Random(SEED)
    old = [v[:6] + v[8:17] for v in id_numbers(rng, 120) if v[6:8] == "19"]
    old += ["110101900230807", "01010190030780", "1101019003078", "11010519491231002X", ""]

    def scalar(value: str) -> str:
        try:
            return codes.upgrade_cn_id_15(value)
        except ValueError:
            return value  # the vectorized upgrade leaves it for the cn_id rule to reject

    assert len(old) > 50
    assert run(vz.upgrade_cn_id_15, [*old, None]) == [*(scalar(v) for v in old), None]
    assert run(vz.upgrade_cn_id_15, ["110101900307807"]) == ["110101199003078072"]


# ---------------------------------------------------------------- 统一社会信用代码, 组织机构代码


def credit_codes(rng: random.Random, count: int) -> list[str]:
    charset = codes.USCC_CHARSET
    out = []
    for _ in range(count):
        body = "".join(rng.choice(charset) for _ in range(8))
        first16 = rng.choice("159Y") + rng.choice("123") + f"{rng.randrange(110000, 660000):06d}" + body
        first17 = first16 + codes.org_code_check_char(body)
        out.append(first17 + codes.uscc_check_char(first17))
    return out


def org_codes(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        body = "".join(rng.choice(string.digits + string.ascii_uppercase) for _ in range(8))
        out.append(body + codes.org_code_check_char(body))
    return out


def test_credit_code_checks_agree_with_the_scalar_validator() -> None:
    rng = random.Random(SEED)
    valid = credit_codes(rng, 150)
    broken = [mutate(rng, v, codes.USCC_CHARSET + "IOSVZ") for v in valid]
    # right final check character, wrong embedded organization code check character
    org_wrong = []
    for v in valid[:30]:
        bad17 = v[:16] + ("0" if v[16] != "0" else "1")
        org_wrong.append(bad17 + codes.uscc_check_char(bad17))
    values = [*valid, *broken, *org_wrong, "91350100M000100Y43", "91110108ma01abcd5t", "91350100M000100I43"]
    assert sum(codes.is_valid_uscc(v) for v in values) >= 150
    agree(vz.uscc_valid, codes.is_valid_uscc, values)
    agree(
        lambda e: vz.uscc_valid(e, check_org=False), lambda v: codes.is_valid_uscc(v, check_org=False), values
    )
    parts = run(vz.uscc_parts, org_wrong[:1])[0]
    assert parts == {"layout": True, "check": True, "org": False}


def test_organization_code_checks_agree_with_the_scalar_validator() -> None:
    rng = random.Random(SEED)
    valid = org_codes(rng, 150)
    values = [*valid, *(mutate(rng, v, string.digits + string.ascii_uppercase) for v in valid)]
    values += [v[:8] + "-" + v[8] for v in valid[:20]] + ["M000100Y-4", "m000100y4", ""]
    agree(vz.org_code_valid, codes.is_valid_org_code, values)


# ---------------------------------------------------------------- 行政区划代码, 手机号码


def test_region_code_shapes_agree_with_the_scalar_validator() -> None:
    rng = random.Random(SEED)
    values = [f"{rng.randrange(1000000):06d}" for _ in range(200)]
    values += [
        f"{p}{rng.choice(['0000', '0100', '1000', '0021', '9004', '1023'])}" for p in codes.PROVINCE_PREFIXES
    ]
    values += ["34100", "3410020", "34a002", " 341002 ", "+34100", "-34100", "１１０１０１", ""]
    agree(vz.region_code_valid, codes.is_valid_region_code, values)
    known = ["341002", "341003"]
    assert run(lambda e: vz.region_code_valid(e, known), ["341002", "341021", "999999"]) == [
        True,
        False,
        False,
    ]


def test_mobile_numbers_agree_with_the_scalar_validator() -> None:
    rng = random.Random(SEED)
    valid = [f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}" for _ in range(100)]
    written = [rng.choice(["+86{}", "86{}", "+86 {}", "{}"]).format(v) for v in valid]
    spaced = [f"{v[:3]} {v[3:7]}-{v[7:]}" for v in valid[:30]]
    values = [*valid, *written, *spaced, *(mutate(rng, v, string.digits) for v in valid)]
    values += ["12345678901", "8613800138000", "+8613800138000", "138001380000", ""]
    agree(vz.mobile_valid, codes.is_valid_mobile, values)


# ---------------------------------------------------------------- normalizers


def test_halfwidth_and_trim_agree_with_normalize() -> None:
    rng = random.Random(SEED)
    alphabet = (
        string.ascii_letters + string.digits + "-()/.,:" + "".join(vz.FULLWIDTH) + "安徽省黄山市号栋、。"
    )
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20))) for _ in range(300)]
    values += ["２０１９－０３－０５", "ＡＢＣ（１２３）", "张\u3000三", "plain ascii"]
    agree(vz.halfwidth, normalize.halfwidth, values)
    padded = [
        rng.choice(["", " ", "  ", "\t", "\u3000", "\n"]) + v + rng.choice(["", " ", "\r\n"]) for v in values
    ]
    agree(vz.trim, str.strip, padded)
    # columns without any full-width character at all take the shortcut: same answer
    agree(vz.halfwidth, normalize.halfwidth, ["abc", "安徽", "、。"])


DATE_FORMS: list[Callable[[date], str]] = [
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d:%Y-%m-%d}",
    lambda d: f"{d.year}-{d.month}-{d.day}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}.{d.month:02d}.{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f" {d.year} 年 {d.month} 月 {d.day} 日 ",
    lambda d: f"{d:%Y-%m-%d} 08:30:00",
    lambda d: f"{(d - date(1899, 12, 30)).days}",  # an Excel serial day
]


def test_dates_agree_with_normalize_parse_date() -> None:
    rng = random.Random(SEED)
    days = [date(1950, 1, 1) + timedelta(days=rng.randrange(100 * 365)) for _ in range(200)]
    values = [rng.choice(DATE_FORMS)(d) for d in days]
    values += ["2019-02-29", "2020-02-29", "2019-13-01", "20190230", "2019035", "2019 3 5", "2019-3"]
    values += ["abc", ""]
    values += [normalize.halfwidth("２０１９年３月５日")]
    got = run(vz.parse_date_expr, [*values, None])
    assert got[-1] is None
    assert [(v, g) for v, g in zip(values, got, strict=False) if g != normalize.parse_date(v)] == []
    assert (
        run(vz.parse_date_expr, ["2019年3月5日", "20190305", "2019/3/5", "2019-3-5", "2019.3.5"])
        == [date(2019, 3, 5)] * 5
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20190305143000", datetime(2019, 3, 5, 14, 30)),
        ("2019-03-05 14:30:00", datetime(2019, 3, 5, 14, 30)),
        ("2019-03-05T14:30:00", datetime(2019, 3, 5, 14, 30)),
        ("2019/3/5 4:05", datetime(2019, 3, 5, 4, 5)),
        ("2019-03-05T14:30:00.25", datetime(2019, 3, 5, 14, 30, 0, 250000)),
        ("2019-03-05T06:30:00Z", datetime(2019, 3, 5, 14, 30)),  # UTC → Beijing time
        ("2019-03-05T14:30:00+08:00", datetime(2019, 3, 5, 14, 30)),
        ("2019-03-05", datetime(2019, 3, 5)),
        ("2019年3月5日 14时30分", datetime(2019, 3, 5, 14, 30)),
        ("2019-03-05 24:00:00", None),
        ("20190230143000", None),
        ("下午三点", None),
    ],
)
def test_datetimes_in_the_forms_systems_write_them(text: str, expected: datetime | None) -> None:
    assert run(vz.parse_datetime_expr, [text]) == [expected]


def test_logic_values_agree_with_normalize_parse_bool() -> None:
    values = ["是", "否", "1", "0", "true", "FALSE", "Y", "n", "yes", "No", "√", "×", "有", "无", "已", "未"]
    values += ["2", "x", ""]
    agree(vz.parse_bool_expr, normalize.parse_bool, values)


# ---------------------------------------------------------------- formula injection


def formula_reference(text: str) -> bool:
    """The rule in plain Python: = @ tab CR start a formula; so do + and - unless the value is a
    signed number or phone number (digits, spaces, dots, brackets and hyphens only)."""
    if text[:1] in ("=", "@", "\t", "\r"):
        return True
    if text[:1] in ("+", "-"):
        rest = text[1:]
        return not ((rest[:1].isdigit() and rest[:1].isascii()) or rest[:1] == ".") or any(
            c not in "0123456789 .()-" for c in rest
        )
    return False


def test_formula_injection_is_found_like_the_reference() -> None:
    rng = random.Random(SEED)
    starts = ["=", "+", "-", "@", "\t", "\r", "", "", "'", " "]
    bodies = ["cmd|' /C calc'!A0", "SUM(A1:A9)", "3.5", ".5", "86 138 0013 8000", "1+cmd|x", "张三"]
    values = [rng.choice(starts) + rng.choice(bodies) for _ in range(300)]
    values += [
        "=cmd|' /C calc'!A0",
        "-1+cmd|' /C calc'!A0",
        "+86-10-12345678",
        "-3.5",
        "- 项目",
        "@SUM(1)",
        "",
    ]
    agree(vz.formula_injection, formula_reference, values)
    assert run(vz.formula_injection, ["=cmd|' /C calc'!A0", "-3.5", "张三"]) == [True, False, False]


def test_formats_become_patterns() -> None:
    assert vz.format_pattern("n6") == ("^[0-9]{6}$", "6 位数字")
    assert vz.format_pattern("n..20") == ("^[0-9]{1,20}$", "不超过 20 位数字")
    assert vz.format_pattern("an18") is None and vz.format_pattern("a..50") is None
    assert vz.format_pattern("YYYYMMDD") is None
