"""`codelm analyze`: one compiler view of one source file (AST, tokens, functions,
identifiers, data flow, control flow) as JSON, Graphviz DOT or PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt

_VIEWS = ("ast", "tokens", "functions", "identifiers", "dfg", "cfg")
_GRAPH_VIEWS = ("ast", "dfg", "cfg")


def _read_source(path: Path) -> str:
    from codelm.errors import InputError

    if str(path) == "-":
        import sys

        data = sys.stdin.buffer.read()
    elif not path.is_file():
        raise InputError(f"'{path}' is not a file; pass the path of a source file")
    else:
        data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"'{path}' looks binary (NUL byte at offset {nul}); analyze source text only")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"'{path}' is not UTF-8 text (undecodable byte at offset {exc.start}); re-encode it as UTF-8"
        ) from None


def _language(path: Path, text: str, lang: str | None) -> str:
    from codelm.analysis.languages import detect_language
    from codelm.analysis.parsing import SUPPORTED_LANGUAGES, normalize_language
    from codelm.errors import ConfigError

    if lang is not None:
        return normalize_language(lang)
    detected = detect_language(path, text) if str(path) != "-" else None
    if detected is None:
        raise ConfigError(f"cannot tell the language of '{path}'; pass --lang "
                          f"(one of {', '.join(SUPPORTED_LANGUAGES)})")
    if detected not in SUPPORTED_LANGUAGES:
        raise ConfigError(f"'{path}' is {detected}, which has no bundled grammar; supported: "
                          f"{', '.join(SUPPORTED_LANGUAGES)}")
    return detected


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_cmd(
        file: Annotated[Path, typer.Argument(help="Source file ('-' reads stdin; then pass --lang).")],
        lang: Annotated[str | None, typer.Option("--lang", help="Language (default: from the file name or shebang).")] = None,
        ast: Annotated[bool, typer.Option("--ast", help="Syntax tree with syntax errors.")] = False,
        tokens: Annotated[bool, typer.Option("--tokens", help="Classified tokens with offsets.")] = False,
        functions: Annotated[bool, typer.Option("--functions", help="Functions, methods, classes with docstrings.")] = False,
        identifiers: Annotated[bool, typer.Option("--identifiers", help="Identifier occurrences by name (definition/use).")] = False,
        dfg: Annotated[bool, typer.Option("--dfg", help="Data-flow graph (GraphCodeBERT form).")] = False,
        cfg: Annotated[bool, typer.Option("--cfg", help="Control-flow graph per function.")] = False,
        fmt: Annotated[str, typer.Option("--format", help="json | dot | png (dot/png for --ast, --dfg, --cfg).")] = "json",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout (png default: FILE.VIEW.png).")] = None,
        literals: Annotated[bool, typer.Option("--literals", help="--dfg: literals become nodes too.")] = False,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Print one view of FILE: --ast, --tokens, --functions, --identifiers, --dfg or --cfg.

        JSON shapes are documented in docs/analysis.md. Positions: 1-based
        lines, 0-based character columns; offsets count characters.
        """
        import json

        from codelm import analysis as an
        from codelm.errors import ConfigError

        out = Output(json_out, quiet)
        chosen = [name for name, on in zip(_VIEWS, (ast, tokens, functions, identifiers, dfg, cfg),
                                           strict=True) if on]
        if len(chosen) != 1:
            raise ConfigError("choose exactly one view: --ast, --tokens, --functions, --identifiers, "
                              "--dfg or --cfg")
        view = chosen[0]
        if fmt not in ("json", "dot", "png"):
            raise ConfigError(f"--format {fmt!r} is unknown; use json, dot or png")
        if fmt != "json" and view not in _GRAPH_VIEWS:
            raise ConfigError(f"--format {fmt} is only for --ast, --dfg and --cfg; use --format json")
        text = _read_source(file)
        language = _language(file, text, lang)
        result = an.parse(text, language)
        if result.errors and view != "ast":
            out.info(f"{file}: {len(result.errors)} syntax error(s), first {result.errors[0]}; "
                     "the result covers what parsed")

        if view == "ast":
            data = an.ast_json(result)
            dot = an.ast_dot(result) if fmt != "json" else None
        elif view == "tokens":
            data = {"language": language, "tokens": [t.to_json() for t in an.tokens(result)]}
        elif view == "functions":
            data = {"language": language, "functions": [f.to_json() for f in an.functions(result)]}
        elif view == "identifiers":
            groups = an.identifiers(result)
            data = {"language": language,
                    "identifiers": {k: [o.to_json() for o in v] for k, v in groups.items()}}
        elif view == "dfg":
            graph = an.data_flow(result, literals=literals)
            data = graph.to_json()
            dot = graph.to_dot() if fmt != "json" else None
        else:
            graphs = an.control_flow(result)
            data = {"language": language, "functions": [g.to_json() for g in graphs]}
            dot = an.cfg_dot(graphs) if fmt != "json" else None

        if fmt == "json":
            if output is not None:
                output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
                out.result({"output": str(output), "format": "json"}, human=f"wrote {output}")
            else:
                print(json.dumps(data, indent=2))
        elif fmt == "dot":
            if output is not None:
                output.write_text(dot, encoding="utf-8")
                out.result({"output": str(output), "format": "dot"}, human=f"wrote {output}")
            elif json_out:
                out.result({"format": "dot", "dot": dot})
            else:
                print(dot, end="")
        else:
            from codelm.analysis.render import render_png

            target = output or Path(f"{Path(file.name).stem or 'stdin'}.{view}.png")
            render_png(dot, target)
            out.result({"output": str(target), "format": "png"}, human=f"wrote {target}")
