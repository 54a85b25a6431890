"""`codelm config`: validate a config and print it fully resolved."""

from __future__ import annotations

from typing import Annotated

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config_cmd(
        kind: Annotated[str, typer.Argument(help="Config kind, e.g. train, data, eval.")],
        config: ConfigArg = None,
        set_: SetOpt = None,
        preset: Annotated[str | None, typer.Option(help="Base preset (lowest layer).")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Validate CONFIG (preset < file < --set) and print the resolved result.

        Catches a typo or a wrong type before a long job starts.
        """
        from codelm.config import config_class, dump_config, resolve_config

        out = Output(json_out, quiet)
        cfg = resolve_config(config_class(kind), config, set_ or [], preset)
        out.result(cfg.model_dump(mode="json"), human=dump_config(cfg).rstrip())
