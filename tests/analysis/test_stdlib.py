"""The running Python's standard library parses: a deterministic sample here,
every file in benchmarks/bench_analysis.py (recorded in docs/BENCHMARKS.md)."""

from __future__ import annotations

import io
import re
import sysconfig
import tokenize
import warnings
from pathlib import Path

from codelm.analysis import control_flow, data_flow, functions, identifiers, parse, tokens

# Valid Python that tree-sitter-python rejects: a continuation line inside
# brackets dedented below its statement (tree-sitter/tree-sitter-python#256).
KNOWN_GRAMMAR_GAPS = {"test/test_compile.py"}


def sample(n: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    step = max(1, len(files) // n)
    return files[::step][:n]


def valid_python(path: Path) -> str | None:
    """The text of a file CPython compiles (decoded by its coding cookie), else None."""
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return None
    return text


def test_stdlib_sample_parses_without_syntax_errors():
    root = Path(sysconfig.get_paths()["stdlib"])
    checked, flagged = 0, []
    for path in sample(100):
        text = valid_python(path)
        if text is None:
            continue
        result = parse(text, "python")
        assert result.root.end_byte == len(result.data)
        checked += 1
        if not result.ok:
            flagged.append(path.relative_to(root).as_posix())
    assert checked >= 95
    assert set(flagged) <= KNOWN_GRAMMAR_GAPS, flagged


def test_every_view_runs_on_real_files():
    for path in sample(12):
        text = valid_python(path)
        if text is None:
            continue
        result = parse(text, "python")
        toks = tokens(result)
        # every character is in a token but whitespace and `\` line continuations
        drop = re.compile(r"\\\n|\s+")
        assert drop.sub("", "".join(t.text for t in toks)) == drop.sub("", text)
        graph = data_flow(result)
        assert all(text[n.start:n.end] == n.name.rsplit(".", 1)[-1] for n in graph.nodes)
        names = {f.qualname for f in functions(result)}
        assert {c.name for c in control_flow(result)} - {"<module>"} <= names
        assert sum(len(v) for v in identifiers(result).values()) == sum(
            t.kind == "identifier" for t in toks)
