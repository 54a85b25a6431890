"""`Sandbox`: a pool of warm sandboxed workers that runs and grades programs.

    with Sandbox(SandboxConfig(workers=2)) as sb:
        r = sb.run("print(1 + 1)")                       # ExecResult(status="passed", stdout="2\\n", ...)
        g = sb.grade(prompt + completion, test, "add", prelude=prompt)   # GradeResult(passed=True, ...)
        many = sb.map([RunRequest("print(1)"), GradeRequest(prog, test, "f")])

Each worker is one interpreter started once inside its sandbox (the zygote);
every execution is a fork of it, so a run costs a few milliseconds instead of
an interpreter start. Workers that end abnormally are restarted before their
next job. All methods are thread-safe; `map` runs requests in parallel, one
per worker.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from codelm.eval.sandbox import cgroups, tiers
from codelm.eval.sandbox._runtime import classify_signal
from codelm.eval.sandbox.config import Limits, SandboxConfig
from codelm.eval.sandbox.grading import TestCodeError, judge, judge_direct, plan_direct, plan_test
from codelm.eval.sandbox.languages import ExecLanguage, get_language
from codelm.eval.sandbox.results import ExecResult, GradeResult
from codelm.eval.sandbox.worker import RawOutcome, Worker, WorkerPool, WorkerStartError

NPROC_OVERHEAD = 3  # zygote + supervisor + the program's first process
BACKSTOP_S = 1.0  # the zygote's own wall clock runs this much past the supervisor's


@dataclass
class RunRequest:
    """One program to execute (see `Sandbox.run`)."""

    code: str
    language: str = "python"
    stdin: str | None = None
    limits: Limits | None = None


@dataclass
class GradeRequest:
    """One program to grade (see `Sandbox.grade`)."""

    program: str
    test: str
    entry_point: str | None = None
    language: str = "python"
    limits: Limits | None = None
    prelude: str | None = None


@dataclass
class _Context:
    cfg: SandboxConfig
    tier: str
    python: str
    prefix: str
    runtime_dir: Path
    cgroups: cgroups.CgroupGroup | None
    memory_mode: str
    dedicated_uids: bool
    notes: list[str] = field(default_factory=list)
    user_tasks: int = 0  # rlimit tier without a dedicated uid: tasks the user already runs


_stale_checked = threading.Lock()
_stale_done = [False]


def _count_user_tasks(uid: int) -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


def _cleanup(pool: WorkerPool | None, group: cgroups.CgroupGroup | None, runtime_dir: Path | None) -> None:
    if pool is not None:
        pool.close()
    if group is not None:
        group.remove()
    if runtime_dir is not None:
        tiers.remove_tree(runtime_dir)


class Sandbox:
    """A pool of sandboxed workers. Use as a context manager, or call `close()`."""

    def __init__(self, config: SandboxConfig | None = None, **overrides) -> None:
        cfg = config or SandboxConfig()
        if overrides:
            cfg = SandboxConfig.model_validate({**cfg.model_dump(), **overrides})
        self.config = cfg
        self._lock = threading.Lock()
        self._ctx: _Context | None = None
        self._pool: WorkerPool | None = None
        self._finalizer = None

    # ----- life cycle -----

    def start(self) -> Sandbox:
        """Choose the tier, make cgroups and start every worker (idempotent)."""
        with self._lock:
            if self._pool is not None:
                return self
            cfg = self.config
            with _stale_checked:
                if not _stale_done[0]:
                    _stale_done[0] = True
                    cgroups.remove_stale()
                    tiers.remove_stale_runtime_dirs()
            dedicated = tiers.is_root()
            probe_uid = cfg.uid_base + 65535 if dedicated else None
            tier, notes = tiers.choose_tier(cfg.tier, cfg.allow_unsafe, probe_uid)
            python, prefix = tiers.resolve_python(cfg.python, dedicated)
            group = None
            if cfg.memory in ("auto", "cgroup"):
                group, why = cgroups.CgroupGroup.create()
                if group is None and cfg.memory == "cgroup":
                    raise tiers.SandboxUnavailableError(f"sandbox.memory = 'cgroup' but no cgroup is writable: {why}")
            runtime_dir = Path(tempfile.mkdtemp(prefix=f"codelm-sandbox-{os.getpid()}-"))
            tiers.write_runtime_dir(runtime_dir)
            ctx = _Context(cfg, tier, python, prefix, runtime_dir, group,
                           "cgroup" if group is not None else "rlimit", dedicated, notes)
            if tier == "rlimit" and not dedicated:
                ctx.user_tasks = _count_user_tasks(os.getuid()) + 64
            # Two slots per core: a run is mostly fork/exit and scheduling latency,
            # so a second slot keeps the core busy meanwhile (docs/BENCHMARKS.md).
            n = cfg.workers or 2 * (os.cpu_count() or 1)
            workers = [Worker(i, ctx) for i in range(n)]
            errors: list[str] = []

            def boot(w: Worker) -> None:
                try:
                    w.start()
                except (WorkerStartError, tiers.SandboxUnavailableError) as exc:
                    errors.append(str(exc))

            threads = [threading.Thread(target=boot, args=(w,)) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            pool = WorkerPool(workers)
            if errors:
                _cleanup(pool, group, runtime_dir)
                raise tiers.SandboxUnavailableError(errors[0])
            tiers.warn(notes)
            self._ctx, self._pool = ctx, pool
            self._finalizer = weakref.finalize(self, _cleanup, pool, group, runtime_dir)
            return self

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._pool = self._ctx = self._finalizer = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def tier(self) -> str:
        return self._context().tier

    def info(self) -> dict:
        """What isolation this pool actually has (for reports and logs)."""
        ctx = self._context()
        w0 = self._pool.workers[0]
        return {
            "tier": ctx.tier, "workers": len(self._pool.workers), "memory": ctx.memory_mode,
            "cgroup_version": ctx.cgroups.version if ctx.cgroups else None,
            "python": ctx.python, "python_version": w0.ready.get("python"),
            "dedicated_uids": ctx.dedicated_uids, "uids": [w.uid for w in self._pool.workers],
            "warnings": list(ctx.notes),
        }

    def worker_pids(self) -> list[int]:
        """Host pids of every process in every worker slot (diagnostics and tests)."""
        self._context()
        out: list[int] = []
        for w in self._pool.workers:
            if w.cgroup is not None:
                out.extend(w.cgroup.pids())
            elif w.proc is not None:
                out.append(w.proc.pid)
        return sorted(set(out))

    def _context(self) -> _Context:
        if self._ctx is None:
            self.start()
        return self._ctx

    # ----- public API -----

    def run(self, code: str, language: str = "python", stdin: str | None = None,
            limits: Limits | None = None) -> ExecResult:
        """Execute one program; never raises for anything the program does."""
        return self._run(RunRequest(code, language, stdin, limits))

    def grade(self, program: str, test: str, entry_point: str | None = None, language: str = "python",
              limits: Limits | None = None, prelude: str | None = None) -> GradeResult:
        """Grade `program` (prompt + completion) against benchmark `test` code.

        Python: HumanEval (`def check(candidate)` + `entry_point`) and MBPP
        (module-level asserts naming the function) shapes; `prelude` is trusted
        code (the prompt) whose helpers the tests use instead of the program's.
        Other languages: `program + test` is one executable (MultiPL-E).
        """
        return self._grade(GradeRequest(program, test, entry_point, language, limits, prelude))

    def map(self, requests: Iterable[RunRequest | GradeRequest]) -> list[ExecResult | GradeResult]:
        """Run many requests in parallel (one per worker); results in input order."""
        items: Sequence = list(requests)
        if not items:
            return []
        self._context()

        def one(req):
            return self._grade(req) if isinstance(req, GradeRequest) else self._run(req)

        with ThreadPoolExecutor(max_workers=len(self._pool.workers)) as ex:
            return list(ex.map(one, items))

    def grade_many(self, requests: Iterable[GradeRequest]) -> list[GradeResult]:
        return self.map(requests)  # type: ignore[return-value]

    # ----- execution -----

    def _limits_for(self, limits: Limits, ctx: _Context) -> dict:
        return {
            "timeout_s": limits.timeout_s, "cpu_s": limits.cpu_limit(), "memory_mb": limits.memory_mb,
            "memory_mode": ctx.memory_mode, "nproc": limits.max_procs + NPROC_OVERHEAD + ctx.user_tasks,
            "max_files": limits.max_files, "max_file_bytes": limits.max_file_bytes,
            "max_output_bytes": limits.max_output_bytes, "compile_timeout_s": limits.compile_timeout_s,
            "as_mb": None,
        }

    def _dispatch(self, frame1: dict, frame2: dict | None, wall: float, limits: Limits,
                  stdin: str | None = None, final=None) -> tuple[RawOutcome | None, str | None]:
        pool = self._pool
        data = None if stdin is None else stdin.encode("utf-8", "surrogateescape")
        for attempt in range(2):
            worker = pool.acquire()
            try:
                try:
                    self._prepare(worker, limits)
                except (WorkerStartError, tiers.SandboxUnavailableError) as exc:
                    return None, str(exc)
                outcome = worker.execute(frame1, frame2, wall, data, limits.max_output_bytes, final)
            finally:
                pool.release(worker)
            # A program cannot kill its worker (the zygote is pid 1 of the sandbox);
            # a worker that died with nothing to show for the job (killed from
            # outside, or dead before it took the job) is restarted and the job
            # retried once on it.
            untouched = (outcome.worker_died and not outcome.frames and outcome.done is None
                         and outcome.oom_kills == 0 and outcome.stdout.total == 0 and outcome.stderr.total == 0)
            if not untouched or attempt:
                return outcome, None
        return outcome, None

    @staticmethod
    def _prepare(worker: Worker, limits: Limits) -> None:
        """A live worker whose cgroup limits are this request's."""
        for _ in range(2):
            if not worker.alive():
                worker.start()
            if worker.cgroup is not None:
                worker.set_limits(worker.baseline_memory + (limits.memory_mb << 20),
                                  limits.max_procs + NPROC_OVERHEAD + 8)
            if worker.alive():
                return
        raise WorkerStartError(f"worker {worker.slot} keeps dying ({worker.log_tail()})")

    def _run(self, req: RunRequest, marker: str | None = None) -> ExecResult:
        ctx = self._context()
        start = time.monotonic()
        lang = get_language(req.language)
        limits = req.limits or ctx.cfg.limits
        lim = self._limits_for(limits, ctx)
        if lang.forked:
            frame1 = {"mode": "python", "program": req.code, "limits": lim}
            wall = limits.timeout_s
        else:
            assert isinstance(lang, ExecLanguage)
            build = lang.build(req.code, limits.memory_mb, dict(self._env()), marker)
            if ctx.memory_mode == "rlimit" and build.as_overhead_mb is not None:
                lim["as_mb"] = limits.memory_mb + build.as_overhead_mb
            frame1 = {"mode": "exec", "files": build.files, "compile": build.compile, "run": build.run,
                      "env": build.env, "limits": lim}
            wall = limits.timeout_s + BACKSTOP_S + (limits.compile_timeout_s if build.compile else 0.0)
        outcome, err = self._dispatch(frame1, None, wall, limits, req.stdin)
        seconds = round(time.monotonic() - start, 6)
        report = outcome.frames[0] if outcome is not None and outcome.frames else None
        # A python program runs in the zygote's child itself: the kernel's exit status
        # (reported by the zygote) is the truth. Other languages report from their runner.
        info = outcome.done if outcome is not None and lang.forked else report
        if info is None:
            status, detail = _without_result(outcome, err)
            out = outcome.stdout.text() if outcome else ""
            errt = outcome.stderr.text() if outcome else ""
            return ExecResult(status, None, None, out, errt, seconds, ctx.tier, detail=detail)
        if lang.forked:
            status, etype = _python_status(info, report, lim)
            detail = None
        else:
            status, etype, detail = str(report.get("status")), None, report.get("detail")
            if status not in ("passed", "sandbox_error"):
                refined, rtype = lang.classify(status, outcome.stderr.text())
                status, etype = refined, rtype
        if outcome.oom_kills > 0 and status != "passed":
            status = "memory"
        return ExecResult(
            status=status, exit_code=info.get("exit_code"), signal=info.get("signal"),
            stdout=outcome.stdout.text(), stderr=outcome.stderr.text(), seconds=seconds, tier=ctx.tier,
            error_type=etype, detail=detail, stdout_truncated=outcome.stdout.truncated,
            stderr_truncated=outcome.stderr.truncated, cpu_seconds=float(info.get("cpu_s") or 0.0),
            max_rss_kb=int(info.get("maxrss_kb") or 0),
        )

    def _env(self) -> dict[str, str]:
        w = self._pool.workers[0]
        return w.launch.opts["env"] if w.launch else {}

    def _grade(self, req: GradeRequest) -> GradeResult:
        ctx = self._context()
        start = time.monotonic()
        lang = get_language(req.language)
        if not lang.forked:
            return self._grade_exec(req, ctx, start)
        limits = req.limits or ctx.cfg.limits
        lim = self._limits_for(limits, ctx)
        direct = plan_direct(req.test, req.entry_point)
        if direct is not None:
            result = self._grade_direct(req, direct, limits, lim, ctx, start)
            if result.status != "opaque":
                return result
            # The program returned objects that are not plain data (a generator, a
            # class instance): split mode can iterate or read them, never trust their __eq__.
        return self._grade_split(req, limits, lim, ctx, start)

    def _grade_direct(self, req, direct, limits, lim, ctx, start) -> GradeResult:
        frame1 = {"mode": "direct", "program": req.program, "entry": direct.entry,
                  "calls": [list(c) for c in direct.calls], "limits": lim}
        outcome, err = self._dispatch(frame1, None, limits.timeout_s, limits, final=lambda f: f.get("end") is True)
        seconds = round(time.monotonic() - start, 6)
        checks = len(direct.checks)
        if outcome is None or (outcome.worker_died and outcome.done is None):
            status, detail = _without_result(outcome, err)
            return GradeResult(status, False, detail, seconds, ctx.tier, checks=checks, extra={"mode": "direct"})
        done = dict(outcome.done or {})
        if done.get("signal") is not None and classify_signal(done["signal"], done.get("cpu_s", 0), lim) == "timeout":
            done["timed_out"] = True
        status, detail, etype = judge_direct(direct, outcome.frames, done)
        return self._graded(status, detail, etype, outcome, seconds, ctx, checks, "direct")

    def _grade_split(self, req, limits, lim, ctx, start) -> GradeResult:
        try:
            plan = plan_test(req.test, req.entry_point, req.prelude)
        except TestCodeError as exc:
            return GradeResult("sandbox_error", False, str(exc), 0.0, ctx.tier, extra={"mode": "split"})
        nonce = secrets.token_hex(16)
        frame1 = {"mode": "split", "program": req.program, "limits": lim}
        frame2 = {"nonce": nonce, "driver": plan.driver, "stubs": list(plan.stubs), "call": plan.call,
                  "entry": plan.entry, "prelude": plan.prelude}
        outcome, err = self._dispatch(frame1, frame2, limits.timeout_s + BACKSTOP_S, limits,
                                      final=lambda f: f.get("nonce") == nonce)
        seconds = round(time.monotonic() - start, 6)
        res = None if outcome is None else next((f for f in outcome.frames if f.get("nonce") == nonce), None)
        if res is None:
            status, detail = _without_result(outcome, err)
            return GradeResult(status, False, detail, seconds, ctx.tier, checks=len(plan.checks),
                               extra={"mode": "split"})
        status, detail, etype = judge(plan, res)
        return self._graded(status, detail, etype, outcome, seconds, ctx, len(plan.checks), "split")

    @staticmethod
    def _graded(status, detail, etype, outcome, seconds, ctx, checks, mode) -> GradeResult:
        if outcome.oom_kills > 0 and status not in ("passed", "opaque"):
            status = "memory"
        return GradeResult(status, status == "passed", detail, seconds, ctx.tier, error_type=etype,
                           checks=checks, stdout=outcome.stdout.text()[-2000:],
                           stderr=outcome.stderr.text()[-2000:], extra={"mode": mode})

    def _grade_exec(self, req: GradeRequest, ctx: _Context, start: float) -> GradeResult:
        marker = "CODELM-DONE-" + secrets.token_hex(16)
        source = req.program + "\n" + req.test + "\n"
        r = self._run(RunRequest(source, req.language, None, req.limits), marker=marker)
        status, detail = r.status, r.detail
        if status == "passed":
            last = r.stdout.rstrip("\n").rsplit("\n", 1)[-1] if r.stdout else ""
            if last != marker:
                status = "failed"
                detail = "the program ended before its tests finished (no completion marker)"
        elif status == "failed" and r.exit_code is not None:
            detail = detail or f"exit code {r.exit_code}"
        stdout = r.stdout.replace("\n" + marker + "\n", "\n").replace(marker, "")
        return GradeResult(status, status == "passed", detail, round(time.monotonic() - start, 6), r.tier,
                           error_type=r.error_type, stdout=stdout[-2000:], stderr=r.stderr[-2000:])


