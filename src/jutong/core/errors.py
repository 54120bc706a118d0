"""Errors with a stable code for programs and a Chinese message for people.

Every error leaves the API as ``{"code": "...", "message": "<中文>", "detail": ...}``.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    default_message = "请求有误"

    def __init__(self, message: str | None = None, *, code: str | None = None, detail: Any = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.detail = detail
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_failed"
    default_message = "提交的数据未通过校验"


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    default_message = "请先登录或提供有效的 API 密钥"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    default_message = "无权执行此操作"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    default_message = "对象不存在"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    default_message = "与现有数据冲突"
