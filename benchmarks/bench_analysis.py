"""Code analysis over the running Python's standard library.

Every `.py` file (site-packages excluded) is parsed with tree-sitter; CPython's
own compiler decides which files are valid Python, so the share of valid files
with tree-sitter syntax errors is the parser's false-alarm rate (expected 0).
Throughput is measured side by side in one run, against CPython's `ast.parse`
(parsing) and `tokenize` (tokens), for: parse, tokens, data flow (which
includes its parse), control flow.

    .venv/bin/python benchmarks/bench_analysis.py [--limit N] [--stages parse,tokens,dfg,cfg]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import platform
import sysconfig
import time
import tokenize
import warnings
from pathlib import Path

from codelm.analysis import control_flow, data_flow, parse, tokens


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)


def load(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """Decode each file as Python does: its coding cookie, else UTF-8 (a few
    test files are Latin-1 on purpose)."""
    out, undecodable = [], []
    for path in paths:
        data = path.read_bytes()
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            out.append((path, data.decode(encoding)))
        except (SyntaxError, UnicodeDecodeError, LookupError):
            undecodable.append(str(path))  # CPython cannot read these either
    return out, undecodable


def cpython_valid(path: Path, text: str) -> bool:
    """Valid means CPython compiles it (parse + the compiler's own syntax checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def py_tokenize(text: str) -> int:
    try:
        return sum(1 for _ in tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return 0


class Clock:
    """Seconds per stage, accumulated file by file: the stages run interleaved,
    so a change in machine load hits them alike (the machine is shared)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return out


def rate(seconds: float, n_files: int, n_bytes: int) -> dict:
    return {"seconds": round(seconds, 3), "files_per_s": round(n_files / seconds, 1),
            "mb_per_s": round(n_bytes / 1e6 / seconds, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N files (0 = all)")
    ap.add_argument("--stages", default="parse,tokens,dfg,cfg")
    args = ap.parse_args()
    stages = set(args.stages.split(","))
    paths = stdlib_files()
    if args.limit:
        paths = paths[: args.limit]
    files, undecodable = load(paths)
    clock = Clock()
    n_bytes = valid_bytes = n_valid = 0
    flagged_valid: list[str] = []
    flagged_invalid = n_invalid = 0
    covered = True
    counts = {"tokens": 0, "dfg_nodes": 0, "dfg_edges": 0, "functions": 0, "blocks": 0}
    for path, text in files:
        size = len(text.encode("utf-8", "surrogatepass"))
        n_bytes += size
        valid = cpython_valid(path, text)
        result = clock("parse", parse, text, "python")  # every file, valid or not
        covered = covered and result.root.end_byte == size
        if not valid:
            n_invalid += 1
            flagged_invalid += not result.ok
            continue
        n_valid += 1
        valid_bytes += size
        if not result.ok:
            flagged_valid.append(str(path))
        clock("ast.parse", ast.parse, text)
        if "tokens" in stages:
            counts["tokens"] += len(clock("tokens", tokens, text, "python"))
            clock("tokenize", py_tokenize, text)
        if "dfg" in stages:
            graph = clock("dfg", data_flow, text, "python")
            counts["dfg_nodes"] += len(graph.nodes)
            counts["dfg_edges"] += len(graph.edges)
        if "cfg" in stages:
            cfgs = clock("cfg", control_flow, text, "python")
            counts["functions"] += len(cfgs)
            counts["blocks"] += sum(len(c.blocks) for c in cfgs)

    sec = clock.seconds
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "stdlib": sysconfig.get_paths()["stdlib"],
        "files": len(files), "mb": round(n_bytes / 1e6, 2), "undecodable": len(undecodable), "undecodable_files": undecodable,
        "cpython_valid": n_valid, "cpython_invalid": n_invalid,
        "parse": {
            **rate(sec["parse"], len(files), n_bytes),
            "every_file_parsed": covered,
            "valid_files_with_errors": len(flagged_valid),
            "valid_share_with_errors": round(len(flagged_valid) / max(1, n_valid), 5),
            "valid_files_with_errors_list": flagged_valid[:20],
            "invalid_files_flagged": flagged_invalid,
        },
        "cpython_ast_parse": rate(sec["ast.parse"], n_valid, valid_bytes),
    }
    if "tokens" in stages:
        report["tokens"] = {**rate(sec["tokens"], n_valid, valid_bytes), "tokens": counts["tokens"],
                            "cpython_tokenize": rate(sec["tokenize"], n_valid, valid_bytes),
                            "time_ratio_vs_tokenize": round(sec["tokens"] / sec["tokenize"], 2)}
    if "dfg" in stages:
        report["dfg"] = {**rate(sec["dfg"], n_valid, valid_bytes), "nodes": counts["dfg_nodes"],
                         "edges": counts["dfg_edges"],
                         "time_ratio_vs_ast_parse": round(sec["dfg"] / sec["ast.parse"], 2)}
    if "cfg" in stages:
        report["cfg"] = {**rate(sec["cfg"], n_valid, valid_bytes),
                         "functions": counts["functions"], "blocks": counts["blocks"],
                         "time_ratio_vs_ast_parse": round(sec["cfg"] / sec["ast.parse"], 2)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
