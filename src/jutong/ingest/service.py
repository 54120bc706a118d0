"""Ingest as the edges use it: sources, and loads run as their own units of work.

``load_file``/``load_source`` are for boundaries that own their transactions (the CLI, background
jobs): the load is committed as running first, so a killed process leaves a trace that
``recover_interrupted`` turns into a failed load; the data and the outcome are committed together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource, UpdateCycle
from jutong.core import audit, db, jobs
from jutong.core.auth import Principal
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.ingest import pipeline
from jutong.ingest.models import Load, LoadMode, Mapping, Source, SourceKind

# how long a scheduled pull waits after the previous one, by the resource's update cycle
CYCLE_INTERVALS: dict[str, timedelta] = {
    UpdateCycle.realtime.value: timedelta(minutes=15),
    UpdateCycle.daily.value: timedelta(days=1),
    UpdateCycle.weekly.value: timedelta(days=7),
    UpdateCycle.monthly.value: timedelta(days=30),
    UpdateCycle.quarterly.value: timedelta(days=91),
    UpdateCycle.semiannual.value: timedelta(days=182),
    UpdateCycle.yearly.value: timedelta(days=365),
}


# ---- mappings and sources -----------------------------------------------------------------------


def mapping_by_name(session: Session, resource: Resource, name: str | None) -> Mapping | None:
    if not name:
        return None
    mapping = session.scalar(select(Mapping).where(Mapping.resource_id == resource.id, Mapping.name == name))
    if mapping is None:
        names = list(session.scalars(select(Mapping.name).where(Mapping.resource_id == resource.id)))
        raise NotFound(
            f"资源 {resource.code} 没有名为“{name}”的映射",
            code="mapping_not_found",
            detail={"available": names, "fix": "已保存的映射：" + ("、".join(names) or "无")},
        )
    return mapping


def source_by_name(session: Session, resource: Resource, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.resource_id == resource.id, Source.name == name))
    if source is None:
        names = list(session.scalars(select(Source.name).where(Source.resource_id == resource.id)))
        raise NotFound(
            f"资源 {resource.code} 没有名为“{name}”的数据源",
            code="source_not_found",
            detail={"available": names, "fix": "已登记的数据源：" + ("、".join(names) or "无")},
        )
    return source


def save_source(
    session: Session,
    principal: Principal,
    resource: Resource,
    *,
    name: str,
    kind: SourceKind | str,
    config: dict[str, Any],
    mapping: Mapping | None = None,
    mode: LoadMode | str = LoadMode.full,
    scheduled: bool = False,
) -> Source:
    """Register (or update, by name) a source of the resource. Only its provider's stewards and operators."""
    pipeline.require_loader(principal, resource)
    kind = SourceKind(kind)
    name = name.strip()
    if not name:
        raise ValidationFailed("数据源名称不能为空", code="source_name_required")
    if kind == SourceKind.sql and not (config.get("url") and config.get("query")):
        raise ValidationFailed(
            "数据库数据源需要连接地址（SQLAlchemy URL）和查询语句", code="source_config_incomplete"
        )
    if kind == SourceKind.http and not config.get("url"):
        raise ValidationFailed("HTTP 数据源需要接口地址", code="source_config_incomplete")
    if scheduled and kind == SourceKind.file:
        raise ValidationFailed("文件上传的数据源不能定时拉取", code="source_not_schedulable")
    source = session.scalar(select(Source).where(Source.resource_id == resource.id, Source.name == name))
    created = source is None
    if source is None:
        source = Source(resource_id=resource.id, name=name, created_by=principal.user_id)
        session.add(source)
    source.kind = kind.value
    source.config = dict(config)
    source.mapping_id = mapping.id if mapping else None
    source.mode = LoadMode(mode).value
    source.scheduled = scheduled
    source.next_run_at = utcnow() if scheduled else None
    session.flush()
    audit.record(
        session,
        principal,
        "ingest.source.create" if created else "ingest.source.update",
        summary=f"{'登记' if created else '修改'}数据源 {resource.code}“{name}”（{kind.label}）",
        object_type="source",
        object_id=source.id,
        detail={
            "resource_id": resource.id,
            "kind": kind.value,
            "scheduled": scheduled,
            "config": masked_config(config),
        },
    )
    return source


