"""``jutong audit``: seal and verify the audit log."""

from __future__ import annotations

import typer
from rich.console import Console

from jutong.core import audit, db

app = typer.Typer(help="审计日志", no_args_is_help=True)
console = Console()


@app.command("seal")
def seal() -> None:
    """立即封存所有未封存的审计事件。"""
    from jutong.cli.main import migrate

    migrate()
    with db.session_scope() as session:
        count = audit.seal_all(session)
    console.print(f"已封存 {count} 条审计事件")


@app.command("verify")
def verify() -> None:
    """校验审计日志哈希链；发现篡改时以非零状态退出并指出第一条问题事件。"""
    from jutong.cli.main import migrate

    migrate()
    with db.session_scope() as session:
        report = audit.verify_chain(session)
    if report.problem is not None:
        console.print(f"[red]审计日志校验失败[/red]：{report.problem.message}")
        console.print(f"第一条问题事件：#{report.problem.event_id}（封存序号 {report.problem.seq}，类型 {report.problem.kind}）")
        raise typer.Exit(code=1)
    console.print(
        f"审计日志完整：已封存 {report.sealed_events} 条（{report.seals} 个批次），"
        f"待封存 {report.unsealed_events} 条；链头 {audit.HASH_ALGORITHM} {report.head_hash}"
    )
