"""The five zombie rules (僵尸系统研判规则) as pure functions over one system's census record and usage.

No database here: ``zombies.evaluate`` loads the systems and their monthly usage and calls these.
Each rule returns a ``RuleHit`` (Chinese evidence text plus the figures behind it) or None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from jutong.core.clock import months_earlier
from jutong.core.errors import ValidationFailed
from jutong.registry import similarity
from jutong.registry.models import InformationSystem, UsageScope

RULES: tuple[str, ...] = ("no_business", "replaceable", "idle_resources", "no_maintenance", "low_usage")
RULE_LABELS: dict[str, str] = {
    "no_business": "与业务脱节",
    "replaceable": "功能可被替代",
    "idle_resources": "资源长期空闲",
    "no_maintenance": "停止维护",
    "low_usage": "范围小、频度低",
}
LOW_USAGE_SCOPES = frozenset({UsageScope.office.value, UsageScope.department.value})
MAX_SIMILAR_SHOWN = 3


@dataclass(frozen=True)
class Thresholds:
    """研判阈值 (operator settings)."""

    no_business_months: int = 6
    similarity_threshold: float = 0.6
    idle_months: int = 3
    idle_cpu_pct: float = 5.0
    idle_storage_pct: float = 10.0
    no_maintenance_months: int = 12
    low_usage_months: int = 6
    low_usage_users: float = 10.0
    low_usage_transactions: float = 200.0


# name -> (中文名, integer?, upper bound)
THRESHOLD_FIELDS: dict[str, tuple[str, bool, float]] = {
    "no_business_months": ("与业务脱节：连续无业务的月数", True, 120),
    "similarity_threshold": ("功能可被替代：相似度阈值（0-1）", False, 1),
    "idle_months": ("资源长期空闲：连续空闲的月数", True, 120),
    "idle_cpu_pct": ("资源长期空闲：CPU 利用率低于（%）", False, 100),
    "idle_storage_pct": ("资源长期空闲：存储利用率低于（%）", False, 100),
    "no_maintenance_months": ("停止维护：未维护的月数", True, 240),
    "low_usage_months": ("范围小、频度低：统计月数", True, 120),
    "low_usage_users": ("范围小、频度低：月均活跃用户低于（人）", False, 1e9),
    "low_usage_transactions": ("范围小、频度低：月均业务量低于（笔）", False, 1e12),
}


def validate_thresholds(values: dict[str, Any], base: Thresholds | None = None) -> Thresholds:
    """Check operator input (missing keys keep ``base``); every problem is named in Chinese."""
    merged = asdict(base or Thresholds())
    problems: list[dict[str, str]] = []
    unknown = sorted(set(values) - set(THRESHOLD_FIELDS))
    for name in unknown:
        problems.append({"field": name, "problem": "未知的阈值名称"})
    for name, (label, integer, upper) in THRESHOLD_FIELDS.items():
        if name not in values or values[name] is None or values[name] == "":
            continue
        raw = values[name]
        try:
            number = float(str(raw).strip()) if not isinstance(raw, bool) else float("nan")
        except ValueError:
            problems.append({"field": name, "problem": f"{label}应为数字，收到“{raw}”"})
            continue
        if number != number or number <= 0:  # NaN or not positive
            problems.append({"field": name, "problem": f"{label}应为正数，收到“{raw}”"})
        elif number > upper:
            problems.append({"field": name, "problem": f"{label}不能大于 {upper:g}，收到“{raw}”"})
        elif integer and number != int(number):
            problems.append({"field": name, "problem": f"{label}应为整数，收到“{raw}”"})
        else:
            merged[name] = int(number) if integer else number
    if problems:
        summary = "；".join(p["problem"] for p in problems)
        raise ValidationFailed(
            f"阈值设置有误：{summary}。请修改后重新提交", code="zombie_thresholds_invalid", detail=problems
        )
    return Thresholds(**merged)


# --- months ---------------------------------------------------------------------------------


def _span(months: list[str]) -> str:
    return f"{months[0]} 至 {months[-1]}" if len(months) > 1 else months[0]


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class RuleHit:
    rule: str
    text: str  # 中文证据
    figures: dict[str, Any]

    @property
    def label(self) -> str:
        return RULE_LABELS[self.rule]


@dataclass
class Usage:
    users: dict[str, int] = field(default_factory=dict)
    transactions: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float | None] = field(default_factory=dict)
    storage: dict[str, float | None] = field(default_factory=dict)


def no_business(usage: Usage, months: list[str]) -> RuleHit | None:
    counts = {m: usage.transactions.get(m, 0) for m in months}
    if any(counts.values()):
        return None
    missing = [m for m in months if m not in usage.transactions]
    text = f"最近 {len(months)} 个月（{_span(months)}）每月业务量均为 0"
    if missing:
        text += f"（其中 {len(missing)} 个月无使用记录）"
    return RuleHit(
        "no_business", text, {"months": months, "transactions": counts, "months_without_record": missing}
    )


def idle_resources(usage: Usage, months: list[str], t: Thresholds) -> RuleHit | None:
    cpu = {m: usage.cpu.get(m) for m in months}
    storage = {m: usage.storage.get(m) for m in months}
    for m in months:
        c, s = cpu[m], storage[m]
        if c is None or s is None or c >= t.idle_cpu_pct or s >= t.idle_storage_pct:
            return None
    cpu_text = "、".join(f"{_num(v or 0)}%" for v in cpu.values())
    storage_text = "、".join(f"{_num(v or 0)}%" for v in storage.values())
    text = (
        f"最近 {len(months)} 个月（{_span(months)}）CPU 利用率 {cpu_text}，均低于 {_num(t.idle_cpu_pct)}%；"
        f"存储利用率 {storage_text}，均低于 {_num(t.idle_storage_pct)}%"
    )
    figures = {
        "months": months,
        "cpu_pct": cpu,
        "storage_pct": storage,
        "cpu_below": t.idle_cpu_pct,
        "storage_below": t.idle_storage_pct,
    }
    return RuleHit("idle_resources", text, figures)


def no_maintenance(system: InformationSystem, as_of: date, t: Thresholds) -> RuleHit | None:
    cutoff = months_earlier(as_of, t.no_maintenance_months)
    last = system.last_maintained_on
    figures = {
        "last_maintained_on": last.isoformat() if last else None,
        "cutoff": cutoff.isoformat(),
        "months": t.no_maintenance_months,
    }
    if last is None:
        return RuleHit("no_maintenance", "最近维护日期未填写，无法证明仍在维护", figures)
    if last >= cutoff:
        return None
    text = f"最近一次维护在 {last.isoformat()}，已超过 {t.no_maintenance_months} 个月未维护（早于 {cutoff.isoformat()}）"
    return RuleHit("no_maintenance", text, figures)


def low_usage(system: InformationSystem, usage: Usage, months: list[str], t: Thresholds) -> RuleHit | None:
    if system.usage_scope not in LOW_USAGE_SCOPES:
        return None
    avg_users = sum(usage.users.get(m, 0) for m in months) / len(months)
    avg_tx = sum(usage.transactions.get(m, 0) for m in months) / len(months)
    if avg_users >= t.low_usage_users or avg_tx >= t.low_usage_transactions:
        return None
    scope = UsageScope(system.usage_scope).label
    text = (
        f"使用范围为{scope}，最近 {len(months)} 个月（{_span(months)}）月均活跃用户 {_num(avg_users)} 人"
        f"（低于 {_num(t.low_usage_users)}），月均业务量 {_num(avg_tx)} 笔（低于 {_num(t.low_usage_transactions)}）"
    )
    figures = {
        "usage_scope": system.usage_scope,
        "months": months,
        "avg_users": round(avg_users, 2),
        "avg_transactions": round(avg_tx, 2),
        "users_below": t.low_usage_users,
        "transactions_below": t.low_usage_transactions,
    }
    return RuleHit("low_usage", text, figures)


def replaceable(rows: list[tuple[InformationSystem, str]], t: Thresholds) -> dict[int, RuleHit]:
    pairs = similarity.similar_pairs([system.description or "" for system, _ in rows], t.similarity_threshold)
    similar: dict[int, list[tuple[int, float]]] = {}
    for i, j, score in pairs:
        similar.setdefault(i, []).append((j, score))
        similar.setdefault(j, []).append((i, score))
    hits: dict[int, RuleHit] = {}
    for i, others in similar.items():
        others.sort(key=lambda item: -item[1])
        listed = [
            {
                "system_id": rows[j][0].id,
                "system": rows[j][0].name,
                "system_code": rows[j][0].code,
                "department": rows[j][1],
                "score": round(score, 3),
            }
            for j, score in others
        ]
        shown = "；".join(
            f"“{o['system']}”（{o['department']}，相似度 {o['score']:.2f}）"
            for o in listed[:MAX_SIMILAR_SHOWN]
        )
        more = f"等 {len(listed)} 个系统" if len(listed) > MAX_SIMILAR_SHOWN else ""
        text = f"功能描述与 {shown}{more}相近，相似度不低于 {t.similarity_threshold:g}，功能可被替代"
        hits[rows[i][0].id] = RuleHit(
            "replaceable", text, {"threshold": t.similarity_threshold, "similar": listed}
        )
    return hits
