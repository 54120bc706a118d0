"""数据标准：national code sets, data elements and the classification tree, shipped as data files.

``load_national_standards`` upserts the files of ``catalog/data/`` by identifier (idempotent: loading
twice changes nothing); ``ensure_national_standards`` does so only when the files changed since the
last load (one query on the ``standards_version`` option), which is what ``jutong db upgrade`` runs.
Codes that disappear from a national code set are kept, marked not valid, so old data still reads.
Local additions by the operator (本地数据元、代码集、目/细目) live in ``catalog.standards_local`` and
are re-exported here, so callers need this one module.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from jutong.catalog.models import (
    Classification,
    CodeSet,
    CodeValue,
    DataElement,
    DataItem,
    DataType,
    Resource,
    ResourceStatus,
    SecurityLevel,
    StandardSource,
)
from jutong.catalog.standards_local import (
    ValueRow,
    add_local_classification,
    add_local_code_set,
    add_local_element,
    classification_level,
    classification_parent,
    decode_upload,
    parse_code_values,
)
from jutong.core.db import Base, utcnow
from jutong.core.errors import NotFound
from jutong.core.options import get_option, put_option
from jutong.registry.models import Department
from jutong.standards.codes import VALIDATORS

DATA_DIR = Path(__file__).parent / "data"
VERSION_OPTION = "standards_version"
NATIONAL = StandardSource.national.value
LOCAL = StandardSource.local.value


# ---------------------------------------------------------------- data files


def read_data_csv(path: Path) -> list[dict[str, str]]:
    """A data file's rows by header; lines starting with ``#`` are comments."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    return [{k: (v or "").strip() for k, v in row.items()} for row in reader]


def data_files() -> list[Path]:
    return sorted(p for p in DATA_DIR.rglob("*.csv") if p.is_file())


