"""The change log of a resource as people and the quality report see it (变更日志): versions and counts.

Only counts per data version and operation (I 新增 / U 更新 / D 删除) leave this module, never the
row values: rows are personal data and are served by the exchange under a grant. The first load of a
resource is its baseline and is not copied into the log (see ``ingest.dataplane``); it is listed with
its load's counts and marked as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jutong.ingest import dataplane
from jutong.ingest.models import Load, LoadStatus, ResourceData


@dataclass(frozen=True)
class ChangeVersion:
    """One data version of a resource: which load made it and how many rows it changed."""

    version: int
    load_id: int | None
    mode: str
    loaded_at: datetime | None
    inserted: int
    updated: int
    deleted: int
    baseline: bool  # the first load: its rows are the starting point, not logged as changes
    logged: int  # rows of this version in the change log


def _log_counts(session: Session, data: ResourceData) -> dict[int, dict[str, int]]:
    """``{version: {"I": n, "U": n, "D": n}}`` from the log table (one grouped query, no row values)."""
    writer_dialect = session.get_bind().dialect.name
    log = data.log_table_name
    if writer_dialect == "postgresql":
        exists = session.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": log})
    else:
        exists = session.scalar(
            text("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=:t"), {"t": log}
        )
    if not exists:
        return {}
    quoted = '"' + log.replace('"', '""') + '"'
    out: dict[int, dict[str, int]] = {}
    for version, op, count in session.execute(
        text(f"SELECT _version, _op, count(*) FROM {quoted} GROUP BY _version, _op")
    ):
        out.setdefault(int(version), {})[str(op).strip()] = int(count)
    return out


def change_versions(session: Session, resource_id: int, limit: int = 100) -> list[ChangeVersion]:
    """The resource's data versions, newest first, with the counts of the change log."""
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resource_id))
    if data is None:
        return []
    counts = _log_counts(session, data)
    loads = {
        load.data_version: load
        for load in session.scalars(
            select(Load).where(
                Load.resource_id == resource_id,
                Load.status == LoadStatus.succeeded.value,
                Load.data_version.is_not(None),
            )
        )
        if load.data_version is not None
    }
    versions = sorted(set(loads) | set(counts), reverse=True)[:limit]
    out = []
    for version in versions:
        load = loads.get(version)
        logged = counts.get(version, {})
        baseline = bool(load and (load.stats or {}).get("baseline")) and not logged
        out.append(
            ChangeVersion(
                version=version,
                load_id=load.id if load else None,
                mode=load.mode if load else "",
                loaded_at=(load.finished_at or load.started_at) if load else None,
                inserted=load.inserted_count if baseline and load else logged.get("I", 0),
                updated=logged.get("U", 0),
                deleted=logged.get("D", 0),
                baseline=baseline,
                logged=sum(logged.values()),
            )
        )
    return out


OP_LABELS = dataplane.LOG_OPS
