"""API: data services (数据服务) under /api/v1/data/{resource code or number}/...

Called by the consumer department's applications with their API keys (or its users): every endpoint
goes through ``exchange.service`` (live grant, granted items only, masking, quota, DataAccess and audit
in the request's unit of work, committed before the answer leaves). ``{ref}`` is the resource code
(资源代码, e.g. ``101001/000001``: send the slash as ``%2F``) or its number.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from jutong.core.auth import Principal, Role
from jutong.exchange import service
from jutong.web.deps import DbSession, roles

router = APIRouter(prefix="/data", tags=["数据服务"])

DATA_ROLES = (Role.consumer, Role.steward)  # who may call the data services (with a live grant)
Caller = Annotated[Principal, Depends(roles(*DATA_ROLES))]
Ref = Annotated[str, "资源代码或编号"]
T = TypeVar("T")


def committed(session: Session, answer: T) -> T:
    """Commit the access record (usage slot, DataAccess, audit event) in the thread that wrote it.

    The request boundary would commit it too, but only after FastAPI has taken further threads to
    check and encode the answer; the usage slot's row lock (and SQLite's write lock) would be held
    across those hand-offs, and with every thread of the pool waiting for such a lock the worker stops.
    Committing here is also earlier, so "recorded before the answer leaves" holds all the more."""
    session.commit()
    return answer


ScalarValue = Annotated[str, Field(max_length=service.MAX_VALUE_CHARS)] | int | float | bool
KeyValues = Annotated[list[ScalarValue], Field(min_length=1, max_length=8)]


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(max_length=64, description="信息项（字段名），须在授权范围内")
    op: Literal["eq", "in", "prefix", "gte", "lte"] = "eq"
    value: ScalarValue | Annotated[list[ScalarValue], Field(max_length=service.MAX_IN_VALUES)]


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: list[FilterIn] = Field(default_factory=list, max_length=service.MAX_FILTERS)
    limit: int = Field(default=service.DEFAULT_PAGE, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=4000, description="上一页返回的 next_cursor")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: KeyValues = Field(description="主键值（按主键信息项顺序）")
    values: dict[Annotated[str, Field(max_length=64)], ScalarValue | None] = Field(
        min_length=1, max_length=50, description="要核验的信息项及其值"
    )


class LookupOut(BaseModel):
    found: bool
    record: dict[str, Any] | None
    data_version: int


class QueryOut(BaseModel):
    records: list[dict[str, Any]]
    next_cursor: str | None
    data_version: int


class VerifyOut(BaseModel):
    result: Literal["match", "no_match", "no_record"]
    differing: list[str] = Field(description="与记录不一致的信息项名（不返回记录中的值）")
    checked: list[str]


class ChangeOut(BaseModel):
    seq: int
    version: int
    op: str
    row: dict[str, Any]


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    next_after_seq: int | None
    data_version: int


@router.get("/{ref:path}/records", summary="按主键查询", response_model=LookupOut)
def lookup(
    ref: Ref,
    principal: Caller,
    session: DbSession,
    key: Annotated[
        list[Annotated[str, Field(max_length=service.MAX_VALUE_CHARS)]],
        Query(max_length=8, description="主键值（复合主键按顺序重复 key）"),
    ] = [],  # noqa: B006 (FastAPI copies defaults); checked against the key after the grant
) -> dict[str, Any]:
    return committed(session, service.lookup(session, principal, ref, key))


@router.post("/{ref:path}/query", summary="条件查询（游标分页）", response_model=QueryOut)
def query(ref: Ref, body: QueryIn, principal: Caller, session: DbSession) -> dict[str, Any]:
    filters = [service.Filter(f.column, f.op, f.value) for f in body.filters]
    return committed(
        session, service.query(session, principal, ref, filters, limit=body.limit, cursor=body.cursor)
    )


@router.post("/{ref:path}/verify", summary="核验", response_model=VerifyOut)
def verify(ref: Ref, body: VerifyIn, principal: Caller, session: DbSession) -> dict[str, Any]:
    return committed(session, service.verify(session, principal, ref, body.key, dict(body.values)))


@router.get(
    "/{ref:path}/export",
    summary="导出授权范围内的数据（流式）",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media, _ in service.FORMATS.values()}}},
)
def export(
    ref: Ref,
    principal: Caller,
    session: DbSession,
    format: Literal["csv", "json", "xlsx", "parquet"] = "csv",
) -> StreamingResponse:
    done = committed(session, service.export(session, principal, ref, format))
    disposition = f"attachment; filename*=UTF-8''{quote(done.filename)}"
    return StreamingResponse(
        done.body,
        media_type=done.media_type,
        headers={"Content-Disposition": disposition, "X-Row-Count": str(done.rows)},
    )


@router.get("/{ref:path}/changes", summary="变更读取（自某数据版本起）", response_model=ChangesOut)
def changes(
    ref: Ref,
    principal: Caller,
    session: DbSession,
    since: Annotated[int, Query(ge=0, lt=2**31)] = 0,
    after_seq: Annotated[int, Query(ge=0, lt=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
) -> dict[str, Any]:
    return committed(
        session, service.changes(session, principal, ref, since=since, after_seq=after_seq, limit=limit)
    )
