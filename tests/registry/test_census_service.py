"""The census service: registering and changing systems, who may do it, monthly usage, statistics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.registry import census
from jutong.registry.census_schemas import SystemIn, SystemPatch, UsageIn
from jutong.registry.models import InformationSystem, SharingStatus
from tests.conftest import Org


def system_in(**overrides: Any) -> SystemIn:
    """A plausible system; Chinese labels are accepted where codes are stored."""
    data: dict[str, Any] = {
        "name": "社会救助管理系统",
        "description": "低保、特困人员救助审批与资金发放",
        "usage_scope": "跨部门",
        "funding_source": "政府投资",
        "network": "外网",
        "sharing_status": "已共享",
        "construction_cost": "120.5",
        "annual_om_budget": "18",
        "approving_department": "市发展改革委",
        "approval_date": "2019-03-05",
        "protection_level": 3,
    }
    data.update(overrides)
    return SystemIn(**data)


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def test_operator_registers_systems_with_generated_codes_and_it_is_audited(
    session: Session, org: Org
) -> None:
    op = org.principal(org.operator)
    first = census.create_system(session, op, system_in(department_id=org.police.id, name="人口管理系统"))
    second = census.create_system(session, op, system_in(department_id=org.police.id, name="出入境管理系统"))
    civil = census.create_system(session, op, system_in(department_id=org.civil.id))

    assert (first.code, second.code, civil.code) == ("SYS-GA-001", "SYS-GA-002", "SYS-MZ-001")
    assert first.usage_scope == "cross_department" and first.sharing_status == "shared"
    assert first.construction_cost == Decimal("120.50") and first.status == "running"
    created = events(session, "system.create")
    assert [e.object_id for e in created] == [str(first.id), str(second.id), str(civil.id)]
    assert "SYS-GA-001" in created[0].summary


def test_a_code_given_twice_is_refused(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    census.create_system(session, op, system_in(department_id=org.police.id, code="GA-RK-01"))
    with pytest.raises(Conflict) as refused:
        census.create_system(session, op, system_in(department_id=org.police.id, code="GA-RK-01"))
    assert refused.value.code == "system_code_taken" and "GA-RK-01" in refused.value.message


def test_update_records_what_changed(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    system = census.create_system(session, op, system_in(department_id=org.civil.id))
    census.update_system(
        session, op, system.id, SystemPatch(sharing_status="部门内部共享", construction_cost="99.9")
    )
    assert system.sharing_status == "department_internal"
    [event] = events(session, "system.update")
    assert event.detail == {
        "changes": {
            "sharing_status": ["shared", "department_internal"],
            "construction_cost": ["120.50", "99.90"],
        }
    }
    census.update_system(session, op, system.id, SystemPatch(sharing_status="department_internal"))
    assert len(events(session, "system.update")) == 1  # nothing changed, nothing audited


def test_required_fields_cannot_be_blanked(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    system = census.create_system(session, op, system_in(department_id=org.civil.id))
    with pytest.raises(ValidationFailed) as refused:
        census.update_system(session, op, system.id, {"network": None})
    assert refused.value.code == "field_required" and "部署网络" in refused.value.message


def test_stewards_work_only_on_their_own_department(session: Session, org: Org) -> None:
    ga, mz = org.principal(org.steward), org.principal(org.civil_steward)
    own = census.create_system(
        session, ga, system_in(name="治安管理系统")
    )  # department defaults to their own
    assert own.department_id == org.police.id
    civil = census.create_system(session, mz, system_in())

    with pytest.raises(Forbidden) as refused:
        census.update_system(session, ga, civil.id, SystemPatch(name="改名"))
    assert refused.value.code == "department_forbidden"
    with pytest.raises(Forbidden):
        census.create_system(session, ga, system_in(department_id=org.civil.id))
    with pytest.raises(Forbidden):
        census.update_system(session, ga, own.id, SystemPatch(department_id=org.civil.id))  # no moving away
    with pytest.raises(Forbidden):
        census.get_system(session, ga, civil.id)

    page = census.list_systems(session, ga)
    assert [s.code for s in page.items] == [own.code] and page.total == 1
    assert session.get(InformationSystem, civil.id).name == "社会救助管理系统"  # type: ignore[union-attr]


def test_auditors_read_everything_and_change_nothing_consumers_see_nothing(
    session: Session, org: Org
) -> None:
    op = org.principal(org.operator)
    census.create_system(session, op, system_in(department_id=org.police.id))
    system = census.create_system(session, op, system_in(department_id=org.civil.id))
    auditor, consumer = org.principal(org.auditor), org.principal(org.consumer)

    assert census.list_systems(session, auditor).total == 2
    with pytest.raises(Forbidden) as refused:
        census.update_system(session, auditor, system.id, SystemPatch(name="x"))
    assert refused.value.code == "role_forbidden"
    with pytest.raises(Forbidden):
        census.list_systems(session, consumer)
    with pytest.raises(Forbidden):
        census.get_system(session, consumer, system.id)


def test_list_filters_search_and_pages(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    for n in range(5):
        census.create_system(
            session, op, system_in(department_id=org.police.id, name=f"警务系统{n}", sharing_status="不共享")
        )
    census.create_system(
        session, op, system_in(department_id=org.civil.id, name="婚姻登记系统", description="结婚离婚登记")
    )
    census.create_system(session, op, system_in(department_id=org.civil.id, name="殡葬管理", status="拟清理"))

    assert census.list_systems(session, op, department_id=org.civil.id).total == 2
    assert census.list_systems(session, op, sharing_status="not_shared").total == 5
    assert census.list_systems(session, op, sharing_status="不共享").total == 5
    assert [s.name for s in census.list_systems(session, op, status="拟清理").items] == ["殡葬管理"]
    assert [s.name for s in census.list_systems(session, op, q="离婚").items] == ["婚姻登记系统"]
    assert census.list_systems(session, op, q="100%").total == 0  # LIKE wildcards are literal
    second = census.list_systems(session, op, page=2, per_page=3)
    assert (second.total, second.pages, len(second.items)) == (7, 3, 3)
    with pytest.raises(ValidationFailed):
        census.list_systems(session, op, status="休眠")


def test_monthly_usage_keeps_every_month_and_updates_current_utilisation(session: Session, org: Org) -> None:
    ga = org.principal(org.steward)
    system = census.create_system(session, ga, system_in())
    census.record_usage(
        session,
        ga,
        system.id,
        [
            UsageIn(
                month="2024-02", active_users=40, transactions=900, cpu_utilization=30, storage_utilization=50
            ),
            UsageIn(
                month="2024-03", active_users=42, transactions=950, cpu_utilization=35, storage_utilization=52
            ),
        ],
    )
    assert (system.cpu_utilization, system.storage_utilization) == (35, 52)
    # an older month does not overwrite the current figures; the same month again replaces its row
    rows = census.record_usage(
        session, ga, system.id, [UsageIn(month="2024-01", active_users=1, transactions=2, cpu_utilization=90)]
    )
    assert [r.month for r in rows] == ["2024-01", "2024-02", "2024-03"]
    assert system.cpu_utilization == 35
    census.record_usage(session, ga, system.id, [UsageIn(month="2024-03", active_users=7, cpu_utilization=3)])
    assert system.cpu_utilization == 3 and census.usage_of(session, system.id)[-1].active_users == 7
    assert len(events(session, "system.usage")) == 3
    with pytest.raises(Forbidden):
        census.record_usage(session, org.principal(org.civil_steward), system.id, [UsageIn(month="2024-04")])


def test_seed_003_survey_percentages() -> None:
    # 审计调查的 130 个系统：已共享 40、不共享 26、处室内部 17、部门内部 37、单机运行 10
    assert [census.percent(n, 130) for n in (40, 26, 17, 37, 10)] == [30.8, 20.0, 13.1, 28.5, 7.7]
    assert census.percent(1, 16) == 6.3  # half up, not banker's rounding
    assert census.percent(0, 0) == 0.0


def test_census_stats_by_sharing_status_overall_and_per_department(session: Session, org: Org) -> None:
    op = org.principal(org.operator)
    police = {"已共享": 3, "不共享": 3, "单机运行": 1, "部门内部共享": 1}
    civil = {"已共享": 2, "处室内部共享": 2, "部门内部共享": 4}
    for department, counts in ((org.police, police), (org.civil, civil)):
        for label, count in counts.items():
            for _ in range(count):
                census.create_system(
                    session, op, system_in(department_id=department.id, sharing_status=label)
                )

    stats = census.census_stats(session)
    assert stats.total == 16
    assert [(r.label, r.count, r.percent) for r in stats.rows] == [
        ("已共享", 5, 31.3),
        ("不共享", 3, 18.8),
        ("处室内部共享", 2, 12.5),
        ("部门内部共享", 5, 31.3),
        ("单机运行", 1, 6.3),
    ]
    by_name = {d.department_name: d for d in stats.by_department}
    assert by_name["市公安局"].total == 8
    assert [(r.status, r.count, r.percent) for r in by_name["市民政局"].rows] == [
        (SharingStatus.shared, 2, 25.0),
        (SharingStatus.not_shared, 0, 0.0),
        (SharingStatus.office_internal, 2, 25.0),
        (SharingStatus.department_internal, 4, 50.0),
        (SharingStatus.standalone, 0, 0.0),
    ]
    only_civil = census.census_stats(session, department_id=org.civil.id)
    assert only_civil.total == 8 and [d.department_name for d in only_civil.by_department] == ["市民政局"]
    steward_view = census.stats_for(session, org.principal(org.steward))
    assert steward_view.total == 8 and steward_view.by_department[0].department_name == "市公安局"


def test_a_steward_cannot_take_the_bureaus_decisions(session: Session, org: Org) -> None:
    """需接入 decides O&M funding and 拟清理/已停用 come from the zombie review: operator only."""
    from jutong.registry.models import SystemStatus

    steward = org.principal(org.steward)
    operator = org.principal(org.operator)
    system = census.create_system(
        session,
        operator,
        SystemIn.model_validate(
            {
                "name": "治安管理综合系统",
                "department_id": org.police.id,
                "usage_scope": "citywide",
                "funding_source": "government",
                "network": "extranet",
                "sharing_status": "not_shared",
                "connection_required": True,
            }
        ),
    )
    for change in ({"connection_required": False}, {"status": "to_retire"}, {"status": "retired"}):
        with pytest.raises(Forbidden) as refused:
            census.update_system(session, steward, system.id, change)
        assert refused.value.code == "field_reserved_for_operator"
    census.update_system(session, operator, system.id, {"status": "to_retire"})
    with pytest.raises(Forbidden):
        census.update_system(session, steward, system.id, {"status": "running"})
    census.update_system(
        session, steward, system.id, {"description": "治安案件与警情管理"}
    )  # ordinary fields stay theirs
    session.refresh(system)
    assert isinstance(system, InformationSystem)
    assert system.connection_required is True and system.status == SystemStatus.to_retire.value
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "system.update")).all()


def test_a_stewards_import_cannot_take_the_bureaus_decisions_either(session: Session, org: Org) -> None:
    import csv
    import io

    from jutong.registry import census_import, census_io

    operator = org.principal(org.operator)
    system = census.create_system(
        session,
        operator,
        SystemIn.model_validate(
            {
                "name": "治安管理综合系统",
                "department_id": org.police.id,
                "usage_scope": "citywide",
                "funding_source": "government",
                "network": "extranet",
                "sharing_status": "not_shared",
                "connection_required": True,
            }
        ),
    )
    exported = census_io.export_census(session, operator, file_format="csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    rows[1][rows[0].index("是否已明确需接入")] = "否"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)

    steward = org.principal(org.steward)
    report = census_import.import_census(session, steward, buffer.getvalue().encode(), "普查.csv")
    assert not report.ok
    assert [e.code for e in report.errors] == ["field_reserved"]
    assert "已明确需接入" in report.errors[0].problem
    session.refresh(system)
    assert system.connection_required is True
