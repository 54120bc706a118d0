"""僵尸系统研判: five rules over the census, operator thresholds, candidates with evidence, decisions.

Rules (seed 001 §二(一)), thresholds in ``core.options`` under ``zombie_thresholds``:

- ``no_business`` 与业务脱节: zero transactions in each of the last ``no_business_months`` months.
- ``replaceable`` 功能可被替代: description similarity >= ``similarity_threshold`` with another system.
- ``idle_resources`` 资源长期空闲: CPU < ``idle_cpu_pct`` and storage < ``idle_storage_pct`` in each of
  the last ``idle_months`` months (a month with unknown utilisation is not idle).
- ``no_maintenance`` 停止维护: last maintenance before ``no_maintenance_months`` months ago (or not given).
- ``low_usage`` 范围小、频度低: office/department scope and, over ``low_usage_months`` months,
  average active users < ``low_usage_users`` and average transactions < ``low_usage_transactions``.

"The last N months" are the N full calendar months before the reference date; a month without a
usage row counts as zero users and transactions and unknown utilisation. Retired systems are
not evaluated. Who sees what: operators decide; auditors read everything; stewards read the
candidates and reviews of their own department only (to prepare their answer); others are refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core import audit, clock
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.core.options import get_option, put_option
from jutong.registry import zombie_rules
from jutong.registry.models import (
    Department,
    InformationSystem,
    SystemStatus,
    SystemUsage,
    User,
    ZombieDecision,
    ZombieReview,
)
from jutong.registry.zombie_rules import RULE_LABELS, RULES, THRESHOLD_FIELDS, RuleHit, Thresholds, Usage

__all__ = ["RULES", "RULE_LABELS", "THRESHOLD_FIELDS", "Candidate", "RuleHit", "Thresholds"]

OPTION_KEY = "zombie_thresholds"


def get_thresholds(session: Session) -> Thresholds:
    stored = get_option(session, OPTION_KEY) or {}
    known = {f.name for f in fields(Thresholds)}
    return Thresholds(**{**asdict(Thresholds()), **{k: v for k, v in stored.items() if k in known}})


def read_thresholds(session: Session, principal: Principal) -> Thresholds:
    _readers(principal)
    return get_thresholds(session)


def update_thresholds(session: Session, principal: Principal, values: dict[str, Any]) -> Thresholds:
    require_role(principal, Role.operator, message="僵尸系统研判阈值仅限平台管理员修改")
    before = get_thresholds(session)
    after = zombie_rules.validate_thresholds(values, before)
    put_option(session, OPTION_KEY, asdict(after))
    changed = {k: [v, asdict(after)[k]] for k, v in asdict(before).items() if asdict(after)[k] != v}
    audit.record(
        session,
        principal,
        "zombie.thresholds",
        summary="修改僵尸系统研判阈值：" + ("、".join(THRESHOLD_FIELDS[k][0] for k in changed) or "无变化"),
        object_type="option",
        object_id=OPTION_KEY,
        detail={"before": asdict(before), "after": asdict(after), "changed": changed},
    )
    return after


@dataclass
class Candidate:
    system_id: int
    system: str
    system_code: str
    department_id: int
    department: str
    status: str
    hits: list[RuleHit]
    dismissed_review_id: int | None = None  # set when a dismissed system is proposed again
    new_rules: list[str] = field(default_factory=list)

    @property
    def rules(self) -> list[str]:
        return [hit.rule for hit in self.hits]

    @property
    def evidence(self) -> dict[str, dict[str, Any]]:
        return {hit.rule: {"text": hit.text, "figures": hit.figures} for hit in self.hits}


EARLIEST_AS_OF = date(2000, 1, 1)


def checked_as_of(as_of: date | None) -> date:
    """The reference day of a judgement: today by default; never in the future (evidence would be
    made of months that have not happened) nor before the platform's records could begin."""
    today = clock.today()
    if as_of is None:
        return today
    if as_of > today or as_of < EARLIEST_AS_OF:
        raise ValidationFailed(
            f"研判基准日期 {as_of.isoformat()} 无效：应在 {EARLIEST_AS_OF.isoformat()} 至今天（{today.isoformat()}）之间",
            code="as_of_out_of_range",
            detail={"as_of": as_of.isoformat(), "min": EARLIEST_AS_OF.isoformat(), "max": today.isoformat()},
        )
    return as_of


