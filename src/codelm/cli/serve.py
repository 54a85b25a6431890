"""`codelm serve`: an OpenAI / llama.cpp / Mistral-FIM compatible HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        model: Annotated[
            Path | None,
            typer.Option("--model", "-m", help="Checkpoint directory (HF model + tokenizer)."),
        ] = None,
        host: Annotated[
            str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None, typer.Option(help="Port (default 8000; 0 = any free port).")
        ] = None,
        engine: Annotated[
            str | None, typer.Option(help="torch (CPU/GPU, ours) or vllm (GPU).")
        ] = None,
        model_name: Annotated[
            str | None,
            typer.Option("--model-name", help="Model id clients see (default: directory name)."),
        ] = None,
        dtype: Annotated[str | None, typer.Option(help="float32, bfloat16 or float16.")] = None,
        quantize: Annotated[
            str | None, typer.Option(help="int8: dynamic int8 Linear layers (CPU, torch engine).")
        ] = None,
        device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (torch engine).")] = None,
        config: Annotated[
            Path | None, typer.Option("--config", "-c", help="YAML ServeConfig (kind 'serve').")
        ] = None,
        log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Serve a checkpoint over HTTP: /v1/completions (FIM via suffix), /v1/chat/completions,
        /v1/fim/completions, /infill, /completion, /v1/models, /health.

        Settings come from --config < --set < the explicit options. Runs until Ctrl-C.
        """
        from codelm.config import resolve_config, validate
        from codelm.errors import require
        from codelm.inference.config import ServeConfig
        from codelm.inference.server.app import serve, served_name

        out = Output(json_out, quiet)
        base = resolve_config(ServeConfig, config, set_ or []).model_dump()
        load = {
            k: v
            for k, v in {
                "model": model,
                "dtype": dtype,
                "quantize": quantize,
                "device": device,
            }.items()
            if v is not None
        }
        top = {
            k: v
            for k, v in {
                "host": host,
                "port": port,
                "engine": engine,
                "model_name": model_name,
            }.items()
            if v is not None
        }
        base["load"] = {**base["load"], **load}
        cfg = validate(
            ServeConfig, {**base, **top}, [("command-line options", {**top, "load": load})]
        )
        if cfg.load.model is None:
            from codelm.errors import ConfigError

            raise ConfigError(
                "pass --model DIR (a checkpoint directory) or set load.model in the config"
            )
        from codelm.inference.loading import check_model_dir

        check_model_dir(Path(cfg.load.model))
        if cfg.engine == "vllm":
            require(
                "vllm", "gpu", "codelm serve --engine vllm"
            )  # fail now, not on the loader thread
        name = served_name(cfg)
        out.info(
            f"serving '{name}' from {cfg.load.model} on http://{cfg.host}:{cfg.port} (engine {cfg.engine})"
        )
        serve(cfg, log_level="warning" if quiet else log_level)
