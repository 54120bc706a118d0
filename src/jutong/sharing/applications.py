"""Applications (应用): a consumer department's systems that call the data services, and their API keys.

A grant may name applications; only keys issued to those applications then read under it. A key for
an application is an ordinary API key of the person who issues it (``registry.accounts``), marked with
``ApiKey.application_id``: it acts with that person's role and department, for that application only.
Revoking the key or retiring the application stops the calls at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.auth import Principal, Role, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.registry import accounts
from jutong.registry.models import ApiKey, InformationSystem
from jutong.sharing.models import Application

_MANAGERS = (Role.operator, Role.steward, Role.consumer)


def _may_manage(principal: Principal, app: Application) -> None:
    if principal.role == Role.operator:
        return
    if principal.role in (Role.steward, Role.consumer) and principal.department_id == app.department_id:
        return
    raise Forbidden("该应用属于其他部门，只能管理本部门的应用", code="application_forbidden")


def get_application(session: Session, principal: Principal, application_id: int) -> Application:
    app = session.get(Application, application_id)
    if app is None:
        raise NotFound(f"应用 {application_id} 不存在", code="application_not_found")
    if principal.role not in (Role.operator, Role.auditor) and principal.department_id != app.department_id:
        raise Forbidden("该应用属于其他部门", code="application_forbidden")
    return app


def list_applications(
    session: Session, principal: Principal, *, department_id: int | None = None, include_retired: bool = False
) -> list[Application]:
    stmt = select(Application).order_by(Application.department_id, Application.name)
    if principal.role not in (Role.operator, Role.auditor):
        if principal.department_id is None:
            return []
        stmt = stmt.where(Application.department_id == principal.department_id)
    elif department_id is not None:
        stmt = stmt.where(Application.department_id == department_id)
    if not include_retired:
        stmt = stmt.where(Application.retired_at.is_(None))
    return list(session.scalars(stmt))


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "请填写应用名称（例如“社保待遇资格认证系统”）", code="application_name_required"
        )
    if len(name) > 100:
        raise ValidationFailed("应用名称不超过 100 个字", code="application_name_too_long")
    return name


def _check_system(session: Session, department_id: int, system_id: int | None) -> None:
    if system_id is None:
        return
    system = session.get(InformationSystem, system_id)
    if system is None or system.department_id != department_id:
        raise ValidationFailed(
            f"信息系统 {system_id} 不存在或不属于本部门", code="application_system_invalid"
        )


def create_application(
    session: Session,
    principal: Principal,
    *,
    name: str,
    description: str = "",
    system_id: int | None = None,
    department_id: int | None = None,
) -> Application:
    """Register an application of the principal's department (operators name the department)."""
    require_role(principal, *_MANAGERS, message="只有使用部门的用户、部门数据管理员或平台管理员可以登记应用")
    dept = principal.department_id if principal.role != Role.operator else department_id
    if dept is None:
        raise ValidationFailed("请指定应用所属部门", code="application_department_required")
    name = _clean_name(name)
    _check_system(session, dept, system_id)
    existing = session.scalar(
        select(Application.id).where(Application.department_id == dept, Application.name == name)
    )
    if existing is not None:
        raise Conflict(f"本部门已有名为“{name}”的应用", code="application_exists")
    app = Application(
        department_id=dept,
        name=name,
        description=description.strip(),
        system_id=system_id,
        created_by=principal.user_id,
    )
    try:
        with session.begin_nested():
            session.add(app)
    except IntegrityError as exc:  # the same name added at the same moment
        raise Conflict(f"本部门已有名为“{name}”的应用", code="application_exists") from exc
    audit.record(
        session,
        principal,
        "application.create",
        summary=f"登记应用“{name}”",
        object_type="application",
        object_id=app.id,
        detail={"department_id": dept, "system_id": system_id},
    )
    return app


def update_application(
    session: Session,
    principal: Principal,
    application_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Application:
    require_role(principal, *_MANAGERS, message="只有使用部门的用户、部门数据管理员或平台管理员可以管理应用")
    app = get_application(session, principal, application_id)
    _may_manage(principal, app)
    if name is not None:
        name = _clean_name(name)
        clash = session.scalar(
            select(Application.id).where(
                Application.department_id == app.department_id,
                Application.name == name,
                Application.id != app.id,
            )
        )
        if clash is not None:
            raise Conflict(f"本部门已有名为“{name}”的应用", code="application_exists")
        app.name = name
    if description is not None:
        app.description = description.strip()
    session.flush()
    audit.record(
        session,
        principal,
        "application.update",
        summary=f"修改应用“{app.name}”",
        object_type="application",
        object_id=app.id,
    )
    return app


def retire_application(session: Session, principal: Principal, application_id: int) -> Application:
    """停用: its keys are revoked with it, so its calls stop at once."""
    require_role(principal, *_MANAGERS, message="只有使用部门的用户、部门数据管理员或平台管理员可以管理应用")
    app = get_application(session, principal, application_id)
    _may_manage(principal, app)
    if app.retired_at is not None:
        raise Conflict(f"应用“{app.name}”已停用", code="application_retired")
    app.retired_at = utcnow()
    revoked = 0
    for key in application_keys(session, principal, app.id):
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            revoked += 1
    session.flush()
    audit.record(
        session,
        principal,
        "application.retire",
        summary=f"停用应用“{app.name}”，吊销其 {revoked} 个密钥",
        object_type="application",
        object_id=app.id,
    )
    return app


def application_keys(session: Session, principal: Principal, application_id: int) -> list[ApiKey]:
    get_application(session, principal, application_id)
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.application_id == application_id).order_by(ApiKey.created_at.desc())
        )
    )


def issue_key(session: Session, principal: Principal, application_id: int, name: str) -> accounts.IssuedKey:
    """A key for the application (the token is shown once). Issued by a person signed in, never by a key."""
    if principal.via == "api_key":  # a key that could mint keys would survive its own revocation
        raise Forbidden(
            "API 密钥不能用来发放新的密钥，请登录平台后在“应用与密钥”页面发放", code="api_key_cannot_mint"
        )
    # an operator's key would act as an operator: an application's keys come from its own department
    require_role(principal, Role.steward, Role.consumer, message="应用的密钥须由所属部门的用户发放")
    app = get_application(session, principal, application_id)
    _may_manage(principal, app)
    if app.retired_at is not None:
        raise Conflict(f"应用“{app.name}”已停用，不能再发放密钥", code="application_retired")
    issued = accounts.issue_api_key(session, principal, name or app.name)
    issued.key.application_id = app.id
    session.flush()
    audit.record(
        session,
        principal,
        "application.key_issue",
        summary=f"为应用“{app.name}”发放 API 密钥“{issued.key.name}”",
        object_type="application",
        object_id=app.id,
        detail={"api_key_id": issued.key.id, "key_id": issued.key.key_id},
    )
    return issued


def revoke_key(session: Session, principal: Principal, application_id: int, api_key_id: int) -> ApiKey:
    require_role(principal, *_MANAGERS, message="只有使用部门的用户、部门数据管理员或平台管理员可以管理应用")
    app = get_application(session, principal, application_id)
    _may_manage(principal, app)
    key = session.get(ApiKey, api_key_id)
    if key is None or key.application_id != app.id:
        raise NotFound(f"应用“{app.name}”没有密钥 {api_key_id}", code="application_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            principal,
            "application.key_revoke",
            summary=f"吊销应用“{app.name}”的 API 密钥“{key.name}”",
            object_type="application",
            object_id=app.id,
            detail={"api_key_id": key.id},
        )
    return key
