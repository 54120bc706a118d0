"""整合清单: must-integrate systems, targets, assignment, integration, progress and who may do it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.registry import plans
from tests.conftest import Org
from tests.registry.test_zombies import make_system


def test_office_systems_must_be_integrated_and_show_as_unassigned(session: Session, org: Org) -> None:
    make_system(session, org.civil, "MZ-1", scope="office")
    make_system(session, org.civil, "MZ-2", scope="office")
    make_system(session, org.civil, "MZ-3", scope="citywide")
    make_system(
        session, org.civil, "MZ-4", scope="office", status="to_retire"
    )  # a zombie is cleaned up instead
    plan = plans.get_plan(session, org.principal(org.civil_steward), org.civil.id)
    assert [s.code for s in plan.unassigned_must] == ["MZ-1", "MZ-2"]
    assert [s.code for s in plan.other_systems] == ["MZ-3"]
    assert (plan.progress.must_integrate, plan.progress.must_unassigned, plan.progress.total) == (2, 2, 0)


def test_steward_builds_the_plan_and_progress_follows(session: Session, org: Org) -> None:
    steward = org.principal(org.civil_steward)
    a = make_system(session, org.civil, "MZ-1", scope="office")
    b = make_system(session, org.civil, "MZ-2", scope="office")
    c = make_system(session, org.civil, "MZ-3", scope="department")
    target = plans.create_target(
        session, steward, org.civil.id, name="民政综合业务大系统", description="统一受理"
    )

    plans.set_integration(session, steward, a.id, target_id=target.id, state="planned")
    plans.set_integration(session, steward, b.id, target_id=target.id, state="planned")
    plans.set_integration(session, steward, c.id, target_id=target.id, state="planned")
    assert (a.status, a.integration_state, a.integration_target_id) == ("to_integrate", "planned", target.id)
    plans.set_integration(session, steward, a.id, target_id=None, state="done")  # keeps its target
    assert (a.status, a.integration_state, a.integration_target_id) == ("retired", "done", target.id)

    plan = plans.get_plan(session, steward, org.civil.id)
    assert (plan.progress.done, plan.progress.total, plan.progress.percent) == (1, 3, 33.3)
    assert plan.progress.must_unassigned == 0 and plan.progress.must_integrate == 2
    assert [v.done for v in plan.targets] == [1] and len(plan.targets[0].systems) == 3
    [summary] = [
        p for p in plans.list_plans(session, org.principal(org.operator)) if p.department == "市民政局"
    ]
    assert (summary.done, summary.total, summary.targets) == (1, 3, 1)

    plans.set_integration(session, steward, c.id, target_id=None, state="none")
    assert (c.status, c.integration_state, c.integration_target_id) == ("running", "none", None)
    actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("plan.%")))]
    assert actions == ["plan.target_create"] + ["plan.integration"] * 5


def test_stewards_act_only_for_their_own_department(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "MZ-1", scope="office")
    target = plans.create_target(session, org.principal(org.operator), org.civil.id, name="民政大系统")
    police = org.principal(org.steward)
    with pytest.raises(Forbidden):
        plans.create_target(session, police, org.civil.id, name="越权")
    with pytest.raises(Forbidden):
        plans.set_integration(session, police, system.id, target_id=target.id, state="planned")
    with pytest.raises(Forbidden):
        plans.get_plan(session, police, org.civil.id)
    assert [p.department for p in plans.list_plans(session, police)] == ["市公安局"]
    for reader in (org.auditor, org.operator):
        assert len(plans.list_plans(session, org.principal(reader))) == 2
        plans.get_plan(session, org.principal(reader), org.civil.id)
    with pytest.raises(Forbidden):
        plans.set_integration(
            session, org.principal(org.auditor), system.id, target_id=target.id, state="planned"
        )
    with pytest.raises(Forbidden):
        plans.list_plans(session, org.principal(org.consumer))


def test_targets_must_be_named_unique_and_of_the_same_department(session: Session, org: Org) -> None:
    operator = org.principal(org.operator)
    system = make_system(session, org.civil, "MZ-1", scope="office")
    police_target = plans.create_target(session, operator, org.police.id, name="公安大系统")
    plans.create_target(session, operator, org.civil.id, name="民政大系统")
    with pytest.raises(Conflict):
        plans.create_target(session, operator, org.civil.id, name="民政大系统")
    with pytest.raises(ValidationFailed):
        plans.create_target(session, operator, org.civil.id, name="  ")
    with pytest.raises(ValidationFailed) as error:
        plans.set_integration(session, operator, system.id, target_id=police_target.id, state="planned")
    assert error.value.code == "plan_target_other_department"
    with pytest.raises(ValidationFailed) as error:
        plans.set_integration(session, operator, system.id, target_id=None, state="planned")
    assert error.value.code == "plan_target_required"
    with pytest.raises(ValidationFailed):
        plans.set_integration(session, operator, system.id, target_id=None, state="整合到一半")


def test_zombies_and_retired_systems_are_not_integrated(session: Session, org: Org) -> None:
    operator = org.principal(org.operator)
    zombie = make_system(session, org.civil, "MZ-Z", status="to_retire")
    gone = make_system(session, org.civil, "MZ-G", status="retired")
    target = plans.create_target(session, operator, org.civil.id, name="民政大系统")
    for system in (zombie, gone):
        with pytest.raises(Conflict):
            plans.set_integration(session, operator, system.id, target_id=target.id, state="planned")
