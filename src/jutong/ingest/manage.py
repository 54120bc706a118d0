"""What the API and the pages share beyond ``service``: finding objects by id (404 with a Chinese
message), removing a source, and pulling a source on demand."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import audit, jobs
from jutong.core.auth import Principal
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.ingest import pipeline, service
from jutong.ingest.models import Load, Mapping, Source, SourceKind


def get_resource(session: Session, resource_id: int) -> Resource:
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound(f"资源 #{resource_id} 不存在", code="resource_not_found")
    return resource


def get_load(session: Session, load_id: int) -> tuple[Load, Resource]:
    load = session.get(Load, load_id)
    if load is None:
        raise NotFound(f"批次 #{load_id} 不存在", code="load_not_found")
    return load, get_resource(session, load.resource_id)


def get_mapping(session: Session, mapping_id: int) -> tuple[Mapping, Resource]:
    found = session.get(Mapping, mapping_id)
    if found is None:
        raise NotFound(f"映射 #{mapping_id} 不存在", code="mapping_not_found")
    return found, get_resource(session, found.resource_id)


def get_source(session: Session, source_id: int) -> tuple[Source, Resource]:
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"数据源 #{source_id} 不存在", code="source_not_found")
    return source, get_resource(session, source.resource_id)


def delete_source(session: Session, principal: Principal, source: Source, resource: Resource) -> None:
    """Remove a source no load came from (loads keep their record of where their data came from)."""
    pipeline.require_loader(principal, resource)
    used = int(session.scalar(select(func.count()).select_from(Load).where(Load.source_id == source.id)) or 0)
    if used:
        raise Conflict(
            f"数据源“{source.name}”已有 {used} 个归集批次，为保留批次的来源记录不能删除",
            code="source_in_use",
            detail={"loads": used, "fix": "不再使用时可关闭它的定时拉取"},
        )
    source_id, name = source.id, source.name
    session.delete(source)
    session.flush()
    audit.record(
        session,
        principal,
        "ingest.source.delete",
        summary=f"删除数据源 {resource.code}“{name}”",
        object_type="source",
        object_id=source_id,
        detail={"resource_id": resource.id},
    )


def request_pull(session: Session, principal: Principal, source: Source, resource: Resource) -> jobs.Job:
    """Queue a pull of a database or HTTP source now (the background worker runs it); audited."""
    pipeline.require_loader(principal, resource)
    pipeline.published_snapshot(session, resource)
    if source.kind == SourceKind.file.value:
        raise ValidationFailed(f"数据源“{source.name}”是文件上传，请上传文件归集", code="source_is_file")
    service.ensure_not_running(session, resource)
    job = jobs.enqueue(
        session,
        "ingest.pull",
        {
            "source_id": source.id,
            "user_id": principal.user_id,
            "username": principal.username,
            "role": principal.role.value,
            "department_id": principal.department_id,
        },
        max_attempts=1,
        created_by=principal.user_id,
    )
    assert job is not None
    audit.record(
        session,
        principal,
        "ingest.pull.request",
        summary=f"请求立即从数据源 {resource.code}“{source.name}”拉取数据（任务 #{job.id}）",
        object_type="source",
        object_id=source.id,
        detail={"resource_id": resource.id, "job_id": job.id},
    )
    return job
