"""Regions, departments, users and API keys (账号与组织机构)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jutong.core import audit
from jutong.core.audit import AuditEvent
from jutong.core.auth import Principal, Role, require_role
from jutong.core.db import utcnow
from jutong.core.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed
from jutong.core.security import (
    hash_api_key,
    hash_password,
    new_api_key,
    parse_api_key_id,
    tokens_match,
    verify_password,
)
from jutong.registry.models import ApiKey, Department, Region, RegionLevel, User
from jutong.standards.codes import is_valid_uscc

_REGION_CODE = re.compile(r"^\d{6}$")
MIN_PASSWORD_LENGTH = 8


def region_level_of(code: str) -> RegionLevel:
    """GB/T 2260: xx0000 province, xxxx00 prefecture, otherwise county."""
    if code.endswith("0000"):
        return RegionLevel.province
    if code.endswith("00"):
        return RegionLevel.city
    return RegionLevel.county


def upsert_region(session: Session, code: str, name: str, parent_code: str | None = None) -> Region:
    if not _REGION_CODE.match(code):
        raise ValidationFailed(f"行政区划代码“{code}”应为 6 位数字（GB/T 2260）", code="region_code_invalid")
    parent = get_region(session, parent_code) if parent_code else None
    region = session.scalar(select(Region).where(Region.code == code))
    if region is None:
        region = Region(
            code=code, name=name, level=region_level_of(code).value, parent_id=parent.id if parent else None
        )
        session.add(region)
    else:
        region.name = name
        region.parent_id = parent.id if parent else None
    session.flush()
    return region


def get_region(session: Session, code: str) -> Region:
    region = session.scalar(select(Region).where(Region.code == code))
    if region is None:
        raise NotFound(f"行政区划“{code}”不存在", code="region_not_found")
    return region


def list_regions(session: Session) -> list[Region]:
    return list(session.scalars(select(Region).order_by(Region.code)))


def upsert_department(
    session: Session, code: str, name: str, region_code: str, credit_code: str | None = None
) -> Department:
    region = get_region(session, region_code)
    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        department = Department(code=code, name=name, region_id=region.id, credit_code=credit_code)
        session.add(department)
    else:
        department.name, department.region_id, department.credit_code = name, region.id, credit_code
    session.flush()
    return department


def create_department(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    region_code: str,
    credit_code: str | None = None,
) -> Department:
    """A new department (operators only); the credit code's check characters must be right."""
    require_role(actor, Role.operator)
    code, name = code.strip(), name.strip()
    credit = (credit_code or "").strip().upper() or None
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,32}", code):
        raise ValidationFailed(
            "部门编码须为 1-32 位字母、数字、下划线、点或连字符", code="department_code_invalid"
        )
    if not name or len(name) > 100:
        raise ValidationFailed("请填写部门名称（不超过 100 字）", code="department_name_invalid")
    if credit is not None and not is_valid_uscc(credit):
        raise ValidationFailed(
            f"统一社会信用代码“{credit}”不正确：应为 18 位且校验位符合 GB 32100-2015，请对照营业执照或登记证书核对",
            code="credit_code_invalid",
            detail={"credit_code": credit},
        )
    if session.scalar(select(Department).where(Department.code == code)):
        raise Conflict(f"部门编码“{code}”已被使用，请换一个编码", code="department_code_taken")
    if session.scalar(select(Department).where(Department.name == name)):
        raise Conflict(f"部门“{name}”已存在", code="department_name_taken")
    region = get_region(session, region_code)
    department = Department(code=code, name=name, region_id=region.id, credit_code=credit)
    session.add(department)
    session.flush()
    audit.record(
        session,
        actor,
        "department.create",
        summary=f"新增部门 {name}（{code}，{region.name}）",
        object_type="department",
        object_id=department.id,
        detail={"code": code, "name": name, "region_code": region.code, "credit_code": credit},
    )
    return department


def list_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.code)))


def get_department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门 #{department_id} 不存在", code="department_not_found")
    return department


def find_department(session: Session, name_or_code: str) -> Department | None:
    """Departments are named in files by their name or their code."""
    text = name_or_code.strip()
    return session.scalar(select(Department).where((Department.name == text) | (Department.code == text)))


