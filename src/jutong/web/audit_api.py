"""Audit log API for auditors and operators (审计日志查询、校验与封存).

Reading the log is itself a data access and is audited (``audit.read``); everyone but
auditors and operators is refused, and the refusal is audited too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from jutong.core import audit, audit_query
from jutong.core.auth import Principal, Role
from jutong.web.deps import DbSession, roles

router = APIRouter(tags=["审计日志"])
Reader = Annotated[Principal, Depends(roles(Role.auditor, Role.operator))]
Operator = Annotated[Principal, Depends(roles(Role.operator))]


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str
    actor_role: str | None
    department_id: int | None
    via: str
    ip: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str = Field(description="success 成功 / failed 失败 / denied 拒绝")
    summary: str
    detail: dict[str, Any] | None
    sealed: bool = Field(description="是否已封存进哈希链")
    seq: int | None = Field(description="封存序号（未封存为 null）")
    chain_hash: str | None
    seal_id: int | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next: str | None = Field(description="下一页的 cursor；没有更多时为 null")


class ChainProblemOut(BaseModel):
    event_id: int | None
    seq: int | None
    kind: str = Field(description="edited 篡改 / deleted 删除 / inserted 插入 / seal 批次不符")
    message: str


class ChainCounts(BaseModel):
    sealed_events: int
    seals: int
    unsealed_events: int


class ChainStatusOut(BaseModel):
    ok: bool
    problem: ChainProblemOut | None
    head: str = Field(description="校验到的链头哈希")
    algorithm: str
    counts: ChainCounts


class SealOut(BaseModel):
    sealed: int = Field(description="本次封存的事件数")
    head: str
    counts: ChainCounts


def chain_status(report: audit.ChainReport) -> ChainStatusOut:
    problem = report.problem
    return ChainStatusOut(
        ok=report.ok,
        problem=ChainProblemOut(**problem.__dict__) if problem else None,
        head=report.head_hash,
        algorithm=audit.HASH_ALGORITHM,
        counts=ChainCounts(
            sealed_events=report.sealed_events, seals=report.seals, unsealed_events=report.unsealed_events
        ),
    )


@router.get("/audit/events", response_model=AuditPageOut, summary="查询审计事件（审计人员、平台管理员）")
def list_events(
    request: Request,
    session: DbSession,
    principal: Reader,
    actor: Annotated[str | None, Query(description="操作者用户名")] = None,
    action: Annotated[
        str | None, Query(description="动作，如 user.create；以 . 或 * 结尾表示前缀，如 auth.*")
    ] = None,
    outcome: Annotated[str | None, Query(description="success / failed / denied")] = None,
    object_type: Annotated[str | None, Query(description="对象类型")] = None,
    object_id: Annotated[str | None, Query(description="对象编号")] = None,
    department_id: Annotated[int | None, Query(description="操作者所属部门编号")] = None,
    date_from: Annotated[
        str | None, Query(alias="from", description="起始日期或时间（北京时间），含")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="截止日期（含当天）或时间（不含）")] = None,
    q: Annotated[str | None, Query(description="摘要中的文字")] = None,
    cursor: Annotated[str | None, Query(description="上一页返回的 next")] = None,
    limit: Annotated[int, Query(ge=1, le=audit_query.MAX_LIMIT, description="每页条数")] = 50,
) -> AuditPageOut:
    filters = audit_query.make_filter(
        actor=actor,
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=object_id,
        department_id=department_id,
        date_from=date_from,
        date_to=date_to,
        text=q,
    )
    page = audit_query.list_events(session, filters, cursor=cursor, limit=limit)
    audit_query.record_read(session, principal, filters, len(page.events), cursor=cursor)
    return AuditPageOut(
        events=[AuditEventOut(**audit_query.event_as_dict(e)) for e in page.events], next=page.next
    )


@router.get("/audit/events/{event_id}", response_model=AuditEventOut, summary="审计事件详情")
def get_event(event_id: int, session: DbSession, principal: Reader) -> AuditEventOut:
    event = audit_query.get_event(session, event_id)
    audit_query.record_read(session, principal, audit_query.AuditFilter(), 1, event_id=event_id)
    return AuditEventOut(**audit_query.event_as_dict(event))


@router.get("/audit/verify", response_model=ChainStatusOut, summary="校验审计日志哈希链")
def verify(session: DbSession, principal: Reader) -> ChainStatusOut:
    report = audit.verify_chain(session)
    audit_query.record_verify(session, principal, report)
    return chain_status(report)


@router.post("/audit/seal", response_model=SealOut, summary="立即封存待封存的审计事件（平台管理员）")
def seal(session: DbSession, principal: Operator) -> SealOut:
    sealed = audit_query.seal_now(session, principal)
    summary = audit_query.chain_summary(session)
    counts = ChainCounts(
        sealed_events=summary.sealed_events, seals=summary.seals, unsealed_events=summary.unsealed_events
    )
    return SealOut(sealed=sealed, head=summary.head_hash, counts=counts)
