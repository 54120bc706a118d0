"""``jutong catalog``: the resource catalog from the command line."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="政务信息资源目录", no_args_is_help=True)
console = Console()