def departments_by_name(session: Session) -> dict[str, Department]:
    out: dict[str, Department] = {}
    for department in list_departments(session):
        out[department.name] = department
        out[department.code] = department
    return out


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    department_code: str | None = None,
    actor: Principal | None = None,
) -> User:
    username = username.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{2,64}", username):
        raise ValidationFailed("用户名须为 2-64 位字母、数字、下划线、点或连字符", code="username_invalid")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"密码至少 {MIN_PASSWORD_LENGTH} 位", code="password_too_short")
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"用户名“{username}”已存在", code="username_taken")
    department = None
    if department_code:
        department = find_department(session, department_code)
        if department is None:
            raise NotFound(f"部门“{department_code}”不存在", code="department_not_found")
    if role in (Role.steward, Role.consumer) and department is None:
        raise ValidationFailed("部门数据管理员和使用部门用户必须属于一个部门", code="department_required")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role.value,
        department_id=department.id if department else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        summary=f"创建用户 {username}（{role.value}）",
        object_type="user",
        object_id=user.id,
        detail={"username": username, "role": role.value, "department_id": user.department_id},
    )
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 #{user_id} 不存在", code="user_not_found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def set_user_active(session: Session, actor: Principal, user_id: int, *, active: bool) -> User:
    """Deactivate (停用) or reactivate (启用) an account; a stopped user's sessions and keys stop working."""
    require_role(actor, Role.operator)
    user = get_user(session, user_id)
    if not active and user.id == actor.user_id:
        raise Forbidden(
            "不能停用自己的账号；如确需停用，请由另一位平台管理员操作", code="user_self_deactivate"
        )
    if user.active != active:
        user.active = active
        if not active:
            user.session_version += 1  # signed-in sessions end now, not when their cookie expires
        audit.record(
            session,
            actor,
            "user.activate" if active else "user.deactivate",
            summary=f"{'启用' if active else '停用'}用户 {user.username}",
            object_type="user",
            object_id=user.id,
            detail={"username": user.username, "active": active},
        )
    session.flush()
    return user


def principal_for(
    user: User,
    *,
    via: str,
    ip: str | None = None,
    api_key_id: int | None = None,
    application_id: int | None = None,
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        department_id=user.department_id,
        via=via,
        api_key_id=api_key_id,
        ip=ip,
        application_id=application_id,
    )


MAX_FAILED_SIGN_INS = 5
SIGN_IN_LOCK = timedelta(minutes=15)


class TooManySignIns(AppError):
    status_code = 429
    code = "sign_in_throttled"


def _recent_failures(session: Session, username: str) -> int:
    since = utcnow() - SIGN_IN_LOCK
    stmt = select(func.count()).where(
        AuditEvent.action == "auth.login_failed",
        AuditEvent.actor_name == username[:100],
        AuditEvent.occurred_at >= since,
    )
    return session.scalar(stmt) or 0


