"""The load pipeline: source → plan → check → stage → apply, in one transaction (归集批次).

``start_load`` records the load as running; ``execute_load`` streams the source's batches through the
mapping and the rules (``ingest.validate``), writes good rows to the data plane and rejects to
``ingest_reject``, then applies the load and records its counts, all inside a savepoint: a failure rolls
the savepoint back, so the previous data version stays exactly as it was, and marks the load failed with
its reason. Reading and checking the next batch (polars, which releases the GIL) overlaps with writing
the current one (``_prefetch``), so the two cores both work.

``read = loaded + rejected`` holds for every load that succeeds and is checked before it is committed;
``loaded = inserted + updated + unchanged`` for a full load (its deletions are the previous version's rows
the file no longer has) and ``inserted + updated + deleted + unchanged`` for an incremental one.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource, ResourceStatus, ResourceVersion
from jutong.core import audit
from jutong.core.auth import Principal, Role, require_department, require_role
from jutong.core.db import utcnow
from jutong.core.errors import AppError, NotFound, ValidationFailed
from jutong.ingest import dataplane
from jutong.ingest.dataplane import Writer
from jutong.ingest.models import Load, LoadMode, LoadStatus, Mapping, Reject, ResourceData, Source

log = logging.getLogger(__name__)
T = TypeVar("T")

STALE_AFTER = timedelta(hours=6)  # a running load from another host with no sign of life for this long died


@dataclass(frozen=True)
class Progress:
    """What a progress bar shows: rows read so far, and the phase (读取校验 / 写入 / 完成)."""

    load_id: int
    rows_read: int
    phase: str
    bytes_total: int | None = None


ProgressFn = Callable[[Progress], None]


class LoadFailed(AppError):
    status_code = 422
    code = "load_failed"
    default_message = "归集失败"


# ---- finding what to load into ---------------------------------------------------------------


def resource_by_code(session: Session, code: str) -> Resource:
    resource = session.scalar(select(Resource).where(Resource.code == code.strip()))
    if resource is None:
        raise NotFound(
            f"资源代码“{code}”不存在",
            code="resource_not_found",
            detail={"fix": "请用 jutong catalog search 查找资源代码"},
        )
    return resource


def published_snapshot(session: Session, resource: Resource) -> tuple[int, dict[str, Any]]:
    """The latest published version: a load always goes into a published resource and enforces its items."""
    if resource.published_version is None or resource.status == ResourceStatus.withdrawn.value:
        raise ValidationFailed(
            f"资源 {resource.code}“{resource.name}”尚未发布或已撤销，不能归集数据",
            code="resource_not_published",
            detail={"fix": "请先在资源目录中提交并发布该资源"},
        )
    version = session.scalar(
        select(ResourceVersion).where(
            ResourceVersion.resource_id == resource.id, ResourceVersion.version == resource.published_version
        )
    )
    assert version is not None
    return version.version, dict(version.snapshot)


def require_loader(principal: Principal, resource: Resource) -> None:
    require_role(
        principal, Role.operator, Role.steward, message="只有平台管理员和提供部门的数据管理员可以归集数据"
    )
    require_department(principal, resource.department_id, what="该资源")


# ---- the load --------------------------------------------------------------------------------


def start_load(
    session: Session,
    resource: Resource,
    principal: Principal,
    *,
    mode: LoadMode | str,
    source_label: str = "",
    source: Source | None = None,
    mapping: Mapping | None = None,
) -> Load:
    """Record a load as running (callers that can be killed commit this first, so it is never lost)."""
    require_loader(principal, resource)
    catalog_version, _ = published_snapshot(session, resource)
    load = Load(
        resource_id=resource.id,
        department_id=resource.department_id,
        catalog_version=catalog_version,
        mode=LoadMode(mode).value,
        status=LoadStatus.running.value,
        source_id=source.id if source else None,
        mapping_id=mapping.id if mapping else None,
        source_label=source_label or (source.name if source else ""),
        created_by=principal.user_id,
        stats={"worker": worker_id()},
    )
    session.add(load)
    session.flush()
    return load


def execute_load(
    session: Session,
    load: Load,
    batches: Any,  # ingest.readers.SourceBatches
    principal: Principal,
    *,
    mapping: Mapping | None = None,
    progress: ProgressFn | None = None,
) -> Load:
    """Run the load; on any failure the data stays at the previous version and the load is marked failed."""
    from jutong.ingest import validate  # the rules import the catalog; keep this module light to import

    began = time.perf_counter()
    resource = session.get(Resource, load.resource_id)
    assert resource is not None
    try:
        with session.begin_nested():
            _run(session, load, resource, batches, mapping, progress, validate)
    except Exception as exc:
        session.expire(load)
        mark_failed(session, load, exc, time.perf_counter() - began)
        audit.record(
            session,
            principal,
            "ingest.load.failed",
            summary=f"归集失败：{resource.code} {resource.name}（批次 #{load.id}）：{load.error_message}",
            object_type="load",
            object_id=load.id,
            outcome="failure",
            detail={"resource_id": resource.id, "error_code": load.error_code},
        )
        if progress:
            progress(Progress(load.id, load.read_count, "失败"))
        if not isinstance(exc, AppError):
            log.exception("load %s failed", load.id)
        return load
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    load.seconds = round(time.perf_counter() - began, 3)
    audit.record(
        session,
        principal,
        "ingest.load",
        summary=(
            f"归集 {resource.code} {resource.name}：读取 {load.read_count} 条，入库 {load.loaded_count} 条，"
            f"问题数据 {load.rejected_count} 条，数据版本 {load.data_version}"
        ),
        object_type="load",
        object_id=load.id,
        detail=summary(load),
    )
    if progress:
        progress(Progress(load.id, load.read_count, "完成"))
    return load


def _run(
    session: Session,
    load: Load,
    resource: Resource,
    batches: Any,
    mapping: Mapping | None,
    progress: ProgressFn | None,
    validate: Any,
) -> None:
    catalog_version, snapshot = published_snapshot(session, resource)
    info = batches.info
    load.file_format, load.encoding = info.file_format, info.encoding
    plan = validate.build_plan(session, snapshot, mapping, list(info.columns))
    columns = dataplane.columns_of(snapshot)
    data = dataplane.ensure_resource_data(session, resource.id, snapshot)
    if session.get_bind().dialect.name == "postgresql":  # one load at a time per resource
        session.query(ResourceData).filter_by(id=data.id).with_for_update().one()
    version = data.data_version + 1
    writer = Writer(session, data, columns, load.id, version)
    writer.ensure_log()
    mode = LoadMode(load.mode)
    full = mode == LoadMode.full
    live_exists = writer.table_exists(data.table_name)
    if not full and live_exists:
        writer.add_missing_columns(data.table_name)
    target = f"{data.table_name}__l{load.id}" if full else f"{data.table_name}__s{load.id}"
    pg = writer.dialect == "postgresql"
    if full:
        writer.create_live(target, with_key=not pg)
    else:
        writer.create_stage(target)
    item_names = writer.names
    names = [*item_names, "_hash", "_version" if full else "_op", "_row"]
    labels = {i["column_name"]: i["name"] for i in snapshot.get("items") or []}
    stats = None
    read = rejected = 0
    # seconds per phase, kept with the load: where a slow load spent its time
    timings = {"wait_for_rows": 0.0, "write": 0.0, "key_index": 0.0, "apply": 0.0, "quality": 0.0}
    mark = time.perf_counter()

    def prepare(frame: pl.DataFrame) -> tuple[Any, pl.DataFrame, list[pl.DataFrame], Any]:
        """Check a batch and encode it for the database; runs in the reading thread (polars frees the GIL)."""
        checked = validate.check_batch(frame, plan)
        good, extra = checked.good, []
        if full:
            deletes = good.filter(pl.col("_op") == "D")
            if deletes.height:
                extra.append(_op_rejects(deletes, plan))
                good = good.filter(pl.col("_op") != "D")
            good = good.with_columns(pl.lit(version, dtype=pl.Int32).alias("_version"))
        return checked, good, extra, writer.encode(good, names) if good.height else None

    for checked, good, extra_rejects, encoded in _prefetch(prepare(frame) for frame in batches.batches):
        timings["wait_for_rows"] += time.perf_counter() - mark
        read += checked.good.height + checked.rejects.height
        stats = checked.stats if stats is None else stats.merge(checked.stats)
        began = time.perf_counter()
        taken = writer.write(target, good, names, rowid=full and not pg, encoded=encoded)
        timings["write"] += time.perf_counter() - began
        if full and not pg and taken < good.height:
            duplicates = writer.skipped_duplicates(target, good)
            extra_rejects.append(dataplane.reject_frame_for_duplicates(duplicates, labels, writer.keys))
        for frame in (checked.rejects, *extra_rejects):
            rejected += _store_rejects(session, load.id, frame)
        if progress:
            progress(Progress(load.id, read, "读取校验", getattr(info, "size_bytes", None)))
        mark = time.perf_counter()
    load.encoding = info.encoding  # a GBK file that starts with plain ASCII is only recognised later
    if progress:
        progress(Progress(load.id, read, "写入"))
    # repeated keys within the load: keep the first row, reject the later ones
    mark = time.perf_counter()
    if pg and full:
        while not writer.add_primary_key(target):
            duplicates = writer.duplicates(target, "_row")
            writer.delete_rows(target, "_row", (d[0] for d in duplicates))
            rejected += _store_rejects(
                session, load.id, dataplane.reject_frame_for_duplicates(duplicates, labels, writer.keys)
            )
    if not full:
        writer.index_stage(target)
        duplicates = writer.duplicates(target, "_row")
        if duplicates:
            writer.delete_rows(target, "_row", (d[0] for d in duplicates))
            rejected += _store_rejects(
                session, load.id, dataplane.reject_frame_for_duplicates(duplicates, labels, writer.keys)
            )
    staged = writer.count(target)
    timings["key_index"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if full:
        if live_exists and data.data_version > 0:
            inserted, updated, deleted = writer.diff_full(target)
        else:  # the baseline: every row is new, none is logged (see the module docstring)
            inserted, updated, deleted = staged, 0, 0
        writer.swap(target)
        unchanged = staged - inserted - updated
        row_count = staged
    else:
        if not live_exists:
            writer.create_live(data.table_name, with_key=True)
            if pg:
                writer.exec(f"ALTER TABLE {writer.live} DROP COLUMN _row")
        inserted, updated, deleted = writer.apply_incremental(target)
        writer.drop(target)
        unchanged = staged - inserted - updated - deleted
        row_count = writer.count(data.table_name)
    loaded = read - rejected
    if loaded != staged or unchanged < 0:
        raise LoadFailed(
            f"计数不一致：读取 {read} 条 = 入库 {loaded} 条 + 问题数据 {rejected} 条，但暂存了 {staged} 条，已回滚",
            code="load_count_mismatch",
        )
    timings["apply"] = time.perf_counter() - mark
    dataplane.touch(
        data,
        version=version,
        load_id=load.id,
        rows=row_count,
        catalog_version=catalog_version,
        columns=columns,
    )
    load.status = LoadStatus.succeeded.value
    load.data_version = version
    load.read_count, load.loaded_count, load.rejected_count = read, loaded, rejected
    load.inserted_count, load.updated_count, load.deleted_count = inserted, updated, deleted
    load.unchanged_count = unchanged
    load.finished_at = utcnow()
    load.stats = {
        **(load.stats or {}),
        "items": stats.to_json() if stats is not None else {},
        "unmapped_columns": list(plan.unmapped_source_columns),
        "baseline": bool(full and not (live_exists and version > 1)),
        "row_count": row_count,
        "timings": timings,
    }
    session.flush()
    from jutong.sharing import corrections  # 纠错: a confirmed report closes with the version that fixed it

    corrections.close_fixed(session, resource.id, version)
    mark = time.perf_counter()
    _assess(session, load)
    timings["quality"] = time.perf_counter() - mark
    load.stats = {**load.stats, "timings": {k: round(v, 3) for k, v in timings.items()}}


def _assess(session: Session, load: Load) -> None:
    """The quality report of the load (ingest.quality, when present)."""
    try:
        from jutong.ingest import quality
    except ImportError:  # pragma: no cover - until the quality module lands
        return
    quality.assess_load(session, load)


def _op_rejects(deletes: pl.DataFrame, plan: Any) -> pl.DataFrame:
    import json

    message = json.dumps(
        [
            {
                "item": "操作类型",
                "column": "_op",
                "value": "D",
                "rule": "op",
                "message": "全量归集不接受删除标记；删除请用增量模式",
            }
        ],
        ensure_ascii=False,
    )
    keys = list(plan.key_columns)
    return deletes.select(
        pl.col("_row"),
        pl.struct(keys).struct.json_encode().alias("raw"),
        pl.lit(message).alias("reasons"),
    )


def _store_rejects(session: Session, load_id: int, frame: pl.DataFrame) -> int:
    if frame.height == 0:
        return 0
    import json

    rows = [
        {"load_id": load_id, "row_number": row, "raw": json.loads(raw), "reasons": json.loads(reasons)}
        for row, raw, reasons in frame.select("_row", "raw", "reasons").iter_rows()
    ]
    session.execute(insert(Reject), rows)
    return frame.height


def mark_failed(session: Session, load: Load, exc: BaseException, seconds: float) -> None:
    load.status = LoadStatus.failed.value
    if isinstance(exc, AppError):
        load.error_code, load.error_message = exc.code, exc.message
        fix = exc.detail.get("fix") if isinstance(exc.detail, dict) else None
        if fix:
            load.error_message += f"。{fix}"
    else:
        load.error_code, load.error_message = (
            "internal_error",
            f"内部错误：{type(exc).__name__}：{exc}"[:2000],
        )
    load.finished_at = utcnow()
    load.seconds = round(seconds, 3)
    # nothing of the failed attempt stays: its rejects were in the rolled-back savepoint
    load.read_count = load.loaded_count = load.rejected_count = 0
    load.inserted_count = load.updated_count = load.deleted_count = load.unchanged_count = 0
    session.flush()


def summary(load: Load) -> dict[str, Any]:
    """The summary the CLI prints and the API returns."""
    return {
        "load_id": load.id,
        "resource_id": load.resource_id,
        "status": load.status,
        "mode": load.mode,
        "data_version": load.data_version,
        "read": load.read_count,
        "loaded": load.loaded_count,
        "rejected": load.rejected_count,
        "inserted": load.inserted_count,
        "updated": load.updated_count,
        "deleted": load.deleted_count,
        "unchanged": load.unchanged_count,
        "seconds": load.seconds,
        "quality_score": load.quality_score,
        "timings": (load.stats or {}).get("timings"),
        "error_code": load.error_code or None,
        "error_message": load.error_message or None,
    }


# ---- interrupted loads ------------------------------------------------------------------------


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's: judged by age instead
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(session: Session) -> int:
    """Loads left running by a process that died (killed, power loss): mark them failed so they can be re-run."""
    now = utcnow()
    count = 0
    waiting = (LoadStatus.running.value, LoadStatus.queued.value)
    for load in session.scalars(select(Load).where(Load.status.in_(waiting))):
        worker = str((load.stats or {}).get("worker", ""))
        if now - load.started_at < STALE_AFTER and (load.status == LoadStatus.queued.value or _alive(worker)):
            continue  # a queued upload waits for the background worker; a running one for its process
        load.status = LoadStatus.failed.value
        load.error_code = "load_interrupted"
        load.error_message = "归集进程中断（被终止或机器重启），数据仍为上一版本；请重新运行该批次"
        load.finished_at = now
        count += 1
    session.flush()
    return count


def latest_loads(session: Session, resource_id: int, limit: int = 20) -> list[Load]:
    return list(
        session.scalars(
            select(Load).where(Load.resource_id == resource_id).order_by(Load.id.desc()).limit(limit)
        )
    )


def load_count(session: Session, resource_id: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Load).where(Load.resource_id == resource_id)) or 0
    )


# ---- overlapping reading with writing ---------------------------------------------------------

_DONE = object()


def _prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Produce the next items in a thread while the caller consumes this one (errors come through)."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    thread = threading.Thread(target=produce, name="ingest-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)
