"""Registry models: 行政区划、部门、用户、API 密钥、政务信息系统普查、整合清单、备案、僵尸系统研判."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jutong.core.db import Base, UTCDateTime, utcnow
from jutong.core.labels import LabeledEnum, register_labels


class RegionLevel(LabeledEnum):
    province = "province"
    city = "city"
    county = "county"


class UsageScope(LabeledEnum):
    """使用范围."""

    office = "office"
    department = "department"
    cross_department = "cross_department"
    citywide = "citywide"
    cross_level = "cross_level"


class FundingSource(LabeledEnum):
    """经费来源."""

    government = "government"
    joint = "joint"
    purchased = "purchased"
    om_funds = "om_funds"


class Network(LabeledEnum):
    """部署网络."""

    intranet = "intranet"
    extranet = "extranet"
    private = "private"
    internet = "internet"


class SharingStatus(LabeledEnum):
    """共享情况（与审计调查表一致）."""

    shared = "shared"
    not_shared = "not_shared"
    office_internal = "office_internal"
    department_internal = "department_internal"
    standalone = "standalone"


class SystemStatus(LabeledEnum):
    """系统状态."""

    running = "running"
    to_integrate = "to_integrate"
    to_retire = "to_retire"
    retired = "retired"


class IntegrationState(LabeledEnum):
    """整合进度."""

    none = "none"
    planned = "planned"
    done = "done"


class FilingKind(LabeledEnum):
    construction = "construction"
    om = "om"


class FilingReview(LabeledEnum):
    pending = "pending"
    approved = "approved"
    no_om_funding = "no_om_funding"
    rejected = "rejected"


class ZombieDecision(LabeledEnum):
    confirmed = "confirmed"
    dismissed = "dismissed"


register_labels(
    {
        RegionLevel.province: "省级",
        RegionLevel.city: "市级",
        RegionLevel.county: "县级",
        UsageScope.office: "处室内部",
        UsageScope.department: "部门内部",
        UsageScope.cross_department: "跨部门",
        UsageScope.citywide: "全市",
        UsageScope.cross_level: "跨层级",
        FundingSource.government: "政府投资",
        FundingSource.joint: "政企合建",
        FundingSource.purchased: "购买服务",
        FundingSource.om_funds: "运维资金",
        Network.intranet: "内网",
        Network.extranet: "外网",
        Network.private: "专网",
        Network.internet: "互联网",
        SharingStatus.shared: "已共享",
        SharingStatus.not_shared: "不共享",
        SharingStatus.office_internal: "处室内部共享",
        SharingStatus.department_internal: "部门内部共享",
        SharingStatus.standalone: "单机运行",
        SystemStatus.running: "运行",
        SystemStatus.to_integrate: "拟整合",
        SystemStatus.to_retire: "拟清理",
        SystemStatus.retired: "已停用",
        IntegrationState.none: "未纳入",
        IntegrationState.planned: "整合中",
        IntegrationState.done: "已整合",
        FilingKind.construction: "建设经费",
        FilingKind.om: "运维经费",
        FilingReview.pending: "待审核",
        FilingReview.approved: "同意备案",
        FilingReview.no_om_funding: "不予安排运维经费",
        FilingReview.rejected: "不予备案",
        ZombieDecision.confirmed: "确认清理",
        ZombieDecision.dismissed: "排除",
    }
)


# Enum columns are plain strings (portable, readable in SQL); schemas and services validate them.
_CODE = 32


class Region(Base):
    """行政区划 (GB/T 2260)."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(_CODE))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))


class Department(Base):
    """部门."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))

    region: Mapped[Region] = relationship(lazy="raise")


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # carried in the session cookie; bumped on sign-out and deactivation, which ends every session
    session_version: Mapped[int] = mapped_column(Integer, default=0)

    department: Mapped[Department | None] = relationship(lazy="raise")


class ApiKey(Base):
    """API 密钥: only the hash is kept; the token is shown once."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    # a key issued to a consumer department's application (共享数据服务的调用方); None: the user's own key
    application_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_application.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="raise")


class IntegrationTarget(Base):
    """整合目标"大系统": the department system that others are merged into."""

    __tablename__ = "integration_target"
    __table_args__ = (UniqueConstraint("department_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InformationSystem(Base):
    """政务信息系统普查记录."""

    __tablename__ = "information_system"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # 系统编号
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")  # 功能描述
    usage_scope: Mapped[str] = mapped_column(String(_CODE))
    approving_department: Mapped[str] = mapped_column(String(100), default="")
    approval_date: Mapped[date | None] = mapped_column(Date)
    funding_source: Mapped[str] = mapped_column(String(_CODE))
    construction_cost: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))  # 万元
    annual_om_budget: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))  # 万元/年
    network: Mapped[str] = mapped_column(String(_CODE))
    sharing_status: Mapped[str] = mapped_column(String(_CODE), index=True)
    connected_to_platform: Mapped[bool] = mapped_column(Boolean, default=False)
    connection_required: Mapped[bool] = mapped_column(Boolean, default=False)  # 已明确需接入
    protection_level: Mapped[int | None] = mapped_column(Integer)  # 等保定级 1-5
    protection_assessed: Mapped[bool] = mapped_column(Boolean, default=False)  # 是否测评
    offsite_backup: Mapped[bool] = mapped_column(Boolean, default=False)
    last_maintained_on: Mapped[date | None] = mapped_column(Date)
    cpu_utilization: Mapped[float | None] = mapped_column(Float)  # %
    storage_utilization: Mapped[float | None] = mapped_column(Float)  # %
    status: Mapped[str] = mapped_column(String(_CODE), default=SystemStatus.running.value)
    integration_target_id: Mapped[int | None] = mapped_column(ForeignKey("integration_target.id"))
    integration_state: Mapped[str] = mapped_column(String(_CODE), default=IntegrationState.none.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship(lazy="raise")
    integration_target: Mapped[IntegrationTarget | None] = relationship(lazy="raise")


class SystemUsage(Base):
    """Monthly usage (使用频度) and utilisation, one row per system and month, so trends exist."""

    __tablename__ = "system_usage"
    __table_args__ = (UniqueConstraint("system_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(
        ForeignKey("information_system.id", ondelete="CASCADE"), index=True
    )
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    active_users: Mapped[int] = mapped_column(Integer, default=0)
    transactions: Mapped[int] = mapped_column(Integer, default=0)
    cpu_utilization: Mapped[float | None] = mapped_column(Float)
    storage_utilization: Mapped[float | None] = mapped_column(Float)


class Filing(Base):
    """备案: a construction or O&M funding filing for one system and year."""

    __tablename__ = "filing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("information_system.id"), index=True)
    kind: Mapped[str] = mapped_column(String(_CODE))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # 万元
    note: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    review: Mapped[str] = mapped_column(String(_CODE), default=FilingReview.pending.value)
    review_note: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    system: Mapped[InformationSystem] = relationship(lazy="raise")


class ZombieReview(Base):
    """The operator's decision on a zombie candidate, with the evidence it was shown."""

    __tablename__ = "zombie_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("information_system.id"), index=True)
    decision: Mapped[str] = mapped_column(String(_CODE))
    reason: Mapped[str] = mapped_column(Text, default="")
    rules: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
