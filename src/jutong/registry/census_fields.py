"""The census columns: Chinese headers, how a cell is read (with a Chinese reason when it cannot be)
and how a value is written. Shared by file import/export and the page forms; no database here.

The generic machinery (column specs, cell parsers, formula-injection guard) is ``standards.tabular``;
this module adds the census kinds: system code, money in 万元, utilisation %, 等保 level.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from jutong.registry.models import (
    FundingSource,
    Network,
    SharingStatus,
    SystemStatus,
    UsageScope,
)
from jutong.standards import tabular
from jutong.standards.normalize import (
    BOOL_FALSE,
    BOOL_TRUE,
    excel_serial_to_date,
    halfwidth,
    normalize_header,
    number_text,
    parse_date,
    parse_month,
)
from jutong.standards.tabular import (
    FORMULA_PREFIXES,
    CellError,
    Column,
    display,
    header_index,
    is_blank,
    neutralize,
    to_cell,
    unneutralize,
)

__all__ = [
    "BOOL_FALSE",
    "BOOL_TRUE",
    "FORMULA_PREFIXES",
    "PARSERS",
    "SYSTEM_COLUMNS",
    "SYSTEM_FIELD_LABELS",
    "USAGE_COLUMNS",
    "CellError",
    "Column",
    "allowed_values",
    "display",
    "excel_serial_to_date",
    "header_index",
    "is_blank",
    "neutralize",
    "normalize_header",
    "parse_cell",
    "parse_date",
    "parse_month",
    "to_cell",
    "unneutralize",
]

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}


SYSTEM_COLUMNS: tuple[Column, ...] = (
    Column(
        "code",
        "系统编号",
        "code",
        max_len=32,
        note="留空则自动生成 SYS-部门编码-序号；已存在的编号将更新该系统",
    ),
    Column("name", "系统名称", "text", required=True, max_len=200, default=""),
    Column("department", "所属部门", "department", required=True, note="填写平台中已有的部门名称或部门编码"),
    Column(
        "description",
        "功能描述",
        "text",
        default="",
        note="用于判断功能是否可被其他系统替代，请写清主要功能",
        width=40,
    ),
    Column("usage_scope", "使用范围", "enum", required=True, enum=UsageScope),
    Column("approving_department", "审批部门", "text", max_len=100, default=""),
    Column("approval_date", "审批时间", "date", aliases=("审批日期",)),
    Column("funding_source", "经费来源", "enum", required=True, enum=FundingSource),
    Column("construction_cost", "建设经费(万元)", "money", default=Decimal("0"), aliases=("建设经费",)),
    Column(
        "annual_om_budget", "年度运维经费(万元)", "money", default=Decimal("0"), aliases=("年度运维经费",)
    ),
    Column("network", "部署网络", "enum", required=True, enum=Network),
    Column("sharing_status", "共享情况", "enum", required=True, enum=SharingStatus),
    Column("connected_to_platform", "是否接入共享交换平台", "bool", default=False),
    Column("connection_required", "是否已明确需接入", "bool", default=False),
    Column("protection_level", "等保定级", "level", note="1-5 级，可写 3 或 三级；未定级留空"),
    Column("protection_assessed", "是否等保测评", "bool", default=False),
    Column("offsite_backup", "是否异地备份", "bool", default=False),
    Column("last_maintained_on", "最近维护日期", "date"),
    Column("cpu_utilization", "CPU使用率%", "pct", note="0-100；留空则沿用月度使用情况中最近月份的数值"),
    Column("storage_utilization", "存储使用率%", "pct", note="0-100；留空则沿用月度使用情况中最近月份的数值"),
    Column(
        "status",
        "系统状态",
        "enum",
        enum=SystemStatus,
        default=SystemStatus.running.value,
        note="留空为“运行”",
    ),
)

USAGE_COLUMNS: tuple[Column, ...] = (
    Column("code", "系统编号", "code", required=True, max_len=32, note="须是本文件或平台中已有的系统编号"),
    Column("month", "月份", "month", required=True, note="YYYY-MM，例如 2024-03"),
    Column("active_users", "月活跃用户数", "int", default=0),
    Column("transactions", "月业务量", "int", default=0),
    Column("cpu_utilization", "CPU使用率%", "pct", note="0-100"),
    Column("storage_utilization", "存储使用率%", "pct", note="0-100"),
)

SYSTEM_FIELD_LABELS: dict[str, str] = {c.key: c.header for c in SYSTEM_COLUMNS} | {
    "department_id": "所属部门"
}


def allowed_values(column: Column) -> str:
    """What may be written in a coded column, for messages and the 填写说明 sheet."""
    if column.kind == "level":
        return "1、2、3、4、5（或 一级……五级）"
    if column.kind == "money":
        return "不小于 0 的数字，最多两位小数（单位：万元）"
    if column.kind == "pct":
        return "0 到 100 之间的数字"
    return tabular.allowed_values(column)


def parse_cell(column: Column, raw: Any) -> Any:
    """The value of one cell, or ``CellError``. Blank cells give the column's default."""
    return tabular.parse_cell(column, raw, PARSERS)


def _code(column: Column, raw: Any) -> str:
    text = tabular.parse_text(column, raw)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", text):
        raise CellError(
            "code_invalid",
            "系统编号只能包含字母、数字、连字符和下划线",
            "例如 SYS-GA-001；留空则由平台自动生成",
        )
    return text


def _money(column: Column, raw: Any) -> Decimal:
    try:
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(number_text(display(raw)))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise CellError("number_invalid", f"“{display(raw)}”不是数字", "请填写数字，单位万元，例如 120.5")
    if value < 0:
        raise CellError("number_negative", "金额不能为负数", "请填写不小于 0 的金额（万元）")
    if isinstance(raw, float):
        value = value.quantize(Decimal("0.01"))
    elif value != value.quantize(Decimal("0.01")):
        raise CellError("number_precision", "金额最多保留两位小数", "请四舍五入到两位小数（万元）")
    if value >= Decimal("1e12"):
        raise CellError("number_too_large", "金额过大", "金额单位为万元，请检查是否多写了位数")
    return value.quantize(Decimal("0.01"))


def _pct(column: Column, raw: Any) -> float:
    text = number_text(display(raw)).removesuffix("%")
    try:
        value = float(raw) if isinstance(raw, int | float) else float(text)
    except ValueError:
        raise CellError(
            "number_invalid", f"“{display(raw)}”不是数字", "请填写 0 到 100 之间的数字，例如 35.5"
        ) from None
    if not 0 <= value <= 100:
        raise CellError("out_of_range", f"{value:g} 不在 0 到 100 之间", "使用率按百分数填写，0 到 100")
    return value


def _level(column: Column, raw: Any) -> int:
    text = halfwidth(display(raw)).strip()
    text = re.sub(r"^第|级$", "", text)
    level = _CN_DIGITS.get(text) or (int(text) if text.isdigit() else None)
    if level is None or not 1 <= level <= 5:
        raise CellError(
            "level_invalid",
            f"“{display(raw)}”不是有效的等保级别",
            "请填写 1 到 5（或 一级……五级），未定级留空",
        )
    return level


PARSERS: dict[str, tabular.Parser] = {
    **tabular.PARSERS,
    "code": _code,
    "money": _money,
    "pct": _pct,
    "level": _level,
}
