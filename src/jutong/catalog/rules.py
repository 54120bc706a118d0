"""The catalog's rules (编制指南 and the sharing regulation), checked before anything is written.

``check`` turns a ``ResourceIn`` into the column values of a resource and its data items, and lists
every ``Problem`` it finds, each naming the field in Chinese with a way to fix it. Errors block
saving; warnings are recommendations (name ≤ 50 字, summary ≤ 256 字). ``MESSAGES`` holds every
rule's stable code with its Chinese message and fix.

- 共享类型 ``conditional`` needs 共享条件; ``none`` needs 不予共享依据 (a law, administrative regulation or
  policy of 党中央、国务院), and a ``none`` resource cannot be open.
- Each data item is bound to a data element and inherits its data type, length and code set unless
  overridden; an item of a sensitive element (个人信息) is sensitive; an item's security level is at
  least its element's; the resource's level is the highest of its items' (就高从严).
- Column names are stable ASCII identifiers, unique within the resource.
- Before review: at least one data item and at least one key item (记录主键).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import (
    Classification,
    CodeSet,
    DataElement,
    DataType,
    Delivery,
    FormatCategory,
    OpenType,
    Resource,
    SecurityLevel,
    ShareType,
    UpdateCycle,
)
from jutong.catalog.schemas import DataItemIn, Problem, ResourceIn
from jutong.core.errors import ValidationFailed
from jutong.core.labels import LabeledEnum
from jutong.registry.models import Department, InformationSystem

NAME_RECOMMENDED, NAME_MAX = 50, 100
SUMMARY_RECOMMENDED, SUMMARY_MAX = 256, 1000
ITEM_NAME_MAX, FORMAT_TYPE_MAX, LENGTH_MAX = 100, 50, 100_000
LEVEL_RANK = {SecurityLevel.general.value: 0, SecurityLevel.important.value: 1, SecurityLevel.core.value: 2}
ITEM_COLUMNS = ("position", "name", "column_name", "element_id", "data_type", "length", "code_set_id",
                "required", "is_key", "sensitive", "security_level", "description")  # fmt: skip
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CLASSIFICATION_CODE = re.compile(r"^[1-3]\d{5,}$")
RESOURCE_CODE = re.compile(r"^[1-3]\d{5,}/\d{6}$")
_TYPES = "C字符 N数值 Y货币 D日期 T日期时间 L逻辑 M备注 G通用 B双精度 I整型 F浮点"

# code → (problem, fix); ``{placeholders}`` are filled in where the problem is found
MESSAGES: dict[str, tuple[str, str]] = {
    "code_immutable": ("资源代码生成后不能修改（现为 {current}）", "请不要填写资源代码，或填写原代码"),
    "code_invalid": ("“{value}”不是有效的资源代码", "资源代码为“分类码/6 位顺序码”，如 101001/000001；新建时不填即自动生成"),
    "code_taken": ("资源代码 {value} 已被“{other}”使用", "请不要填写资源代码，由平台按分类自动生成"),
    "department_required": ("没有选择提供方部门", "请选择提供该资源的部门"),
    "department_unknown": ("部门 #{value} 不存在", "请选择平台中已有的部门"),
    "classification_required": ("没有选择资源分类", "请选择资源所属的目或细目"),
    "classification_invalid": ("“{value}”不是目或细目的分类码", "分类码为 类(1 位：1 基础、2 主题、3 部门)+项(2 位)+目(3 位)+细目，至少 6 位数字，如 101001"),
    "classification_unknown": ("分类 {value} 不在分类体系中", "请从分类体系中选择；需要新的本地目或细目时，请平台管理员在“数据标准”中增加"),
    "name_required": ("信息资源名称不能为空", "请填写资源名称，如“户籍人口基本信息”"),
    "name_too_long": (f"信息资源名称有 {{n}} 字，超过 {NAME_MAX} 字上限", f"请精简到 {NAME_RECOMMENDED} 字以内"),
    "name_long": (f"信息资源名称有 {{n}} 字，编制指南建议不超过 {NAME_RECOMMENDED} 字", "建议精简名称"),
    "summary_required": ("信息资源摘要不能为空", "请简要说明资源的内容、范围和用途"),
    "summary_too_long": (f"信息资源摘要有 {{n}} 字，超过 {SUMMARY_MAX} 字上限", f"请精简到 {SUMMARY_RECOMMENDED} 字以内"),
    "summary_long": (f"信息资源摘要有 {{n}} 字，编制指南建议不超过 {SUMMARY_RECOMMENDED} 字", "建议精简摘要"),
    "format_type_too_long": (f"格式类型超过 {FORMAT_TYPE_MAX} 字", "请填写具体格式，如 XLSX、OFD、达梦"),
    "share_condition_required": ("有条件共享的资源必须写明共享条件", "在“共享条件”中写明可向哪些部门、为何种用途、以何种方式共享"),
    "share_basis_required": ("不予共享的资源必须有法律、行政法规或党中央、国务院政策依据", "在“共享条件/不予共享依据”中写明依据的名称和条款，如《中华人民共和国××法》第×条"),
    "none_cannot_open": ("不予共享的资源不能向社会开放", "请把开放类型改为“不予开放”，或重新确定共享类型"),
    "open_condition_required": ("有条件开放的资源必须写明开放条件", "在“开放条件”中写明申请条件和使用协议"),
    "open_with_sensitive": ("资源含敏感信息项（个人信息）却向社会开放", "请确认已脱敏或改为“不予开放”"),
    "system_unknown": ("系统 {value} 不在系统普查中", "请选择本部门已登记的政务信息系统，或不填"),
    "system_other_department": ("系统“{system}”属于{owner}，不是提供方{department}的系统", "只能关联提供方部门自己的政务信息系统"),
    "related_code_self": ("资源不能关联它自己", "请删除自身的资源代码"),
    "related_code_unknown": ("资源代码 {value} 不存在", "请填写目录中已有资源的代码，如基础库资源 101001/000001，多个用逗号分隔"),
    "items_required": ("资源没有信息项", "请至少登记一个信息项后再提交审核"),
    "key_item_required": ("没有标记记录主键的信息项", "请把能唯一确定一条记录的信息项（如公民身份号码、统一社会信用代码）标记为“主键”"),
    "item_name_required": ("第 {n} 个信息项没有名称", "请填写信息项名称，如“公民身份号码”"),
    "item_name_too_long": (f"信息项名称超过 {ITEM_NAME_MAX} 字", "请精简名称"),
    "item_name_duplicate": ("信息项名称“{value}”重复", "同一资源中信息项名称不能重复"),
    "item_element_required": ("{title}没有绑定数据元", "请从数据标准中选择对应的数据元，如 DE0001 公民身份号码"),
    "item_element_unknown": ("数据元“{value}”不存在", "请从“数据标准”页面查找数据元标识符；没有合适的可请平台管理员增加本地数据元"),
    "item_type_invalid": ("“{value}”不是有效的数据类型", f"请填写 {_TYPES} 之一"),
    "item_length_invalid": ("长度 {value} 不合理", f"请填写 1 到 {LENGTH_MAX} 之间的整数，或不填"),
    "item_code_set_unknown": ("代码集“{value}”不存在", "请填写已有代码集的标识符（如 GB/T 2261.1-2003），或不填以沿用数据元的代码集"),
    "item_sensitive_required": ("数据元“{element}”属于个人信息，信息项必须标记为敏感", "请勾选“敏感”（或不填，随数据元）"),
    "item_level_invalid": ("“{value}”不是有效的分级", "请填写 一般、重要 或 核心"),
    "item_level_too_low": ("分级“{value}”低于数据元“{element}”的分级“{floor}”", "请选择“{floor}”或更高（就高从严）"),
    "item_column_invalid": ("数据列名“{value}”不符合规则", "列名由小写字母、数字和下划线组成，以字母开头，不超过 63 个字符，如 sfzh"),
    "item_column_duplicate": ("数据列名“{value}”与第 {n} 个信息项重复", "同一资源中数据列名不能重复"),
}  # fmt: skip


@dataclass
class Checked:
    problems: list[Problem] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # Resource columns
    items: list[dict[str, Any]] = field(default_factory=list)  # DataItem columns, in order

    def add(
        self, code: str, fld: str, label: str, *, item: int | None = None, severity: str = "error", **fmt: Any
    ) -> None:
        problem, fix = MESSAGES[code]
        self.problems.append(
            Problem(fld, problem.format(**fmt), fix.format(**fmt), code, label, item, severity)
        )

    def raw(self, code: str, fld: str, label: str, problem: str, fix: str) -> None:
        self.problems.append(Problem(fld, problem, fix, code, label))


def choices_text(enum: type[LabeledEnum]) -> str:
    return "、".join(m.label for m in enum)


def code_of(enum: type[LabeledEnum], value: str, what: str) -> str:
    """A filter value (label or code) as its code, or a Chinese error listing the choices."""
    member = enum.from_label(value)
    if member is None:
        raise ValidationFailed(
            f"“{value}”不是有效的{what}，可选：{choices_text(enum)}", code="filter_invalid"
        )
    return str(member.value)


def _enum(checked: Checked, enum: type[LabeledEnum], value: str | None, fld: str, label: str) -> str | None:
    text = (value or "").strip()
    if not text:
        checked.raw(f"{fld}_required", fld, label, f"“{label}”必须填写", f"请选择：{choices_text(enum)}")
        return None
    member = enum.from_label(text)
    if member is None:
        checked.raw(
            f"{fld}_invalid", fld, label, f"“{text}”不是有效的{label}", f"请改为：{choices_text(enum)}"
        )
        return None
    return str(member.value)


def check(
    session: Session, data: ResourceIn, *, resource: Resource | None = None, for_submit: bool = False
) -> Checked:
    checked = Checked()
    _check_code(session, checked, data, resource)
    department = _check_department(session, checked, data)
    _check_texts(session, checked, data)
    _check_terms(checked, data)
    _check_links(session, checked, data, resource, department)
    _check_items(session, checked, data.items, resource)
    top = max((LEVEL_RANK.get(i["security_level"], 0) for i in checked.items), default=0)
    checked.values["security_level"] = next(k for k, v in LEVEL_RANK.items() if v == top)
    sensitive = any(i["sensitive"] for i in checked.items)
    if sensitive and checked.values.get("open_type") not in (None, OpenType.closed.value):
        checked.add("open_with_sensitive", "open_type", "开放类型", severity="warning")
    if for_submit and not data.items:
        checked.add("items_required", "items", "信息项")
    elif for_submit and not any(i.is_key for i in data.items):
        checked.add("key_item_required", "items", "记录主键")
    return checked


def _check_code(session: Session, checked: Checked, data: ResourceIn, resource: Resource | None) -> None:
    if data.code is None:
        return
    if resource is not None:
        if data.code != resource.code:
            checked.add("code_immutable", "code", "资源代码", current=resource.code)
    elif not RESOURCE_CODE.match(data.code):
        checked.add("code_invalid", "code", "资源代码", value=data.code)
    elif (other := session.scalar(select(Resource).where(Resource.code == data.code))) is not None:
        checked.add("code_taken", "code", "资源代码", value=data.code, other=other.name)


def _check_department(session: Session, checked: Checked, data: ResourceIn) -> Department | None:
    if data.department_id is None:
        checked.add("department_required", "department_id", "提供方")
        return None
    department = session.get(Department, data.department_id)
    if department is None:
        checked.add("department_unknown", "department_id", "提供方", value=data.department_id)
        return None
    checked.values["department_id"] = department.id
    checked.values["provider_code"] = department.credit_code or department.code
    return department


def _length(checked: Checked, text: str, fld: str, label: str, recommended: int, most: int) -> None:
    if len(text) > most:
        checked.add(f"{fld}_too_long", fld, label, n=len(text))
    elif len(text) > recommended:
        checked.add(f"{fld}_long", fld, label, severity="warning", n=len(text))


def _check_texts(session: Session, checked: Checked, data: ResourceIn) -> None:
    code = data.classification_code
    where = ("classification_code", "资源分类")
    if not code:
        checked.add("classification_required", *where)
    elif not CLASSIFICATION_CODE.match(code):
        checked.add("classification_invalid", *where, value=code)
    elif session.scalar(select(Classification.id).where(Classification.code == code)) is None:
        checked.add("classification_unknown", *where, value=code)
    if not data.name:
        checked.add("name_required", "name", "信息资源名称")
    _length(checked, data.name, "name", "信息资源名称", NAME_RECOMMENDED, NAME_MAX)
    if not data.summary:
        checked.add("summary_required", "summary", "信息资源摘要")
    _length(checked, data.summary, "summary", "信息资源摘要", SUMMARY_RECOMMENDED, SUMMARY_MAX)
    if len(data.format_type) > FORMAT_TYPE_MAX:
        checked.add("format_type_too_long", "format_type", "格式类型")
    checked.values.update(
        classification_code=code,
        name=data.name,
        summary=data.summary,
        format_category=_enum(checked, FormatCategory, data.format_category, "format_category", "格式分类"),
        format_type=data.format_type,
        update_cycle=_enum(checked, UpdateCycle, data.update_cycle, "update_cycle", "更新周期"),
        publish_date=data.publish_date,
    )


def _check_terms(checked: Checked, data: ResourceIn) -> None:
    share = _enum(checked, ShareType, data.share_type, "share_type", "共享类型")
    delivery = _enum(checked, Delivery, data.delivery, "delivery", "共享方式")
    open_type = _enum(checked, OpenType, data.open_type or OpenType.closed.value, "open_type", "开放类型")
    if share == ShareType.conditional.value and not data.share_condition:
        checked.add("share_condition_required", "share_condition", "共享条件")
    if share == ShareType.none.value and not data.share_condition:
        checked.add("share_basis_required", "share_condition", "不予共享依据")
    if share == ShareType.none.value and open_type not in (None, OpenType.closed.value):
        checked.add("none_cannot_open", "open_type", "开放类型")
    if open_type == OpenType.conditional.value and not data.open_condition:
        checked.add("open_condition_required", "open_condition", "开放条件")
    checked.values.update(
        share_type=share,
        share_condition=data.share_condition,
        delivery=delivery,
        open_type=open_type,
        open_condition=data.open_condition,
    )


def _check_links(
    session: Session,
    checked: Checked,
    data: ResourceIn,
    resource: Resource | None,
    department: Department | None,
) -> None:
    system = None
    if data.system_id is not None:
        system = session.get(InformationSystem, data.system_id)
    elif data.system_code:
        system = session.scalar(select(InformationSystem).where(InformationSystem.code == data.system_code))
    if system is None and (data.system_id is not None or data.system_code):
        value = data.system_code if data.system_id is None else f"#{data.system_id}"
        checked.add("system_unknown", "system_id", "关联系统", value=value)
    elif system is not None and department is not None and system.department_id != department.id:
        owner = session.get(Department, system.department_id)
        owner_name = owner.name if owner else "其他部门"
        checked.add("system_other_department", "system_id", "关联系统",
                    system=system.name, owner=owner_name, department=department.name)  # fmt: skip
    checked.values["system_id"] = system.id if system is not None else None

    own_code = resource.code if resource is not None else data.code
    codes = [c for c in data.related_codes if c != own_code]
    if len(codes) != len(data.related_codes):
        checked.add("related_code_self", "related_codes", "关联资源代码")
    found = set(session.scalars(select(Resource.code).where(Resource.code.in_(codes)))) if codes else set()
    for code in codes:
        if code not in found:
            checked.add("related_code_unknown", "related_codes", "关联资源代码", value=code)
    checked.values["related_codes"] = codes


def _column_default(identifier: str) -> str:
    text = re.sub(r"[^a-z0-9_]", "_", identifier.lower())
    if not text or not text[0].isalpha():
        text = f"c_{text}"
    return text[:60]


def _lookups(
    session: Session, items: list[DataItemIn]
) -> tuple[dict[int, DataElement], dict[str, DataElement], dict[str, int]]:
    ids = {i.element_id for i in items if i.element_id is not None}
    idents = {i.element_identifier for i in items if i.element_id is None and i.element_identifier}
    set_idents = {i.code_set_identifier for i in items if i.code_set_identifier}
    by_id = (
        {e.id: e for e in session.scalars(select(DataElement).where(DataElement.id.in_(ids)))} if ids else {}
    )
    by_ident = (
        {
            e.identifier: e
            for e in session.scalars(select(DataElement).where(DataElement.identifier.in_(idents)))
        }
        if idents
        else {}
    )
    code_sets = (
        {
            c.identifier: c.id
            for c in session.scalars(select(CodeSet).where(CodeSet.identifier.in_(set_idents)))
        }
        if set_idents
        else {}
    )
    return by_id, by_ident, code_sets


def _check_items(
    session: Session, checked: Checked, items: list[DataItemIn], resource: Resource | None
) -> None:
    by_id, by_ident, code_sets = _lookups(session, items)
    names: set[str] = set()
    out: dict[int, dict[str, Any]] = {}
    elements: list[DataElement | None] = []
    for n, item in enumerate(items):
        title = f"信息项“{item.name or n + 1}”"

        def add(code: str, attr: str, what: str, *, _n: int = n, _t: str = title, **fmt: Any) -> None:
            checked.add(code, f"items.{_n}.{attr}", f"{_t}的{what}", item=_n, title=_t, **fmt)

        if not item.name:
            add("item_name_required", "name", "名称", n=n + 1)
        elif len(item.name) > ITEM_NAME_MAX:
            add("item_name_too_long", "name", "名称")
        elif item.name in names:
            add("item_name_duplicate", "name", "名称", value=item.name)
        names.add(item.name)

        if item.element_id is not None:
            element = by_id.get(item.element_id)
        else:
            element = by_ident.get(item.element_identifier) if item.element_identifier else None
        elements.append(element)
        if element is None:
            if item.element_id is None and not item.element_identifier:
                add("item_element_required", "element", "数据元")
            else:
                add(
                    "item_element_unknown",
                    "element",
                    "数据元",
                    value=item.element_identifier or item.element_id,
                )
            continue

        data_type = DataType.from_label(item.data_type or element.data_type)
        if data_type is None:
            add("item_type_invalid", "data_type", "数据类型", value=item.data_type)
        length = item.length if item.length is not None else element.length
        if length is not None and not 0 < length <= LENGTH_MAX:
            add("item_length_invalid", "length", "长度", value=length)
        code_set_id = element.code_set_id
        if item.code_set_identifier:
            code_set_id = code_sets.get(item.code_set_identifier)
            if code_set_id is None:
                add("item_code_set_unknown", "code_set", "代码集", value=item.code_set_identifier)
        if element.sensitive and item.sensitive is False:
            add("item_sensitive_required", "sensitive", "敏感标记", element=element.name)
        floor = (
            element.security_level if element.security_level in LEVEL_RANK else SecurityLevel.general.value
        )
        level = floor
        if item.security_level:
            member = SecurityLevel.from_label(item.security_level)
            if member is None:
                add("item_level_invalid", "security_level", "分级", value=item.security_level)
            elif LEVEL_RANK[member.value] < LEVEL_RANK[floor]:
                add("item_level_too_low", "security_level", "分级",
                    value=member.label, element=element.name, floor=SecurityLevel(floor).label)  # fmt: skip
            else:
                level = member.value
        if item.column_name is not None and not COLUMN_NAME.match(item.column_name):
            add("item_column_invalid", "column_name", "数据列名", value=item.column_name)
        out[n] = {
            "position": n + 1,
            "name": item.name,
            "column_name": item.column_name,
            "element_id": element.id,
            "data_type": data_type.value if data_type else element.data_type,
            "length": length,
            "code_set_id": code_set_id,
            "required": item.required or item.is_key,
            "is_key": item.is_key,
            "sensitive": bool(element.sensitive or item.sensitive),
            "security_level": level,
            "description": item.description,
        }
    previous = {i.name: i.column_name for i in resource.items} if resource is not None else {}
    _assign_columns(checked, items, out, elements, previous)
    checked.items = list(out.values())


def _assign_columns(
    checked: Checked,
    items: list[DataItemIn],
    rows: dict[int, dict[str, Any]],
    elements: list[DataElement | None],
    previous_columns: dict[str, str],
) -> None:
    """Explicit column names first; the others keep their previous column (same item name) or take the
    element identifier in lower case, with ``_2``, ``_3`` … when taken."""
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        if item.column_name is None or not COLUMN_NAME.match(item.column_name):
            continue
        if item.column_name in seen:
            checked.add("item_column_duplicate", f"items.{n}.column_name", f"信息项“{item.name}”的数据列名",
                        item=n, value=item.column_name, n=seen[item.column_name] + 1)  # fmt: skip
        seen.setdefault(item.column_name, n)
    taken = set(seen)
    pending = [n for n, item in enumerate(items) if item.column_name is None and n in rows]
    for n in list(pending):  # an item keeps the column it had, so data already loaded stays put
        kept = previous_columns.get(items[n].name)
        if kept and kept not in taken:
            rows[n]["column_name"] = kept
            taken.add(kept)
            pending.remove(n)
    for n in pending:
        element = elements[n]
        base = _column_default(element.identifier if element is not None else f"c{n + 1}")
        column, suffix = base, 2
        while column in taken:
            column, suffix = f"{base}_{suffix}", suffix + 1
        rows[n]["column_name"] = column
        taken.add(column)
