"""One warm worker slot, seen from the host.

The host talks to the slot's zygote over a unix seqpacket socket. Per job it
sends a 20-byte header plus five fresh pipe ends (SCM_RIGHTS): the read end of
a *job pipe* carrying the program and, after it, the trusted part (tests,
nonce), the write end of a *result pipe*, and the program's stdin, stdout and
stderr. A spare process the zygote forked in advance takes them straight from
the socket, so job data never lives in the process every later job is forked
from, and a killed job can leave no stale bytes on a channel the next job uses.
The host drains stdout/stderr itself, keeping the first `max_output_bytes`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from codelm.eval.sandbox import _runtime as rt
from codelm.eval.sandbox.cgroups import CgroupGroup, CgroupSlot
from codelm.eval.sandbox.tiers import Launch, UidLease, build_launch, remove_tree

GRACE_S = 5.0  # extra wall clock the host grants the zygote before declaring it hung


class WorkerStartError(Exception):
    """A worker could not be started (reported as sandbox_error)."""


class _Spawner:
    """Starts every worker process from one long-lived thread.

    bubblewrap's --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread*
    that forked the sandbox exits, not the process; a worker started from a
    short-lived pool thread would be SIGKILLed moments later.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: collections.deque = collections.deque()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        box: dict = {}
        done = threading.Event()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="codelm-sandbox-spawner", daemon=True)
                self._thread.start()
            self._jobs.append((args, kwargs, box, done))
            self._wake.notify()
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["proc"]

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._jobs:
                    self._wake.wait()
                args, kwargs, box, done = self._jobs.popleft()
            try:
                box["proc"] = subprocess.Popen(*args, **kwargs)
            except BaseException as exc:
                box["error"] = exc
            done.set()


_spawner = _Spawner()


class Capture:
    """Keeps the first `cap` bytes and the last few KiB of a stream; counts the rest."""

    TAIL = 4096

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += data[:room]
        self.tail += data
        if len(self.tail) > self.TAIL:
            del self.tail[: len(self.tail) - self.TAIL]

    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head)


@dataclass
class RawOutcome:
    """What came back from one job, before interpretation."""

    done: dict | None  # the zygote's end-of-job report (exit status, rusage, timed_out)
    frames: list  # frames the job wrote on its result pipe
    stdout: Capture
    stderr: Capture
    oom_kills: int  # OOM kills in the slot's memory cgroup during the job
    worker_died: bool
    hung: bool
    log_tail: str
    early: bool = False  # returned on a final result frame, before the zygote's report


