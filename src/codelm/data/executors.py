"""Where tasks run: in-process, a process pool (concurrent.futures), or a Ray cluster.

All three expose the same two calls:

- `imap(fn, tasks)` runs tasks with a bounded number in flight (memory
  stays flat however many tasks there are) and yields `(task, result)` in
  completion order, where a result may be a `WorkerCrash`;
- `run_isolated(fn, task)` runs one task alone, so a crash is attributable.

A dying worker (segfault in a C extension, OOM kill, `os._exit`) breaks a
`ProcessPoolExecutor` for every task in flight; the pool is rebuilt and
those tasks come back as `WorkerCrash`, for the pipeline to retry alone and,
if one still crashes, to split until the file that kills the worker is
found (data.pipeline.salvage). A task running past `timeout_s` counts as a
crash too: its workers are killed, so a hang cannot stall the build.
Exceptions raised by the task function itself are bugs and propagate.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from codelm.errors import ConfigError, require


class WorkerCrash(Exception):
    """The worker running a task died or hung; the task's own code did not raise."""


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a clean single-threaded server, not from this
    # process (whose pyarrow/numpy thread pools make plain fork unsafe), and
    # start far faster than spawn because the server imports codelm once.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["codelm.data.worker"])
    return ctx


class InlineExecutor:
    """workers=0: run tasks in this process, one after another (debugging, tiny inputs)."""

    name = "inline"
    workers = 0

    def imap(self, fn: Callable[..., Any], tasks: Iterable[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
        for task in tasks:
            yield task, fn(task, *args)

    def run_isolated(self, fn: Callable[..., Any], task: Any, *args: Any) -> Any:
        return fn(task, *args)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """A forkserver process pool that survives dead and hung workers."""

    name = "process"

    def __init__(self, workers: int, timeout_s: float = 900.0) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.ctx = _context()
        self.pool = self._new_pool(workers)

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=self.ctx)

    @staticmethod
    def _kill(pool: ProcessPoolExecutor) -> None:
        # concurrent.futures has no public way to stop a running task; killing
        # its processes marks the pool broken, which fails the pending futures.
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(OSError, AttributeError):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def imap(self, fn: Callable[..., Any], tasks: Iterable[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
        pending = iter(tasks)
        # exactly one task per worker in flight: every future is running, so its
        # age is its run time (what the timeout measures) and memory stays flat
        in_flight: dict[Future[Any], tuple[Any, float]] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < self.workers:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                in_flight[self.pool.submit(fn, task, *args)] = (task, time.monotonic())
            if not in_flight:
                return
            done, _ = wait(in_flight, timeout=min(self.timeout_s, 5.0), return_when=FIRST_COMPLETED)
            if not done:
                if time.monotonic() - min(t for _, t in in_flight.values()) > self.timeout_s:
                    self._kill(self.pool)  # the pending futures now fail with BrokenProcessPool
                continue
            broken = False
            for future in done:
                task, _ = in_flight.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    broken = True
                    yield task, WorkerCrash("worker died")
                else:
                    yield task, future.result()
            if broken:
                # the pool is gone: tasks still in flight are lost with it (the
                # pipeline retries each alone); ones that finished are kept
                for future, (task, _) in list(in_flight.items()):
                    if future.done() and not isinstance(future.exception(), BrokenProcessPool):
                        yield task, future.result()
                    else:
                        yield task, WorkerCrash("pool broken by another worker")
                in_flight.clear()
                self._kill(self.pool)
                self.pool = self._new_pool(self.workers)

    def run_isolated(self, fn: Callable[..., Any], task: Any, *args: Any) -> Any:
        pool = self._new_pool(1)
        try:
            future = pool.submit(fn, task, *args)
            try:
                return future.result(timeout=self.timeout_s)
            except BrokenProcessPool:
                raise WorkerCrash("worker died") from None
            except TimeoutError:
                self._kill(pool)
                raise WorkerCrash(f"task ran over {self.timeout_s:g} s") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Ray tasks (one CPU each); a dead Ray worker surfaces as WorkerCrash.

    Connects to `address` (`auto` for a running cluster) or starts a local
    Ray when none is given. Workers write stage files under the build's
    output directory, which on a cluster must be shared storage (NFS, a
    mounted bucket) as for any Ray job writing files.
    """

    name = "ray"

    def __init__(self, workers: int | None, address: str | None = None, timeout_s: float = 900.0) -> None:
        self.ray = require("ray", "dist", "--executor ray")
        self.started = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif workers:
                kwargs["num_cpus"] = workers
            self.ray.init(**kwargs)
            self.started = True
        self.workers = workers or int(self.ray.cluster_resources().get("CPU", 1))
        self.timeout_s = timeout_s
        self._remote: dict[Callable[..., Any], Any] = {}

    def _as_remote(self, fn: Callable[..., Any]) -> Any:
        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(num_cpus=1, max_retries=0)(fn)
        return self._remote[fn]

    def _outcome(self, ref: Any) -> Any:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
                exceptions.OutOfMemoryError) as exc:
            return WorkerCrash(type(exc).__name__)
        except exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None

    def imap(self, fn: Callable[..., Any], tasks: Iterable[Any], *args: Any) -> Iterator[tuple[Any, Any]]:
        remote = self._as_remote(fn)
        shared = [self.ray.put(a) for a in args]
        pending = iter(tasks)
        in_flight: dict[Any, Any] = {}
        limit = self.workers * 2
        while True:
            for task in pending:
                in_flight[remote.remote(task, *shared)] = task
                if len(in_flight) >= limit:
                    break
            if not in_flight:
                return
            done, _ = self.ray.wait(list(in_flight), num_returns=1, timeout=self.timeout_s)
            if not done:
                for ref, task in list(in_flight.items()):
                    self.ray.cancel(ref, force=True)
                    yield task, WorkerCrash(f"no task finished in {self.timeout_s:g} s")
                in_flight.clear()
                continue
            for ref in done:
                yield in_flight.pop(ref), self._outcome(ref)

    def run_isolated(self, fn: Callable[..., Any], task: Any, *args: Any) -> Any:
        ref = self._as_remote(fn).remote(task, *args)
        done, _ = self.ray.wait([ref], timeout=self.timeout_s)
        if not done:
            self.ray.cancel(ref, force=True)
            raise WorkerCrash(f"task ran over {self.timeout_s:g} s")
        outcome = self._outcome(ref)
        if isinstance(outcome, WorkerCrash):
            raise outcome
        return outcome

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(kind: str, workers: int | None, timeout_s: float = 900.0, address: str | None = None) -> Any:
    """`process` (default; workers=0 runs inline), or `ray`."""
    if kind == "ray":
        return RayExecutor(workers, address, timeout_s)
    if kind != "process":
        raise ConfigError(f"--executor '{kind}' is unknown; use process or ray")
    count = (os.cpu_count() or 1) if workers is None else workers
    if count < 0:
        raise ConfigError(f"--workers {workers} must be >= 0 (0 runs in this process)")
    return InlineExecutor() if count == 0 else ProcessExecutor(count, timeout_s)