def sign_in(session: Session, username: str, password: str, *, ip: str | None) -> User | None:
    """Check a password; every attempt, failed or not, is audited.

    After ``MAX_FAILED_SIGN_INS`` failures for one user name within ``SIGN_IN_LOCK`` the name is
    locked for the rest of that window (the audit log is the counter), so passwords cannot be guessed.
    """
    if _recent_failures(session, username.strip()) >= MAX_FAILED_SIGN_INS:
        audit.record(
            session,
            None,
            "auth.login_locked",
            summary=f"登录被暂时锁定：{username[:64]}",
            outcome="denied",
            actor_name=username[:100] or "anonymous",
            ip=ip,
        )
        minutes = int(SIGN_IN_LOCK.total_seconds() // 60)
        raise TooManySignIns(f"该用户名连续登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试")
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        audit.record(
            session,
            None,
            "auth.login_failed",
            summary=f"登录失败：{username[:64]}",
            outcome="failed",
            actor_name=username.strip()[:100] or "anonymous",
            ip=ip,
            object_type="user",
            object_id=user.id if user else None,
        )
        return None
    user.last_login_at = utcnow()
    audit.record(
        session,
        principal_for(user, via="session", ip=ip),
        "auth.login",
        summary=f"{user.username} 登录",
        object_type="user",
        object_id=user.id,
    )
    return user


def end_sessions(session: Session, principal: Principal) -> None:
    """Sign out: every page session of this user ends (their cookies no longer match)."""
    if principal.user_id is None:
        return
    user = get_user(session, principal.user_id)
    user.session_version += 1
    audit.record(
        session,
        principal,
        "auth.logout",
        summary=f"{user.username} 退出登录",
        object_type="user",
        object_id=user.id,
    )


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown once, never stored


def issue_api_key(
    session: Session, actor: Principal, name: str, *, for_user_id: int | None = None
) -> IssuedKey:
    """Users make keys for themselves; operators may make one for any user.

    Only a person signed in makes keys: a key that could mint keys would survive its own revocation.
    """
    if actor.via == "api_key":
        raise Forbidden(
            "API 密钥不能用来创建新的密钥，请登录平台后在“API 密钥”页面创建", code="api_key_cannot_mint"
        )
    owner_id = for_user_id if for_user_id is not None else actor.user_id
    if owner_id is None:
        raise ValidationFailed("需要指定密钥所属用户", code="api_key_owner_required")
    if owner_id != actor.user_id:
        require_role(actor, Role.operator, message="只能为自己创建 API 密钥")
    owner = get_user(session, owner_id)
    name = name.strip()
    if not name:
        raise ValidationFailed("请填写密钥名称（例如调用它的应用）", code="api_key_name_required")
    token, key_id, key_hash = new_api_key()
    key = ApiKey(user_id=owner.id, name=name[:100], key_id=key_id, key_hash=key_hash)
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "api_key.create",
        summary=f"为 {owner.username} 创建 API 密钥“{key.name}”",
        object_type="api_key",
        object_id=key.id,
        detail={"owner_id": owner.id, "key_id": key_id},
    )
    return IssuedKey(key, token)


def list_api_keys(session: Session, actor: Principal) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc())
    if actor.role != Role.operator:
        stmt = stmt.where(ApiKey.user_id == actor.user_id)
    return list(session.scalars(stmt))


def revoke_api_key(session: Session, actor: Principal, api_key_id: int) -> ApiKey:
    key = session.get(ApiKey, api_key_id)
    if key is None:
        raise NotFound(f"API 密钥 #{api_key_id} 不存在", code="api_key_not_found")
    if key.user_id != actor.user_id and actor.role != Role.operator:
        raise Forbidden("只能吊销自己的 API 密钥", code="api_key_forbidden")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "api_key.revoke",
            summary=f"吊销 API 密钥“{key.name}”",
            object_type="api_key",
            object_id=key.id,
        )
    session.flush()
    return key


KEY_USE_RESOLUTION = timedelta(minutes=1)


def key_use_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a key last used at ``last_used_at`` should have its use noted again (kept to the minute)."""
    return last_used_at is None or now - last_used_at >= KEY_USE_RESOLUTION


def resolve_api_key(session: Session, token: str, *, note_use: bool = True) -> tuple[User, ApiKey] | None:
    """The user behind a live key, or None for unknown, wrong or revoked keys. With ``note_use`` the
    key's last use is written (to the minute)."""
    key_id = parse_api_key_id(token)
    if key_id is None:
        return None
    found = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_id == key_id)
    ).first()
    if found is None:
        return None
    key, user = found
    if key.revoked_at is not None or not tokens_match(key.key_hash, hash_api_key(token)) or not user.active:
        return None
    now = utcnow()
    # to the minute: writing it on every call would make the key's row the lock every concurrent call
    # of one application queues on until its commit
    if note_use and key_use_due(key.last_used_at, now):
        if session.get_bind().dialect.name == "postgresql":
            # and never waiting: a call that finds the row locked by another call noting the same use
            # goes on without noting it
            free = select(ApiKey.id).where(ApiKey.id == key.id).with_for_update(skip_locked=True)
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == free.scalar_subquery())
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
        else:
            key.last_used_at = now
    return user, key