def masked_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as shown and audited: passwords in URLs and header values hidden."""
    from jutong.ingest.connectors import mask_url

    out = dict(config)
    if out.get("url") and "://" in str(out["url"]) and "@" in str(out["url"]):
        out["url"] = mask_url(str(out["url"]))
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: "***" for k in out["headers"]}
    return out


# ---- running loads at a boundary ----------------------------------------------------------------


def load_file(
    principal: Principal,
    resource_code: str,
    path: Path,
    *,
    mode: LoadMode | str = LoadMode.full,
    mapping_name: str | None = None,
    progress: pipeline.ProgressFn | None = None,
    max_bytes: int | None = None,
    load_id: int | None = None,
) -> dict[str, Any]:
    """Load a file into a resource in two units of work; returns the summary."""
    from jutong.ingest import readers

    with db.session_scope() as session:
        pipeline.recover_interrupted(session)
        resource = pipeline.resource_by_code(session, resource_code)
        mapping = mapping_by_name(session, resource, mapping_name)
        if load_id is None:
            load = pipeline.start_load(
                session, resource, principal, mode=mode, source_label=path.name, mapping=mapping
            )
            load_id = load.id
    with db.session_scope() as session:
        load = _load(session, load_id)
        mapping = session.get(Mapping, load.mapping_id) if load.mapping_id else None
        try:
            batches = readers.open_file(path, filename=path.name, max_bytes=max_bytes)
        except Exception as exc:
            _failed_to_open(session, principal, load, exc)
            return pipeline.summary(load)
        pipeline.execute_load(session, load, batches, principal, mapping=mapping, progress=progress)
        return pipeline.summary(load)


def load_source(
    principal: Principal,
    resource_code: str,
    source_name: str,
    *,
    progress: pipeline.ProgressFn | None = None,
    load_id: int | None = None,
) -> dict[str, Any]:
    """Pull from a registered database or HTTP source into its resource."""
    from jutong.ingest import connectors

    with db.session_scope() as session:
        pipeline.recover_interrupted(session)
        resource = pipeline.resource_by_code(session, resource_code)
        source = source_by_name(session, resource, source_name)
        if source.kind == SourceKind.file.value:
            raise ValidationFailed(
                f"数据源“{source.name}”是文件上传，请用 jutong ingest {resource.code} 文件路径",
                code="source_is_file",
            )
        mapping = session.get(Mapping, source.mapping_id) if source.mapping_id else None
        if load_id is None:
            load = pipeline.start_load(
                session, resource, principal, mode=source.mode, source=source, mapping=mapping
            )
            load_id = load.id
        source_id = source.id
    with db.session_scope() as session:
        load = _load(session, load_id)
        pulled = session.get(Source, source_id)
        assert pulled is not None
        mapping = session.get(Mapping, pulled.mapping_id) if pulled.mapping_id else None
        try:
            batches = connectors.open_source(pulled)
        except Exception as exc:
            _failed_to_open(session, principal, load, exc)
            return pipeline.summary(load)
        pipeline.execute_load(session, load, batches, principal, mapping=mapping, progress=progress)
        return pipeline.summary(load)


def _failed_to_open(session: Session, principal: Principal, load: Load, exc: Exception) -> None:
    pipeline.mark_failed(session, load, exc, 0.0)
    audit.record(
        session,
        principal,
        "ingest.load.failed",
        summary=f"归集失败（批次 #{load.id}）：{load.error_message}",
        object_type="load",
        object_id=load.id,
        outcome="failure",
        detail={"resource_id": load.resource_id, "error_code": load.error_code},
    )


# a pull that failed for one of these may work later: the job is retried with backoff
RETRYABLE = frozenset({"source_unreachable", "source_timeout", "http_status"})


def _load(session: Session, load_id: int) -> Load:
    load = session.get(Load, load_id)
    if load is None:
        raise NotFound(f"批次 #{load_id} 不存在", code="load_not_found")
    return load


# ---- background jobs: uploaded files, scheduled pulls -------------------------------------------


def job_principal(payload: dict[str, Any]) -> Principal:
    from jutong.core.auth import Role

    return Principal(
        user_id=payload.get("user_id"),
        username=str(payload.get("username", "job")),
        role=Role(payload.get("role", Role.operator.value)),
        department_id=payload.get("department_id"),
        via="job",
    )


@jobs.handler("ingest.file")
def _file_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """An uploaded file, loaded in the background (the page follows the load's status)."""
    session.rollback()  # this job runs its own units of work
    load_id = int(payload["load_id"])
    with db.session_scope() as s:
        load = _load(s, load_id)
        interrupted = load.status == "failed" and load.error_code == "load_interrupted"
        if load.status not in ("running", "queued") and not interrupted:
            return {"skipped": f"批次状态为 {load.status}"}
        load.status = "running"
        load.error_code = load.error_message = ""
        load.stats = {**(load.stats or {}), "worker": pipeline.worker_id()}
        code = s.get(Resource, load.resource_id).code  # type: ignore[union-attr]
        mode = load.mode
        mapping = s.get(Mapping, load.mapping_id) if load.mapping_id else None
        mapping_name = mapping.name if mapping else None
    path = Path(payload["path"])
    try:
        return load_file(
            job_principal(payload), code, path, mode=mode, mapping_name=mapping_name, load_id=load_id
        )
    except Exception as exc:  # never leave the upload queued: the resource would refuse every later one
        with db.session_scope() as s:
            pipeline.mark_failed(s, _load(s, load_id), exc, 0.0)
        raise
    finally:
        path.unlink(missing_ok=True)


@jobs.handler("ingest.pull")
def _pull_job(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    session.rollback()
    with db.session_scope() as s:
        source = s.get(Source, int(payload["source_id"]))
        if source is None:
            return {"skipped": "数据源已删除"}
        resource = s.get(Resource, source.resource_id)
        assert resource is not None
        code, name = resource.code, source.name
    result = load_source(job_principal(payload), code, name)
    if result["status"] != "succeeded" and result.get("error_code") in RETRYABLE:
        # the load is recorded as failed; failing the job too retries it with backoff and shows the error
        raise RuntimeError(f"拉取失败（{result['error_code']}）：{result['error_message']}")
    return result


@jobs.on_tick
def enqueue_due_pulls(session: Session, now: datetime) -> None:
    """Scheduled sources whose time has come get one pull job each (idempotent by due time)."""
    due = session.scalars(
        select(Source).where(
            Source.scheduled.is_(True), Source.next_run_at.is_not(None), Source.next_run_at <= now
        )
    )
    for source in due:
        resource = session.get(Resource, source.resource_id)
        if resource is None:
            continue
        assert source.next_run_at is not None
        key = f"ingest.pull:{source.id}:{source.next_run_at.isoformat()}"
        jobs.enqueue(
            session,
            "ingest.pull",
            {"source_id": source.id, "role": "operator", "username": "定时任务", "user_id": None},
            key=key,
        )
        source.next_run_at = now + CYCLE_INTERVALS.get(resource.update_cycle, timedelta(days=1))


def queue_file_load(
    session: Session,
    principal: Principal,
    resource: Resource,
    path: Path,
    *,
    filename: str,
    mode: LoadMode | str,
    mapping: Mapping | None,
) -> Load:
    """Record an uploaded file's load as queued and hand it to the background worker."""
    load = pipeline.start_load(
        session, resource, principal, mode=mode, source_label=filename, mapping=mapping
    )
    load.status = "queued"
    jobs.enqueue(
        session,
        "ingest.file",
        {
            "load_id": load.id,
            "path": str(path),
            "user_id": principal.user_id,
            "username": principal.username,
            "role": principal.role.value,
            "department_id": principal.department_id,
        },
        max_attempts=1,
        created_by=principal.user_id,
    )
    return load


def ensure_not_running(session: Session, resource: Resource) -> None:
    pipeline.recover_interrupted(session)  # a load whose process died (kill -9) is not in progress
    running = session.scalar(
        select(Load.id).where(Load.resource_id == resource.id, Load.status.in_(("running", "queued")))
    )
    if running is not None:
        raise Conflict(
            f"资源 {resource.code} 已有批次 #{running} 在进行，请等它完成后再提交",
            code="load_in_progress",
        )