def data_digest() -> str:
    """SHA-256 over the shipped data files: the version marker of the national standards."""
    digest = hashlib.sha256()
    for path in data_files():
        digest.update(path.relative_to(DATA_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _yes(value: str) -> bool:
    return value.strip().lower() in ("是", "1", "true", "yes", "y")


# ---------------------------------------------------------------- loading


def _update(row: object, values: Mapping[str, object]) -> None:
    """Set only what changed, so a reload of unchanged files writes nothing."""
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


def _insert(session: Session, model: type[Base], rows: list[dict[str, object]]) -> None:
    """New rows as one bulk INSERT (a first load adds a few hundred), outside the unit of work."""
    if rows:
        session.execute(insert(model), rows)


def _load_classifications(session: Session) -> int:
    rows = read_data_csv(DATA_DIR / "classification.csv")
    existing = {c.code: c for c in session.scalars(select(Classification))}
    new: list[dict[str, object]] = []
    for row in rows:
        code = row["code"]
        if not code.isdigit() or len(code) not in (1, 3, 6):
            raise ValueError(f"classification.csv: 分类码“{code}”应为 1、3 或 6 位数字")
        values = {
            "name": row["name"],
            "level": classification_level(code),
            "parent_code": classification_parent(code),
            "source": NATIONAL,
        }
        found = existing.get(code)
        if found is None:
            new.append({"code": code, **values})
        else:
            _update(found, values)
    _insert(session, Classification, new)
    return len(rows)


def _load_code_sets(session: Session) -> tuple[dict[str, int], int]:
    manifest = read_data_csv(DATA_DIR / "code_sets.csv")
    existing = {s.identifier: s for s in session.scalars(select(CodeSet))}
    sets: list[tuple[CodeSet, list[dict[str, str]]]] = []
    for row in manifest:
        found = existing.get(row["identifier"])
        if found is None:
            found = CodeSet(identifier=row["identifier"], name=row["name"], created_at=utcnow())
            session.add(found)
        found.name, found.description, found.source = row["name"], row["description"], NATIONAL
        sets.append((found, read_data_csv(DATA_DIR / "code_sets" / row["file"])))
    session.flush()
    ids = [s.id for s, _ in sets]
    current: dict[tuple[int, str], CodeValue] = {
        (v.code_set_id, v.code): v
        for v in session.scalars(select(CodeValue).where(CodeValue.code_set_id.in_(ids)))
    }
    count = 0
    new: list[dict[str, object]] = []
    for code_set, rows in sets:
        shipped: set[str] = set()
        for position, row in enumerate(rows, start=1):
            code = row["code"]
            shipped.add(code)
            values = {
                "label": row["label"],
                "position": position,
                "parent_code": row.get("parent_code") or None,
                "valid": True,
            }
            value = current.get((code_set.id, code))
            if value is None:
                new.append({"code_set_id": code_set.id, "code": code, **values})
            else:
                _update(value, values)
        for (set_id, code), value in current.items():
            if set_id == code_set.id and code not in shipped and value.valid:
                value.valid = False  # retired from the standard: kept for old data
        count += len(rows)
    _insert(session, CodeValue, new)
    return {s.identifier: s.id for s, _ in sets}, count


def _load_elements(session: Session, code_set_ids: dict[str, int]) -> int:
    rows = read_data_csv(DATA_DIR / "data_elements.csv")
    existing = {e.identifier: e for e in session.scalars(select(DataElement))}
    all_sets = {s.identifier: s.id for s in session.scalars(select(CodeSet))} | code_set_ids
    new: list[dict[str, object]] = []
    for number, row in enumerate(rows, start=1):
        where = f"data_elements.csv 第 {number} 条（{row['identifier']}）"
        data_type = DataType.from_label(row["data_type"])
        if data_type is None:
            raise ValueError(f"{where}：数据类型“{row['data_type']}”无效")
        level = SecurityLevel.from_label(row["security_level"] or "一般")
        if level is None:
            raise ValueError(f"{where}：安全级别“{row['security_level']}”无效")
        if row["validator"] and row["validator"] not in VALIDATORS:
            raise ValueError(f"{where}：校验规则“{row['validator']}”不存在")
        if row["code_set"] and row["code_set"] not in all_sets:
            raise ValueError(f"{where}：代码集“{row['code_set']}”不存在")
        values = {
            "name": row["name"],
            "english_name": row["english_name"],
            "definition": row["definition"],
            "data_type": data_type.value,
            "length": int(row["length"]) if row["length"] else None,
            "precision": int(row["precision"]) if row["precision"] else None,
            "format": row["format"],
            "validator": row["validator"] or None,
            "code_set_id": all_sets[row["code_set"]] if row["code_set"] else None,
            "sensitive": _yes(row["sensitive"]),
            "security_level": level.value,
            "source": NATIONAL,
        }
        found = existing.get(row["identifier"])
        if found is None:
            new.append({"identifier": row["identifier"], "created_at": utcnow(), **values})
        else:
            _update(found, values)
    _insert(session, DataElement, new)
    return len(rows)


def load_national_standards(session: Session) -> dict[str, int]:
    """Upsert the shipped classification tree, code sets (with values) and data elements.

    Idempotent; returns how many of each the files hold. Does not commit."""
    counts = {"classifications": _load_classifications(session)}
    code_set_ids, value_count = _load_code_sets(session)
    counts["code_sets"] = len(code_set_ids)
    counts["code_values"] = value_count
    counts["data_elements"] = _load_elements(session, code_set_ids)
    session.flush()
    put_option(
        session, VERSION_OPTION, {"digest": data_digest(), "loaded_at": utcnow().isoformat(), **counts}
    )
    return counts


def ensure_national_standards(session: Session) -> dict[str, int] | None:
    """Load the national standards unless this very version is loaded already (None then)."""
    marker = get_option(session, VERSION_OPTION)
    if marker is not None and marker.get("digest") == data_digest():
        return None
    return load_national_standards(session)


# ---------------------------------------------------------------- lookups


def element_by_identifier(session: Session, identifier: str) -> DataElement | None:
    return session.scalar(select(DataElement).where(DataElement.identifier == identifier.strip()))


def code_set_by_identifier(session: Session, identifier: str) -> CodeSet | None:
    return session.scalar(select(CodeSet).where(CodeSet.identifier == identifier.strip()))


def classification_by_code(session: Session, code: str) -> Classification | None:
    return session.scalar(select(Classification).where(Classification.code == code.strip()))


def get_element(session: Session, key: int | str) -> DataElement:
    """By database id or by identifier (DE0001)."""
    text = str(key).strip()
    element = session.get(DataElement, int(text)) if text.isdigit() else None
    element = element or element_by_identifier(session, text)
    if element is None:
        raise NotFound(f"数据元“{text}”不存在", code="element_not_found")
    return element


def get_code_set(session: Session, key: int | str) -> CodeSet:
    """By database id or by identifier (GB/T 2261.1-2003)."""
    text = str(key).strip()
    code_set = session.get(CodeSet, int(text)) if text.isdigit() else None
    code_set = code_set or code_set_by_identifier(session, text)
    if code_set is None:
        raise NotFound(f"代码集“{text}”不存在", code="code_set_not_found")
    return code_set


def code_values(session: Session, code_set: CodeSet | str, *, valid_only: bool = False) -> list[CodeValue]:
    """The values of a code set (object or identifier) in the standard's order."""
    target = code_set if isinstance(code_set, CodeSet) else get_code_set(session, code_set)
    stmt = select(CodeValue).where(CodeValue.code_set_id == target.id)
    if valid_only:
        stmt = stmt.where(CodeValue.valid.is_(True))
    return list(session.scalars(stmt.order_by(CodeValue.position, CodeValue.code)))


def list_code_sets(session: Session, *, source: str | None = None) -> list[tuple[CodeSet, int]]:
    """Code sets with how many values each holds."""
    counts = (
        select(CodeValue.code_set_id, func.count(CodeValue.id).label("n"))
        .group_by(CodeValue.code_set_id)
        .subquery()
    )
    stmt = select(CodeSet, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.code_set_id == CodeSet.id)
    if source:
        stmt = stmt.where(CodeSet.source == source)
    return [(s, int(n)) for s, n in session.execute(stmt.order_by(CodeSet.source, CodeSet.identifier))]


def search_elements(
    session: Session,
    *,
    q: str = "",
    source: str | None = None,
    code_set_id: int | None = None,
    limit: int = 500,
) -> list[DataElement]:
    """Data elements whose identifier, Chinese or English name contains ``q`` (and that use a code set)."""
    stmt = select(DataElement)
    if code_set_id is not None:
        stmt = stmt.where(DataElement.code_set_id == code_set_id)
    text = q.strip().lower()
    if text:
        stmt = stmt.where(
            func.lower(DataElement.identifier).contains(text, autoescape=True)
            | func.lower(DataElement.name).contains(text, autoescape=True)
            | func.lower(DataElement.english_name).contains(text, autoescape=True)
        )
    if source:
        stmt = stmt.where(DataElement.source == source)
    return list(session.scalars(stmt.order_by(DataElement.identifier).limit(limit)))


def list_classifications(session: Session) -> list[Classification]:
    return list(session.scalars(select(Classification).order_by(Classification.code)))


def code_set_names(session: Session) -> dict[int, CodeSet]:
    return {s.id: s for s in session.scalars(select(CodeSet))}


@dataclass(frozen=True)
class ElementUse:
    """A data item bound to an element, in a resource that has a published version."""

    resource_id: int
    resource_code: str
    resource_name: str
    department: str
    item_name: str
    status: str


def element_usage(session: Session, element: DataElement) -> list[ElementUse]:
    stmt = (
        select(Resource.id, Resource.code, Resource.name, Department.name, DataItem.name, Resource.status)
        .join(DataItem, DataItem.resource_id == Resource.id)
        .join(Department, Department.id == Resource.department_id)
        .where(
            DataItem.element_id == element.id,
            Resource.published_version.is_not(None),
            Resource.status != ResourceStatus.withdrawn.value,
        )
        .order_by(Resource.code, DataItem.position)
    )
    return [ElementUse(*row) for row in session.execute(stmt)]


__all__ = [
    "ElementUse",
    "ValueRow",
    "add_local_classification",
    "add_local_code_set",
    "add_local_element",
    "classification_by_code",
    "classification_level",
    "classification_parent",
    "code_set_by_identifier",
    "code_values",
    "decode_upload",
    "element_by_identifier",
    "element_usage",
    "ensure_national_standards",
    "get_code_set",
    "get_element",
    "list_classifications",
    "list_code_sets",
    "load_national_standards",
    "parse_code_values",
    "search_elements",
]
