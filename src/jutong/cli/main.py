"""``jutong``: the platform's command line. Each domain adds its own group."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console

from jutong.core import db
from jutong.core.auth import CLI_PRINCIPAL, Role
from jutong.core.errors import AppError

app = typer.Typer(
    help="聚通 jutong：政务数据共享交换平台", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="数据库", no_args_is_help=True)
user_app = typer.Typer(help="用户", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
console = Console()
err_console = Console(stderr=True)


def fail(exc: AppError) -> typer.Exit:
    err_console.print(f"[red]错误[/red] {exc.message}（{exc.code}）")
    fix = exc.detail.get("fix") if isinstance(exc.detail, dict) else None
    if fix:
        err_console.print(f"怎么改：{fix}")
    return typer.Exit(code=2)


def migrate() -> None:
    from jutong.catalog.standards import ensure_national_standards
    from jutong.core.migrate import upgrade

    upgrade(db.get_engine())
    with db.session_scope() as session:
        ensure_national_standards(session)  # one query when this version of the standards is loaded


@db_app.command("upgrade")
def db_upgrade() -> None:
    """把数据库结构迁移到最新版本。"""
    migrate()
    console.print(f"数据库已是最新版本：{db.get_engine().url.render_as_string(hide_password=True)}")


@user_app.command("create")
def user_create(
    username: str = typer.Argument(..., help="用户名"),
    role: Role = typer.Option(..., "--role", help="角色：operator/steward/auditor/consumer/developer"),
    department: str | None = typer.Option(
        None, "--department", help="部门名称或编码（部门管理员、使用部门必填）"
    ),
    display_name: str | None = typer.Option(None, "--name", help="显示名"),
    password: str | None = typer.Option(None, "--password", help="密码；不给则交互输入"),
) -> None:
    """创建用户。"""
    from jutong.registry import accounts

    migrate()
    secret = password or getpass.getpass("密码：")
    try:
        with db.session_scope() as session:
            user = accounts.create_user(
                session,
                username=username,
                password=secret,
                role=role,
                display_name=display_name,
                department_code=department,
                actor=CLI_PRINCIPAL,
            )
            console.print(f"已创建用户 {user.username}（{role.value}）")
    except AppError as exc:
        raise fail(exc) from exc


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="监听端口"),
    workers: int = typer.Option(1, min=1, max=64, help="工作进程数（PostgreSQL 上可设为 CPU 核数）"),
) -> None:
    """启动网站与 API（启动前自动迁移数据库）。"""
    import uvicorn

    migrate()
    console.print(f"聚通已启动：http://{host}:{port}  （API 文档 http://{host}:{port}/docs）")
    # an import string, so each worker process builds its own app (engine, sealer, job worker)
    uvicorn.run(
        "jutong.web.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


def _register_groups() -> None:
    from jutong.catalog import cli as catalog_cli
    from jutong.cli import audit as audit_cli
    from jutong.cli import jobs as jobs_cli
    from jutong.demo import cli as demo_cli
    from jutong.ingest import cli as ingest_cli
    from jutong.registry import cli as registry_cli
    from jutong.sharing import cli as sharing_cli

    app.add_typer(audit_cli.app, name="audit")
    app.add_typer(jobs_cli.app, name="jobs")
    app.add_typer(registry_cli.app, name="systems")
    app.add_typer(catalog_cli.app, name="catalog")
    app.add_typer(demo_cli.app, name="demo")
    app.command("ingest")(ingest_cli.ingest)
    app.add_typer(sharing_cli.requests_app, name="requests")
    app.add_typer(sharing_cli.grants_app, name="grants")


_register_groups()


def main() -> None:
    """The ``jutong`` entry point: errors reach people as one Chinese line, not a stack trace."""
    import os
    import sys

    try:
        app()
    except AppError as exc:
        err_console.print(f"[red]错误[/red] {exc.message}（{exc.code}）")
        sys.exit(2)
    except Exception as exc:
        if os.environ.get("JUTONG_DEBUG"):
            raise
        err_console.print(
            f"[red]内部错误[/red] {exc.__class__.__name__}: {exc}\n设置环境变量 JUTONG_DEBUG=1 可查看完整调用栈"
        )
        sys.exit(1)
