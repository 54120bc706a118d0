"""Local additions to the data standards by the operator: 本地数据元 (``LDE`` + digits), 本地代码集
(with their values, pasted as "code,label" lines or uploaded as a UTF-8/GBK CSV) and 本地目/细目.

Every refusal names the field in Chinese; every addition is audited in the same unit of work.
Use these through ``jutong.catalog.standards``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import (
    Classification,
    CodeSet,
    CodeValue,
    DataElement,
    DataType,
    SecurityLevel,
    StandardSource,
)
from jutong.core.audit import record
from jutong.core.auth import Principal, Role, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, ValidationFailed
from jutong.standards.codes import VALIDATOR_NAMES, VALIDATORS

LOCAL = StandardSource.local.value
LOCAL_ELEMENT_PATTERN = re.compile(r"LDE\d{1,8}")
MAX_CLASSIFICATION_CODE = 20


def classification_level(code: str) -> int:
    """1 类 (1 digit), 2 项 (3), 3 目 (6), 4 细目 (more than 6)."""
    return {1: 1, 3: 2, 6: 3}.get(len(code), 4)


def classification_parent(code: str) -> str | None:
    """类 ← 项 ← 目 ← 细目: the 项 of a 目 is its first 3 digits, the 目 of a 细目 its first 6."""
    return {1: None, 2: code[:1], 3: code[:3], 4: code[:6]}[classification_level(code)]


@dataclass(frozen=True)
class ValueRow:
    """One value of a code set being added."""

    code: str
    label: str
    parent_code: str | None = None


def _invalid(field: str, label: str, message: str, code: str, **detail: object) -> ValidationFailed:
    return ValidationFailed(f"{label}：{message}", code=code, detail={"field": field, **detail})


def _require_operator(principal: Principal, what: str) -> None:
    require_role(
        principal, Role.operator, message=f"只有平台管理员可以新增{what}，当前角色为{principal.role_label}"
    )


def _text(value: str | None, field: str, label: str, *, max_length: int, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise _invalid(field, label, "必填，请填写", f"{field}_required")
    if len(text) > max_length:
        raise _invalid(
            field, label, f"不能超过 {max_length} 个字符（现有 {len(text)} 个）", f"{field}_too_long"
        )
    return text


# ---------------------------------------------------------------- data elements


def _next_local_identifier(session: Session) -> str:
    taken = session.scalars(select(DataElement.identifier).where(DataElement.identifier.like("LDE%")))
    numbers = [int(i[3:]) for i in taken if LOCAL_ELEMENT_PATTERN.fullmatch(i)]
    return f"LDE{max(numbers, default=0) + 1:04d}"


def add_local_element(
    session: Session,
    principal: Principal,
    *,
    name: str,
    data_type: str,
    identifier: str | None = None,
    english_name: str = "",
    definition: str = "",
    length: int | None = None,
    precision: int | None = None,
    format: str = "",
    validator: str | None = None,
    code_set: str | None = None,
    sensitive: bool = False,
    security_level: str = SecurityLevel.general.value,
) -> DataElement:
    """Add a 本地数据元; the identifier is the next ``LDE`` number unless given."""
    _require_operator(principal, "本地数据元")
    name = _text(name, "name", "中文名称", max_length=100, required=True)
    english_name = _text(english_name, "english_name", "英文名称", max_length=200)
    format = _text(format, "format", "表示格式", max_length=100)
    ident = (identifier or "").strip().upper()
    if not ident:
        ident = _next_local_identifier(session)
    elif not LOCAL_ELEMENT_PATTERN.fullmatch(ident):
        raise _invalid(
            "identifier",
            "标识符",
            f"“{ident}”不符合本地数据元的编号规则，应为 LDE 加数字（如 LDE0001）；留空则自动编号",
            "element_identifier_invalid",
        )
    if session.scalar(select(DataElement.id).where(DataElement.identifier == ident)) is not None:
        raise Conflict(
            f"标识符：数据元“{ident}”已存在，请换一个标识符或留空自动编号",
            code="element_identifier_taken",
            detail={"field": "identifier", "identifier": ident},
        )
    kind = DataType.from_label(data_type or "")
    if kind is None:
        allowed = "、".join(f"{t.value} {t.label}" for t in DataType)
        raise _invalid(
            "data_type", "数据类型", f"“{data_type}”无效，应为以下之一：{allowed}", "data_type_invalid"
        )
    if length is not None and length <= 0:
        raise _invalid("length", "长度", f"须为正整数（现为 {length}），不限长度请留空", "length_invalid")
    if precision is not None and (precision < 0 or (length is not None and precision > length)):
        raise _invalid(
            "precision", "精度", f"须为 0 到长度之间的整数（现为 {precision}）", "precision_invalid"
        )
    check = (validator or "").strip() or None
    if check is not None and check not in VALIDATORS:
        allowed = "、".join(f"{k}（{v}）" for k, v in VALIDATOR_NAMES.items())
        raise _invalid("validator", "校验规则", f"“{check}”不存在，可选：{allowed}", "validator_unknown")
    code_set_id = None
    if (code_set or "").strip():
        found = session.scalar(select(CodeSet).where(CodeSet.identifier == (code_set or "").strip()))
        if found is None:
            raise _invalid(
                "code_set",
                "代码集",
                f"“{code_set}”不存在，请先新增该代码集，或从列表中选择已有代码集",
                "code_set_unknown",
            )
        code_set_id = found.id
    level = SecurityLevel.from_label(security_level or SecurityLevel.general.value)
    if level is None:
        raise _invalid(
            "security_level",
            "安全级别",
            f"“{security_level}”无效，应为 一般、重要 或 核心",
            "security_level_invalid",
        )
    element = DataElement(
        identifier=ident,
        name=name,
        english_name=english_name,
        definition=(definition or "").strip(),
        data_type=kind.value,
        length=length,
        precision=precision,
        format=format,
        validator=check,
        code_set_id=code_set_id,
        sensitive=sensitive,
        security_level=level.value,
        source=LOCAL,
        created_at=utcnow(),
    )
    session.add(element)
    session.flush()
    record(
        session,
        principal,
        "standards.add_element",
        summary=f"新增本地数据元 {ident} {name}",
        object_type="data_element",
        object_id=element.id,
        detail={"identifier": ident, "name": name, "data_type": kind.value, "code_set": code_set or None},
    )
    return element


# ---------------------------------------------------------------- code sets


def decode_upload(data: bytes) -> str:
    """An uploaded CSV as text: UTF-8 (with or without BOM), else GBK (read as its superset GB18030)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _invalid(
            "file",
            "代码值文件",
            "是 UTF-16 编码，请另存为 UTF-8 或 GBK 编码的 CSV",
            "file_encoding_unsupported",
        )
    for codec in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise _invalid(
        "file",
        "代码值文件",
        "无法识别编码，请上传 UTF-8 或 GBK 编码的 CSV 文本文件",
        "file_encoding_unsupported",
    )


