"""The catalog workbook in the 编制指南 layout: sheets, Chinese headers, how cells are read and written.

- ``信息资源``: one row per resource (its catalog metadata); 状态 and 版本 are written on export for
  information and ignored on import.
- ``信息项``: one row per data item, tied to its resource by 信息资源代码 or, for a resource that is
  new in the file, by its 信息资源名称 (unique in the file).
- ``填写说明``: every column with its allowed values, and the import rules.

Coded columns take the Chinese label or the code (无条件共享 or unconditional, 接口 or api, C or 字符型).
No database here: ``catalog.excel`` does the checking and writing.
"""

from __future__ import annotations

import re
from typing import Any

from jutong.catalog.models import (
    DataType,
    Delivery,
    FormatCategory,
    OpenType,
    SecurityLevel,
    ShareType,
    UpdateCycle,
)
from jutong.standards import tabular
from jutong.standards.normalize import halfwidth
from jutong.standards.tabular import CellError, Column, display

SHEET_RESOURCES = "信息资源"
SHEET_ITEMS = "信息项"
SHEET_HELP = "填写说明"

RESOURCE_COLUMNS: tuple[Column, ...] = (
    Column(
        "classification_code",
        "信息资源分类代码",
        "classification",
        required=True,
        note="类(1 位：1 基础、2 主题、3 部门) + 项(2 位) + 目(3 位) + 细目，至少 6 位，如 101001",
    ),
    Column("name", "信息资源名称", "text", required=True, max_len=100, note="建议不超过 50 字", width=30),
    Column(
        "code",
        "信息资源代码",
        "resource_code",
        note="新资源留空，由平台按分类生成；已有代码的行更新该资源的工作副本（内容不变则不改动）",
        width=20,
    ),
    Column("department", "信息资源提供方", "department", note="平台中已有的部门名称或部门编码", width=20),
    Column(
        "provider_code",
        "提供方代码",
        "text",
        max_len=32,
        default="",
        note="部门的统一社会信用代码（或部门编码）；可代替“信息资源提供方”填写，两者都填时须一致",
        width=22,
    ),
    Column("summary", "信息资源摘要", "text", max_len=1000, default="", note="建议不超过 256 字", width=40),
    Column("format_category", "信息资源格式分类", "enum", required=True, enum=FormatCategory),
    Column("format_type", "信息资源格式类型", "text", max_len=50, default="", note="如 XLSX、OFD、达梦"),
    Column("share_type", "共享类型", "enum", required=True, enum=ShareType),
    Column(
        "share_condition",
        "共享条件/不予共享依据",
        "text",
        default="",
        note="有条件共享须写明共享条件；不予共享须写明法律、行政法规或党中央、国务院政策依据",
        width=40,
    ),
    Column("delivery", "共享方式", "enum", required=True, enum=Delivery),
    Column(
        "open_type",
        "开放类型",
        "enum",
        enum=OpenType,
        default=OpenType.closed.value,
        note="留空为“不予开放”；不予共享的资源只能不予开放",
    ),
    Column("open_condition", "开放条件", "text", default="", width=30),
    Column("update_cycle", "更新周期", "enum", required=True, enum=UpdateCycle),
    Column("publish_date", "发布日期", "date", note="YYYY-MM-DD；留空则首次发布时取当天"),
    Column("system_code", "关联系统编号", "text", max_len=32, note="系统普查中本部门系统的编号，可留空"),
    Column(
        "related_codes",
        "关联资源代码",
        "codes",
        default=(),
        note="一个或多个已有资源代码，用 ; 或 、 分隔",
        width=30,
    ),
    Column("status", "状态", "text", readonly=True, note="导出时填写，导入时忽略"),
    Column("version", "版本", "int", readonly=True, note="已发布的最新版本号；导出时填写，导入时忽略"),
)

