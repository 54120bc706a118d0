"""经费备案: stewards file, the platform proposes, the operator reviews; auditors read."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.registry import plans
from tests.conftest import Org
from tests.registry.test_zombies import make_system


def test_om_filing_for_a_required_but_unconnected_system_gets_no_om_funding(
    session: Session, org: Org
) -> None:
    system = make_system(session, org.civil, "MZ-1", connection_required=True, connected=False)
    filing = plans.create_filing(
        session,
        org.principal(org.civil_steward),
        system_id=system.id,
        kind="om",
        fiscal_year=2026,
        amount="12.5",
    )
    assert (
        filing.review == "no_om_funding" and "需接入" in filing.review_note and "未接入" in filing.review_note
    )
    assert filing.amount == Decimal("12.50") and filing.reviewed_at is not None and filing.reviewed_by is None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "filing.create")).one()
    assert "不予安排运维经费" in event.summary
    [row] = plans.list_filings(session, org.principal(org.operator))
    assert row.proposal.result.value == "no_om_funding"


def test_connected_or_construction_filings_are_not_refused_funding(session: Session, org: Org) -> None:
    steward = org.principal(org.civil_steward)
    connected = make_system(session, org.civil, "MZ-2", connection_required=True, connected=True)
    unconnected = make_system(session, org.civil, "MZ-3", connection_required=True, connected=False)
    om = plans.create_filing(
        session, steward, system_id=connected.id, kind="运维经费", fiscal_year=2026, amount=30
    )
    build = plans.create_filing(
        session, steward, system_id=unconnected.id, kind="construction", fiscal_year=2026, amount=80
    )
    assert om.review == "pending" and build.review == "pending"
    proposals = {r.filing.id: r.proposal for r in plans.list_filings(session, steward)}
    assert proposals[om.id].result.value == "approved" and proposals[build.id].result.value == "approved"
    reviewed = plans.review_filing(session, org.principal(org.operator), om.id)
    assert reviewed.review == "approved" and reviewed.reviewed_by == org.operator.id


def test_filings_for_zombies_and_retired_systems_are_flagged(session: Session, org: Org) -> None:
    steward = org.principal(org.civil_steward)
    zombie = make_system(session, org.civil, "MZ-Z", status="to_retire")
    gone = make_system(session, org.civil, "MZ-G", status="retired")
    for system in (zombie, gone):
        plans.create_filing(session, steward, system_id=system.id, kind="om", fiscal_year=2026, amount=5)
    flags = {r.system_code: r.proposal for r in plans.list_filings(session, steward)}
    assert (
        flags["MZ-Z"].flags == ["该系统已确认为僵尸系统（拟清理）"]
        and flags["MZ-Z"].result.value == "rejected"
    )
    assert flags["MZ-G"].flags == ["该系统已停用"]


def test_operator_reviews_with_a_note_when_rejecting_or_overriding(session: Session, org: Org) -> None:
    operator = org.principal(org.operator)
    required = make_system(session, org.civil, "MZ-1", connection_required=True)
    plain = make_system(session, org.civil, "MZ-2")
    steward = org.principal(org.civil_steward)
    no_om = plans.create_filing(
        session, steward, system_id=required.id, kind="om", fiscal_year=2026, amount=10
    )
    normal = plans.create_filing(session, steward, system_id=plain.id, kind="om", fiscal_year=2026, amount=10)
    for filing_id, result in ((normal.id, "rejected"), (no_om.id, "approved")):
        with pytest.raises(ValidationFailed) as error:
            plans.review_filing(session, operator, filing_id, result=result)
        assert error.value.code == "filing_note_required"
    rejected = plans.review_filing(session, operator, normal.id, result="rejected", note="重复建设")
    assert (rejected.review, rejected.review_note) == ("rejected", "重复建设")
    kept = plans.review_filing(session, operator, no_om.id)
    assert kept.review == "no_om_funding" and kept.reviewed_by == org.operator.id
    assert len(list(session.scalars(select(AuditEvent).where(AuditEvent.action == "filing.review")))) == 2


def test_who_may_file_review_and_read(session: Session, org: Org) -> None:
    system = make_system(session, org.civil, "MZ-1")
    with pytest.raises(Forbidden):  # another department's steward
        plans.create_filing(
            session, org.principal(org.steward), system_id=system.id, kind="om", fiscal_year=2026, amount=1
        )
    for user in (org.auditor, org.consumer):
        with pytest.raises(Forbidden):
            plans.create_filing(
                session, org.principal(user), system_id=system.id, kind="om", fiscal_year=2026, amount=1
            )
    filing = plans.create_filing(
        session, org.principal(org.civil_steward), system_id=system.id, kind="om", fiscal_year=2026, amount=1
    )
    with pytest.raises(Forbidden):
        plans.review_filing(session, org.principal(org.civil_steward), filing.id, result="approved")
    assert len(plans.list_filings(session, org.principal(org.auditor))) == 1
    assert plans.list_filings(session, org.principal(org.steward)) == []
    with pytest.raises(Forbidden):
        plans.list_filings(session, org.principal(org.consumer))


def test_filings_are_validated_and_not_duplicated(session: Session, org: Org) -> None:
    steward = org.principal(org.civil_steward)
    system = make_system(session, org.civil, "MZ-1")
    for kind, year, amount, code in (
        ("维修", 2026, 1, "filing_kind_invalid"),
        ("om", 1999, 1, "filing_year_invalid"),
        ("om", 2026, "-3", "filing_amount_invalid"),
        ("om", 2026, "很多", "filing_amount_invalid"),
    ):
        with pytest.raises(ValidationFailed) as error:
            plans.create_filing(
                session, steward, system_id=system.id, kind=kind, fiscal_year=year, amount=amount
            )
        assert error.value.code == code
    plans.create_filing(session, steward, system_id=system.id, kind="om", fiscal_year=2026, amount=1)
    with pytest.raises(Conflict):
        plans.create_filing(session, steward, system_id=system.id, kind="om", fiscal_year=2026, amount=2)
