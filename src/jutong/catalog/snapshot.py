"""Snapshots of a resource and the differences between two of them.

A snapshot (``ResourceVersion.snapshot``) is the contract ingest and exchange read: a JSON object
with every catalog field of the resource and its ``items``. ``snapshot_of`` builds one from the
working copy; ``diff_snapshots`` compares two (field by field, items matched by column name, then
by name) and says what changed in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import (
    CodeSet,
    DataElement,
    DataItem,
    DataType,
    Delivery,
    FormatCategory,
    OpenType,
    Resource,
    SecurityLevel,
    ShareType,
    UpdateCycle,
)
from jutong.core.labels import LabeledEnum
from jutong.registry.models import Department, InformationSystem

FIELD_LABELS: dict[str, str] = {
    "code": "资源代码",
    "classification_code": "资源分类",
    "name": "信息资源名称",
    "department_id": "提供方",
    "department_name": "提供方名称",
    "provider_code": "提供方代码",
    "summary": "信息资源摘要",
    "format_category": "格式分类",
    "format_type": "格式类型",
    "share_type": "共享类型",
    "share_condition": "共享条件/不予共享依据",
    "delivery": "共享方式",
    "open_type": "开放类型",
    "open_condition": "开放条件",
    "update_cycle": "更新周期",
    "publish_date": "发布日期",
    "system_id": "关联系统",
    "system_code": "关联系统编号",
    "related_codes": "关联资源代码",
    "security_level": "资源分级",
}

ITEM_LABELS: dict[str, str] = {
    "position": "顺序",
    "name": "信息项名称",
    "column_name": "数据列名",
    "element_identifier": "数据元",
    "data_type": "数据类型",
    "length": "长度",
    "code_set_identifier": "代码集",
    "required": "必填",
    "is_key": "记录主键",
    "sensitive": "敏感",
    "security_level": "分级",
    "description": "说明",
}

ENUMS: dict[str, type[LabeledEnum]] = {
    "format_category": FormatCategory,
    "share_type": ShareType,
    "delivery": Delivery,
    "open_type": OpenType,
    "update_cycle": UpdateCycle,
    "security_level": SecurityLevel,
    "data_type": DataType,
}

# shown with the change of the field they follow, not as changes of their own
_SHADOW_FIELDS = frozenset({"department_name", "system_code"})


def label_of(field_name: str, value: Any) -> str:
    """A stored value as people read it: enum codes as their Chinese labels, booleans as 是/否."""
    if value is None or value == "" or value == []:
        return "—"
    enum = ENUMS.get(field_name)
    if enum is not None:
        member = enum.from_label(str(value))
        return member.label if member is not None else str(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def item_snapshot(item: DataItem, element_identifier: str, code_set_identifier: str | None) -> dict[str, Any]:
    return {
        "position": item.position,
        "name": item.name,
        "column_name": item.column_name,
        "element_identifier": element_identifier,
        "data_type": item.data_type,
        "length": item.length,
        "code_set_identifier": code_set_identifier,
        "required": item.required,
        "is_key": item.is_key,
        "sensitive": item.sensitive,
        "security_level": item.security_level,
        "description": item.description,
    }


def snapshot_of(session: Session, resource: Resource) -> dict[str, Any]:
    """The working copy as a snapshot (what publishing it would store)."""
    department = session.get(Department, resource.department_id)
    system = session.get(InformationSystem, resource.system_id) if resource.system_id else None
    items = list(
        session.scalars(
            select(DataItem).where(DataItem.resource_id == resource.id).order_by(DataItem.position)
        )
    )
    element_ids = {i.element_id for i in items}
    code_set_ids = {i.code_set_id for i in items if i.code_set_id is not None}
    elements: dict[int, str] = {
        i: ident
        for i, ident in session.execute(
            select(DataElement.id, DataElement.identifier).where(DataElement.id.in_(element_ids))
        )
    }
    code_sets: dict[int, str] = {
        i: ident
        for i, ident in session.execute(
            select(CodeSet.id, CodeSet.identifier).where(CodeSet.id.in_(code_set_ids))
        )
    }
    return {
        "code": resource.code,
        "classification_code": resource.classification_code,
        "name": resource.name,
        "department_id": resource.department_id,
        "department_name": department.name if department else "",
        "provider_code": resource.provider_code,
        "summary": resource.summary,
        "format_category": resource.format_category,
        "format_type": resource.format_type,
        "share_type": resource.share_type,
        "share_condition": resource.share_condition,
        "delivery": resource.delivery,
        "open_type": resource.open_type,
        "open_condition": resource.open_condition,
        "update_cycle": resource.update_cycle,
        "publish_date": resource.publish_date.isoformat() if resource.publish_date else None,
        "system_id": resource.system_id,
        "system_code": system.code if system else None,
        "related_codes": list(resource.related_codes or []),
        "security_level": resource.security_level,
        "items": [
            item_snapshot(
                i, elements.get(i.element_id, ""), code_sets.get(i.code_set_id) if i.code_set_id else None
            )
            for i in items
        ],
    }


@dataclass(frozen=True)
class AttributeChange:
    field: str
    label: str
    old: Any
    new: Any
    old_text: str
    new_text: str


@dataclass(frozen=True)
class Change:
    """One difference: a field (``kind="field"``) or a data item added, removed or changed."""

    kind: str  # field | item_added | item_removed | item_changed
    field: str  # the resource field, or the item's column name
    label: str  # Chinese: 共享类型 / 信息项“姓名”
    old: Any
    new: Any
    old_text: str
    new_text: str
    attributes: tuple[AttributeChange, ...] = dc_field(default_factory=tuple)

    @property
    def summary(self) -> str:
        if self.kind == "item_added":
            return f"新增{self.label}"
        if self.kind == "item_removed":
            return f"删除{self.label}"
        if self.kind == "item_changed":
            return f"修改{self.label}：" + "、".join(a.label for a in self.attributes)
        return f"{self.label}：{self.old_text} → {self.new_text}"


def _field_text(snapshot: dict[str, Any], key: str) -> str:
    value = snapshot.get(key)
    if key == "department_id" and snapshot.get("department_name"):
        return str(snapshot["department_name"])
    if key == "system_id" and value is not None:
        return str(snapshot.get("system_code") or value)
    return label_of(key, value)


def _item_text(item: dict[str, Any]) -> str:
    return f"{item.get('name', '')}（{item.get('column_name', '')}，{item.get('element_identifier', '')}）"


def _match_items(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pairs by column name (the stable identifier), then by name; the rest were removed or added."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    left = list(old)
    right = list(new)
    for key in ("column_name", "name"):
        index = {i.get(key): i for i in left}
        for item in list(right):
            match = index.pop(item.get(key), None)
            if match is not None and match in left:
                pairs.append((match, item))
                left.remove(match)
                right.remove(item)
    return pairs, left, right


def diff_snapshots(a: dict[str, Any] | None, b: dict[str, Any]) -> list[Change]:
    """What changed from ``a`` to ``b`` (``a`` None: nothing to compare with, no changes)."""
    if a is None:
        return []
    changes: list[Change] = []
    for key, label in FIELD_LABELS.items():
        if key in _SHADOW_FIELDS:
            continue
        old, new = a.get(key), b.get(key)
        if key == "related_codes":
            old, new = sorted(old or []), sorted(new or [])
        if old == new:
            continue
        changes.append(Change("field", key, label, old, new, _field_text(a, key), _field_text(b, key)))
    pairs, removed, added = _match_items(list(a.get("items") or []), list(b.get("items") or []))
    for old_item, new_item in sorted(pairs, key=lambda p: p[1].get("position", 0)):
        attrs = tuple(
            AttributeChange(
                key,
                label,
                old_item.get(key),
                new_item.get(key),
                label_of(key, old_item.get(key)),
                label_of(key, new_item.get(key)),
            )
            for key, label in ITEM_LABELS.items()
            if key != "position" and old_item.get(key) != new_item.get(key)
        )
        if attrs:
            changes.append(
                Change(
                    "item_changed",
                    str(new_item.get("column_name")),
                    f"信息项“{new_item.get('name')}”",
                    old_item,
                    new_item,
                    _item_text(old_item),
                    _item_text(new_item),
                    attrs,
                )
            )
    for item in removed:
        changes.append(
            Change(
                "item_removed",
                str(item.get("column_name")),
                f"信息项“{item.get('name')}”",
                item,
                None,
                _item_text(item),
                "—",
            )
        )
    for item in added:
        changes.append(
            Change(
                "item_added",
                str(item.get("column_name")),
                f"信息项“{item.get('name')}”",
                None,
                item,
                "—",
                _item_text(item),
            )
        )
    return changes


def same_content(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """True when two snapshots declare the same resource (item order included)."""
    if a is None:
        return False
    if diff_snapshots(a, b):
        return False
    return [i.get("column_name") for i in a.get("items") or []] == [
        i.get("column_name") for i in b.get("items") or []
    ]
