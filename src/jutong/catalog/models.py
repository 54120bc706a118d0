"""Catalog models: the contract of the whole platform.

- ``Resource`` is the working copy a steward edits (with its ``DataItem`` rows) and its workflow state.
- ``ResourceVersion`` is an immutable published version: a JSON snapshot of the resource and its items.
  Ingest enforces, and exchange serves, the latest published version.
- ``CatalogEntry`` is the searchable projection of each resource's latest published version; the
  database keeps its full-text index in step (SQLite FTS5 triggers / a PostgreSQL generated tsvector),
  so search can never drift from the data.
- ``DataElement`` and ``CodeSet`` (with ``CodeValue``) are the national (GB/T 19488, GB/T 2261.1,
  GB 3304, GB/T 2260 ...) and local standards that data items are bound to.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jutong.core.db import Base, UTCDateTime, utcnow
from jutong.core.labels import LabeledEnum, register_labels

_CODE = 32


class ClassCategory(LabeledEnum):
    """资源属性分类：类 (1 位)."""

    base = "1"  # 基础
    theme = "2"  # 主题
    department = "3"  # 部门


class ShareType(LabeledEnum):
    """共享类型."""

    unconditional = "unconditional"
    conditional = "conditional"
    none = "none"


class OpenType(LabeledEnum):
    """开放类型."""

    open = "open"
    conditional = "conditional"
    closed = "closed"


class Delivery(LabeledEnum):
    """共享方式（平台方式下的类型）."""

    api = "api"
    file = "file"
    table = "table"


class UpdateCycle(LabeledEnum):
    """更新周期."""

    realtime = "realtime"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    yearly = "yearly"
    other = "other"


class FormatCategory(LabeledEnum):
    """信息资源格式分类."""

    document = "document"
    spreadsheet = "spreadsheet"
    database = "database"
    image = "image"
    media = "media"
    self_describing = "self_describing"
    service = "service"


class DataType(LabeledEnum):
    """信息项数据类型（编制指南）：C字符 N数值 Y货币 D日期 T日期时间 L逻辑 M备注 G通用 B双精度 I整型 F浮点."""

    C = "C"
    N = "N"
    Y = "Y"
    D = "D"
    T = "T"
    L = "L"
    M = "M"
    G = "G"
    B = "B"
    I = "I"  # noqa: E741
    F = "F"


class SecurityLevel(LabeledEnum):
    """数据分级（GB/T 43697-2024），由低到高；资源的级别取其信息项的最高级（就高从严）."""

    general = "general"
    important = "important"
    core = "core"


class ResourceStatus(LabeledEnum):
    """目录工作流."""

    draft = "draft"
    submitted = "submitted"
    published = "published"
    withdrawn = "withdrawn"


class StandardSource(LabeledEnum):
    national = "national"
    local = "local"


# OpenType apart: OpenType.conditional == ShareType.conditional as str, one dict literal would merge them
register_labels(
    {OpenType.open: "无条件开放", OpenType.conditional: "有条件开放", OpenType.closed: "不予开放"}
)
register_labels(
    {
        ClassCategory.base: "基础",
        ClassCategory.theme: "主题",
        ClassCategory.department: "部门",
        ShareType.unconditional: "无条件共享",
        ShareType.conditional: "有条件共享",
        ShareType.none: "不予共享",
        Delivery.api: "接口",
        Delivery.file: "文件",
        Delivery.table: "数据库",
        UpdateCycle.realtime: "实时",
        UpdateCycle.daily: "每日",
        UpdateCycle.weekly: "每周",
        UpdateCycle.monthly: "每月",
        UpdateCycle.quarterly: "每季度",
        UpdateCycle.semiannual: "每半年",
        UpdateCycle.yearly: "每年",
        UpdateCycle.other: "其他",
        FormatCategory.document: "电子文件",
        FormatCategory.spreadsheet: "电子表格",
        FormatCategory.database: "数据库",
        FormatCategory.image: "图形图像",
        FormatCategory.media: "流媒体",
        FormatCategory.self_describing: "自描述格式",
        FormatCategory.service: "服务接口",
        DataType.C: "字符型",
        DataType.N: "数值型",
        DataType.Y: "货币型",
        DataType.D: "日期型",
        DataType.T: "日期时间型",
        DataType.L: "逻辑型",
        DataType.M: "备注型",
        DataType.G: "通用型",
        DataType.B: "双精度型",
        DataType.I: "整型",
        DataType.F: "浮点型",
        SecurityLevel.general: "一般",
        SecurityLevel.important: "重要",
        SecurityLevel.core: "核心",
        ResourceStatus.draft: "草稿",
        ResourceStatus.submitted: "待审核",
        ResourceStatus.published: "已发布",
        ResourceStatus.withdrawn: "已撤销",
        StandardSource.national: "国家标准",
        StandardSource.local: "本地扩展",
    }
)


class Classification(Base):
    """资源分类：类 / 项 / 目 / 细目. ``code`` is the concatenation (1 + 2 + 3 + variable digits)."""

    __tablename__ = "catalog_classification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)  # 1 类, 2 项, 3 目, 4 细目
    parent_code: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(_CODE), default=StandardSource.national.value)


class CodeSet(Base):
    """代码集 (e.g. GB/T 2261.1 人的性别代码)."""

    __tablename__ = "code_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. GB/T 2261.1-2003
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(_CODE), default=StandardSource.national.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CodeValue(Base):
    __tablename__ = "code_value"
    __table_args__ = (UniqueConstraint("code_set_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_set_id: Mapped[int] = mapped_column(ForeignKey("code_set.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    parent_code: Mapped[str | None] = mapped_column(String(32))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)  # retired codes stay for old data


class DataElement(Base):
    """数据元 (GB/T 19488.1 attributes that matter to the platform)."""

    __tablename__ = "data_element"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)  # 标识符
    name: Mapped[str] = mapped_column(String(100))  # 中文名称
    english_name: Mapped[str] = mapped_column(String(200), default="")
    definition: Mapped[str] = mapped_column(Text, default="")  # 说明（定义）
    data_type: Mapped[str] = mapped_column(String(2))  # DataType
    length: Mapped[int | None] = mapped_column(Integer)
    precision: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(100), default="")  # 表示格式, e.g. an18, n8 YYYYMMDD
    validator: Mapped[str | None] = mapped_column(String(32))  # standards validator id: cn_id, uscc, ...
    code_set_id: Mapped[int | None] = mapped_column(ForeignKey("code_set.id"))
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)  # 个人信息
    security_level: Mapped[str] = mapped_column(String(_CODE), default=SecurityLevel.general.value)
    source: Mapped[str] = mapped_column(String(_CODE), default=StandardSource.national.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    code_set: Mapped[CodeSet | None] = relationship(lazy="raise")


class Resource(Base):
    """政务信息资源 (one catalog entry): the working copy and its workflow state."""

    __tablename__ = "resource"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # 资源代码: 分类码/顺序码, never changes
    classification_code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)  # 提供方
    provider_code: Mapped[str] = mapped_column(String(32), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    format_category: Mapped[str] = mapped_column(String(_CODE))
    format_type: Mapped[str] = mapped_column(String(50), default="")  # e.g. XLSX, OFD, 达梦
    share_type: Mapped[str] = mapped_column(String(_CODE))
    share_condition: Mapped[str] = mapped_column(Text, default="")  # 共享条件 / 不予共享依据
    delivery: Mapped[str] = mapped_column(String(_CODE))
    open_type: Mapped[str] = mapped_column(String(_CODE), default=OpenType.closed.value)
    open_condition: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(_CODE))
    publish_date: Mapped[date | None] = mapped_column(Date)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("information_system.id"))
    related_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    security_level: Mapped[str] = mapped_column(String(_CODE), default=SecurityLevel.general.value)
    status: Mapped[str] = mapped_column(String(_CODE), default=ResourceStatus.draft.value, index=True)
    published_version: Mapped[int | None] = mapped_column(Integer)  # latest published version number
    return_reason: Mapped[str] = mapped_column(Text, default="")  # 退回理由
    reviewed_on: Mapped[date | None] = mapped_column(Date)  # 年度复核
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[DataItem]] = relationship(
        lazy="raise", order_by="DataItem.position", cascade="all, delete-orphan", back_populates="resource"
    )


class DataItem(Base):
    """信息项: one field of a resource, bound to a data element."""

    __tablename__ = "data_item"
    __table_args__ = (UniqueConstraint("resource_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))  # 信息项名称
    column_name: Mapped[str] = mapped_column(String(64))  # stable identifier in the data plane, e.g. sfzh
    element_id: Mapped[int] = mapped_column(ForeignKey("data_element.id"))
    data_type: Mapped[str] = mapped_column(String(2))
    length: Mapped[int | None] = mapped_column(Integer)
    code_set_id: Mapped[int | None] = mapped_column(ForeignKey("code_set.id"))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    security_level: Mapped[str] = mapped_column(String(_CODE), default=SecurityLevel.general.value)
    description: Mapped[str] = mapped_column(Text, default="")

    resource: Mapped[Resource] = relationship(lazy="raise", back_populates="items")


class ResourceVersion(Base):
    """An immutable published version: everything ingest and exchange need, as a snapshot."""

    __tablename__ = "resource_version"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    change_note: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    published_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CatalogEntry(Base):
    """The searchable projection of a resource's latest published version (one row per resource).

    ``search_text`` holds the Chinese text cut into bigrams and trigrams (see ``catalog.search_text``); the
    database indexes it: an FTS5 table kept in step by triggers on SQLite, a generated ``tsvector``
    column with a GIN index on PostgreSQL (both created by the migration).
    """

    __tablename__ = "catalog_entry"
    __table_args__ = (
        # search: sorting by department, and a narrow copy of the columns search reads for every match
        # (facet windows, sorting all matches) so SQLite need not read the wide rows
        Index("ix_catalog_entry_department_id_name", "department_id", "name"),
        Index(
            "ix_catalog_entry_search_cover",
            "id",
            "department_id",
            "classification_code",
            "share_type",
            "open_type",
            "format_category",
            "update_cycle",
            "publish_date",
            "name",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), unique=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    item_names: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    classification_code: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(1), index=True)  # 类: 1 基础 2 主题 3 部门
    share_type: Mapped[str] = mapped_column(String(_CODE), index=True)
    open_type: Mapped[str] = mapped_column(String(_CODE), index=True)
    format_category: Mapped[str] = mapped_column(String(_CODE), index=True)
    update_cycle: Mapped[str] = mapped_column(String(_CODE), index=True)
    security_level: Mapped[str] = mapped_column(String(_CODE))
    publish_date: Mapped[date | None] = mapped_column(Date, index=True)
    search_text: Mapped[str] = mapped_column(Text, default="")
