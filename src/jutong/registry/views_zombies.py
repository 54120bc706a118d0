"""Pages: 僵尸系统研判 — candidates with evidence, confirm / dismiss, thresholds, the dismissed list."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from jutong.core import clock
from jutong.core.auth import Principal, Role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.registry import zombies
from jutong.registry.models import SystemStatus, ZombieDecision
from jutong.registry.zombie_rules import RULE_LABELS, THRESHOLD_FIELDS
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)

_DONE = {
    "confirmed": "已确认为僵尸系统，系统状态改为“拟清理”",
    "dismissed": "已排除，并记录了理由",
    "thresholds": "研判阈值已保存，候选清单已按新阈值重新研判",
}


def _as_of(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _page(
    request: Request,
    session: DbSession,
    principal: Principal,
    *,
    as_of: date | None,
    flashes: list[str] | None = None,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    candidates = zombies.visible_candidates(session, principal, as_of)
    thresholds = zombies.get_thresholds(session)
    return render(
        request,
        "zombies/index.html",
        {
            "candidates": candidates,
            "as_of": as_of,
            "today": clock.today(),
            "thresholds": {**asdict(thresholds), **(form or {})},
            "threshold_fields": THRESHOLD_FIELDS,
            "rule_labels": RULE_LABELS,
            "can_decide": principal.role == Role.operator,
            "flashes": flashes or [],
            "errors": errors or [],
            "status_labels": dict(SystemStatus.choices()),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/zombies", response_class=HTMLResponse)
def candidates_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    as_of: str | None = None,
    done: str = "",
) -> Response:
    flashes = [_DONE[done]] if done in _DONE else []
    return _page(request, session, principal, as_of=_as_of(as_of), flashes=flashes)


def _back(as_of: date | None, done: str) -> Response:
    query = f"?done={done}" + (f"&as_of={as_of.isoformat()}" if as_of else "")
    return redirect(f"/zombies{query}")


@router.post("/zombies/thresholds", response_class=HTMLResponse)
def save_thresholds(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    values = {name: str(form.get(name, "")).strip() for name in THRESHOLD_FIELDS if name in form}
    try:
        zombies.update_thresholds(session, principal, values)
    except ValidationFailed as exc:
        problems = [p["problem"] for p in exc.detail or []] or [exc.message]
        return _page(request, session, principal, as_of=None, errors=problems, form=values, status_code=422)
    return _back(None, "thresholds")


@router.post("/zombies/{system_id}/confirm", response_class=HTMLResponse)
def confirm(
    request: Request,
    system_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    reason: Annotated[str, Form()] = "",
    as_of: Annotated[str, Form()] = "",
) -> Response:
    day = _as_of(as_of)
    try:
        zombies.confirm(session, principal, system_id, reason=reason, as_of=day)
    except (ValidationFailed, Conflict, NotFound) as exc:
        return _page(
            request, session, principal, as_of=day, errors=[exc.message], status_code=exc.status_code
        )
    return _back(day, "confirmed")


@router.post("/zombies/{system_id}/dismiss", response_class=HTMLResponse)
def dismiss(
    request: Request,
    system_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    reason: Annotated[str, Form()] = "",
    as_of: Annotated[str, Form()] = "",
) -> Response:
    day = _as_of(as_of)
    try:
        zombies.dismiss(session, principal, system_id, reason=reason, as_of=day)
    except (ValidationFailed, Conflict, NotFound) as exc:
        return _page(
            request, session, principal, as_of=day, errors=[exc.message], status_code=exc.status_code
        )
    return _back(day, "dismissed")


@router.get("/zombies/dismissed", response_class=HTMLResponse)
def dismissed_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, as_of: str | None = None
) -> Response:
    day = _as_of(as_of)
    return render(
        request,
        "zombies/dismissed.html",
        {
            "dismissed": zombies.dismissed(session, principal, day),
            "confirmed": zombies.list_reviews(session, principal, decision=ZombieDecision.confirmed),
            "rule_labels": RULE_LABELS,
            "as_of": day,
        },
        principal=principal,
    )
