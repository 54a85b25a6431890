"""`codelm objectives`: the pretraining objectives, the families each fits, their parameters.

With `--example FILE --tokenizer DIR` it also shows what an objective makes of
a file: the first examples, decoded, so a user can see the FIM layout or the
span-corruption sentinels before training on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt, SetOpt


def register(app: typer.Typer) -> None:
    @app.command("objectives")
    def objectives_cmd(
        name: Annotated[str | None, typer.Argument(help="Show one objective in detail (e.g. fim).")] = None,
        family: Annotated[str | None, typer.Option(help="Only objectives that fit this family (decoder, encoder, encdec).")] = None,
        example: Annotated[Path | None, typer.Option(help="Show the examples NAME makes of this source file.")] = None,
        tokenizer: Annotated[Path | None, typer.Option(help="Tokenizer directory (with --example).")] = None,
        seq_len: Annotated[int, typer.Option("--seq-len", help="Window length (with --example).")] = 128,
        count: Annotated[int, typer.Option(help="How many examples to show (with --example).")] = 2,
        seed: Annotated[int, typer.Option(help="Seed of the example stream (with --example).")] = 0,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """List objectives with the model families they support and their parameters.

        In a training config, objectives are a list; each step trains one, chosen by `weight`:
        `objectives: [{name: clm, weight: 0.5}, {name: fim, weight: 0.5, spm_rate: 0.5}]`.
        """
        from codelm.errors import ConfigError
        from codelm.objectives.base import FAMILIES
        from codelm.objectives.registry import describe_objectives

        out = Output(json_out, quiet)
        if family is not None and family not in FAMILIES:
            raise ConfigError(f"--family '{family}' is unknown; known: {', '.join(FAMILIES)}")
        if example is not None:
            if name is None:
                raise ConfigError("--example needs an objective NAME (e.g. `codelm objectives fim --example f.py ...`)")
            _show_example(out, name, example, tokenizer, family, seq_len, count, seed, set_ or [])
            return
        if set_:
            raise ConfigError("--set applies to --example only")
        rows = describe_objectives(name)
        if family is not None:
            rows = [r for r in rows if family in r["families"]]
        if out.json_mode:
            out.result(rows if name is None else rows[0])
            return
        if name is not None:
            print(_detail(rows[0]))
            return
        width = max(len(r["name"]) for r in rows)
        fam_width = max(len(_families(r)) for r in rows)
        for r in rows:
            params = ", ".join(f"{p['key']}={_short(p['default'])}" for p in r["parameters"] if p["key"] not in ("weight", "label"))
            print(f"{r['name'].ljust(width)}  {_families(r).ljust(fam_width)}  {params}")
        out.info("`codelm objectives NAME` shows one in detail; every objective also takes weight and label")


def _families(row: dict[str, Any]) -> str:
    return row["family_detail"] or ", ".join(row["families"])


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _detail(row: dict[str, Any]) -> str:
    lines = [f"{row['name']}: {row['summary']}", f"families: {_families(row)}",
             f"packed: {'yes' if row['packed'] else 'no (one example per document or function)'}", "parameters:"]
    for p in row["parameters"]:
        lines.append(f"  {p['key']} ({p['type']}, default {p['default']!r})")
        if p["description"]:
            lines.append(f"      {p['description']}")
    return "\n".join(lines)


def _show_example(
    out: Output, name: str, path: Path, tokenizer_dir: Path | None, family: str | None,
    seq_len: int, count: int, seed: int, overrides: list[str],
) -> None:
    import itertools

    from codelm.analysis.languages import detect_language
    from codelm.config import parse_overrides
    from codelm.errors import ConfigError, InputError
    from codelm.objectives import ExampleStream, build_objective
    from codelm.objectives.base import IGNORE_INDEX
    from codelm.objectives.registry import OBJECTIVES
    from codelm.objectives.text import decode
    from codelm.tokenizer import load_tokenizer

    if tokenizer_dir is None:
        raise ConfigError("--example needs --tokenizer DIR (train one with `codelm tokenizer train`)")
    if not path.is_file():
        raise InputError(f"--example file '{path}' does not exist")
    if count < 1 or seq_len < 8:
        raise ConfigError("--count must be at least 1 and --seq-len at least 8")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"--example file '{path}' is not UTF-8 text") from None
    tok = load_tokenizer(tokenizer_dir)
    cls = OBJECTIVES.get(name, key="objective")
    spec = {"name": name, **parse_overrides(overrides)}
    objective = None
    for candidate in [family] if family else cls.families:
        try:  # without --family: the first family this configuration fits
            objective = build_objective(spec, tok, candidate, seq_len)
        except ConfigError as exc:
            if family or "does not fit" not in str(exc) or candidate == cls.families[-1]:
                raise
            continue
        family = candidate
        break
    assert objective is not None and family is not None
    doc = {"repo": path.parent.name, "path": path.name, "language": detect_language(str(path), text), "content": text}
    stream = ExampleStream(objective, lambda epoch, start: iter([doc][start:]), seed)
    examples = list(itertools.islice(stream, count))
    shown = []
    for ex in examples:
        item: dict[str, Any] = {}
        for key in ("input_ids", "pair_input_ids"):
            if key in ex:
                item[key.replace("_ids", "")] = decode(tok, ex[key])
        labels = ex.get("labels")
        if isinstance(labels, list) and labels and not (key == "input_ids" and labels == ex["input_ids"]):
            if any(t == IGNORE_INDEX for t in labels) or len(labels) != len(ex["input_ids"]):
                item["targets"] = decode(tok, [t for t in labels if t >= 0 and t != IGNORE_INDEX])
            elif set(labels) <= {0, 1}:
                item["tags"] = "".join(str(t) for t in labels)
        item["tokens"] = len(ex["input_ids"])
        shown.append(item)
    result = {"objective": objective.name, "family": family, "seq_len": seq_len, "examples": shown}
    if out.json_mode:
        out.result(result)
        return
    # plain print: decoded code is full of brackets that rich would read as markup
    for i, item in enumerate(shown):
        print(f"=== example {i}: {objective.name} on {family}, {item['tokens']} tokens")
        for key, value in item.items():
            if key != "tokens":
                print(f"--- {key}\n{value}")
