"""``jutong audit``: seal and verify the audit log."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from jutong.core import audit, db

app = typer.Typer(help="审计日志", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)  # never break an event id or a hash across lines

PROBLEM_KINDS = {
    "edited": "内容被篡改",
    "deleted": "事件被删除",
    "inserted": "伪造插入",
    "seal": "封存批次不符",
}


@app.command("seal")
def seal() -> None:
    """立即封存所有未封存的审计事件。"""
    from jutong.cli.main import migrate

    migrate()
    with db.session_scope() as session:
        count = audit.seal_all(session)
    console.print(f"已封存 {count} 条审计事件")


@app.command("verify")
def verify(
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出校验结果（便于监控程序读取）"),
) -> None:
    """校验审计日志哈希链；发现篡改时以非零状态退出并指出第一条问题事件。

    请把输出的链头哈希另行保存（如打印或存到另一系统）：连封存批次表一起重写的篡改，
    只能通过与此前保存的链头比对来发现。
    """
    from jutong.cli.main import migrate

    migrate()
    with db.session_scope() as session:
        report = audit.verify_chain(session)
    problem = report.problem
    if as_json:
        body = {
            "ok": report.ok,
            "problem": problem.__dict__ if problem else None,
            "head": report.head_hash,
            "algorithm": audit.HASH_ALGORITHM,
            "counts": {
                "sealed_events": report.sealed_events,
                "seals": report.seals,
                "unsealed_events": report.unsealed_events,
            },
        }
        console.print(json.dumps(body, ensure_ascii=False))
    elif problem is not None:
        console.print(f"[red]审计日志校验失败[/red]：{problem.message}")
        if problem.event_id is None:
            where = "哈希链开头"
        elif problem.kind == "deleted":
            where = f"事件 #{problem.event_id} 之后"
        else:
            where = f"事件 #{problem.event_id}"
        console.print(
            f"问题类型：{PROBLEM_KINDS.get(problem.kind, problem.kind)}；位置：{where}（封存序号 {problem.seq}）；"
            f"此前的 {report.sealed_events} 条已封存事件校验通过"
        )
    else:
        console.print(
            f"审计日志完整：已封存 {report.sealed_events} 条（{report.seals} 个批次），"
            f"待封存 {report.unsealed_events} 条；链头 {audit.HASH_ALGORITHM} {report.head_hash}"
        )
    if problem is not None:
        raise typer.Exit(code=1)
