"""Page: catalog workbook import, with links to the template and the export, at /catalog/import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from jutong.catalog import excel
from jutong.core.auth import Principal, Role
from jutong.web.deps import DbSession, keep_on_error, roles
from jutong.web.pages import render

router = APIRouter(include_in_schema=False)

# catalog import: the operator, or a steward for their own department's rows
Writer = Annotated[Principal, Depends(roles(Role.operator, Role.steward))]


@router.get("/catalog/import", response_class=HTMLResponse)
def import_form(request: Request, principal: Writer) -> Response:
    return render(request, "catalog/io.html", {"report": None}, principal=principal)


@router.post("/catalog/import", response_class=HTMLResponse)
def import_upload(
    request: Request, session: DbSession, principal: Writer, file: Annotated[UploadFile, File()]
) -> Response:
    data = file.file.read(excel.MAX_FILE_BYTES + 1)  # a plain def: parsing and saving run in the thread pool
    report = excel.import_catalog(session, principal, data, file.filename or "")
    if not report.ok:
        keep_on_error(request)  # nothing was written but the audit of the rejected attempt
    return render(
        request,
        "catalog/io.html",
        {"report": report},
        principal=principal,
        status_code=200 if report.ok else 422,
    )
