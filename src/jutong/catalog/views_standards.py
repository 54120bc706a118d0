"""Pages: the data standards browser (数据标准) and the operator's forms for local additions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from jutong.catalog import standards
from jutong.catalog.models import DataType, SecurityLevel, StandardSource
from jutong.core.auth import Principal, Role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.standards.codes import VALIDATOR_NAMES
from jutong.web.deps import DbSession, roles
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(roles(Role.operator, Role.steward, Role.auditor, Role.consumer))]
Operator = Annotated[Principal, Depends(roles(Role.operator))]
FormErrors = (ValidationFailed, Conflict, NotFound)  # shown on the form; refusals go to the error page
LEVEL_NAMES = {1: "类", 2: "项", 3: "目", 4: "细目"}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _labels() -> dict[str, dict[str, str]]:
    return {
        "data_type": dict(DataType.choices()),
        "security_level": dict(SecurityLevel.choices()),
        "source": dict(StandardSource.choices()),
        "validator": VALIDATOR_NAMES,
    }


@router.get("/standards", response_class=HTMLResponse)
def overview(
    request: Request, session: DbSession, principal: Reader, q: str = "", source: str = ""
) -> Response:
    source = source if source in (StandardSource.national.value, StandardSource.local.value) else ""
    code_sets = standards.list_code_sets(session)
    context: dict[str, Any] = {
        "code_sets": code_sets,
        "code_set_by_id": {s.id: s for s, _ in code_sets},
        "elements": standards.search_elements(session, q=q, source=source or None),
        "classifications": standards.list_classifications(session),
        "level_names": LEVEL_NAMES,
        "filters": {"q": q, "source": source},
        "labels": _labels(),
        "is_operator": principal.role == Role.operator,
        "message": request.session.pop("flash", None),
    }
    return render(request, "catalog/standards/index.html", context, principal=principal)


# ---------------------------------------------------------------- local data elements


def _int_field(value: str, label: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"{label}：“{text}”不是整数", code=f"{field}_invalid", detail={"field": field}
        ) from exc


def _element_form(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "form": form or {"security_level": SecurityLevel.general.value, "data_type": DataType.C.value},
        "error": error,
        "code_sets": [s for s, _ in standards.list_code_sets(session)],
        "data_types": DataType.choices(),
        "levels": SecurityLevel.choices(),
        "validators": VALIDATOR_NAMES,
    }
    return render(
        request, "catalog/standards/element_form.html", context, principal=principal, status_code=status_code
    )


@router.get("/standards/elements/new", response_class=HTMLResponse)
def new_element(request: Request, session: DbSession, principal: Operator) -> Response:
    return _element_form(request, session, principal)


@router.post("/standards/elements", response_class=HTMLResponse)
def create_element(
    request: Request,
    session: DbSession,
    principal: Operator,
    name: Annotated[str, Form()] = "",
    data_type: Annotated[str, Form()] = "",
    identifier: Annotated[str, Form()] = "",
    english_name: Annotated[str, Form()] = "",
    definition: Annotated[str, Form()] = "",
    length: Annotated[str, Form()] = "",
    precision: Annotated[str, Form()] = "",
    format: Annotated[str, Form()] = "",
    validator: Annotated[str, Form()] = "",
    code_set: Annotated[str, Form()] = "",
    sensitive: Annotated[str, Form()] = "",
    security_level: Annotated[str, Form()] = SecurityLevel.general.value,
) -> Response:
    form = {
        "name": name,
        "data_type": data_type,
        "identifier": identifier,
        "english_name": english_name,
        "definition": definition,
        "length": length,
        "precision": precision,
        "format": format,
        "validator": validator,
        "code_set": code_set,
        "sensitive": bool(sensitive),
        "security_level": security_level,
    }
    try:
        element = standards.add_local_element(
            session,
            principal,
            name=name,
            data_type=data_type,
            identifier=identifier,
            english_name=english_name,
            definition=definition,
            length=_int_field(length, "长度", "length"),
            precision=_int_field(precision, "精度", "precision"),
            format=format,
            validator=validator or None,
            code_set=code_set or None,
            sensitive=bool(sensitive),
            security_level=security_level,
        )
    except FormErrors as exc:
        return _element_form(
            request, session, principal, form=form, error=exc.message, status_code=exc.status_code
        )
    request.session["flash"] = f"已新增本地数据元 {element.identifier} {element.name}"
    return redirect(f"/standards/elements/{element.id}")


@router.get("/standards/elements/{element_id}", response_class=HTMLResponse)
def element_page(request: Request, element_id: int, session: DbSession, principal: Reader) -> Response:
    element = standards.get_element(session, element_id)
    code_set = standards.get_code_set(session, element.code_set_id) if element.code_set_id else None
    context = {
        "element": element,
        "code_set": code_set,
        "uses": standards.element_usage(session, element),
        "labels": _labels(),
        "message": request.session.pop("flash", None),
    }
    return render(request, "catalog/standards/element.html", context, principal=principal)


# ---------------------------------------------------------------- local code sets


def _code_set_form(
    request: Request,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {"form": form or {}, "error": error}
    return render(
        request, "catalog/standards/code_set_form.html", context, principal=principal, status_code=status_code
    )


@router.get("/standards/code-sets/new", response_class=HTMLResponse)
def new_code_set(request: Request, principal: Operator) -> Response:
    return _code_set_form(request, principal)


@router.post("/standards/code-sets", response_class=HTMLResponse)
def create_code_set(
    request: Request,
    session: DbSession,
    principal: Operator,
    identifier: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    values: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    form = {"identifier": identifier, "name": name, "description": description, "values": values}
    data = file.file.read(MAX_UPLOAD_BYTES + 1) if file is not None and file.filename else b""
    try:
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                f"代码值文件：超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB，请拆分或改用 API 导入",
                code="file_too_large",
                detail={"field": "file"},
            )
        text = standards.decode_upload(data) if data else values
        code_set = standards.add_local_code_set(
            session,
            principal,
            identifier=identifier,
            name=name,
            description=description,
            values=standards.parse_code_values(text),
        )
    except FormErrors as exc:
        return _code_set_form(request, principal, form=form, error=exc.message, status_code=exc.status_code)
    request.session["flash"] = f"已新增本地代码集 {code_set.identifier} {code_set.name}"
    return redirect(f"/standards/code-sets/{code_set.id}")


@router.get("/standards/code-sets/{code_set_id}", response_class=HTMLResponse)
def code_set_page(request: Request, code_set_id: int, session: DbSession, principal: Reader) -> Response:
    code_set = standards.get_code_set(session, code_set_id)
    context = {
        "code_set": code_set,
        "values": standards.code_values(session, code_set),
        "elements": standards.search_elements(session, code_set_id=code_set.id),
        "labels": _labels(),
        "message": request.session.pop("flash", None),
    }
    return render(request, "catalog/standards/code_set.html", context, principal=principal)


# ---------------------------------------------------------------- local classifications


def _classification_form(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    parents = [c for c in standards.list_classifications(session) if c.level in (2, 3)]
    context = {"form": form or {}, "error": error, "parents": parents, "level_names": LEVEL_NAMES}
    return render(
        request,
        "catalog/standards/classification_form.html",
        context,
        principal=principal,
        status_code=status_code,
    )


@router.get("/standards/classifications/new", response_class=HTMLResponse)
def new_classification(request: Request, session: DbSession, principal: Operator) -> Response:
    return _classification_form(request, session, principal)


@router.post("/standards/classifications", response_class=HTMLResponse)
def create_classification(
    request: Request,
    session: DbSession,
    principal: Operator,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        created = standards.add_local_classification(session, principal, code=code, name=name)
    except FormErrors as exc:
        return _classification_form(
            request,
            session,
            principal,
            form={"code": code, "name": name},
            error=exc.message,
            status_code=exc.status_code,
        )
    request.session["flash"] = f"已新增本地{LEVEL_NAMES[created.level]} {created.code} {created.name}"
    return redirect("/standards#classifications")
