"""`codelm tokenizer`: train a code-aware BPE tokenizer on a corpus; inspect one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Train and inspect tokenizers (byte-level BPE, code-aware).", no_args_is_help=True)
    app.add_typer(group, name="tokenizer")

    @group.command("train")
    def train_cmd(
        config: ConfigArg = None,
        data: Annotated[Path | None, typer.Option("--data", help="Corpus directory (DIR/<split>/part-*.parquet).")] = None,
        vocab_size: Annotated[int | None, typer.Option("--vocab-size", help="Vocabulary size, special tokens included.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Directory to write the tokenizer to.")] = None,
        set_: SetOpt = None,
        preset: Annotated[str | None, typer.Option(help="Base preset (lowest config layer).")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Train on the corpus's train split; report bytes/token on validation and check round trips.

        The output directory loads with `AutoTokenizer.from_pretrained(OUT)` and also holds the run
        record (config.yaml, log.jsonl, training_report.json, summary.md).
        """
        from codelm.config import resolve_config, validate
        from codelm.errors import ConfigError
        from codelm.runs import RunDir
        from codelm.tokenizer.train import TokenizerConfig, train_tokenizer_from_corpus

        out_ = Output(json_out, quiet)
        cfg = resolve_config(TokenizerConfig, config, set_ or [], preset)
        updates = {k: v for k, v in {"data": data, "vocab_size": vocab_size, "out": out}.items() if v is not None}
        cfg = validate(TokenizerConfig, {**cfg.model_dump(), **updates}, [("the command line", updates)])
        if cfg.data is None:
            raise ConfigError("tokenizer: no corpus given; pass --data DIR (build one with `codelm data build`)")
        if cfg.out is None:
            raise ConfigError("tokenizer: no output directory; pass --out DIR")
        run = RunDir.at(cfg.out)
        run.save_config(cfg)
        out_.info(f"training a {cfg.vocab_size}-token tokenizer on {cfg.data}")
        run.log("start", vocab_size=cfg.vocab_size, data=str(cfg.data))
        _, report = train_tokenizer_from_corpus(cfg.data, cfg.vocab_size, cfg.out, config=cfg)
        result = report.to_dict()
        run.log("done", **{k: v for k, v in result.items() if k != "splits"})
        run.write_summary(_summary(report))
        if report.roundtrip_failures:
            out_.warn(f"{report.roundtrip_failures} documents did not round-trip; see training_report.json")
        bpt = report.bytes_per_token
        human = (
            f"tokenizer written to {cfg.out} (vocab {report.vocab_size}); "
            + (f"{report.eval_split} bytes/token {bpt:.3f}; " if bpt is not None else "no validation split; ")
            + f"round-trip failures {report.roundtrip_failures}"
        )
        out_.result(result, human=human)

    @group.command("encode")
    def encode_cmd(
        tokenizer_dir: Annotated[Path, typer.Argument(help="Tokenizer directory.")],
        text: Annotated[str | None, typer.Argument(help="Text to encode (or use --file).")] = None,
        file: Annotated[Path | None, typer.Option("--file", help="Encode this file's contents.")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Show how a text splits into tokens (ids, pieces, character offsets)."""
        from codelm.errors import ConfigError, InputError
        from codelm.tokenizer.train import load_tokenizer

        out_ = Output(json_out, quiet)
        if (text is None) == (file is None):
            raise ConfigError("tokenizer encode: give either TEXT or --file FILE")
        if file is not None:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read '{file}' as UTF-8 text: {exc}") from None
        assert text is not None
        tok = load_tokenizer(tokenizer_dir)
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        pieces = [text[s:e] for s, e in enc["offset_mapping"]]
        rows = [
            {"id": i, "token": t, "text": p, "start": s, "end": e}
            for i, t, p, (s, e) in zip(
                enc["input_ids"], tok.convert_ids_to_tokens(enc["input_ids"]), pieces, enc["offset_mapping"], strict=True
            )
        ]
        n_bytes = len(text.encode("utf-8"))
        result = {
            "tokens": len(rows),
            "bytes": n_bytes,
            "bytes_per_token": round(n_bytes / len(rows), 4) if rows else 0.0,
            "roundtrip": tok.decode(enc["input_ids"]) == text,
            "pieces": rows,
        }
        human = " ".join(f"{r['id']}:{r['text']!r}" for r in rows) + f"\n{len(rows)} tokens, {n_bytes} bytes"
        out_.result(result, human=human)


def _summary(report: object) -> str:
    from codelm.tokenizer.train import TrainReport

    assert isinstance(report, TrainReport)
    lines = [
        "# Tokenizer",
        "",
        f"- vocabulary: {report.vocab_size} ({'code-aware' if report.code_aware else 'GPT-2'} pre-tokenization)",
        f"- trained on {report.train_documents} documents; {report.seconds:.1f} s including the round-trip checks",
        f"- bytes/token on {report.eval_split}: {report.bytes_per_token:.4f}"
        if report.bytes_per_token is not None
        else "- no validation split: bytes/token not measured",
        f"- round-trip failures: {report.roundtrip_failures}",
        "",
        "| split | documents | bytes | tokens | bytes/token | round-trip failures |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for split, s in report.splits.items():
        lines.append(
            f"| {split} | {s['documents']} | {s['bytes']} | {s['tokens']} | {s['bytes_per_token']:.4f} | {s['roundtrip_failures']} |"
        )
    return "\n".join(lines)
