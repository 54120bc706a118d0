"""数据质量: the quality report of each load, the score the evaluation reads, late and failing resources.

``assess_load`` runs when a load succeeds (``pipeline._assess``) and stores one ``QualityCheck`` per rule:

- 完整性 (completeness), per data item: the share of rows read (upserts) with a value. Key and required
  items are judged (rule ``required``); optional items are reported (rule ``filled``) but at most warned
  about and left out of the score, since leaving them empty is allowed.
- 有效性 (validity), per item and rule of ``ingest.validate`` (``type``, ``length``, ``code_set``, ``cn_id``,
  ``cn_id_birth``, ``uscc``, ``org_code``, ``region_code``, ``mobile``, ``pattern``, ``formula``; ``op`` for
  the operation column): the share of the item's values that pass the rule.
- 唯一性 (uniqueness), rule ``key_unique``: the share of rows whose key did not repeat an earlier row's
  (the data plane keeps the first and rejects the others).
- 及时性 (timeliness), rule ``late``: whether this load came within the allowance of the resource's update
  cycle after the previous successful one (``LATE_AFTER_DAYS``).

Each check has an outcome — ``pass`` at ``PASS_AT`` % or more, ``warn`` at ``WARN_AT`` % or more, else
``fail``; ``error`` when the rule could not be evaluated — its observed value (0–100), the failing count
and up to five sample values (personal data partly hidden by the rules).

**The score** (质量得分, 0–100, ``Load.quality_score``; the yearly evaluation reads it through
``resource_score``) weighs the four dimensions by ``WEIGHTS``: completeness 30, validity 40, uniqueness
15, timeliness 15. Each dimension is itself 0–100: completeness the mean over key and required items;
validity the share of rows read that pass every rule (the rows the rules did not reject); uniqueness the
share of rows read without a repeated key; timeliness 100 when on time, else 0. Validity weighs most
because a wrong value misleads whoever uses it, while an empty one is at least visibly missing.

``late_resources`` lists published resources whose data is older than their cycle allows (resources
never loaded are listed apart by ``never_loaded_resources``: they are not late, they have no data yet);
``failing_resources`` those whose last load failed or scored under ``FAILING_SCORE``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource, ResourceStatus, ResourceVersion, UpdateCycle
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.clock import PLATFORM_TZ
from jutong.core.db import utcnow
from jutong.core.errors import Forbidden
from jutong.ingest.models import (
    CheckOutcome,
    Load,
    LoadStatus,
    Mapping,
    QualityCheck,
    QualityDimension,
    Reject,
    ResourceData,
)
from jutong.registry.models import Department

log = logging.getLogger(__name__)

PASS_AT = 99.0  # % passing for 通过
WARN_AT = 95.0  # % passing for 警告; below it 不通过
FAILING_SCORE = 90.0  # a resource whose last score is below this is listed as failing (about a quarter of
# its rows rejected by the rules, or several dimensions short at once)
SAMPLES = 5

# weights of the dimensions in the score (they add up to 100)
WEIGHTS: dict[str, float] = {
    QualityDimension.completeness.value: 30.0,
    QualityDimension.validity.value: 40.0,
    QualityDimension.uniqueness.value: 15.0,
    QualityDimension.timeliness.value: 15.0,
}

# update cycle → (days without a successful load after which the resource is late, why that many)
LATE_AFTER_DAYS: dict[str, tuple[int, str]] = {
    UpdateCycle.realtime.value: (1, "实时更新的资源，一整天没有新数据即视为滞后"),
    UpdateCycle.daily.value: (3, "每日更新，允许遇周末或节假日顺延一两天，连续 3 天未归集即滞后"),
    UpdateCycle.weekly.value: (10, "每周更新，在 7 天的周期上宽限 3 天"),
    UpdateCycle.monthly.value: (40, "每月更新，在最长 31 天的月份上宽限约 10 天"),
    UpdateCycle.quarterly.value: (100, "每季度更新，在约 92 天的季度上宽限约 8 天"),
    UpdateCycle.semiannual.value: (200, "每半年更新，在约 183 天上宽限约半个月"),
    UpdateCycle.yearly.value: (400, "每年更新，在 365 天上宽限约一个月"),
}

EXTRA_RULES: dict[str, str] = {
    "filled": "填充率",
    "key_unique": "主键唯一",
    "late": "按更新周期归集",
}
CYCLE_LABELS: dict[str, str] = {c.value: c.label for c in UpdateCycle}


def rule_labels() -> dict[str, str]:
    """Rule id → Chinese name, for every rule the report may show."""
    from jutong.ingest.validate import RULES

    return {**RULES, **EXTRA_RULES}


def outcome_for(observed: float | None) -> CheckOutcome:
    if observed is None:
        return CheckOutcome.passed
    if observed >= PASS_AT:
        return CheckOutcome.passed
    if observed >= WARN_AT:
        return CheckOutcome.warn
    return CheckOutcome.fail


def _pct(part: int, whole: int) -> float | None:
    if whole <= 0:
        return None
    return round(100.0 * part / whole, 2)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(PLATFORM_TZ).date()


# ---- who may read ------------------------------------------------------------------------------


def require_load_reader(principal: Principal, department_id: int) -> None:
    """Loads, quality and the change log's counts: operators and auditors, stewards of the provider."""
    require_role(
        principal,
        Role.operator,
        Role.auditor,
        Role.steward,
        message="归集批次和数据质量只对平台管理员、审计人员和提供部门的数据管理员开放",
    )
    if principal.role == Role.steward:
        require_department(principal, department_id, what="该资源")


