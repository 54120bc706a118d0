"""The application factory: routers, middleware, error handling, static files, background sealing."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from jutong import __version__
from jutong.core import audit, db, jobs
from jutong.core.config import get_settings
from jutong.core.errors import AppError, Forbidden, NotAuthenticated
from jutong.exchange.fast_lookup import FastLookupMiddleware, FastLookups
from jutong.web import deps, pages

log = logging.getLogger("jutong")

STATIC_DIR = Path(__file__).parent / "static"

_HTTP_MESSAGES = {
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "上传内容过大"),
}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/healthz")) and "text/html" in request.headers.get(
        "accept", "text/html"
    )


def _error_response(request: Request, status: int, code: str, message: str, detail: Any = None) -> Response:
    if _wants_html(request):
        if status == 401:
            return pages.redirect(f"/login?next={request.url.path}")
        principal = getattr(request.state, "principal", None)
        return pages.render(
            request,
            "error.html",
            {"status_code": status, "code": code, "message": message, "detail": detail},
            principal=principal,
            status_code=status,
        )
    return JSONResponse({"code": code, "message": message, "detail": detail}, status_code=status)


def _audit_refusal(request: Request, exc: AppError) -> None:
    """Undo the request's changes but keep a record that it was refused (or that a key was bad)."""
    uow = deps.unit_of_work(request)
    uow.session.rollback()
    uow.keep_on_error = True
    principal = getattr(request.state, "principal", None)
    if isinstance(exc, NotAuthenticated):
        action, outcome, summary = "auth.api_key_failed", "failed", "API 密钥无效或已吊销"
    else:
        action, outcome, summary = (
            "access.denied",
            "denied",
            f"拒绝 {request.method} {request.url.path}：{exc.message}",
        )
    detail: dict[str, Any] = {"method": request.method, "path": request.url.path, "code": exc.code}
    if principal is not None and principal.application_id is not None:
        detail["application_id"] = principal.application_id  # which application's key was refused
    audit.record(
        uow.session,
        principal,
        action,
        summary=summary,
        outcome=outcome,
        object_type="route",
        object_id=request.url.path[:64],
        detail=detail,
        ip=deps.client_ip(request),
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, Forbidden) or exc.code == "api_key_invalid":
            await run_in_threadpool(_audit_refusal, request, exc)
        else:
            deps.unit_of_work(request).failed = True
        return _error_response(request, exc.status_code, exc.code, exc.message, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        deps.unit_of_work(request).failed = True
        problems = [
            {
                "where": ".".join(str(p) for p in err.get("loc", ())),
                "problem": err.get("msg", ""),
                "type": err.get("type"),
            }
            for err in exc.errors()
        ]
        where = "、".join(p["where"] for p in problems[:5])
        return _error_response(request, 422, "request_invalid", f"请求参数不正确：{where}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        deps.unit_of_work(request).failed = True
        code, message = _HTTP_MESSAGES.get(exc.status_code, ("http_error", str(exc.detail)))
        return _error_response(request, exc.status_code, code, message)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        # services check uniqueness first; this is the race where two requests pass that check at once
        deps.unit_of_work(request).failed = True
        return _error_response(
            request, 409, "integrity_conflict", "与现有数据冲突（可能有人同时提交了相同的编号），请刷新后重试"
        )

    @app.exception_handler(StatementError)
    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: Exception) -> Response:
        # a number or date the database cannot hold (an id of 20 digits, the year 9999 plus a day)
        deps.unit_of_work(request).failed = True
        cause = exc.orig if isinstance(exc, StatementError) else exc
        if not isinstance(exc, DataError) and not isinstance(cause, OverflowError):
            return await unexpected(request, exc)
        return _error_response(
            request, 422, "value_out_of_range", "请求中的数字或日期超出了允许的范围，请检查后重试"
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(request, 500, "internal_error", "服务器内部错误，请稍后重试或联系平台管理员")


# What every error answer really looks like (see _error_response); FastAPI documents its own 422 shape
# ({"detail": [{"loc", "msg", "type"}]}), which this app never sends, and no other error at all.
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "description": "统一的错误响应：code 供程序判断，message 为中文说明，detail 为补充信息（可为空）",
    "type": "object",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string", "title": "Code"},
        "message": {"type": "string", "title": "Message"},
        "detail": {"title": "Detail"},
    },
}


def _document_error_body(app: FastAPI) -> None:
    """Declare in /openapi.json the error body the API really sends: as the 422 answer, in place of
    FastAPI's default, and as every API operation's 4XX answer (400, 401, 403, 404, 409, 413 …)."""
    generate = app.openapi
    error = {
        "description": "错误（统一错误响应）",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas["ErrorBody"] = ERROR_BODY_SCHEMA
            schemas["HTTPValidationError"] = {"$ref": "#/components/schemas/ErrorBody"}
            schemas.pop("ValidationError", None)
            for path, operations in spec.get("paths", {}).items():
                if path.startswith("/api/"):
                    for operation in operations.values():
                        operation["responses"].setdefault("4XX", error)
        return generate()  # FastAPI keeps the schema it made, with the changes above

    app.openapi = openapi  # type: ignore[method-assign]


class AuditSealer:
    """Seals new audit events into the hash chain every few seconds while the server runs."""

    def __init__(self, interval: float, batch_size: int) -> None:
        self.interval, self.batch_size = interval, batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with db.session_scope() as session:
                    audit.seal_all(session, batch_size=self.batch_size)
            except Exception:  # keep sealing on the next tick; the events stay unsealed, not lost
                log.exception("audit sealing failed")


def _fast_lookups(enabled: bool | None) -> FastLookups | None:
    """The lookups' fast path, on PostgreSQL unless switched off (``JUTONG_FAST_LOOKUPS=false``)."""
    if not (get_settings().fast_lookups if enabled is None else enabled):
        return None
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        return None
    return FastLookups(engine, lambda: deps.session_factory())


def create_app(*, seal_audit: bool = True, fast_lookups: bool | None = None) -> FastAPI:
    from jutong.ingest import service as _ingest_jobs  # noqa: F401  (registers its background jobs)

    settings = get_settings()
    fast = _fast_lookups(fast_lookups)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sealer = AuditSealer(settings.audit_seal_interval_seconds, settings.audit_seal_batch_size)
        worker = jobs.JobWorker(settings.job_interval_seconds)
        if seal_audit:
            sealer.start()
            worker.start()
        if fast is not None:
            await fast.open()
        # the app's own objects (routes, models, metadata) live as long as the process: out of the collector's
        # sight, the full collections that come every few thousand requests take milliseconds, not tens of them
        gc.freeze()
        yield
        if fast is not None:
            await fast.close()
        if seal_audit:
            worker.stop()
            sealer.stop()

    app = FastAPI(
        title="聚通 jutong 政务数据共享交换平台 API",
        version=__version__,
        description="所有接口位于 /api/v1。程序使用 API 密钥：`Authorization: Bearer <密钥>`。"
        '错误统一为 `{"code", "message", "detail"}`。',
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie="jutong_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # added last, so it runs outside the session middleware and inside the server-error handler
    app.add_middleware(deps.UnitOfWorkMiddleware)
    if fast is not None:
        # outside the unit of work and the session: the lookups it answers need neither
        app.add_middleware(FastLookupMiddleware, lookups=fast)
    app.state.fast_lookups = fast
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    from jutong.web.routes import include_routers

    include_routers(app)
    _document_error_body(app)

    @app.get("/healthz", tags=["平台"], summary="健康检查")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app
