"""映射与归集计划: which source column feeds which data item, and what each item's rules are.

``build_plan`` is run once per load. It matches the source's columns to the items of the resource's
published snapshot, item by item: by the saved mapping's ``columns`` when it names one, else by the
item's column name (``gmsfhm``), else by the item's name (信息项名称, compared after
``normalize_header``: full-width brackets, spaces and a ``*`` do not matter), else by the Chinese
name of its data element. A key or required item that finds no column stops the load
(``columns_missing``); columns no item takes are reported (``unmapped_source_columns``) and ignored.
A column named ``_op`` or ``操作类型`` marks deletes (D / 删除 / delete) in incremental loads.

Each ``ItemRule`` carries what ``ingest.validate`` needs and nothing from the database: the data
element's validator, precision and format, the code set's valid codes (codes retired from a national
code set are kept for old data but are *not* accepted in new loads), the mapping's value map and
pattern, and the normalizers: by default every value is half-width and trimmed; then ID numbers
get ``upper_x`` and ``cn_id15``, credit and organization codes ``upper``, mobile numbers ``mobile``,
numbers ``number``; then the mapping's own normalizers for the item.

Decimal scale: N and Y items keep the data element's precision as their scale; without one, N is a
whole number (scale 0) and Y (货币) has 2 decimals (元 to the 分).

Mappings are saved per resource by name (``save_mapping``) by the stewards of the resource's
department or an operator, and audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jutong.catalog.models import CodeSet, CodeValue, DataElement, DataItem, Resource
from jutong.catalog.service import latest_version
from jutong.core import audit
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.errors import Conflict, NotFound, ValidationFailed
from jutong.ingest.models import Load, Mapping, Source
from jutong.standards.normalize import halfwidth, normalize_header
from jutong.standards.vectorized import format_pattern

OP_COLUMN_NAMES = ("_op", "操作类型")
DELETE_OPS = ("D", "删除", "DELETE", "DEL")
UPSERT_OPS = ("U", "I", "新增", "修改", "更新", "UPSERT", "INSERT", "UPDATE")

NORMALIZERS: dict[str, str] = {
    "trim": "去掉首尾空白",
    "halfwidth": "全角字符转半角",
    "squeeze": "连续空白合并为一个空格",
    "upper": "字母转大写",
    "lower": "字母转小写",
    "upper_x": "身份证号码末位 x 转大写",
    "cn_id15": "15 位身份证号码升级为 18 位",
    "mobile": "手机号码去掉 +86、空格和横线",
    "number": "数值去掉千分位逗号和空格",
    "date": "日期统一为标准写法（2019年3月5日、2019/3/5、20190305 等）",
    "datetime": "日期时间统一为标准写法",
}
TEXT_TYPES = frozenset({"C", "M", "G"})
NUMBER_TYPES = frozenset({"N", "Y", "I", "B", "F"})
DEFAULT_SCALE = {"N": 0, "Y": 2}


@dataclass(frozen=True)
class ItemRule:
    """One data item as the rules see it (from the snapshot, its data element and code set, the mapping)."""

    position: int
    name: str  # 信息项名称
    column: str  # column_name in the data plane
    data_type: str  # C N Y D T L M G B I F
    length: int | None
    scale: int  # decimals of N / Y
    required: bool
    is_key: bool
    sensitive: bool
    element_identifier: str
    element_name: str
    validator: str | None  # cn_id uscc org_code region_code mobile
    format: str  # 表示格式, e.g. n6, an18, YYYYMMDD
    format_regex: str | None  # from ``format`` (n6 → 6 digits); None when only length is checked
    format_label: str
    pattern: str | None  # the mapping's regex for this item (matched in full)
    code_set_identifier: str | None
    code_set_name: str
    codes: tuple[str, ...] | None  # valid codes of the code set; None: no code set
    value_map: dict[str, str] | None  # source value → standard code
    normalizers: tuple[str, ...]
    source_column: str | None  # None: the source has no column for it (optional items only)

    @property
    def is_text(self) -> bool:
        return self.data_type in TEXT_TYPES


@dataclass
class LoadPlan:
    """Built once per load (``build_plan``); ``ingest.validate.check_batch`` applies it to each batch."""

    items: list[ItemRule]
    key_columns: list[str]
    source_to_column: dict[str, str]  # which source column feeds which item column
    unmapped_source_columns: list[str]  # extra columns: ignored, reported as a warning
    op_column: str | None  # `_op` / `操作类型`: D / 删除 → delete
    source_columns: list[str] = field(default_factory=list)  # as read, in order (the reject's raw row)
    missing_optional: list[str] = field(default_factory=list)  # optional items without a column (null)
    warnings: list[str] = field(default_factory=list)  # Chinese, for the load page
    compiled: Any = field(default=None, repr=False, compare=False)  # validate's expressions, built once


@dataclass
class ColumnMatch:
    source_to_column: dict[str, str]
    missing: list[dict[str, Any]]  # key or required items no column feeds
    missing_optional: list[dict[str, Any]]
    unmapped: list[str]
    op_column: str | None
    warnings: list[str]


def _key(text: str) -> str:
    return normalize_header(text).casefold()


def resolve_columns(
    items: list[dict[str, Any]],
    source_columns: list[str],
    mapping_columns: dict[str, str] | None = None,
    element_names: dict[str, str] | None = None,
) -> ColumnMatch:
    """Match source columns to snapshot items: the mapping first, then column name, item name and
    data element name, each pass over the items and columns still free (one column feeds one item)."""
    element_names = element_names or {}
    by_column = {str(i["column_name"]): i for i in items}
    free = list(source_columns)
    taken: dict[str, str] = {}  # item column → source column
    warnings: list[str] = []

    def take(item_column: str, source: str) -> None:
        taken[item_column] = source
        free.remove(source)

    for source, target in (mapping_columns or {}).items():
        if target not in by_column:
            warnings.append(f"映射把源列“{source}”对应到“{target}”，但资源没有这个信息项，已忽略")
        elif source not in free:
            if source not in source_columns:
                warnings.append(f"映射中的源列“{source}”在数据中不存在")
        elif target not in taken:
            take(target, source)

    def candidates(item: dict[str, Any]) -> list[str]:
        return [
            str(item["column_name"]),
            str(item.get("name") or ""),
            element_names.get(str(item.get("element_identifier") or ""), ""),
        ]

    for level in range(3):
        for item in items:
            column = str(item["column_name"])
            if column in taken:
                continue
            wanted = candidates(item)[level]
            if not wanted:
                continue
            found = next((s for s in free if _key(s) == _key(wanted)), None)
            if found is not None:
                take(column, found)

    op_keys = {_key(n) for n in OP_COLUMN_NAMES}
    op_column = next((s for s in free if _key(s) in op_keys), None)
    if op_column is not None:
        free.remove(op_column)
    missing = [
        i for i in items if str(i["column_name"]) not in taken and (i.get("required") or i.get("is_key"))
    ]
    optional = [
        i for i in items if str(i["column_name"]) not in taken and not (i.get("required") or i.get("is_key"))
    ]
    return ColumnMatch(
        source_to_column={source: column for column, source in taken.items()},
        missing=missing,
        missing_optional=optional,
        unmapped=[s for s in free if s != "_row"],
        op_column=op_column,
        warnings=warnings,
    )


def missing_columns_error(missing: list[dict[str, Any]], source_columns: list[str]) -> ValidationFailed:
    names = "、".join(f"{i.get('name')}（{i.get('column_name')}）" for i in missing)
    return ValidationFailed(
        f"数据缺少 {len(missing)} 个主键或必填信息项的列：{names}",
        code="columns_missing",
        detail={
            "missing": [
                {
                    "name": i.get("name"),
                    "column_name": i.get("column_name"),
                    "is_key": bool(i.get("is_key")),
                    "required": bool(i.get("required")),
                }
                for i in missing
            ],
            "source_columns": list(source_columns),
            "fix": "请在数据中增加这些列（列名写信息项名称或数据列名均可），"
            "或保存一个映射，把源数据中的列对应到这些信息项后再归集",
        },
    )


def default_normalizers(data_type: str, validator: str | None) -> tuple[str, ...]:
    """What every value of such an item goes through before the rules."""
    steps: list[str] = ["trim", "halfwidth"]  # trim strips U+3000 too, so the order does not matter
    if validator == "cn_id":
        steps += ["upper_x", "cn_id15"]
    elif validator in ("uscc", "org_code"):
        steps.append("upper")
    elif validator == "mobile":
        steps.append("mobile")
    if data_type in NUMBER_TYPES:
        steps.append("number")
    return tuple(steps)


def check_pattern(pattern: str) -> str | None:
    """None when polars (the engine that will run it) accepts the regex, else its complaint."""
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:  # polars raises ComputeError with the regex crate's message
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _mapping_problems(
    columns: dict[str, str],
    values: dict[str, dict[str, str]],
    normalizers: dict[str, list[str]],
    patterns: dict[str, str],
    item_columns: Iterable[str] | None,
) -> list[str]:
    known = set(item_columns) if item_columns is not None else None
    problems: list[str] = []

    def check_target(where: str, column: str) -> None:
        if known is not None and column not in known:
            problems.append(f"{where}：资源没有数据列名为“{column}”的信息项")

    seen: dict[str, str] = {}
    for source, target in columns.items():
        check_target(f"列对应“{source}”", target)
        if target in seen:
            problems.append(
                f"列对应：源列“{seen[target]}”和“{source}”都对应到“{target}”，一个信息项只能取一列"
            )
        seen[target] = source
    for column in values:
        check_target("代码值映射", column)
    for column, names in normalizers.items():
        check_target("标准化", column)
        unknown = [n for n in names if n not in NORMALIZERS]
        if unknown:
            problems.append(
                f"标准化“{column}”：不认识“{'、'.join(unknown)}”，可用的有 {'、'.join(NORMALIZERS)}"
            )
    for column, pattern in patterns.items():
        check_target("格式", column)
        complaint = check_pattern(pattern)
        if complaint:
            problems.append(f"格式“{column}”：正则表达式“{pattern}”无效（{complaint}）")
    return problems


def _raise_mapping_problems(problems: list[str], what: str) -> None:
    if problems:
        raise ValidationFailed(
            f"{what}有误：" + "；".join(problems),
            code="mapping_invalid",
            detail={"problems": problems, "fix": "请修改映射后重新保存"},
        )


# ---------------------------------------------------------------- the plan


def _code_sets(session: Session, identifiers: set[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """identifier → (name, valid codes in order)."""
    if not identifiers:
        return {}
    sets = {s.id: s for s in session.scalars(select(CodeSet).where(CodeSet.identifier.in_(identifiers)))}
    codes: dict[int, list[str]] = {i: [] for i in sets}
    rows = session.execute(
        select(CodeValue.code_set_id, CodeValue.code)
        .where(CodeValue.code_set_id.in_(list(sets)), CodeValue.valid.is_(True))
        .order_by(CodeValue.code_set_id, CodeValue.position, CodeValue.code)
    )
    for set_id, code in rows:
        codes[set_id].append(code)
    return {s.identifier: (s.name, tuple(codes[i])) for i, s in sets.items()}


def _clean_value_map(raw: dict[str, Any]) -> dict[str, str]:
    """Source values are matched after the same half-width and trim as the data."""
    return {halfwidth(str(k)).strip(): str(v) for k, v in raw.items()}


def build_plan(
    session: Session, snapshot: dict[str, Any], mapping: Mapping | None, source_columns: list[str]
) -> LoadPlan:
    """The rules of one load: the snapshot's items matched to ``source_columns`` (see the module docstring)."""
    items: list[dict[str, Any]] = sorted(snapshot.get("items") or [], key=lambda i: i.get("position", 0))
    identifiers = {str(i.get("element_identifier") or "") for i in items}
    elements = {
        e.identifier: e
        for e in session.scalars(select(DataElement).where(DataElement.identifier.in_(identifiers)))
    }
    set_ids = {str(i["code_set_identifier"]) for i in items if i.get("code_set_identifier")}
    code_sets = _code_sets(session, set_ids)
    absent = sorted(set_ids - set(code_sets))
    if absent:
        raise ValidationFailed(
            f"资源引用的代码集 {'、'.join(absent)} 在平台上不存在，无法校验代码值",
            code="code_set_missing",
            detail={"code_sets": absent, "fix": "请平台管理员在“数据标准”中补充这些代码集"},
        )
    columns = dict(mapping.columns or {}) if mapping else {}
    values = dict(mapping.values or {}) if mapping else {}
    extra_steps = dict(mapping.normalizers or {}) if mapping else {}
    patterns = dict(mapping.patterns or {}) if mapping else {}
    item_columns = [str(i["column_name"]) for i in items]
    problems = _mapping_problems({}, values, extra_steps, patterns, None)  # unknown items only warn here
    _raise_mapping_problems(problems, f"映射“{mapping.name if mapping else ''}”")

    match = resolve_columns(items, source_columns, columns, {k: e.name for k, e in elements.items()})
    if match.missing:
        raise missing_columns_error(match.missing, source_columns)
    warnings = list(match.warnings)
    for label, entries in (("代码值映射", values), ("标准化", extra_steps), ("格式", patterns)):
        for column in entries:
            if column not in item_columns:
                warnings.append(f"映射的{label}针对“{column}”，但资源没有这个信息项，已忽略")
    feeds = {column: source for source, column in match.source_to_column.items()}
    rules: list[ItemRule] = []
    for item in items:
        column = str(item["column_name"])
        element = elements.get(str(item.get("element_identifier") or ""))
        data_type = str(item.get("data_type") or (element.data_type if element else "C"))
        validator = element.validator if element else None
        fmt = element.format if element else ""
        set_id = item.get("code_set_identifier")
        set_name, codes = code_sets[str(set_id)] if set_id else ("", None)
        found = format_pattern(fmt) if data_type in TEXT_TYPES else None
        if validator or codes is not None:
            found = None  # the validator or the code set is stricter than the digits-only format
        precision = element.precision if element else None
        steps = default_normalizers(data_type, validator)
        steps += tuple(n for n in extra_steps.get(column, []) if n not in steps)
        raw_map = values.get(column)
        rules.append(
            ItemRule(
                position=int(item.get("position") or len(rules) + 1),
                name=str(item.get("name") or column),
                column=column,
                data_type=data_type,
                length=item.get("length")
                if item.get("length") is not None
                else (element.length if element else None),
                scale=precision if precision is not None else DEFAULT_SCALE.get(data_type, 0),
                required=bool(item.get("required")),
                is_key=bool(item.get("is_key")),
                sensitive=bool(item.get("sensitive")),
                element_identifier=str(item.get("element_identifier") or ""),
                element_name=element.name if element else "",
                validator=validator,
                format=fmt,
                format_regex=found[0] if found else None,
                format_label=found[1] if found else "",
                pattern=patterns.get(column) or None,
                code_set_identifier=str(set_id) if set_id else None,
                code_set_name=set_name,
                codes=codes,
                value_map=_clean_value_map(raw_map) if raw_map else None,
                normalizers=steps,
                source_column=feeds.get(column),
            )
        )
    return LoadPlan(
        items=rules,
        key_columns=[r.column for r in rules if r.is_key],
        source_to_column=match.source_to_column,
        unmapped_source_columns=match.unmapped,
        op_column=match.op_column,
        source_columns=[c for c in source_columns if c != "_row"],
        missing_optional=[str(i["column_name"]) for i in match.missing_optional],
        warnings=warnings,
    )


