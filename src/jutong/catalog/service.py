"""The resource catalog's working copies: who may see and edit them, the rules, saving, codes.

A ``Resource`` row is the working copy a steward edits; its published versions are immutable
snapshots (``ResourceVersion``, see ``catalog.workflow``). A resource is *live* while it has a
published version (``published_version`` set): every signed-in role reads that version; the working
copy (drafts, submissions, pending edits) is for the operator, auditors and the stewards of the
provider department only. ``validate_resource`` checks without writing (the Excel importer uses it
for its per-cell report); ``save_resource`` writes one resource and its items, or refuses with
``ValidationFailed`` whose ``detail`` lists ``Problem`` rows naming each field in Chinese.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from jutong.catalog import rules
from jutong.catalog.models import (
    DataElement,
    DataItem,
    Resource,
    ResourceStatus,
    ResourceVersion,
)
from jutong.catalog.schemas import DataItemIn, Problem, ResourceIn, ResourcePatch
from jutong.catalog.snapshot import diff_snapshots, same_content, snapshot_of
from jutong.core import audit
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.errors import Forbidden, NotFound, ValidationFailed
from jutong.registry.models import Department

__all__ = [
    "Problem",
    "ResourceIn",
    "next_code",
    "resource_input",
    "save_resource",
    "validate_resource",
]

READ_ROLES = (Role.operator, Role.steward, Role.auditor, Role.consumer)
WRITE_ROLES = (Role.operator, Role.steward)
MAX_PER_PAGE = 200


# ---- who may do what ------------------------------------------------------------------------


def can_read_working(principal: Principal, department_id: int) -> bool:
    """Drafts, submissions and pending edits: operator, auditors, the provider department's stewards."""
    if principal.role in (Role.operator, Role.auditor):
        return True
    return principal.role == Role.steward and principal.department_id == department_id


def can_write(principal: Principal, department_id: int | None = None) -> bool:
    if principal.role == Role.operator:
        return True
    return principal.role == Role.steward and department_id in (None, principal.department_id)


def require_writer(principal: Principal, department_id: int) -> None:
    require_role(principal, *WRITE_ROLES, message="只有平台管理员和部门数据管理员可以编目资源")
    require_department(principal, department_id, what="该资源")


def require_reader(principal: Principal) -> None:
    require_role(principal, *READ_ROLES, message="资源目录仅限平台用户查看")


def is_live(resource: Resource) -> bool:
    """Has a published version that is in the catalog (not withdrawn)."""
    return resource.published_version is not None and resource.status != ResourceStatus.withdrawn.value


# ---- reading -------------------------------------------------------------------------------


def load_resource(session: Session, resource_id: int) -> Resource:
    resource = session.scalar(
        select(Resource).options(selectinload(Resource.items)).where(Resource.id == resource_id)
    )
    if resource is None:
        raise NotFound(f"资源 #{resource_id} 不存在", code="resource_not_found")
    return resource


def get_resource(session: Session, principal: Principal, resource_id: int) -> Resource:
    """The resource, if the principal may read it at all (its working copy or its published version)."""
    require_reader(principal)
    resource = load_resource(session, resource_id)
    if not can_read_working(principal, resource.department_id) and not is_live(resource):
        raise Forbidden(
            f"资源 {resource.code} 尚未发布或已撤销，仅提供部门、平台管理员和审计人员可以查看",
            code="resource_unpublished",
            detail={"resource_id": resource.id},
        )
    return resource


def latest_version(session: Session, resource: Resource) -> ResourceVersion | None:
    if resource.published_version is None:
        return None
    return session.scalar(
        select(ResourceVersion).where(
            ResourceVersion.resource_id == resource.id, ResourceVersion.version == resource.published_version
        )
    )


def view_of(session: Session, principal: Principal, resource: Resource) -> tuple[str, dict[str, Any]]:
    """What the principal sees: ``("working", snapshot)`` or ``("published", latest version snapshot)``."""
    if can_read_working(principal, resource.department_id):
        return "working", snapshot_of(session, resource)
    version = latest_version(session, resource)
    if version is None:  # get_resource lets nobody else this far
        raise NotFound(f"资源 {resource.code} 没有已发布的版本", code="version_not_found")
    return "published", dict(version.snapshot)


@dataclass(frozen=True)
class ResourceRow:
    id: int
    code: str
    name: str
    department_id: int
    department_name: str
    status: str
    published_version: int | None
    share_type: str
    return_reason: str
    updated_at: datetime


