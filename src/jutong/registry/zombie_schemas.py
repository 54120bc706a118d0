"""API schemas of 僵尸系统研判 (separate from the ORM models and the service's dataclasses)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jutong.registry.models import SystemStatus, ZombieDecision
from jutong.registry.zombie_rules import RULE_LABELS
from jutong.registry.zombies import Candidate, ReviewRow, Thresholds


class ThresholdsOut(BaseModel):
    no_business_months: int = Field(description="与业务脱节：连续无业务的月数")
    similarity_threshold: float = Field(description="功能可被替代：功能描述相似度阈值（0-1）")
    idle_months: int = Field(description="资源长期空闲：连续空闲的月数")
    idle_cpu_pct: float = Field(description="资源长期空闲：CPU 利用率低于（%）")
    idle_storage_pct: float = Field(description="资源长期空闲：存储利用率低于（%）")
    no_maintenance_months: int = Field(description="停止维护：超过多少个月未维护")
    low_usage_months: int = Field(description="范围小、频度低：统计月数")
    low_usage_users: float = Field(description="范围小、频度低：月均活跃用户低于（人）")
    low_usage_transactions: float = Field(description="范围小、频度低：月均业务量低于（笔）")

    @classmethod
    def of(cls, thresholds: Thresholds) -> ThresholdsOut:
        return cls.model_validate(thresholds, from_attributes=True)


class ThresholdsIn(BaseModel):
    """Only the thresholds given change; the others keep their current values."""

    model_config = ConfigDict(extra="forbid")

    no_business_months: float | None = None
    similarity_threshold: float | None = None
    idle_months: float | None = None
    idle_cpu_pct: float | None = None
    idle_storage_pct: float | None = None
    no_maintenance_months: float | None = None
    low_usage_months: float | None = None
    low_usage_users: float | None = None
    low_usage_transactions: float | None = None


class EvidenceOut(BaseModel):
    label: str = Field(description="规则中文名")
    text: str = Field(description="中文证据")
    figures: dict[str, Any] = Field(
        description="证据中的数字：检查的月份、数量、利用率、日期、相似系统与相似度等"
    )


class CandidateOut(BaseModel):
    system_id: int
    system: str = Field(description="系统名称")
    system_code: str
    department_id: int
    department: str = Field(description="部门名称")
    status: str
    status_label: str
    rules: list[str] = Field(
        description="命中的规则：no_business、replaceable、idle_resources、no_maintenance、low_usage"
    )
    evidence: dict[str, EvidenceOut] = Field(description="规则 → 证据")
    dismissed_review_id: int | None = Field(description="曾被排除、因新增命中规则而再次列出时，上次排除记录")
    new_rules: list[str] = Field(description="排除之后新增命中的规则")

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateOut:
        return cls(
            system_id=candidate.system_id,
            system=candidate.system,
            system_code=candidate.system_code,
            department_id=candidate.department_id,
            department=candidate.department,
            status=candidate.status,
            status_label=SystemStatus(candidate.status).label,
            rules=candidate.rules,
            evidence={
                hit.rule: EvidenceOut(label=hit.label, text=hit.text, figures=hit.figures)
                for hit in candidate.hits
            },
            dismissed_review_id=candidate.dismissed_review_id,
            new_rules=candidate.new_rules,
        )


class DecisionIn(BaseModel):
    reason: str = Field(default="", max_length=2000, description="理由（排除时必填）")
    as_of: date | None = Field(default=None, description="研判基准日期，缺省为今天")


class ReviewOut(BaseModel):
    id: int
    system_id: int
    system: str
    system_code: str
    department_id: int
    department: str
    decision: str
    decision_label: str
    reason: str
    rules: list[str]
    rule_labels: list[str]
    evidence: dict[str, Any]
    decided_by: str | None
    decided_at: datetime
    reproposed_rules: list[str] = Field(description="排除后又新增命中的规则（仅排除清单）")

    @classmethod
    def of(cls, row: ReviewRow) -> ReviewOut:
        review = row.review
        return cls(
            id=review.id,
            system_id=review.system_id,
            system=row.system,
            system_code=row.system_code,
            department_id=row.department_id,
            department=row.department,
            decision=review.decision,
            decision_label=ZombieDecision(review.decision).label,
            reason=review.reason,
            rules=list(review.rules or []),
            rule_labels=[RULE_LABELS.get(r, r) for r in review.rules or []],
            evidence=dict(review.evidence or {}),
            decided_by=row.decided_by,
            decided_at=review.decided_at,
            reproposed_rules=row.reproposed_rules,
        )
