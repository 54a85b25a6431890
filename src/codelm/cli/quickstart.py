"""`codelm quickstart`: corpus → tokenizer → pretraining → evaluation → report, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    @app.command("quickstart")
    def quickstart_cmd(
        config: ConfigArg = None,
        minutes: Annotated[float | None, typer.Option(help="Time budget (default 10; 2 for a smoke run).")] = None,
        out: Annotated[Path | None, typer.Option(help="Output directory (default runs/quickstart).")] = None,
        fresh: Annotated[bool, typer.Option("--fresh", help="Redo every stage, even unchanged ones.")] = False,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Build a corpus from the standard library, train a tokenizer and a tiny code model, evaluate it
        against its untrained initialisation, and write report.html. Unchanged stages are reused."""
        from codelm.config import resolve_config
        from codelm.quickstart import QuickstartConfig, run_quickstart
        from codelm.quickstart.report import _fmt, metric_rows

        output = Output(json_out, quiet)
        overrides = list(set_ or [])
        if minutes is not None:
            overrides.append(f"minutes={minutes}")
        if out is not None:
            overrides.append(f"out={out}")
        if fresh:
            overrides.append("fresh=true")
        cfg = resolve_config(QuickstartConfig, config, overrides)
        summary = run_quickstart(cfg, info=output.info)
        rows = metric_rows(summary["metrics"])
        width = max(len(r["metric"]) for r in rows)
        lines = [f"{'metric'.ljust(width)}  untrained  trained"]
        lines += [f"{r['metric'].ljust(width)}  {_fmt(r['untrained']):<9}  {_fmt(r['trained'])}" for r in rows]
        lines.append(f"report: {Path(cfg.out) / 'report.html'}  ({summary['seconds'] / 60:.1f} min)")
        output.result({"report": str(Path(cfg.out) / "report.html"), "metrics": summary["metrics"],
                       "model": summary["model"]["dir"], "seconds": summary["seconds"]}, human="\n".join(lines))
