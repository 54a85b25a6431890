"""CodeT (Chen et al. 2022, "CodeT: Code Generation with Generated Tests").

The model writes tests as well as solutions. Every candidate solution is
executed against every generated assert; candidates passing the same set of
tests form a consensus set, scored by dual agreement

    score(set) = (number of candidates in it) x (number of tests they pass),

and the top-scoring set is the pick. pass@1 of CodeT is the expected
correctness (on the hidden tests) of a candidate drawn from the top set(s),
measured next to plain sampling's pass@1 over the same candidates.

Generated tests run inside the sandbox with the candidate (one run per
candidate, every assert under its own alarm); their pass/fail rows come back
as a tagged JSON line. A candidate that forges that line can only promote
itself in the ranking: correctness is still judged by the cheat-proof
grader on the hidden tests.
"""

from __future__ import annotations

import ast
import json
import secrets
from collections import defaultdict
from typing import Any

from codelm.errors import ConfigError
from codelm.eval.generation import GenItem, problem_seed
from codelm.eval.tasks import Problem

TEST_STOP = ["\n\n", "\ndef ", "\nclass ", "\nif ", "\nprint", "\n#"]

_RUNNER = '''

def __codelm_run_tests():
    import json as _json, signal as _signal, sys as _sys
    def _alarm(signum, frame):
        raise TimeoutError("test timed out")
    _signal.signal(_signal.SIGALRM, _alarm)
    rows = []
    for source in {tests!r}:
        try:
            _signal.setitimer(_signal.ITIMER_REAL, {per_test!r})
            exec(compile(source, "<test>", "exec"), globals())
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            rows.append([True, ""])
        except BaseException as exc:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            rows.append([False, (type(exc).__name__ + ": " + str(exc))[:300]])
    _sys.stdout.write("\\n{marker}" + _json.dumps(rows) + "\\n")
    _sys.stdout.flush()

__codelm_run_tests()
'''


def codet_test_prompt(problem: Problem) -> str:
    """CodeT's test-generation prompt: the signature with `pass`, then an assert to complete."""
    entry = problem.entry_point
    body = "    pass\n\n" if f"def {entry}(" in problem.prompt else ""  # HumanEval prompts end in a signature
    return f"{problem.prompt}{body}# check the correctness of {entry}\nassert {entry}("


def extract_asserts(entry_point: str, texts: list[str], limit: int) -> list[str]:
    """Distinct, parseable single-line asserts that call `entry_point`."""
    out: list[str] = []
    for text in texts:
        for line in (f"assert {entry_point}(" + text).split("\n"):
            line = line.strip()
            if not line.startswith("assert "):
                break
            if f"{entry_point}(" not in line or line in out:
                continue
            try:
                tree = ast.parse(line)
            except SyntaxError:
                continue
            if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
                out.append(line)
            if len(out) >= limit:
                return out
    return out


def run_asserts(executor, problem: Problem, completions: list[str], asserts: list[str],
                per_test_s: float) -> list[list[tuple[bool, str]]]:
    """For each completion, (passed, message) per assert; a run that dies fails every assert."""
    if not asserts:
        return [[] for _ in completions]
    items = []
    markers = []
    for completion in completions:
        marker = "CODELM-TESTS-" + secrets.token_hex(12) + ":"
        markers.append(marker)
        code = problem.program(completion) + _RUNNER.format(tests=asserts, per_test=float(per_test_s), marker=marker)
        items.append((code, problem.language, per_test_s * len(asserts) + 5.0))
    results = executor.run_many(items)
    out = []
    for res, marker in zip(results, markers, strict=True):
        rows = None
        for line in reversed((res.stdout or "").splitlines()):
            if line.startswith(marker):
                try:
                    parsed = json.loads(line[len(marker):])
                except json.JSONDecodeError:
                    break
                if isinstance(parsed, list) and len(parsed) == len(asserts):
                    rows = [(bool(r[0]), str(r[1])) for r in parsed]
                break
        if rows is None:
            why = res.detail or res.status
            rows = [(False, f"the program did not finish its tests ({why})")] * len(asserts)
        out.append(rows)
    return out


def dual_agreement(matrix: list[list[bool]]) -> tuple[list[int], dict[frozenset, list[int]]]:
    """Indices of the candidates in the top consensus set(s), and all sets."""
    groups: dict[frozenset, list[int]] = defaultdict(list)
    for i, row in enumerate(matrix):
        groups[frozenset(j for j, ok in enumerate(row) if ok)].append(i)
    scores = {key: len(members) * len(key) for key, members in groups.items()}
    best = max(scores.values())
    top = sorted(i for key, members in groups.items() if scores[key] == best for i in members)
    return top, dict(groups)


def codet_evaluate(cfg, task, problems, scored, backend, executor, run) -> dict[str, dict[str, Any]]:
    from codelm.eval.harness import JsonlLog
    from codelm.progress import progress_bar

    if task.scoring != "execution" or any(p.language != "python" or not p.entry_point for p in problems):
        raise ConfigError("CodeT needs a Python execution task whose problems name an entry_point")
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in scored.records:
        by_task[r["task_id"]].append(r)
    opts = cfg.method
    log = JsonlLog(run.file("codet.jsonl"))
    done = {row["task_id"]: row for row in log.read()}
    executions = 0
    with progress_bar("CodeT", total=len(problems)) as bar:
        for start in range(0, len(problems), cfg.generation.batch_size):
            batch = [p for p in problems[start:start + cfg.generation.batch_size] if p.task_id not in done]
            items = [GenItem(codet_test_prompt(p), opts.codet_tests, problem_seed(cfg.seed, p.task_id, "codet"),
                             TEST_STOP, max_new_tokens=256) for p in batch]
            texts = backend.complete(items, cfg.generation) if items else []
            rows = []
            for p, outputs in zip(batch, texts, strict=True):
                candidates = by_task[p.task_id]
                asserts = extract_asserts(p.entry_point, outputs, opts.codet_max_asserts)
                outcome = run_asserts(executor, p, [c["completion"] for c in candidates], asserts,
                                      opts.codet_test_timeout_s)
                executions += len(candidates) if asserts else 0
                matrix = [[ok for ok, _ in row] for row in outcome]
                top, _ = dual_agreement(matrix) if candidates else ([], {})
                correct = [bool(candidates[i]["passed"]) for i in top]
                rows.append({"task_id": p.task_id, "tests": asserts, "matrix": matrix, "top": top,
                             "chosen": top[0] if top else None,
                             "expected_pass": sum(correct) / len(correct) if correct else 0.0})
            log.append(rows)
            for row in rows:
                done[row["task_id"]] = row
            bar.advance(len(problems[start:start + cfg.generation.batch_size]))
    rows = [done[p.task_id] for p in problems if p.task_id in done]
    log.rewrite(rows)
    plain = [sum(bool(r["passed"]) for r in by_task[p.task_id]) / max(1, len(by_task[p.task_id])) for p in problems]
    return {
        "sample": {"pass@1": sum(plain) / len(plain), "candidates": sum(len(by_task[p.task_id]) for p in problems)},
        "codet": {
            "pass@1": sum(r["expected_pass"] for r in rows) / len(rows),
            "pass@1_first": sum(bool(by_task[r["task_id"]][r["chosen"]]["passed"]) for r in rows
                                if r["chosen"] is not None) / len(rows),
            "tests_per_problem": sum(len(r["tests"]) for r in rows) / len(rows),
            "problems_without_tests": sum(1 for r in rows if not r["tests"]),
            "test_executions": executions,
        },
    }
