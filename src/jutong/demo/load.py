"""Loading the demo city into the database: idempotent, never overwrites.

Rows are found by their natural keys (region and department codes, usernames, system codes,
system and month, target name, filing system/kind/year). What is missing is created; what is
already there is left exactly as it is, so loading twice changes nothing, duplicates nothing,
and keeps whatever a user changed in the demo (including passwords). The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.auth import CLI_PRINCIPAL, Principal
from jutong.core.db import utcnow
from jutong.demo.catalog import load_catalog
from jutong.demo.city import CITY, PROVINCE, DemoCity, DemoUser, build_city
from jutong.registry import accounts
from jutong.registry.models import (
    Department,
    Filing,
    InformationSystem,
    IntegrationTarget,
    Region,
    SystemUsage,
    User,
)


@dataclass
class LoadReport:
    city: DemoCity
    created: dict[str, int] = field(default_factory=dict)
    existing_users: set[str] = field(default_factory=set)  # kept their own password

    @property
    def changed(self) -> bool:
        return any(self.created.values())

    def summary(self) -> str:
        labels = {
            "regions": "行政区划",
            "departments": "部门",
            "users": "用户",
            "targets": "整合目标",
            "systems": "信息系统",
            "usage": "月度使用记录",
            "filings": "经费备案",
            "resources": "目录资源",
            "mappings": "归集映射",
        }
        parts = [f"{labels[k]} {v}" for k, v in self.created.items() if v]
        return "新增 " + "、".join(parts) if parts else "数据已齐全，未作改动"


def load_demo(
    session: Session, *, today: date | None = None, actor: Principal = CLI_PRINCIPAL, catalog: bool = True
) -> LoadReport:
    """Create what is missing of the demo city; audited once when anything was created.

    ``catalog=False`` leaves out the resource catalog (its ~300 resources go through the real workflow,
    which takes seconds: tests of the census alone skip it)."""
    city = build_city(today)
    report = LoadReport(city=city)
    report.created["regions"] = _regions(session, city)
    departments = _departments(session, city, report)
    users = _users(session, city, report, actor)
    targets = _targets(session, city, departments, report)
    systems = _systems(session, city, departments, targets, report)
    _usage(session, city, systems, report)
    _filings(session, city, systems, users, report)
    if catalog:
        report.created["resources"] = load_catalog(session, city, users)  # 资源目录 (jutong.demo.catalog)
        report.created["mappings"] = _mappings(session)
    session.flush()
    if report.changed:
        audit.record(
            session,
            actor,
            "demo.load",
            summary=f"加载示范市演示数据：{report.summary()}",
            object_type="region",
            object_id=CITY[0],
            detail={"created": report.created, "reference": city.reference.isoformat()},
        )
    return report


def _regions(session: Session, city: DemoCity) -> int:
    created = 0
    for code, name, parent in (
        (PROVINCE[0], PROVINCE[1], None),
        (CITY[0], CITY[1], PROVINCE[0]),
        *((code, name, CITY[0]) for code, name in city.districts),
    ):
        if session.scalar(select(Region.id).where(Region.code == code)) is None:
            accounts.upsert_region(session, code, name, parent)
            created += 1
    return created


def _departments(session: Session, city: DemoCity, report: LoadReport) -> dict[str, Department]:
    existing = {d.code: d for d in session.scalars(select(Department))}
    created = 0
    for demo in city.departments:
        if demo.code not in existing:
            existing[demo.code] = accounts.upsert_department(
                session, demo.code, demo.name, CITY[0], credit_code=demo.credit_code
            )
            created += 1
    report.created["departments"] = created
    return existing


def _users(session: Session, city: DemoCity, report: LoadReport, actor: Principal) -> dict[str, User]:
    found: dict[str, User] = {}
    created = 0
    for demo in city.users:
        user = session.scalar(select(User).where(User.username == demo.username))
        if user is None:
            user = _create_user(session, demo, actor)
            created += 1
        else:
            report.existing_users.add(demo.username)
        found[demo.username] = user
    report.created["users"] = created
    return found


def _create_user(session: Session, demo: DemoUser, actor: Principal) -> User:
    return accounts.create_user(
        session,
        username=demo.username,
        password=demo.password,
        role=demo.role,
        display_name=demo.display_name,
        department_code=demo.department_code,
        actor=actor,
    )


def _targets(
    session: Session, city: DemoCity, departments: dict[str, Department], report: LoadReport
) -> dict[str, IntegrationTarget]:
    found: dict[str, IntegrationTarget] = {}
    created = 0
    for demo in city.targets:
        department = departments[demo.department_code]
        target = session.scalar(
            select(IntegrationTarget).where(
                IntegrationTarget.department_id == department.id, IntegrationTarget.name == demo.name
            )
        )
        if target is None:
            target = IntegrationTarget(
                department_id=department.id, name=demo.name, description=demo.description
            )
            session.add(target)
            created += 1
        found[demo.name] = target
    session.flush()
    report.created["targets"] = created
    return found


def _systems(
    session: Session,
    city: DemoCity,
    departments: dict[str, Department],
    targets: dict[str, IntegrationTarget],
    report: LoadReport,
) -> dict[str, InformationSystem]:
    codes = [s.code for s in city.systems]
    existing = {
        s.code: s for s in session.scalars(select(InformationSystem).where(InformationSystem.code.in_(codes)))
    }
    created = 0
    for demo in city.systems:
        if demo.code in existing:
            continue
        target = targets[demo.integration_target] if demo.integration_target else None
        system = InformationSystem(
            code=demo.code,
            name=demo.name,
            department_id=departments[demo.department_code].id,
            description=demo.description,
            usage_scope=demo.usage_scope.value,
            approving_department=demo.approving_department,
            approval_date=demo.approval_date,
            funding_source=demo.funding_source.value,
            construction_cost=demo.construction_cost,
            annual_om_budget=demo.annual_om_budget,
            network=demo.network.value,
            sharing_status=demo.sharing_status.value,
            connected_to_platform=demo.connected_to_platform,
            connection_required=demo.connection_required,
            protection_level=demo.protection_level,
            protection_assessed=demo.protection_assessed,
            offsite_backup=demo.offsite_backup,
            last_maintained_on=demo.last_maintained_on,
            cpu_utilization=demo.cpu_utilization,
            storage_utilization=demo.storage_utilization,
            status=demo.status.value,
            integration_target_id=target.id if target else None,
            integration_state=demo.integration_state.value,
        )
        session.add(system)
        existing[demo.code] = system
        created += 1
    session.flush()
    report.created["systems"] = created
    return existing


def _usage(
    session: Session, city: DemoCity, systems: dict[str, InformationSystem], report: LoadReport
) -> None:
    ids = [s.id for s in systems.values()]
    present = set(
        session.execute(
            select(SystemUsage.system_id, SystemUsage.month).where(
                SystemUsage.system_id.in_(ids), SystemUsage.month.in_(city.months)
            )
        ).all()
    )
    rows = [
        {
            "system_id": systems[demo.code].id,
            "month": usage.month,
            "active_users": usage.active_users,
            "transactions": usage.transactions,
            "cpu_utilization": usage.cpu_utilization,
            "storage_utilization": usage.storage_utilization,
        }
        for demo in city.systems
        for usage in demo.usage
        if (systems[demo.code].id, usage.month) not in present
    ]
    if rows:
        session.execute(insert(SystemUsage), rows)  # one executemany, not 1,560 ORM objects
    report.created["usage"] = len(rows)


def _filings(
    session: Session,
    city: DemoCity,
    systems: dict[str, InformationSystem],
    users: dict[str, User],
    report: LoadReport,
) -> None:
    created = 0
    for demo in city.filings:
        system = systems[demo.system_code]
        exists = session.scalar(
            select(Filing.id).where(
                Filing.system_id == system.id,
                Filing.kind == demo.kind.value,
                Filing.fiscal_year == demo.fiscal_year,
            )
        )
        if exists is not None:
            continue
        reviewer = users[demo.reviewed_by] if demo.reviewed_by else None
        session.add(
            Filing(
                system_id=system.id,
                kind=demo.kind.value,
                fiscal_year=demo.fiscal_year,
                amount=demo.amount,
                note=demo.note,
                submitted_by=users[demo.submitted_by].id if demo.submitted_by else None,
                review=demo.review.value,
                review_note=demo.review_note,
                reviewed_by=reviewer.id if reviewer else None,
                reviewed_at=utcnow() if reviewer else None,
            )
        )
        created += 1
    session.flush()
    report.created["filings"] = created


# 公安局 writes sex as 0=男 1=女 (seed 003); its saved mapping turns that into GB/T 2261.1 on every load
POLICE_SEX_MAPPING = "公安性别代码（0男1女）"


def _mappings(session: Session) -> int:
    from jutong.catalog.models import Resource
    from jutong.demo.catalog import POPULATION
    from jutong.ingest.models import Mapping

    resource = session.scalar(select(Resource).where(Resource.name == POPULATION))
    if resource is None or session.scalar(
        select(Mapping.id).where(Mapping.resource_id == resource.id, Mapping.name == POLICE_SEX_MAPPING)
    ):
        return 0
    session.add(
        Mapping(
            resource_id=resource.id,
            name=POLICE_SEX_MAPPING,
            description="公安人口库的性别代码 0=男、1=女，归集时转换为 GB/T 2261.1 的 1=男性、2=女性",
            values={"xbdm": {"0": "1", "1": "2"}},
        )
    )
    return 1
