"""The system census (政务信息系统普查): registering systems, their monthly usage, and the
sharing statistics of the audit survey (审计调查表).

Operators and auditors see every department; stewards see and edit only their own; auditors
only read; consumers have no access. Every change is audited in the same unit of work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from jutong.core import audit
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.core.numbers import percent
from jutong.registry.census_fields import SYSTEM_FIELD_LABELS
from jutong.registry.census_schemas import SystemIn, SystemPatch, UsageIn
from jutong.registry.models import (
    Department,
    InformationSystem,
    SharingStatus,
    SystemStatus,
    SystemUsage,
)

READERS = (Role.operator, Role.auditor, Role.steward)
WRITERS = (Role.operator, Role.steward)
EDITABLE_FIELDS = tuple(SystemIn.model_fields)
_NOT_NULL = frozenset(
    {
        "code",
        "name",
        "department_id",
        "description",
        "usage_scope",
        "approving_department",
        "funding_source",
        "construction_cost",
        "annual_om_budget",
        "network",
        "sharing_status",
        "connected_to_platform",
        "connection_required",
        "protection_assessed",
        "offsite_backup",
        "status",
    }
)
MAX_PER_PAGE = 200


# ---- who may do what ------------------------------------------------------------------------


def require_reader(principal: Principal, department_id: int | None = None) -> None:
    """Operators and auditors read everything, stewards their own department, nobody else anything."""
    require_role(principal, *READERS, message="系统普查仅限平台管理员、部门数据管理员和审计人员查看")
    if department_id is not None and principal.role == Role.steward:
        require_department(principal, department_id, what="该系统")


def require_writer(principal: Principal, department_id: int) -> None:
    require_role(principal, *WRITERS, message="只有平台管理员和部门数据管理员可以登记或修改系统")
    require_department(principal, department_id, what="该系统")


# Decisions that are the bureau's, not the department's: whether a system must connect to the
# platform (which decides O&M funding), and the clean-up statuses the zombie review sets.
OPERATOR_STATUSES = frozenset({SystemStatus.to_retire.value, SystemStatus.retired.value})


def reserved_changes(
    principal: Principal, system: InformationSystem | None, values: dict[str, Any]
) -> list[str]:
    """What a steward is trying to change that only the operator may (Chinese, one line each)."""
    if principal.role == Role.operator:
        return []
    problems: list[str] = []
    current_required = system.connection_required if system is not None else False
    required = values.get("connection_required")
    if required is not None and bool(required) != current_required:
        problems.append("“已明确需接入”由平台管理员认定，部门不能修改")
    current_status = system.status if system is not None else SystemStatus.running.value
    status = values.get("status")
    if status is not None and str(status) != current_status:
        if str(status) in OPERATOR_STATUSES:
            problems.append(
                f"系统状态“{SystemStatus(str(status)).label}”只能由平台管理员经僵尸系统研判或停用确定"
            )
        elif current_status in OPERATOR_STATUSES:
            problems.append(f"系统已被认定为“{SystemStatus(current_status).label}”，只有平台管理员可以改回")
    return problems


def require_unreserved(
    principal: Principal, system: InformationSystem | None, values: dict[str, Any]
) -> None:
    problems = reserved_changes(principal, system, values)
    if problems:
        raise Forbidden(
            "；".join(problems), code="field_reserved_for_operator", detail={"problems": problems}
        )


def can_write(principal: Principal, department_id: int | None = None) -> bool:
    if principal.role == Role.operator:
        return True
    return principal.role == Role.steward and department_id in (None, principal.department_id)


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemPage:
    items: list[InformationSystem]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def list_systems(
    session: Session,
    principal: Principal,
    *,
    department_id: int | None = None,
    status: str | None = None,
    sharing_status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> SystemPage:
    """Systems the principal may see, filtered, newest code order within department, one page."""
    require_reader(principal, department_id)
    stmt = _visible(select(InformationSystem), principal, department_id)
    if status:
        stmt = stmt.where(InformationSystem.status == _code_of(SystemStatus, status, "系统状态"))
    if sharing_status:
        stmt = stmt.where(
            InformationSystem.sharing_status == _code_of(SharingStatus, sharing_status, "共享情况")
        )
    if q and q.strip():
        pattern = f"%{_escape_like(q.strip())}%"
        stmt = stmt.where(
            or_(
                InformationSystem.name.ilike(pattern, escape="\\"),
                InformationSystem.description.ilike(pattern, escape="\\"),
                InformationSystem.code.ilike(pattern, escape="\\"),
            )
        )
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.options(joinedload(InformationSystem.department))
        .join(Department, Department.id == InformationSystem.department_id)
        .order_by(Department.code, InformationSystem.code)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return SystemPage(list(items), total, page, per_page)


def visible_systems(
    session: Session, principal: Principal, department_id: int | None = None
) -> list[InformationSystem]:
    """Every system the principal may see (exports), with its department loaded."""
    require_reader(principal, department_id)
    stmt = _visible(select(InformationSystem), principal, department_id)
    return list(
        session.scalars(
            stmt.options(joinedload(InformationSystem.department))
            .join(Department, Department.id == InformationSystem.department_id)
            .order_by(Department.code, InformationSystem.code)
        )
    )


def _visible(stmt: Any, principal: Principal, department_id: int | None) -> Any:
    if principal.role == Role.steward:
        department_id = principal.department_id
    if department_id is not None:
        stmt = stmt.where(InformationSystem.department_id == department_id)
    return stmt


def _escape_like(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text)


def _code_of(enum: Any, value: str, what: str) -> str:
    member = enum.from_label(value)
    if member is None:
        allowed = "、".join(m.label for m in enum)
        raise ValidationFailed(f"“{value}”不是有效的{what}，可选：{allowed}", code="filter_invalid")
    return str(member.value)


def load_system(session: Session, system_id: int) -> InformationSystem:
    system = session.scalar(
        select(InformationSystem)
        .options(joinedload(InformationSystem.department))
        .where(InformationSystem.id == system_id)
    )
    if system is None:
        raise NotFound(f"系统 #{system_id} 不存在", code="system_not_found")
    return system


def get_system(session: Session, principal: Principal, system_id: int) -> InformationSystem:
    system = load_system(session, system_id)
    require_reader(principal, system.department_id)
    return system


def list_usage(session: Session, principal: Principal, system_id: int) -> list[SystemUsage]:
    get_system(session, principal, system_id)
    return usage_of(session, system_id)


def usage_of(session: Session, system_id: int) -> list[SystemUsage]:
    return list(
        session.scalars(
            select(SystemUsage).where(SystemUsage.system_id == system_id).order_by(SystemUsage.month)
        )
    )


# ---- writing -------------------------------------------------------------------------------


def next_code(session: Session, department: Department, taken: Iterable[str] = ()) -> str:
    """``SYS-<部门编码>-<NNN>``: one more than the highest number already used for the department."""
    prefix = f"SYS-{re.sub(r'[^A-Za-z0-9]', '', department.code)[:20] or department.id}-"
    existing = session.scalars(
        select(InformationSystem.code).where(InformationSystem.code.like(f"{prefix}%"))
    )
    numbers = [int(m[1]) for c in (*existing, *taken) if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", c))]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门 #{department_id} 不存在", code="department_not_found")
    return department


def _check_code_free(session: Session, code: str, system_id: int | None = None) -> None:
    other = session.scalar(select(InformationSystem).where(InformationSystem.code == code))
    if other is not None and other.id != system_id:
        raise Conflict(
            f"系统编号“{code}”已被“{other.name}”使用，请换一个编号或留空自动生成", code="system_code_taken"
        )


def create_system(session: Session, principal: Principal, data: SystemIn) -> InformationSystem:
    require_role(principal, *WRITERS, message="只有平台管理员和部门数据管理员可以登记系统")
    department_id = data.department_id
    if department_id is None and principal.role == Role.steward:
        department_id = principal.department_id
    if department_id is None:
        raise ValidationFailed("请选择系统所属部门", code="department_required")
    department = _department(session, department_id)
    require_department(principal, department.id, what=f"“{department.name}”的系统")
    values = data.model_dump(exclude={"code", "department_id"}, mode="python")
    require_unreserved(principal, None, values)
    if data.code:
        _check_code_free(session, data.code)
    system = new_system(session, department, data.code, values)
    audit.record(
        session,
        principal,
        "system.create",
        summary=f"登记系统 {system.code}“{system.name}”（{department.name}）",
        object_type="system",
        object_id=system.id,
        detail={"code": system.code, "department_id": department.id},
    )
    return system


def new_system(
    session: Session, department: Department, code: str | None, values: dict[str, Any], *, flush: bool = True
) -> InformationSystem:
    """Add a system row (no checks, no audit: callers do both); ``flush=False`` batches many inserts."""
    system = InformationSystem(code=code or next_code(session, department), department_id=department.id)
    for key, value in values.items():
        setattr(system, key, _stored(value))
    session.add(system)
    if flush:
        session.flush()
    return system


def update_system(
    session: Session, principal: Principal, system_id: int, patch: SystemPatch | dict[str, Any]
) -> InformationSystem:
    """Change the fields given; a steward may neither touch nor move systems of another department."""
    system = load_system(session, system_id)
    require_writer(principal, system.department_id)
    values = (
        patch.model_dump(exclude_unset=True, mode="python") if isinstance(patch, SystemPatch) else dict(patch)
    )
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"不能修改字段：{'、'.join(sorted(unknown))}", code="field_not_editable")
    blank = [SYSTEM_FIELD_LABELS.get(k, k) for k, v in values.items() if v is None and k in _NOT_NULL]
    if blank:
        raise ValidationFailed(f"{'、'.join(blank)}不能为空", code="field_required", detail={"fields": blank})
    require_unreserved(principal, system, values)
    new_department = values.get("department_id")
    if new_department is not None and new_department != system.department_id:
        department = _department(session, new_department)
        require_department(principal, department.id, what=f"“{department.name}”")
    if values.get("code") and values["code"] != system.code:
        _check_code_free(session, values["code"], system.id)
    changes = apply_values(system, values)
    session.flush()
    if changes:
        audit.record(
            session,
            principal,
            "system.update",
            summary=f"修改系统 {system.code}“{system.name}”：{'、'.join(SYSTEM_FIELD_LABELS.get(k, k) for k in changes)}",
            object_type="system",
            object_id=system.id,
            detail={"changes": changes},
        )
    return system


def apply_values(system: InformationSystem, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the values that differ; answer ``{field: [old, new]}`` in JSON-safe form."""
    changes: dict[str, list[Any]] = {}
    for key, value in values.items():
        new = _stored(value)
        old = getattr(system, key)
        if _same(old, new):
            continue
        changes[key] = [_jsonable(old), _jsonable(new)]
        setattr(system, key, new)
    return changes


