"""Dynamic batching for the server: one thread drives the `Engine`, requests come and go.

HTTP handlers run on the asyncio loop; the model runs on one scheduler
thread (torch releases the GIL inside its kernels, so the loop stays
responsive). Between two decode steps the thread

1. drops rows whose client went away (`Job.cancel()`) or whose time is up,
2. admits waiting jobs while the batch has room (`max_batch_size` rows),
   prefilling them and appending them to the running batch,
3. runs one step for every row and posts each row's new text to its job's
   asyncio queue (`loop.call_soon_threadsafe`).

So a request that arrives while others are mid-generation starts at the
next step instead of waiting for the batch to drain (continuous,
step-level batching). The waiting line is bounded (`max_queue`): beyond
it `submit()` raises `QueueFull` and the handler answers 503 with
`Retry-After`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from codelm.inference.engine import Completion, Engine, Request, Row

log = logging.getLogger("codelm.serve")


class QueueFull(Exception):
    """The waiting line is full; the client should retry later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("server busy")
        self.retry_after = retry_after


@dataclass
class Event:
    """What a job's handler receives: new text of one choice, its end, or a failure."""

    kind: str  # "delta" | "done" | "error"
    index: int = 0  # choice index: prompt_i * n + sample_j
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[dict[int, float]] = field(default_factory=list)
    completion: Completion | None = None
    message: str = ""
    status: int = 500  # for "error": the HTTP status a non-streaming answer gets


_ids = itertools.count()


class Job:
    """One HTTP request: one or more prompts, `n` choices each, and an asyncio queue of events."""

    def __init__(
        self, requests: list[Request], loop: asyncio.AbstractEventLoop, timeout_s: float
    ) -> None:
        self.id = next(_ids)
        self.requests = requests
        self.loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.created = time.monotonic()
        self.deadline = self.created + timeout_s
        self.cancelled = (
            False  # set from the loop thread; read by the scheduler thread (a bool write is atomic)
        )
        self.started: float | None = None
        for i, req in enumerate(requests):
            req.key = (self, i)
            req.deadline = self.deadline

    @property
    def rows(self) -> int:
        return sum(r.config.n for r in self.requests)

    def cancel(self) -> None:
        self.cancelled = True

    def post(self, event: Event) -> None:
        """Hand an event to the handler's loop (called from the scheduler thread)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: the server is shutting down
            self.cancelled = True


def report(row: Row, piece: str) -> None:
    """Post a row's new text (with the tokens since the last post) and, if it ended, its completion."""
    job, prompt_index = row.req.key
    if job.cancelled:
        return
    index = prompt_index * row.req.config.n + row.sample
    if piece or row.finished:
        new = slice(row.sent, len(row.tokens))
        job.post(
            Event(
                "delta",
                index=index,
                text=piece,
                token_ids=row.tokens[new],
                logprobs=row.logprobs[new] if row.want_logprobs else [],
                top_logprobs=row.top_logprobs[new] if row.want_logprobs else [],
            )
        )
        row.sent = len(row.tokens)
    if row.finished:
        job.post(Event("done", index=index, completion=row.completion()))


