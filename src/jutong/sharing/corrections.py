"""纠错（谁提供谁负责）: a consumer reports a wrong record or item, the provider answers by a deadline,
and the fix arrives with a later load.

Life of a correction: ``open`` (reported; due = N working days later, N an operator setting, default 5)
→ ``confirmed`` (the provider agrees the data is wrong) or ``rejected`` (checked and right, with a
reason) → ``fixed`` when a later load changes that record (``close_fixed``, called by ingest after a
successful load, links the correction to the data version that carries the fix).

Who may: a department that holds a grant on the resource reports (its consumers and stewards); the
provider's stewards and the operators answer; operators and auditors see every correction, a
department sees those it reported or must answer. A report names the record by its key and, when it
concerns one item, an item the grant covers: a consumer cannot probe items it was not granted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from jutong.catalog import service as catalog_service
from jutong.catalog.models import Resource
from jutong.core import audit, clock
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.db import utcnow
from jutong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from jutong.core.options import get_option, put_option
from jutong.ingest import dataplane
from jutong.ingest.models import Load, LoadStatus, ResourceData
from jutong.sharing import calendar as sharing_calendar
from jutong.sharing.models import Correction, CorrectionStatus, Grant, GrantStatus

OPTION_KEY = "sharing.corrections"
DEFAULT_ANSWER_DAYS = 5
MAX_ANSWER_DAYS = 60
NOTE_MAX = 2000
EVIDENCE_MAX = 4000
KEY_VALUE_MAX = 200
PENDING = (CorrectionStatus.open.value, CorrectionStatus.confirmed.value)


# ---- deadline --------------------------------------------------------------------------------------
def due_on(session: Session, reported_on: date) -> date:
    """N working days after the report, counted on the sharing calendar with the operator's overrides."""
    overrides = sharing_calendar.load_overrides(session)
    return sharing_calendar.add_working_days(reported_on, answer_days(session), overrides)


def answer_days(session: Session) -> int:
    """Working days a provider has to answer a correction (平台设置，默认 5 个工作日)."""
    stored = get_option(session, OPTION_KEY) or {}
    value = stored.get("working_days", DEFAULT_ANSWER_DAYS)
    return value if isinstance(value, int) and 1 <= value <= MAX_ANSWER_DAYS else DEFAULT_ANSWER_DAYS


def set_answer_days(session: Session, principal: Principal, days: int) -> int:
    require_role(principal, Role.operator, message="纠错答复期限仅限平台管理员设置")
    if not 1 <= days <= MAX_ANSWER_DAYS:
        raise ValidationFailed(
            f"纠错答复期限须为 1 至 {MAX_ANSWER_DAYS} 个工作日，收到 {days}",
            code="correction_days_invalid",
            detail={"working_days": days},
        )
    before = answer_days(session)
    put_option(session, OPTION_KEY, {"working_days": days})
    audit.record(
        session,
        principal,
        "correction.settings",
        summary=f"纠错答复期限由 {before} 个工作日改为 {days} 个工作日",
        object_type="option",
        object_id=OPTION_KEY,
        detail={"before": before, "after": days},
    )
    return days


# ---- reading -----------------------------------------------------------------------------------------
def is_overdue(correction: Correction, today: date | None = None) -> bool:
    """Open past its due day, or answered after it (答复超期)."""
    today = today or clock.today()
    if correction.status == CorrectionStatus.open.value:
        return correction.due_on < today
    if correction.answered_at is None:
        return False
    return correction.answered_at.astimezone(clock.PLATFORM_TZ).date() > correction.due_on


def _visible(principal: Principal) -> Any:
    """A filter on Correction for what the principal may see."""
    if principal.role in (Role.operator, Role.auditor):
        return None
    if principal.role in (Role.steward, Role.consumer) and principal.department_id is not None:
        own = principal.department_id
        if principal.role == Role.consumer:
            return Correction.consumer_department_id == own
        return or_(Correction.provider_department_id == own, Correction.consumer_department_id == own)
    raise Forbidden("纠错记录仅限相关部门、平台管理员和审计人员查看", code="correction_forbidden")