def evaluate(
    session: Session, as_of: date | None = None, thresholds: Thresholds | None = None
) -> list[Candidate]:
    """Every non-retired system that hits at least one rule, with all its hits (no decisions applied)."""
    as_of = checked_as_of(as_of)
    t = thresholds or get_thresholds(session)
    query = (
        select(InformationSystem, Department.name)
        .join(Department, Department.id == InformationSystem.department_id)
        .where(InformationSystem.status != SystemStatus.retired.value)
        .order_by(InformationSystem.id)
    )
    rows = [(system, name) for system, name in session.execute(query)]
    windows = {
        "no_business": clock.last_months(as_of, t.no_business_months),
        "idle": clock.last_months(as_of, t.idle_months),
        "low_usage": clock.last_months(as_of, t.low_usage_months),
    }
    all_months = sorted({m for months in windows.values() for m in months})
    usage: dict[int, Usage] = {}
    for row in session.scalars(
        select(SystemUsage).where(SystemUsage.month >= all_months[0], SystemUsage.month <= all_months[-1])
    ):
        u = usage.setdefault(row.system_id, Usage())
        u.users[row.month] = row.active_users or 0
        u.transactions[row.month] = row.transactions or 0
        u.cpu[row.month] = row.cpu_utilization
        u.storage[row.month] = row.storage_utilization
    replaceable = zombie_rules.replaceable(rows, t)
    candidates: list[Candidate] = []
    for system, department in rows:
        u = usage.get(system.id, Usage())
        found = [
            zombie_rules.no_business(u, windows["no_business"]),
            replaceable.get(system.id),
            zombie_rules.idle_resources(u, windows["idle"], t),
            zombie_rules.no_maintenance(system, as_of, t),
            zombie_rules.low_usage(system, u, windows["low_usage"], t),
        ]
        hits = [hit for hit in found if hit is not None]
        if hits:
            candidates.append(
                Candidate(
                    system.id, system.name, system.code, system.department_id, department, system.status, hits
                )
            )
    return candidates


def _latest_reviews(session: Session) -> dict[int, ZombieReview]:
    latest: dict[int, ZombieReview] = {}
    for review in session.scalars(select(ZombieReview).order_by(ZombieReview.decided_at, ZombieReview.id)):
        latest[review.system_id] = review
    return latest


def find_candidates(session: Session, as_of: date | None = None) -> list[Candidate]:
    """Systems to decide on: rule hits, minus the already confirmed (拟清理) and the dismissed ones
    that hit no rule they did not hit when dismissed."""
    latest = _latest_reviews(session)
    out: list[Candidate] = []
    for candidate in evaluate(session, as_of):
        if candidate.status == SystemStatus.to_retire.value:
            continue
        review = latest.get(candidate.system_id)
        if review is not None and review.decision == ZombieDecision.dismissed.value:
            new_rules = [rule for rule in candidate.rules if rule not in (review.rules or [])]
            if not new_rules:
                continue
            candidate.dismissed_review_id, candidate.new_rules = review.id, new_rules
        out.append(candidate)
    out.sort(key=lambda c: (c.department, -len(c.hits), c.system_code))
    return out


def _readers(principal: Principal) -> None:
    require_role(
        principal,
        Role.operator,
        Role.auditor,
        Role.steward,
        message="僵尸系统研判仅限平台管理员、审计人员和部门数据管理员（本部门）查看",
    )


def visible_candidates(session: Session, principal: Principal, as_of: date | None = None) -> list[Candidate]:
    """Operators and auditors see every candidate; stewards those of their own department."""
    _readers(principal)
    candidates = find_candidates(session, as_of)
    if principal.role == Role.steward:
        candidates = [c for c in candidates if c.department_id == principal.department_id]
    return candidates


# --- decisions ------------------------------------------------------------------------------


def _system_for_decision(session: Session, system_id: int) -> InformationSystem:
    system = session.get(InformationSystem, system_id)
    if system is None:
        raise NotFound(f"信息系统 #{system_id} 不存在", code="system_not_found")
    if system.status == SystemStatus.retired.value:
        raise Conflict(f"系统“{system.name}”已停用，无需研判", code="zombie_system_retired")
    return system


def _current_hits(session: Session, system: InformationSystem, as_of: date | None) -> Candidate:
    found = next((c for c in evaluate(session, as_of) if c.system_id == system.id), None)
    if found is None:
        raise Conflict(
            f"系统“{system.name}”当前未命中任何僵尸系统规则，无需确认或排除；如数据有误请先更正普查信息",
            code="zombie_not_candidate",
        )
    return found


