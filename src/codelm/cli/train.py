"""`codelm train CONFIG [--set k=v ...] [--resume]`: pretrain a model (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def _human(result: dict) -> str:
    lines = [f"run: {result['run_dir']}", f"stopped: {result['stop_reason']} at step {result['step']}"]
    if result.get("train_loss") is not None:
        lines.append(f"train loss: {result['train_loss']:.4f}")
    if result.get("val_loss") is not None:
        start = result.get("initial_val_loss")
        since = f" (from {start:.4f})" if start is not None else ""
        lines.append(f"validation loss: {result['val_loss']:.4f}{since}")
    lines.append(
        f"throughput: {result['tokens_per_s']:,.0f} tokens/s, MFU {100 * result['mfu']:.1f}% "
        f"of {result['peak_flops'] / 1e9:,.1f} GFLOP/s measured peak"
    )
    lines.append(f"checkpoint: {result['last_checkpoint']}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        config: ConfigArg = None,
        set_: SetOpt = None,
        preset: Annotated[str | None, typer.Option(help="Base train preset, e.g. decoder-tiny-clm-fim.")] = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue the run in --out / `out` from its newest complete checkpoint.")
        ] = False,
        out: Annotated[Path | None, typer.Option("--out", help="Run directory (wins over the config's `out`).")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Pretrain a model on a corpus with one or more objectives.

        Every process of `accelerate launch ... -m codelm train CONFIG` runs this
        command. SIGTERM/SIGINT finish the current step, save a checkpoint and
        exit with 128+signal; `--resume` continues exactly where it stopped.
        """
        import os

        from codelm.config import resolve_config
        from codelm.errors import ConfigError
        from codelm.train import TrainConfig, train

        out_ = Output(json_out, quiet)
        if config is None and preset is None:
            raise ConfigError("codelm train needs a CONFIG file or --preset; see `codelm presets train`")
        cfg = resolve_config(TrainConfig, config, set_ or [], f"train/{preset}" if preset and "/" not in preset else preset)
        main = os.environ.get("RANK", "0") == "0"
        if not main:
            out_ = Output(json_out, quiet=True)
        result = train(cfg, resume=resume, out=out, info=out_.info).to_dict()
        if main:
            out_.result(result, human=_human(result))
        if result["signal"] is not None:
            raise typer.Exit(128 + int(result["signal"]))
