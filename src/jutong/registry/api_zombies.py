"""API: 僵尸系统研判 — candidates with evidence, thresholds, confirm / dismiss, decisions."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query

from jutong.registry import zombies
from jutong.registry.models import ZombieDecision
from jutong.registry.zombie_schemas import CandidateOut, DecisionIn, ReviewOut, ThresholdsIn, ThresholdsOut
from jutong.web.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/zombies", tags=["僵尸系统研判"])

AS_OF = Query(None, description="研判基准日期（YYYY-MM-DD），缺省为今天；“最近 N 个月”指其前 N 个完整自然月")


@router.get("", response_model=list[CandidateOut], summary="僵尸系统候选清单（含命中规则与证据）")
def candidates(
    session: DbSession, principal: CurrentPrincipal, as_of: date | None = AS_OF
) -> list[CandidateOut]:
    return [CandidateOut.of(c) for c in zombies.visible_candidates(session, principal, as_of)]


@router.get("/thresholds", response_model=ThresholdsOut, summary="研判阈值")
def thresholds(session: DbSession, principal: CurrentPrincipal) -> ThresholdsOut:
    return ThresholdsOut.of(zombies.read_thresholds(session, principal))


@router.put("/thresholds", response_model=ThresholdsOut, summary="修改研判阈值（平台管理员）")
def update_thresholds(body: ThresholdsIn, session: DbSession, principal: CurrentPrincipal) -> ThresholdsOut:
    values = body.model_dump(exclude_none=True)
    return ThresholdsOut.of(zombies.update_thresholds(session, principal, values))


@router.get("/reviews", response_model=list[ReviewOut], summary="研判记录（确认清理与排除）")
def reviews(
    session: DbSession,
    principal: CurrentPrincipal,
    decision: ZombieDecision | None = Query(None, description="confirmed 确认清理 / dismissed 排除"),
) -> list[ReviewOut]:
    return [ReviewOut.of(r) for r in zombies.list_reviews(session, principal, decision=decision)]


@router.get("/dismissed", response_model=list[ReviewOut], summary="已排除的系统（及排除后新增命中的规则）")
def dismissed(session: DbSession, principal: CurrentPrincipal, as_of: date | None = AS_OF) -> list[ReviewOut]:
    return [ReviewOut.of(r) for r in zombies.dismissed(session, principal, as_of)]


def _review_out(session: DbSession, principal: CurrentPrincipal, review_id: int) -> ReviewOut:
    return ReviewOut.of(zombies.list_reviews(session, principal, review_id=review_id)[0])


@router.post("/{system_id}/confirm", response_model=ReviewOut, summary="确认为僵尸系统（系统状态改为拟清理）")
def confirm(
    system_id: int, session: DbSession, principal: CurrentPrincipal, body: DecisionIn | None = None
) -> ReviewOut:
    body = body or DecisionIn()
    review = zombies.confirm(session, principal, system_id, reason=body.reason, as_of=body.as_of)
    return _review_out(session, principal, review.id)


@router.post("/{system_id}/dismiss", response_model=ReviewOut, summary="排除僵尸系统嫌疑（必须填写理由）")
def dismiss(system_id: int, body: DecisionIn, session: DbSession, principal: CurrentPrincipal) -> ReviewOut:
    review = zombies.dismiss(session, principal, system_id, reason=body.reason, as_of=body.as_of)
    return _review_out(session, principal, review.id)