def _decide(
    session: Session,
    principal: Principal,
    system: InformationSystem,
    decision: ZombieDecision,
    reason: str,
    candidate: Candidate,
) -> ZombieReview:
    review = ZombieReview(
        system_id=system.id,
        decision=decision.value,
        reason=reason,
        rules=candidate.rules,
        evidence=candidate.evidence,
        decided_by=principal.user_id,
    )
    session.add(review)
    session.flush()
    verb = "confirm" if decision == ZombieDecision.confirmed else "dismiss"
    labels = "、".join(RULE_LABELS[r] for r in candidate.rules)
    what = (
        "确认为僵尸系统（拟清理）"
        if decision == ZombieDecision.confirmed
        else f"排除僵尸系统嫌疑（理由：{reason}）"
    )
    audit.record(
        session,
        principal,
        f"zombie.{verb}",
        summary=f"将系统“{system.name}”{what}；命中规则：{labels}",
        object_type="information_system",
        object_id=system.id,
        detail={
            "review_id": review.id,
            "rules": candidate.rules,
            "evidence": candidate.evidence,
            "reason": reason,
            "status": system.status,
        },
    )
    return review


def confirm(
    session: Session, principal: Principal, system_id: int, *, reason: str = "", as_of: date | None = None
) -> ZombieReview:
    """确认清理: the system becomes 拟清理 (``to_retire``); rules and evidence are kept."""
    require_role(principal, Role.operator, message="僵尸系统的确认与排除仅限平台管理员")
    system = _system_for_decision(session, system_id)
    if system.status == SystemStatus.to_retire.value:
        raise Conflict(f"系统“{system.name}”已确认为拟清理", code="zombie_already_confirmed")
    candidate = _current_hits(session, system, as_of)
    system.status = SystemStatus.to_retire.value
    return _decide(session, principal, system, ZombieDecision.confirmed, reason.strip(), candidate)


def dismiss(
    session: Session, principal: Principal, system_id: int, *, reason: str, as_of: date | None = None
) -> ZombieReview:
    """排除: a reason is required; the system is not proposed again unless it hits a new rule."""
    require_role(principal, Role.operator, message="僵尸系统的确认与排除仅限平台管理员")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "排除僵尸系统嫌疑必须填写理由（例如：系统仍在使用，业务量统计有误）",
            code="zombie_reason_required",
        )
    system = _system_for_decision(session, system_id)
    candidate = _current_hits(session, system, as_of)
    return _decide(session, principal, system, ZombieDecision.dismissed, reason, candidate)


@dataclass
class ReviewRow:
    review: ZombieReview
    system: str
    system_code: str
    department_id: int
    department: str
    decided_by: str | None
    reproposed_rules: list[str] = field(default_factory=list)  # dismissed, but now hits these new rules


def list_reviews(
    session: Session,
    principal: Principal,
    *,
    decision: ZombieDecision | None = None,
    latest_only: bool = False,
    review_id: int | None = None,
) -> list[ReviewRow]:
    """Decisions, newest first (stewards: their own department's)."""
    _readers(principal)
    stmt = (
        select(
            ZombieReview,
            InformationSystem.name,
            InformationSystem.code,
            Department.id,
            Department.name,
            User.username,
        )
        .join(InformationSystem, InformationSystem.id == ZombieReview.system_id)
        .join(Department, Department.id == InformationSystem.department_id)
        .outerjoin(User, User.id == ZombieReview.decided_by)
        .order_by(ZombieReview.decided_at.desc(), ZombieReview.id.desc())
    )
    if principal.role == Role.steward:
        stmt = stmt.where(InformationSystem.department_id == principal.department_id)
    if review_id is not None:
        stmt = stmt.where(ZombieReview.id == review_id)
    rows = [ReviewRow(*row) for row in session.execute(stmt)]
    if latest_only:
        newest: dict[int, ReviewRow] = {}
        for row in rows:
            newest.setdefault(row.review.system_id, row)
        rows = list(newest.values())
    if decision is not None:
        rows = [r for r in rows if r.review.decision == decision.value]
    return rows


def dismissed(session: Session, principal: Principal, as_of: date | None = None) -> list[ReviewRow]:
    """The dismissed list: systems whose latest decision is 排除, and any rule they hit since."""
    rows = list_reviews(session, principal, decision=ZombieDecision.dismissed, latest_only=True)
    again = {c.system_id: c.new_rules for c in find_candidates(session, as_of) if c.dismissed_review_id}
    for row in rows:
        row.reproposed_rules = again.get(row.review.system_id, [])
    return rows
