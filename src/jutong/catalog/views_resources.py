"""Pages of catalog resources: the resource page, the steward's editor, the operator's review queue,
differences between versions, the yearly review tasks and the department's working copies."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from jutong.catalog import service, workflow
from jutong.catalog.models import (
    Classification,
    CodeSet,
    DataElement,
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
from jutong.catalog.schemas import DataItemIn, Problem, ResourceIn
from jutong.catalog.snapshot import FIELD_LABELS, label_of
from jutong.core.auth import Principal, Role, require_role
from jutong.core.errors import AppError, Forbidden
from jutong.registry import accounts, census
from jutong.web.deps import CurrentPrincipal, DbSession, PostedForm
from jutong.web.pages import redirect, render

router = APIRouter(include_in_schema=False)

CHOICES = {
    "format_category": FormatCategory.choices(),
    "share_type": ShareType.choices(),
    "delivery": Delivery.choices(),
    "open_type": OpenType.choices(),
    "update_cycle": UpdateCycle.choices(),
    "data_type": DataType.choices(),
    "security_level": SecurityLevel.choices(),
    "status": ResourceStatus.choices(),
}
TEXT_FIELDS = (
    "classification_code", "name", "summary", "format_category", "format_type", "share_type",
    "share_condition", "delivery", "open_type", "open_condition", "update_cycle", "publish_date",
    "system_id", "related_codes", "department_id",
)  # fmt: skip
ITEM_FIELDS = ("name", "element", "column_name", "data_type", "length", "code_set", "security_level",
               "sensitive", "description")  # fmt: skip
BLANK_ROWS = 3
_SPLIT = re.compile(r"[\s,，、;；]+")
_ROW_KEY = re.compile(r"items-(\d{1,6})-name")
MAX_ROWS = 500


def _int(text: Any) -> int | None:
    return int(text) if isinstance(text, str) and text.strip().isdigit() else None


def _safe_next(text: Any, fallback: str) -> str:
    return text if isinstance(text, str) and text.startswith("/catalog") and "//" not in text else fallback


# ---- the editor ------------------------------------------------------------------------------


def _blank_row() -> dict[str, str]:
    return {key: "" for key in ITEM_FIELDS} | {"is_key": "", "required": ""}


def _rows_of(session: Session, resource: Resource) -> list[dict[str, str]]:
    """The items as editor rows; values equal to the element's show blank (随数据元)."""
    elements = {e.id: e for e in session.scalars(select(DataElement).where(
        DataElement.id.in_([i.element_id for i in resource.items])))}  # fmt: skip
    code_sets = {c.id: c.identifier for c in session.scalars(select(CodeSet))}
    rows = []
    for item in resource.items:
        element = elements[item.element_id]
        rows.append(
            {
                "name": item.name,
                "element": element.identifier,
                "column_name": item.column_name,
                "data_type": "" if item.data_type == element.data_type else item.data_type,
                "length": "" if item.length == element.length or item.length is None else str(item.length),
                "code_set": ""
                if item.code_set_id in (element.code_set_id, None)
                else code_sets[item.code_set_id],
                "security_level": ""
                if item.security_level == element.security_level
                else item.security_level,
                "sensitive": "" if item.sensitive == element.sensitive else ("1" if item.sensitive else "0"),
                "description": item.description,
                "is_key": "1" if item.is_key else "",
                "required": "1" if item.required and not item.is_key else "",
            }
        )
    return rows


def _values_of(resource: Resource) -> dict[str, str]:
    values = {
        key: "" if getattr(resource, key, None) is None else str(getattr(resource, key))
        for key in TEXT_FIELDS
    }
    values["related_codes"] = "，".join(resource.related_codes or [])
    return values


