"""Pages of data ingest (数据归集), under /ingest: a resource's uploads, loads, rejects, sources,
mappings, change log and quality report, and the operator's list of late and failing resources.

The same rules as the API (``ingest.api``): the provider's stewards and operators load and manage;
auditors read loads, quality and the change log's counts; rejects only for the provider and operators;
consumers nothing. Every page read is audited (``record_read``), but not the polled status fragments.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from jutong.catalog.models import CodeSet, CodeValue, Resource, ResourceStatus
from jutong.catalog.service import latest_version
from jutong.core import clock
from jutong.core.auth import Principal
from jutong.core.errors import AppError, Forbidden, NotAuthenticated, ValidationFailed
from jutong.ingest import changes, manage, mapping, pipeline, quality, rejects, service, uploads
from jutong.ingest.manage import get_load, get_resource
from jutong.ingest.models import (
    CheckOutcome,
    Load,
    LoadMode,
    LoadStatus,
    Mapping,
    QualityDimension,
    ResourceData,
    Source,
    SourceKind,
)
from jutong.registry.models import Department
from jutong.web.deps import CurrentPrincipal, DbSession, record_read
from jutong.web.pages import redirect, render

router = APIRouter(prefix="/ingest", include_in_schema=False)
# every page read is audited; the two fragments a page polls every second or two while a load runs are
# not (they show a status and counts, no data, and would fill the log with one event per poll)
AUDITED = [Depends(record_read)]

REJECTS_SHOWN = 100
_DONE = {
    "source": "数据源已保存",
    "source_deleted": "数据源已删除",
    "pull": "已排队，后台将从数据源拉取数据；刷新本页查看批次进度",
    "mapping": "映射已保存",
    "mapping_deleted": "映射已删除",
}
OUTCOME_CLASS = {"pass": "ok", "warn": "warn", "fail": "bad", "error": "bad"}
STATUS_CLASS = {"queued": "warn", "running": "warn", "succeeded": "ok", "failed": "bad"}


def _labels() -> dict[str, Any]:
    return {
        "status": dict(LoadStatus.choices()),
        "mode": dict(LoadMode.choices()),
        "kind": dict(SourceKind.choices()),
        "outcome": dict(CheckOutcome.choices()),
        "dimension": dict(QualityDimension.choices()),
        "cycle": quality.CYCLE_LABELS,
        "rule": quality.rule_labels(),
        "ops": changes.OP_LABELS,
        "outcome_class": OUTCOME_CLASS,
        "status_class": STATUS_CLASS,
    }


def _can_write(principal: Principal, resource: Resource) -> bool:
    try:
        pipeline.require_loader(principal, resource)
    except Forbidden:
        return False
    return True


def _can_read_rejects(principal: Principal, load: Load) -> bool:
    try:
        rejects.require_reject_reader(principal, load)
    except Forbidden:
        return False
    return True


def _done(load: Load) -> bool:
    return load.status in (LoadStatus.succeeded.value, LoadStatus.failed.value)


# ---- the list of resources -----------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, dependencies=AUDITED)
def index(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Published resources the person may load into or read about, with their last load."""
    department_id = quality.require_overview_reader(principal)
    query = (
        select(Resource, Department.name, ResourceData)
        .join(Department, Department.id == Resource.department_id)
        .outerjoin(ResourceData, ResourceData.resource_id == Resource.id)
        .where(Resource.published_version.is_not(None), Resource.status != ResourceStatus.withdrawn.value)
        .order_by(Resource.code)
    )
    if department_id is not None:
        query = query.where(Resource.department_id == department_id)
    rows = session.execute(query).all()
    last_ids = dict(
        session.execute(
            select(Load.resource_id, func.max(Load.id))
            .where(Load.resource_id.in_([r.id for r, _, _ in rows]))
            .group_by(Load.resource_id)
        ).all()
    )
    last = {
        x.resource_id: x for x in session.scalars(select(Load).where(Load.id.in_(list(last_ids.values()))))
    }
    return render(
        request,
        "ingest/index.html",
        {
            "rows": [(r, name, data, last.get(r.id)) for r, name, data in rows],
            "labels": _labels(),
            "mine": department_id is not None,
        },
        principal=principal,
    )


