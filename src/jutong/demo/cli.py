"""``jutong demo``: the deterministic demo city (示范市)."""

from __future__ import annotations

import typer


def demo(
    serve: bool = typer.Option(True, "--serve/--no-serve", help="加载后启动网站；--no-serve 只加载数据后退出"),
    host: str = typer.Option("127.0.0.1", help="监听地址"),
    port: int = typer.Option(8000, help="监听端口"),
) -> None:
    """加载示范市数据（可重复执行），并启动平台。"""
    raise typer.Exit(code=1)