def require_overview_reader(principal: Principal) -> int | None:
    """The late and failing lists: everything for operators and auditors, their own department for
    stewards (the department id to filter by is returned)."""
    require_role(
        principal,
        Role.operator,
        Role.auditor,
        Role.steward,
        message="数据质量总览只对平台管理员、审计人员和部门数据管理员开放",
    )
    if principal.role == Role.steward:
        if principal.department_id is None:
            raise Forbidden("您的账号没有所属部门", code="department_missing")
        return principal.department_id
    return None


# ---- the report of one load ----------------------------------------------------------------------


@dataclass
class _Dimensions:
    completeness: list[float] = field(default_factory=list)
    validity: float | None = None
    uniqueness: float | None = None
    timeliness: float | None = None

    def values(self) -> dict[str, float]:
        completeness = sum(self.completeness) / len(self.completeness) if self.completeness else 100.0
        return {
            QualityDimension.completeness.value: round(completeness, 2),
            QualityDimension.validity.value: 100.0 if self.validity is None else self.validity,
            QualityDimension.uniqueness.value: 100.0 if self.uniqueness is None else self.uniqueness,
            QualityDimension.timeliness.value: 100.0 if self.timeliness is None else self.timeliness,
        }


def score_of(dimensions: dict[str, float]) -> float:
    """The weighted score (see the module docstring), one decimal."""
    total = sum(WEIGHTS[d] * dimensions.get(d, 100.0) for d in WEIGHTS) / sum(WEIGHTS.values())
    return round(total, 1)


def _snapshot(session: Session, load: Load) -> dict[str, Any]:
    found = session.scalar(
        select(ResourceVersion.snapshot).where(
            ResourceVersion.resource_id == load.resource_id, ResourceVersion.version == load.catalog_version
        )
    )
    return dict(found or {})


def _item_rules(session: Session, load: Load, snapshot: dict[str, Any]) -> dict[str, list[str]]:
    """column → the rule ids ``ingest.validate`` applies to it (so rules that nothing failed show too)."""
    import polars as pl

    from jutong.ingest import validate

    items = snapshot.get("items") or []
    mapping = session.get(Mapping, load.mapping_id) if load.mapping_id else None
    try:
        plan = validate.build_plan(session, snapshot, mapping, [str(i["column_name"]) for i in items])
    except Exception:  # a standard changed since the load: the stats alone still give the failures
        return {}
    out: dict[str, list[str]] = {}
    for i, rule in enumerate(plan.items):
        names: list[str] = []
        for check in validate.checks_of(i, rule, pl.col("n"), pl.col("t")):
            if check.rule not in names:
                names.append(check.rule)
        out[rule.column] = names
    return out


