"""Code-quality metrics: syntax validity, compile rate, static findings, fix rate.

- syntax-validity: the share of samples tree-sitter parses without an ERROR
  or MISSING node (no execution; any bundled grammar). An empty sample is
  not valid code: otherwise saying nothing would score 1.0.
- compile-rate: the share that the language's own front end accepts —
  `compile()` as py_compile does, `node --check`, `gcc -fsyntax-only`,
  `javac` — run inside the sandbox (compilers read untrusted input too);
  an empty sample counts as not compiled.
- static-findings: ruff findings per sample (Python), with the most common
  rule codes; ruff only reads the files, so it runs on the host.
- fix-rate: for repair tasks, the share of initially failing programs whose
  repaired version passes (and how many passing ones the repair broke).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from codelm.errors import ConfigError, InputError, MissingDependencyError
from codelm.eval.metrics import MetricResult, metric


def is_valid_syntax(code: str, lang: str) -> bool:
    from codelm.analysis.parsing import parse

    return parse(code, lang).ok


@metric("syntax-validity", "code", "share of samples that parse without errors (tree-sitter; option lang)",
        needs_references=False)
def syntax_validity(predictions, references=None, lang: str = "python") -> MetricResult:
    valid = [bool(p.strip()) and is_valid_syntax(p, lang) for p in predictions]
    empty = sum(1 for p in predictions if not p.strip())
    return MetricResult("syntax-validity", sum(valid) / len(valid) if valid else 0.0,
                        {"valid": sum(valid), "empty": empty, "lang": lang}, len(valid))


@metric("compile-rate", "code", "share of samples the language's compiler accepts, run in the sandbox (option lang)",
        needs_references=False)
def compile_rate(predictions, references=None, lang: str = "python", sandbox=None) -> MetricResult:
    from codelm.eval.compile import compile_check

    predictions = list(predictions)
    written = [p for p in predictions if p.strip()]  # an empty sample compiles nothing: counted, not run
    results = compile_check(written, lang, sandbox=sandbox) if written else []
    ok = sum(r.ok for r in results)
    statuses = Counter(r.status for r in results)
    if len(written) < len(predictions):
        statuses["empty"] = len(predictions) - len(written)
    return MetricResult("compile-rate", ok / len(predictions) if predictions else 0.0,
                        {"compiled": ok, "statuses": dict(statuses), "lang": lang}, len(predictions))


def ruff_binary() -> str:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise MissingDependencyError("static-findings needs ruff: pip install ruff") from None
    return str(find_ruff_bin())


def ruff_findings(predictions: list[str], select: str = "E,F,W,B") -> list[list[dict]]:
    """ruff's findings for each sample (one temporary file per sample, one ruff run)."""
    if not predictions:
        return []
    with tempfile.TemporaryDirectory(prefix="codelm-ruff-") as tmp:
        root = Path(tmp)
        for i, code in enumerate(predictions):
            (root / f"s{i:06d}.py").write_text(code, encoding="utf-8")
        cmd = [ruff_binary(), "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
               "--select", select, str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise InputError(f"ruff failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
        findings: list[list[dict]] = [[] for _ in predictions]
        for item in json.loads(proc.stdout or "[]"):
            index = int(Path(item["filename"]).stem[1:])
            findings[index].append({"code": item.get("code") or "syntax", "message": item["message"],
                                    "line": item["location"]["row"]})
    return findings


@metric("static-findings", "code", "ruff findings per sample (Python; option select, default E,F,W,B)",
        needs_references=False)
def static_findings(predictions, references=None, select: str = "E,F,W,B", lang: str = "python") -> MetricResult:
    if lang != "python":
        raise ConfigError(f"static-findings runs ruff, which checks Python only (got lang '{lang}')")
    per_sample = ruff_findings(list(predictions), select)
    counts = Counter(f["code"] for sample in per_sample for f in sample)
    total = sum(counts.values())
    clean = sum(1 for s in per_sample if not s)
    components = {"total": total, "clean_samples": clean, "top_codes": dict(counts.most_common(10))}
    return MetricResult("static-findings", total / len(per_sample) if per_sample else 0.0, components,
                        len(per_sample))


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "passed", "yes")
    return bool(value)


@metric("fix-rate", "pairs", "share of failing programs that pass after repair (predictions: passed after, "
        "references: passed before)")
def fix_rate(predictions, references) -> MetricResult:
    from codelm.eval.metrics import check_lengths

    check_lengths(predictions, references, "fix-rate")
    after = [_as_bool(p) for p in predictions]
    before = [_as_bool(r) for r in references]
    broken = [a for a, b in zip(after, before, strict=True) if not b]
    fixed = sum(broken)
    regressions = sum(1 for a, b in zip(after, before, strict=True) if b and not a)
    return MetricResult("fix-rate", fixed / len(broken) if broken else 0.0,
                        {"fixed": fixed, "failing_before": len(broken), "regressions": regressions}, len(after))
