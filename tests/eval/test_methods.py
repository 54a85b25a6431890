"""CodeT reranking and self-debugging against plain sampling, with a scripted model."""

from __future__ import annotations

import pytest

from codelm.eval.config import EvalConfig
from codelm.eval.harness import JsonlLog, evaluate
from codelm.eval.reranking import codet_test_prompt, dual_agreement, extract_asserts
from codelm.eval.selfdebug import feedback_prompt, public_tests
from codelm.eval.tasks import get_task

HUMANEVAL = {p.task_id: p for p in get_task("humaneval").problems()}
IDS = ["HumanEval/23", "HumanEval/7"]
WRONG = {"HumanEval/23": "    return len(string) - 1\n", "HumanEval/7": "    return None\n"}
TESTS = {"HumanEval/23": "'') == 0\nassert strlen('abc') == 3\nassert strlen('x') == 1\n",
         "HumanEval/7": "[], 'a') == []\nassert filter_by_substring(['abc', 'b'], 'a') == ['abc']\n"}


def test_dual_agreement_prefers_large_consensus_sets():
    # candidates 0-2 agree on tests {0, 1}; 3 passes all three alone; 4 passes nothing
    matrix = [[True, True, False]] * 3 + [[True, True, True], [False, False, False]]
    top, groups = dual_agreement(matrix)
    assert top == [0, 1, 2]  # 3 x 2 = 6 beats 1 x 3 = 3
    assert len(groups) == 3


def test_extract_asserts_keeps_distinct_parseable_calls():
    texts = ["'') == 0\nassert strlen('ab') == 2\nprint(1)\nassert strlen('zz') == 2",
             "'') == 0\nassert strlen('a' == 1"]
    assert extract_asserts("strlen", texts, 10) == ["assert strlen('') == 0", "assert strlen('ab') == 2"]
    assert codet_test_prompt(HUMANEVAL["HumanEval/23"]).endswith("    pass\n\n# check the correctness of strlen\nassert strlen(")


def test_public_tests_come_from_the_prompt_only():
    tests = public_tests(HUMANEVAL["HumanEval/23"])
    assert tests == ["assert (strlen('')) == (0)", "assert (strlen('abc')) == (3)"]
    prompt = feedback_prompt(HUMANEVAL["HumanEval/23"], WRONG["HumanEval/23"], tests[0], "AssertionError")
    assert "# assert (strlen('')) == (0)" in prompt and prompt.endswith(HUMANEVAL["HumanEval/23"].prompt)


def _answers(item):
    for tid in IDS:
        problem = HUMANEVAL[tid]
        if item.prompt == codet_test_prompt(problem):
            return [TESTS[tid]] * item.n
        if item.prompt.startswith(problem.prompt) and "# The code above fails this test" in item.prompt:
            return [problem.canonical_solution] * item.n
        if item.prompt == problem.prompt:  # sampling: one right answer among four
            return [problem.canonical_solution] + [WRONG[tid]] * (item.n - 1)
    raise AssertionError(f"unexpected prompt {item.prompt[:80]!r}")


@pytest.mark.timeout(120)
def test_codet_picks_the_candidate_the_tests_agree_on(tmp_path, sandbox, scripted):
    cfg = EvalConfig.model_validate({
        "task": "humaneval", "out": str(tmp_path / "run"), "task_options": {"ids": IDS},
        "generation": {"n": 4}, "method": {"name": "codet", "codet_tests": 2},
        "execution": {"cache_dir": str(tmp_path / "cache")}})
    summary, run = evaluate(cfg, backend=scripted(_answers), sandbox=sandbox)
    assert summary["metrics"]["pass@1"] == 0.25
    methods = summary["methods"]
    assert methods["sample"]["pass@1"] == 0.25
    assert methods["codet"]["pass@1"] == 1.0 and methods["codet"]["pass@1_first"] == 1.0
    rows = JsonlLog(run.path / "codet.jsonl").read()
    assert [r["task_id"] for r in rows] == ["HumanEval/7", "HumanEval/23"]
    assert [len(r["tests"]) for r in rows] == [2, 3]
    # strlen: the right candidate passes all three tests; len(s) - 1 passes none
    assert rows[1]["matrix"] == [[True, True, True]] + [[False, False, False]] * 3
    assert rows[1]["top"] == [0] and rows[0]["top"] == [0]
    html = (run.path / "report.html").read_text()
    assert "Generation methods against plain sampling" in html


@pytest.mark.timeout(120)
def test_selfdebug_fixes_from_public_test_feedback(tmp_path, sandbox, scripted):
    backend = scripted(lambda item: [WRONG[t] for t in IDS if item.prompt == HUMANEVAL[t].prompt] * item.n
                              or _answers(item))
    cfg = EvalConfig.model_validate({
        "task": "humaneval", "out": str(tmp_path / "run"), "task_options": {"ids": IDS},
        "generation": {"n": 1}, "method": {"name": "selfdebug", "selfdebug_rounds": 2},
        "execution": {"cache_dir": str(tmp_path / "cache")}})
    summary, run = evaluate(cfg, backend=backend, sandbox=sandbox)
    debug = summary["methods"]["selfdebug"]
    assert summary["methods"]["first_sample"]["pass@1"] == 0.0
    assert debug["pass@1"] == 1.0 and debug["fix_rate"] == 1.0 and debug["mean_rounds"] == 1.0
    feedback = [r.prompt for r in backend.requests if "# The code above fails this test" in r.prompt]
    assert len(feedback) == 2
    hidden = HUMANEVAL["HumanEval/23"].test.split("def check")[1]
    assert not any(line.strip() in feedback[0] for line in hidden.splitlines() if "assert" in line)
    rows = JsonlLog(run.path / "selfdebug.jsonl").read()
    assert [r["rounds"] for r in rows] == [1, 1] and all(r["passed"] for r in rows)
