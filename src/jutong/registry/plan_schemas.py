"""API schemas of 整合清单 and 经费备案 (separate from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from jutong.registry.models import (
    FilingKind,
    FilingReview,
    InformationSystem,
    IntegrationState,
    SystemStatus,
    UsageScope,
)
from jutong.registry.plans import FilingRow, Plan, PlanProgress, Proposal, TargetView, must_integrate


class PlanProgressOut(BaseModel):
    department_id: int
    department: str
    total: int = Field(description="纳入整合清单的系统数（整合中 + 已整合）")
    done: int = Field(description="已整合的系统数")
    percent: float = Field(description="整合进度（%，一位小数）= 已整合 / 纳入清单")
    must_integrate: int = Field(description="必须整合（处室内部使用）的系统数")
    must_unassigned: int = Field(description="必须整合但尚未纳入清单的系统数")
    targets: int = Field(description="整合目标“大系统”数")

    @classmethod
    def of(cls, progress: PlanProgress) -> PlanProgressOut:
        return cls.model_validate(progress, from_attributes=True)


class SystemBriefOut(BaseModel):
    id: int
    code: str
    name: str
    usage_scope: str
    usage_scope_label: str
    status: str
    status_label: str
    integration_state: str
    integration_state_label: str
    integration_target_id: int | None
    must_integrate: bool = Field(description="必须整合（处室内部使用）")

    @classmethod
    def of(cls, system: InformationSystem) -> SystemBriefOut:
        return cls(
            id=system.id,
            code=system.code,
            name=system.name,
            usage_scope=system.usage_scope,
            usage_scope_label=UsageScope(system.usage_scope).label,
            status=system.status,
            status_label=SystemStatus(system.status).label,
            integration_state=system.integration_state,
            integration_state_label=IntegrationState(system.integration_state).label,
            integration_target_id=system.integration_target_id,
            must_integrate=must_integrate(system),
        )


class TargetOut(BaseModel):
    id: int
    department_id: int
    name: str
    description: str
    created_at: datetime
    done: int
    systems: list[SystemBriefOut]

    @classmethod
    def of(cls, view: TargetView) -> TargetOut:
        t = view.target
        return cls(
            id=t.id,
            department_id=t.department_id,
            name=t.name,
            description=t.description,
            created_at=t.created_at,
            done=view.done,
            systems=[SystemBriefOut.of(s) for s in view.systems],
        )


class PlanOut(BaseModel):
    progress: PlanProgressOut
    targets: list[TargetOut]
    unassigned_must: list[SystemBriefOut] = Field(description="必须整合但尚未纳入清单的系统")
    other_systems: list[SystemBriefOut] = Field(description="本部门其他运行中的系统（也可纳入整合）")

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            progress=PlanProgressOut.of(plan.progress),
            targets=[TargetOut.of(v) for v in plan.targets],
            unassigned_must=[SystemBriefOut.of(s) for s in plan.unassigned_must],
            other_systems=[SystemBriefOut.of(s) for s in plan.other_systems],
        )


class TargetIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="整合目标“大系统”名称")
    description: str = Field(default="", max_length=2000)


class IntegrationIn(BaseModel):
    target_id: int | None = Field(default=None, description="整合目标 id（state 为 none 时可省略）")
    state: str = Field(description="planned 整合中（系统状态拟整合）/ done 已整合（已停用）/ none 移出清单")


class ProposalOut(BaseModel):
    result: str
    result_label: str
    reason: str
    flags: list[str] = Field(description="提醒：已确认为僵尸系统（拟清理）、已停用等")

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalOut:
        return cls(
            result=proposal.result.value,
            result_label=proposal.result.label,
            reason=proposal.reason,
            flags=proposal.flags,
        )


class FilingIn(BaseModel):
    system_id: int
    kind: str = Field(description="construction 建设经费 / om 运维经费（也接受中文）")
    fiscal_year: int = Field(ge=2000, le=2100, description="年度")
    amount: Decimal = Field(gt=0, description="金额（万元）")
    note: str = Field(default="", max_length=2000)


class FilingOut(BaseModel):
    id: int
    system_id: int
    system: str
    system_code: str
    department_id: int
    department: str
    kind: str
    kind_label: str
    fiscal_year: int
    amount: float = Field(description="金额（万元）")
    note: str
    submitted_by: str | None
    submitted_at: datetime
    review: str
    review_label: str
    review_note: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    proposal: ProposalOut = Field(description="平台建议的审核结果")

    @classmethod
    def of(cls, row: FilingRow) -> FilingOut:
        f = row.filing
        return cls(
            id=f.id,
            system_id=f.system_id,
            system=row.system,
            system_code=row.system_code,
            department_id=row.department_id,
            department=row.department,
            kind=f.kind,
            kind_label=FilingKind(f.kind).label,
            fiscal_year=f.fiscal_year,
            amount=float(f.amount),
            note=f.note,
            submitted_by=row.submitted_by,
            submitted_at=f.submitted_at,
            review=f.review,
            review_label=FilingReview(f.review).label,
            review_note=f.review_note,
            reviewed_by=row.reviewed_by,
            reviewed_at=f.reviewed_at,
            proposal=ProposalOut.of(row.proposal),
        )


class FilingReviewIn(BaseModel):
    result: str | None = Field(
        default=None,
        description="approved 同意备案 / rejected 不予备案 / no_om_funding 不予安排运维经费；缺省采纳平台建议",
    )
    note: str = Field(default="", max_length=2000, description="审核意见（不予备案或与平台建议不同时必填）")