def _parse(
    form: FormData,
) -> tuple[dict[str, str], list[dict[str, str]], list[int], ResourceIn | None, dict[str, str]]:
    """The form as raw values (to show again), its non-blank item rows, and the input (None if unusable)."""
    raw = {key: str(form.get(key) or "").strip() for key in TEXT_FIELDS}
    indices = sorted({int(m[1]) for key in form if (m := _ROW_KEY.fullmatch(key))})[:MAX_ROWS]
    rows, used, items, errors = [], [], [], {}
    for i in indices:
        row = {
            key: str(form.get(f"items-{i}-{key}") or "").strip()
            for key in (*ITEM_FIELDS, "is_key", "required")
        }
        if form.get(f"items-{i}-delete") or not (row["name"] or row["element"]):
            continue
        rows.append(row)
        n = len(rows) - 1
        if row["length"] and _int(row["length"]) is None:
            errors[f"items-{n}-length"] = "长度应为正整数"
        element = row["element"].split()[0] if row["element"] else None
        items.append(
            DataItemIn(
                name=row["name"],
                column_name=row["column_name"] or None,
                element_id=None,
                element_identifier=element,
                data_type=row["data_type"] or None,
                length=_int(row["length"]),
                code_set_identifier=row["code_set"] or None,
                required=bool(row["required"]),
                is_key=bool(row["is_key"]),
                sensitive={"1": True, "0": False}.get(row["sensitive"]),
                security_level=row["security_level"] or None,
                description=row["description"],
            )
        )
        used.append(n)
    publish_date = None
    if raw["publish_date"]:
        try:
            publish_date = date.fromisoformat(raw["publish_date"])
        except ValueError:
            errors["publish_date"] = "发布日期应写成 YYYY-MM-DD"
    if errors:
        return raw, rows, used, None, errors
    data = ResourceIn(
        classification_code=raw["classification_code"],
        name=raw["name"],
        department_id=_int(raw["department_id"]),
        summary=raw["summary"],
        format_category=raw["format_category"],
        format_type=raw["format_type"],
        share_type=raw["share_type"],
        share_condition=raw["share_condition"],
        delivery=raw["delivery"],
        open_type=raw["open_type"] or OpenType.closed.value,
        open_condition=raw["open_condition"],
        update_cycle=raw["update_cycle"],
        publish_date=publish_date,
        system_id=_int(raw["system_id"]),
        related_codes=[c for c in _SPLIT.split(raw["related_codes"]) if c],
        items=items,
    )
    return raw, rows, used, data, errors


def _form_errors(problems: list[Problem], used: list[int]) -> dict[str, str]:
    """Problems keyed by form field name (``share_condition``, ``items-2-element``)."""
    out: dict[str, str] = {}
    for p in problems:
        if not p.is_error:
            continue
        key = p.field
        if p.item is not None and p.item < len(used):
            key = f"items-{used[p.item]}-{p.field.rsplit('.', 1)[-1]}"
        out.setdefault(key, f"{p.problem}。{p.fix}")
    return out


