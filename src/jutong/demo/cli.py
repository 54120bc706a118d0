"""``jutong demo``: the deterministic demo city (示范市); ``jutong demo data``: test data for its resources."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from jutong.core.auth import ROLE_LABELS
from jutong.core.errors import AppError

# The generator (polars) is imported when ``data`` runs, so every other ``jutong`` command starts fast;
# the choices below are the values of its enums (SexStyle, FileFormat, Encoding, Header, DateStyle).
PROGRESS_FROM = 200_000  # rows: smaller files are done before a bar would be worth drawing

app = typer.Typer(help="示范市：加载演示数据并启动平台；生成测试数据", invoke_without_command=True)
console = Console()
err_console = Console(stderr=True)


@app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="加载后启动网站；--no-serve 只加载数据后退出"
    ),
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="监听端口"),
) -> None:
    """加载示范市数据（可重复执行），并启动平台。"""
    if ctx.invoked_subcommand is not None:
        return
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

    samples = _sample_files()
    if samples:
        console.print("可上传试用的数据文件（数据归集 → 资源 → 上传）：")
        for path, note in samples:
            console.print(f"  {path}  {note}")

    url = f"http://{host}:{port}"
    if not serve:
        console.print(f"已加载，未启动网站。运行 jutong serve 后访问 {url}")
        return
    console.print(f"在浏览器中打开 {url} ，用上表任一账号登录。按 Ctrl+C 停止。")
    run_server(host=host, port=port)


SAMPLES = (
    # file name, resource, style, rows, note
    (
        "公安局_常住人口.csv",
        "常住人口基础信息",
        "ga",
        2000,
        "公安局，GBK，性别 0/1：选映射“公安性别代码（0男1女）”",
    ),
    ("民政局_低保对象.csv", "最低生活保障对象信息", "mz", 1000, "民政局，GBK，性别 1/2（已是国标）"),
)


def _sample_files() -> list[tuple[Path, str]]:
    """Small GBK files of two departments for trying ingest by hand (written once, deterministic)."""
    from jutong.core.config import get_settings
    from jutong.demo import datagen

    folder = get_settings().data_dir / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, resource, style, rows, note in SAMPLES:
        path = folder / name
        if not path.exists():
            options = datagen.DataOptions(
                resource=resource, rows=rows, style=datagen.SexStyle(style), encoding=datagen.Encoding("gbk"),
                dates=datagen.DateStyle("mixed"),
            )  # fmt: skip
            datagen.generate(path, options)
        out.append((path, note))
    changes = folder / "公安局_常住人口_增量.csv"
    if not changes.exists():
        base = datagen.DataOptions(
            resource="常住人口基础信息", rows=2000, style=datagen.SexStyle.ga, encoding=datagen.Encoding.gbk,
            dates=datagen.DateStyle("mixed"),
        )  # fmt: skip
        datagen.generate_changes(changes, base, datagen.ChangeOptions(base_rows=2000, change_share=0.05))
    out.append((changes, "公安局，上一文件的增量：更新、新增和删除（操作类型 D），选增量模式"))
    return out


@app.command("data")
def data(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="输出文件；清单写到 FILE.manifest.json"),
    rows: int | None = typer.Option(None, "--rows", min=0, help="行数（生成变更文件时可省略）"),
    resource: str = typer.Option(
        "常住人口基础信息",
        "--resource",
        help="资源：常住人口基础信息、户籍人口基本信息、最低生活保障对象信息、企业登记信息、社会保险参保信息，"
        "或其示范目录编码",
    ),
    style: Literal["ga", "mz", "standard"] | None = typer.Option(
        None,
        "--style",
        help="性别代码写法：ga 0=男 1=女，mz 1=男 2=女，standard GB/T 2261.1；默认按提供部门",
    ),
    file_format: Literal["csv", "tsv", "xlsx", "ndjson"] = typer.Option("csv", "--format", help="文件格式"),
    encoding: Literal["utf-8", "utf-8-sig", "gbk", "gb18030"] = typer.Option(
        "utf-8", "--encoding", help="CSV/TSV 的字符编码"
    ),
    header: Literal["name", "column"] = typer.Option(
        "name", "--header", help="表头：name 信息项名称，column 列名"
    ),
    dates: Literal["iso", "compact", "mixed"] = typer.Option(
        "iso",
        "--dates",
        help="日期写法：iso 2019-03-05，compact 20190305，mixed 各种写法混用",
    ),
    bad_share: float = typer.Option(0.02, "--bad-share", min=0, max=1, help="坏行比例（分摊到各类问题）"),
    fixable_share: float = typer.Option(
        0.005, "--fixable-share", min=0, max=1, help="可修正行比例（全角、小写 x、15 位身份证号、空格）"
    ),
    seed: int = typer.Option(5, "--seed", help="随机种子：参数相同则文件逐字节相同"),
    changes_from: int | None = typer.Option(
        None, "--changes-from", min=0, help="改为生成增量变更文件：基准文件的行数（同一种子、坏行比例）"
    ),
    change_share: float = typer.Option(0.01, "--change-share", min=0, max=1, help="更新基准中多大比例的键"),
    inserts: int | None = typer.Option(None, "--inserts", min=0, help="新增行数；默认为更新行数的一半"),
    deletes: int | None = typer.Option(None, "--deletes", min=0, help="删除键数；默认为更新行数的十分之一"),
) -> None:
    """生成示范资源的确定性测试数据（含已知比例的各类坏行）或其增量变更文件，另写清单；不需要数据库。"""
    from jutong.demo import datagen

    if rows is None and changes_from is None:
        raise _fail(AppError("请用 --rows 给出行数，或用 --changes-from 生成变更文件", code="datagen_rows"))
    options = datagen.DataOptions(
        resource=resource,
        rows=rows or 0,
        seed=seed,
        style=datagen.SexStyle(style) if style else None,
        file_format=datagen.FileFormat(file_format),
        encoding=datagen.Encoding(encoding),
        header=datagen.Header(header),
        dates=datagen.DateStyle(dates),
        bad_share=bad_share,
        fixable_share=fixable_share,
    )
    began = time.perf_counter()
    try:
        if changes_from is None:
            with _Bar(options.rows) as progress:
                manifest = datagen.generate(out, options, progress=progress)
        else:
            changes = datagen.ChangeOptions(changes_from, change_share, inserts, deletes)
            with _Bar(sum(changes.counts())) as progress:
                manifest = datagen.generate_changes(out, options, changes, progress=progress)
    except AppError as exc:
        raise _fail(exc) from exc
    console.print(
        _summary(manifest, out, datagen.manifest_path(out), time.perf_counter() - began), soft_wrap=True
    )


def _fail(exc: AppError) -> typer.Exit:
    err_console.print(f"[red]错误[/red] {exc.message}（{exc.code}）")
    return typer.Exit(code=2)


class _Bar:
    """A Rich progress bar on stderr for large files; nothing for small ones."""

    def __init__(self, rows: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar: Progress | None = None
        if rows >= PROGRESS_FROM:
            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.bar.add_task("生成测试数据", total=rows)

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.bar is None:
            return None
        self.bar.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _summary(manifest: dict[str, Any], out: Path, listing: Path, seconds: float) -> str:
    """One Chinese line: what was written, how big, how fast, where the manifest is."""
    size = manifest["bytes"] / 1024 / 1024
    speed = manifest["rows"] / seconds / 10_000 if seconds > 0 else 0.0
    name = manifest["resource"]["name"]
    where = f"→ {out}（{size:,.1f} MB，{seconds:,.1f} 秒，{speed:,.1f} 万行/秒），清单 {listing}"
    if manifest["kind"] == "changes":
        e = manifest["expected"]
        return (
            f"已生成{name}变更文件 {manifest['rows']:,} 行（基准 {manifest['base']['rows']:,} 行）："
            f"更新 {e['updated']:,}、新增 {e['inserted']:,}、删除 {e['deleted']:,} {where}"
        )
    return (
        f"已生成{name} {manifest['rows']:,} 行：坏行 {manifest['bad_total']:,}（{len(manifest['bad'])} 类），"
        f"可修正 {manifest['fixable_total']:,} {where}"
    )
