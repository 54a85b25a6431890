"""Executing samples: the sandbox, per-problem time limits, and the result cache.

All execution goes through `codelm.eval.sandbox`; nothing here runs
generated code itself.

- Time limits (EvalPlus, Liu et al. 2023): each problem's limit is
  max(floor, factor x the canonical solution's time), measured once through
  the same sandbox, so a slow machine does not fail correct code and a
  fast one does not wait for infinite loops. A fixed `timeout_s` overrides.
- Cache: a result is stored under sha256(harness version, the problem's
  grading fingerprint, the completion, the limits), in SQLite (WAL mode,
  safe across processes). `sandbox_error` results are never cached: they
  are the harness's failures, not the program's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codelm.eval.config import ExecutionOptions
from codelm.eval.tasks import Problem

HARNESS_VERSION = "codelm-eval/1"
CALIBRATION_TIMEOUT_S = 60.0


def default_cache_dir() -> Path:
    root = os.environ.get("CODELM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "codelm")
    return Path(root) / "eval"


class ExecutionCache:
    """(problem, completion, limits, harness version) -> grading result."""

    def __init__(self, directory: str | Path | None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if enabled:
            path = Path(directory) if directory else default_cache_dir()
            path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path / "exec-cache.sqlite", timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    @staticmethod
    def key(fingerprint: str, completion: str, limits: dict[str, Any]) -> str:
        blob = json.dumps([HARNESS_VERSION, fingerprint, completion, limits], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self._db is None or value.get("status") == "sandbox_error":
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


@dataclass
class GradeJob:
    key: Any  # the caller's handle (e.g. (task_id, sample))
    problem: Problem
    completion: str
    timeout_s: float


def grading_fields(result: Any) -> dict[str, Any]:
    """The part of a sandbox GradeResult that goes into results.jsonl and the cache."""
    return {
        "passed": bool(result.passed),
        "status": result.status,
        "detail": (result.detail or "")[:2000] or None,
        "error_type": result.error_type,
        "seconds": round(float(result.seconds), 4),
        "tier": result.tier,
    }


class Executor:
    """Grades completions in the sandbox, in parallel, through the cache."""

    def __init__(self, options: ExecutionOptions, sandbox: Any = None) -> None:
        """`sandbox`: an already started `Sandbox` to share (it is then not closed here)."""
        from codelm.eval.sandbox import Sandbox

        self.options = options
        self._owns_sandbox = sandbox is None
        self.sandbox = Sandbox(options.sandbox) if sandbox is None else sandbox
        self.cache = ExecutionCache(options.cache_dir, options.cache)
        self.executions = 0
        self.reused = 0
        self._calibration: dict[str, dict[str, Any]] = {}
        # results known without running: a canonical solution that passed calibration
        # within a limit also passes under that limit (keyed like the cache)
        self._known: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Executor:
        self.sandbox.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_sandbox:
            self.sandbox.close()
        self.cache.close()

    @property
    def workers(self) -> int:
        return int(self.sandbox.info().get("workers") or 1)

    def info(self) -> dict[str, Any]:
        info = self.sandbox.info()
        return {"sandbox_tier": info.get("tier"), "sandbox_python": info.get("python_version"),
                "sandbox_workers": info.get("workers"), "sandbox_memory": info.get("memory")}

    def limits(self, timeout_s: float):
        return self.options.sandbox.limits.model_copy(update={"timeout_s": float(timeout_s)})

    # ----- grading --------------------------------------------------------

    def _grade_one(self, problem: Problem, completion: str, timeout_s: float) -> dict[str, Any]:
        limits = self.limits(timeout_s)
        key = ExecutionCache.key(problem.fingerprint(), completion, limits.model_dump(mode="json"))
        known = self._known.get(key)
        if known is not None:
            self.reused += 1
            return {**known, "cached": True}
        cached = self.cache.get(key)
        if cached is not None:
            return {**cached, "cached": True}
        result = self.sandbox.grade(
            problem.program(completion), problem.test, problem.entry_point or None, problem.language,
            limits, problem.meta.get("prelude", problem.prompt) if problem.language == "python" else None,
        )
        self.executions += 1
        fields = grading_fields(result)
        self.cache.put(key, fields)
        return {**fields, "cached": False}

    def grade_all(self, jobs: Iterable[GradeJob], on_result: Callable[[GradeJob, dict[str, Any]], None]) -> None:
        """Grade every job (in parallel), calling `on_result` in this thread as each finishes."""
        jobs = list(jobs)
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures = {pool.submit(self._grade_one, j.problem, j.completion, j.timeout_s): j for j in jobs}
            for future in as_completed(futures):
                on_result(futures[future], future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, code: str, language: str, timeout_s: float):
        """Execute a program (CodeT and self-debugging feedback runs)."""
        self.executions += 1
        return self.sandbox.run(code, language, None, self.limits(timeout_s))

    def run_many(self, items: list[tuple[str, str, float]]) -> list[Any]:
        from codelm.eval.sandbox import RunRequest

        self.executions += len(items)
        return self.sandbox.map([RunRequest(code, lang, None, self.limits(t)) for code, lang, t in items])

    # ----- time limits ------------------------------------------------------

    def calibrate(self, problems: list[Problem]) -> dict[str, dict[str, Any]]:
        """Per-problem time limit and the canonical solution's status/time."""
        opts = self.options
        out: dict[str, dict[str, Any]] = {}
        if opts.timeout_s is not None or not opts.calibrate:
            fixed = opts.timeout_s if opts.timeout_s is not None else opts.sandbox.limits.timeout_s
            return {p.task_id: {"timeout_s": float(fixed)} for p in problems}
        todo: dict[str, Problem] = {}
        keys: dict[str, str] = {}  # task_id -> calibration key (infill holes share their base program)
        for p in problems:
            program = p.canonical_program()
            if program is None:
                continue
            ckey = hashlib.sha256(json.dumps([program, p.test, p.entry_point, p.language]).encode()).hexdigest()
            keys[p.task_id] = ckey
            if ckey not in self._calibration:
                todo.setdefault(ckey, p)
        jobs = [GradeJob(ckey, p, p.canonical_solution or "", CALIBRATION_TIMEOUT_S) for ckey, p in todo.items()]

        def record(job: GradeJob, fields: dict[str, Any]) -> None:
            self._calibration[job.key] = fields

        self.grade_all(jobs, record)
        for p in problems:
            ckey = keys.get(p.task_id)
            if ckey is None:
                out[p.task_id] = {"timeout_s": opts.timeout_floor_s, "canonical": None}
                continue
            fields = self._calibration[ckey]
            seconds = fields["seconds"]
            limit = max(opts.timeout_floor_s, opts.timeout_factor * seconds) if fields["passed"] else opts.timeout_floor_s
            limit = round(limit, 3)
            out[p.task_id] = {"timeout_s": limit, "canonical": fields["status"], "canonical_seconds": seconds}
            if fields["passed"] and seconds <= limit:
                key = ExecutionCache.key(p.fingerprint(), p.canonical_solution or "",
                                         self.limits(limit).model_dump(mode="json"))
                self._known[key] = fields
        return out
