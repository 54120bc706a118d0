"""Masking policies (脱敏规则): what a consumer sees of a granted item it may not read in full.

Each policy has a polars expression (exports, feeds, deliveries: whole batches at once) and a scalar
twin (a single looked-up record, where building a frame costs more than the masking). Both give the same
answer for the same value; ``None`` stays ``None`` (an empty item reveals nothing).

- ``id_number``: 110101********8072 (first 6 and last 4 kept)
- ``name``: 张* / 张*丰 / 欧**娜 (first and, from three characters on, last kept)
- ``phone``: 138****5678 (first 3 and last 4 kept)
- ``address``: cut after the district (…区/县/市/旗); an address without one is hidden entirely
- ``full``: *** whatever the value
- ``none``: as stored
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import polars as pl

from jutong.core.errors import ValidationFailed

POLICIES: dict[str, str] = {
    "none": "不脱敏",
    "id_number": "证件号码（保留前6位和后4位）",
    "name": "姓名（保留姓和末字）",
    "phone": "电话号码（保留前3位和后4位）",
    "address": "地址（保留到区县）",
    "full": "全部隐藏",
}
FULL = "***"

# default policy of an item by its national data element (STANDARDS.md §5)
DEFAULTS_BY_ELEMENT: dict[str, str] = {
    "DE0001": "id_number",
    "DE0002": "name",
    "DE0006": "phone",
    "DE0039": "phone",
    "DE0007": "address",
    "DE0018": "address",
}

# province / autonomous region (optional), city / prefecture (optional), then the district or county
_ADDRESS = r"^(?:.*?(?:省|自治区|特别行政区))?(?:.*?(?:自治州|地区|盟|市))?.*?(?:区|县|市|旗)"
_ADDRESS_RE = re.compile(_ADDRESS)


def check_policy(column: str, policy: str) -> str:
    if policy not in POLICIES:
        raise ValidationFailed(
            f"信息项“{column}”的脱敏规则“{policy}”不存在，可选：{'、'.join(POLICIES)}",
            code="masking_policy_unknown",
            detail={"column": column, "policy": policy, "allowed": list(POLICIES)},
        )
    return policy


def default_masking(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Default policies for snapshot items (``column_name``, ``element_identifier``, ``sensitive``)."""
    out: dict[str, str] = {}
    for item in items:
        policy = DEFAULTS_BY_ELEMENT.get(str(item.get("element_identifier") or ""))
        if policy:
            out[str(item["column_name"])] = policy
    return out


# ---- scalar twins ----------------------------------------------------------------------------------------
def _keep(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return FULL
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail :]


def _name(text: str) -> str:
    if len(text) <= 1:
        return "*" if text else text
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def _address(text: str) -> str:
    found = _ADDRESS_RE.match(text)
    return found.group(0) if found else FULL


_SCALAR: dict[str, Callable[[str], str]] = {
    "id_number": lambda t: _keep(t, 6, 4),
    "name": _name,
    "phone": lambda t: _keep(t, 3, 4),
    "address": _address,
    "full": lambda t: FULL,
}


def mask_value(policy: str, value: Any) -> Any:
    """One value under ``policy`` (the scalar twin of :func:`mask_expr`)."""
    if value is None or policy == "none":
        return value
    return _SCALAR[policy](str(value))


def mask_row(row: Mapping[str, Any], masking: Mapping[str, str]) -> dict[str, Any]:
    return {k: mask_value(masking[k], v) if k in masking else v for k, v in row.items()}


# ---- polars expressions ----------------------------------------------------------------------------------
def _keep_expr(s: pl.Expr, head: int, tail: int) -> pl.Expr:
    n = s.str.len_chars()
    middle = s.str.slice(head, n - head - tail).str.replace_all(".", "*")
    kept = pl.concat_str([s.str.slice(0, head), middle, s.str.slice(-tail)])
    return pl.when(n > head + tail).then(kept).otherwise(pl.lit(FULL))


def _name_expr(s: pl.Expr) -> pl.Expr:
    n = s.str.len_chars()
    middle = s.str.slice(1, n - 2).str.replace_all(".", "*")
    return (
        pl.when(n >= 3)
        .then(pl.concat_str([s.str.slice(0, 1), middle, s.str.slice(-1)]))
        .when(n == 2)
        .then(pl.concat_str([s.str.slice(0, 1), pl.lit("*")]))
        .when(n == 1)
        .then(pl.lit("*"))
        .otherwise(s)
    )


def mask_expr(column: str, policy: str) -> pl.Expr:
    """The masked column ``column`` (same name) under ``policy``; nulls stay null."""
    raw = pl.col(column)
    if policy == "none":
        return raw
    s = raw.cast(pl.String)
    if policy == "id_number":
        out = _keep_expr(s, 6, 4)
    elif policy == "phone":
        out = _keep_expr(s, 3, 4)
    elif policy == "name":
        out = _name_expr(s)
    elif policy == "address":
        out = s.str.extract(_ADDRESS, 0).fill_null(pl.lit(FULL))
    elif policy == "full":
        out = pl.lit(FULL)
    else:
        check_policy(column, policy)
        raise AssertionError(policy)  # pragma: no cover (check_policy raised)
    return pl.when(raw.is_null()).then(pl.lit(None, dtype=pl.String)).otherwise(out).alias(column)


def mask_frame(frame: pl.DataFrame, masking: Mapping[str, str]) -> pl.DataFrame:
    """The frame with every masked column replaced (columns absent from the frame are ignored)."""
    exprs = [mask_expr(c, p) for c, p in masking.items() if c in frame.columns and p != "none"]
    return frame.with_columns(exprs) if exprs else frame
