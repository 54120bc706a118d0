"""The demo city (示范市): deterministic data, no database.

Everything here is fixed by seeds, except the calendar: usage months are the 12 full months
before the reference date (default today) and maintenance dates are counted back from it, so
the zombie rules fire the same way whenever the demo is loaded.

The sharing statuses of the 130 systems are exactly the audit counts of seed 003
(“在审计调查的 130 个电子政务系统中，实现数据共享的有 40 个 … 单机运行的系统 10 个”).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from jutong.core.auth import Role
from jutong.core.clock import last_months, months_earlier
from jutong.demo.city_data import DEPARTMENTS, SYSTEM_LINES
from jutong.registry.models import (
    FilingKind,
    FilingReview,
    FundingSource,
    IntegrationState,
    Network,
    SharingStatus,
    SystemStatus,
    UsageScope,
)
from jutong.standards.codes import org_code_check_char, uscc_check_char

SEED = "jutong-示范市-2024"
PROVINCE = ("340000", "示范省")
CITY = ("341000", "示范市")
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("341002", "城关区"),
    ("341003", "东湖区"),
    ("341004", "西山区"),
    ("341005", "南河区"),
    ("341006", "北岭区"),
)
USAGE_MONTHS = 12

# seed 003: 40 已共享, 26 不共享, 17 处室内部共享, 37 部门内部共享, 10 单机运行
AUDIT_COUNTS: dict[SharingStatus, int] = {
    SharingStatus.shared: 40,
    SharingStatus.not_shared: 26,
    SharingStatus.office_internal: 17,
    SharingStatus.department_internal: 37,
    SharingStatus.standalone: 10,
}

_STATUS_LETTERS = {
    "S": SharingStatus.shared,
    "N": SharingStatus.not_shared,
    "O": SharingStatus.office_internal,
    "D": SharingStatus.department_internal,
    "A": SharingStatus.standalone,
}


@dataclass(frozen=True)
class DemoDepartment:
    code: str
    name: str
    short: str  # 简称，如“公安局”
    credit_code: str


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role
    display_name: str
    department_code: str | None


@dataclass(frozen=True)
class DemoUsage:
    month: str  # YYYY-MM
    active_users: int
    transactions: int
    cpu_utilization: float | None
    storage_utilization: float | None


@dataclass(frozen=True)
class DemoTarget:
    department_code: str
    name: str
    description: str


@dataclass(frozen=True)
class DemoSystem:
    code: str
    name: str
    department_code: str
    description: str
    usage_scope: UsageScope
    sharing_status: SharingStatus
    approving_department: str
    approval_date: date
    funding_source: FundingSource
    construction_cost: Decimal  # 万元
    annual_om_budget: Decimal  # 万元/年
    network: Network
    connected_to_platform: bool
    connection_required: bool
    protection_level: int | None
    protection_assessed: bool
    offsite_backup: bool
    last_maintained_on: date | None
    cpu_utilization: float | None
    storage_utilization: float | None
    status: SystemStatus
    integration_target: str | None  # DemoTarget.name
    integration_state: IntegrationState
    usage: tuple[DemoUsage, ...]
    expected_rules: frozenset[str] = field(default_factory=frozenset)  # zombie rules it is built to hit
    near_misses: frozenset[str] = field(default_factory=frozenset)  # rules it only just escapes


@dataclass(frozen=True)
class DemoFiling:
    system_code: str
    kind: FilingKind
    fiscal_year: int
    amount: Decimal  # 万元
    note: str
    submitted_by: str | None  # username
    review: FilingReview
    review_note: str = ""
    reviewed_by: str | None = None


@dataclass(frozen=True)
class DemoCity:
    reference: date
    months: tuple[str, ...]  # oldest first
    districts: tuple[tuple[str, str], ...]
    departments: tuple[DemoDepartment, ...]
    users: tuple[DemoUser, ...]
    targets: tuple[DemoTarget, ...]
    systems: tuple[DemoSystem, ...]
    filings: tuple[DemoFiling, ...]

    def system(self, code: str) -> DemoSystem:
        return next(s for s in self.systems if s.code == code)

    def system_named(self, name: str) -> DemoSystem:
        return next(s for s in self.systems if s.name == name)

    def expected_hits(self, rule: str) -> list[DemoSystem]:
        return [s for s in self.systems if rule in s.expected_rules]

    def near_misses_of(self, rule: str) -> list[DemoSystem]:
        return [s for s in self.systems if rule in s.near_misses]


# Sign-ins printed by `jutong demo` (memorable on purpose: this is a demo, change them in production).
USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "jutong-admin", Role.operator, "李明", "DSJ"),
    DemoUser("auditor", "jutong-audit", Role.auditor, "王芳", "SHJ"),
    DemoUser("gongan", "jutong-gongan", Role.steward, "赵强", "GA"),
    DemoUser("minzheng", "jutong-minzheng", Role.steward, "孙丽", "MZ"),
    DemoUser("renshe", "jutong-renshe", Role.consumer, "周敏", "RS"),
)

_TARGETS: tuple[DemoTarget, ...] = (
    DemoTarget(
        "GA",
        "示范市公安局警务综合平台",
        "整合派出所值班、警用装备等处室自建系统，统一用户、统一数据、统一运维",
    ),
    DemoTarget("MZ", "示范市民政一体化业务平台", "整合殡葬、区划地名等处室系统，形成民政业务一张网"),
)
_TARGET_OF_MARK = {
    "integrate_ga": _TARGETS[0].name,
    "integrate_mz": _TARGETS[1].name,
    "retired": _TARGETS[1].name,
}

_VERTICAL_APPROVERS = {
    "GA": "公安部",
    "WJ": "国家卫生健康委员会",
    "SWJ": "国家税务总局",
    "YB": "国家医疗保障局",
    "QX": "中国气象局",
}


# --------------------------------------------------------------------------------------------
# calendar helpers


def months_ago(reference: date, months: int, day: int) -> date:
    return months_earlier(date(reference.year, reference.month, min(day, 28)), months)


# --------------------------------------------------------------------------------------------
# 统一社会信用代码 (GB 32100-2015) with a valid check digit, for 机关 (登记管理部门 1, 类别 1)


def credit_code(region_code: str, serial: int) -> str:
    org_body = f"{3000000 + serial * 37:08d}"  # 组织机构代码本体 (GB 11714)
    body = "11" + region_code + org_body + org_code_check_char(org_body)
    return body + uscc_check_char(body)


# --------------------------------------------------------------------------------------------
# building the city

_USERS_RANGE: dict[UsageScope, tuple[int, int]] = {
    UsageScope.office: (12, 45),
    UsageScope.department: (25, 400),
    UsageScope.cross_department: (80, 1500),
    UsageScope.citywide: (500, 30000),
    UsageScope.cross_level: (200, 5000),
}
_TX_RANGE: dict[UsageScope, tuple[int, int]] = {
    UsageScope.office: (250, 3000),
    UsageScope.department: (800, 20000),
    UsageScope.cross_department: (3000, 80000),
    UsageScope.citywide: (20000, 500000),
    UsageScope.cross_level: (10000, 300000),
}
_COST_RANGE: dict[SharingStatus, tuple[int, int]] = {
    SharingStatus.shared: (200, 2500),
    SharingStatus.not_shared: (50, 800),
    SharingStatus.department_internal: (80, 900),
    SharingStatus.office_internal: (10, 120),
    SharingStatus.standalone: (5, 60),
}


@dataclass
class _Profile:
    """Monthly usage as a function of how many months back (1 = last full month)."""

    users: int
    transactions: int
    cpu: float
    storage: float

    def month(self, rng: random.Random) -> tuple[int, int, float | None, float | None]:
        factor = rng.uniform(0.8, 1.2)
        cpu = round(min(95.0, max(6.0, self.cpu + rng.uniform(-5, 5))), 1)
        storage = round(min(97.0, max(12.0, self.storage + rng.uniform(-3, 3))), 1)
        return round(self.users * factor), round(self.transactions * factor), cpu, storage


def _usage(
    rng: random.Random, months: tuple[str, ...], profile: _Profile, mark: str
) -> tuple[DemoUsage, ...]:
    rows = []
    for index, month in enumerate(months):
        back = len(months) - index  # 12 … 1
        users, tx, cpu, storage = profile.month(rng)
        if mark == "no_business" and back <= 8:
            users, tx = 0, 0  # nothing for the last 8 months (rule: 6)
        elif mark == "no_business_near" and back <= 6:
            users, tx = (1, 1) if back == 4 else (0, 0)  # one single transaction in the last 6 months
        elif mark == "retired" and back <= 10:
            users, tx = 0, 0  # merged into the 民政 platform: nothing since
        elif mark == "idle" and back <= 4:
            cpu, storage = round(rng.uniform(1.5, 3.8), 1), round(rng.uniform(4.0, 8.5), 1)
        elif mark == "idle_near_cpu" and back <= 3:
            cpu, storage = 5.5, round(rng.uniform(4.0, 8.0), 1)  # CPU 5.5 % is not below 5 %
        elif mark == "idle_near_unknown" and back <= 3:
            cpu, storage = round(rng.uniform(1.5, 3.5), 1), round(rng.uniform(4.0, 8.0), 1)
            if back == 2:
                cpu, storage = None, None  # not reported that month: cannot count as idle
        elif mark == "low_usage" and back <= 6:
            users, tx = rng.randint(3, 6), rng.randint(40, 120)
        elif mark == "low_usage_near_users" and back <= 6:
            users, tx = 11, 150  # 11 users on average: not below 10
        elif mark == "low_usage_near_transactions" and back <= 6:
            users, tx = 6, 205  # 205 transactions on average: not below 200
        rows.append(DemoUsage(month, users, tx, cpu, storage))
    return tuple(rows)


_EXPECTED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "no_business": (frozenset({"no_business"}), frozenset()),
    "no_business_near": (frozenset(), frozenset({"no_business"})),
    "rep1": (frozenset({"replaceable"}), frozenset()),
    "rep2": (frozenset({"replaceable"}), frozenset()),
    "idle": (frozenset({"idle_resources"}), frozenset()),
    "idle_near_cpu": (frozenset(), frozenset({"idle_resources"})),
    "idle_near_unknown": (frozenset(), frozenset({"idle_resources"})),
    "no_maintenance": (frozenset({"no_maintenance"}), frozenset()),
    "no_maintenance_unknown": (frozenset({"no_maintenance"}), frozenset()),
    "no_maintenance_near": (frozenset(), frozenset({"no_maintenance"})),
    "low_usage": (frozenset({"low_usage"}), frozenset()),
    "low_usage_near_users": (frozenset(), frozenset({"low_usage"})),
    "low_usage_near_transactions": (frozenset(), frozenset({"low_usage"})),
    # retired systems are not evaluated although their usage would hit two rules
    "retired": (frozenset(), frozenset({"no_business", "low_usage"})),
}


def _scope(rng: random.Random, status: SharingStatus, mark: str) -> UsageScope:
    if mark in ("no_business", "no_business_near"):
        return UsageScope.cross_department
    if mark in ("vertical",):
        return UsageScope.cross_level
    if status == SharingStatus.shared:
        return rng.choice((UsageScope.cross_department, UsageScope.citywide, UsageScope.citywide))
    if status == SharingStatus.not_shared:
        return rng.choice((UsageScope.department, UsageScope.department, UsageScope.cross_department))
    if status == SharingStatus.department_internal:
        return UsageScope.department
    if status == SharingStatus.office_internal:
        return UsageScope.office
    return rng.choice((UsageScope.office, UsageScope.office, UsageScope.department))


def _maintained(rng: random.Random, reference: date, mark: str) -> date | None:
    if mark == "no_maintenance_unknown":
        return None
    if mark == "no_maintenance":
        return months_ago(reference, rng.choice((15, 27)), rng.randint(1, 28))
    if mark == "no_maintenance_near":
        return months_ago(reference, 11, 1)
    if mark == "retired":
        return months_ago(reference, 10, 15)
    return months_ago(reference, rng.randint(1, 9), rng.randint(1, 28))


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _system(reference: date, months: tuple[str, ...], department: str, number: int, line: str) -> DemoSystem:
    letter, name, description, mark = (part.strip() for part in line.split("|"))
    code = f"{department}-{number:03d}"
    rng = random.Random(f"{SEED}:{code}")
    status = _STATUS_LETTERS[letter]
    scope = _scope(rng, status, mark)
    users_lo, users_hi = _USERS_RANGE[scope]
    tx_lo, tx_hi = _TX_RANGE[scope]
    profile = _Profile(
        users=rng.randint(users_lo, users_hi),
        transactions=rng.randint(tx_lo, tx_hi),
        cpu=rng.uniform(15, 70),
        storage=rng.uniform(22, 85),
    )
    usage = _usage(rng, months, profile, mark)
    connected = status == SharingStatus.shared and mark != "vertical"
    required = connected or mark in ("vertical", "om_unconnected", "unconnected")
    if mark == "vertical" and status != SharingStatus.shared:
        required = False
    if department in _VERTICAL_APPROVERS and mark == "vertical":
        approver = _VERTICAL_APPROVERS[department]
    else:
        approver = rng.choice(
            ("示范市发展和改革委员会", "示范市发展和改革委员会", "示范市大数据管理局", "示范市财政局")
        )
    cost_lo, cost_hi = _COST_RANGE[status]
    cost = rng.uniform(cost_lo, cost_hi)
    if status == SharingStatus.standalone:
        network = Network.intranet
    elif department in ("GA", "SWJ") or mark == "vertical":
        network = Network.private
    elif status == SharingStatus.shared:
        network = rng.choice((Network.extranet, Network.extranet, Network.internet))
    else:
        network = rng.choice((Network.extranet, Network.intranet))
    funding = FundingSource.government
    if status in (SharingStatus.office_internal, SharingStatus.standalone):
        funding = rng.choice((FundingSource.government, FundingSource.om_funds, FundingSource.purchased))
    elif rng.random() < 0.12:
        funding = rng.choice((FundingSource.joint, FundingSource.purchased))
    protection: int | None = 3 if status == SharingStatus.shared else rng.choice((2, 2, 3))
    if status in (SharingStatus.office_internal, SharingStatus.standalone):
        protection = rng.choice((None, 2))
    expected, near = _EXPECTED.get(mark, (frozenset(), frozenset()))
    system_status = SystemStatus.running
    integration_state = IntegrationState.none
    target = _TARGET_OF_MARK.get(mark)
    if mark in ("integrate_ga", "integrate_mz"):
        system_status, integration_state = SystemStatus.to_integrate, IntegrationState.planned
    elif mark == "retired":
        system_status, integration_state = SystemStatus.retired, IntegrationState.done
    last = usage[-1]
    return DemoSystem(
        code=code,
        name=name,
        department_code=department,
        description=description,
        usage_scope=scope,
        sharing_status=status,
        approving_department=approver,
        approval_date=date(rng.randint(2012, 2022), rng.randint(1, 12), rng.randint(1, 28)),
        funding_source=funding,
        construction_cost=_money(cost),
        annual_om_budget=_money(cost * rng.uniform(0.08, 0.15)),
        network=network,
        connected_to_platform=connected,
        connection_required=required,
        protection_level=protection,
        protection_assessed=False,  # set below for the few the audit found assessed
        offsite_backup=connected and rng.random() < 0.6,
        last_maintained_on=_maintained(rng, reference, mark),
        cpu_utilization=last.cpu_utilization,
        storage_utilization=last.storage_utilization,
        status=system_status,
        integration_target=target,
        integration_state=integration_state,
        usage=usage,
        expected_rules=expected,
        near_misses=near,
    )


# seed 003: “抽查的 121 个电子政务系统中，仅有 8 个开展过等级保护测评工作”
_ASSESSED = frozenset({"GA-001", "GA-002", "RS-001", "DSJ-001", "DSJ-002", "CZ-001", "WJ-001", "ZW-001"})


def build_city(today: date | None = None) -> DemoCity:
    """The whole demo city for the reference date (default today)."""
    reference = today or date.today()
    months = tuple(last_months(reference, USAGE_MONTHS))
    departments = tuple(
        DemoDepartment(code, name, short, credit_code(CITY[0], index + 1))
        for index, (code, name, short) in enumerate(DEPARTMENTS)
    )
    systems: list[DemoSystem] = []
    for department in departments:
        lines = [line for line in SYSTEM_LINES[department.code].strip().splitlines() if line.strip()]
        for number, line in enumerate(lines, start=1):
            system = _system(reference, months, department.code, number, line)
            if system.code in _ASSESSED:
                system = replace(system, protection_assessed=True, offsite_backup=True)
            systems.append(system)
    year = reference.year
    filings = (
        DemoFiling(
            "GA-005",
            FilingKind.om,
            year,
            Decimal("48.00"),
            "治安管理综合系统年度运维（服务器、数据库维保及驻场运维）",
            "gongan",
            FilingReview.pending,
        ),
        DemoFiling(
            "MZ-001",
            FilingKind.om,
            year,
            Decimal("36.50"),
            "社会救助信息管理系统年度运维",
            "minzheng",
            FilingReview.approved,
            "已接入共享平台，同意备案",
            "admin",
        ),
        DemoFiling(
            "MZ-003",
            FilingKind.om,
            year,
            Decimal("12.80"),
            "养老服务管理系统年度运维",
            "minzheng",
            FilingReview.pending,
        ),
        DemoFiling(
            "DSJ-002",
            FilingKind.construction,
            year,
            Decimal("680.00"),
            "政务云管理平台二期扩容（计算、存储资源扩容）",
            None,
            FilingReview.approved,
            "符合统一规划，同意备案",
            "admin",
        ),
    )
    return DemoCity(
        reference=reference,
        months=months,
        districts=DISTRICTS,
        departments=departments,
        users=USERS,
        targets=_TARGETS,
        systems=tuple(systems),
        filings=filings,
    )
