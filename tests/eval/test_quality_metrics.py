"""Syntax validity, compile rate (through the sandbox) and ruff findings."""

from __future__ import annotations

import pytest

from codelm.errors import ConfigError
from codelm.eval.compile import compile_check
from codelm.eval.metrics import compute


def test_syntax_validity_with_tree_sitter():
    assert compute("syntax-validity", ["x = 1\n", "def f(:\n", "for x in y: pass\n"], lang="python").score == \
        pytest.approx(2 / 3)
    assert compute("syntax-validity", ["function f() { return 1 }", "function ( {"], lang="javascript").score == 0.5
    empty = compute("syntax-validity", ["", " \n\n", "x = 1\n"], lang="python")  # saying nothing is not valid code
    assert (empty.score, empty.components["empty"]) == (pytest.approx(1 / 3), 2)


@pytest.mark.timeout(120)
def test_compile_rate_runs_each_front_end_in_the_sandbox(sandbox):
    cases = {
        "python": (["def f():\n    return 1\n", "x = 1\n"], ["def f(:\n"]),
        "javascript": (["function f() { return 1; }"], ["function ( {"]),
        "c": (["int main(void) { return 0; }"], ["int main( {"]),
        "java": (["public class A { public static void main(String[] a) { } }"], ["class B {"]),
    }
    for lang, (good, bad) in cases.items():
        results = compile_check(good + bad, lang, sandbox=sandbox)
        assert [r.ok for r in results] == [True] * len(good) + [False] * len(bad), (lang, results)
        assert results[-1].status == "rejected" and results[-1].detail, lang
    rate = compute("compile-rate", ["x = 1\n", "x = (\n", "\n"], lang="python", sandbox=sandbox)
    assert rate.score == pytest.approx(1 / 3)
    assert rate.components["statuses"] == {"compiled": 1, "rejected": 1, "empty": 1}
    with pytest.raises(ConfigError, match="compile-rate supports"):
        compile_check(["x"], "cobol", sandbox=sandbox)


def test_static_findings_per_sample_with_ruff():
    result = compute("static-findings", ["import os\n", "x = 1\n", "def f():\n    y = 1\n    return undefined_name\n"])
    # F401 (unused import), then F841 (unused local) and F821 (undefined name)
    assert result.components["top_codes"] == {"F401": 1, "F841": 1, "F821": 1}
    assert result.score == 1.0 and result.components["clean_samples"] == 1
    with pytest.raises(ConfigError):
        compute("static-findings", ["x"], lang="java")
