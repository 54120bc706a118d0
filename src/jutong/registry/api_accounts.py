"""API: who am I, regions, departments, users, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from jutong.core.auth import Principal, Role
from jutong.registry import accounts
from jutong.registry.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyOut,
    DepartmentCreate,
    DepartmentOut,
    MeOut,
    RegionOut,
    UserCreate,
    UserOut,
)
from jutong.web.deps import CurrentPrincipal, DbSession, roles

router = APIRouter()
Operator = Annotated[Principal, Depends(roles(Role.operator))]


@router.get("/me", response_model=MeOut, tags=["账号"], summary="当前身份")
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        department_id=principal.department_id,
        via=principal.via,
    )


@router.get("/regions", response_model=list[RegionOut], tags=["组织机构"], summary="行政区划")
def regions(session: DbSession, principal: CurrentPrincipal) -> list[RegionOut]:
    return [RegionOut.model_validate(r) for r in accounts.list_regions(session)]


@router.get("/departments", response_model=list[DepartmentOut], tags=["组织机构"], summary="部门")
def departments(session: DbSession, principal: CurrentPrincipal) -> list[DepartmentOut]:
    return [DepartmentOut.model_validate(d) for d in accounts.list_departments(session)]


@router.post(
    "/departments",
    response_model=DepartmentOut,
    status_code=201,
    tags=["组织机构"],
    summary="新增部门（平台管理员）",
)
def create_department(body: DepartmentCreate, session: DbSession, principal: Operator) -> DepartmentOut:
    department = accounts.create_department(
        session,
        principal,
        code=body.code,
        name=body.name,
        region_code=body.region_code,
        credit_code=body.credit_code,
    )
    return DepartmentOut.model_validate(department)


@router.get("/users", response_model=list[UserOut], tags=["账号"], summary="用户列表（平台管理员）")
def users(session: DbSession, principal: Operator) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in accounts.list_users(session)]


@router.post(
    "/users", response_model=UserOut, status_code=201, tags=["账号"], summary="创建用户（平台管理员）"
)
def create_user(body: UserCreate, session: DbSession, principal: Operator) -> UserOut:
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        department_code=body.department_code,
        actor=principal,
    )
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/deactivate", response_model=UserOut, tags=["账号"], summary="停用用户（平台管理员）"
)
def deactivate_user(user_id: int, session: DbSession, principal: Operator) -> UserOut:
    return UserOut.model_validate(accounts.set_user_active(session, principal, user_id, active=False))


@router.post(
    "/users/{user_id}/activate", response_model=UserOut, tags=["账号"], summary="启用用户（平台管理员）"
)
def activate_user(user_id: int, session: DbSession, principal: Operator) -> UserOut:
    return UserOut.model_validate(accounts.set_user_active(session, principal, user_id, active=True))


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["账号"], summary="API 密钥列表")
def api_keys(session: DbSession, principal: CurrentPrincipal) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in accounts.list_api_keys(session, principal)]


@router.post(
    "/api-keys", response_model=ApiKeyIssued, status_code=201, tags=["账号"], summary="创建 API 密钥"
)
def create_api_key(body: ApiKeyCreate, session: DbSession, principal: CurrentPrincipal) -> ApiKeyIssued:
    issued = accounts.issue_api_key(session, principal, body.name, for_user_id=body.user_id)
    return ApiKeyIssued.model_validate(
        {**ApiKeyOut.model_validate(issued.key).model_dump(), "token": issued.token}
    )


@router.post(
    "/api-keys/{api_key_id}/revoke", response_model=ApiKeyOut, tags=["账号"], summary="吊销 API 密钥"
)
def revoke_api_key(api_key_id: int, session: DbSession, principal: CurrentPrincipal) -> ApiKeyOut:
    return ApiKeyOut.model_validate(accounts.revoke_api_key(session, principal, api_key_id))