_HEADER_WORDS = {"code", "代码", "编码", "代码值", "值"}


def parse_code_values(text: str) -> list[ValueRow]:
    """ "code,label[,parent_code]" per line (comma, Chinese comma or tab); blank lines, ``#`` comments
    and a header line (代码,名称 / code,label) are skipped."""
    rows: list[ValueRow] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        delimiter = "\t" if "\t" in line else ("," if "," in line else "，")
        fields = [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
        if not rows and fields[0].lower() in _HEADER_WORDS:
            continue
        if len(fields) < 2 or len(fields) > 3 or not fields[0] or not fields[1]:
            raise _invalid(
                "values",
                "代码值",
                f"第 {number} 行“{line}”应为“代码,名称”（可加第三列上级代码），名称中的逗号请用引号括起",
                "code_values_line_invalid",
                line=number,
            )
        rows.append(ValueRow(fields[0], fields[1], (fields[2] if len(fields) == 3 else "") or None))
    return rows


def _check_values(values: Sequence[ValueRow]) -> None:
    if not values:
        raise _invalid("values", "代码值", "至少需要一个代码值，每行一个“代码,名称”", "code_values_empty")
    seen: set[str] = set()
    for number, value in enumerate(values, start=1):
        if not value.code.strip() or not value.label.strip():
            raise _invalid(
                "values",
                "代码值",
                f"第 {number} 个代码值的代码和名称都必填",
                "code_value_invalid",
                line=number,
            )
        if len(value.code.strip()) > 32 or len(value.label.strip()) > 200:
            raise _invalid(
                "values",
                "代码值",
                f"第 {number} 个代码值过长（代码最长 32、名称最长 200 个字符）",
                "code_value_invalid",
                line=number,
            )
        if value.code.strip() in seen:
            raise _invalid(
                "values",
                "代码值",
                f"代码“{value.code.strip()}”重复出现（第 {number} 个）",
                "code_value_duplicate",
                line=number,
            )
        seen.add(value.code.strip())
    for number, value in enumerate(values, start=1):
        parent = (value.parent_code or "").strip()
        if parent and parent not in seen:
            raise _invalid(
                "values",
                "代码值",
                f"第 {number} 个代码值的上级代码“{parent}”不在本代码集中",
                "code_value_parent_missing",
                line=number,
            )


def add_local_code_set(
    session: Session,
    principal: Principal,
    *,
    identifier: str,
    name: str,
    values: Sequence[ValueRow],
    description: str = "",
) -> CodeSet:
    """Add a 本地代码集 with its values, in the order given."""
    _require_operator(principal, "本地代码集")
    ident = _text(identifier, "identifier", "代码集标识符", max_length=64, required=True)
    name = _text(name, "name", "代码集名称", max_length=100, required=True)
    if session.scalar(select(CodeSet.id).where(CodeSet.identifier == ident)) is not None:
        raise Conflict(
            f"代码集标识符：“{ident}”已存在，请换一个标识符",
            code="code_set_identifier_taken",
            detail={"field": "identifier", "identifier": ident},
        )
    _check_values(values)
    code_set = CodeSet(
        identifier=ident,
        name=name,
        description=(description or "").strip(),
        source=LOCAL,
        created_at=utcnow(),
    )
    session.add(code_set)
    session.flush()
    session.add_all(
        CodeValue(
            code_set_id=code_set.id,
            code=v.code.strip(),
            label=v.label.strip(),
            position=position,
            parent_code=(v.parent_code or "").strip() or None,
            valid=True,
        )
        for position, v in enumerate(values, start=1)
    )
    session.flush()
    record(
        session,
        principal,
        "standards.add_code_set",
        summary=f"新增本地代码集 {ident} {name}（{len(values)} 个代码值）",
        object_type="code_set",
        object_id=code_set.id,
        detail={"identifier": ident, "name": name, "values": len(values)},
    )
    return code_set


# ---------------------------------------------------------------- classifications


def add_local_classification(
    session: Session, principal: Principal, *, code: str, name: str
) -> Classification:
    """Add a 本地目 (6 digits, under an existing 项) or 细目 (more digits, under an existing 目)."""
    _require_operator(principal, "本地分类")
    text = (code or "").strip()
    if not text.isdigit() or not 6 <= len(text) <= MAX_CLASSIFICATION_CODE:
        why = (
            "类和项由《政务信息资源目录编制指南》规定，只能新增目（6 位）或细目（6 位以上）"
            if text.isdigit() and len(text) < 6
            else f"应为纯数字：6 位为目（类 1 位 + 项 2 位 + 目 3 位），更长为细目，最长 {MAX_CLASSIFICATION_CODE} 位"
        )
        raise _invalid("code", "分类码", f"“{text}”{why}", "classification_code_invalid")
    name = _text(name, "name", "分类名称", max_length=100, required=True)
    if session.scalar(select(Classification.id).where(Classification.code == text)) is not None:
        raise Conflict(
            f"分类码：“{text}”已存在",
            code="classification_code_taken",
            detail={"field": "code", "code": text},
        )
    parent = classification_parent(text)
    assert parent is not None
    if session.scalar(select(Classification.id).where(Classification.code == parent)) is None:
        what = "项" if len(text) == 6 else "目"
        raise _invalid(
            "code",
            "分类码",
            f"上级{what}“{parent}”不存在，请先新增上级{what}，或检查分类码的前 {len(parent)} 位",
            "classification_parent_missing",
            parent_code=parent,
        )
    classification = Classification(
        code=text, name=name, level=classification_level(text), parent_code=parent, source=LOCAL
    )
    session.add(classification)
    session.flush()
    record(
        session,
        principal,
        "standards.add_classification",
        summary=f"新增本地{'目' if len(text) == 6 else '细目'} {text} {name}",
        object_type="classification",
        object_id=classification.id,
        detail={"code": text, "name": name, "parent_code": parent},
    )
    return classification
