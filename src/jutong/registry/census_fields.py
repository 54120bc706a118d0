"""The census columns: Chinese headers, how a cell is read (with a Chinese reason when it cannot be)
and how a value is written. Shared by file import/export and the page forms; no database here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from jutong.registry.models import (
    FundingSource,
    LabeledEnum,
    Network,
    SharingStatus,
    SystemStatus,
    UsageScope,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOOL_TRUE = ("是", "y", "yes", "true", "1", "√", "有", "已")
BOOL_FALSE = ("否", "n", "no", "false", "0", "×", "无", "未")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_EXCEL_EPOCH = date(1899, 12, 30)


class CellError(Exception):
    """A cell that cannot be read: a stable code, what is wrong and how to fix it (Chinese)."""

    def __init__(self, code: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.code, self.problem, self.fix = code, problem, fix


@dataclass(frozen=True)
class Column:
    key: str  # attribute of InformationSystem / SystemUsage
    header: str
    kind: str  # code text department enum bool date money pct level int month
    required: bool = False
    enum: type[LabeledEnum] | None = None
    max_len: int | None = None
    default: Any = None
    note: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


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
        "description", "功能描述", "text", default="", note="用于判断功能是否可被其他系统替代，请写清主要功能"
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


def normalize_header(text: Any) -> str:
    """Headers match however they were typed: full-width brackets, spaces, a required-mark ``*``."""
    if text is None:
        return ""
    value = unicodedata.normalize("NFKC", str(text))
    return re.sub(r"\s+", "", value).strip("*")


def header_index(columns: tuple[Column, ...]) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for column in columns:
        for name in (column.header, *column.aliases):
            out[normalize_header(name)] = column
    return out


def allowed_values(column: Column) -> str:
    """What may be written in a coded column, for messages and the 填写说明 sheet."""
    if column.enum is not None:
        return "、".join(member.label for member in column.enum)
    if column.kind == "bool":
        return "是、否"
    if column.kind == "level":
        return "1、2、3、4、5（或 一级……五级）"
    if column.kind == "date":
        return "YYYY-MM-DD，也可写 2019/3/5、2019年3月5日、20190305"
    if column.kind == "month":
        return "YYYY-MM，也可写 2024/3、2024年3月、202403"
    if column.kind == "money":
        return "不小于 0 的数字，最多两位小数（单位：万元）"
    if column.kind == "pct":
        return "0 到 100 之间的数字"
    if column.kind == "int":
        return "不小于 0 的整数"
    return ""


def unneutralize(text: str) -> str:
    """Undo the export's guard against formula injection, so export → import changes nothing."""
    if text.startswith("'") and text[1:2] in FORMULA_PREFIXES:
        return text[1:]
    return text


def neutralize(text: str) -> str:
    """A cell starting with = + - @ would run as a formula in Excel: prefix it with '."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def display(value: Any) -> str:
    """A raw cell as the user typed it, for error reports."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_cell(column: Column, raw: Any) -> Any:
    """The value of one cell, or ``CellError``. Blank cells give the column's default."""
    if isinstance(raw, str):
        raw = unneutralize(raw.strip())
    if is_blank(raw):
        if column.required:
            raise CellError("required", f"“{column.header}”不能为空", f"请填写{column.header}")
        return column.default
    parse = _PARSERS[column.kind]
    return parse(column, raw)


def _text(column: Column, raw: Any) -> str:
    text = display(raw).strip()
    if column.max_len and len(text) > column.max_len:
        raise CellError(
            "too_long",
            f"长度 {len(text)} 超过上限 {column.max_len} 个字",
            f"请缩短到 {column.max_len} 个字以内",
        )
    return text


def _code(column: Column, raw: Any) -> str:
    text = _text(column, raw)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", text):
        raise CellError(
            "code_invalid",
            "系统编号只能包含字母、数字、连字符和下划线",
            "例如 SYS-GA-001；留空则由平台自动生成",
        )
    return text


def _enum(column: Column, raw: Any) -> str:
    assert column.enum is not None
    member = column.enum.from_label(display(raw))
    if member is None:
        raise CellError(
            "enum_invalid", f"“{display(raw)}”不是有效的{column.header}", f"请填写：{allowed_values(column)}"
        )
    return member.value


