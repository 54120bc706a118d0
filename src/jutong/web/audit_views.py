"""Audit log pages for auditors and operators (审计日志): the filtered log, one event, the chain."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from jutong.core import audit, audit_query
from jutong.core.auth import ROLE_LABELS, Principal, Role
from jutong.core.errors import ValidationFailed
from jutong.registry import accounts
from jutong.web.deps import DbSession, roles
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(roles(Role.auditor, Role.operator))]
Operator = Annotated[Principal, Depends(roles(Role.operator))]

ROLE_VALUE_LABELS = {role.value: label for role, label in ROLE_LABELS.items()}
# replaying the chain costs roughly 0.2 ms per sealed event: beyond this the panel verifies on request
AUTO_VERIFY_MAX_EVENTS = 20_000
OUTCOME_TAGS = {"success": "ok", "failed": "warn", "denied": "bad"}
FILTER_FIELDS = ("actor", "action", "outcome", "object_type", "object_id", "department_id", "from", "to", "q")


def _department_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ValidationFailed("部门参数无效，请从列表中选择部门", code="audit_department_invalid") from exc


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DbSession,
    principal: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=audit_query.MAX_LIMIT)] = 50,
) -> Response:
    params = {name: request.query_params.get(name, "") for name in FILTER_FIELDS}
    kept = {k: v for k, v in params.items() if v}
    error = None
    events: list[audit.AuditEvent] = []
    next_url = None
    try:
        filters = audit_query.make_filter(
            actor=params["actor"],
            action=params["action"],
            outcome=params["outcome"],
            object_type=params["object_type"],
            object_id=params["object_id"],
            department_id=_department_id(params["department_id"]),
            date_from=params["from"],
            date_to=params["to"],
            text=params["q"],
        )
        page = audit_query.list_events(session, filters, cursor=cursor, limit=limit)
        events = page.events
        audit_query.record_read(session, principal, filters, len(events), cursor=cursor)
        if page.next:
            next_url = "/audit?" + urlencode({**kept, "cursor": page.next})
    except ValidationFailed as exc:
        error = exc.message
    departments = accounts.list_departments(session)
    summary = audit_query.chain_summary(session)
    return render(
        request,
        "audit/list.html",
        {
            "events": events,
            "params": params,
            "error": error,
            "next_url": next_url,
            "first_page": cursor is None,
            "first_url": "/audit?" + urlencode(kept) if kept else "/audit",
            "departments": departments,
            "department_names": {d.id: d.name for d in departments},
            "role_labels": ROLE_VALUE_LABELS,
            "outcomes": audit_query.OUTCOMES,
            "outcome_tags": OUTCOME_TAGS,
            "summary": summary,
            "auto_verify": summary.sealed_events <= AUTO_VERIFY_MAX_EVENTS,
            "message": request.session.pop("flash", None),
            "can_seal": principal.role == Role.operator,
        },
        principal=principal,
    )


@router.get("/audit/chain", response_class=HTMLResponse)
def chain_panel(request: Request, session: DbSession, principal: Reader) -> Response:
    """The chain's verification: a fragment for htmx, a whole page otherwise."""
    report = audit.verify_chain(session)
    audit_query.record_verify(session, principal, report)
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "audit/chain_panel.html" if fragment else "audit/chain.html",
        {"report": report, "algorithm": audit.HASH_ALGORITHM, "can_seal": principal.role == Role.operator},
        principal=principal,
    )


@router.post("/audit/seal")
def seal_now(request: Request, session: DbSession, principal: Operator) -> Response:
    count = audit_query.seal_now(session, principal)
    request.session["flash"] = f"已封存 {count} 条审计事件"
    return redirect("/audit")


@router.get("/audit/{event_id}", response_class=HTMLResponse)
def event_page(request: Request, event_id: int, session: DbSession, principal: Reader) -> Response:
    event = audit_query.get_event(session, event_id)
    audit_query.record_read(session, principal, audit_query.AuditFilter(), 1, event_id=event_id)
    departments = {d.id: d for d in accounts.list_departments(session)}
    department = departments.get(event.department_id) if event.department_id else None
    return render(
        request,
        "audit/event.html",
        {
            "event": event,
            "department": department,
            "role_labels": ROLE_VALUE_LABELS,
            "outcomes": audit_query.OUTCOMES,
            "outcome_tags": OUTCOME_TAGS,
            "event_json": json.dumps(
                audit_query.event_as_dict(event), ensure_ascii=False, indent=2, sort_keys=True
            ),
        },
        principal=principal,
    )
