"""API: data standards (数据元、代码集、资源分类). Every signed-in role reads; the operator adds local ones."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from jutong.catalog import standards
from jutong.catalog.standards_schemas import (
    ClassificationCreate,
    ClassificationOut,
    CodeSetCreate,
    CodeSetDetail,
    CodeSetOut,
    CodeValueOut,
    ElementCreate,
    ElementDetail,
    ElementOut,
    ElementUseOut,
)
from jutong.core.auth import Principal, Role
from jutong.web.deps import DbSession, roles

router = APIRouter()
Reader = Annotated[Principal, Depends(roles(Role.operator, Role.steward, Role.auditor, Role.consumer))]
Operator = Annotated[Principal, Depends(roles(Role.operator))]
Source = Literal["national", "local"]


def _code_set_detail(session: DbSession, key: str) -> CodeSetDetail:
    code_set = standards.get_code_set(session, key)
    values = standards.code_values(session, code_set)
    return CodeSetDetail(
        **CodeSetOut.of(code_set, len(values)).model_dump(),
        values=[CodeValueOut.model_validate(v) for v in values],
    )


@router.get("/standards/code-sets", response_model=list[CodeSetOut], tags=["数据标准"], summary="代码集列表")
def code_sets(session: DbSession, principal: Reader, source: Source | None = None) -> list[CodeSetOut]:
    return [CodeSetOut.of(s, n) for s, n in standards.list_code_sets(session, source=source)]


@router.post(
    "/standards/code-sets",
    response_model=CodeSetDetail,
    status_code=201,
    tags=["数据标准"],
    summary="新增本地代码集（平台管理员）",
)
def create_code_set(body: CodeSetCreate, session: DbSession, principal: Operator) -> CodeSetDetail:
    code_set = standards.add_local_code_set(
        session,
        principal,
        identifier=body.identifier,
        name=body.name,
        description=body.description,
        values=[standards.ValueRow(v.code, v.label, v.parent_code) for v in body.values],
    )
    return _code_set_detail(session, str(code_set.id))


@router.get(
    "/standards/code-sets/{key:path}",
    response_model=CodeSetDetail,
    tags=["数据标准"],
    summary="代码集及其代码值（按编号或标识符，如 GB/T 2261.1-2003）",
)
def code_set(key: str, session: DbSession, principal: Reader) -> CodeSetDetail:
    return _code_set_detail(session, key)


@router.get(
    "/standards/elements",
    response_model=list[ElementOut],
    tags=["数据标准"],
    summary="数据元列表（可按名称或标识符检索）",
)
def elements(
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(description="标识符、中文名称或英文名称中的文字")] = "",
    source: Source | None = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[ElementOut]:
    code_sets = standards.code_set_names(session)
    return [
        ElementOut.of(e, code_sets)
        for e in standards.search_elements(session, q=q, source=source, limit=limit)
    ]


@router.post(
    "/standards/elements",
    response_model=ElementOut,
    status_code=201,
    tags=["数据标准"],
    summary="新增本地数据元（平台管理员）",
)
def create_element(body: ElementCreate, session: DbSession, principal: Operator) -> ElementOut:
    element = standards.add_local_element(session, principal, **body.model_dump())
    return ElementOut.of(element, standards.code_set_names(session))


@router.get(
    "/standards/elements/{key}",
    response_model=ElementDetail,
    tags=["数据标准"],
    summary="数据元详情及使用它的已发布资源（按编号或标识符，如 DE0001）",
)
def element(key: str, session: DbSession, principal: Reader) -> ElementDetail:
    found = standards.get_element(session, key)
    uses = standards.element_usage(session, found)
    return ElementDetail(
        **ElementOut.of(found, standards.code_set_names(session)).model_dump(),
        used_by=[
            ElementUseOut(
                resource_id=u.resource_id,
                resource_code=u.resource_code,
                resource_name=u.resource_name,
                department=u.department,
                item_name=u.item_name,
            )
            for u in uses
        ],
    )


@router.get(
    "/standards/classifications",
    response_model=list[ClassificationOut],
    tags=["数据标准"],
    summary="资源分类（类/项/目/细目）",
)
def classifications(session: DbSession, principal: Reader) -> list[ClassificationOut]:
    return [ClassificationOut.of(c) for c in standards.list_classifications(session)]


@router.post(
    "/standards/classifications",
    response_model=ClassificationOut,
    status_code=201,
    tags=["数据标准"],
    summary="新增本地目或细目（平台管理员）",
)
def create_classification(
    body: ClassificationCreate, session: DbSession, principal: Operator
) -> ClassificationOut:
    created = standards.add_local_classification(session, principal, code=body.code, name=body.name)
    return ClassificationOut.of(created)
