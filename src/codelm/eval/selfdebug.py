"""Self-debugging (Chen et al. 2023, "Teaching Large Language Models to Self-Debug").

Starting from each problem's first sample, the program is run against the
problem's *public* tests: the examples in its prompt (doctest `>>>` lines
turned into asserts, or MBPP's first test, which its prompt shows). If one
fails, the model sees its code, the failing test and the error, and writes
the function again; up to `selfdebug_rounds` rounds. The hidden tests never
reach the model: the final program is graded on them like any sample.

Reported next to plain sampling: pass@1 of the first samples (the starting
point), pass@1 after self-debugging, the fix rate (failing starts that end
passing) and how many rounds were used.
"""

from __future__ import annotations

import ast
import doctest
from collections import defaultdict
from typing import Any

from codelm.errors import ConfigError
from codelm.eval.execution import GradeJob
from codelm.eval.generation import GenItem, problem_seed
from codelm.eval.reranking import run_asserts
from codelm.eval.tasks import Problem


def public_tests(problem: Problem) -> list[str]:
    """Asserts the model may see: the prompt's doctest examples, or the task's public tests."""
    if problem.meta.get("public_tests"):
        return list(problem.meta["public_tests"])
    out = []
    try:
        examples = doctest.DocTestParser().get_examples(problem.prompt)
    except ValueError:  # malformed doctest layout
        return []
    for ex in examples:
        # the docstring's closing quotes follow the last example without a blank line
        want_lines = []
        for line in ex.want.splitlines():
            if line.strip().startswith(('"""', "'''")):
                break
            want_lines.append(line)
        source, want = ex.source.strip(), "\n".join(want_lines).strip()
        if not source or not want or "\n" in source:
            continue
        line = f"assert ({source}) == ({want})"
        try:
            ast.parse(line)
        except SyntaxError:
            continue
        out.append(line)
    return out


def feedback_prompt(problem: Problem, completion: str, test: str, error: str) -> str:
    """The failing program, the failing test and its error as comments, then the prompt again."""
    error = " ".join(error.split())[:300]
    return (
        f"{problem.prompt}{completion.rstrip()}\n\n"
        f"# The code above fails this test:\n# {test}\n# Error: {error}\n"
        f"# Here is the corrected code.\n{problem.prompt}"
    )


def selfdebug_evaluate(cfg, task, problems, scored, backend, executor, run) -> dict[str, dict[str, Any]]:
    from codelm.eval.harness import JsonlLog
    from codelm.progress import progress_bar

    if task.scoring != "execution" or any(p.language != "python" for p in problems):
        raise ConfigError("self-debugging needs a Python execution task (left-to-right generation)")
    first: dict[str, dict] = {}
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in scored.records:
        by_task[r["task_id"]].append(r)
        if r["sample"] == 0:
            first[r["task_id"]] = r
    log = JsonlLog(run.file("selfdebug.jsonl"))
    done = {row["task_id"]: row for row in log.read()}
    todo = [p for p in problems if p.task_id in first and p.task_id not in done]
    state = {p.task_id: {"completion": first[p.task_id]["completion"], "rounds": 0, "history": []} for p in todo}
    tests = {p.task_id: public_tests(p) for p in todo}
    per_test = cfg.method.codet_test_timeout_s
    active = list(todo)
    with progress_bar("self-debugging", total=cfg.method.selfdebug_rounds) as bar:
        for round_ in range(1, cfg.method.selfdebug_rounds + 1):
            failing = []
            for p in active:
                if not tests[p.task_id]:
                    continue  # nothing the model may see to debug against
                rows = run_asserts(executor, p, [state[p.task_id]["completion"]], tests[p.task_id], per_test)[0]
                bad = next((i for i, (ok, _) in enumerate(rows) if not ok), None)
                if bad is not None:
                    failing.append((p, tests[p.task_id][bad], rows[bad][1]))
            if not failing:
                break
            items = [GenItem(feedback_prompt(p, state[p.task_id]["completion"], test, error), 1,
                             problem_seed(cfg.seed, p.task_id, "selfdebug", round_), [*p.stop, *cfg.generation.stop])
                     for p, test, error in failing]
            texts = backend.complete(items, cfg.generation)
            for (p, test, error), outputs in zip(failing, texts, strict=True):
                entry = state[p.task_id]
                entry["history"].append({"round": round_, "test": test, "error": error})
                entry["completion"] = task.postprocess(p, outputs[0])
                entry["rounds"] = round_
            active = [p for p, _, _ in failing]
            bar.advance(1)
    final: dict[str, dict] = {}
    by_id = {p.task_id: p for p in problems}
    jobs = [GradeJob(tid, by_id[tid], entry["completion"], scored.limits[tid]["timeout_s"])
            for tid, entry in state.items()]
    executor.grade_all(jobs, lambda job, fields: final.__setitem__(job.key, fields))
    rows = []
    for tid, entry in state.items():
        rows.append({"task_id": tid, "completion": entry["completion"], "rounds": entry["rounds"],
                     "passed": final[tid]["passed"], "status": final[tid]["status"],
                     "start_passed": bool(first[tid]["passed"]), "public_tests": len(tests[tid]),
                     "history": entry["history"]})
    log.append(rows)
    done.update({r["task_id"]: r for r in rows})
    rows = [done[p.task_id] for p in problems if p.task_id in done]
    log.rewrite(rows)
    started_failing = [r for r in rows if not r["start_passed"]]
    plain = [sum(bool(r["passed"]) for r in by_task[p.task_id]) / max(1, len(by_task[p.task_id])) for p in problems]
    return {
        "sample": {"pass@1": sum(plain) / len(plain)},
        "first_sample": {"pass@1": sum(r["start_passed"] for r in rows) / len(rows)},
        "selfdebug": {
            "pass@1": sum(bool(r["passed"]) for r in rows) / len(rows),
            "fix_rate": (sum(bool(r["passed"]) for r in started_failing) / len(started_failing)
                         if started_failing else 0.0),
            "regressions": sum(1 for r in rows if r["start_passed"] and not r["passed"]),
            "mean_rounds": sum(r["rounds"] for r in rows) / len(rows),
            "problems_without_public_tests": sum(1 for r in rows if not r["public_tests"]),
        },
    }