def _bool(column: Column, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = display(raw).strip().lower()
    if text in BOOL_TRUE:
        return True
    if text in BOOL_FALSE:
        return False
    raise CellError("bool_invalid", f"“{display(raw)}”不是“是”或“否”", "请填写“是”或“否”")


def excel_serial_to_date(serial: float) -> date:
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def parse_date(raw: Any) -> date | None:
    """2019-03-05, 2019/3/5, 2019.3.5, 2019年3月5日, 20190305, Excel dates and serial numbers."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return excel_serial_to_date(raw) if 1 <= raw < 2958466 else None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+[\d:]+)?", text)
    if match is None:
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if match is None:
        if re.fullmatch(r"\d{5}(\.0+)?", text):
            return excel_serial_to_date(float(text))
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _date(column: Column, raw: Any) -> date:
    value = parse_date(raw)
    if value is None:
        raise CellError("date_invalid", f"“{display(raw)}”不是有效日期", "请写成 YYYY-MM-DD，例如 2019-03-05")
    return value


def parse_month(raw: Any) -> str | None:
    if isinstance(raw, datetime | date):
        return f"{raw.year:04d}-{raw.month:02d}"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if 190001 <= raw <= 299912 and float(raw).is_integer():
            raw = str(int(raw))
        else:
            day = parse_date(raw)
            return None if day is None else f"{day.year:04d}-{day.month:02d}"
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    match = re.fullmatch(
        r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:\s*[-/.]\s*\d{1,2}\s*日?)?", text
    ) or re.fullmatch(r"(\d{4})(\d{2})", text)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    return f"{int(match[1]):04d}-{int(match[2]):02d}"


def _month(column: Column, raw: Any) -> str:
    value = parse_month(raw)
    if value is None:
        raise CellError("month_invalid", f"“{display(raw)}”不是有效月份", "请写成 YYYY-MM，例如 2024-03")
    return value


def _number_text(raw: Any) -> str:
    text = unicodedata.normalize("NFKC", display(raw)).strip().replace(",", "")
    return re.sub(r"\s*(万元|万)$", "", text)


def _money(column: Column, raw: Any) -> Decimal:
    try:
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(_number_text(raw))
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
    text = _number_text(raw).removesuffix("%")
    try:
        value = float(raw) if isinstance(raw, int | float) else float(text)
    except ValueError:
        raise CellError(
            "number_invalid", f"“{display(raw)}”不是数字", "请填写 0 到 100 之间的数字，例如 35.5"
        ) from None
    if not 0 <= value <= 100:
        raise CellError("out_of_range", f"{value:g} 不在 0 到 100 之间", "使用率按百分数填写，0 到 100")
    return value


def _int(column: Column, raw: Any) -> int:
    text = _number_text(raw)
    try:
        number = float(raw) if isinstance(raw, int | float) else float(text)
    except ValueError:
        raise CellError("number_invalid", f"“{display(raw)}”不是整数", "请填写不小于 0 的整数") from None
    if not number.is_integer() or number < 0:
        raise CellError("number_invalid", f"“{display(raw)}”不是不小于 0 的整数", "请填写不小于 0 的整数")
    if number > 2**31 - 1:
        raise CellError("number_too_large", "数值过大", "请检查是否多写了位数")
    return int(number)


def _level(column: Column, raw: Any) -> int:
    text = unicodedata.normalize("NFKC", display(raw)).strip()
    text = re.sub(r"^第|级$", "", text)
    level = _CN_DIGITS.get(text) or (int(text) if text.isdigit() else None)
    if level is None or not 1 <= level <= 5:
        raise CellError(
            "level_invalid",
            f"“{display(raw)}”不是有效的等保级别",
            "请填写 1 到 5（或 一级……五级），未定级留空",
        )
    return level


_PARSERS: dict[str, Any] = {
    "code": _code,
    "text": _text,
    "department": _text,
    "enum": _enum,
    "bool": _bool,
    "date": _date,
    "month": _month,
    "money": _money,
    "pct": _pct,
    "int": _int,
    "level": _level,
}


def to_cell(column: Column, value: Any, *, text_only: bool = False) -> Any:
    """A stored value as written to a file: labels for codes, 是/否, YYYY-MM-DD, safe text."""
    if value is None:
        return None if not text_only else ""
    if column.enum is not None:
        member = column.enum.from_label(str(value))
        return member.label if member is not None else str(value)
    if column.kind == "bool":
        return "是" if value else "否"
    if column.kind == "date":
        return value.isoformat() if text_only else value
    if column.kind == "money":
        return format(value, "f") if text_only else value
    if column.kind in ("pct", "int", "level"):
        return format(value, "g") if text_only else value
    return neutralize(str(value))
