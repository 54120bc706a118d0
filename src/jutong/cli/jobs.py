"""``jutong jobs``: the background worker without the web server, and a look at the queue."""

from __future__ import annotations

import time

import typer
from rich.console import Console

app = typer.Typer(help="后台任务（大批量归集、定时拉取）", no_args_is_help=True)
console = Console()


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="只运行一轮到期任务后退出"),
    interval: float = typer.Option(2.0, "--interval", help="轮询间隔（秒）"),
) -> None:
    """运行后台任务：到期的定时拉取和排队的归集批次；Ctrl+C 停止，任务保存在数据库中，重启后继续。"""
    from jutong.cli.main import migrate
    from jutong.core import jobs
    from jutong.exchange import delivery  # noqa: F401  (registers the subscription deliveries)
    from jutong.ingest import service  # noqa: F401  (registers the ingest jobs)
    from jutong.sharing import requests  # noqa: F401  (deadline reminders and escalations)

    migrate()
    while True:
        done = jobs.run_due()
        if done:
            console.print(f"运行了 {done} 个任务")
        if once:
            return
        time.sleep(interval)


@app.command("list")
def list_jobs(limit: int = typer.Option(20, "--limit", help="显示最近多少个")) -> None:
    """最近的后台任务及其状态。"""
    from rich.table import Table
    from sqlalchemy import select

    from jutong.cli.main import migrate
    from jutong.core import db
    from jutong.core.jobs import Job, JobStatus

    migrate()
    table = Table(title="后台任务")
    for header in ("编号", "类型", "状态", "尝试", "计划时间", "错误"):
        table.add_column(header)
    with db.session_scope() as session:
        for job in session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)):
            table.add_row(
                str(job.id), job.kind, JobStatus(job.status).label, f"{job.attempts}/{job.max_attempts}",
                job.run_at.isoformat(timespec="seconds"), job.last_error[:60],
            )  # fmt: skip
    console.print(table)