class Scheduler:
    """Owns an `Engine` and the thread that drives it."""

    def __init__(self, engine: Engine, max_batch_size: int, max_queue: int) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self._waiting: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="codelm-scheduler", daemon=True)
        self.stats = {
            "jobs": 0,
            "cancelled_rows": 0,
            "timed_out_rows": 0,
            "errors": 0,
            "max_rows": 0,
        }
        # OpenMP thread counts are per calling thread: carry the loader's setting over to ours
        self.threads = torch.get_num_threads()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running_rows(self) -> int:
        return self.engine.size

    def submit(self, job: Job) -> None:
        """Queue a job; raises QueueFull when `max_queue` jobs are already waiting."""
        with self._cv:
            if len(self._waiting) >= self.max_queue:
                raise QueueFull(
                    retry_after=max(1, len(self._waiting) // max(1, self.max_batch_size))
                )
            self._waiting.append(job)
            self.stats["jobs"] += 1
            self._cv.notify()

    # ----- the scheduler thread -----------------------------------------

    def _admit(self) -> list[Job]:
        """Jobs that fit in the batch now (a job larger than the batch runs alone)."""
        admitted: list[Job] = []
        room = self.max_batch_size - self.engine.size
        now = time.monotonic()
        while self._waiting:
            job = self._waiting[0]
            if job.cancelled:
                self._waiting.popleft()
                continue
            if now >= job.deadline:
                self._waiting.popleft()
                job.post(
                    Event(
                        "error",
                        message="request timed out waiting for a free slot; retry later",
                        status=503,
                    )
                )
                continue
            if job.rows > room and (admitted or self.engine.size):
                break
            self._waiting.popleft()
            room -= job.rows
            admitted.append(job)
        return admitted

    def _run(self) -> None:
        torch.set_num_threads(self.threads)
        while True:
            with self._cv:
                while not self._stop and not self._waiting and self.engine.size == 0:
                    self._cv.wait(timeout=1.0)
                if self._stop:
                    self._shutdown()
                    return
                admitted = self._admit()
            try:
                self._iteration(admitted)
            except Exception:  # a bug or an out-of-memory: fail the affected jobs, keep serving
                log.exception("generation step failed")
                self.stats["errors"] += 1
                self._fail_all(admitted)

    def _iteration(self, admitted: list[Job]) -> None:
        engine = self.engine
        gone = engine.remove(lambda r: r.req.key[0].cancelled, reason="cancelled")
        self.stats["cancelled_rows"] += len(gone)
        now = time.monotonic()
        events = engine.remove(lambda r: now >= r.req.key[0].deadline, reason="length")
        self.stats["timed_out_rows"] += len(events)
        for job in admitted:
            job.started = now
        new_rows = engine.add([req for job in admitted for req in job.requests])
        events += [(row, "") for row in new_rows if row.finished]
        self.stats["max_rows"] = max(self.stats["max_rows"], engine.size)
        events += engine.step()
        for row, piece in events:
            self._report(row, piece)

    def _report(self, row: Row, piece: str) -> None:
        report(row, piece)

    def _shutdown(self) -> None:
        """Answer every waiting and running job so no handler waits on a stopped engine."""
        jobs = list(self._waiting)
        self._waiting.clear()
        for job in jobs:
            job.post(Event("error", message="server is shutting down", status=503))
        self._fail_all([], message="server is shutting down", status=503)

    def _fail_all(
        self,
        admitted: list[Job],
        message: str = "internal error during generation",
        status: int = 500,
    ) -> None:
        jobs = {id(j): j for j in admitted}
        for row in self.engine.rows:
            job = row.req.key[0]
            jobs[id(job)] = job
        for job in jobs.values():
            job.post(Event("error", message=message, status=status))
        self.engine.remove(lambda r: True, reason="length")


class SequentialScheduler:
    """One request at a time, for models decoded as a whole (diffusion encoders).

    Iterative unmasking rewrites the whole span every round, so there is no
    per-token step to interleave requests at; jobs run in arrival order and
    each choice arrives as one piece.
    """

    def __init__(self, generator: Any, max_queue: int) -> None:
        self.generator = generator
        self.max_queue = max_queue
        self.max_batch_size = 1
        self._waiting: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._busy = 0
        self.threads = torch.get_num_threads()
        self._thread = threading.Thread(target=self._run, name="codelm-scheduler", daemon=True)
        self.stats = {
            "jobs": 0,
            "cancelled_rows": 0,
            "timed_out_rows": 0,
            "errors": 0,
            "max_rows": 0,
        }

    start = Scheduler.start
    stop = Scheduler.stop
    submit = Scheduler.submit

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running_rows(self) -> int:
        return self._busy

    def _run(self) -> None:
        torch.set_num_threads(self.threads)
        while True:
            with self._cv:
                while not self._stop and not self._waiting:
                    self._cv.wait(timeout=1.0)
                if self._stop:
                    for waiting in self._waiting:
                        waiting.post(Event("error", message="server is shutting down", status=503))
                    self._waiting.clear()
                    return
                job = self._waiting.popleft()
            if job.cancelled:
                continue
            self._busy = job.rows
            try:
                for i, req in enumerate(job.requests):
                    if job.cancelled:
                        break
                    for j, c in enumerate(self.generator.generate_requests([req])[0]):
                        index = i * req.config.n + j
                        job.post(Event("delta", index=index, text=c.text, token_ids=c.token_ids))
                        job.post(Event("done", index=index, completion=c))
            except Exception:
                log.exception("generation failed")
                self.stats["errors"] += 1
                job.post(Event("error", message="internal error during generation"))
            finally:
                self._busy = 0
