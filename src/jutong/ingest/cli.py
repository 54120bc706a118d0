"""``jutong ingest``: load a file or pull a registered source into a published resource."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console()

SUMMARY_KEYS = ("read", "loaded", "rejected", "inserted", "updated", "deleted", "seconds")


def ingest(
    resource_code: str = typer.Argument(..., help="资源代码，如 101001/000001"),
    file: Path | None = typer.Argument(
        None, dir_okay=False, help="数据文件：CSV/TSV（UTF-8、GBK、GB18030）、XLSX、JSON、NDJSON"
    ),
    mode: str = typer.Option(
        "full", "--mode", help="full 全量替换，incremental 增量（新增/更新，按主键删除）"
    ),
    mapping: str | None = typer.Option(None, "--mapping", help="已保存的映射名称"),
    source: str | None = typer.Option(None, "--source", help="已登记的数据源名称（数据库或 HTTP 接口）"),
    output: str = typer.Option("table", "--format", help="table（表格）或 json（一个 JSON 对象）"),
) -> None:
    """归集数据到已发布的资源：读取、映射、标准化、校验、入库，问题数据逐行记录原因。"""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from jutong.cli.main import fail, migrate
    from jutong.core.auth import CLI_PRINCIPAL
    from jutong.core.errors import AppError
    from jutong.ingest import pipeline, service
    from jutong.ingest.models import LoadMode

    if (file is None) == (source is None):
        console.print("[red]错误[/red] 请给出数据文件，或用 --source 指定已登记的数据源（二者选一）")
        raise typer.Exit(code=2)
    if mode not in {m.value for m in LoadMode}:
        console.print(f"[red]错误[/red] --mode 只能是 full 或 incremental，收到“{mode}”")
        raise typer.Exit(code=2)
    if output not in ("table", "json"):
        console.print(f"[red]错误[/red] --format 只能是 table 或 json，收到“{output}”")
        raise typer.Exit(code=2)
    if file is not None and not file.is_file():
        console.print(f"[red]错误[/red] 找不到文件 {file}")
        raise typer.Exit(code=2)
    migrate()
    quiet = output == "json"
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} 行"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
        transient=True,
    )
    task = bar.add_task("读取校验", total=None)

    def show(event: pipeline.Progress) -> None:
        bar.update(task, completed=event.rows_read, description=event.phase)

    try:
        with bar:
            if file is not None:
                result = service.load_file(
                    CLI_PRINCIPAL, resource_code, file, mode=mode, mapping_name=mapping, progress=show
                )
            else:
                assert source is not None
                result = service.load_source(CLI_PRINCIPAL, resource_code, source, progress=show)
    except AppError as exc:
        raise fail(exc) from exc
    if quiet:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print(result)
    if result["status"] != "succeeded":
        raise typer.Exit(code=1)


def _print(result: dict[str, object]) -> None:
    from rich.table import Table

    if result["status"] != "succeeded":
        console.print(
            f"[red]归集失败[/red] 批次 #{result['load_id']}：{result['error_message']}（{result['error_code']}）"
        )
        console.print("数据仍为上一版本，没有任何部分写入。修正后可重新运行。")
        return
    table = Table(title=f"批次 #{result['load_id']} 完成：数据版本 {result['data_version']}")
    for header in ("读取", "入库", "问题数据", "新增", "更新", "删除", "未变", "用时（秒）"):
        table.add_column(header, justify="right")
    table.add_row(
        *(
            f"{result[k]:,}"
            for k in ("read", "loaded", "rejected", "inserted", "updated", "deleted", "unchanged")
        ),
        f"{result['seconds']}",
    )
    console.print(table)
    if result["rejected"]:
        console.print(
            f"[yellow]有 {result['rejected']:,} 行问题数据未入库[/yellow]，逐行原因见网页 /ingest/loads/{result['load_id']}"
            "（可下载 CSV/Excel，改正后重新提交）"
        )
    if result.get("quality_score") is not None:
        console.print(f"质量评分：{result['quality_score']}")
