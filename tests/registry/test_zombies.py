"""僵尸系统研判: each rule hits and just misses, several rules at once, thresholds, decisions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.registry import similarity, zombies
from jutong.registry.models import Department, InformationSystem, SystemUsage, ZombieReview
from tests.conftest import Org

AS_OF = date(2025, 7, 15)  # last 6 months: 2025-01..2025-06; last 3: 2025-04..2025-06
HALF_YEAR = [f"2025-{m:02d}" for m in range(1, 7)]
BUSY = (50, 1000, 40.0, 50.0)  # active users, transactions, CPU %, storage %


def make_system(
    session: Session,
    department: Department,
    code: str,
    *,
    name: str | None = None,
    description: str = "",
    scope: str = "citywide",
    maintained: date | None = date(2025, 6, 1),
    usage: dict[str, tuple[int, int, float | None, float | None]] | None = None,
    status: str = "running",
    connection_required: bool = False,
    connected: bool = False,
) -> InformationSystem:
    """A census record made with the ORM; by default busy, maintained, citywide: no rule hit."""
    system = InformationSystem(
        code=code,
        name=name or f"系统{code}",
        department_id=department.id,
        description=description,  # empty: similar to nothing
        usage_scope=scope,
        funding_source="government",
        construction_cost=Decimal("100"),
        annual_om_budget=Decimal("10"),
        network="extranet",
        sharing_status="shared",
        last_maintained_on=maintained,
        status=status,
        connection_required=connection_required,
        connected_to_platform=connected,
    )
    session.add(system)
    session.flush()
    for month, (users, transactions, cpu, storage) in (usage if usage is not None else busy()).items():
        session.add(
            SystemUsage(
                system_id=system.id,
                month=month,
                active_users=users,
                transactions=transactions,
                cpu_utilization=cpu,
                storage_utilization=storage,
            )
        )
    session.flush()
    return system


def busy(
    **overrides: tuple[int, int, float | None, float | None],
) -> dict[str, tuple[int, int, float | None, float | None]]:
    months = {m: BUSY for m in HALF_YEAR}
    months.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return months


def hits(session: Session, system: InformationSystem) -> dict[str, dict[str, object]]:
    found = next((c for c in zombies.evaluate(session, AS_OF) if c.system_id == system.id), None)
    return found.evidence if found else {}


# --- 与业务脱节 ------------------------------------------------------------------------------


def test_no_business_hits_six_months_without_a_transaction(session: Session, org: Org) -> None:
    usage = {m: (3, 0, 40.0, 50.0) for m in HALF_YEAR[1:]}  # 2025-01 has no record at all: counts as zero
    usage["2024-12"] = (30, 900, 40.0, 50.0)  # older activity does not count
    system = make_system(session, org.civil, "S-NB", usage=usage)
    evidence = hits(session, system)["no_business"]
    assert "最近 6 个月（2025-01 至 2025-06）每月业务量均为 0" in evidence["text"]
    assert "1 个月无使用记录" in evidence["text"]
    figures = evidence["figures"]
    assert figures["months"] == HALF_YEAR and figures["months_without_record"] == ["2025-01"]
    assert set(figures["transactions"].values()) == {0}


def test_no_business_near_miss_one_transaction_in_one_month(session: Session, org: Org) -> None:
    usage = {m: (3, 0, 40.0, 50.0) for m in HALF_YEAR}
    usage["2025-03"] = (3, 1, 40.0, 50.0)
    system = make_system(session, org.civil, "S-NB2", usage=usage)
    assert "no_business" not in hits(session, system)


# --- 功能可被替代 ----------------------------------------------------------------------------


def test_replaceable_names_the_other_system_and_the_score(session: Session, org: Org) -> None:
    a = make_system(
        session, org.civil, "S-MA", name="婚姻登记系统", description="婚姻登记信息的录入、查询与统计"
    )
    b = make_system(
        session, org.police, "S-MB", name="婚姻数据平台", description="婚姻登记数据录入查询统计管理"
    )
    make_system(session, org.police, "S-X", description="道路交通违法行为处理与罚没款缴纳")
    evidence = hits(session, a)["replaceable"]
    other = evidence["figures"]["similar"][0]
    assert other["system"] == "婚姻数据平台" and other["department"] == "市公安局"
    assert other["score"] >= 0.6 and "婚姻数据平台" in evidence["text"] and "相似度" in evidence["text"]
    assert hits(session, b)["replaceable"]["figures"]["similar"][0]["system_id"] == a.id


def test_replaceable_near_miss_just_below_the_similarity_threshold(session: Session, org: Org) -> None:
    a = make_system(session, org.civil, "S-R1", description="婚姻登记信息的录入、查询与统计")
    b = make_system(session, org.civil, "S-R2", description="婚姻登记档案的扫描与查询")
    vectors = similarity.tfidf_vectors([similarity.tokenize(s.description) for s in (a, b)])
    score = similarity.cosine(vectors[0], vectors[1])
    assert 0.2 < score < 0.6  # related, but not the same function
    assert "replaceable" not in hits(session, a)
    zombies.update_thresholds(
        session, org.principal(org.operator), {"similarity_threshold": round(score + 0.005, 3)}
    )
    assert "replaceable" not in hits(session, a)
    zombies.update_thresholds(
        session, org.principal(org.operator), {"similarity_threshold": round(score - 0.005, 3)}
    )
    assert "replaceable" in hits(session, a) and "replaceable" in hits(session, b)


def test_retired_systems_are_neither_evaluated_nor_compared(session: Session, org: Org) -> None:
    a = make_system(session, org.civil, "S-RA", description="婚姻登记信息的录入、查询与统计")
    old = make_system(
        session,
        org.civil,
        "S-RB",
        description="婚姻登记数据录入查询统计管理",
        status="retired",
        usage={},
        maintained=None,
    )
    assert "replaceable" not in hits(session, a)
    assert old.id not in {c.system_id for c in zombies.evaluate(session, AS_OF)}


# --- 资源长期空闲 ----------------------------------------------------------------------------


def test_idle_resources_hits_three_months_below_both_limits(session: Session, org: Org) -> None:
    idle = (50, 1000, 4.9, 9.9)
    system = make_system(
        session, org.civil, "S-ID", usage=busy(**{"2025_04": idle, "2025_05": idle, "2025_06": idle})
    )
    evidence = hits(session, system)["idle_resources"]
    assert evidence["figures"]["months"] == ["2025-04", "2025-05", "2025-06"]
    assert evidence["figures"]["cpu_pct"] == {"2025-04": 4.9, "2025-05": 4.9, "2025-06": 4.9}
    assert "CPU 利用率 4.9%、4.9%、4.9%，均低于 5%" in evidence["text"] and "均低于 10%" in evidence["text"]


def test_idle_resources_near_miss_at_the_limit_or_unknown(session: Session, org: Org) -> None:
    idle = (50, 1000, 4.9, 9.9)
    at_limit = busy(**{"2025_04": idle, "2025_05": (50, 1000, 5.0, 9.9), "2025_06": idle})
    unknown = busy(**{"2025_04": idle, "2025_05": (50, 1000, None, None), "2025_06": idle})
    a = make_system(session, org.civil, "S-ID2", usage=at_limit)
    b = make_system(session, org.civil, "S-ID3", usage=unknown)
    assert "idle_resources" not in hits(session, a)
    assert "idle_resources" not in hits(session, b)


# --- 停止维护 --------------------------------------------------------------------------------


def test_no_maintenance_hits_a_day_past_twelve_months_and_when_missing(session: Session, org: Org) -> None:
    late = make_system(session, org.civil, "S-NM", maintained=date(2024, 7, 14))
    missing = make_system(session, org.civil, "S-NM2", maintained=None)
    evidence = hits(session, late)["no_maintenance"]
    assert evidence["figures"] == {"last_maintained_on": "2024-07-14", "cutoff": "2024-07-15", "months": 12}
    assert "2024-07-14" in evidence["text"] and "12 个月" in evidence["text"]
    assert "未填写" in hits(session, missing)["no_maintenance"]["text"]


def test_no_maintenance_near_miss_exactly_twelve_months(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "S-NM3", maintained=date(2024, 7, 15))
    assert "no_maintenance" not in hits(session, system)


# --- 范围小、频度低 --------------------------------------------------------------------------


def test_low_usage_hits_an_office_system_used_by_few(session: Session, org: Org) -> None:
    usage = {m: (9 if i % 2 else 10, 199, 40.0, 50.0) for i, m in enumerate(HALF_YEAR)}  # avg 9.5 users
    system = make_system(session, org.civil, "S-LU", scope="office", usage=usage)
    evidence = hits(session, system)["low_usage"]
    assert evidence["figures"]["avg_users"] == 9.5 and evidence["figures"]["avg_transactions"] == 199
    assert "处室内部" in evidence["text"] and "9.5 人" in evidence["text"] and "199 笔" in evidence["text"]


def test_low_usage_near_misses(session: Session, org: Org) -> None:
    ten_users = {m: (10, 199, 40.0, 50.0) for m in HALF_YEAR}
    many_tx = {m: (9, 200, 40.0, 50.0) for m in HALF_YEAR}
    a = make_system(session, org.civil, "S-LU2", scope="department", usage=ten_users)
    b = make_system(session, org.civil, "S-LU3", scope="office", usage=many_tx)
    c = make_system(
        session,
        org.civil,
        "S-LU4",
        scope="cross_department",
        usage={m: (1, 1, 40.0, 50.0) for m in HALF_YEAR},
    )
    for system in (a, b, c):
        assert "low_usage" not in hits(session, system)


# --- together --------------------------------------------------------------------------------


def test_a_system_hitting_every_rule_lists_all_of_them(session: Session, org: Org) -> None:
    dead = {m: (0, 0, 1.0, 2.0) for m in HALF_YEAR}
    system = make_system(
        session,
        org.civil,
        "S-ALL",
        scope="office",
        usage=dead,
        maintained=None,
        description="婚姻登记信息的录入、查询与统计",
    )
    make_system(session, org.civil, "S-TWIN", description="婚姻登记数据录入查询统计管理")
    make_system(session, org.civil, "S-OK")
    candidates = zombies.find_candidates(session, AS_OF)
    mine = next(c for c in candidates if c.system_id == system.id)
    assert mine.rules == ["no_business", "replaceable", "idle_resources", "no_maintenance", "low_usage"]
    assert all(mine.evidence[rule]["text"] for rule in mine.rules)
    assert "S-OK" not in {c.system_code for c in candidates}


def test_changing_a_threshold_changes_the_outcome_and_is_audited(session: Session, org: Org) -> None:
    usage = busy(
        **{"2025_04": (5, 0, 40.0, 50.0), "2025_05": (5, 0, 40.0, 50.0), "2025_06": (5, 0, 40.0, 50.0)}
    )
    system = make_system(session, org.civil, "S-TH", usage=usage)
    assert "no_business" not in hits(session, system)
    zombies.update_thresholds(session, org.principal(org.operator), {"no_business_months": 3})
    assert zombies.get_thresholds(session).no_business_months == 3
    assert "no_business" in hits(session, system)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "zombie.thresholds")).one()
    assert event.detail is not None and event.detail["changed"] == {"no_business_months": [6, 3]}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"similarity_threshold": 1.5}, "不能大于 1"),
        ({"idle_months": 0}, "应为正数"),
        ({"idle_cpu_pct": -5}, "应为正数"),
        ({"no_business_months": 2.5}, "应为整数"),
        ({"low_usage_users": "很多"}, "应为数字"),
        ({"bogus": 1}, "未知的阈值名称"),
    ],
)
def test_thresholds_are_validated(
    session: Session, org: Org, values: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        zombies.update_thresholds(session, org.principal(org.operator), values)
    assert error.value.code == "zombie_thresholds_invalid" and problem in error.value.message
    assert zombies.get_thresholds(session) == zombies.Thresholds()


def test_only_the_operator_changes_thresholds(session: Session, org: Org) -> None:
    for user in (org.steward, org.auditor, org.consumer):
        with pytest.raises(Forbidden):
            zombies.update_thresholds(session, org.principal(user), {"idle_months": 4})


# --- decisions -------------------------------------------------------------------------------


def test_confirm_sets_to_retire_keeps_the_evidence_and_is_audited(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "S-C", maintained=None)
    review = zombies.confirm(
        session, org.principal(org.operator), system.id, reason="已无人使用", as_of=AS_OF
    )
    assert system.status == "to_retire"
    assert review.decision == "confirmed" and review.rules == ["no_maintenance"]
    assert "未填写" in review.evidence["no_maintenance"]["text"]
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "zombie.confirm")).one()
    assert event.actor_name == "op" and event.object_id == str(system.id) and "拟清理" in event.summary
    assert system.id not in {c.system_id for c in zombies.find_candidates(session, AS_OF)}


def test_dismiss_needs_a_reason(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "S-D0", maintained=None)
    with pytest.raises(ValidationFailed) as error:
        zombies.dismiss(session, org.principal(org.operator), system.id, reason="  ", as_of=AS_OF)
    assert error.value.code == "zombie_reason_required"
    assert session.scalars(select(ZombieReview)).first() is None


def test_dismissed_system_returns_only_when_it_hits_a_new_rule(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "S-D", maintained=None)
    operator = org.principal(org.operator)
    zombies.dismiss(session, operator, system.id, reason="维护记录在纸质台账中", as_of=AS_OF)
    assert system.status == "running"
    assert system.id not in {c.system_id for c in zombies.find_candidates(session, AS_OF)}
    [row] = zombies.dismissed(session, operator, AS_OF)
    assert row.review.reason == "维护记录在纸质台账中" and row.reproposed_rules == []
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "zombie.dismiss")).one()

    for usage in session.scalars(select(SystemUsage).where(SystemUsage.system_id == system.id)):
        usage.transactions = 0
    session.flush()
    again = next(c for c in zombies.find_candidates(session, AS_OF) if c.system_id == system.id)
    assert again.new_rules == ["no_business"] and again.rules == ["no_business", "no_maintenance"]
    assert zombies.dismissed(session, operator, AS_OF)[0].reproposed_rules == ["no_business"]


def test_auditors_read_stewards_see_their_department_consumers_nothing(session: Session, org: Org) -> None:
    make_system(session, org.civil, "S-MZ", maintained=None)
    make_system(session, org.police, "S-GA", maintained=None)
    codes = {c.system_code for c in zombies.visible_candidates(session, org.principal(org.auditor), AS_OF)}
    assert {"S-MZ", "S-GA"} <= codes
    steward_view = zombies.visible_candidates(session, org.principal(org.steward), AS_OF)
    assert {c.system_code for c in steward_view} == {"S-GA"}
    with pytest.raises(Forbidden):
        zombies.visible_candidates(session, org.principal(org.consumer), AS_OF)
    for user in (org.auditor, org.steward):
        with pytest.raises(Forbidden):
            zombies.confirm(session, org.principal(user), steward_view[0].system_id, as_of=AS_OF)


def test_a_system_hitting_no_rule_cannot_be_decided(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "S-FINE")
    with pytest.raises(Exception) as error:
        zombies.confirm(session, org.principal(org.operator), system.id, as_of=AS_OF)
    assert getattr(error.value, "code", "") == "zombie_not_candidate"
    assert system.status == "running"
