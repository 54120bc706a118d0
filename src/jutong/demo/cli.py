"""``jutong demo``: the deterministic demo city (示范市)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from jutong.core.auth import ROLE_LABELS

console = Console()


def demo(
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="加载后启动网站；--no-serve 只加载数据后退出"
    ),
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="监听端口"),
) -> None:
    """加载示范市数据（可重复执行），并启动平台。"""
    from jutong.cli.main import migrate
    from jutong.cli.main import serve as run_server
    from jutong.core import audit, db
    from jutong.demo.load import load_demo

    migrate()
    with db.session_scope() as session:
        report = load_demo(session)
        departments = {d.code: d.short for d in report.city.departments}
        audit.seal_all(session)
    console.print(
        f"示范市数据：{report.summary()}（{len(report.city.systems)} 个信息系统，{len(departments)} 个部门）"
    )

    table = Table(title="示范市登录账号")
    table.add_column("角色")
    table.add_column("用户名")
    table.add_column("密码")
    table.add_column("部门")
    for user in report.city.users:
        department = departments.get(user.department_code, "") if user.department_code else ""
        mark = " *" if user.username in report.existing_users else ""
        table.add_row(ROLE_LABELS[user.role], user.username + mark, user.password, department)
    console.print(table)
    if report.existing_users:
        console.print("* 账号此前已存在，密码未重置；如曾修改密码，请使用修改后的密码。")

    url = f"http://{host}:{port}"
    if not serve:
        console.print(f"已加载，未启动网站。运行 jutong serve 后访问 {url}")
        return
    console.print(f"在浏览器中打开 {url} ，用上表任一账号登录。按 Ctrl+C 停止。")
    run_server(host=host, port=port)