def snapshot(system: InformationSystem) -> dict[str, Any]:
    return {key: getattr(system, key) for key in EDITABLE_FIELDS}


def diff(before: dict[str, Any], system: InformationSystem) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for the fields that changed since ``snapshot``."""
    return {
        key: [_jsonable(old), _jsonable(getattr(system, key))]
        for key, old in before.items()
        if not _same(old, getattr(system, key))
    }


def _stored(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # enums are stored by code
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float | Decimal) and isinstance(new, float | Decimal | int):
        return abs(Decimal(str(old)) - Decimal(str(new))) < Decimal("0.000001")
    return bool(old == new)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_usage(
    session: Session, principal: Principal, system_id: int, months: list[UsageIn]
) -> list[SystemUsage]:
    """Store the usage of one or more months (a month given again replaces its figures)."""
    system = load_system(session, system_id)
    require_writer(principal, system.department_id)
    if not months:
        raise ValidationFailed("请至少提供一个月的使用情况", code="usage_empty")
    seen = [m.month for m in months]
    if len(set(seen)) != len(seen):
        raise ValidationFailed("同一月份提交了多次，请每个月只填一行", code="usage_month_duplicate")
    changed = upsert_usage(session, system, [m.model_dump() for m in months])
    audit.record(
        session,
        principal,
        "system.usage",
        summary=f"填报系统 {system.code} 使用情况：{'、'.join(sorted(seen))}",
        object_type="system",
        object_id=system.id,
        detail={"months": sorted(seen), "changed": changed},
    )
    return usage_of(session, system.id)


def upsert_usage(
    session: Session,
    system: InformationSystem,
    rows: list[dict[str, Any]],
    existing: dict[str, SystemUsage] | None = None,
) -> int:
    """Insert or replace months; the newest month's utilisation becomes the system's current one.

    ``existing`` (month → row) saves the query when the caller loaded many systems' usage at once.
    Answers how many months were new or changed.
    """
    if existing is None:
        existing = {u.month: u for u in usage_of(session, system.id)}
    changed = 0
    fields = ("active_users", "transactions", "cpu_utilization", "storage_utilization")
    for row in rows:
        usage = existing.get(row["month"])
        if usage is None:
            usage = SystemUsage(system_id=system.id, month=row["month"])
            session.add(usage)
            existing[row["month"]] = usage
            changed += 1
            for key in fields:
                setattr(usage, key, row.get(key))
        elif not all(_same(getattr(usage, k), row.get(k)) for k in fields):
            for key in fields:
                setattr(usage, key, row.get(key))
            changed += 1
    latest = existing[max(existing)] if existing else None
    if latest is not None and latest.month in {r["month"] for r in rows}:
        if latest.cpu_utilization is not None:
            system.cpu_utilization = latest.cpu_utilization
        if latest.storage_utilization is not None:
            system.storage_utilization = latest.storage_utilization
    return changed


def usage_index(session: Session, system_ids: list[int]) -> dict[int, dict[str, SystemUsage]]:
    """Every month of many systems at once: system id → month → row."""
    out: dict[int, dict[str, SystemUsage]] = {i: {} for i in system_ids}
    for start in range(0, len(system_ids), 500):
        stmt = select(SystemUsage).where(SystemUsage.system_id.in_(system_ids[start : start + 500]))
        for usage in session.scalars(stmt):
            out[usage.system_id][usage.month] = usage
    return out


# ---- statistics (审计调查表) ------------------------------------------------------------------


@dataclass(frozen=True)
class ShareCount:
    status: SharingStatus
    count: int
    percent: float  # one decimal, half up

    @property
    def label(self) -> str:
        return self.status.label


@dataclass(frozen=True)
class DepartmentStats:
    department_id: int
    department_code: str
    department_name: str
    total: int
    rows: list[ShareCount]


@dataclass(frozen=True)
class CensusStats:
    total: int
    rows: list[ShareCount]
    by_department: list[DepartmentStats]


def _rows(counts: dict[str, int]) -> tuple[int, list[ShareCount]]:
    total = sum(counts.values())
    return total, [
        ShareCount(s, counts.get(s.value, 0), percent(counts.get(s.value, 0), total)) for s in SharingStatus
    ]


def stats_for(session: Session, principal: Principal, department_id: int | None = None) -> CensusStats:
    """The statistics the principal may see: a steward's own department, everything for the others."""
    require_reader(principal, department_id)
    if principal.role == Role.steward:
        department_id = principal.department_id
    return census_stats(session, department_id)


