"""整合清单 and 经费备案: each department's integration plan into its "大系统", and funding filings.

Integration plan (seed 001 §二(二)): a system used only inside one office (usage_scope ``office``,
以科室名义存在) must be integrated (必须整合). The department's steward, or the operator, creates
target "大系统" and assigns systems to them (拟整合, planned) and marks them integrated
(已停用, done). Progress is done / total in the plan, plus the must-integrate systems not yet assigned.

Filings (seed 001 §三(六), seed 000): a steward files construction or O&M funding for a system of
their department; the platform proposes the review result: an O&M filing of a system that must be
connected to the platform but is not gets 不予安排运维经费 at once, with the reason; filings for
systems confirmed as zombies (拟清理) or retired are flagged. The operator approves or rejects.

Readers: operators and auditors see every department; stewards their own; consumers nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from jutong.core import audit
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.core.numbers import percent
from jutong.registry.models import (
    Department,
    Filing,
    FilingKind,
    FilingReview,
    InformationSystem,
    IntegrationState,
    IntegrationTarget,
    SystemStatus,
    UsageScope,
    User,
)

MUST_INTEGRATE_SCOPE = UsageScope.office.value
IN_PLAN = frozenset({IntegrationState.planned.value, IntegrationState.done.value})


def _read(principal: Principal, department_id: int | None = None) -> None:
    require_role(
        principal,
        Role.operator,
        Role.auditor,
        Role.steward,
        message="整合清单与经费备案仅限平台管理员、审计人员和部门数据管理员查看",
    )
    if department_id is not None and principal.role == Role.steward:
        require_department(principal, department_id, what="该部门的整合清单")


def _write(principal: Principal, department_id: int, what: str) -> None:
    require_role(principal, Role.operator, Role.steward, message="只有平台管理员和本部门数据管理员可以修改")
    require_department(principal, department_id, what=what)


def _system(session: Session, system_id: int) -> InformationSystem:
    system = session.get(InformationSystem, system_id)
    if system is None:
        raise NotFound(f"信息系统 #{system_id} 不存在", code="system_not_found")
    return system


def must_integrate(system: InformationSystem) -> bool:
    """处室内部使用的系统必须整合 (unless already being cleaned up as a zombie or retired otherwise)."""
    if system.usage_scope != MUST_INTEGRATE_SCOPE:
        return False
    return system.integration_state in IN_PLAN or system.status in (
        SystemStatus.running.value,
        SystemStatus.to_integrate.value,
    )


# --- integration plan ------------------------------------------------------------------------


@dataclass
class PlanProgress:
    department_id: int
    department: str
    total: int = 0  # systems in the plan (整合中 + 已整合)
    done: int = 0
    must_integrate: int = 0
    must_unassigned: int = 0  # 必须整合但尚未纳入清单
    targets: int = 0

    @property
    def percent(self) -> float:
        return percent(self.done, self.total)


@dataclass
class TargetView:
    target: IntegrationTarget
    systems: list[InformationSystem]

    @property
    def done(self) -> int:
        return sum(1 for s in self.systems if s.integration_state == IntegrationState.done.value)


@dataclass
class Plan:
    department: Department
    progress: PlanProgress
    targets: list[TargetView]
    unassigned_must: list[InformationSystem]  # 必须整合、尚未纳入
    other_systems: list[InformationSystem]  # other systems of the department that may join the plan


def _progress(department: Department, systems: list[InformationSystem], targets: int) -> PlanProgress:
    progress = PlanProgress(department.id, department.name, targets=targets)
    for system in systems:
        in_plan = system.integration_state in IN_PLAN
        progress.total += in_plan
        progress.done += system.integration_state == IntegrationState.done.value
        if must_integrate(system):
            progress.must_integrate += 1
            progress.must_unassigned += not in_plan
    return progress


def list_plans(session: Session, principal: Principal) -> list[PlanProgress]:
    """Progress of every department's plan (stewards: their own)."""
    _read(principal)
    departments = select(Department).order_by(Department.code)
    if principal.role == Role.steward:
        departments = departments.where(Department.id == principal.department_id)
    by_department: dict[int, list[InformationSystem]] = {}
    for system in session.scalars(select(InformationSystem)):
        by_department.setdefault(system.department_id, []).append(system)
    target_counts = Counter(session.scalars(select(IntegrationTarget.department_id)))
    return [
        _progress(d, by_department.get(d.id, []), target_counts[d.id]) for d in session.scalars(departments)
    ]