def _python_status(done: dict, report: dict | None, lim: dict) -> tuple[str, str | None]:
    """Status of a python run from the kernel's exit status and the program's own report."""
    if done.get("timed_out"):
        return "timeout", None
    if done.get("signal") is not None:
        return classify_signal(done["signal"], float(done.get("cpu_s") or 0.0), lim), None
    if report is not None:
        kind, etype = report.get("kind"), str(report.get("type"))
        if kind == "syntax":
            return "syntax", etype
        if kind == "exception":
            if etype == "MemoryError":
                return "memory", etype
            return ("failed" if etype == "AssertionError" else "error"), etype
    return ("passed" if done.get("exit_code") == 0 else "failed"), None


def _without_result(outcome: RawOutcome | None, err: str | None) -> tuple[str, str]:
    """Status when the supervisor never reported: decide who is responsible."""
    if outcome is None:
        return "sandbox_error", err or "no worker available"
    done = outcome.done or {}
    if outcome.oom_kills > 0:
        return "memory", "memory limit reached (out-of-memory kill)"
    if done.get("timed_out"):
        return "timeout", "time limit reached"
    if outcome.hung:
        return "sandbox_error", f"the worker stopped responding and was restarted ({outcome.log_tail})"
    if done.get("signal") is not None:
        return "killed", f"the program killed its supervisor (signal {done['signal']})"
    if outcome.worker_died:
        return "sandbox_error", f"the worker died and was restarted ({outcome.log_tail})"
    return "sandbox_error", f"the supervisor exited without a result (exit code {done.get('exit_code')}; {outcome.log_tail})"


def run(code: str, language: str = "python", stdin: str | None = None, limits: Limits | None = None,
        config: SandboxConfig | None = None) -> ExecResult:
    """One-shot `Sandbox.run` with a single worker (starts and stops a pool)."""
    cfg = (config or SandboxConfig()).model_copy(update={"workers": 1})
    with Sandbox(cfg) as sb:
        return sb.run(code, language, stdin, limits)


def grade(program: str, test: str, entry_point: str | None = None, language: str = "python",
          limits: Limits | None = None, prelude: str | None = None,
          config: SandboxConfig | None = None) -> GradeResult:
    """One-shot `Sandbox.grade` with a single worker."""
    cfg = (config or SandboxConfig()).model_copy(update={"workers": 1})
    with Sandbox(cfg) as sb:
        return sb.grade(program, test, entry_point, language, limits, prelude)