def get_correction(session: Session, principal: Principal, correction_id: int) -> Correction:
    condition = _visible(principal)
    query = select(Correction).where(Correction.id == correction_id)
    if condition is not None:
        query = query.where(condition)
    found = session.scalars(query).first()
    if found is None:  # someone else's correction looks the same as none: nothing leaks
        raise NotFound(f"纠错 {correction_id} 不存在或不属于您的部门", code="correction_not_found")
    return found


def list_corrections(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    resource_id: int | None = None,
    overdue: bool | None = None,
    today: date | None = None,
    limit: int = 200,
) -> list[Correction]:
    today = today or clock.today()
    query = select(Correction)
    condition = _visible(principal)
    if condition is not None:
        query = query.where(condition)
    if status is not None:
        if status not in {s.value for s in CorrectionStatus}:
            raise ValidationFailed(
                f"未知的纠错状态“{status}”，可选：" + "、".join(s.value for s in CorrectionStatus),
                code="correction_status_unknown",
            )
        query = query.where(Correction.status == status)
    if resource_id is not None:
        query = query.where(Correction.resource_id == resource_id)
    if overdue:
        query = query.where(Correction.status == CorrectionStatus.open.value, Correction.due_on < today)
    query = query.order_by(Correction.due_on, Correction.id).limit(max(1, min(limit, 1000)))
    return list(session.scalars(query))


def overdue_corrections(session: Session, today: date | None = None) -> list[Correction]:
    """Open corrections past their deadline, oldest first: the operator follows them up (超期未答复)."""
    today = today or clock.today()
    return list(
        session.scalars(
            select(Correction)
            .where(Correction.status == CorrectionStatus.open.value, Correction.due_on < today)
            .order_by(Correction.due_on, Correction.id)
        )
    )


def list_overdue(session: Session, principal: Principal, today: date | None = None) -> list[Correction]:
    require_role(principal, Role.operator, Role.auditor, message="超期纠错清单仅限平台管理员和审计人员查看")
    return overdue_corrections(session, today)


# ---- reporting -------------------------------------------------------------------------------------
def _may_report(principal: Principal) -> None:
    if principal.role not in (Role.consumer, Role.steward) or principal.department_id is None:
        raise Forbidden("只有获得该资源共享授权的使用部门可以提出纠错", code="correction_role_forbidden")


def _grant_for(session: Session, principal: Principal, resource: Resource, today: date) -> Grant:
    """The reporter's department's live grant on the resource.

    Not the exchange's access check: reporting reads no data, so neither the daily quota nor the
    calling application matter here, only that the department may see the record at all.
    """
    _may_report(principal)
    grant = session.scalars(
        select(Grant)
        .where(
            Grant.resource_id == resource.id,
            Grant.consumer_department_id == principal.department_id,
            Grant.status == GrantStatus.active.value,
            Grant.starts_on <= today,
            Grant.expires_on >= today,
        )
        .order_by(Grant.expires_on.desc(), Grant.id.desc())
    ).first()
    if grant is None:
        raise Forbidden(
            f"您的部门没有资源“{resource.name}”的有效共享授权，不能对其数据提出纠错；请先申请共享",
            code="correction_no_grant",
            detail={"resource_id": resource.id},
        )
    return grant


def _data_of(session: Session, resource_id: int) -> ResourceData:
    data = session.scalars(select(ResourceData).where(ResourceData.resource_id == resource_id)).first()
    if data is None or data.data_version == 0:
        raise ValidationFailed("该资源还没有归集任何数据，无可纠错的记录", code="correction_no_data")
    return data