@dataclass(frozen=True)
class ResourcePage:
    items: list[ResourceRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def list_resources(
    session: Session,
    principal: Principal,
    *,
    department_id: int | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> ResourcePage:
    """Resources the principal may see; for published-only readers, as their latest version says."""
    require_reader(principal)
    stmt = select(Resource, Department.name).join(Department, Department.id == Resource.department_id)
    if department_id is not None:
        stmt = stmt.where(Resource.department_id == department_id)
    status_code = rules.code_of(ResourceStatus, status, "状态") if status else None
    stmt = _visible(stmt, principal, status_code)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    found = session.execute(
        stmt.order_by(Department.code, Resource.code).limit(per_page).offset((page - 1) * per_page)
    ).all()
    published_only = [r.id for r, _ in found if not can_read_working(principal, r.department_id)]
    snapshots = _published_snapshots(session, published_only)
    rows = []
    for resource, department_name in found:
        snap = snapshots.get(resource.id)
        if snap is None:
            rows.append(
                ResourceRow(
                    resource.id,
                    resource.code,
                    resource.name,
                    resource.department_id,
                    department_name,
                    resource.status,
                    resource.published_version,
                    resource.share_type,
                    resource.return_reason,
                    resource.updated_at,
                )
            )
        else:
            rows.append(
                ResourceRow(
                    resource.id,
                    resource.code,
                    str(snap.get("name", "")),
                    resource.department_id,
                    department_name,
                    ResourceStatus.published.value,
                    resource.published_version,
                    str(snap.get("share_type", "")),
                    "",
                    resource.updated_at,
                )
            )
    return ResourcePage(rows, total, page, per_page)


def _visible(stmt: Any, principal: Principal, status: str | None) -> Any:
    if principal.role in (Role.operator, Role.auditor):
        return stmt.where(Resource.status == status) if status else stmt
    live = and_(Resource.published_version.is_not(None), Resource.status != ResourceStatus.withdrawn.value)
    own: Any = (
        Resource.department_id == principal.department_id if principal.role == Role.steward else false()
    )
    if status is None:
        return stmt.where(or_(own, live))
    if status == ResourceStatus.published.value:
        return stmt.where(or_(and_(own, Resource.status == status), and_(~own, live)))
    return stmt.where(own, Resource.status == status)


def _published_snapshots(session: Session, resource_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not resource_ids:
        return {}
    stmt = (
        select(ResourceVersion.resource_id, ResourceVersion.snapshot)
        .join(Resource, Resource.id == ResourceVersion.resource_id)
        .where(
            ResourceVersion.resource_id.in_(resource_ids),
            ResourceVersion.version == Resource.published_version,
        )
    )
    return {rid: dict(snap) for rid, snap in session.execute(stmt)}


# ---- checking ------------------------------------------------------------------------------


def validate_resource(
    session: Session, data: ResourceIn, *, resource: Resource | None = None, for_submit: bool = False
) -> list[Problem]:
    """Every problem with ``data`` (errors and recommendations), writing nothing.

    ``resource`` is the working copy being replaced (None for a new one); ``for_submit`` adds the
    rules a resource must meet before review (at least one data item, at least one key item).
    """
    return rules.check(session, data, resource=resource, for_submit=for_submit).problems


def raise_problems(problems: list[Problem], what: str) -> None:
    errors = [p for p in problems if p.is_error]
    if not errors:
        return
    first = "；".join(f"{p.label}：{p.problem}" for p in errors[:3])
    more = f"等 {len(errors)} 处" if len(errors) > 3 else ""
    raise ValidationFailed(
        f"{what}未通过校验：{first}{more}",
        code="resource_invalid",
        detail=[p.as_dict() for p in problems],
    )


# ---- writing -------------------------------------------------------------------------------


def next_code(session: Session, classification_code: str, taken: tuple[str, ...] = ()) -> str:
    """``<分类码>/<6 位顺序码>``: one more than the highest sequence used under the classification."""
    prefix = f"{classification_code}/"
    existing = session.scalars(select(Resource.code).where(Resource.code.like(f"{prefix}%")))
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    numbers = [int(m[1]) for c in (*existing, *taken) if (m := pattern.fullmatch(c))]
    return f"{prefix}{max(numbers, default=0) + 1:06d}"


def save_resource(
    session: Session, principal: Principal, data: ResourceIn, resource: Resource | None = None
) -> Resource:
    """Create a resource (``resource`` None) or replace its working copy with ``data`` (items included).

    A steward catalogs for their own department only. A change puts the working copy in draft
    (the published version stays live until the next one is published); a change that brings it
    back to the published content makes it published again.
    """
    require_role(principal, *WRITE_ROLES, message="只有平台管理员和部门数据管理员可以编目资源")
    if resource is not None:
        resource = load_resource(session, resource.id)
        require_writer(principal, resource.department_id)
    department_id = data.department_id
    if department_id is None:
        if resource is not None:
            department_id = resource.department_id
        elif principal.role == Role.steward:
            department_id = principal.department_id
    if department_id is not None and (resource is None or department_id != resource.department_id):
        require_department(principal, department_id, what="该部门的资源")
    data = data.model_copy(update={"department_id": department_id})
    checked = rules.check(session, data, resource=resource)
    raise_problems(checked.problems, f"资源“{data.name}”")
    values = checked.values
    if resource is None:
        return _create(session, principal, data, values, checked.items)
    return _update(session, principal, resource, values, checked.items)


def _create(
    session: Session,
    principal: Principal,
    data: ResourceIn,
    values: dict[str, Any],
    items: list[dict[str, Any]],
) -> Resource:
    code = data.code or next_code(session, values["classification_code"])
    resource = Resource(
        code=code,
        created_by=principal.user_id,
        status=ResourceStatus.draft.value,
        items=[DataItem(**item) for item in items],
        **values,
    )
    session.add(resource)
    session.flush()
    department = session.get(Department, resource.department_id)
    audit.record(
        session,
        principal,
        "catalog.create",
        summary=f"编目资源 {resource.code}“{resource.name}”（{department.name if department else ''}，"
        f"{len(items)} 个信息项）",
        object_type="resource",
        object_id=resource.id,
        detail={"code": resource.code, "department_id": resource.department_id, "items": len(items)},
    )
    return resource


def _item_values(item: DataItem) -> dict[str, Any]:
    return {key: getattr(item, key) for key in rules.ITEM_COLUMNS}


def _update(
    session: Session,
    principal: Principal,
    resource: Resource,
    values: dict[str, Any],
    items: list[dict[str, Any]],
) -> Resource:
    before = snapshot_of(session, resource)
    for key, value in values.items():
        setattr(resource, key, value)
    if [_item_values(i) for i in resource.items] != items:
        resource.items.clear()
        session.flush()  # the old rows go first: names are unique within a resource
        resource.items.extend(DataItem(**item) for item in items)
    session.flush()
    after = snapshot_of(session, resource)
    changes = diff_snapshots(before, after)
    if not changes and same_content(before, after):
        return resource
    published = latest_version(session, resource)
    if published is not None and same_content(published.snapshot, after) and is_live(resource):
        resource.status = ResourceStatus.published.value
    else:
        resource.status = ResourceStatus.draft.value
    session.flush()
    audit.record(
        session,
        principal,
        "catalog.update",
        summary=f"修改资源 {resource.code}“{resource.name}”："
        + ("、".join(c.label for c in changes) or "信息项顺序"),
        object_type="resource",
        object_id=resource.id,
        detail={"changes": [c.summary for c in changes], "status": resource.status},
    )
    return resource


def resource_input(session: Session, resource: Resource) -> ResourceIn:
    """The working copy as input (explicit values everywhere): what PATCH and the editor start from."""
    snap = snapshot_of(session, resource)
    return ResourceIn(
        code=resource.code,
        classification_code=resource.classification_code,
        name=resource.name,
        department_id=resource.department_id,
        summary=resource.summary,
        format_category=resource.format_category,
        format_type=resource.format_type,
        share_type=resource.share_type,
        share_condition=resource.share_condition,
        delivery=resource.delivery,
        open_type=resource.open_type,
        open_condition=resource.open_condition,
        update_cycle=resource.update_cycle,
        publish_date=resource.publish_date,
        system_id=resource.system_id,
        related_codes=list(resource.related_codes or []),
        items=[
            DataItemIn(
                name=i["name"],
                column_name=i["column_name"],
                element_identifier=i["element_identifier"],
                data_type=i["data_type"],
                length=i["length"],
                code_set_identifier=i["code_set_identifier"],
                required=i["required"],
                is_key=i["is_key"],
                sensitive=i["sensitive"],
                security_level=i["security_level"],
                description=i["description"],
            )
            for i in snap["items"]
        ],
    )


_NULLABLE = frozenset({"publish_date", "system_id", "system_code"})


def patch_resource(
    session: Session, principal: Principal, resource_id: int, patch: ResourcePatch
) -> Resource:
    """Replace the fields given (and, if given, all the items) of the working copy."""
    resource = load_resource(session, resource_id)
    require_writer(principal, resource.department_id)
    updates = {
        key: getattr(patch, key)
        for key in patch.model_fields_set
        if getattr(patch, key) is not None or key in _NULLABLE
    }
    if "system_code" in updates and "system_id" not in updates:
        updates["system_id"] = None  # the code given decides
    data = resource_input(session, resource).model_copy(update=updates)
    return save_resource(session, principal, data, resource)


def working_problems(session: Session, resource: Resource) -> list[Problem]:
    """What still stands between the working copy and review (errors) and recommendations (warnings)."""
    return validate_resource(session, resource_input(session, resource), resource=resource, for_submit=True)


def element_names(session: Session, identifiers: list[str]) -> dict[str, str]:
    if not identifiers:
        return {}
    stmt = select(DataElement.identifier, DataElement.name).where(DataElement.identifier.in_(identifiers))
    return {identifier: name for identifier, name in session.execute(stmt)}
