"""API: data ingest (数据归集) under /api/v1/ingest — uploads, loads, rejects, sources, mappings, quality.

Who may: the provider department's stewards and the operators load data, manage sources and mappings,
and read rejects (they hold the rows as sent, personal data included); auditors read loads, quality
and the change log's counts but not reject values; consumers nothing here. Every read is audited
(``record_read`` on the router), every change by the service that makes it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import Principal
from jutong.core.errors import ValidationFailed
from jutong.ingest import changes, manage, mapping, pipeline, quality, rejects, service, uploads
from jutong.ingest.manage import get_load, get_resource
from jutong.ingest.models import (
    CheckOutcome,
    Load,
    LoadMode,
    LoadStatus,
    Mapping,
    QualityCheck,
    QualityDimension,
    Source,
    SourceKind,
)
from jutong.ingest.schemas import (
    ChangeVersionOut,
    FailingOut,
    LateOut,
    LoadOut,
    LoadPageOut,
    MappingIn,
    MappingOut,
    NeverLoadedOut,
    PullOut,
    QualityCheckOut,
    QualityOut,
    QualityOverviewOut,
    ReasonOut,
    RejectOut,
    RejectPageOut,
    RuleCountOut,
    ScorePointOut,
    SourceIn,
    SourceOut,
)
from jutong.web.deps import CurrentPrincipal, DbSession, record_read

router = APIRouter(prefix="/ingest", tags=["数据归集"], dependencies=[Depends(record_read)])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "数据文件：CSV/TSV（UTF-8、GBK、GB18030）、XLSX、JSON、NDJSON",
                        },
                        "mode": {"type": "string", "enum": ["full", "incremental"], "default": "full"},
                        "mapping": {"type": "string", "description": "已保存的映射名称（可选）"},
                    },
                }
            }
        },
    }
}


# ---- shared lookups and shapes -------------------------------------------------------------------


def load_out(load: Load, resource: Resource) -> LoadOut:
    return LoadOut(
        id=load.id,
        resource_id=resource.id,
        resource_code=resource.code,
        resource_name=resource.name,
        department_id=load.department_id,
        status=load.status,
        status_label=LoadStatus.label_for(load.status),
        done=load.status in (LoadStatus.succeeded.value, LoadStatus.failed.value),
        mode=load.mode,
        mode_label=LoadMode.label_for(load.mode),
        source_label=load.source_label,
        source_id=load.source_id,
        mapping_id=load.mapping_id,
        file_format=load.file_format,
        encoding=load.encoding,
        catalog_version=load.catalog_version,
        data_version=load.data_version,
        read=load.read_count,
        loaded=load.loaded_count,
        rejected=load.rejected_count,
        inserted=load.inserted_count,
        updated=load.updated_count,
        deleted=load.deleted_count,
        unchanged=load.unchanged_count,
        identity_holds=load.read_count == load.loaded_count + load.rejected_count,
        quality_score=load.quality_score,
        error_code=load.error_code or None,
        error_message=load.error_message or None,
        unmapped_columns=list((load.stats or {}).get("unmapped_columns") or []),
        started_at=load.started_at,
        finished_at=load.finished_at,
        seconds=load.seconds,
    )


def source_out(session: Session, source: Source) -> SourceOut:
    used = session.get(Mapping, source.mapping_id) if source.mapping_id else None
    return SourceOut(
        id=source.id,
        resource_id=source.resource_id,
        name=source.name,
        kind=source.kind,
        kind_label=SourceKind.label_for(source.kind),
        config=service.masked_config(source.config or {}),
        mapping_id=source.mapping_id,
        mapping_name=used.name if used else None,
        mode=source.mode,
        mode_label=LoadMode.label_for(source.mode),
        scheduled=source.scheduled,
        next_run_at=source.next_run_at,
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


def mapping_out(found: Mapping) -> MappingOut:
    return MappingOut(
        id=found.id,
        resource_id=found.resource_id,
        name=found.name,
        description=found.description,
        columns=dict(found.columns or {}),
        values=dict(found.values or {}),
        normalizers=dict(found.normalizers or {}),
        patterns=dict(found.patterns or {}),
        created_at=found.created_at,
        updated_at=found.updated_at,
    )


def check_out(check: QualityCheck) -> QualityCheckOut:
    return QualityCheckOut(
        load_id=check.load_id,
        dimension=check.dimension,
        dimension_label=QualityDimension.label_for(check.dimension),
        rule=check.rule,
        column_name=check.column_name,
        label=check.label,
        outcome=check.outcome,
        outcome_label=CheckOutcome.label_for(check.outcome),
        observed=check.observed,
        threshold=check.threshold,
        failing_count=check.failing_count,
        sample=list(check.sample or []),
        message=check.message,
    )


def _require_writer(principal: Principal, resource: Resource) -> None:
    pipeline.require_loader(principal, resource)


# ---- loads -----------------------------------------------------------------------------------------


@router.post(
    "/resources/{resource_id}/loads",
    response_model=LoadOut,
    status_code=202,
    summary="上传数据文件归集（排队，由后台任务执行；用 GET /ingest/loads/{id} 查看进度）",
    openapi_extra=_UPLOAD_BODY,
    responses={
        413: {"description": "文件超过大小上限（ingest_max_upload_bytes）"},
        409: {"description": "该资源已有批次在进行"},
        422: {"description": "文件为空、归集方式或映射不对、资源未发布"},
    },
)
async def upload(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> LoadOut:
    uploads.check_announced(request.headers.get("content-length"))
    resource = await run_in_threadpool(get_resource, session, resource_id)
    await run_in_threadpool(_require_writer, principal, resource)  # refuse before reading the body
    form = await request.form(max_files=1, max_fields=20)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ValidationFailed("请用 multipart/form-data 上传，文件字段名为 file", code="file_missing")
        mode = str(form.get("mode") or LoadMode.full.value).strip()
        mapping_name = str(form.get("mapping") or "").strip() or None
        load = await run_in_threadpool(
            uploads.queue_upload,
            session,
            principal,
            resource,
            file.file,
            file.filename or "",
            mode=mode,
            mapping_name=mapping_name,
        )
    finally:
        await form.close()
    return load_out(load, resource)


@router.get(
    "/resources/{resource_id}/loads", response_model=LoadPageOut, summary="资源的归集批次（新的在前）"
)
def list_loads(
    resource_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> LoadPageOut:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    loads = pipeline.latest_loads(session, resource.id, limit)
    return LoadPageOut(
        items=[load_out(x, resource) for x in loads], total=pipeline.load_count(session, resource.id)
    )


@router.get(
    "/loads/{load_id}", response_model=LoadOut, summary="批次详情：计数（读取 = 入库 + 问题数据）与状态"
)
def get_load_detail(load_id: int, session: DbSession, principal: CurrentPrincipal) -> LoadOut:
    load, resource = get_load(session, load_id)
    quality.require_load_reader(principal, load.department_id)
    return load_out(load, resource)


@router.get(
    "/loads/{load_id}/rejects",
    response_model=RejectPageOut,
    summary="批次的问题数据（分页）；format=csv 或 xlsx 时下载全部",
    responses={200: {"content": {"text/csv": {}, rejects.XLSX_MEDIA: {}}}},
)
def list_rejects(
    load_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=rejects.MAX_PER_PAGE)] = 100,
    format: Annotated[str | None, Query(description="csv（UTF-8 带 BOM）或 xlsx：下载全部问题数据")] = None,
) -> Any:
    load, _ = get_load(session, load_id)
    rejects.require_reject_reader(principal, load)
    if format is not None:
        return download_rejects(session, load, format)
    found = rejects.list_rejects(session, load, page=page, per_page=per_page)
    return RejectPageOut(
        load_id=load.id,
        items=[
            RejectOut(
                row_number=r.row_number,
                raw=dict(r.raw or {}),
                reasons=[ReasonOut.model_validate(x) for x in r.reasons or []],
            )
            for r in found.items
        ],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
    )


def download_rejects(session: Session, load: Load, fmt: str) -> Response:
    """The whole reject list as a file, deleted once sent."""
    path, media = rejects.export(session, load, fmt)
    return FileResponse(
        path,
        media_type=media,
        filename=rejects.download_name(load, fmt),
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get(
    "/loads/{load_id}/quality", response_model=list[QualityCheckOut], summary="批次的质量检查（逐条规则）"
)
def load_quality(load_id: int, session: DbSession, principal: CurrentPrincipal) -> list[QualityCheckOut]:
    load, _ = get_load(session, load_id)
    quality.require_load_reader(principal, load.department_id)
    return [check_out(c) for c in quality.load_checks(session, load.id)]


# ---- sources ---------------------------------------------------------------------------------------


@router.get("/resources/{resource_id}/sources", response_model=list[SourceOut], summary="资源的数据源")
def list_sources(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> list[SourceOut]:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    rows = session.scalars(select(Source).where(Source.resource_id == resource.id).order_by(Source.name))
    return [source_out(session, s) for s in rows]


def _save_source(
    session: Session, principal: Principal, resource: Resource, body: SourceIn, *, name: str | None = None
) -> Source:
    used = service.mapping_by_name(session, resource, body.mapping) if body.mapping else None
    return service.save_source(
        session,
        principal,
        resource,
        name=name or body.name,
        kind=_choice(SourceKind, body.kind, "数据源类型"),
        config=body.config,
        mapping=used,
        mode=_choice(LoadMode, body.mode, "归集方式"),
        scheduled=body.scheduled,
    )


def _choice(enum: Any, value: str, what: str) -> str:
    found = enum.from_label(value or "")
    if found is None:
        allowed = "、".join(f"{m.value}（{m.label}）" for m in enum)
        raise ValidationFailed(f"{what}“{value}”无效，可选：{allowed}", code="choice_invalid")
    return str(found.value)


@router.post(
    "/resources/{resource_id}/sources",
    response_model=SourceOut,
    status_code=201,
    summary="登记数据源（同名则修改）",
)
def create_source(
    resource_id: int, body: SourceIn, session: DbSession, principal: CurrentPrincipal
) -> SourceOut:
    resource = get_resource(session, resource_id)
    return source_out(session, _save_source(session, principal, resource, body))


@router.get("/sources/{source_id}", response_model=SourceOut, summary="数据源详情（口令已隐藏）")
def get_source(source_id: int, session: DbSession, principal: CurrentPrincipal) -> SourceOut:
    source, resource = manage.get_source(session, source_id)
    quality.require_load_reader(principal, resource.department_id)
    return source_out(session, source)


@router.put("/sources/{source_id}", response_model=SourceOut, summary="修改数据源（名称不变）")
def update_source(
    source_id: int, body: SourceIn, session: DbSession, principal: CurrentPrincipal
) -> SourceOut:
    source, resource = manage.get_source(session, source_id)
    _require_writer(principal, resource)
    if body.name.strip() != source.name:
        raise ValidationFailed(
            f"数据源不能改名（当前为“{source.name}”）；需要新名称请另行登记", code="source_rename"
        )
    return source_out(session, _save_source(session, principal, resource, body, name=source.name))


@router.delete("/sources/{source_id}", status_code=204, summary="删除没有归集过的数据源")
def delete_source(source_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    source, resource = manage.get_source(session, source_id)
    manage.delete_source(session, principal, source, resource)
    return Response(status_code=204)


@router.post(
    "/sources/{source_id}/pull", response_model=PullOut, status_code=202, summary="立即从数据库或接口拉取"
)
def pull(source_id: int, session: DbSession, principal: CurrentPrincipal) -> PullOut:
    source, resource = manage.get_source(session, source_id)
    job = manage.request_pull(session, principal, source, resource)
    return PullOut(
        source_id=source.id,
        job_id=job.id,
        message=f"已排队（任务 #{job.id}），后台将从“{source.name}”拉取数据",
    )


# ---- mappings --------------------------------------------------------------------------------------


@router.get("/resources/{resource_id}/mappings", response_model=list[MappingOut], summary="资源的映射")
def list_mappings(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> list[MappingOut]:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    return [mapping_out(m) for m in mapping.list_mappings(session, resource)]


def _save_mapping(session: Session, principal: Principal, resource: Resource, body: MappingIn) -> Mapping:
    return mapping.save_mapping(
        session,
        resource,
        body.name,
        body.columns,
        body.values,
        body.normalizers,
        body.patterns,
        principal,
        description=body.description,
    )


@router.post(
    "/resources/{resource_id}/mappings",
    response_model=MappingOut,
    status_code=201,
    summary="保存映射（同名则替换内容）：列对应、代码值映射、标准化、格式",
)
def create_mapping(
    resource_id: int, body: MappingIn, session: DbSession, principal: CurrentPrincipal
) -> MappingOut:
    resource = get_resource(session, resource_id)
    return mapping_out(_save_mapping(session, principal, resource, body))


@router.get("/mappings/{mapping_id}", response_model=MappingOut, summary="映射详情")
def get_mapping(mapping_id: int, session: DbSession, principal: CurrentPrincipal) -> MappingOut:
    found, resource = manage.get_mapping(session, mapping_id)
    quality.require_load_reader(principal, resource.department_id)
    return mapping_out(found)


@router.put("/mappings/{mapping_id}", response_model=MappingOut, summary="修改映射（名称不变）")
def update_mapping(
    mapping_id: int, body: MappingIn, session: DbSession, principal: CurrentPrincipal
) -> MappingOut:
    found, resource = manage.get_mapping(session, mapping_id)
    _require_writer(principal, resource)
    if body.name.strip() != found.name:
        raise ValidationFailed(
            f"映射不能改名（当前为“{found.name}”）；需要新名称请另存一个映射", code="mapping_rename"
        )
    return mapping_out(_save_mapping(session, principal, resource, body))


@router.delete("/mappings/{mapping_id}", status_code=204, summary="删除没有被数据源和批次使用的映射")
def delete_mapping(mapping_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    found, resource = manage.get_mapping(session, mapping_id)
    mapping.delete_mapping(session, resource, found.name, principal)
    return Response(status_code=204)


# ---- quality and the change log --------------------------------------------------------------------


def quality_out(report: quality.ResourceQuality) -> QualityOut:
    return QualityOut(
        resource_id=report.resource_id,
        load_id=report.load.id if report.load else None,
        score=report.score,
        weights=report.weights,
        dimensions=report.dimensions,
        checks=[check_out(c) for c in report.checks],
        history=[
            ScorePointOut(
                load_id=p.load_id,
                data_version=p.data_version,
                status=p.status,
                score=p.score,
                read=p.read,
                rejected=p.rejected,
                at=p.at,
            )
            for p in report.history
        ],
        failing_by_rule=[
            RuleCountOut(rule=r, label=label, failing=n) for r, label, n in report.failing_by_rule
        ],
    )


@router.get(
    "/resources/{resource_id}/quality",
    response_model=QualityOut,
    summary="资源的数据质量：最近一次成功批次的检查与得分、历次得分",
)
def resource_quality(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> QualityOut:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    return quality_out(quality.resource_quality(session, resource.id))


@router.get(
    "/quality/overview",
    response_model=QualityOverviewOut,
    summary="滞后、从未归集和质量不达标的资源（部门数据管理员只看本部门）",
)
def overview(
    session: DbSession,
    principal: CurrentPrincipal,
    today: Annotated[date | None, Query(description="按哪一天判断滞后，缺省为今天（北京时间）")] = None,
) -> QualityOverviewOut:
    department_id = quality.require_overview_reader(principal)
    day = today or clock.today()
    cycles = quality.CYCLE_LABELS
    return QualityOverviewOut(
        today=day.isoformat(),
        late=[
            LateOut(
                resource_id=r.resource_id,
                code=r.code,
                name=r.name,
                department_id=r.department_id,
                department_name=r.department_name,
                update_cycle=r.update_cycle,
                update_cycle_label=cycles.get(r.update_cycle, r.update_cycle),
                allowed_days=r.allowed_days,
                days_since=r.days_since,
                last_loaded_at=r.last_loaded_at,
                last_load_id=r.last_load_id,
            )
            for r in quality.late_resources(session, day, department_id)
        ],
        never_loaded=[
            NeverLoadedOut(
                resource_id=r.resource_id,
                code=r.code,
                name=r.name,
                department_id=r.department_id,
                department_name=r.department_name,
                update_cycle=r.update_cycle,
                update_cycle_label=cycles.get(r.update_cycle, r.update_cycle),
            )
            for r in quality.never_loaded_resources(session, department_id)
        ],
        failing=[
            FailingOut(
                resource_id=r.resource_id,
                code=r.code,
                name=r.name,
                department_id=r.department_id,
                department_name=r.department_name,
                load_id=r.load_id,
                status=r.status,
                score=r.score,
                reason=r.reason,
            )
            for r in quality.failing_resources(session, department_id)
        ],
    )


@router.get(
    "/resources/{resource_id}/changes",
    response_model=list[ChangeVersionOut],
    summary="变更日志：各数据版本新增、更新、删除的记录数（不含记录内容）",
)
def change_log(resource_id: int, session: DbSession, principal: CurrentPrincipal) -> list[ChangeVersionOut]:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    return [ChangeVersionOut(**vars(v)) for v in changes.change_versions(session, resource.id)]
