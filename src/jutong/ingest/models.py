"""Ingest models: 数据源、映射、批次（Load）、问题数据（Reject）、质量检查、数据平面表登记.

The data plane itself (one typed table per resource, ``dp_<resource id>``, and its change log
``dp_<resource id>_log``) is not ORM-mapped: ``ingest.dataplane`` creates and writes it from the
resource's published snapshot. These models are the control plane's record of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jutong.core.db import Base, UTCDateTime, utcnow
from jutong.core.labels import LabeledEnum, register_labels

_CODE = 32


class SourceKind(LabeledEnum):
    file = "file"  # 文件上传（CSV/TSV/XLSX/JSON/NDJSON）
    sql = "sql"  # 数据库（SQLAlchemy URL + 查询）
    http = "http"  # HTTP JSON 接口（分页）


class LoadMode(LabeledEnum):
    full = "full"  # 全量（替换）
    incremental = "incremental"  # 增量（新增/更新，按主键删除）


class LoadStatus(LabeledEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class CheckOutcome(LabeledEnum):
    passed = "pass"
    warn = "warn"
    fail = "fail"
    error = "error"


class QualityDimension(LabeledEnum):
    completeness = "completeness"  # 完整性
    validity = "validity"  # 有效性
    uniqueness = "uniqueness"  # 唯一性
    timeliness = "timeliness"  # 及时性


register_labels(
    {
        SourceKind.file: "文件上传",
        SourceKind.sql: "数据库",
        SourceKind.http: "HTTP 接口",
        LoadMode.full: "全量",
        LoadMode.incremental: "增量",
        LoadStatus.queued: "排队中",
        LoadStatus.running: "进行中",
        LoadStatus.succeeded: "成功",
        LoadStatus.failed: "失败",
        CheckOutcome.passed: "通过",
        CheckOutcome.warn: "警告",
        CheckOutcome.fail: "不通过",
        CheckOutcome.error: "出错",
        QualityDimension.completeness: "完整性",
        QualityDimension.validity: "有效性",
        QualityDimension.uniqueness: "唯一性",
        QualityDimension.timeliness: "及时性",
    }
)


class Mapping(Base):
    """映射: source columns to data items, value maps to standard codes, normalizers; reusable by name.

    ``columns``: ``{"源列名": "column_name"}``; ``values``: ``{"column_name": {"源值": "标准代码"}}``;
    ``normalizers``: ``{"column_name": ["trim", "halfwidth", "date", "upper", "cn_id15", ...]}``
    (items get their element's default normalizers as well); ``patterns``: ``{"column_name": "正则"}``.
    """

    __tablename__ = "ingest_mapping"
    __table_args__ = (UniqueConstraint("resource_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    values: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    normalizers: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    patterns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # column_name → regex it must match
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Source(Base):
    """数据源: where a resource's data comes from, with its saved mapping and schedule.

    ``config`` by kind: file ``{}`` (the file comes with each load); sql ``{"url", "query",
    "timeout_seconds"}``; http ``{"url", "records_path", "page_param", "size_param", "page_size",
    "next_path", "headers", "timeout_seconds"}``.
    """

    __tablename__ = "ingest_source"
    __table_args__ = (UniqueConstraint("resource_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(_CODE))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mapping_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_mapping.id"))
    mode: Mapped[str] = mapped_column(String(_CODE), default=LoadMode.full.value)
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)  # pull on the resource's update cycle
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ResourceData(Base):
    """The data plane table of one resource: its name, columns and current data version."""

    __tablename__ = "ingest_resource_data"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), unique=True)
    table_name: Mapped[str] = mapped_column(String(64), unique=True)
    log_table_name: Mapped[str] = mapped_column(String(64), unique=True)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, data_type, length}]
    key_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_version: Mapped[int] = mapped_column(Integer, default=0)  # 0: nothing loaded yet
    catalog_version: Mapped[int | None] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    last_load_id: Mapped[int | None] = mapped_column(Integer)
    last_loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Load(Base):
    """批次: one ingest run. ``read = loaded + rejected``; ``loaded = inserted + updated + unchanged`` for a full
    load (``deleted``: the previous version's rows the file no longer has), ``+ deleted`` for an incremental one."""

    __tablename__ = "ingest_load"
    __table_args__ = (Index("ix_ingest_load_resource_id_id", "resource_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    catalog_version: Mapped[int] = mapped_column(Integer)
    data_version: Mapped[int | None] = mapped_column(Integer)  # set when it succeeds
    mode: Mapped[str] = mapped_column(String(_CODE))
    status: Mapped[str] = mapped_column(String(_CODE), default=LoadStatus.running.value, index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_source.id"))
    mapping_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_mapping.id"))
    source_label: Mapped[str] = mapped_column(String(300), default="")  # file name, or source name
    file_format: Mapped[str] = mapped_column(String(_CODE), default="")
    encoding: Mapped[str] = mapped_column(String(_CODE), default="")
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    inserted_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    deleted_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    quality_score: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str] = mapped_column(String(64), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    stats: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # per-item counts for the quality report
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)


class Reject(Base):
    """问题数据: one source row that was not loaded, with every reason.

    ``raw``: the row as read (``{"源列名": "值"}``); ``reasons``: ``[{"item", "column", "value",
    "rule", "message"}]`` with the Chinese message the provider reads.
    """

    __tablename__ = "ingest_reject"
    __table_args__ = (Index("ix_ingest_reject_load_id_row_number", "load_id", "row_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("ingest_load.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class QualityCheck(Base):
    """One rule of a load's quality report: outcome, observed value, failing count and a sample."""

    __tablename__ = "ingest_quality_check"
    __table_args__ = (Index("ix_ingest_quality_check_resource_id_load_id", "resource_id", "load_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_load.id", ondelete="CASCADE"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    dimension: Mapped[str] = mapped_column(String(_CODE))
    rule: Mapped[str] = mapped_column(String(64))  # e.g. required, cn_id, code_set, key_unique, late
    column_name: Mapped[str] = mapped_column(String(64), default="")  # "" for resource-wide rules
    label: Mapped[str] = mapped_column(String(200))  # Chinese: 公民身份号码 校验码
    outcome: Mapped[str] = mapped_column(String(_CODE))
    observed: Mapped[float | None] = mapped_column(Float)  # e.g. share passing, 0-100
    threshold: Mapped[float | None] = mapped_column(Float)
    failing_count: Mapped[int] = mapped_column(Integer, default=0)
    sample: Mapped[list[Any]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