def census_stats(session: Session, department_id: int | None = None) -> CensusStats:
    """Systems by sharing status (已共享/不共享/处室内部共享/部门内部共享/单机运行), count and %, overall
    and per department. Every registered system counts, retired ones included (the survey's scope)."""
    stmt = (
        select(
            Department.id, Department.code, Department.name, InformationSystem.sharing_status, func.count()
        )
        .join(InformationSystem, InformationSystem.department_id == Department.id)
        .group_by(Department.id, Department.code, Department.name, InformationSystem.sharing_status)
        .order_by(Department.code)
    )
    if department_id is not None:
        stmt = stmt.where(Department.id == department_id)
    overall: dict[str, int] = {}
    per_department: dict[int, tuple[str, str, dict[str, int]]] = {}
    for dep_id, dep_code, dep_name, status, count in session.execute(stmt):
        overall[status] = overall.get(status, 0) + count
        per_department.setdefault(dep_id, (dep_code, dep_name, {}))[2][status] = count
    total, rows = _rows(overall)
    departments = []
    for dep_id, (dep_code, dep_name, counts) in per_department.items():
        dep_total, dep_rows = _rows(counts)
        departments.append(DepartmentStats(dep_id, dep_code, dep_name, dep_total, dep_rows))
    return CensusStats(total, rows, departments)