def get_plan(session: Session, principal: Principal, department_id: int) -> Plan:
    _read(principal, department_id)
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门 #{department_id} 不存在", code="department_not_found")
    systems = list(
        session.scalars(
            select(InformationSystem)
            .where(InformationSystem.department_id == department_id)
            .order_by(InformationSystem.code)
        )
    )
    targets = list(
        session.scalars(
            select(IntegrationTarget)
            .where(IntegrationTarget.department_id == department_id)
            .order_by(IntegrationTarget.name)
        )
    )
    views = [TargetView(t, [s for s in systems if s.integration_target_id == t.id]) for t in targets]
    free = [s for s in systems if s.integration_state not in IN_PLAN]
    unassigned = [s for s in free if must_integrate(s)]
    others = [s for s in free if not must_integrate(s) and s.status == SystemStatus.running.value]
    return Plan(department, _progress(department, systems, len(targets)), views, unassigned, others)


def create_target(
    session: Session, principal: Principal, department_id: int, *, name: str, description: str = ""
) -> IntegrationTarget:
    """新建整合目标“大系统”."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门 #{department_id} 不存在", code="department_not_found")
    _write(principal, department_id, "该部门的整合清单")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed(
            "请填写整合目标“大系统”的名称（不超过 200 字）", code="plan_target_name_required"
        )
    exists = session.scalar(
        select(IntegrationTarget.id).where(
            IntegrationTarget.department_id == department_id, IntegrationTarget.name == name
        )
    )
    if exists is not None:
        raise Conflict(f"{department.name}已有名为“{name}”的整合目标", code="plan_target_exists")
    target = IntegrationTarget(
        department_id=department_id, name=name, description=(description or "").strip()
    )
    session.add(target)
    session.flush()
    audit.record(
        session,
        principal,
        "plan.target_create",
        summary=f"为{department.name}新建整合目标“{name}”",
        object_type="integration_target",
        object_id=target.id,
        detail={"department_id": department_id, "name": name},
    )
    return target


def set_integration(
    session: Session, principal: Principal, system_id: int, *, target_id: int | None, state: str
) -> InformationSystem:
    """纳入整合 (planned → 拟整合), 已整合 (done → 已停用), or 移出清单 (none → 运行)."""
    system = _system(session, system_id)
    _write(principal, system.department_id, f"系统“{system.name}”")
    found = IntegrationState.from_label(state or "")
    if found is None:
        raise ValidationFailed(
            f"整合进度“{state}”无效，应为 planned（整合中）、done（已整合）或 none（移出清单）",
            code="plan_state_invalid",
        )
    wanted = IntegrationState(found.value)
    if system.status == SystemStatus.to_retire.value:
        raise Conflict(
            f"系统“{system.name}”已确认为僵尸系统（拟清理），不纳入整合", code="plan_system_to_retire"
        )
    if (
        system.status == SystemStatus.retired.value
        and system.integration_state != IntegrationState.done.value
    ):
        raise Conflict(f"系统“{system.name}”已停用，不能纳入整合", code="plan_system_retired")
    before = {
        "target_id": system.integration_target_id,
        "state": system.integration_state,
        "status": system.status,
    }
    target: IntegrationTarget | None = None
    if wanted != IntegrationState.none:
        target_id = target_id if target_id is not None else system.integration_target_id
        target = session.get(IntegrationTarget, target_id) if target_id is not None else None
        if target is None:
            raise ValidationFailed("请选择要整合进的目标“大系统”", code="plan_target_required")
        if target.department_id != system.department_id:
            raise ValidationFailed(
                f"整合目标 #{target.id} 属于其他部门，只能整合进本部门的“大系统”",
                code="plan_target_other_department",
            )
    system.integration_target_id = target.id if target else None
    system.integration_state = wanted.value
    system.status = {
        IntegrationState.planned: SystemStatus.to_integrate,
        IntegrationState.done: SystemStatus.retired,
        IntegrationState.none: SystemStatus.running,
    }[wanted].value
    session.flush()
    after = {
        "target_id": system.integration_target_id,
        "state": system.integration_state,
        "status": system.status,
    }
    where = f"整合进“{target.name}”" if target else "移出整合清单"
    audit.record(
        session,
        principal,
        "plan.integration",
        summary=f"系统“{system.name}”{where}，进度：{wanted.label}，状态：{SystemStatus(system.status).label}",
        object_type="information_system",
        object_id=system.id,
        detail={"before": before, "after": after},
    )
    return system


# --- filings ---------------------------------------------------------------------------------

NO_OM_REASON = "该系统已明确需接入政务信息资源共享平台而实际未接入，按整合共享实施方案“建立备案制度”的规定，不予安排运维经费"


@dataclass(frozen=True)
class Proposal:
    """The platform's proposed review result for a filing."""

    result: FilingReview
    reason: str
    flags: list[str] = field(default_factory=list)


