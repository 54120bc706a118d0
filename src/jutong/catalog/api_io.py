"""API: the catalog workbook (编制指南 layout) under /api/v1/catalog: template, export, import."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from jutong.catalog import excel, excel_export
from jutong.standards.tabular_files import XLSX_MEDIA_TYPE, ExportFile
from jutong.web.deps import CurrentPrincipal, DbSession, keep_on_error

router = APIRouter(tags=["资源目录导入导出"])


class ImportWarningOut(BaseModel):
    code: str
    sheet: str
    row: int | None
    column: str | None
    value: str
    problem: str
    fix: str


class CatalogImportOut(BaseModel):
    filename: str
    created: int = Field(description="新建的资源数（草稿）")
    updated: int = Field(description="工作副本有变化的资源数")
    unchanged: int = Field(description="与平台一致、未做改动的资源数")
    items: int = Field(description="文件中的信息项数")
    codes: list[str] = Field(description="新建或有变化的资源代码")
    warnings: list[ImportWarningOut] = Field(description="建议（不影响导入），如名称超过 50 字")
    message: str


def _download(file: ExportFile) -> Response:
    return Response(
        file.content, media_type=file.media_type, headers={"Content-Disposition": file.content_disposition}
    )


@router.get(
    "/catalog/template",
    summary="下载资源目录导入模板（.xlsx，编制指南格式）",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
def template(session: DbSession, principal: CurrentPrincipal) -> Response:
    return _download(excel_export.catalog_template(session, principal))


@router.get(
    "/catalog/export",
    summary="导出资源目录（.xlsx；include=drafts 时含有权查看的未发布工作副本）",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}},
)
def export(
    session: DbSession, principal: CurrentPrincipal, include: Literal["published", "drafts"] = "published"
) -> Response:
    return _download(excel_export.export_catalog(session, principal, include_drafts=include == "drafts"))


@router.post(
    "/catalog/import",
    response_model=CatalogImportOut,
    summary="导入资源目录（.xlsx，全部通过校验才导入；否则 422 并逐格列出错误）",
    responses={422: {"description": "文件有误：detail.errors 为逐行逐列的错误报告，未导入任何数据"}},
)
def import_file(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="资源目录工作簿（.xlsx）")],
) -> Response:
    data = file.file.read(excel.MAX_FILE_BYTES + 1)  # a plain def: parsing and saving run in the thread pool
    report = excel.import_catalog(session, principal, data, file.filename or "")
    if not report.ok:
        keep_on_error(request)  # nothing was written but the audit of the rejected attempt
        return JSONResponse(report.error_body(), status_code=422)
    return JSONResponse(CatalogImportOut.model_validate(report.summary()).model_dump(mode="json"))