ITEM_COLUMNS: tuple[Column, ...] = (
    Column(
        "resource_code",
        "信息资源代码",
        "resource_code",
        note="所属资源的代码；新资源（代码留空）填“信息资源名称”",
        width=20,
    ),
    Column(
        "resource_name",
        "信息资源名称",
        "text",
        max_len=100,
        note="所属资源的名称；填了信息资源代码时仅供阅读",
        width=30,
    ),
    Column("position", "序号", "int", note="信息项在资源中的顺序；留空按行的先后"),
    Column("name", "信息项名称", "text", required=True, max_len=100, width=20),
    Column(
        "column_name",
        "字段名",
        "text",
        max_len=64,
        note="数据列名：小写字母开头，字母、数字、下划线；留空取数据元标识符的小写",
        width=18,
    ),
    Column("element_identifier", "数据元标识符", "text", required=True, max_len=64, note="如 DE0001"),
    Column("data_type", "数据类型", "data_type", note="写字母或中文，如 C 或 字符型；留空沿用数据元的定义"),
    Column("length", "长度", "int", note="留空沿用数据元的定义"),
    Column(
        "code_set_identifier",
        "代码集",
        "text",
        max_len=64,
        note="代码集标识符，如 GB/T 2261.1-2003；留空沿用数据元",
        width=20,
    ),
    Column("required", "是否必填", "bool", default=False, note="主键项总是必填"),
    Column("is_key", "是否主键", "bool", default=False, note="记录主键；提交审核时至少一项"),
    Column("sensitive", "是否敏感", "bool", note="个人信息；留空沿用数据元的定义"),
    Column(
        "security_level",
        "安全级别",
        "enum",
        enum=SecurityLevel,
        note="一般/重要/核心；留空沿用数据元，不低于数据元的级别",
    ),
    Column("description", "说明", "text", default="", width=30),
)

RESOURCE_BY_KEY = {c.key: c for c in RESOURCE_COLUMNS}
ITEM_BY_KEY = {c.key: c for c in ITEM_COLUMNS}

_CLASSIFICATION = re.compile(r"[1-3]\d{5,}")
_RESOURCE_CODE = re.compile(r"[1-3]\d{5,}/\d{1,12}")
_DATA_TYPE_LONG = re.compile(r"([CNYDTLMGBIF])\s*[\u4e00-\u9fff]{1,4}")  # 编制指南 writes C字符, N数值 …


def _classification(column: Column, raw: Any) -> str:
    text = halfwidth(display(raw)).strip()
    if not _CLASSIFICATION.fullmatch(text):
        raise CellError(
            "classification_invalid",
            f"“{display(raw)}”不是有效的分类代码",
            "分类代码为数字：类(1、2 或 3) + 项(2 位) + 目(3 位) + 细目，至少 6 位，例如 101001",
        )
    return text


def _resource_code(column: Column, raw: Any) -> str:
    text = halfwidth(display(raw)).strip()
    if not _RESOURCE_CODE.fullmatch(text):
        raise CellError(
            "resource_code_invalid",
            f"“{display(raw)}”不是有效的信息资源代码",
            "信息资源代码为“分类代码/顺序码”，例如 101001/000001；新资源请留空",
        )
    return text


def _codes(column: Column, raw: Any) -> tuple[str, ...]:
    out: list[str] = []
    for part in tabular.split_list(halfwidth(display(raw))):
        if not _RESOURCE_CODE.fullmatch(part):
            raise CellError(
                "related_code_invalid",
                f"“{part}”不是有效的信息资源代码",
                "关联资源代码写成“分类代码/顺序码”，例如 101001/000001，多个用 ; 或 、 分隔",
            )
        if part not in out:
            out.append(part)
    return tuple(out)


def _data_type(column: Column, raw: Any) -> str:
    text = halfwidth(display(raw)).strip()
    member = DataType.from_label(text) or DataType.from_label(text.upper())
    if member is None and (match := _DATA_TYPE_LONG.fullmatch(text)):
        member = DataType.from_label(match[1])
    if member is None:
        raise CellError(
            "enum_invalid",
            f"“{display(raw)}”不是有效的数据类型",
            "请填写 C字符、N数值、Y货币、D日期、T日期时间、L逻辑、M备注、G通用、B双精度、I整型、F浮点 之一（写字母即可）",
        )
    return member.value


PARSERS: dict[str, tabular.Parser] = {
    **tabular.PARSERS,
    "classification": _classification,
    "resource_code": _resource_code,
    "codes": _codes,
    "data_type": _data_type,
}


def allowed_values(column: Column, departments: list[str] | None = None) -> str:
    if column.kind == "department" and departments:
        return "、".join(departments)
    if column.kind == "data_type":
        return "、".join(f"{m.value}（{m.label}）" for m in DataType)
    if column.kind == "codes":
        return "一个或多个资源代码，用 ; 或 、 分隔"
    if column.kind in ("classification", "resource_code"):
        return column.note
    return tabular.allowed_values(column)


def to_cell(column: Column, value: Any) -> Any:
    """A stored value as the workbook shows it (labels, 是/否, dates, codes joined by ;)."""
    if column.kind == "codes":
        return ";".join(value or [])
    if column.kind == "data_type" and value:
        return str(value)  # the letter: what the 编制指南 and most systems write
    if value == "" or value is None:
        return None
    return tabular.to_cell(column, value)
