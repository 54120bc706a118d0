"""API: corrections (纠错) under /api/v1/sharing/corrections.

A department holding a grant reports a wrong record or item; the provider's steward (or an operator)
confirms or rejects it by its deadline; a later load that changes the record closes it as fixed.
Every read is audited (``record_read``), every change by the service.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from jutong.core import clock
from jutong.core.auth import Principal, Role
from jutong.sharing import corrections
from jutong.sharing.models import Correction, CorrectionStatus
from jutong.web.deps import CurrentPrincipal, DbSession, record_read, roles

router = APIRouter(prefix="/sharing", tags=["纠错"], dependencies=[Depends(record_read)])

Reporter = Annotated[Principal, Depends(roles(Role.consumer, Role.steward))]
Answerer = Annotated[Principal, Depends(roles(Role.operator, Role.steward))]
Overseer = Annotated[Principal, Depends(roles(Role.operator, Role.auditor))]
Operator = Annotated[Principal, Depends(roles(Role.operator))]


class CorrectionIn(BaseModel):
    resource_id: int = Field(description="资源 ID")
    record_key: dict[str, str | int] = Field(
        description='记录主键，如 {"gmsfhm": "341002199003070011"}', max_length=10
    )
    column_name: str = Field("", max_length=64, description="有误的信息项（列名）；整条记录有误时留空")
    note: str = Field(max_length=corrections.NOTE_MAX, description="哪里有误、应当是什么")
    evidence: str = Field("", max_length=corrections.EVIDENCE_MAX, description="证明材料说明")


class AnswerIn(BaseModel):
    decision: Literal["confirm", "reject"] = Field(
        description="confirm 确认有误；reject 核实无误（须说明理由）"
    )
    reason: str = Field("", max_length=corrections.NOTE_MAX, description="答复意见；核实无误时必填")


class CorrectionOut(BaseModel):
    id: int
    resource_id: int
    grant_id: int | None
    provider_department_id: int
    consumer_department_id: int
    record_key: dict[str, Any]
    column_name: str = Field(description="有误的信息项；空为整条记录")
    note: str
    evidence: str
    status: str = Field(description="open 待答复 / confirmed 已确认待修正 / rejected 核实无误 / fixed 已修正")
    status_label: str
    reported_at: datetime
    due_on: date = Field(description="答复期限（最后一个工作日）")
    overdue: bool = Field(description="超期：逾期未答复，或答复晚于期限")
    answered_at: datetime | None
    answer: str
    fixed_version: int | None = Field(description="带来修正的数据版本")
    fixed_load_id: int | None = Field(description="带来修正的归集批次")


class SettingsIn(BaseModel):
    working_days: int = Field(ge=1, le=corrections.MAX_ANSWER_DAYS, description="提供方答复纠错的工作日数")


class SettingsOut(BaseModel):
    working_days: int


def correction_out(c: Correction, today: date | None = None) -> CorrectionOut:
    return CorrectionOut(
        id=c.id,
        resource_id=c.resource_id,
        grant_id=c.grant_id,
        provider_department_id=c.provider_department_id,
        consumer_department_id=c.consumer_department_id,
        record_key=dict(c.record_key),
        column_name=c.column_name,
        note=c.note,
        evidence=c.evidence,
        status=c.status,
        status_label=CorrectionStatus(c.status).label,
        reported_at=c.reported_at,
        due_on=c.due_on,
        overdue=corrections.is_overdue(c, today),
        answered_at=c.answered_at,
        answer=c.answer,
        fixed_version=c.fixed_version,
        fixed_load_id=c.fixed_load_id,
    )


@router.post("/corrections", response_model=CorrectionOut, status_code=201, summary="提出纠错")
def report_correction(body: CorrectionIn, session: DbSession, principal: Reporter) -> CorrectionOut:
    found = corrections.report(
        session,
        principal,
        resource_id=body.resource_id,
        record_key=dict(body.record_key),
        column_name=body.column_name,
        note=body.note,
        evidence=body.evidence,
    )
    return correction_out(found)


@router.get("/corrections", response_model=list[CorrectionOut], summary="纠错列表（本部门提出或需答复的）")
def list_corrections(
    session: DbSession,
    principal: CurrentPrincipal,
    status: Annotated[str | None, Query(max_length=20, description="状态")] = None,
    resource_id: Annotated[int | None, Query(description="资源 ID")] = None,
    overdue: Annotated[bool | None, Query(description="只看逾期未答复的")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[CorrectionOut]:
    today = clock.today()
    found = corrections.list_corrections(
        session, principal, status=status, resource_id=resource_id, overdue=overdue, today=today, limit=limit
    )
    return [correction_out(c, today) for c in found]


@router.get(
    "/corrections/overdue", response_model=list[CorrectionOut], summary="逾期未答复的纠错（平台协调）"
)
def overdue_corrections(session: DbSession, principal: Overseer) -> list[CorrectionOut]:
    today = clock.today()
    return [correction_out(c, today) for c in corrections.list_overdue(session, principal, today)]


@router.get("/corrections/settings", response_model=SettingsOut, summary="纠错答复期限（工作日）")
def get_settings(session: DbSession, principal: CurrentPrincipal) -> SettingsOut:
    return SettingsOut(working_days=corrections.answer_days(session))


@router.put("/corrections/settings", response_model=SettingsOut, summary="设置纠错答复期限（平台管理员）")
def put_settings(body: SettingsIn, session: DbSession, principal: Operator) -> SettingsOut:
    return SettingsOut(working_days=corrections.set_answer_days(session, principal, body.working_days))


@router.get("/corrections/{correction_id}", response_model=CorrectionOut, summary="纠错详情")
def get_correction(correction_id: int, session: DbSession, principal: CurrentPrincipal) -> CorrectionOut:
    return correction_out(corrections.get_correction(session, principal, correction_id))


@router.post("/corrections/{correction_id}/answer", response_model=CorrectionOut, summary="答复纠错")
def answer_correction(
    correction_id: int, body: AnswerIn, session: DbSession, principal: Answerer
) -> CorrectionOut:
    found = corrections.answer(session, principal, correction_id, decision=body.decision, reason=body.reason)
    return correction_out(found)
