"""Check characters of national identifier codes (scalar validators for forms).

- 居民身份证号 GB 11643-1999: ISO 7064 MOD 11-2 over 17 digits.
- 统一社会信用代码 GB 32100-2015: MOD 31 over 17 characters, plus the check character of the
  embedded 组织机构代码 (GB 11714, positions 9-17).

See STANDARDS.md §4 for the worked examples these functions are tested against.
"""

from __future__ import annotations

import re
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