# ---------------------------------------------------------------- saved mappings


def _item_columns(session: Session, resource: Resource) -> list[str]:
    """The data items a mapping may name: the published version's, else the working copy's."""
    version = latest_version(session, resource)
    if version is not None:
        return [str(i["column_name"]) for i in version.snapshot.get("items") or []]
    return list(session.scalars(select(DataItem.column_name).where(DataItem.resource_id == resource.id)))


def get_mapping(session: Session, resource: Resource, name: str) -> Mapping:
    mapping = session.scalar(select(Mapping).where(Mapping.resource_id == resource.id, Mapping.name == name))
    if mapping is None:
        names = [m.name for m in list_mappings(session, resource)]
        raise NotFound(
            f"资源 {resource.code} 没有名为“{name}”的映射",
            code="mapping_not_found",
            detail={"available": names, "fix": "已保存的映射：" + ("、".join(names) or "无")},
        )
    return mapping


def list_mappings(session: Session, resource: Resource) -> list[Mapping]:
    return list(
        session.scalars(select(Mapping).where(Mapping.resource_id == resource.id).order_by(Mapping.name))
    )


def save_mapping(
    session: Session,
    resource: Resource,
    name: str,
    columns: dict[str, str] | None,
    values: dict[str, dict[str, Any]] | None,
    normalizers: dict[str, list[str]] | None,
    patterns: dict[str, str] | None,
    principal: Principal,
    *,
    description: str = "",
) -> Mapping:
    """Create the mapping ``name`` of ``resource`` or replace its content; audited."""
    require_role(principal, Role.operator, Role.steward, message="只有平台管理员和部门数据管理员可以保存映射")
    require_department(principal, resource.department_id, what="该资源")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("映射名称不能为空，且不超过 100 个字", code="mapping_name_invalid")
    columns = {str(k).strip(): str(v).strip() for k, v in (columns or {}).items()}
    clean_values = {str(c): {str(k): str(v) for k, v in (m or {}).items()} for c, m in (values or {}).items()}
    steps = {str(c): [str(n) for n in (ns or [])] for c, ns in (normalizers or {}).items()}
    regexes = {str(c): str(p) for c, p in (patterns or {}).items() if str(p)}
    problems = _mapping_problems(columns, clean_values, steps, regexes, _item_columns(session, resource))
    _raise_mapping_problems(problems, f"映射“{name}”")
    mapping = session.scalar(select(Mapping).where(Mapping.resource_id == resource.id, Mapping.name == name))
    created = mapping is None
    if mapping is None:
        mapping = Mapping(resource_id=resource.id, name=name, created_by=principal.user_id)
        session.add(mapping)
    mapping.description = description
    mapping.columns, mapping.values, mapping.normalizers, mapping.patterns = (
        columns,
        clean_values,
        steps,
        regexes,
    )
    session.flush()
    audit.record(
        session,
        principal,
        "ingest.mapping.save",
        summary=f"{'新建' if created else '修改'}资源 {resource.code} 的映射“{name}”"
        f"（列对应 {len(columns)} 个，代码值映射 {len(clean_values)} 项）",
        object_type="ingest_mapping",
        object_id=mapping.id,
        detail={
            "resource_id": resource.id,
            "name": name,
            "created": created,
            "columns": columns,
            "values": clean_values,
            "normalizers": steps,
            "patterns": regexes,
        },
    )
    return mapping