# ---- a resource's ingest page --------------------------------------------------------------------


def _resource_context(session: Session, principal: Principal, resource: Resource) -> dict[str, Any]:
    version = latest_version(session, resource)
    snapshot = dict(version.snapshot) if version else {}
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resource.id))
    department = session.get(Department, resource.department_id)
    loads = pipeline.latest_loads(session, resource.id, 20)
    return {
        "resource": resource,
        "snapshot": snapshot,
        "department_name": department.name if department else "",
        "data": data,
        "loads": loads,
        "active": any(not _done(x) for x in loads),
        "sources": list(
            session.scalars(select(Source).where(Source.resource_id == resource.id).order_by(Source.name))
        ),
        "mappings": mapping.list_mappings(session, resource),
        "mapping_names": {m.id: m.name for m in mapping.list_mappings(session, resource)},
        "versions": changes.change_versions(session, resource.id, limit=20),
        "score": quality.resource_score(session, resource.id),
        "can_write": _can_write(principal, resource) and version is not None,
        "max_upload": uploads.human_size(uploads.max_bytes()),
        "max_upload_bytes": uploads.max_bytes(),
        "masked": service.masked_config,
        "labels": _labels(),
    }


def _resource_page(
    request: Request,
    session: Session,
    principal: Principal,
    resource: Resource,
    *,
    flashes: list[str] | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    context = _resource_context(session, principal, resource)
    context.update({"flashes": flashes or [], "errors": errors or []})
    return render(request, "ingest/resource.html", context, principal=principal, status_code=status_code)


@router.get("/resources/{resource_id}", response_class=HTMLResponse, dependencies=AUDITED)
def resource_page(
    request: Request, resource_id: int, session: DbSession, principal: CurrentPrincipal, done: str = ""
) -> Response:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    return _resource_page(
        request, session, principal, resource, flashes=[_DONE[done]] if done in _DONE else []
    )


@router.get("/resources/{resource_id}/loads", response_class=HTMLResponse)
def loads_table(
    request: Request, resource_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """The loads table alone: the resource page polls it while a load is queued or running."""
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    loads = pipeline.latest_loads(session, resource.id, 20)
    return render(
        request,
        "ingest/_loads.html",
        {
            "resource": resource,
            "loads": loads,
            "active": any(not _done(x) for x in loads),
            "labels": _labels(),
        },
        principal=principal,
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/resources/{resource_id}/loads", response_class=HTMLResponse)
async def upload(
    request: Request, resource_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """The upload form. The page's script sends it with upload progress and asks for JSON; without
    the script the browser posts the form and is sent to the load's page."""
    try:
        uploads.check_announced(request.headers.get("content-length"))
        resource = await run_in_threadpool(get_resource, session, resource_id)
        form = await request.form(max_files=1, max_fields=20)
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise ValidationFailed("请选择要上传的数据文件", code="file_missing")
            load = await run_in_threadpool(
                uploads.queue_upload,
                session,
                principal,
                resource,
                file.file,
                file.filename,
                mode=str(form.get("mode") or LoadMode.full.value),
                mapping_name=str(form.get("mapping") or "") or None,
            )
        finally:
            await form.close()
    except AppError as exc:
        if isinstance(exc, Forbidden | NotAuthenticated):
            raise  # the app's handler answers and audits the refusal
        if _wants_json(request):
            return JSONResponse(exc.to_body(), status_code=exc.status_code)
        fix = exc.detail.get("fix") if isinstance(exc.detail, dict) else None
        message, status = exc.message + (f"。{fix}" if fix else ""), exc.status_code
        found = await run_in_threadpool(get_resource, session, resource_id)
        return await run_in_threadpool(
            lambda: _resource_page(request, session, principal, found, errors=[message], status_code=status)
        )
    location = f"/ingest/loads/{load.id}"
    if _wants_json(request):
        return JSONResponse(
            {"load_id": load.id, "location": location, "status": load.status}, status_code=202
        )
    return redirect(location)


# ---- a load --------------------------------------------------------------------------------------


def _load_context(session: Session, principal: Principal, load: Load, resource: Resource) -> dict[str, Any]:
    can_rejects = _can_read_rejects(principal, load)
    page = rejects.list_rejects(session, load, per_page=REJECTS_SHOWN) if can_rejects else None
    columns: list[str] = []
    for reject in page.items if page else []:
        columns += [c for c in (reject.raw or {}) if c not in columns]
    checks = quality.load_checks(session, load.id)
    used = session.get(Mapping, load.mapping_id) if load.mapping_id else None
    return {
        "load": load,
        "resource": resource,
        "done": _done(load),
        "identity": load.read_count == load.loaded_count + load.rejected_count,
        "changed": load.inserted_count + load.updated_count + load.deleted_count + load.unchanged_count,
        "can_rejects": can_rejects,
        "rejects": page,
        "reject_columns": columns,
        "checks": checks,
        "by_rule": [
            {"rule": r, "label": label, "failing": n} for r, label, n in quality.failing_by_rule(checks) if n
        ],
        "dimensions": quality.dimensions_of(load),
        "weights": quality.WEIGHTS,
        "mapping_name": used.name if used else None,
        "unmapped": (load.stats or {}).get("unmapped_columns") or [],
        "labels": _labels(),
    }


@router.get("/loads/{load_id}", response_class=HTMLResponse, dependencies=AUDITED)
def load_page(request: Request, load_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    load, resource = get_load(session, load_id)
    quality.require_load_reader(principal, load.department_id)
    return render(
        request, "ingest/load.html", _load_context(session, principal, load, resource), principal=principal
    )


@router.get("/loads/{load_id}/status", response_class=HTMLResponse)
def load_status(request: Request, load_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The status line the load page polls; once the load is done the whole page reloads."""
    load, resource = get_load(session, load_id)
    quality.require_load_reader(principal, load.department_id)
    response = render(
        request,
        "ingest/_load_status.html",
        {"load": load, "resource": resource, "done": _done(load), "labels": _labels()},
        principal=principal,
    )
    if _done(load) and request.headers.get("hx-request"):
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/loads/{load_id}/rejects/download", dependencies=AUDITED)
def rejects_download(
    load_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    format: Annotated[str, Query()] = "csv",
) -> Response:
    load, _ = get_load(session, load_id)
    rejects.require_reject_reader(principal, load)
    path, media = rejects.export(session, load, format)
    return FileResponse(
        path,
        media_type=media,
        filename=rejects.download_name(load, format),
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


# ---- quality -------------------------------------------------------------------------------------


@router.get("/resources/{resource_id}/quality", response_class=HTMLResponse, dependencies=AUDITED)
def quality_page(
    request: Request, resource_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    resource = get_resource(session, resource_id)
    quality.require_load_reader(principal, resource.department_id)
    report = quality.resource_quality(session, resource.id)
    chart = {
        "loads": [f"#{p.load_id}" for p in report.history],
        "scores": [p.score for p in report.history],
        "rejected": [p.rejected for p in report.history],
        "rules": [label for _, label, n in report.failing_by_rule if n],
        "failing": [n for _, _, n in report.failing_by_rule if n],
    }
    return render(
        request,
        "ingest/quality.html",
        {
            "resource": resource,
            "report": report,
            "chart": chart,
            "weights": quality.WEIGHTS,
            "thresholds": {
                "pass": quality.PASS_AT,
                "warn": quality.WARN_AT,
                "failing": quality.FAILING_SCORE,
            },
            "late_after": quality.LATE_AFTER_DAYS,
            "labels": _labels(),
        },
        principal=principal,
    )


@router.get("/quality", response_class=HTMLResponse, dependencies=AUDITED)
def overview_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, today: str | None = None
) -> Response:
    department_id = quality.require_overview_reader(principal)
    try:
        day = date.fromisoformat(today) if today else clock.today()
    except ValueError:
        day = clock.today()
    return render(
        request,
        "ingest/overview.html",
        {
            "today": day,
            "late": quality.late_resources(session, day, department_id),
            "never": quality.never_loaded_resources(session, department_id),
            "failing": quality.failing_resources(session, department_id),
            "mine": department_id is not None,
            "late_after": quality.LATE_AFTER_DAYS,
            "failing_score": quality.FAILING_SCORE,
            "labels": _labels(),
        },
        principal=principal,
    )


# ---- sources -------------------------------------------------------------------------------------


@router.post("/resources/{resource_id}/sources", response_class=HTMLResponse)
def save_source(
    request: Request,
    resource_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = SourceKind.file.value,
    url: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    records_path: Annotated[str, Form()] = "",
    mapping_name: Annotated[str, Form(alias="mapping")] = "",
    mode: Annotated[str, Form()] = LoadMode.full.value,
    scheduled: Annotated[str, Form()] = "",
) -> Response:
    resource = get_resource(session, resource_id)
    config: dict[str, Any] = {}
    if kind == SourceKind.sql.value:
        config = {"url": url.strip(), "query": query.strip()}
    elif kind == SourceKind.http.value:
        config = {
            "url": url.strip(),
            **({"records_path": records_path.strip()} if records_path.strip() else {}),
        }
    try:
        used = service.mapping_by_name(session, resource, mapping_name.strip() or None)
        service.save_source(
            session,
            principal,
            resource,
            name=name,
            kind=kind,
            config=config,
            mapping=used,
            mode=mode,
            scheduled=bool(scheduled),
        )
    except (ValidationFailed, ValueError, AppError) as exc:
        if isinstance(exc, Forbidden):
            raise
        message = exc.message if isinstance(exc, AppError) else f"数据源类型或归集方式无效：{exc}"
        return _resource_page(request, session, principal, resource, errors=[message], status_code=422)
    return redirect(f"/ingest/resources/{resource.id}?done=source#sources")


@router.post("/sources/{source_id}/pull", response_class=HTMLResponse)
def pull_source(
    request: Request, source_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    source, resource = manage.get_source(session, source_id)
    try:
        manage.request_pull(session, principal, source, resource)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _resource_page(
            request, session, principal, resource, errors=[exc.message], status_code=exc.status_code
        )
    return redirect(f"/ingest/resources/{resource.id}?done=pull")


@router.post("/sources/{source_id}/delete", response_class=HTMLResponse)
def delete_source(
    request: Request, source_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    source, resource = manage.get_source(session, source_id)
    try:
        manage.delete_source(session, principal, source, resource)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _resource_page(
            request, session, principal, resource, errors=[exc.message], status_code=exc.status_code
        )
    return redirect(f"/ingest/resources/{resource.id}?done=source_deleted#sources")


# ---- mappings ------------------------------------------------------------------------------------


def _code_hints(session: Session, identifiers: list[str]) -> dict[str, list[tuple[str, str]]]:
    """A coded item's valid codes, shown next to its value map (性别代码: 1 男性, 2 女性 …)."""
    if not identifiers:
        return {}
    rows = session.execute(
        select(CodeSet.identifier, CodeValue.code, CodeValue.label)
        .join(CodeValue, CodeValue.code_set_id == CodeSet.id)
        .where(CodeSet.identifier.in_(identifiers), CodeValue.valid.is_(True))
        .order_by(CodeSet.identifier, CodeValue.position, CodeValue.code)
    )
    out: dict[str, list[tuple[str, str]]] = {}
    for identifier, code, label in rows:
        out.setdefault(identifier, []).append((code, label))
    return out


def _mapping_form(
    request: Request,
    session: Session,
    principal: Principal,
    resource: Resource,
    values: dict[str, Any],
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    version = latest_version(session, resource)
    items = sorted(
        (version.snapshot if version else {}).get("items") or [], key=lambda i: i.get("position", 0)
    )
    hints = _code_hints(
        session, [str(i["code_set_identifier"]) for i in items if i.get("code_set_identifier")]
    )
    return render(
        request,
        "ingest/mapping_form.html",
        {
            "resource": resource,
            "items": items,
            "hints": hints,
            "values": values,
            "normalizers": mapping.NORMALIZERS,
            "errors": errors or [],
        },
        principal=principal,
        status_code=status_code,
    )


def _form_values(found: Mapping | None) -> dict[str, Any]:
    if found is None:
        return {
            "name": "",
            "description": "",
            "columns": {},
            "values": {},
            "normalizers": {},
            "existing": False,
        }
    by_column = {column: source for source, column in (found.columns or {}).items()}
    return {
        "name": found.name,
        "description": found.description,
        "columns": by_column,
        "values": {c: "\n".join(f"{k}={v}" for k, v in m.items()) for c, m in (found.values or {}).items()},
        "normalizers": {c: "，".join(n) for c, n in (found.normalizers or {}).items()},
        "existing": True,
    }


@router.get("/resources/{resource_id}/mappings/new", response_class=HTMLResponse, dependencies=AUDITED)
def mapping_form(
    request: Request,
    resource_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    edit: Annotated[int | None, Query(description="要修改的映射 id")] = None,
) -> Response:
    resource = get_resource(session, resource_id)
    pipeline.require_loader(principal, resource)
    found = None
    if edit is not None:
        found, owner = manage.get_mapping(session, edit)
        if owner.id != resource.id:
            found = None
    return _mapping_form(request, session, principal, resource, _form_values(found))


def _pairs(text: str) -> dict[str, str]:
    """``源值=标准代码`` per line (also ``源值:代码``, ``源值→代码``, full-width too)."""
    out: dict[str, str] = {}
    for line in text.replace("\r", "").split("\n"):
        line = line.strip()
        if not line:
            continue
        for sep in ("=", "＝", "→", ":", "："):
            if sep in line:
                key, _, value = line.partition(sep)
                out[key.strip()] = value.strip()
                break
        else:
            raise ValidationFailed(
                f"代码值映射“{line}”看不懂：每行写一对“源值=标准代码”，如 0=1", code="mapping_pair_invalid"
            )
    return out


@router.post("/resources/{resource_id}/mappings", response_class=HTMLResponse)
async def save_mapping(
    request: Request, resource_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    form = await request.form()
    resource = await run_in_threadpool(get_resource, session, resource_id)

    def work() -> Response:
        pipeline.require_loader(principal, resource)
        version = latest_version(session, resource)
        items = (version.snapshot if version else {}).get("items") or []
        shown_columns: dict[str, str] = {}
        shown_values: dict[str, str] = {}
        shown_steps: dict[str, str] = {}
        raw: dict[str, Any] = {
            "name": str(form.get("name") or "").strip(),
            "description": str(form.get("description") or "").strip(),
            "columns": shown_columns,
            "values": shown_values,
            "normalizers": shown_steps,
            "existing": bool(form.get("existing")),
        }
        columns: dict[str, str] = {}
        value_maps: dict[str, dict[str, str]] = {}
        steps: dict[str, list[str]] = {}
        try:
            for item in items:
                column = str(item["column_name"])
                source = str(form.get(f"col-{column}") or "").strip()
                values_text = str(form.get(f"val-{column}") or "")
                steps_text = str(form.get(f"norm-{column}") or "").strip()
                shown_columns[column], shown_values[column], shown_steps[column] = (
                    source,
                    values_text,
                    steps_text,
                )
                if source:
                    columns[source] = column
                pairs = _pairs(values_text)
                if pairs:
                    value_maps[column] = pairs
                names = [n for n in steps_text.replace("，", ",").replace("、", ",").split(",") if n.strip()]
                if names:
                    steps[column] = [n.strip() for n in names]
            mapping.save_mapping(
                session,
                resource,
                str(raw["name"]),
                columns,
                value_maps,
                steps,
                {},
                principal,
                description=str(raw["description"]),
            )
        except ValidationFailed as exc:
            problems = (exc.detail or {}).get("problems") if isinstance(exc.detail, dict) else None
            return _mapping_form(
                request, session, principal, resource, raw, errors=problems or [exc.message], status_code=422
            )
        return redirect(f"/ingest/resources/{resource.id}?done=mapping#mappings")

    return await run_in_threadpool(work)


@router.post("/mappings/{mapping_id}/delete", response_class=HTMLResponse)
def delete_mapping(
    request: Request, mapping_id: int, session: DbSession, principal: CurrentPrincipal
) -> Response:
    found, resource = manage.get_mapping(session, mapping_id)
    try:
        mapping.delete_mapping(session, resource, found.name, principal)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        return _resource_page(
            request, session, principal, resource, errors=[exc.message], status_code=exc.status_code
        )
    return redirect(f"/ingest/resources/{resource.id}?done=mapping_deleted#mappings")
