"""``jutong systems``: the system census from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="政务信息系统普查", no_args_is_help=True)
console = Console()


@app.command("import")
def import_census(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="普查文件（.xlsx 或 .csv）"
    ),
) -> None:
    """导入系统普查文件：全部通过校验才导入；有错误时逐行逐列列出并以状态 2 退出。"""
    from rich.table import Table

    from jutong.cli.main import migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.registry import census_import

    migrate()
    with db.session_scope() as session:  # a rejected import still commits its audit event
        report = census_import.import_census(session, CLI_PRINCIPAL, file.read_bytes(), file.name)
    if report.ok:
        encoding = f"，编码 {report.encoding}" if report.encoding else ""
        console.print(f"[green]{report.message}[/green]")
        console.print(f"文件 {file}（{report.file_format.upper()}{encoding}）")
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
def export_census(
    file: Path = typer.Argument(..., dir_okay=False, help="导出文件；按扩展名 .xlsx 或 .csv 决定格式"),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="CSV 编码：utf-8（带 BOM，Excel 可直接打开）或 gbk"
    ),
) -> None:
    """导出全部系统普查数据（.xlsx 含月度使用情况；.csv 只含系统表）。"""
    from jutong.cli.main import fail, migrate
    from jutong.core import db
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.core.errors import AppError
    from jutong.registry import census_io

    suffix = file.suffix.lower().lstrip(".")
    if suffix not in ("xlsx", "csv"):
        console.print(f"[red]错误[/red] 无法从文件名“{file.name}”判断格式：请以 .xlsx 或 .csv 结尾")
        raise typer.Exit(code=2)
    migrate()
    try:
        with db.session_scope() as session:
            exported = census_io.export_census(session, CLI_PRINCIPAL, file_format=suffix, encoding=encoding)
    except AppError as exc:
        raise fail(exc) from exc
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(exported.content)
    label = (
        f"CSV（{'GBK' if encoding.lower() in ('gbk', 'gb18030') else 'UTF-8 带 BOM'}）"
        if suffix == "csv"
        else "Excel"
    )
    console.print(f"已导出 {exported.systems} 个系统到 {file}（{label}）")


@app.command("zombies")
def list_zombies(
    output_format: str = typer.Option("table", "--format", help="输出格式：table、json 或 csv"),
    as_of: str | None = typer.Option(None, "--as-of", help="研判基准日期 YYYY-MM-DD，缺省为今天"),
) -> None:
    """列出僵尸系统候选：命中的规则与证据（已确认拟清理、已排除且无新增命中的不再列出）。"""
    import csv
    import io
    import json
    from datetime import date

    from rich.markup import escape
    from rich.table import Table

    from jutong.cli.main import migrate
    from jutong.core import db
    from jutong.registry import zombies

    if output_format not in ("table", "json", "csv"):
        console.print(f"[red]错误[/red] 输出格式“{output_format}”无效，应为 table、json 或 csv")
        raise typer.Exit(code=2)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        console.print(f"[red]错误[/red] 基准日期“{as_of}”无效，应为 YYYY-MM-DD，例如 2025-07-15")
        raise typer.Exit(code=2) from None
    migrate()
    with db.session_scope() as session:
        candidates = zombies.find_candidates(session, day)
    if output_format == "json":
        rows = [
            {
                "system": c.system,
                "system_code": c.system_code,
                "department": c.department,
                "rules": c.rules,
                "evidence": c.evidence,
                "new_rules": c.new_rules,
            }
            for c in candidates
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["system_code", "system", "department", "rules", "evidence"])
        for c in candidates:
            texts = [f"{hit.label}：{hit.text}" for hit in c.hits]
            writer.writerow([c.system_code, c.system, c.department, ";".join(c.rules), " | ".join(texts)])
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=f"僵尸系统候选（{len(candidates)} 个）", show_lines=True)
    for header in ("系统编号", "系统", "部门", "命中规则", "证据"):
        table.add_column(header, overflow="fold")
    for c in candidates:
        labels = "、".join(hit.label for hit in c.hits)
        evidence = "\n".join(hit.text for hit in c.hits)
        table.add_row(*(escape(cell) for cell in (c.system_code, c.system, c.department, labels, evidence)))
    console.print(table)