class Worker:
    """A zygote in its sandbox; `execute` runs one job. Not thread-safe (the pool
    hands each worker to one thread at a time)."""

    def __init__(self, slot: int, ctx) -> None:
        self.slot = slot
        self.ctx = ctx  # the pool's shared settings (tier, python, runtime dir, cgroups)
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.log_fd: int | None = None
        self.log = collections.deque(maxlen=64)
        self.lease: UidLease | None = None
        self.cgroup: CgroupSlot | None = None
        self.launch: Launch | None = None
        self.ready: dict = {}
        self.baseline_memory = 0
        self._memory_limit: int | None = None
        self._pids_limit: int | None = None
        self._job_ids = iter(range(1, 1 << 62))
        self.jobs_done = 0
        self.starts = 0
        # A job returned early (its result frame was final) still owes us the
        # zygote's end-of-job report; it is consumed at the start of the next job.
        self._pending: int | None = None
        self._pending_until = 0.0

    # ----- life cycle -----

    @property
    def uid(self) -> int | None:
        return self.lease.uid if self.lease else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.sock is not None

    def start(self) -> None:
        self.stop()
        self.starts += 1
        ctx = self.ctx
        if ctx.dedicated_uids and self.lease is None:
            self.lease = UidLease(ctx.cfg.uid_base)
        group: CgroupGroup | None = ctx.cgroups
        if group is not None and self.cgroup is None:
            self.cgroup = group.slot(self.slot)
        procs = self.cgroup.procs_files() if self.cgroup else []
        self.launch = build_launch(ctx.tier, ctx.runtime_dir, self.slot, self.uid, ctx.python,
                                   ctx.prefix, ctx.cfg, procs)
        if self.cgroup is not None:
            # Generous while the interpreter starts; tightened per job.
            self.cgroup.set_memory(max(ctx.cfg.limits.memory_mb, 256) << 21)
            self.cgroup.set_pids(max(ctx.cfg.limits.max_procs, 64) + 64)
            self._memory_limit = self._pids_limit = None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log_r, log_w = os.pipe()
        try:
            self.proc = _spawner.popen(
                self.launch.argv, stdin=child.fileno(), stdout=log_w, stderr=log_w,
                env=self.launch.env, start_new_session=True, close_fds=True, cwd="/",
            )
        except OSError as exc:
            parent.close()
            raise WorkerStartError(f"cannot start the {ctx.tier} worker: {exc}") from None
        finally:
            child.close()
            os.close(log_w)
        self.sock = parent
        self.log_fd = log_r
        os.set_blocking(log_r, False)
        parent.settimeout(ctx.cfg.start_timeout_s)
        try:
            msg = parent.recv(1 << 16)
        except (TimeoutError, OSError):
            msg = b""
        parent.settimeout(None)
        if not msg:
            self._drain_log()
            tail = self.log_tail()
            self.stop()
            raise WorkerStartError(f"the {ctx.tier} worker did not start: {tail or 'no output'}")
        self.ready = json.loads(msg)
        if self.cgroup is not None:
            self.baseline_memory = self.cgroup.memory_usage()

    def stop(self) -> None:
        """Kill the worker and everything in it (idempotent)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            if self.cgroup is not None:
                self.cgroup.kill_all()
            elif self.ctx.tier == "rlimit" and self.uid is not None:
                self._kill_uid()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            self.proc = None
        self._pending = None
        if self.log_fd is not None:
            self._drain_log()
            os.close(self.log_fd)
            self.log_fd = None

    def _kill_uid(self) -> None:
        """rlimit tier without cgroups: `kill(-1)` as the slot uid ends all its processes."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
                for _ in range(3):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def close(self) -> None:
        self.stop()
        if self.cgroup is not None:
            self.ctx.cgroups.release(self.cgroup)
            self.cgroup = None
        if self.launch is not None:
            for d in self.launch.host_dirs:
                remove_tree(Path(d))
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def _drain_log(self) -> None:
        if self.log_fd is None:
            return
        while True:
            try:
                data = os.read(self.log_fd, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            for line in data.decode(errors="replace").splitlines():
                self.log.append(line)

    def log_tail(self, n: int = 8) -> str:
        return " | ".join(list(self.log)[-n:])

    # ----- jobs -----

    def settle(self) -> None:
        """Wait for the report a job that returned early still owes (its cleanup is done then)."""
        if self._pending is None or self.sock is None:
            return
        self.sock.settimeout(max(0.1, self._pending_until - time.monotonic() + GRACE_S))
        try:
            while self._pending is not None:
                msg = self.sock.recv(1 << 16)
                if not msg:
                    break
                if json.loads(msg).get("job") == self._pending:
                    self._pending = None
        except (TimeoutError, OSError):
            pass
        finally:
            if self.sock is not None:
                self.sock.settimeout(None)
        if self._pending is not None:  # no report: the worker is not trustworthy any more
            self.stop()

    def set_limits(self, memory_bytes: int | None, pids: int | None) -> None:
        if self.cgroup is None:
            return
        if memory_bytes is not None and self._memory_limit is not None and memory_bytes < self._memory_limit:
            # Never shrink the memory cgroup under the previous job's still-exiting process:
            # its OOM kill would be counted against this job.
            self.settle()
            if not self.alive():
                return
        try:
            if memory_bytes is not None and memory_bytes != self._memory_limit:
                self.cgroup.set_memory(memory_bytes)
                self._memory_limit = memory_bytes
            if pids is not None and pids != self._pids_limit:
                self.cgroup.set_pids(pids)
                self._pids_limit = pids
        except OSError:
            # The kernel refused (e.g. EBUSY: usage above the new limit). A fresh
            # worker starts under the new limits; the caller restarts it.
            self.stop()

    def execute(self, program_frame: dict, trusted_frame: dict | None, wall: float,
                stdin: bytes | None = None, output_cap: int = 1 << 20, final=None) -> RawOutcome:
        """Run one job: send its descriptors, feed stdin, drain output, collect reports.

        `final(frame)` may declare a result frame final; the job then returns at
        once and the zygote's cleanup overlaps the caller's next request.
        """
        job_id = next(self._job_ids)
        oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        out, err = Capture(output_cap), Capture(output_cap)
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if stdin is None:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY), None
        else:
            in_r, in_w = os.pipe()
        payload = rt.pack_frame(program_frame)
        if trusted_frame is not None:
            payload += rt.pack_frame(trusted_frame)
        try:
            socket.send_fds(self.sock, [rt.HEADER.pack(rt.MAGIC, job_id, wall)],
                            [job_r, res_w, in_r, out_w, err_w])
            sent = True
        except OSError:
            sent = False
        for fd in (job_r, res_w, in_r, out_w, err_w):
            os.close(fd)
        if not sent:
            for fd in (job_w, res_r, out_r, err_r, in_w):
                if fd is not None:
                    os.close(fd)
            self.stop()
            return RawOutcome(None, [], out, err, 0, True, False, self.log_tail())
        writers = {job_w: memoryview(payload)}
        if in_w is not None:
            writers[in_w] = memoryview(stdin)
        readers = {res_r: None, out_r: out, err_r: err}
        frames = rt.FrameReader()
        results: list = []
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "done")
        for fd in readers:
            sel.register(fd, selectors.EVENT_READ, "read")
        for fd, data in writers.items():
            os.set_blocking(fd, False)
            if data:
                sel.register(fd, selectors.EVENT_WRITE, "write")
        for fd in list(writers):
            if not writers[fd]:
                os.close(fd)
                del writers[fd]
        if self.log_fd is not None:
            sel.register(self.log_fd, selectors.EVENT_READ, "log")
        done = None
        died = hung = early = False
        now = time.monotonic()
        # The zygote starts this job only after finishing the previous one.
        deadline = max(now, self._pending_until if self._pending else now) + wall + GRACE_S
        try:
            while done is None or readers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    hung = done is None
                    break
                for key, _ev in sel.select(remaining):
                    fd, tag = key.fd, key.data
                    if tag == "write":
                        view = writers[fd]
                        try:
                            n = os.write(fd, view[: 1 << 16])
                            view = writers[fd] = view[n:]
                        except BlockingIOError:
                            continue
                        except OSError:  # the reader is gone; the rest is not needed
                            view = writers[fd] = view[:0]
                        if not view:
                            sel.unregister(fd)
                            os.close(fd)
                            del writers[fd]
                    elif tag == "read":
                        try:
                            data = os.read(fd, 1 << 16)
                        except BlockingIOError:
                            continue
                        if not data:
                            sel.unregister(fd)
                            os.close(fd)
                            del readers[fd]
                            continue
                        if readers[fd] is None:
                            frames.feed(data)
                            try:
                                while (frame := frames.pop()) is not None and len(results) < 10_000:
                                    results.append(frame)
                                    if final is not None and isinstance(frame, dict) and final(frame):
                                        early = True
                            except (rt.ProtocolError, ValueError):
                                frames = rt.FrameReader()  # garbage from the program: ignore the rest
                                readers[fd] = False
                            if early:
                                break
                        elif readers[fd] is not False:
                            readers[fd].feed(data)
                    elif tag == "done":
                        try:
                            msg = self.sock.recv(1 << 16)
                        except OSError:
                            msg = b""
                        if not msg:
                            sel.unregister(self.sock)
                            died = True
                            done = {}
                            deadline = min(deadline, time.monotonic() + 2.0)
                            continue
                        report = json.loads(msg)
                        if self._pending is not None and report.get("job") == self._pending:
                            self._pending = None  # the previous job's report, owed since it returned early
                            continue
                        sel.unregister(self.sock)
                        done = report
                        if done.get("job") != job_id:
                            died = True  # a desynchronised zygote is restarted
                        # Every process of the job is dead: the pipes reach EOF at once.
                        deadline = min(deadline, time.monotonic() + 2.0)
                    elif tag == "log":
                        self._drain_log()
                if early:
                    break
        finally:
            sel.close()
            if early:
                # Output the job wrote before its final frame is already in the pipes.
                for fd, cap in readers.items():
                    if isinstance(cap, Capture):
                        with contextlib.suppress(OSError):
                            while data := os.read(fd, 1 << 16):
                                cap.feed(data)
            for fd in (*writers, *readers):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if early and done is None:
            self._pending = job_id
            self._pending_until = time.monotonic() + wall + 1.0
        elif hung or died or not self.alive():
            self._drain_log()
            self.stop()
            died = True
        oom = (self.cgroup.oom_kills() - oom_before) if self.cgroup else 0
        self.jobs_done += 1
        return RawOutcome(done if done else None, [f for f in results if isinstance(f, dict)],
                          out, err, oom, died, hung, self.log_tail(), early)


class WorkerPool:
    """Hands workers to threads; restarts any worker that ended abnormally."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._free: collections.deque[Worker] = collections.deque(workers)
        self._cond = threading.Condition()
        self.closed = False

    def acquire(self) -> Worker:
        with self._cond:
            while not self._free:
                if self.closed:
                    raise RuntimeError("the sandbox is closed")
                self._cond.wait()
            if self.closed:
                raise RuntimeError("the sandbox is closed")
            return self._free.popleft()

    def release(self, worker: Worker) -> None:
        with self._cond:
            self._free.append(worker)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        for w in self.workers:
            w.close()
