"""`codelm data build`: build a curated corpus from local code."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Corpus building: filter, redact, deduplicate, decontaminate, split.", no_args_is_help=True)
    app.add_typer(group, name="data")

    @group.command("build")
    def build_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="Output corpus directory (also the run directory).")],
        config: ConfigArg = None,
        source: Annotated[
            list[str] | None,
            typer.Option(
                "--source",
                "-s",
                help="stdlib, a directory, git repo, archive, .jsonl or .parquet, or KIND:PATH (repeatable; "
                "replaces the config's sources).",
            ),
        ] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", "-w", help="Worker processes (default: one per CPU; 0: in-process).")
        ] = None,
        executor: Annotated[str, typer.Option(help="process (concurrent.futures) or ray.")] = "process",
        ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray).")] = None,
        max_files: Annotated[
            int | None, typer.Option(help="Keep a deterministic sample of this many files per source (smoke runs).")
        ] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace a corpus built with another config in --out.")] = False,
        preset: Annotated[str | None, typer.Option(help="Base preset (lowest layer), e.g. data/stdlib.")] = None,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Build a corpus: Parquet splits, manifest.json, rejects.jsonl and report.html in --out.

        A killed build resumes when run again with the same arguments.
        """
        from codelm.config import resolve_config
        from codelm.data.config import DataConfig, parse_source
        from codelm.data.pipeline import build_corpus

        output = Output(json_out, quiet)
        cfg = resolve_config(DataConfig, config, set_ or [], preset)
        if source:
            cfg.sources = [parse_source(s) for s in source]
        if max_files is not None:
            cfg.sources = [s.model_copy(update={"max_files": max_files}) for s in cfg.sources]
        started = time.monotonic()
        manifest = build_corpus(
            cfg, out, workers=workers, executor=executor, ray_address=ray_address, overwrite=overwrite, info=output.info
        )
        seconds = time.monotonic() - started
        dup = manifest["duplicates"]
        splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
        human = (
            f"{manifest['files_in']} files in -> {manifest['files_out']} out ({manifest['bytes_out'] / 1e6:.1f} MB) "
            f"in {seconds:.1f} s\n"
            f"rejected {sum(manifest['rejected'].values())}, duplicates {dup['exact']} exact + {dup['near']} near, "
            f"decontaminated {manifest['decontaminated']}\n"
            f"splits (by {manifest['split_by']}): {splits}\n"
            f"{out}/manifest.json, {out}/rejects.jsonl, {out}/report.html"
        )
        output.result({**manifest, "seconds": round(seconds, 3), "out": str(out)}, human=human)
