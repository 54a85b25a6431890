"""`codelm presets`: list the shipped presets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from codelm.cli.common import JsonOpt, Output, QuietOpt


def register(app: typer.Typer) -> None:
    @app.command("presets")
    def presets_cmd(
        kind: Annotated[str | None, typer.Argument(help="Only presets of this kind (e.g. model).")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """List shipped presets with one-line descriptions."""
        from codelm.presets import list_presets

        out = Output(json_out, quiet)
        found = list_presets(kind)
        rows = [{"name": p.full_name, "description": p.description} for p in found]
        table = Table("preset", "description", box=None, pad_edge=False)
        for row in rows:
            table.add_row(row["name"], row["description"])
        if out.json_mode:
            out.result(rows)
        else:
            out.out.print(table)
