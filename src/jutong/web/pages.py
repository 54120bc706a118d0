"""Rendering pages: one Jinja2 environment, one layout, navigation by role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from jutong.core.auth import Principal, Role
from jutong.web.deps import csrf_token

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[Role]


_ALL = frozenset(Role)
NAV: list[NavItem] = [
    NavItem("首页", "/", _ALL),
    NavItem("资源目录", "/catalog", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})),
    NavItem("目录审核", "/catalog/review", frozenset({Role.operator})),
    NavItem(
        "目录统计", "/catalog/stats", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})
    ),
    NavItem("数据标准", "/standards", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})),
    NavItem("数据归集", "/ingest", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("数据质量", "/ingest/quality", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("系统普查", "/systems", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("僵尸系统", "/zombies", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("整合清单", "/plans", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("经费备案", "/filings", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem("普查统计", "/systems/stats", frozenset({Role.operator, Role.steward, Role.auditor})),
    NavItem(
        "共享申请", "/sharing/requests", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})
    ),
    NavItem(
        "共享授权", "/sharing/grants", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})
    ),
    NavItem("应用与密钥", "/sharing/applications", frozenset({Role.operator, Role.steward, Role.consumer})),
    NavItem(
        "数据订阅",
        "/sharing/subscriptions",
        frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer}),
    ),
    NavItem(
        "共享统计", "/sharing/stats", frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer})
    ),
    NavItem(
        "数据纠错",
        "/sharing/corrections",
        frozenset({Role.operator, Role.steward, Role.auditor, Role.consumer}),
    ),
    NavItem("审计日志", "/audit", frozenset({Role.auditor, Role.operator})),
    NavItem("用户与部门", "/admin/users", frozenset({Role.operator})),
    NavItem("API 密钥", "/account/keys", _ALL),
]


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    return [item for item in NAV if principal.role in item.roles]


def active_nav(items: list[NavItem], path: str) -> str | None:
    """The one menu entry for this page: the longest href that the path is, or lies under."""
    matches = [i.href for i in items if path == i.href or (i.href != "/" and path.startswith(i.href + "/"))]
    return max(matches, key=len, default=None)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    nav = nav_for(principal)
    ctx: dict[str, Any] = {
        "principal": principal,
        "nav": nav,
        "active_nav": active_nav(nav, request.url.path),
        "csrf_token": csrf_token(request),
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def redirect(url: str, *, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def _localtime(value: Any) -> str:
    """Times are stored in UTC and shown in Beijing time."""
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    return str(value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S"))


templates.env.filters["localtime"] = _localtime
