"""Grants: made from the published items only, revocable by the provider or an operator, listed per side."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from jutong.core import clock
from jutong.core.audit import AuditEvent
from jutong.core.errors import Conflict, Forbidden, ValidationFailed
from jutong.sharing import grants
from tests.exchange.conftest import Served, make_grant


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"items": ["gmsfhm", "no_such_item"]}, "grant_items_unknown"),
        ({"items": []}, "grant_items_required"),
        ({"masking": {"csrq": "full"}}, "grant_masking_item"),
        ({"masking": {"xm": "rot13"}}, "masking_policy_unknown"),
        ({"daily_quota": 0}, "grant_quota_invalid"),
        ({"delivery": "fax"}, "grant_delivery_invalid"),
        ({"purpose": "  "}, "grant_purpose_required"),
    ],
)
def test_a_grant_is_checked_against_the_published_items(
    session: Session, served: Served, overrides: dict[str, object], code: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        make_grant(session, served.org, served.resource, **overrides)
    assert refused.value.code == code


def test_a_period_that_ends_before_it_starts_is_refused(session: Session, served: Served) -> None:
    with pytest.raises(ValidationFailed) as refused:
        make_grant(session, served.org, served.resource, expires_on=clock.today() - timedelta(days=5))
    assert refused.value.code == "grant_period_invalid"


def test_without_explicit_masking_the_defaults_by_data_element_apply(
    session: Session, served: Served
) -> None:
    grant = make_grant(session, served.org, served.resource, masking=None, items=["gmsfhm", "xm", "csrq"])
    assert grant.masking == {"gmsfhm": "id_number", "xm": "name"}
    as_stored = make_grant(session, served.org, served.resource, masking={"xm": "none"})
    assert as_stored.masking == {}


def test_only_the_provider_or_an_operator_revokes_with_a_reason(session: Session, served: Served) -> None:
    org = served.org
    for who in (org.consumer, org.civil_steward, org.auditor):
        with pytest.raises(Forbidden):
            grants.revoke_grant(session, org.principal(who), served.grant.id, "无权撤销")
    with pytest.raises(ValidationFailed):
        grants.revoke_grant(session, served.steward, served.grant.id, " ")
    revoked = grants.revoke_grant(session, served.steward, served.grant.id, "用途已完成")
    assert revoked.status == "revoked" and revoked.revoke_reason == "用途已完成"
    with pytest.raises(Conflict):
        grants.revoke_grant(session, org.principal(org.operator), served.grant.id, "再次撤销")
    events = session.query(AuditEvent).filter(AuditEvent.action == "grant.revoke").all()
    assert len(events) == 1 and events[0].object_id == str(served.grant.id)


def test_grants_are_listed_to_both_sides_and_to_operators_only(session: Session, served: Served) -> None:
    org = served.org
    assert [g.id for g in grants.list_grants(session, org.principal(org.consumer))] == [served.grant.id]
    assert [g.id for g in grants.list_grants(session, served.steward)] == [served.grant.id]
    assert [g.id for g in grants.list_grants(session, org.principal(org.operator))] == [served.grant.id]
    outsider = org.principal(org.operator).__class__(
        user_id=None, username="other", role=org.principal(org.consumer).role, department_id=None, via="cli"
    )
    assert grants.list_grants(session, outsider) == []
    assert grants.is_live(served.grant)
