"""Sharing models: 应用、共享申请、审批、授权（含脱敏与配额）、订阅与投递、数据访问记录、纠错.

A consumer department requests a published resource (``ShareRequest``) for named applications; the
provider answers within a deadline counted in working days; an approval creates a ``Grant`` (items,
masking per item, purpose, period, daily quota). Applications call the data services with API keys
issued to them (``ApiKey.application_id``); every call is checked against a live grant, counted against
its quota (``GrantUsage``) and recorded (``DataAccess``, for the statistics, besides the audit event).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jutong.core.db import Base, UTCDateTime, utcnow
from jutong.core.labels import LabeledEnum, register_labels

_CODE = 32


class RequestStatus(LabeledEnum):
    pending = "pending"  # 待答复（有条件共享）
    approved = "approved"  # 已同意（可能少于所申请的信息项，或带脱敏、缩短期限、降低配额）
    refused = "refused"  # 不同意（须说明理由；不予共享的资源当即拒绝并列出依据）
    withdrawn = "withdrawn"  # 申请方撤回


class GrantStatus(LabeledEnum):
    active = "active"
    revoked = "revoked"  # 提供方或平台管理员撤销；到期则按 expires_on 判断


class SubscriptionKind(LabeledEnum):
    webhook = "webhook"  # 推送到使用方的 HTTP 地址（签名、重试、断点续传）
    table = "table"  # 库表推送：写入使用方自己的数据库表


class SubscriptionStatus(LabeledEnum):
    active = "active"
    paused = "paused"
    stopped = "stopped"  # 授权失效或使用方取消


class AccessKind(LabeledEnum):
    lookup = "lookup"  # 按主键查询
    query = "query"  # 条件查询（游标分页）
    verify = "verify"  # 核验
    export = "export"  # 导出
    feed = "feed"  # 变更订阅读取
    delivery = "delivery"  # 推送


class CorrectionStatus(LabeledEnum):
    open = "open"  # 待提供方答复
    confirmed = "confirmed"  # 提供方确认有误，待后续批次修正
    rejected = "rejected"  # 提供方核实无误（须说明）
    fixed = "fixed"  # 已在某个数据版本中修正


register_labels(
    {
        RequestStatus.pending: "待答复",
        RequestStatus.approved: "已同意",
        RequestStatus.refused: "不同意",
        RequestStatus.withdrawn: "已撤回",
        GrantStatus.active: "有效",
        GrantStatus.revoked: "已撤销",
        SubscriptionKind.webhook: "HTTP 推送",
        SubscriptionKind.table: "库表推送",
        AccessKind.lookup: "查询",
        AccessKind.query: "条件查询",
        AccessKind.verify: "核验",
        AccessKind.export: "导出",
        AccessKind.feed: "变更读取",
        AccessKind.delivery: "推送",
        CorrectionStatus.open: "待答复",
        CorrectionStatus.confirmed: "已确认待修正",
        CorrectionStatus.rejected: "核实无误",
        CorrectionStatus.fixed: "已修正",
    }
)
# a separate call: members of different enums with the same value are equal keys in one dict literal
register_labels(
    {
        SubscriptionStatus.active: "运行中",
        SubscriptionStatus.paused: "已暂停",
        SubscriptionStatus.stopped: "已停止",
    }
)


class Application(Base):
    """应用: a consumer department's system that calls the data services with its own API keys."""

    __tablename__ = "sharing_application"
    __table_args__ = (UniqueConstraint("department_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    system_id: Mapped[int | None] = mapped_column(ForeignKey("information_system.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShareRequest(Base):
    """共享申请: purpose, legal basis, items, period, delivery and applications; answered by a deadline."""

    __tablename__ = "share_request"
    __table_args__ = (Index("ix_share_request_status_due_on", "status", "due_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    catalog_version: Mapped[int] = mapped_column(Integer)
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    consumer_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    share_type: Mapped[str] = mapped_column(String(_CODE))  # the resource's at the time of the request
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # column names asked for
    application_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    delivery: Mapped[str] = mapped_column(String(_CODE))  # api | file | table
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    daily_quota: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(_CODE), default=RequestStatus.pending.value)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_on: Mapped[date | None] = mapped_column(Date)  # last working day to answer (conditional only)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # overdue: to the operator
    coordination_note: Mapped[str] = mapped_column(Text, default="")  # 协调意见
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    overdue: Mapped[bool] = mapped_column(default=False)  # answered after the deadline, or not yet: counted


class Grant(Base):
    """授权: what a consumer may read of a resource, masked how, until when, how much a day."""

    __tablename__ = "share_grant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("share_request.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    consumer_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # granted column names
    masking: Mapped[dict[str, str]] = mapped_column(
        JSON, default=dict
    )  # column → policy (id_number, name, ...)
    application_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(String(_CODE))
    starts_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    daily_quota: Mapped[int | None] = mapped_column(Integer)  # rows a day; None: no limit
    status: Mapped[str] = mapped_column(String(_CODE), default=GrantStatus.active.value)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    revoke_reason: Mapped[str] = mapped_column(Text, default="")


USAGE_SLOTS = 16


class GrantUsage(Base):
    """Rows served under a grant on one day (Beijing time), for the daily quota.

    The day's count is spread over ``USAGE_SLOTS`` rows (``slot``) and read as their sum: every call
    adds to one of them, so concurrent calls under one grant do not queue on a single row's lock
    until their commits (the hottest row of the platform otherwise)."""

    __tablename__ = "grant_usage"
    __table_args__ = (UniqueConstraint("grant_id", "day", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("share_grant.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class DataAccess(Base):
    """One data access (besides its audit event): the statistics of use read these."""

    __tablename__ = "data_access"
    __table_args__ = (
        Index("ix_data_access_resource_id_at", "resource_id", "at"),
        Index("ix_data_access_consumer_department_id_at", "consumer_department_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("share_grant.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"))
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    consumer_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_application.id"))
    kind: Mapped[str] = mapped_column(String(_CODE))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)


class Subscription(Base):
    """订阅: changes of a granted resource delivered to a webhook or into the consumer's own table.

    ``acked_version``: the last data version the consumer acknowledged (webhook 2xx / table commit);
    delivery resumes from the next one after any outage, in order.
    """

    __tablename__ = "subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("share_grant.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_application.id"))
    kind: Mapped[str] = mapped_column(String(_CODE))
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # webhook {url}; table {url, table}
    secret: Mapped[str] = mapped_column(String(128), default="")  # HMAC-SM3 signing key for webhooks
    acked_version: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(_CODE), default=SubscriptionStatus.active.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failures
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Correction(Base):
    """纠错（谁提供谁负责）: a consumer says a record or item is wrong; the provider answers by a deadline."""

    __tablename__ = "correction"
    __table_args__ = (Index("ix_correction_status_due_on", "status", "due_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id"), index=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("share_grant.id"))
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    consumer_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    record_key: Mapped[dict[str, Any]] = mapped_column(JSON)  # {key column: value}
    column_name: Mapped[str] = mapped_column(String(64), default="")  # "" for the whole record
    note: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")  # what the consumer has seen (证明材料说明)
    status: Mapped[str] = mapped_column(String(_CODE), default=CorrectionStatus.open.value)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_on: Mapped[date] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    answer: Mapped[str] = mapped_column(Text, default="")
    fixed_version: Mapped[int | None] = mapped_column(Integer)  # the data version that carries the fix
    fixed_load_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_load.id"))
