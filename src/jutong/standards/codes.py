"""Check characters of national identifier codes (scalar validators for forms).

- 居民身份证号 GB 11643-1999: ISO 7064 MOD 11-2 over 17 digits.
- 统一社会信用代码 GB 32100-2015: MOD 31 over 17 characters, plus the check character of the
  embedded 组织机构代码 (GB 11714, positions 9-17).
- 组织机构代码 GB 11714: 8 characters and a MOD 11 check character.
- 行政区划代码 GB/T 2260: the shape of a 6-digit code (province prefix, level); whether a code is in
  use is a question for the code set, since codes change over the years.
- 手机号码: an 11-digit pattern kept as a module constant, since number ranges change.

``VALIDATORS`` maps the validator ids data elements name (``DataElement.validator``) to these
functions, ``VALIDATOR_NAMES`` gives their Chinese names.

See STANDARDS.md §4 for the worked examples these functions are tested against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
_ID_PATTERN = re.compile(r"[1-9]\d{5}(18|19|20)\d{2}\d{4}\d{3}[0-9X]")

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I O S V Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_PATTERN = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10}")

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_PATTERN = re.compile(r"[0-9A-Z]{8}[0-9X]")


def cn_id_check_char(first17: str) -> str:
    """The 18th character of a 居民身份证号 for its first 17 digits."""
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def is_valid_cn_id(value: str) -> bool:
    """18-digit 居民身份证号: layout, a real birth date and the MOD 11-2 check character."""
    s = value.strip().upper()
    if not _ID_PATTERN.fullmatch(s):
        return False
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return cn_id_check_char(s[:17]) == s[17]


def org_code_check_char(body8: str) -> str:
    """The 9th character of a 组织机构代码 (GB 11714) for its 8-character body."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    remainder = 11 - total % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def is_valid_org_code(value: str) -> bool:
    s = value.strip().upper().replace("-", "")
    return bool(_ORG_PATTERN.fullmatch(s)) and org_code_check_char(s[:8]) == s[8]


def uscc_check_char(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 for its first 17 characters."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(value: str, *, check_org: bool = True) -> bool:
    """18-character 统一社会信用代码: charset, layout, its check character and (by default) the
    check character of the embedded 组织机构代码."""
    s = value.strip().upper()
    if not _USCC_PATTERN.fullmatch(s):
        return False
    if uscc_check_char(s[:17]) != s[17]:
        return False
    return not check_org or org_code_check_char(s[8:16]) == s[16]


def upgrade_cn_id_15(value: str) -> str:
    """A 15-digit 居民身份证号 (1980s layout: 2-digit birth year, no check character) upgraded to 18
    digits: "19" inserted before the birth year and the check character appended. Raises ``ValueError``
    for anything but a 15-digit number with a real birth date."""
    s = value.strip()
    if not re.fullmatch(r"[1-9]\d{14}", s):
        raise ValueError(f"“{value}”不是 15 位身份证号码")
    try:
        date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))
    except ValueError as exc:
        raise ValueError(f"“{value}”的出生日期 19{s[6:12]} 不存在") from exc
    first17 = s[:6] + "19" + s[6:]
    return first17 + cn_id_check_char(first17)


# GB/T 2260 province-level prefixes (STANDARDS.md §4): 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82
PROVINCE_PREFIXES = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)
_REGION_PATTERN = re.compile(r"\d{6}")


def region_level(value: str) -> str | None:
    """``province`` (xx0000), ``prefecture`` (xxxx00) or ``county`` for a well-formed 行政区划代码,
    None when the code is malformed."""
    s = value.strip()
    if not _REGION_PATTERN.fullmatch(s) or s[:2] not in PROVINCE_PREFIXES:
        return None
    if s[2:] == "0000":
        return "province"
    if s[2:4] == "00":
        return None  # a county part under no prefecture part: no such code
    return "prefecture" if s[4:] == "00" else "county"


def is_valid_region_code(value: str) -> bool:
    """6 digits: a province prefix of GB/T 2260, then 地级 and 县级 parts (xxxx00 is 地级, xx0000 省级)."""
    return region_level(value) is not None


# 11 digits from 13x-19x. Number ranges are allocated by MIIT and change: adjust here if needed.
MOBILE_PATTERN = r"1[3-9]\d{9}"
_MOBILE = re.compile(MOBILE_PATTERN)


def is_valid_mobile(value: str) -> bool:
    """中国大陆手机号码：11 digits, optionally written with a leading +86 / 86."""
    s = value.strip().replace(" ", "").replace("-", "")
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    return bool(_MOBILE.fullmatch(s))


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "cn_id": is_valid_cn_id,
    "uscc": is_valid_uscc,
    "org_code": is_valid_org_code,
    "region_code": is_valid_region_code,
    "mobile": is_valid_mobile,
}

VALIDATOR_NAMES: dict[str, str] = {
    "cn_id": "居民身份证号码（GB 11643）",
    "uscc": "统一社会信用代码（GB 32100）",
    "org_code": "组织机构代码（GB 11714）",
    "region_code": "行政区划代码（GB/T 2260）",
    "mobile": "手机号码",
}