def propose(system: InformationSystem, kind: str) -> Proposal:
    flags = []
    if system.status == SystemStatus.to_retire.value:
        flags.append("该系统已确认为僵尸系统（拟清理）")
    elif system.status == SystemStatus.retired.value:
        flags.append("该系统已停用")
    if kind == FilingKind.om.value and system.connection_required and not system.connected_to_platform:
        return Proposal(FilingReview.no_om_funding, NO_OM_REASON, flags)
    if flags:
        return Proposal(FilingReview.rejected, "；".join(flags) + "，建议不予备案", flags)
    return Proposal(FilingReview.approved, "未发现不符合共建共享要求的情形，建议同意备案", flags)


@dataclass
class FilingRow:
    filing: Filing
    system: str
    system_code: str
    department_id: int
    department: str
    submitted_by: str | None
    reviewed_by: str | None
    proposal: Proposal


def list_filings(
    session: Session,
    principal: Principal,
    *,
    department_id: int | None = None,
    review: str | None = None,
    filing_id: int | None = None,
) -> list[FilingRow]:
    """Filings, newest first (stewards: their own department's), each with the platform's proposal."""
    _read(principal)
    submitter, reviewer = aliased(User), aliased(User)
    stmt = (
        select(Filing, InformationSystem, Department.name, submitter.username, reviewer.username)
        .join(InformationSystem, InformationSystem.id == Filing.system_id)
        .join(Department, Department.id == InformationSystem.department_id)
        .outerjoin(submitter, submitter.id == Filing.submitted_by)
        .outerjoin(reviewer, reviewer.id == Filing.reviewed_by)
        .order_by(Filing.submitted_at.desc(), Filing.id.desc())
    )
    if principal.role == Role.steward:
        stmt = stmt.where(InformationSystem.department_id == principal.department_id)
    if department_id is not None:
        stmt = stmt.where(InformationSystem.department_id == department_id)
    if review:
        stmt = stmt.where(Filing.review == review)
    if filing_id is not None:
        stmt = stmt.where(Filing.id == filing_id)
    return [
        FilingRow(f, s.name, s.code, s.department_id, dept, by, rev, propose(s, f.kind))
        for f, s, dept, by, rev in session.execute(stmt)
    ]


def filing_systems(session: Session, principal: Principal) -> list[InformationSystem]:
    """The systems ``principal`` may file for: a steward's department's, every one for the operator."""
    if principal.role not in (Role.steward, Role.operator):
        return []
    stmt = select(InformationSystem).order_by(InformationSystem.code)
    if principal.role == Role.steward:
        stmt = stmt.where(InformationSystem.department_id == principal.department_id)
    return list(session.scalars(stmt))


def _amount(value: object) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"金额“{value}”不是数字，单位为万元", code="filing_amount_invalid") from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12"):
        raise ValidationFailed(f"金额应为正数（万元），收到“{value}”", code="filing_amount_invalid")
    return amount.quantize(Decimal("0.01"))


