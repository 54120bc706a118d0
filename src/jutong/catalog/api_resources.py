"""API: catalog resources, their workflow, versions and the yearly review, under /api/v1/catalog."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from jutong.catalog import service, workflow
from jutong.catalog.models import (
    DataType,
    Delivery,
    FormatCategory,
    OpenType,
    Resource,
    ResourceStatus,
    SecurityLevel,
    ShareType,
    UpdateCycle,
)
from jutong.catalog.schemas import (
    AttributeChangeOut,
    ChangeOut,
    DataItemOut,
    DepartmentTaskOut,
    DiffOut,
    NoteIn,
    ProblemOut,
    QueueRowOut,
    ReasonIn,
    ResourceIn,
    ResourceOut,
    ResourcePageOut,
    ResourcePatch,
    ResourceRowOut,
    TaskResourceOut,
    TasksOut,
    VersionDetailOut,
    VersionOut,
)
from jutong.catalog.snapshot import Change
from jutong.core.auth import Principal
from jutong.web.deps import CurrentPrincipal, DbSession

router = APIRouter(tags=["资源目录"])


def items_out(session: Session, snapshot: dict[str, Any]) -> list[DataItemOut]:
    items = snapshot.get("items") or []
    names = service.element_names(session, [str(i.get("element_identifier")) for i in items])
    return [
        DataItemOut(
            position=i["position"],
            name=i["name"],
            column_name=i["column_name"],
            element_identifier=i["element_identifier"],
            element_name=names.get(i["element_identifier"], ""),
            data_type=i["data_type"],
            data_type_label=DataType.label_for(i["data_type"]),
            length=i.get("length"),
            code_set_identifier=i.get("code_set_identifier"),
            required=bool(i.get("required")),
            is_key=bool(i.get("is_key")),
            sensitive=bool(i.get("sensitive")),
            security_level=i["security_level"],
            security_level_label=SecurityLevel.label_for(i["security_level"]),
            description=i.get("description", ""),
        )
        for i in items
    ]


def resource_out(session: Session, principal: Principal, resource: Resource) -> ResourceOut:
    view, snap = service.view_of(session, principal, resource)
    problems = service.working_problems(session, resource) if view == "working" else []
    return ResourceOut(
        id=resource.id,
        view=view,
        status=resource.status if view == "working" else ResourceStatus.published.value,
        status_label=ResourceStatus.label_for(resource.status if view == "working" else "published"),
        published_version=resource.published_version,
        return_reason=resource.return_reason if view == "working" else "",
        reviewed_on=resource.reviewed_on,
        created_at=resource.created_at,
        updated_at=resource.updated_at,
        code=snap["code"],
        classification_code=snap["classification_code"],
        name=snap["name"],
        department_id=snap["department_id"],
        department_name=snap["department_name"],
        provider_code=snap["provider_code"],
        summary=snap["summary"],
        format_category=snap["format_category"],
        format_category_label=FormatCategory.label_for(snap["format_category"]),
        format_type=snap["format_type"],
        share_type=snap["share_type"],
        share_type_label=ShareType.label_for(snap["share_type"]),
        share_condition=snap["share_condition"],
        delivery=snap["delivery"],
        delivery_label=Delivery.label_for(snap["delivery"]),
        open_type=snap["open_type"],
        open_type_label=OpenType.label_for(snap["open_type"]),
        open_condition=snap["open_condition"],
        update_cycle=snap["update_cycle"],
        update_cycle_label=UpdateCycle.label_for(snap["update_cycle"]),
        publish_date=snap["publish_date"],
        system_id=snap["system_id"],
        system_code=snap["system_code"],
        related_codes=list(snap["related_codes"]),
        security_level=snap["security_level"],
        security_level_label=SecurityLevel.label_for(snap["security_level"]),
        items=items_out(session, snap),
        problems=[ProblemOut(**p.as_dict()) for p in problems],
    )


def change_out(change: Change) -> ChangeOut:
    return ChangeOut(
        kind=change.kind,
        field=change.field,
        label=change.label,
        old=change.old,
        new=change.new,
        old_text=change.old_text,
        new_text=change.new_text,
        attributes=[
            AttributeChangeOut(
                field=a.field, label=a.label, old=a.old, new=a.new, old_text=a.old_text, new_text=a.new_text
            )
            for a in change.attributes
        ],
    )


def _version_out(info: workflow.VersionInfo) -> VersionOut:
    return VersionOut(
        version=info.version,
        published_at=info.published_at,
        published_by=info.published_by,
        submitted_by=info.submitted_by,
        change_note=info.change_note,
    )


@router.get(
    "/catalog/resources", response_model=ResourcePageOut, summary="资源列表（按部门、状态筛选，分页）"
)
def list_resources(
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: int | None = None,
    status: Annotated[str | None, Query(description="状态：草稿/待审核/已发布/已撤销 或代码")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = 50,
) -> ResourcePageOut:
    result = service.list_resources(
        session, principal, department_id=department_id, status=status, page=page, per_page=per_page
    )
    return ResourcePageOut(
        items=[
            ResourceRowOut(
                id=r.id,
                code=r.code,
                name=r.name,
                department_id=r.department_id,
                department_name=r.department_name,
                status=r.status,
                status_label=ResourceStatus.label_for(r.status),
                published_version=r.published_version,
                share_type=r.share_type,
                share_type_label=ShareType.label_for(r.share_type),
                return_reason=r.return_reason,
                updated_at=r.updated_at,
            )
            for r in result.items
        ],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
    )


@router.post(
    "/catalog/resources",
    response_model=ResourceOut,
    status_code=201,
    summary="编目资源（新建草稿，资源代码自动生成）",
    responses={422: {"description": "未通过校验：detail 逐项列出 field、problem、fix"}},
)
def create_resource(body: ResourceIn, session: DbSession, principal: CurrentPrincipal) -> ResourceOut:
    resource = service.save_resource(session, principal, body)
    return resource_out(session, principal, service.load_resource(session, resource.id))


@router.get("/catalog/review-queue", response_model=list[QueueRowOut], summary="目录审核队列（平台管理员）")
def review_queue(session: DbSession, principal: CurrentPrincipal) -> list[QueueRowOut]:
    return [
        QueueRowOut(
            id=row.resource.id,
            code=row.resource.code,
            name=row.resource.name,
            department_name=row.department_name,
            published_version=row.resource.published_version,
            submitted_at=row.submitted_at,
            changes=len(row.changes),
        )
        for row in workflow.review_queue(session, principal)
    ]


@router.get("/catalog/tasks", response_model=TasksOut, summary="年度目录复核任务（每年 8 月 31 日前）")
def tasks(session: DbSession, principal: CurrentPrincipal, department_id: int | None = None) -> TasksOut:
    result = workflow.review_tasks(session, principal, department_id=department_id)
    return TasksOut(
        year=result.year,
        deadline=result.deadline,
        days_left=result.days_left,
        departments=[
            DepartmentTaskOut(
                department_id=d.department_id,
                department_name=d.department_name,
                total=d.total,
                reviewed=d.reviewed,
                pending=[
                    TaskResourceOut(id=p.id, code=p.code, name=p.name, last_reviewed=p.last_reviewed)
                    for p in d.pending
                ],
            )
            for d in result.departments
        ],
    )


@router.get("/catalog/resources/{resource_id}", response_model=ResourceOut, summary="资源详情")
def get_resource(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> ResourceOut:
    return resource_out(session, principal, service.get_resource(session, principal, resource_id))


@router.patch(
    "/catalog/resources/{resource_id}",
    response_model=ResourceOut,
    summary="修改工作副本（只替换提交的字段；提交 items 时整体替换信息项）",
)
def patch_resource(
    resource_id: int, body: ResourcePatch, session: DbSession, principal: CurrentPrincipal
) -> ResourceOut:
    service.patch_resource(session, principal, resource_id, body)
    return resource_out(session, principal, service.load_resource(session, resource_id))


@router.post("/catalog/resources/{resource_id}/submit", response_model=ResourceOut, summary="提交审核")
def submit(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> ResourceOut:
    return resource_out(session, principal, workflow.submit(session, principal, resource_id))


@router.post(
    "/catalog/resources/{resource_id}/publish", response_model=ResourceOut, summary="审核发布（平台管理员）"
)
def publish(
    resource_id: int, session: DbSession, principal: CurrentPrincipal, body: NoteIn | None = None
) -> ResourceOut:
    workflow.publish(session, principal, resource_id, body.note if body else "")
    return resource_out(session, principal, service.load_resource(session, resource_id))


@router.post(
    "/catalog/resources/{resource_id}/return",
    response_model=ResourceOut,
    summary="退回修改（平台管理员，须写明理由）",
)
def send_back(
    resource_id: int, body: ReasonIn, session: DbSession, principal: CurrentPrincipal
) -> ResourceOut:
    return resource_out(session, principal, workflow.send_back(session, principal, resource_id, body.reason))


@router.post(
    "/catalog/resources/{resource_id}/withdraw", response_model=ResourceOut, summary="撤销已发布的资源"
)
def withdraw(
    resource_id: int, session: DbSession, principal: CurrentPrincipal, body: ReasonIn | None = None
) -> ResourceOut:
    resource = workflow.withdraw(session, principal, resource_id, body.reason if body else "")
    return resource_out(session, principal, resource)


@router.post(
    "/catalog/resources/{resource_id}/review", response_model=ResourceOut, summary="年度复核：已复核，无变化"
)
def mark_reviewed(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> ResourceOut:
    return resource_out(session, principal, workflow.mark_reviewed(session, principal, resource_id))


@router.get(
    "/catalog/resources/{resource_id}/versions",
    response_model=list[VersionOut],
    summary="已发布的版本（新的在前）",
)
def versions(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> list[VersionOut]:
    return [_version_out(v) for v in workflow.list_versions(session, principal, resource_id)]


@router.get(
    "/catalog/resources/{resource_id}/versions/{number}",
    response_model=VersionDetailOut,
    summary="某一版本的快照",
)
def version(
    resource_id: int, number: int, session: DbSession, principal: CurrentPrincipal
) -> VersionDetailOut:
    info = workflow.get_version(session, principal, resource_id, number)
    return VersionDetailOut(**_version_out(info).model_dump(), snapshot=info.snapshot)


@router.get(
    "/catalog/resources/{resource_id}/diff",
    response_model=DiffOut,
    summary="两个版本之间的差异（draft 表示工作副本；默认为最新发布版本与工作副本）",
)
def diff(
    resource_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    from_: Annotated[str | None, Query(alias="from", description="起始版本号或 draft")] = None,
    to: Annotated[str | None, Query(description="目标版本号或 draft")] = None,
) -> DiffOut:
    result = workflow.diff(session, principal, resource_id, from_, to)
    return DiffOut(
        resource_id=resource_id,
        from_version=result.from_version,
        to_version=result.to_version,
        changes=[change_out(c) for c in result.changes],
    )