def _key_condition(session: Session, data: ResourceData) -> str:
    """``k1 = :k0 AND k2 = :k1`` for the resource's key, typed on PostgreSQL (parameters, never values)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    types = {str(c["name"]): str(c.get("data_type", "C")) for c in data.columns}
    parts = []
    for i, key in enumerate(data.key_columns):
        column = '"' + key.replace('"', '""') + '"'
        param = f":k{i}"
        if postgres:  # SQLite compares a text parameter by the column's affinity already
            param = f"CAST({param} AS {dataplane.SQL_TYPES.get(types.get(key, 'C'), ('TEXT', 'TEXT'))[0]})"
        parts.append(f"{column} = {param}")
    return " AND ".join(parts)


def _key_params(data: ResourceData, record_key: dict[str, str]) -> dict[str, str]:
    return {f"k{i}": record_key[k] for i, k in enumerate(data.key_columns)}


def _clean_key(data: ResourceData, record_key: dict[str, Any]) -> dict[str, str]:
    keys = list(data.key_columns)
    if not keys:
        raise ValidationFailed(
            "该资源没有主键信息项，无法指明记录；请联系提供部门在目录中标明主键", code="correction_no_key"
        )
    unknown = sorted(set(record_key) - set(keys))
    missing = [k for k in keys if k not in record_key]
    if unknown or missing:
        raise ValidationFailed(
            "记录主键应为 "
            + "、".join(keys)
            + "，"
            + ("缺少 " + "、".join(missing) if missing else "")
            + ("；" if missing and unknown else "")
            + ("不认识 " + "、".join(unknown) if unknown else ""),
            code="correction_key_invalid",
            detail={"key_columns": keys, "missing": missing, "unknown": unknown},
        )
    clean: dict[str, str] = {}
    for k in keys:
        value = record_key[k]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationFailed(f"主键 {k} 的值应为文本或整数", code="correction_key_invalid")
        value = str(value).strip()
        if not value or len(value) > KEY_VALUE_MAX:
            raise ValidationFailed(
                f"主键 {k} 的值不能为空，且不超过 {KEY_VALUE_MAX} 个字符", code="correction_key_invalid"
            )
        clean[k] = value
    return clean


def record_exists(session: Session, data: ResourceData, record_key: dict[str, str]) -> bool:
    condition = _key_condition(session, data)
    table = '"' + data.table_name + '"'
    try:
        with session.begin_nested():  # a key that cannot be cast (text for a number) must not end the unit
            found = session.execute(
                text(f"SELECT 1 FROM {table} WHERE {condition}"), _key_params(data, record_key)
            ).first()
    except DBAPIError as exc:
        raise ValidationFailed(
            "记录主键的值与其类型不符，请核对主键值",
            code="correction_key_invalid",
            detail={"error": type(exc.orig).__name__},
        ) from None
    return found is not None


def report(
    session: Session,
    principal: Principal,
    *,
    resource_id: int,
    record_key: dict[str, Any],
    column_name: str = "",
    note: str,
    evidence: str = "",
    today: date | None = None,
) -> Correction:
    """A consumer reports that a record (or one item of it) is wrong; due in N working days."""
    today = today or clock.today()
    _may_report(principal)
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound(f"资源 {resource_id} 不存在", code="resource_not_found")
    grant = _grant_for(session, principal, resource, today)
    note, evidence, column_name = note.strip(), evidence.strip(), column_name.strip()
    if not note:
        raise ValidationFailed("请说明哪里有误、应当是什么（纠错说明必填）", code="correction_note_required")
    if len(note) > NOTE_MAX or len(evidence) > EVIDENCE_MAX:
        raise ValidationFailed(
            f"纠错说明不超过 {NOTE_MAX} 字，证明材料说明不超过 {EVIDENCE_MAX} 字", code="correction_too_long"
        )
    if column_name and column_name not in grant.items:
        # the same answer for an item that does not exist and one outside the grant: nothing leaks
        raise ValidationFailed(
            f"信息项“{column_name[:64]}”不在您的授权范围内，只能对已授权的信息项纠错",
            code="correction_item_not_granted",
            detail={"granted": list(grant.items)},
        )
    data = _data_of(session, resource.id)
    key = _clean_key(data, record_key)
    if not record_exists(session, data, key):
        raise NotFound("按该主键找不到记录，请核对主键值", code="correction_record_not_found")
    duplicate = session.scalars(
        select(Correction).where(
            Correction.resource_id == resource.id,
            Correction.consumer_department_id == principal.department_id,
            Correction.column_name == column_name,
            Correction.status.in_(PENDING),
        )
    ).all()
    for existing in duplicate:
        if existing.record_key == key:
            raise Conflict(
                f"您的部门已对这条记录提出过纠错（编号 {existing.id}），尚未办结，请勿重复提交",
                code="correction_duplicate",
                detail={"correction_id": existing.id},
            )
    assert principal.department_id is not None
    correction = Correction(
        resource_id=resource.id,
        grant_id=grant.id,
        provider_department_id=resource.department_id,
        consumer_department_id=principal.department_id,
        reported_by=principal.user_id,
        record_key=key,
        column_name=column_name,
        note=note,
        evidence=evidence,
        status=CorrectionStatus.open.value,
        due_on=due_on(session, today),
    )
    session.add(correction)
    session.flush()
    audit.record(
        session,
        principal,
        "correction.report",
        summary=f"对资源“{resource.name}”提出纠错" + (f"（信息项 {column_name}）" if column_name else ""),
        object_type="correction",
        object_id=correction.id,
        # the key names the record; values of other items are never written here
        detail={
            "resource_id": resource.id,
            "grant_id": grant.id,
            "column": column_name,
            "key": key,
            "due_on": correction.due_on.isoformat(),
        },
    )
    return correction


# ---- answering ---------------------------------------------------------------------------------------
def answer(
    session: Session, principal: Principal, correction_id: int, *, decision: str, reason: str = ""
) -> Correction:
    """The provider confirms (the data is wrong; a later load will fix it) or rejects with a reason."""
    require_role(principal, Role.operator, Role.steward, message="纠错由提供部门的数据管理员或平台管理员答复")
    correction = get_correction(session, principal, correction_id)
    require_department(principal, correction.provider_department_id, what="这条纠错针对的资源")
    reason = reason.strip()
    if decision not in ("confirm", "reject"):
        raise ValidationFailed(
            f"答复应为 confirm（确认有误）或 reject（核实无误），收到“{decision[:20]}”",
            code="correction_decision_invalid",
        )
    if decision == "reject" and not reason:
        raise ValidationFailed(
            "核实无误时须说明理由（依据什么认定数据正确）", code="correction_reason_required"
        )
    if len(reason) > NOTE_MAX:
        raise ValidationFailed(f"答复不超过 {NOTE_MAX} 字", code="correction_too_long")
    if correction.status != CorrectionStatus.open.value:
        raise Conflict(
            f"纠错 {correction.id} 已答复（{CorrectionStatus(correction.status).label}），不能再次答复",
            code="correction_already_answered",
        )
    late = is_overdue(correction)
    correction.status = (
        CorrectionStatus.confirmed if decision == "confirm" else CorrectionStatus.rejected
    ).value
    correction.answer = reason
    correction.answered_at = utcnow()
    correction.answered_by = principal.user_id
    session.flush()
    audit.record(
        session,
        principal,
        f"correction.{decision}",
        summary=f"答复纠错 {correction.id}："
        + ("确认有误，待后续批次修正" if decision == "confirm" else "核实无误")
        + ("（超期答复）" if late else ""),
        object_type="correction",
        object_id=correction.id,
        detail={"decision": decision, "overdue": late, "resource_id": correction.resource_id},
    )
    if decision == "confirm":
        _fixed_since_report(session, correction)
        session.flush()
    return correction


# ---- closing with a load -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Fixed:
    correction_id: int
    version: int


def close_fixed(session: Session, resource_id: int, data_version: int) -> list[Fixed]:
    """After a successful load: confirmed corrections whose record that version changed are fixed.

    Called by ingest in the load's own transaction (or right after it). A record is "changed" when its
    key is in the change log at ``data_version`` (updated, or deleted; a baseline load has no log and
    fixes nothing). The correction then links to that version and its load.
    """
    confirmed = list(
        session.scalars(
            select(Correction)
            .where(
                Correction.resource_id == resource_id,
                Correction.status == CorrectionStatus.confirmed.value,
            )
            .order_by(Correction.id)
        )
    )
    if not confirmed:
        return []
    data = session.scalars(select(ResourceData).where(ResourceData.resource_id == resource_id)).first()
    if data is None or not data.key_columns:
        return []
    load_id = session.scalar(
        select(Load.id).where(
            Load.resource_id == resource_id,
            Load.data_version == data_version,
            Load.status == LoadStatus.succeeded.value,
        )
    )
    fixed = [
        _mark_fixed(session, c, data_version, load_id)
        for c in confirmed
        if _changed_in(session, data, c, data_version)
    ]
    session.flush()
    return fixed


def _changed_in(session: Session, data: ResourceData, correction: Correction, version: int) -> bool:
    """Whether the change log of ``version`` has the correction's record."""
    key = {str(k): str(v) for k, v in correction.record_key.items()}
    if set(key) != set(data.key_columns):
        return False  # the resource's key changed since the report: it cannot be matched automatically
    log = '"' + data.log_table_name + '"'
    try:
        with session.begin_nested():
            hit = session.execute(
                text(f"SELECT 1 FROM {log} WHERE _version = :version AND {_key_condition(session, data)}"),
                {"version": version, **_key_params(data, key)},
            ).first()
    except DBAPIError:  # a key that no longer fits its column's type
        return False
    return hit is not None