def create_filing(
    session: Session,
    principal: Principal,
    *,
    system_id: int,
    kind: str,
    fiscal_year: int,
    amount: object,
    note: str = "",
) -> Filing:
    """备案: a construction or O&M funding filing; the no-O&M-funding rule applies at once."""
    system = _system(session, system_id)
    require_role(principal, Role.steward, Role.operator, message="经费备案由部门数据管理员提交")
    require_department(principal, system.department_id, what=f"系统“{system.name}”")
    filing_kind = FilingKind.from_label(kind or "")
    if filing_kind is None:
        raise ValidationFailed(
            f"备案类型“{kind}”无效，应为 construction（建设经费）或 om（运维经费）",
            code="filing_kind_invalid",
        )
    if not 2000 <= int(fiscal_year) <= 2100:
        raise ValidationFailed(
            f"年度“{fiscal_year}”无效，应为 2000-2100 之间的年份", code="filing_year_invalid"
        )
    money = _amount(amount)
    duplicate = session.scalar(
        select(func.count())
        .select_from(Filing)
        .where(
            Filing.system_id == system.id,
            Filing.kind == filing_kind.value,
            Filing.fiscal_year == int(fiscal_year),
            Filing.review.in_([FilingReview.pending.value, FilingReview.approved.value]),
        )
    )
    if duplicate:
        raise Conflict(
            f"系统“{system.name}”{fiscal_year} 年度的{filing_kind.label}已有待审核或已同意的备案，请勿重复提交",
            code="filing_duplicate",
        )
    filing = Filing(
        system_id=system.id,
        kind=filing_kind.value,
        fiscal_year=int(fiscal_year),
        amount=money,
        note=(note or "").strip(),
        submitted_by=principal.user_id,
    )
    proposal = propose(system, filing_kind.value)
    if proposal.result == FilingReview.no_om_funding:
        filing.review, filing.review_note, filing.reviewed_at = (
            proposal.result.value,
            proposal.reason,
            utcnow(),
        )
    session.add(filing)
    session.flush()
    automatic = (
        f"；平台自动研判：{proposal.result.label}" if filing.review != FilingReview.pending.value else ""
    )
    audit.record(
        session,
        principal,
        "filing.create",
        summary=f"提交系统“{system.name}”{fiscal_year} 年度{filing_kind.label}备案 {money} 万元{automatic}",
        object_type="filing",
        object_id=filing.id,
        detail={
            "system_id": system.id,
            "kind": filing_kind.value,
            "fiscal_year": int(fiscal_year),
            "amount": str(money),
            "review": filing.review,
            "proposal": {"result": proposal.result.value, "reason": proposal.reason, "flags": proposal.flags},
        },
    )
    return filing


def review_filing(
    session: Session, principal: Principal, filing_id: int, *, result: str | None = None, note: str = ""
) -> Filing:
    """The operator's review; without ``result`` the platform's proposal is taken. Going against the
    proposal, or rejecting, needs a note."""
    require_role(principal, Role.operator, message="经费备案由平台管理员审核")
    filing = session.get(Filing, filing_id)
    if filing is None:
        raise NotFound(f"备案 #{filing_id} 不存在", code="filing_not_found")
    system = _system(session, filing.system_id)
    proposal = propose(system, filing.kind)
    chosen = FilingReview.from_label(result) if result else proposal.result
    if chosen is None or chosen == FilingReview.pending:
        raise ValidationFailed(
            f"审核结果“{result}”无效，应为 approved（同意备案）、rejected（不予备案）或 no_om_funding（不予安排运维经费）",
            code="filing_review_invalid",
        )
    note = (note or "").strip()
    if not note and (chosen != proposal.result or chosen == FilingReview.rejected):
        raise ValidationFailed(
            f"审核结果“{chosen.label}”与平台建议“{proposal.result.label}”不同或为不予备案，请填写审核意见",
            code="filing_note_required",
        )
    before = filing.review
    filing.review = chosen.value
    filing.review_note = note or (proposal.reason if chosen == proposal.result else "")
    filing.reviewed_by, filing.reviewed_at = principal.user_id, utcnow()
    session.flush()
    audit.record(
        session,
        principal,
        "filing.review",
        summary=f"审核系统“{system.name}”{filing.fiscal_year} 年度{FilingKind(filing.kind).label}备案：{chosen.label}",
        object_type="filing",
        object_id=filing.id,
        detail={
            "before": before,
            "after": chosen.value,
            "note": filing.review_note,
            "proposal": proposal.result.value,
        },
    )
    return filing
