"""API: the system census (政务信息系统普查) under /api/v1/systems."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from jutong.registry import census, census_import, census_io
from jutong.registry.census_schemas import (
    CensusStatsOut,
    DepartmentStatsOut,
    ImportResultOut,
    ShareCountOut,
    SystemIn,
    SystemOut,
    SystemPageOut,
    SystemPatch,
    UsageIn,
    UsageOut,
)
from jutong.registry.models import InformationSystem
from jutong.web.deps import CurrentPrincipal, DbSession, keep_on_error

router = APIRouter(tags=["系统普查"])


def _out(system: InformationSystem) -> SystemOut:
    return SystemOut.of(system, system.department.name)


def stats_out(stats: census.CensusStats) -> CensusStatsOut:
    def rows(items: list[census.ShareCount]) -> list[ShareCountOut]:
        return [
            ShareCountOut(sharing_status=r.status.value, label=r.label, count=r.count, percent=r.percent)
            for r in items
        ]

    return CensusStatsOut(
        total=stats.total,
        rows=rows(stats.rows),
        by_department=[
            DepartmentStatsOut(
                department_id=d.department_id,
                department_code=d.department_code,
                department_name=d.department_name,
                total=d.total,
                rows=rows(d.rows),
            )
            for d in stats.by_department
        ],
    )


@router.get(
    "/systems", response_model=SystemPageOut, summary="系统普查列表（按部门、状态、共享情况筛选，分页）"
)
def list_systems(
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: int | None = None,
    status: Annotated[str | None, Query(description="系统状态：运行/拟整合/拟清理/已停用 或代码")] = None,
    sharing_status: Annotated[str | None, Query(description="共享情况：已共享/不共享/… 或代码")] = None,
    q: Annotated[str | None, Query(description="在名称、功能描述、编号中搜索")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=census.MAX_PER_PAGE)] = 20,
) -> SystemPageOut:
    result = census.list_systems(
        session,
        principal,
        department_id=department_id,
        status=status,
        sharing_status=sharing_status,
        q=q,
        page=page,
        per_page=per_page,
    )
    return SystemPageOut(
        items=[_out(s) for s in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
    )


@router.post("/systems", response_model=SystemOut, status_code=201, summary="登记系统")
def create_system(body: SystemIn, session: DbSession, principal: CurrentPrincipal) -> SystemOut:
    system = census.create_system(session, principal, body)
    return _out(census.load_system(session, system.id))


@router.get("/systems/stats", response_model=CensusStatsOut, summary="共享情况统计（总体与分部门）")
def stats(
    session: DbSession, principal: CurrentPrincipal, department_id: int | None = None
) -> CensusStatsOut:
    return stats_out(census.stats_for(session, principal, department_id))


@router.get(
    "/systems/export",
    summary="导出系统普查（xlsx 或 csv；csv 默认 UTF-8 带 BOM，可选 GBK）",
    response_class=Response,
    responses={200: {"content": {census_io.XLSX_MEDIA_TYPE: {}, "text/csv": {}}}},
)
def export(
    session: DbSession,
    principal: CurrentPrincipal,
    format: Literal["xlsx", "csv"] = "xlsx",
    encoding: Literal["utf-8", "gbk"] = "utf-8",
    department_id: int | None = None,
) -> Response:
    file = census_io.export_census(
        session, principal, file_format=format, encoding=encoding, department_id=department_id
    )
    return Response(
        file.content, media_type=file.media_type, headers={"Content-Disposition": file.content_disposition}
    )


@router.get(
    "/systems/template",
    summary="下载导入模板（.xlsx）",
    response_class=Response,
    responses={200: {"content": {census_io.XLSX_MEDIA_TYPE: {}}}},
)
def template(session: DbSession, principal: CurrentPrincipal) -> Response:
    file = census_io.census_template(session, principal)
    return Response(
        file.content, media_type=file.media_type, headers={"Content-Disposition": file.content_disposition}
    )


@router.post(
    "/systems/import",
    response_model=ImportResultOut,
    summary="导入系统普查（.xlsx 或 .csv，全部通过校验才导入；否则 422 并逐格列出错误）",
    responses={422: {"description": "文件有误：detail.errors 为逐行逐列的错误报告，未导入任何数据"}},
)
def import_file(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="普查文件")],
) -> Response:
    data = file.file.read(
        census_io.MAX_FILE_BYTES + 1
    )  # a plain def: parsing and saving run in the thread pool
    report = census_import.import_census(session, principal, data, file.filename or "")
    if not report.ok:
        keep_on_error(request)  # nothing was written but the audit of the rejected attempt
        return JSONResponse(report.error_body(), status_code=422)
    body = ImportResultOut(
        filename=report.filename,
        file_format=report.file_format,
        encoding=report.encoding,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        usage_months=report.usage_months,
        usage_changed=report.usage_changed,
    )
    return JSONResponse(body.model_dump(mode="json"))


@router.get("/systems/{system_id}", response_model=SystemOut, summary="系统详情")
def get_system(system_id: int, session: DbSession, principal: CurrentPrincipal) -> SystemOut:
    return _out(census.get_system(session, principal, system_id))


@router.patch("/systems/{system_id}", response_model=SystemOut, summary="修改系统登记信息")
def update_system(
    system_id: int, body: SystemPatch, session: DbSession, principal: CurrentPrincipal
) -> SystemOut:
    census.update_system(session, principal, system_id, body)
    return _out(census.load_system(session, system_id))


@router.get("/systems/{system_id}/usage", response_model=list[UsageOut], summary="月度使用情况")
def usage(system_id: int, session: DbSession, principal: CurrentPrincipal) -> list[UsageOut]:
    return [UsageOut.of(u) for u in census.list_usage(session, principal, system_id)]


@router.post(
    "/systems/{system_id}/usage", response_model=list[UsageOut], summary="填报月度使用情况（可一次多月）"
)
def record_usage(
    system_id: int, body: list[UsageIn], session: DbSession, principal: CurrentPrincipal
) -> list[UsageOut]:
    return [UsageOut.of(u) for u in census.record_usage(session, principal, system_id, body)]
