"""API: 整合清单 (integration plans into each department's "大系统") and 经费备案 (funding filings)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Query

from jutong.registry import plans
from jutong.registry.plan_schemas import (
    FilingIn,
    FilingOut,
    FilingReviewIn,
    IntegrationIn,
    PlanOut,
    PlanProgressOut,
    SystemBriefOut,
    TargetIn,
    TargetOut,
)
from jutong.registry.plans import TargetView
from jutong.web.deps import CurrentPrincipal, DbSession

router = APIRouter()
PLANS: list[str | Enum] = ["整合清单"]
FILINGS: list[str | Enum] = ["经费备案"]


@router.get("/plans", response_model=list[PlanProgressOut], tags=PLANS, summary="各部门整合清单进度")
def list_plans(session: DbSession, principal: CurrentPrincipal) -> list[PlanProgressOut]:
    return [PlanProgressOut.of(p) for p in plans.list_plans(session, principal)]


@router.get("/plans/{department_id}", response_model=PlanOut, tags=PLANS, summary="部门整合清单")
def get_plan(department_id: int, session: DbSession, principal: CurrentPrincipal) -> PlanOut:
    return PlanOut.of(plans.get_plan(session, principal, department_id))


@router.post(
    "/plans/{department_id}/targets",
    response_model=TargetOut,
    status_code=201,
    tags=PLANS,
    summary="新建整合目标“大系统”",
)
def create_target(
    department_id: int, body: TargetIn, session: DbSession, principal: CurrentPrincipal
) -> TargetOut:
    target = plans.create_target(
        session, principal, department_id, name=body.name, description=body.description
    )
    return TargetOut.of(TargetView(target, []))


@router.post(
    "/systems/{system_id}/integration",
    response_model=SystemBriefOut,
    tags=PLANS,
    summary="纳入整合、标记已整合或移出整合清单",
)
def set_integration(
    system_id: int, body: IntegrationIn, session: DbSession, principal: CurrentPrincipal
) -> SystemBriefOut:
    system = plans.set_integration(session, principal, system_id, target_id=body.target_id, state=body.state)
    return SystemBriefOut.of(system)


@router.get(
    "/filings", response_model=list[FilingOut], tags=FILINGS, summary="经费备案（含平台建议的审核结果）"
)
def list_filings(
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: int | None = Query(None, description="按部门筛选"),
    review: str | None = Query(None, description="按审核结果筛选：pending/approved/no_om_funding/rejected"),
) -> list[FilingOut]:
    rows = plans.list_filings(session, principal, department_id=department_id, review=review)
    return [FilingOut.of(r) for r in rows]


@router.post(
    "/filings", response_model=FilingOut, status_code=201, tags=FILINGS, summary="提交建设或运维经费备案"
)
def create_filing(body: FilingIn, session: DbSession, principal: CurrentPrincipal) -> FilingOut:
    filing = plans.create_filing(
        session,
        principal,
        system_id=body.system_id,
        kind=body.kind,
        fiscal_year=body.fiscal_year,
        amount=body.amount,
        note=body.note,
    )
    return FilingOut.of(plans.list_filings(session, principal, filing_id=filing.id)[0])


@router.post(
    "/filings/{filing_id}/review",
    response_model=FilingOut,
    tags=FILINGS,
    summary="审核经费备案（平台管理员）",
)
def review_filing(
    filing_id: int, body: FilingReviewIn, session: DbSession, principal: CurrentPrincipal
) -> FilingOut:
    plans.review_filing(session, principal, filing_id, result=body.result, note=body.note)
    return FilingOut.of(plans.list_filings(session, principal, filing_id=filing_id)[0])
