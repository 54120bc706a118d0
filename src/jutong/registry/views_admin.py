"""Administration pages for operators (用户与部门): users, regions and departments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from jutong.core.auth import ROLE_LABELS, Principal, Role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.registry import accounts
from jutong.registry.models import RegionLevel
from jutong.web.deps import DbSession, roles
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)
Operator = Annotated[Principal, Depends(roles(Role.operator))]
FormErrors = (ValidationFailed, Conflict, NotFound)  # shown on the form; refusals go to the error page


def _users_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    departments = accounts.list_departments(session)
    return render(
        request,
        "admin/users.html",
        {
            "users": accounts.list_users(session),
            "departments": departments,
            "department_names": {d.id: d.name for d in departments},
            "role_choices": [(role.value, label) for role, label in ROLE_LABELS.items()],
            "role_labels": {role.value: label for role, label in ROLE_LABELS.items()},
            "error": error,
            "form": form or {},
            "message": message,
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: DbSession, principal: Operator) -> Response:
    return _users_page(request, session, principal, message=request.session.pop("flash", None))


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: DbSession,
    principal: Operator,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    department_code: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "department_code": department_code,
    }
    try:
        if role not in Role.__members__:
            raise ValidationFailed(f"角色“{role}”无效，请从列表中选择", code="role_invalid")
        user = accounts.create_user(
            session,
            username=username,
            password=password,
            role=Role(role),
            display_name=display_name.strip() or None,
            department_code=department_code.strip() or None,
            actor=principal,
        )
    except FormErrors as exc:
        return _users_page(
            request, session, principal, error=exc.message, form=form, status_code=exc.status_code
        )
    request.session["flash"] = f"已创建用户 {user.username}"
    return redirect("/admin/users")


@router.post("/admin/users/{user_id}/deactivate")
def deactivate_user(request: Request, user_id: int, session: DbSession, principal: Operator) -> Response:
    user = accounts.set_user_active(session, principal, user_id, active=False)
    request.session["flash"] = f"已停用用户 {user.username}，其登录会话和 API 密钥随即失效"
    return redirect("/admin/users")


@router.post("/admin/users/{user_id}/activate")
def activate_user(request: Request, user_id: int, session: DbSession, principal: Operator) -> Response:
    user = accounts.set_user_active(session, principal, user_id, active=True)
    request.session["flash"] = f"已启用用户 {user.username}"
    return redirect("/admin/users")


def _departments_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    regions = accounts.list_regions(session)
    by_id = {r.id: r for r in regions}
    users_per_department: dict[int, int] = {}
    for user in accounts.list_users(session):
        if user.department_id is not None:
            users_per_department[user.department_id] = users_per_department.get(user.department_id, 0) + 1
    context: dict[str, Any] = {
        "regions": regions,
        "regions_by_id": by_id,
        "level_labels": dict(RegionLevel.choices()),
        "departments": accounts.list_departments(session),
        "users_per_department": users_per_department,
        "error": error,
        "form": form or {},
        "message": message,
    }
    return render(request, "admin/departments.html", context, principal=principal, status_code=status_code)


@router.get("/admin/departments", response_class=HTMLResponse)
def departments_page(request: Request, session: DbSession, principal: Operator) -> Response:
    return _departments_page(request, session, principal, message=request.session.pop("flash", None))


@router.post("/admin/departments", response_class=HTMLResponse)
def create_department(
    request: Request,
    session: DbSession,
    principal: Operator,
    code: Annotated[str, Form()],
    name: Annotated[str, Form()],
    region_code: Annotated[str, Form()],
    credit_code: Annotated[str, Form()] = "",
) -> Response:
    form = {"code": code, "name": name, "region_code": region_code, "credit_code": credit_code}
    try:
        department = accounts.create_department(
            session, principal, code=code, name=name, region_code=region_code, credit_code=credit_code or None
        )
    except FormErrors as exc:
        return _departments_page(
            request, session, principal, error=exc.message, form=form, status_code=exc.status_code
        )
    request.session["flash"] = f"已新增部门 {department.name}"
    return redirect("/admin/departments")
