"""``jutong requests`` and ``jutong grants``: what an operator scripts about sharing.

``jutong requests overdue`` lists conditional requests unanswered past their deadline (exit 1 when there
are any, so a cron job can alert); ``jutong grants list`` and ``jutong grants revoke`` act as the
platform operator (the command line is the operator's).
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

requests_app = typer.Typer(help="共享申请", no_args_is_help=True)
grants_app = typer.Typer(help="共享授权", no_args_is_help=True)
console = Console()


def _department_names(session: Session) -> dict[int, str]:
    from jutong.registry.models import Department

    return {d.id: d.name for d in session.scalars(select(Department))}


def _resource_names(session: Session, ids: set[int]) -> dict[int, str]:
    from jutong.catalog.models import Resource

    if not ids:
        return {}
    return {r.id: r.name for r in session.scalars(select(Resource).where(Resource.id.in_(ids)))}


@requests_app.command("overdue")
def overdue(as_json: bool = typer.Option(False, "--json", help="输出 JSON（供脚本使用）")) -> None:
    """列出逾期未答复的有条件共享申请；有逾期时以状态 1 退出。"""
    from jutong.cli.main import migrate
    from jutong.core import clock, db
    from jutong.sharing import requests

    migrate()
    today = clock.today()
    with db.session_scope() as session:
        late = requests.overdue_requests(session, today)
        depts = _department_names(session)
        names = _resource_names(session, {r.resource_id for r in late})
        rows = [
            {
                "id": r.id,
                "resource": names.get(r.resource_id, str(r.resource_id)),
                "provider": depts.get(r.provider_department_id, ""),
                "consumer": depts.get(r.consumer_department_id, ""),
                "due_on": r.due_on.isoformat() if r.due_on else "",
                "working_days_overdue": -(requests.days_left(session, r, today) or 0),
                "escalated": r.escalated_at is not None,
            }
            for r in late
        ]
    if as_json:
        console.print_json(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        console.print("[green]没有逾期未答复的共享申请[/green]")
    else:
        table = Table(title=f"逾期未答复的共享申请（{len(rows)} 件，截至 {today}）")
        for header in ("申请", "资源", "提供部门", "申请部门", "答复期限", "逾期工作日", "已转协调"):
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(
                str(row["id"]),
                str(row["resource"]),
                str(row["provider"]),
                str(row["consumer"]),
                str(row["due_on"]),
                str(row["working_days_overdue"]),
                "是" if row["escalated"] else "否",
            )
        console.print(table)
    if rows:
        raise typer.Exit(code=1)


@grants_app.command("list")
def list_grants(
    resource: int | None = typer.Option(None, "--resource", help="资源编号"),
    status: str | None = typer.Option(None, "--status", help="active（有效）或 revoked（已撤销）"),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON（供脚本使用）"),
) -> None:
    """列出共享授权。"""
    from jutong.cli.main import migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.sharing import grants

    migrate()
    with db.session_scope() as session:
        found = grants.list_grants(session, CLI_PRINCIPAL, resource_id=resource, status=status)
        depts = _department_names(session)
        names = _resource_names(session, {g.resource_id for g in found})
        rows = [
            {
                "id": g.id,
                "resource": names.get(g.resource_id, str(g.resource_id)),
                "provider": depts.get(g.provider_department_id, ""),
                "consumer": depts.get(g.consumer_department_id, ""),
                "items": list(g.items),
                "masking": dict(g.masking),
                "expires_on": g.expires_on.isoformat(),
                "daily_quota": g.daily_quota,
                "status": g.status,
                "live": grants.is_live(g),
                "items_text": "、".join(g.items),
                "masking_text": "、".join(f"{k}:{v}" for k, v in g.masking.items()),
            }
            for g in found
        ]
    if as_json:
        console.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"共享授权（{len(rows)} 项）")
    for header in ("授权", "资源", "提供部门", "使用部门", "信息项", "脱敏", "截止", "每日配额", "状态"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["resource"]),
            str(row["provider"]),
            str(row["consumer"]),
            str(row["items_text"]),
            str(row["masking_text"]) or "无",
            str(row["expires_on"]),
            "不限" if row["daily_quota"] is None else str(row["daily_quota"]),
            ("有效" if row["live"] else "已过期") if row["status"] == "active" else "已撤销",
        )
    console.print(table)


@grants_app.command("revoke")
def revoke(
    grant_id: int = typer.Argument(..., help="授权编号"),
    reason: str = typer.Option(..., "--reason", help="撤销理由（必填，会告知使用部门）"),
) -> None:
    """撤销授权，立即生效。"""
    from jutong.cli.main import fail, migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.core.errors import AppError
    from jutong.sharing import grants

    migrate()
    try:
        with db.session_scope() as session:
            grant = grants.revoke_grant(session, CLI_PRINCIPAL, grant_id, reason)
            console.print(f"已撤销授权 {grant.id}：{grant.revoke_reason}")
    except AppError as exc:
        raise fail(exc) from exc