def delete_mapping(session: Session, resource: Resource, name: str, principal: Principal) -> None:
    """Delete a mapping no source uses and no load recorded; audited."""
    require_role(principal, Role.operator, Role.steward, message="只有平台管理员和部门数据管理员可以删除映射")
    require_department(principal, resource.department_id, what="该资源")
    mapping = get_mapping(session, resource, name)
    sources = list(session.scalars(select(Source.name).where(Source.mapping_id == mapping.id)))
    if sources:
        raise Conflict(
            f"映射“{name}”正被数据源 {'、'.join(sources)} 使用，不能删除",
            code="mapping_in_use",
            detail={"sources": sources, "fix": "请先让这些数据源改用其他映射或不用映射"},
        )
    loads = session.scalar(select(func.count()).select_from(Load).where(Load.mapping_id == mapping.id)) or 0
    if loads:
        raise Conflict(
            f"映射“{name}”已被 {loads} 个归集批次使用，为保留批次记录不能删除",
            code="mapping_in_use",
            detail={"loads": loads, "fix": "可以直接修改这个映射的内容，或另存为新名称"},
        )
    mapping_id = mapping.id
    session.delete(mapping)
    session.flush()
    audit.record(
        session,
        principal,
        "ingest.mapping.delete",
        summary=f"删除资源 {resource.code} 的映射“{name}”",
        object_type="ingest_mapping",
        object_id=mapping_id,
        detail={"resource_id": resource.id, "name": name},
    )