def _editor(
    request: Request,
    session: Session,
    principal: Principal,
    resource: Resource | None,
    values: dict[str, str],
    rows: list[dict[str, str]],
    *,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = rows + [_blank_row() for _ in range(BLANK_ROWS)]
    department_id = resource.department_id if resource else principal.department_id
    return render(
        request,
        "catalog/editor.html",
        {
            "resource": resource,
            "values": values,
            "rows": rows,
            "errors": errors or {},
            "message": message,
            "choices": CHOICES,
            "departments": accounts.list_departments(session) if principal.role == Role.operator else [],
            "department": accounts.get_department(session, department_id) if department_id else None,
            "systems": census.visible_systems(
                session, principal, None if principal.role == Role.operator else department_id
            ),
            "classifications": [
                c
                for c in session.scalars(select(Classification).order_by(Classification.code))
                if c.level >= 3
            ],
            "elements": list(session.scalars(select(DataElement).order_by(DataElement.identifier))),
            "code_sets": list(session.scalars(select(CodeSet).order_by(CodeSet.identifier))),
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/catalog/resources/new", response_class=HTMLResponse)
def new_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    require_role(principal, *service.WRITE_ROLES, message="只有平台管理员和部门数据管理员可以编目资源")
    values = {key: "" for key in TEXT_FIELDS} | {"open_type": OpenType.closed.value}
    return _editor(request, session, principal, None, values, [])


@router.get("/catalog/resources/item-row", response_class=HTMLResponse)
def item_row(request: Request, session: DbSession, principal: CurrentPrincipal, index: int = 0) -> Response:
    """One more blank item row for the editor (htmx), and the new row count."""
    require_role(principal, *service.WRITE_ROLES, message="只有平台管理员和部门数据管理员可以编目资源")
    return render(
        request,
        "catalog/_item_rows.html",
        {"i": index, "row": _blank_row(), "errors": {}, "choices": CHOICES},
        principal=principal,
    )


def _save(
    request: Request, session: Session, principal: Principal, resource: Resource | None, form: FormData
) -> Response:
    raw, rows, used, data, errors = _parse(form)
    if data is not None:
        try:
            saved = service.save_resource(session, principal, data, resource)
        except AppError as exc:
            if isinstance(exc, Forbidden):
                raise
            problems = [Problem(**p) for p in exc.detail] if isinstance(exc.detail, list) else []
            errors = _form_errors(problems, used)
            return _editor(request, session, principal, resource, raw, rows, errors=errors,
                           message=exc.message, status_code=exc.status_code)  # fmt: skip
        else:
            return redirect(f"/catalog/resources/{saved.id}")
    return _editor(request, session, principal, resource, raw, rows, errors=errors, status_code=422)


@router.post("/catalog/resources/new", response_class=HTMLResponse)
def create_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    require_role(principal, *service.WRITE_ROLES, message="只有平台管理员和部门数据管理员可以编目资源")
    return _save(request, session, principal, None, form)


# ---- lists ----------------------------------------------------------------------------------


@router.get("/catalog/review", response_class=HTMLResponse)
def review_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    queue = workflow.review_queue(session, principal)
    return render(request, "catalog/review.html", {"queue": queue}, principal=principal)


@router.get("/catalog/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, department_id: str | None = None
) -> Response:
    tasks = workflow.review_tasks(session, principal, department_id=_int(department_id))
    return render(
        request,
        "catalog/tasks.html",
        {"tasks": tasks, "can_write": service.can_write(principal), "selected": _int(department_id)},
        principal=principal,
    )


@router.get("/catalog/mine", response_class=HTMLResponse)
def mine_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status: str | None = None,
    department_id: str | None = None,
    page: str | None = None,
) -> Response:
    require_role(principal, *service.WRITE_ROLES, message="“我的目录”仅限平台管理员和部门数据管理员")
    department = principal.department_id if principal.role == Role.steward else _int(department_id)
    result = service.list_resources(
        session, principal, department_id=department, status=status or None, page=_int(page) or 1
    )
    return render(
        request,
        "catalog/mine.html",
        {
            "result": result,
            "status": status or "",
            "department_id": department,
            "departments": accounts.list_departments(session) if principal.role == Role.operator else [],
            "choices": CHOICES,
            "labels": {code: label for code, label in CHOICES["status"]},
            "share_labels": dict(CHOICES["share_type"]),
        },
        principal=principal,
    )


# ---- one resource ---------------------------------------------------------------------------


def _resource_page(
    request: Request,
    session: Session,
    principal: Principal,
    resource: Resource,
    *,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    view, snap = service.view_of(session, principal, resource)
    items = snap.get("items") or []
    names = service.element_names(session, [str(i.get("element_identifier")) for i in items])
    related = dict(session.execute(select(Resource.code, Resource.id).where(Resource.code.in_(snap["related_codes"]))).all()) if snap["related_codes"] else {}  # fmt: skip
    versions = (
        workflow.list_versions(session, principal, resource.id)
        if resource.published_version or view == "working"
        else []
    )
    writer = service.can_write(principal, resource.department_id)
    live = service.is_live(resource)
    status = resource.status if view == "working" else ResourceStatus.published.value
    return render(
        request,
        "catalog/resource.html",
        {
            "resource": resource,
            "view": view,
            "snap": snap,
            "fields": {key: label_of(key, snap.get(key)) for key in FIELD_LABELS},
            "labels": FIELD_LABELS,
            "classification_name": session.scalar(
                select(Classification.name).where(Classification.code == snap["classification_code"])
            ),
            "data_types": dict(CHOICES["data_type"]),
            "levels": dict(CHOICES["security_level"]),
            "items": items,
            "element_names": names,
            "related": related,
            "versions": versions,
            "status": status,
            "status_label": dict(CHOICES["status"]).get(status, status),
            "problems": service.working_problems(session, resource) if view == "working" else [],
            "message": message,
            "show_system_link": principal.role in census.READERS,
            "can": {
                "edit": writer,
                "submit": writer
                and resource.status in (ResourceStatus.draft.value, ResourceStatus.withdrawn.value),
                "review_actions": principal.role == Role.operator
                and resource.status == ResourceStatus.submitted.value,
                "withdraw": writer and live,
                "mark_reviewed": writer and live,
                "diff": view == "working" and live and resource.status != ResourceStatus.published.value,
                # 共享申请: another department's consumer or steward asks for a live resource
                "request": live
                and principal.role in (Role.consumer, Role.steward)
                and principal.department_id != resource.department_id,
            },
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/catalog/resources/{resource_id}", response_class=HTMLResponse)
def resource_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    return _resource_page(request, session, principal, service.get_resource(session, principal, resource_id))


@router.get("/catalog/resources/{resource_id}/edit", response_class=HTMLResponse)
def edit_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    resource = service.load_resource(session, resource_id)
    service.require_writer(principal, resource.department_id)
    return _editor(request, session, principal, resource, _values_of(resource), _rows_of(session, resource))


@router.post("/catalog/resources/{resource_id}/edit", response_class=HTMLResponse)
def update_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    resource = service.load_resource(session, resource_id)
    service.require_writer(principal, resource.department_id)  # refused (and audited) before saving
    return _save(request, session, principal, resource, form)


def _act(
    request: Request, session: Session, principal: Principal, resource_id: int, action: str, form: FormData
) -> Response:
    text = str(form.get("reason") or form.get("note") or "")
    try:
        if action == "submit":
            workflow.submit(session, principal, resource_id)
        elif action == "publish":
            workflow.publish(session, principal, resource_id, text)
        elif action == "return":
            workflow.send_back(session, principal, resource_id, text)
        elif action == "withdraw":
            workflow.withdraw(session, principal, resource_id, text)
        else:
            workflow.mark_reviewed(session, principal, resource_id)
    except AppError as exc:
        if isinstance(exc, Forbidden):
            raise
        resource = service.get_resource(session, principal, resource_id)
        return _resource_page(
            request, session, principal, resource, message=exc.message, status_code=exc.status_code
        )
    return redirect(_safe_next(form.get("next"), f"/catalog/resources/{resource_id}"))


@router.post("/catalog/resources/{resource_id}/submit", response_class=HTMLResponse)
def submit_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    return _act(request, session, principal, resource_id, "submit", form)


@router.post("/catalog/resources/{resource_id}/publish", response_class=HTMLResponse)
def publish_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    return _act(request, session, principal, resource_id, "publish", form)


@router.post("/catalog/resources/{resource_id}/return", response_class=HTMLResponse)
def return_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    return _act(request, session, principal, resource_id, "return", form)


@router.post("/catalog/resources/{resource_id}/withdraw", response_class=HTMLResponse)
def withdraw_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    return _act(request, session, principal, resource_id, "withdraw", form)


@router.post("/catalog/resources/{resource_id}/review", response_class=HTMLResponse)
def reviewed_page(
    resource_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    return _act(request, session, principal, resource_id, "review", form)


@router.get("/catalog/resources/{resource_id}/diff", response_class=HTMLResponse)
def diff_page(
    resource_id: int,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    v1: str | None = None,
    v2: str | None = None,
) -> Response:
    result = workflow.diff(session, principal, resource_id, v1 or None, v2 or None)
    resource = result.resource
    options = [str(v.version) for v in workflow.list_versions(session, principal, resource_id)]
    if service.can_read_working(principal, resource.department_id):
        options.insert(0, workflow.DRAFT)
    return render(
        request,
        "catalog/diff.html",
        {"resource": resource, "diff": result, "options": options},
        principal=principal,
    )
