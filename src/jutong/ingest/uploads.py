"""Uploaded data files (页面和 API 上传): size limit, where they are kept until the load runs.

The file is copied in chunks to ``<data_dir>/uploads/<uuid>`` and handed to the background worker
(``service.queue_file_load``), which deletes it when the load is done. The size limit is
``ingest_max_upload_bytes``: a request that announces a larger body is refused before it is read, and
a body that turns out larger is refused as soon as the limit is passed.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import audit
from jutong.core.auth import Principal
from jutong.core.config import get_settings
from jutong.core.errors import AppError, ValidationFailed
from jutong.ingest.models import Load, LoadMode

CHUNK = 1024 * 1024
# multipart framing and the form's small fields around the file
ENVELOPE_BYTES = 64 * 1024


class UploadTooLarge(AppError):
    status_code = 413
    code = "file_too_large"
    default_message = "上传的文件超过大小上限"


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def max_bytes() -> int:
    return int(get_settings().ingest_max_upload_bytes)


def human_size(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} GB"
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} 字节"


def too_large(size: int | None = None) -> UploadTooLarge:
    limit = max_bytes()
    got = f"（{human_size(size)}）" if size else ""
    return UploadTooLarge(
        f"上传的文件{got}超过平台上限 {human_size(limit)}",
        detail={
            "limit_bytes": limit,
            "size_bytes": size,
            "fix": "请把文件拆成几个较小的文件分批用增量模式上传，或请平台管理员用命令行 jutong ingest 归集（命令行不受此限）",
        },
    )


def check_announced(content_length: str | None) -> None:
    """Refuse at once a request whose announced body is over the limit (nothing is read)."""
    if content_length and content_length.isdigit() and int(content_length) > max_bytes() + ENVELOPE_BYTES:
        raise too_large(int(content_length))


def uploads_dir() -> Path:
    path = get_settings().data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(stream: Readable, filename: str) -> Path:
    """Copy the upload to the uploads directory; refuses an empty or too large file."""
    if not filename:
        raise ValidationFailed("请选择要上传的数据文件", code="file_missing")
    limit = max_bytes()
    suffix = Path(filename).suffix.lower()[:10]
    path = uploads_dir() / f"{uuid.uuid4().hex}{suffix}"
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(size)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ValidationFailed(
            f"上传的文件“{filename}”是空的（0 字节）",
            code="file_empty",
            detail={"fix": "请检查导出的文件是否完整，第一行为列名，之后每行一条记录"},
        )
    return path


def queue_upload(
    session: Session,
    principal: Principal,
    resource: Resource,
    stream: Readable,
    filename: str,
    *,
    mode: str = LoadMode.full.value,
    mapping_name: str | None = None,
) -> Load:
    """Check, keep and queue an uploaded file's load (the background worker runs it); audited."""
    from jutong.ingest import pipeline, service

    pipeline.require_loader(principal, resource)
    pipeline.published_snapshot(session, resource)  # refuse an unpublished resource before reading the file
    if mode not in {m.value for m in LoadMode}:
        raise ValidationFailed(
            f"归集方式只能是 full（全量）或 incremental（增量），收到“{mode}”", code="mode_invalid"
        )
    mapping = service.mapping_by_name(session, resource, (mapping_name or "").strip() or None)
    service.ensure_not_running(session, resource)
    name = Path(filename or "").name.strip()
    path = save(stream, name)
    try:
        load = service.queue_file_load(
            session, principal, resource, path, filename=name, mode=mode, mapping=mapping
        )
        size = path.stat().st_size
        load.stats = {**(load.stats or {}), "upload_bytes": size}
        audit.record(
            session,
            principal,
            "ingest.upload",
            summary=(
                f"上传 {resource.code} {resource.name} 的数据文件“{name}”（{human_size(size)}，"
                f"{LoadMode(mode).label}），批次 #{load.id} 排队归集"
            ),
            object_type="load",
            object_id=load.id,
            detail={
                "resource_id": resource.id,
                "filename": name,
                "bytes": size,
                "mode": mode,
                "mapping": mapping.name if mapping else None,
            },
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return load
