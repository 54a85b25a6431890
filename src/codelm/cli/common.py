"""Options and output helpers shared by every command.

Every command takes `--quiet` and `--json`. Human output and progress go to
stderr; stdout carries the result: a short human summary, or with `--json`
exactly one JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from codelm import progress

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the final result as JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or informational output.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set a.b.c=value (repeatable; wins over the file)."),
]
ConfigArg = Annotated[Path | None, typer.Argument(help="YAML config file.", show_default=False)]


class Output:
    """Where a command writes: info to stderr, the result to stdout."""

    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        progress.set_enabled(not (quiet or json_mode))
        self.err = Console(stderr=True, quiet=quiet)
        self.out = Console(highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        """A progress or status line for people (stderr; hidden by --quiet)."""
        self.err.print(message)

    def warn(self, message: str) -> None:
        """Warnings show even with --quiet."""
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {message}")

    def result(self, data: Any, human: str | None = None) -> None:
        """The command's result: JSON with --json, else `human` (or pretty JSON)."""
        if self.json_mode:
            print(json.dumps(data, indent=2, default=str))
        elif human is not None:
            self.out.print(human)
        else:
            self.out.print_json(json.dumps(data, default=str))
