"""The catalog workflow: submit, publish, send back, withdraw, versions and the yearly review.

draft → submitted (steward of the provider department or operator) → published by the operator (a
new immutable ``ResourceVersion``; the search entry follows) or sent back with a reason (→ draft).
Editing a published resource puts its working copy back in draft while the last published version
stays live. Withdrawing takes the resource out of the catalog (``published_version`` cleared, the
search entry removed); its versions are kept and a later publication continues their numbering.

Yearly review (seed 002: 每年 8 月底前更新目录): every live resource not reviewed this calendar
year, where published counts as reviewed; a steward confirms "已复核，无变化" or edits and republishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource, ResourceStatus, ResourceVersion
from jutong.catalog.schemas import Problem
from jutong.catalog.service import (
    can_read_working,
    is_live,
    latest_version,
    load_resource,
    raise_problems,
    require_reader,
    require_writer,
    resource_input,
    validate_resource,
)
from jutong.catalog.snapshot import Change, diff_snapshots, same_content, snapshot_of
from jutong.core import audit
from jutong.core.auth import Principal, Role, require_role
from jutong.core.clock import PLATFORM_TZ, today
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.registry.models import Department, User

REVIEW_DEADLINE = (8, 31)  # 每年 8 月 31 日前完成目录更新


def _status_label(resource: Resource) -> str:
    member = ResourceStatus.from_label(resource.status)
    return member.label if member is not None else resource.status


def _refresh_search(session: Session, resource: Resource) -> None:
    from jutong.catalog.search import refresh_entry  # imported late: search reads what we write

    refresh_entry(session, resource)


def submit(session: Session, principal: Principal, resource_id: int) -> Resource:
    """Send the working copy for review; it must meet every rule, items and key items included."""
    resource = load_resource(session, resource_id)
    require_writer(principal, resource.department_id)
    if resource.status == ResourceStatus.submitted.value:
        raise Conflict(f"资源 {resource.code} 已提交，正在等待平台管理员审核", code="already_submitted")
    if resource.status == ResourceStatus.published.value:
        raise Conflict(
            f"资源 {resource.code} 没有未发布的修改，无需提交；如需更新请先修改", code="nothing_to_submit"
        )
    raise_problems(
        validate_resource(session, resource_input(session, resource), resource=resource, for_submit=True),
        f"资源“{resource.name}”",
    )
    published = latest_version(session, resource)
    if (
        published is not None
        and is_live(resource)
        and same_content(published.snapshot, snapshot_of(session, resource))
    ):
        raise Conflict(
            f"资源 {resource.code} 与已发布的第 {published.version} 版相同，无需提交",
            code="nothing_to_submit",
        )
    resource.status = ResourceStatus.submitted.value
    resource.return_reason = ""
    session.flush()
    audit.record(
        session,
        principal,
        "catalog.submit",
        summary=f"提交审核：资源 {resource.code}“{resource.name}”",
        object_type="resource",
        object_id=resource.id,
    )
    return resource


def _submitter(session: Session, resource: Resource) -> int | None:
    from jutong.core.audit import AuditEvent

    return session.scalar(
        select(AuditEvent.actor_id)
        .where(
            AuditEvent.action == "catalog.submit",
            AuditEvent.object_type == "resource",
            AuditEvent.object_id == str(resource.id),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def publish(session: Session, principal: Principal, resource_id: int, note: str = "") -> ResourceVersion:
    """The operator publishes a submitted resource as its next version."""
    require_role(principal, Role.operator, message="只有平台管理员可以审核发布目录")
    resource = load_resource(session, resource_id)
    if resource.status != ResourceStatus.submitted.value:
        raise Conflict(
            f"资源 {resource.code} 当前为“{_status_label(resource)}”，只有待审核的资源可以发布",
            code="not_submitted",
        )
    raise_problems(
        validate_resource(session, resource_input(session, resource), resource=resource, for_submit=True),
        f"资源“{resource.name}”",
    )
    previous = latest_version(session, resource) if is_live(resource) else None
    if resource.publish_date is None:
        resource.publish_date = today()
    highest = session.scalar(
        select(func.max(ResourceVersion.version)).where(ResourceVersion.resource_id == resource.id)
    )
    number = (highest or 0) + 1
    snapshot = snapshot_of(session, resource)
    changes = diff_snapshots(previous.snapshot if previous else None, snapshot)
    version = ResourceVersion(
        resource_id=resource.id,
        version=number,
        snapshot=snapshot,
        change_note=note.strip(),
        submitted_by=_submitter(session, resource),
        published_by=principal.user_id,
    )
    session.add(version)
    resource.status = ResourceStatus.published.value
    resource.published_version = number
    resource.return_reason = ""
    session.flush()
    _refresh_search(session, resource)
    audit.record(
        session,
        principal,
        "catalog.publish",
        summary=f"发布资源 {resource.code}“{resource.name}”第 {number} 版",
        object_type="resource",
        object_id=resource.id,
        detail={"version": number, "changes": [c.summary for c in changes], "note": note.strip()},
    )
    return version


def send_back(session: Session, principal: Principal, resource_id: int, reason: str) -> Resource:
    """The operator returns a submission to the steward with the reason (退回)."""
    require_role(principal, Role.operator, message="只有平台管理员可以退回目录")
    resource = load_resource(session, resource_id)
    if resource.status != ResourceStatus.submitted.value:
        raise Conflict(
            f"资源 {resource.code} 当前为“{_status_label(resource)}”，只有待审核的资源可以退回",
            code="not_submitted",
        )
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            "退回必须写明理由",
            code="return_reason_required",
            detail=[
                Problem(
                    "reason",
                    "退回理由为空",
                    "请写明需要修改的地方，部门会看到这段话",
                    "return_reason_required",
                    "退回理由",
                ).as_dict()
            ],
        )
    resource.status = ResourceStatus.draft.value
    resource.return_reason = reason
    session.flush()
    audit.record(
        session,
        principal,
        "catalog.return",
        summary=f"退回资源 {resource.code}“{resource.name}”：{reason}",
        object_type="resource",
        object_id=resource.id,
        detail={"reason": reason},
    )
    return resource


def withdraw(session: Session, principal: Principal, resource_id: int, reason: str = "") -> Resource:
    """Take a published resource out of the catalog; its versions stay."""
    resource = load_resource(session, resource_id)
    require_writer(principal, resource.department_id)
    if not is_live(resource):
        raise Conflict(f"资源 {resource.code} 没有已发布的版本，无需撤销", code="not_published")
    last = resource.published_version
    resource.status = ResourceStatus.withdrawn.value
    resource.published_version = None
    session.flush()
    _refresh_search(session, resource)
    audit.record(
        session,
        principal,
        "catalog.withdraw",
        summary=f"撤销资源 {resource.code}“{resource.name}”（原第 {last} 版）"
        + (f"：{reason.strip()}" if reason.strip() else ""),
        object_type="resource",
        object_id=resource.id,
        detail={"version": last, "reason": reason.strip()},
    )
    return resource


def mark_reviewed(
    session: Session, principal: Principal, resource_id: int, on: date | None = None
) -> Resource:
    """Yearly review: the steward confirms the published entry is still right (已复核，无变化)."""
    resource = load_resource(session, resource_id)
    require_writer(principal, resource.department_id)
    if not is_live(resource):
        raise Conflict(f"资源 {resource.code} 尚未发布，无需年度复核", code="not_published")
    resource.reviewed_on = on or today()
    session.flush()
    audit.record(
        session,
        principal,
        "catalog.review",
        summary=f"年度复核资源 {resource.code}“{resource.name}”：已复核，无变化",
        object_type="resource",
        object_id=resource.id,
        detail={"reviewed_on": resource.reviewed_on.isoformat()},
    )
    return resource


# ---- versions and differences --------------------------------------------------------------


def _require_history(principal: Principal, resource: Resource) -> None:
    require_reader(principal)
    if not can_read_working(principal, resource.department_id) and not is_live(resource):
        raise Forbidden(
            f"资源 {resource.code} 尚未发布或已撤销，仅提供部门、平台管理员和审计人员可以查看其版本",
            code="resource_unpublished",
        )


@dataclass(frozen=True)
class VersionInfo:
    version: int
    published_at: datetime
    published_by: str | None
    submitted_by: str | None
    change_note: str
    snapshot: dict[str, Any]


def list_versions(session: Session, principal: Principal, resource_id: int) -> list[VersionInfo]:
    """Every published version, newest first."""
    resource = load_resource(session, resource_id)
    _require_history(principal, resource)
    rows = session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_id == resource.id)
        .order_by(ResourceVersion.version.desc())
    ).all()
    user_ids = {i for r in rows for i in (r.published_by, r.submitted_by) if i is not None}
    names = (
        {
            u.id: u.display_name or u.username
            for u in session.scalars(select(User).where(User.id.in_(user_ids)))
        }
        if user_ids
        else {}
    )
    return [
        VersionInfo(
            r.version,
            r.published_at,
            names.get(r.published_by) if r.published_by else None,
            names.get(r.submitted_by) if r.submitted_by else None,
            r.change_note,
            dict(r.snapshot),
        )
        for r in rows
    ]


def get_version(session: Session, principal: Principal, resource_id: int, number: int) -> VersionInfo:
    for info in list_versions(session, principal, resource_id):
        if info.version == number:
            return info
    raise NotFound(f"资源 #{resource_id} 没有第 {number} 版", code="version_not_found")


DRAFT = "draft"


def _snapshot_at(session: Session, principal: Principal, resource: Resource, which: str) -> dict[str, Any]:
    if which == DRAFT:
        if not can_read_working(principal, resource.department_id):
            raise Forbidden("工作副本仅提供部门、平台管理员和审计人员可以查看", code="resource_unpublished")
        return snapshot_of(session, resource)
    if not which.isdigit():
        raise ValidationFailed(f"“{which}”不是版本号，请填写数字或 draft（工作副本）", code="version_invalid")
    version = session.scalar(
        select(ResourceVersion).where(
            ResourceVersion.resource_id == resource.id, ResourceVersion.version == int(which)
        )
    )
    if version is None:
        raise NotFound(f"资源 {resource.code} 没有第 {which} 版", code="version_not_found")
    return dict(version.snapshot)


@dataclass(frozen=True)
class Diff:
    resource: Resource
    from_version: str
    to_version: str
    changes: list[Change]


def diff(
    session: Session, principal: Principal, resource_id: int, from_: str | None = None, to: str | None = None
) -> Diff:
    """Changes between two versions; ``draft`` is the working copy. By default: the latest published
    version against the working copy, or for published-only readers the latest two versions."""
    resource = load_resource(session, resource_id)
    _require_history(principal, resource)
    highest = session.scalar(
        select(func.max(ResourceVersion.version)).where(ResourceVersion.resource_id == resource.id)
    )
    if can_read_working(principal, resource.department_id):  # the live version against the working copy
        from_ = from_ or str(resource.published_version or highest or DRAFT)
        to = to or DRAFT
    else:  # the latest version against the one before
        to = to or str(highest)
        from_ = from_ or str(max((highest or 1) - 1, 1))
    a = _snapshot_at(session, principal, resource, from_)
    b = _snapshot_at(session, principal, resource, to)
    return Diff(resource, from_, to, diff_snapshots(a, b))


# ---- the operator's queue ------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    resource: Resource
    department_name: str
    submitted_at: datetime
    changes: list[Change]


def review_queue(session: Session, principal: Principal) -> list[QueueRow]:
    """Submitted resources, oldest first, each with what changed since its last published version."""
    require_role(principal, Role.operator, message="目录审核仅限平台管理员")
    rows = session.execute(
        select(Resource, Department.name)
        .join(Department, Department.id == Resource.department_id)
        .where(Resource.status == ResourceStatus.submitted.value)
        .order_by(Resource.updated_at, Resource.id)
    ).all()
    out = []
    for resource, department_name in rows:
        previous = latest_version(session, resource) if is_live(resource) else None
        changes = diff_snapshots(previous.snapshot, snapshot_of(session, resource)) if previous else []
        out.append(QueueRow(resource, department_name, resource.updated_at, changes))
    return out


# ---- yearly review -------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskResource:
    id: int
    code: str
    name: str
    last_reviewed: date | None


@dataclass(frozen=True)
class DepartmentTask:
    department_id: int
    department_name: str
    total: int
    reviewed: int
    pending: list[TaskResource]

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else round(self.reviewed * 100 / self.total)


@dataclass(frozen=True)
class ReviewTasks:
    year: int
    deadline: date
    days_left: int  # negative: overdue
    departments: list[DepartmentTask]

    @property
    def pending(self) -> int:
        return sum(len(d.pending) for d in self.departments)


def review_tasks(
    session: Session, principal: Principal, *, department_id: int | None = None, on: date | None = None
) -> ReviewTasks:
    """Per department, the live resources not reviewed (or published) in the current calendar year."""
    require_role(
        principal,
        Role.operator,
        Role.steward,
        Role.auditor,
        message="年度复核任务仅限平台管理员、部门数据管理员和审计人员查看",
    )
    day = on or today()
    if principal.role == Role.steward:
        department_id = principal.department_id
    deadline = date(day.year, *REVIEW_DEADLINE)
    departments = session.execute(select(Department.id, Department.name).order_by(Department.code)).all()
    if department_id is not None:
        departments = [d for d in departments if d[0] == department_id]
    stmt = select(Resource).where(
        Resource.published_version.is_not(None), Resource.status != ResourceStatus.withdrawn.value
    )
    if department_id is not None:
        stmt = stmt.where(Resource.department_id == department_id)
    live = list(session.scalars(stmt.order_by(Resource.code)))
    last_published: dict[int, datetime] = {
        rid: at
        for rid, at in session.execute(
            select(ResourceVersion.resource_id, func.max(ResourceVersion.published_at))
            .where(ResourceVersion.resource_id.in_([r.id for r in live]))
            .group_by(ResourceVersion.resource_id)
        )
    }
    by_department: dict[int, list[tuple[Resource, date | None]]] = {}
    for resource in live:
        at = last_published.get(resource.id)
        dates = [d for d in (resource.reviewed_on, at.astimezone(PLATFORM_TZ).date() if at else None) if d]
        by_department.setdefault(resource.department_id, []).append((resource, max(dates, default=None)))
    start = date(day.year, 1, 1)
    tasks = []
    for dep_id, dep_name in departments:
        entries = by_department.get(dep_id, [])
        pending = [
            TaskResource(r.id, r.code, r.name, last) for r, last in entries if last is None or last < start
        ]
        tasks.append(DepartmentTask(dep_id, dep_name, len(entries), len(entries) - len(pending), pending))
    return ReviewTasks(day.year, deadline, (deadline - day).days, tasks)
