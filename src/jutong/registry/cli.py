"""``jutong systems``: the system census from the command line."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="政务信息系统普查", no_args_is_help=True)
console = Console()
