"""API schemas of the system census (政务信息系统普查), separate from the ORM models.

Coded fields take the English code or the Chinese label (``"运行"`` or ``"running"``) and are
answered with both (``status`` and ``status_label``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from jutong.registry.models import (
    FundingSource,
    InformationSystem,
    LabeledEnum,
    Network,
    SharingStatus,
    SystemStatus,
    SystemUsage,
    UsageScope,
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _label_or_code(enum: type[LabeledEnum]) -> BeforeValidator:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            member = enum.from_label(value)
            return member.value if member is not None else value
        return value

    return BeforeValidator(convert)


Scope = Annotated[UsageScope, _label_or_code(UsageScope)]
Funding = Annotated[FundingSource, _label_or_code(FundingSource)]
Net = Annotated[Network, _label_or_code(Network)]
Sharing = Annotated[SharingStatus, _label_or_code(SharingStatus)]
Status = Annotated[SystemStatus, _label_or_code(SystemStatus)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, description="万元")]
Percent = Annotated[float, Field(ge=0, le=100, description="%")]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$", description="系统编号")]


class SystemIn(BaseModel):
    """登记一个政务信息系统。部门数据管理员不填 department_id 时为本部门。"""

    code: Code | None = Field(default=None, description="系统编号；不填则生成 SYS-<部门编码>-<序号>")
    name: str = Field(min_length=1, max_length=200, description="系统名称")
    department_id: int | None = Field(default=None, description="所属部门")
    description: str = Field(default="", description="功能描述")
    usage_scope: Scope = Field(description="使用范围")
    approving_department: str = Field(default="", max_length=100, description="审批部门")
    approval_date: date | None = Field(default=None, description="审批时间")
    funding_source: Funding = Field(description="经费来源")
    construction_cost: Money = Decimal("0")
    annual_om_budget: Money = Decimal("0")
    network: Net = Field(description="部署网络")
    sharing_status: Sharing = Field(description="共享情况")
    connected_to_platform: bool = Field(default=False, description="是否接入共享交换平台")
    connection_required: bool = Field(default=False, description="是否已明确需接入")
    protection_level: int | None = Field(default=None, ge=1, le=5, description="等保定级 1-5")
    protection_assessed: bool = Field(default=False, description="是否等保测评")
    offsite_backup: bool = Field(default=False, description="是否异地备份")
    last_maintained_on: date | None = Field(default=None, description="最近维护日期")
    cpu_utilization: Percent | None = None
    storage_utilization: Percent | None = None
    status: Status = SystemStatus.running

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("系统名称不能为空")
        return value


class SystemPatch(BaseModel):
    """修改系统登记信息：只改提交了的字段。"""

    code: Code | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    department_id: int | None = None
    description: str | None = None
    usage_scope: Scope | None = None
    approving_department: str | None = Field(default=None, max_length=100)
    approval_date: date | None = None
    funding_source: Funding | None = None
    construction_cost: Money | None = None
    annual_om_budget: Money | None = None
    network: Net | None = None
    sharing_status: Sharing | None = None
    connected_to_platform: bool | None = None
    connection_required: bool | None = None
    protection_level: int | None = Field(default=None, ge=1, le=5)
    protection_assessed: bool | None = None
    offsite_backup: bool | None = None
    last_maintained_on: date | None = None
    cpu_utilization: Percent | None = None
    storage_utilization: Percent | None = None
    status: Status | None = None


class SystemOut(BaseModel):
    id: int
    code: str
    name: str
    department_id: int
    department_name: str
    description: str
    usage_scope: str
    usage_scope_label: str
    approving_department: str
    approval_date: date | None
    funding_source: str
    funding_source_label: str
    construction_cost: Decimal
    annual_om_budget: Decimal
    network: str
    network_label: str
    sharing_status: str
    sharing_status_label: str
    connected_to_platform: bool
    connection_required: bool
    protection_level: int | None
    protection_assessed: bool
    offsite_backup: bool
    last_maintained_on: date | None
    cpu_utilization: float | None
    storage_utilization: float | None
    status: str
    status_label: str
    integration_state: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, system: InformationSystem, department_name: str) -> SystemOut:
        return cls(
            id=system.id,
            code=system.code,
            name=system.name,
            department_id=system.department_id,
            department_name=department_name,
            description=system.description,
            usage_scope=system.usage_scope,
            usage_scope_label=UsageScope.label_for(system.usage_scope),
            approving_department=system.approving_department,
            approval_date=system.approval_date,
            funding_source=system.funding_source,
            funding_source_label=FundingSource.label_for(system.funding_source),
            construction_cost=system.construction_cost,
            annual_om_budget=system.annual_om_budget,
            network=system.network,
            network_label=Network.label_for(system.network),
            sharing_status=system.sharing_status,
            sharing_status_label=SharingStatus.label_for(system.sharing_status),
            connected_to_platform=system.connected_to_platform,
            connection_required=system.connection_required,
            protection_level=system.protection_level,
            protection_assessed=system.protection_assessed,
            offsite_backup=system.offsite_backup,
            last_maintained_on=system.last_maintained_on,
            cpu_utilization=system.cpu_utilization,
            storage_utilization=system.storage_utilization,
            status=system.status,
            status_label=SystemStatus.label_for(system.status),
            integration_state=system.integration_state,
            created_at=system.created_at,
            updated_at=system.updated_at,
        )


class SystemPageOut(BaseModel):
    items: list[SystemOut]
    total: int
    page: int
    per_page: int
    pages: int


class UsageIn(BaseModel):
    """一个月的使用情况。"""

    month: str = Field(description="月份 YYYY-MM", examples=["2024-03"])
    active_users: int = Field(default=0, ge=0, description="月活跃用户数")
    transactions: int = Field(default=0, ge=0, description="月业务量")
    cpu_utilization: Percent | None = None
    storage_utilization: Percent | None = None

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        value = value.strip()
        if not _MONTH.match(value):
            raise ValueError("月份应写成 YYYY-MM，例如 2024-03")
        return value


class UsageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    month: str
    active_users: int
    transactions: int
    cpu_utilization: float | None
    storage_utilization: float | None

    @classmethod
    def of(cls, usage: SystemUsage) -> UsageOut:
        return cls.model_validate(usage)


class ShareCountOut(BaseModel):
    sharing_status: str
    label: str
    count: int
    percent: float = Field(description="占比 %，一位小数")


class DepartmentStatsOut(BaseModel):
    department_id: int
    department_code: str
    department_name: str
    total: int
    rows: list[ShareCountOut]


class CensusStatsOut(BaseModel):
    total: int
    rows: list[ShareCountOut]
    by_department: list[DepartmentStatsOut]


class ImportProblemOut(BaseModel):
    code: str
    sheet: str
    row: int | None = Field(description="Excel 中看到的行号")
    column: str | None = Field(description="列名")
    value: str
    problem: str
    fix: str


class ImportResultOut(BaseModel):
    filename: str
    file_format: str
    encoding: str | None
    created: int
    updated: int
    unchanged: int
    usage_months: int
    usage_changed: int