def _mark_fixed(session: Session, correction: Correction, version: int, load_id: int | None) -> Fixed:
    correction.status = CorrectionStatus.fixed.value
    correction.fixed_version = version
    correction.fixed_load_id = load_id
    audit.record(
        session,
        None,
        "correction.fixed",
        actor_name="system",
        summary=f"纠错 {correction.id} 的记录已在数据版本 {version} 中修正",
        object_type="correction",
        object_id=correction.id,
        detail={"resource_id": correction.resource_id, "version": version, "load_id": load_id},
    )
    return Fixed(correction.id, version)


def _fixed_since_report(session: Session, correction: Correction) -> Fixed | None:
    """A provider that loads the fix before confirming: the first load after the report that changed
    the record closes the correction at once."""
    data = session.scalars(
        select(ResourceData).where(ResourceData.resource_id == correction.resource_id)
    ).first()
    if data is None or not data.key_columns:
        return None
    loads = session.execute(
        select(Load.data_version, Load.id)
        .where(
            Load.resource_id == correction.resource_id,
            Load.status == LoadStatus.succeeded.value,
            Load.data_version.is_not(None),
            Load.finished_at >= correction.reported_at,
        )
        .order_by(Load.data_version)
    ).all()
    for version, load_id in loads:
        if version is not None and _changed_in(session, data, correction, int(version)):
            return _mark_fixed(session, correction, int(version), int(load_id))
    return None


