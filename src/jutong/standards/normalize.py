"""Normalizers for what people type into forms and spreadsheets (pure functions, no database).

- text: full-width to half-width (NFKC), whitespace, header names;
- dates: 2019-03-05, 2019/3/5, 2019.3.5, 2019年3月5日, 20190305, Excel dates and serial numbers;
- months: 2024-03, 2024/3, 2024年3月, 202403;
- yes/no: 是/否, y/n, true/false, 1/0, √/×, 有/无, 已/未;
- numbers: thousands separators, a trailing unit (万元, 万, %).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any

BOOL_TRUE = ("是", "y", "yes", "true", "1", "√", "有", "已")
BOOL_FALSE = ("否", "n", "no", "false", "0", "×", "无", "未")
EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_MAX_SERIAL = 2958466  # 9999-12-31

_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+[\d:]+)?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:\s*[-/.]\s*\d{1,2}\s*日?)?")
_MONTH_COMPACT = re.compile(r"(\d{4})(\d{2})")


def halfwidth(text: str) -> str:
    """Full-width digits, letters and punctuation to their ASCII forms (NFKC): ２０１９－０３ → 2019-03."""
    return unicodedata.normalize("NFKC", text)


def squeeze(text: str) -> str:
    """Runs of whitespace (including full-width spaces and line breaks) to one space, trimmed."""
    return re.sub(r"\s+", " ", halfwidth(text)).strip()


def normalize_header(text: Any) -> str:
    """Headers match however they were typed: full-width brackets, spaces, a required-mark ``*``."""
    if text is None:
        return ""
    return re.sub(r"\s+", "", halfwidth(str(text))).strip("*")


def excel_serial_to_date(serial: float) -> date:
    """An Excel serial day number (1900 date system, as Excel counts it) to a date."""
    return EXCEL_EPOCH + timedelta(days=int(serial))


def parse_date(raw: Any) -> date | None:
    """A date however it was typed or stored, or None when it is not one."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return excel_serial_to_date(raw) if 1 <= raw < _EXCEL_MAX_SERIAL else None
    text = halfwidth(str(raw)).strip()
    match = _DATE.fullmatch(text) or _DATE_COMPACT.fullmatch(text)
    if match is None:
        if re.fullmatch(r"\d{5}(\.0+)?", text):
            return excel_serial_to_date(float(text))
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_month(raw: Any) -> str | None:
    """A month as ``YYYY-MM`` however it was typed (a full date keeps its month), or None."""
    if isinstance(raw, datetime | date):
        return f"{raw.year:04d}-{raw.month:02d}"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if 190001 <= raw <= 299912 and float(raw).is_integer():
            raw = str(int(raw))
        else:
            day = parse_date(raw)
            return None if day is None else f"{day.year:04d}-{day.month:02d}"
    text = halfwidth(str(raw)).strip()
    match = _MONTH.fullmatch(text) or _MONTH_COMPACT.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    return f"{int(match[1]):04d}-{int(match[2]):02d}"


def parse_bool(raw: Any) -> bool | None:
    """是/否 and the other ways people write yes and no; None when it is neither."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = halfwidth(str(raw)).strip().lower()
    if text in BOOL_TRUE:
        return True
    if text in BOOL_FALSE:
        return False
    return None


def number_text(text: str, *, units: tuple[str, ...] = ("万元", "万")) -> str:
    """A typed number ready for ``Decimal``/``float``: half-width, no thousands separators, no unit."""
    value = halfwidth(text).strip().replace(",", "")
    for unit in units:
        if value.endswith(unit):
            return value.removesuffix(unit).rstrip()
    return value
