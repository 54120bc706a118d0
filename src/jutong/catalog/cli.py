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


@app.command("search")
def search_catalog(
    query: str = typer.Argument(..., help="检索词，多个词用空格分隔"),
    output: str = typer.Option("table", "--format", help="输出格式：table（表格）或 json（与 API 相同）"),
    limit: int = typer.Option(20, "--limit", help="最多列出的条数（1-100）"),
    sort: str | None = typer.Option(None, "--sort", help="relevance / newest / name / department"),
) -> None:
    """检索已发布的资源目录（中文全文检索，同义词自动扩展）。"""
    import json

    from rich.table import Table

    from jutong.catalog import search
    from jutong.catalog.search_schemas import SearchResultOut
    from jutong.cli.main import fail, migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.core.errors import AppError

    if output not in ("table", "json"):
        raise typer.BadParameter("只能是 table 或 json", param_hint="--format")
    migrate()
    try:
        with db.session_scope() as session:
            result = search.search(session, CLI_PRINCIPAL, query, None, sort, 1, limit)
    except AppError as exc:
        raise fail(exc) from exc
    if output == "json":
        typer.echo(
            json.dumps(SearchResultOut.of(result).model_dump(mode="json"), ensure_ascii=False, indent=2)
        )
        return
    approx = "约 " if result.total_estimated else ""
    table = Table(title=f"检索“{query}”：共 {approx}{result.total} 条，列出 {len(result.items)} 条")
    for header in ("资源代码", "资源名称", "提供部门", "共享类型", "开放类型", "更新周期", "发布日期"):
        table.add_column(header, overflow="fold")
    for i in result.items:
        table.add_row(
            i.code,
            i.name,
            i.department_name,
            i.label("share_type"),
            i.label("open_type"),
            i.label("update_cycle"),
            str(i.publish_date or ""),
        )
    console.print(table)