def _mask(value: str, sensitive: bool) -> str:
    if not sensitive or len(value) <= 2:
        return value if not sensitive else value[:1] + "*"
    keep = max(1, len(value) // 4)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _duplicates(session: Session, load: Load) -> tuple[int, list[str]]:
    """Rows rejected for a repeated key (counted in SQL over the reasons' text) and a few of the keys."""
    hit = cast(Reject.reasons, String).like('%"key_unique"%')
    count = int(
        session.scalar(select(func.count()).select_from(Reject).where(Reject.load_id == load.id, hit)) or 0
    )
    samples: list[str] = []
    if count:
        for reasons in session.scalars(
            select(Reject.reasons).where(Reject.load_id == load.id, hit).order_by(Reject.row_number).limit(20)
        ):
            for reason in reasons or []:
                value = str(reason.get("value") or "")
                if reason.get("rule") == "key_unique" and value and value not in samples:
                    samples.append(value)
            if len(samples) >= SAMPLES:
                break
    return count, samples[:SAMPLES]


def _previous_success(session: Session, load: Load) -> Load | None:
    return session.scalar(
        select(Load)
        .where(
            Load.resource_id == load.resource_id,
            Load.status == LoadStatus.succeeded.value,
            Load.id < load.id,
        )
        .order_by(Load.id.desc())
        .limit(1)
    )


def assess_load(session: Session, load: Load) -> list[QualityCheck]:
    """Store the quality report of a succeeded load (replacing an earlier one) and its score.

    Runs in a savepoint of its own: should the report itself fail, the load still stands (its data is
    good), and the report says it could not be made (one check with outcome ``error``, no score)."""
    session.execute(delete(QualityCheck).where(QualityCheck.load_id == load.id))
    if load.status != LoadStatus.succeeded.value:
        return []
    try:
        with session.begin_nested():
            return _assess(session, load)
    except Exception as exc:
        log.exception("quality report of load %s failed", load.id)
        load.quality_score = None
        check = QualityCheck(
            load_id=load.id,
            resource_id=load.resource_id,
            dimension=QualityDimension.validity.value,
            rule="report",
            column_name="",
            label="质量报告",
            outcome=CheckOutcome.error.value,
            observed=None,
            threshold=None,
            failing_count=0,
            sample=[],
            message=f"质量报告生成失败（{type(exc).__name__}），数据已正常入库；请联系平台管理员",
        )
        session.add(check)
        session.flush()
        return [check]


def _assess(session: Session, load: Load) -> list[QualityCheck]:
    from jutong.ingest.validate import BatchStats

    snapshot = _snapshot(session, load)
    items = sorted(snapshot.get("items") or [], key=lambda i: i.get("position", 0))
    raw_stats = (load.stats or {}).get("items") or {}
    stats = BatchStats.from_json(raw_stats) if raw_stats else None
    applicable = _item_rules(session, load, snapshot)
    labels = rule_labels()
    now = utcnow()
    checks: list[QualityCheck] = []
    dims = _Dimensions()

    def add(
        dimension: QualityDimension,
        rule: str,
        column: str,
        label: str,
        outcome: CheckOutcome,
        observed: float | None,
        failing: int = 0,
        sample: Iterable[Any] = (),
        message: str = "",
        threshold: float | None = PASS_AT,
    ) -> None:
        checks.append(
            QualityCheck(
                load_id=load.id,
                resource_id=load.resource_id,
                dimension=dimension.value,
                rule=rule,
                column_name=column,
                label=label[:200],
                outcome=outcome.value,
                observed=observed,
                threshold=threshold,
                failing_count=failing,
                sample=list(sample)[:SAMPLES],
                message=message,
                checked_at=now,
            )
        )

    checked = (stats.read - stats.deletes) if stats else load.read_count
    if stats is not None:
        dims.validity = _pct(stats.good, stats.read)
    for item in items:
        column, name = str(item["column_name"]), str(item.get("name") or item["column_name"])
        judged = bool(item.get("required") or item.get("is_key"))
        s = stats.items.get(column) if stats else None
        if s is None:
            add(
                QualityDimension.completeness,
                "required" if judged else "filled",
                column,
                f"{name} · 完整性",
                CheckOutcome.error,
                None,
                message="本批次没有该信息项的统计，无法评价（可能是归集时的资源版本与当前不同）",
            )
            continue
        # completeness
        filled = _pct(s.non_null, checked)
        missing = max(checked - s.non_null, 0)
        if judged:
            outcome = outcome_for(filled)
            if filled is not None:
                dims.completeness.append(filled)
            add(
                QualityDimension.completeness,
                "required",
                column,
                f"{name} · {'主键项' if item.get('is_key') else '必填项'}完整性",
                outcome,
                filled,
                missing,
                message=f"{checked} 行中 {s.non_null} 行有值，{missing} 行为空",
            )
        else:
            outcome = CheckOutcome.warn if filled is not None and filled < WARN_AT else CheckOutcome.passed
            add(
                QualityDimension.completeness,
                "filled",
                column,
                f"{name} · 填充率（选填）",
                outcome,
                filled,
                missing,
                message=(
                    f"{checked} 行中 {s.non_null} 行有值；选填项的填充率仅供参考，不计入得分"
                    if s.non_null
                    else "源数据中没有这一列或全部为空；选填项仅供参考，不计入得分"
                ),
                threshold=WARN_AT,
            )
        # validity, rule by rule
        rules = [r for r in applicable.get(column, []) if r != "required"]
        rules += [r for r in s.failed if r not in rules and r != "required"]
        for rule in rules:
            failing = s.failed.get(rule, 0)
            observed = _pct(s.non_null - failing, s.non_null)
            if observed is not None:
                observed = max(observed, 0.0)
            add(
                QualityDimension.validity,
                rule,
                column,
                f"{name} · {labels.get(rule, rule)}",
                outcome_for(observed),
                observed,
                failing,
                s.samples.get(rule, []),
                message=(
                    f"{s.non_null} 个值中 {failing} 个不符合" if s.non_null else "本批次该项没有值，无需检查"
                ),
            )
    if stats and "_op" in stats.items:
        s = stats.items["_op"]
        failing = s.failed.get("op", 0)
        observed = _pct(s.non_null - failing, s.non_null)
        add(
            QualityDimension.validity,
            "op",
            "_op",
            "操作类型 · 可识别",
            outcome_for(observed),
            observed,
            failing,
            s.samples.get("op", []),
            message=f"{s.non_null} 行中 {failing} 行的操作类型无法识别",
        )
    if stats is None:
        add(
            QualityDimension.validity,
            "stats",
            "",
            "校验统计",
            CheckOutcome.error,
            None,
            message="批次没有校验统计，无法评价有效性",
            threshold=None,
        )

    # uniqueness
    keys = [i for i in items if i.get("is_key")]
    duplicates, dup_samples = _duplicates(session, load)
    observed = _pct(max(checked - duplicates, 0), checked)
    dims.uniqueness = observed if observed is not None else 100.0
    key_names = "、".join(str(i.get("name")) for i in keys) or "记录主键"
    add(
        QualityDimension.uniqueness,
        "key_unique",
        ",".join(str(i["column_name"]) for i in keys),
        f"{key_names} · 主键唯一",
        outcome_for(observed),
        observed,
        duplicates,
        [_mask(v, any(bool(i.get("sensitive")) for i in keys)) for v in dup_samples],
        message=(
            f"{duplicates} 行的主键与前面的行重复，已保留第一次出现的行、拒收其余"
            if duplicates
            else "本批次没有重复的主键"
        ),
    )

    # timeliness
    cycle = str(snapshot.get("update_cycle") or "")
    allowance = LATE_AFTER_DAYS.get(cycle)
    cycle_label = CYCLE_LABELS.get(cycle, cycle or "未填")
    previous = _previous_success(session, load)
    if allowance is None:
        dims.timeliness = 100.0
        add(
            QualityDimension.timeliness,
            "late",
            "",
            "按更新周期归集",
            CheckOutcome.passed,
            None,
            message=f"更新周期为“{cycle_label}”，不按天数评价及时性",
            threshold=None,
        )
    elif previous is None:
        dims.timeliness = 100.0
        add(
            QualityDimension.timeliness,
            "late",
            "",
            f"按更新周期归集（{cycle_label}，{allowance[0]} 天内）",
            CheckOutcome.passed,
            100.0,
            message="首次归集",
            threshold=None,
        )
    else:
        before = previous.finished_at or previous.started_at
        this = load.finished_at or now
        gap = (_local_date(this) - _local_date(before)).days
        late = gap >= allowance[0]
        dims.timeliness = 0.0 if late else 100.0
        add(
            QualityDimension.timeliness,
            "late",
            "",
            f"按更新周期归集（{cycle_label}，{allowance[0]} 天内）",
            CheckOutcome.fail if late else CheckOutcome.passed,
            dims.timeliness,
            gap - allowance[0] + 1 if late else 0,
            message=(
                f"距上一次成功归集（批次 #{previous.id}）{gap} 天；{allowance[1]}"
                + ("，本次归集前数据已滞后" if late else "")
            ),
            threshold=None,
        )

    dimensions = dims.values()
    load.quality_score = score_of(dimensions)
    load.stats = {**(load.stats or {}), "quality": {"dimensions": dimensions, "weights": dict(WEIGHTS)}}
    session.add_all(checks)
    session.flush()
    return checks


# ---- a resource over time ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorePoint:
    load_id: int
    data_version: int | None
    status: str
    score: float | None
    read: int
    rejected: int
    at: datetime


@dataclass
class ResourceQuality:
    resource_id: int
    load: Load | None  # the last successful load
    score: float | None
    dimensions: dict[str, float | None]
    checks: list[QualityCheck]
    history: list[ScorePoint]  # oldest first
    failing_by_rule: list[tuple[str, str, int]]  # (rule, label, failing rows) of the last load

    @property
    def weights(self) -> dict[str, float]:
        return dict(WEIGHTS)


def load_checks(session: Session, load_id: int) -> list[QualityCheck]:
    order = {d.value: n for n, d in enumerate(QualityDimension)}
    checks = list(session.scalars(select(QualityCheck).where(QualityCheck.load_id == load_id)))
    return sorted(checks, key=lambda c: (order.get(c.dimension, 9), c.id))


def failing_by_rule(checks: Iterable[QualityCheck]) -> list[tuple[str, str, int]]:
    labels = rule_labels()
    totals: dict[str, int] = {}
    for check in checks:
        if check.rule == "filled":
            continue
        totals[check.rule] = totals.get(check.rule, 0) + int(check.failing_count or 0)
    return [(rule, labels.get(rule, rule), n) for rule, n in sorted(totals.items(), key=lambda kv: -kv[1])]


def dimensions_of(load: Load | None) -> dict[str, float | None]:
    stored = ((load.stats or {}).get("quality") or {}).get("dimensions") if load else None
    return {d: (stored or {}).get(d) for d in WEIGHTS}


def resource_quality(session: Session, resource_id: int, history: int = 60) -> ResourceQuality:
    """The last successful load's checks and score, and the scores of the latest loads over time."""
    loads = list(
        session.scalars(
            select(Load)
            .where(
                Load.resource_id == resource_id,
                Load.status.in_((LoadStatus.succeeded.value, LoadStatus.failed.value)),
            )
            .order_by(Load.id.desc())
            .limit(history)
        )
    )
    last = next((x for x in loads if x.status == LoadStatus.succeeded.value), None)
    checks = load_checks(session, last.id) if last else []
    points = [
        ScorePoint(
            x.id, x.data_version, x.status, x.quality_score, x.read_count, x.rejected_count, x.started_at
        )
        for x in reversed(loads)
    ]
    return ResourceQuality(
        resource_id=resource_id,
        load=last,
        score=last.quality_score if last else None,
        dimensions=dimensions_of(last),
        checks=checks,
        history=points,
        failing_by_rule=failing_by_rule(checks),
    )


def resource_score(session: Session, resource_id: int) -> float | None:
    """质量得分 of a resource: its last successful load's score (None: never loaded). For the evaluation."""
    return session.scalar(
        select(Load.quality_score)
        .where(Load.resource_id == resource_id, Load.status == LoadStatus.succeeded.value)
        .order_by(Load.id.desc())
        .limit(1)
    )


# ---- late, never loaded and failing resources ----------------------------------------------------


@dataclass(frozen=True)
class LateResource:
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    update_cycle: str
    allowed_days: int
    days_since: int
    last_loaded_at: datetime
    last_load_id: int | None

    @property
    def reason(self) -> str:
        return LATE_AFTER_DAYS[self.update_cycle][1]


@dataclass(frozen=True)
class NeverLoaded:
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    update_cycle: str


@dataclass(frozen=True)
class FailingResource:
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    load_id: int
    status: str
    score: float | None
    reason: str


def _published(department_id: int | None) -> Any:
    query = (
        select(Resource, Department.name)
        .join(Department, Department.id == Resource.department_id)
        .where(Resource.published_version.is_not(None), Resource.status != ResourceStatus.withdrawn.value)
    )
    if department_id is not None:
        query = query.where(Resource.department_id == department_id)
    return query


def late_resources(session: Session, today: date, department_id: int | None = None) -> list[LateResource]:
    """Published resources with data whose last successful load is as old as their cycle's allowance
    or older (a daily resource last loaded three days ago is late), most overdue first."""
    rows = session.execute(
        _published(department_id)
        .add_columns(ResourceData.last_loaded_at, ResourceData.last_load_id)
        .join(ResourceData, ResourceData.resource_id == Resource.id)
        .where(ResourceData.data_version > 0, ResourceData.last_loaded_at.is_not(None))
    ).all()
    out = []
    for resource, department_name, loaded_at, load_id in rows:
        allowance = LATE_AFTER_DAYS.get(resource.update_cycle)
        if allowance is None:
            continue
        days = (today - _local_date(loaded_at)).days
        if days >= allowance[0]:
            out.append(
                LateResource(
                    resource.id,
                    resource.code,
                    resource.name,
                    resource.department_id,
                    department_name,
                    resource.update_cycle,
                    allowance[0],
                    days,
                    loaded_at,
                    load_id,
                )
            )
    return sorted(out, key=lambda r: (-(r.days_since - r.allowed_days), r.code))


def never_loaded_resources(session: Session, department_id: int | None = None) -> list[NeverLoaded]:
    """Published resources that could hold data (their published version has a key item) but have had
    no successful load yet: not late, simply without data."""
    loaded = select(ResourceData.resource_id).where(ResourceData.data_version > 0)
    rows = session.execute(
        _published(department_id)
        .add_columns(ResourceVersion.snapshot)
        .join(
            ResourceVersion,
            (ResourceVersion.resource_id == Resource.id)
            & (ResourceVersion.version == Resource.published_version),
        )
        .where(Resource.id.not_in(loaded))
        .order_by(Resource.code)
    ).all()
    return [
        NeverLoaded(
            resource.id,
            resource.code,
            resource.name,
            resource.department_id,
            department_name,
            resource.update_cycle,
        )
        for resource, department_name, snapshot in rows
        if any(i.get("is_key") for i in (snapshot or {}).get("items") or [])
    ]


def failing_resources(session: Session, department_id: int | None = None) -> list[FailingResource]:
    """Resources whose last finished load failed, or scored under ``FAILING_SCORE``."""
    last = (
        select(Load.resource_id, func.max(Load.id).label("load_id"))
        .where(Load.status.in_((LoadStatus.succeeded.value, LoadStatus.failed.value)))
        .group_by(Load.resource_id)
        .subquery()
    )
    query = (
        select(Load, Resource, Department.name)
        .join(last, last.c.load_id == Load.id)
        .join(Resource, Resource.id == Load.resource_id)
        .join(Department, Department.id == Resource.department_id)
        .where(
            (Load.status == LoadStatus.failed.value)
            | (Load.quality_score.is_not(None) & (Load.quality_score < FAILING_SCORE))
        )
        .order_by(Resource.code)
    )
    if department_id is not None:
        query = query.where(Resource.department_id == department_id)
    out = []
    for load, resource, department_name in session.execute(query).all():
        if load.status == LoadStatus.failed.value:
            reason = f"最近一次归集失败：{load.error_message or load.error_code or '原因未知'}"
        else:
            reason = f"最近一次归集的质量得分 {load.quality_score:g} 低于 {FAILING_SCORE:g} 分"
        out.append(
            FailingResource(
                resource.id,
                resource.code,
                resource.name,
                resource.department_id,
                department_name,
                load.id,
                load.status,
                load.quality_score,
                reason,
            )
        )
    return out
