"""``jutong catalog``: the resource catalog from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="政务信息资源目录", no_args_is_help=True)
console = Console()


@app.command("import")
def import_catalog(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="资源目录工作簿（.xlsx，编制指南格式）"
    ),
) -> None:
    """导入资源目录：全部通过校验才导入；有错误时逐行逐列列出并以状态 2 退出。"""
    from rich.table import Table

    from jutong.catalog import excel
    from jutong.cli.main import migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL

    migrate()
    with db.session_scope() as session:  # a rejected import still commits its audit event
        report = excel.import_catalog(session, CLI_PRINCIPAL, file.read_bytes(), file.name)
    if report.ok:
        console.print(f"[green]{report.message}[/green]")
        if report.codes:
            console.print("新建或有变化的资源：" + "、".join(report.codes[:50]))
        for w in report.warnings[:20]:
            console.print(
                f"[yellow]建议[/yellow] {w.sheet} 第 {w.row} 行 {w.column or ''}：{w.problem}。{w.fix}"
            )
        return
    table = Table(title=report.message, show_lines=False)
    for header in ("工作表", "行", "列", "填写的值", "问题", "修改建议", "错误代码"):
        table.add_column(header, overflow="fold")
    for p in report.errors:
        table.add_row(
            p.sheet, "" if p.row is None else str(p.row), p.column or "", p.value, p.problem, p.fix, p.code
        )
    console.print(table)
    raise typer.Exit(code=2)


@app.command("export")
def export_catalog(
    file: Path = typer.Argument(..., dir_okay=False, help="导出的工作簿（.xlsx）"),
    drafts: bool = typer.Option(False, "--drafts", help="含未发布的工作副本（草稿、待审核、待发布的修改）"),
) -> None:
    """导出资源目录（.xlsx，编制指南格式：信息资源、信息项、填写说明）。"""
    from jutong.catalog import excel_export
    from jutong.cli.main import fail, migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.core.errors import AppError

    if file.suffix.lower() != ".xlsx":
        console.print(f"[red]错误[/red] 目录只能导出为 .xlsx（两张表），请把“{file.name}”改为以 .xlsx 结尾")
        raise typer.Exit(code=2)
    migrate()
    try:
        with db.session_scope() as session:
            exported = excel_export.export_catalog(session, CLI_PRINCIPAL, include_drafts=drafts)
    except AppError as exc:
        raise fail(exc) from exc
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(exported.content)
    console.print(f"已导出 {exported.count} 个资源到 {file}" + ("（含未发布的工作副本）" if drafts else ""))
