"""`codelm generate`: completions and infilling from a checkpoint directory."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt, SetOpt


def _read_prompts(
    prompt: str | None, file: Path | None, suffix: str | None
) -> list[dict[str, Any]]:
    """Prompts as [{"prompt", "suffix"}]: --prompt, a text file (one prompt), or JSONL (one per line)."""
    from codelm.errors import ConfigError, InputError

    if (prompt is None) == (file is None):
        raise ConfigError("pass exactly one of --prompt TEXT or --file F")
    if prompt is not None:
        return [{"prompt": prompt, "suffix": suffix}]
    assert file is not None
    if not file.is_file():
        raise InputError(f"prompt file '{file}' does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"prompt file '{file}' is not UTF-8 text") from None
    if file.suffix != ".jsonl":
        return [{"prompt": text, "suffix": suffix}]
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(
                f'\'{file}\' line {n} is not JSON; each line must be {{"prompt": ..., "suffix": ...}}'
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise InputError(f"'{file}' line {n} needs a string \"prompt\"")
        items.append({"prompt": row["prompt"], "suffix": row.get("suffix", suffix)})
    if not items:
        raise InputError(f"'{file}' holds no prompts")
    return items


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate_cmd(
        model: Annotated[
            Path, typer.Option("--model", "-m", help="Checkpoint directory (HF model + tokenizer).")
        ],
        prompt: Annotated[
            str | None,
            typer.Option("--prompt", "-p", help="Prompt text (the prefix when --suffix is given)."),
        ] = None,
        file: Annotated[
            Path | None,
            typer.Option(
                "--file", "-f", help='Prompt file; .jsonl = one {"prompt", "suffix"} per line.'
            ),
        ] = None,
        suffix: Annotated[
            str | None, typer.Option("--suffix", help="Text after the gap: fill in the middle.")
        ] = None,
        mode: Annotated[
            str, typer.Option(help="Infill layout: auto, psm, spm, sentinel.")
        ] = "auto",
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="YAML GenerationConfig (kind 'generate')."),
        ] = None,
        max_new_tokens: Annotated[
            int | None, typer.Option("--max-new-tokens", help="Tokens per completion.")
        ] = None,
        temperature: Annotated[float | None, typer.Option(help="0 = greedy.")] = None,
        top_k: Annotated[int | None, typer.Option("--top-k")] = None,
        top_p: Annotated[float | None, typer.Option("--top-p")] = None,
        n: Annotated[int | None, typer.Option("-n", help="Completions per prompt.")] = None,
        num_beams: Annotated[
            int | None, typer.Option("--num-beams", help="Beam search width.")
        ] = None,
        stop: Annotated[
            list[str] | None, typer.Option("--stop", help="Stop string (repeatable).")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
        logprobs: Annotated[
            int | None, typer.Option(help="Per-token logprobs (0 = chosen token, k = top k too).")
        ] = None,
        dtype: Annotated[str, typer.Option(help="float32, bfloat16 or float16.")] = "float32",
        quantize: Annotated[
            str | None, typer.Option(help="int8: dynamic int8 Linear layers (CPU).")
        ] = None,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, mps.")] = "cpu",
        threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
        stream: Annotated[
            bool, typer.Option("--stream", help="Print text as it is generated (one prompt, n 1).")
        ] = False,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Generate completions (or fill in the middle with --suffix) and print them.

        Settings come from --config < --set < the explicit options. Greedy by default.
        """
        import sys

        from codelm.config import resolve_config, validate
        from codelm.inference.config import GenerationConfig
        from codelm.inference.generator import load_generator

        out = Output(json_out, quiet)
        items = _read_prompts(prompt, file, suffix)
        base = resolve_config(GenerationConfig, config, set_ or [])
        explicit = {
            k: v
            for k, v in {
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "n": n,
                "num_beams": num_beams,
                "stop": stop,
                "seed": seed,
                "logprobs": logprobs,
            }.items()
            if v is not None
        }
        cfg = validate(
            GenerationConfig,
            {**base.model_dump(), **explicit},
            [("command-line options", explicit)],
        )
        from codelm import progress

        if not progress.enabled():
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        gen = load_generator(model, dtype=dtype, quantize=quantize, device=device, threads=threads)
        info = gen.info()
        out.info(
            f"{info['architecture']} ({info['kind']}, {info['parameters']:,} params) on {info['device']}, "
            f"dtype {info['dtype']}, quantize {info['quantize'] or 'off'}, {info['threads']} threads"
        )
        if stream:
            from codelm.errors import ConfigError

            if len(items) != 1 or items[0]["suffix"] is not None or json_out:
                raise ConfigError(
                    "--stream prints one plain completion: one --prompt, no --suffix, no --json"
                )
            for piece in gen.stream(items[0]["prompt"], cfg):
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            return
        start = time.perf_counter()
        infill = [i for i, it in enumerate(items) if it["suffix"] is not None]
        plain = [i for i, it in enumerate(items) if it["suffix"] is None]
        results: list[Any] = [None] * len(items)
        if plain:
            for i, comps in zip(
                plain, gen.generate([items[i]["prompt"] for i in plain], cfg), strict=True
            ):
                results[i] = comps
        if infill:
            pairs = [(items[i]["prompt"], items[i]["suffix"]) for i in infill]
            for i, comps in zip(infill, gen.infill_batch(pairs, cfg, mode), strict=True):
                results[i] = comps
        seconds = time.perf_counter() - start
        tokens = sum(len(c.token_ids) for comps in results for c in comps)
        data = {
            "model": info,
            "config": cfg.model_dump(mode="json"),
            "results": [
                {**items[i], "completions": [c.to_dict() for c in comps]}
                for i, comps in enumerate(results)
            ],
            "generated_tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
        }
        if out.json_mode:
            out.result(data)
            return
        many = len(items) > 1 or cfg.n > 1
        lines = []
        for i, comps in enumerate(results):
            for j, c in enumerate(comps):
                if many:
                    lines.append(f"--- prompt {i} completion {j} ({c.finish_reason})")
                lines.append(c.text)
        print("\n".join(lines))
        out.info(f"{tokens} tokens in {seconds:.2f} s ({data['tokens_per_second']} tokens/s)")