# ---- for the pages -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reportable:
    """A resource the principal's department may report on: its key and the items it was granted."""

    grant_id: int
    resource_id: int
    resource_name: str
    key_columns: list[str]
    items: list[tuple[str, str]]  # (column name, item name), granted ones only


def reportable(session: Session, principal: Principal, today: date | None = None) -> list[Reportable]:
    if principal.role not in (Role.consumer, Role.steward) or principal.department_id is None:
        return []
    today = today or clock.today()
    grants = session.scalars(
        select(Grant)
        .where(
            Grant.consumer_department_id == principal.department_id,
            Grant.status == GrantStatus.active.value,
            Grant.starts_on <= today,
            Grant.expires_on >= today,
        )
        .order_by(Grant.resource_id, Grant.id)
    )
    found: dict[int, Reportable] = {}
    for grant in grants:
        resource = session.get(Resource, grant.resource_id)
        data = session.scalars(
            select(ResourceData).where(ResourceData.resource_id == grant.resource_id)
        ).first()
        if resource is None or data is None or grant.resource_id in found:
            continue
        version = catalog_service.latest_version(session, resource)
        names = {
            str(i["column_name"]): str(i.get("name", i["column_name"]))
            for i in (version.snapshot.get("items") or [] if version else [])
        }
        found[grant.resource_id] = Reportable(
            grant.id,
            resource.id,
            resource.name,
            list(data.key_columns),
            [(c, names.get(c, c)) for c in grant.items],
        )
    return list(found.values())
