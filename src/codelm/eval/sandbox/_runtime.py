"""The code that runs *inside* the sandbox: zygote, job process, tester.

This file is executed by the sandbox's own interpreter (`python -I runtime.py
OPTS`), so it imports only the standard library and nothing from codelm. The
host also imports it for the value codec (`encode_value`/`decode_value`) so
both ends of every boundary share one definition.

Process layout of one worker slot (bubblewrap tier)::

    host thread ──unix seqpacket──► zygote (pid 1 of the sandbox's pid namespace)
                                       │ forks a spare before each job; never reads job data
                                       ▼
                                    job process: takes the job's five pipe ends straight
                                       │         from the host (job, results, stdin, stdout, stderr)
                                       ├─ python run / direct grading: becomes the program itself
                                       ├─ exec languages: compiles, then fork+exec of the program
                                       └─ split grading: forks the program, then becomes the tester

Why a zygote that never touches job data: every job process is forked from
it, so anything in its memory would be visible to every later program. It
only learns a job number and a wall-clock budget.

Why pid 1: signals with default disposition sent from inside a pid namespace
never reach its init, so `kill(-1)`, `kill(getppid())` and SIGSTOP cannot hurt
the zygote, and `kill(-1, SIGKILL)` issued by it ends every other process of
the job: daemons, setsid escapees and fork bombs included.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import struct
import sys
import time

# ---------------------------------------------------------------------------
# Framing: 4-byte big-endian length + UTF-8 JSON. Used on every pipe.
# ---------------------------------------------------------------------------

FRAME_MAX = 64 << 20  # a frame bigger than this is a protocol error, never a crash
HEADER = struct.Struct("!4sQd")  # magic, job id, wall-clock seconds for the whole job
JOB_FDS = 5  # job pipe, result pipe, stdin, stdout, stderr
MAGIC = b"JOB1"


class ProtocolError(Exception):
    """A peer sent bytes that are not a well-formed frame."""


def pack_frame(obj) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode()
    return struct.pack("!I", len(data)) + data


def read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        try:
            chunk = os.read(fd, min(n, 1 << 20))
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    """Blocking read of one frame; None on clean EOF before the frame starts."""
    head = read_exact(fd, 4)
    if not head:
        return None
    if len(head) < 4:
        raise ProtocolError("truncated frame header")
    (size,) = struct.unpack("!I", head)
    if size > FRAME_MAX:
        raise ProtocolError(f"frame of {size} bytes exceeds the limit")
    body = read_exact(fd, size)
    if len(body) < size:
        raise ProtocolError("truncated frame")
    return json.loads(body)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


class FrameReader:
    """Incremental frame parser for non-blocking reads."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def pop(self):
        if len(self.buf) < 4:
            return None
        (size,) = struct.unpack("!I", self.buf[:4])
        if size > FRAME_MAX:
            raise ProtocolError(f"frame of {size} bytes exceeds the limit")
        if len(self.buf) < 4 + size:
            return None
        body = bytes(self.buf[4 : 4 + size])
        del self.buf[: 4 + size]
        return json.loads(body)


# ---------------------------------------------------------------------------
# Strictly typed value codec. Only plain builtin data crosses a boundary, so an
# object whose __eq__ always says True cannot: at most its plain value does.
# ---------------------------------------------------------------------------

MAX_DEPTH = 100
MAX_NODES = 2_000_000


class Unsupported(Exception):
    """A value that is not plain data (and no handle table was offered)."""


def encode_value(value, handles=None):
    """Encode `value` as tagged JSON; subclasses of builtins become their base value.

    Subclasses are converted with the *base type's* slots (`int.__int__`,
    `str.__str__`, `list.__iter__` ...), so overriding methods changes nothing
    about what crosses. `handles` (a callable) turns other objects into opaque
    references; without it they raise `Unsupported`.
    """
    count = [0]
    active: set[int] = set()

    def enc(v, depth):
        count[0] += 1
        if count[0] > MAX_NODES or depth > MAX_DEPTH:
            raise Unsupported("value too large or too deeply nested")
        t = type(v)
        if v is None:
            return ["n"]
        if t is bool:
            return ["b", v]
        if t is int:
            return ["i", format(v, "x")]
        if t is float:
            return ["f", v.hex()]
        if t is str:
            return ["s", v]
        if t is bytes:
            return ["y", v.hex()]
        if t is complex:
            return ["c", v.real.hex(), v.imag.hex()]
        if t in (list, tuple, set, frozenset, dict, bytearray):
            base = t
        elif isinstance(v, bool):  # unreachable: bool cannot be subclassed
            return ["b", bool.__bool__(v)]
        elif isinstance(v, int):
            return ["i", format(int.__int__(v), "x")]
        elif isinstance(v, float):
            return ["f", float.__float__(v).hex()]
        elif isinstance(v, str):
            return ["s", str.__str__(v)]
        elif isinstance(v, bytes):
            return ["y", bytes.hex(v)]
        elif isinstance(v, bytearray):
            base = bytearray
        elif isinstance(v, complex):
            c = complex.__complex__(v)
            return ["c", c.real.hex(), c.imag.hex()]
        elif isinstance(v, dict):
            base = dict
        elif isinstance(v, list):
            base = list
        elif isinstance(v, tuple):
            base = tuple
        elif isinstance(v, frozenset):
            base = frozenset
        elif isinstance(v, set):
            base = set
        else:
            if handles is None:
                raise Unsupported(f"a {t.__name__} object is not plain data")
            return handles(v)
        if base is bytearray:
            return ["Y", bytearray.hex(v)]
        key = id(v)
        if key in active:
            raise Unsupported("a self-referencing container is not plain data")
        active.add(key)
        try:
            if base is dict:
                return ["d", [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in dict.items(v)]]
            tag = {list: "l", tuple: "t", set: "S", frozenset: "F"}[base]
            return [tag, [enc(x, depth + 1) for x in base.__iter__(v)]]
        finally:
            active.discard(key)

    return enc(value, 0)


_HEX = set("0123456789abcdef")


def decode_value(data, resolve=None):
    """Rebuild a value from `encode_value` output, validating every node.

    Raises ProtocolError on anything malformed. `resolve(ref_id, type_name)`
    turns a reference into an object; without it references are an error.
    """
    count = [0]

    def bad(why):
        raise ProtocolError(f"malformed value: {why}")

    def dec(d, depth):
        count[0] += 1
        if count[0] > MAX_NODES or depth > MAX_DEPTH:
            bad("too large or too deep")
        if type(d) is not list or not d or type(d[0]) is not str:
            bad("node is not a tagged list")
        tag = d[0]
        n = len(d)
        if tag == "n" and n == 1:
            return None
        if tag == "b" and n == 2 and type(d[1]) is bool:
            return d[1]
        if tag == "i" and n == 2 and type(d[1]) is str:
            digits = d[1][1:] if d[1].startswith("-") else d[1]
            if not digits or not set(digits) <= _HEX:
                bad("int")
            return int(d[1], 16)
        if tag == "f" and n == 2 and type(d[1]) is str:
            try:
                return float.fromhex(d[1])
            except ValueError:
                bad("float")
        if tag == "s" and n == 2 and type(d[1]) is str:
            return d[1]
        if tag in ("y", "Y") and n == 2 and type(d[1]) is str:
            try:
                raw = bytes.fromhex(d[1])
            except ValueError:
                bad("bytes")
            return raw if tag == "y" else bytearray(raw)
        if tag == "c" and n == 3 and type(d[1]) is str and type(d[2]) is str:
            try:
                return complex(float.fromhex(d[1]), float.fromhex(d[2]))
            except ValueError:
                bad("complex")
        if tag in ("l", "t", "S", "F") and n == 2 and type(d[1]) is list:
            items = [dec(x, depth + 1) for x in d[1]]
            try:
                return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
            except TypeError:
                bad("unhashable set element")
        if tag == "d" and n == 2 and type(d[1]) is list:
            out = {}
            for pair in d[1]:
                if type(pair) is not list or len(pair) != 2:
                    bad("dict item")
                try:
                    out[dec(pair[0], depth + 1)] = dec(pair[1], depth + 1)
                except TypeError:
                    bad("unhashable dict key")
            return out
        if tag == "R" and n == 3 and type(d[1]) is int and type(d[2]) is str:
            if resolve is None:
                bad("reference where plain data was required")
            return resolve(d[1], d[2])
        bad(f"unknown tag {tag!r}")

    return dec(data, 0)


# ---------------------------------------------------------------------------
# Small libc helpers (prctl, mount) through ctypes.
# ---------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def prctl(option: int, arg: int) -> None:
    if libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


# ---------------------------------------------------------------------------
# Killing and reaping.
# ---------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (needs /proc/PID/task/*/children, Linux >= 4.2)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return out


# Exit statuses of children reaped by `waitpid(-1)` while killing a job, kept so
# the code that waits for one specific child still learns how it ended.
REAPED: dict[int, tuple[int, object]] = {}


def reap_nohang() -> None:
    while True:
        try:
            pid, status, rusage = os.wait3(os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        REAPED[pid] = (status, rusage)


def wait_child(pid: int, block: bool):
    """(status, rusage) of child `pid`, or None if it still runs (non-blocking)."""
    if pid in REAPED:
        return REAPED.pop(pid)
    try:
        got, status, rusage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return REAPED.pop(pid, (0, None))
    if got == 0:
        return None
    return status, rusage


def kill_all(pidns: bool, limit_s: float = 5.0) -> None:
    """Kill every process of the job except ourselves, and reap them.

    With a private pid namespace `kill(-1)` reaches exactly the job's
    processes. Without one we are a child subreaper: every orphan of the job
    becomes our child, so killing our children until none are left ends the
    whole tree (a fork bomb is bounded by the process limit).
    """
    me = os.getpid()
    end = time.monotonic() + limit_s
    while True:
        if pidns:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(-1, signal.SIGKILL)
        for child in children_of(me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        reap_nohang()
        if not children_of(me):
            return
        if time.monotonic() > end:
            return
        time.sleep(0.001)


def wipe_dir(path: str) -> None:
    """Remove everything inside `path` (fixing permissions a program removed)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.chmod(entry.path, 0o700)
                wipe_dir(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def remove_sysv_ipc() -> None:
    """Drop SysV shm/msg/sem objects a job left in the private IPC namespace."""
    ipc_rmid = 0
    for name, fn in (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl")):
        try:
            with open(f"/proc/sysvipc/{name}") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 2:
                continue
            ident = int(fields[1])
            if fn == "semctl":
                getattr(libc(), fn)(ident, 0, ipc_rmid)
            else:
                getattr(libc(), fn)(ident, ipc_rmid, None)


# ---------------------------------------------------------------------------
# Limits and the untrusted child's first steps.
# ---------------------------------------------------------------------------


def vm_size_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def set_limits(lim: dict, as_bytes: int | None) -> None:
    import resource

    def cap(which, value):
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(lim["cpu_s"])
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    # SIGXCPU at the soft limit, SIGKILL one second later (if SIGXCPU is ignored).
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1 if hard == resource.RLIM_INFINITY else min(cpu + 1, hard)))
    cap(resource.RLIMIT_FSIZE, int(lim["max_file_bytes"]))
    cap(resource.RLIMIT_NOFILE, int(lim["max_files"]))
    cap(resource.RLIMIT_NPROC, int(lim["nproc"]))
    cap(resource.RLIMIT_MSGQUEUE, 1 << 16)
    if as_bytes:
        cap(resource.RLIMIT_AS, int(as_bytes))


def become_child(fds: tuple[int, int, int], keep: tuple[int, ...], workdir: str) -> tuple[int, ...]:
    """First steps of the untrusted process: own fds only, own group, back to dumpable.

    `fds` become 0/1/2; `keep` are moved to 3, 4, ... and returned. Every other
    descriptor (the job pipe with the tests, the result pipe, the control
    socket) is closed before any untrusted code runs.
    """
    import fcntl

    os.setpgid(0, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The zygote and supervisor are non-dumpable so the program cannot ptrace
    # them or open their /proc/PID/fd and /proc/PID/mem; the program itself
    # gets normal /proc/self semantics back.
    prctl(PR_SET_DUMPABLE, 1)
    moved = []
    # Stage copies above every target number first, so no dup2 clobbers a source.
    staged = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for fd in (*fds, *keep)]
    for i, fd in enumerate(staged):
        os.dup2(fd, i, inheritable=i < 3)
        if i >= 3:
            os.set_inheritable(i, False)
            moved.append(i)
    os.closerange(3 + len(keep), 65536)
    os.umask(0o022)
    os.chdir(workdir)
    return tuple(moved)


def classify_signal(sig: int, cpu: float, lim: dict) -> str:
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= float(lim["cpu_s"]) - 0.05):
        return "timeout"
    return "killed"


# ---------------------------------------------------------------------------
# Waiting with a deadline.
# ---------------------------------------------------------------------------


def pidfd_for(pid: int):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def wait_deadline(pid: int, deadline: float, on_timeout) -> tuple[int, object, bool]:
    """Wait for child `pid` until `deadline`; then call `on_timeout()` (which kills) and reap.

    Returns (wait status, rusage, timed_out). Orphans reaped meanwhile are
    kept in REAPED, so a subreaper or pid 1 can call this safely.
    """
    pidfd = pidfd_for(pid)
    poller = select.poll()
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            got = wait_child(pid, block=False)
            if got is not None:
                return got[0], got[1], False
            reap_nohang()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                on_timeout()
                status, rusage = wait_child(pid, block=True)
                return status, rusage, True
            poller.poll(min(remaining, 0.05 if pidfd is not None else 0.002) * 1000)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def usage(status: int, rusage, timed_out: bool) -> dict:
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "cpu_s": round(cpu, 4),
        "maxrss_kb": rusage.ru_maxrss if rusage is not None else 0,
    }


# ---------------------------------------------------------------------------
# Jobs. The zygote's child gets five descriptors from the host: the job pipe
# (read), the result pipe (write), and the program's stdin, stdout and stderr.
# The host drains stdout/stderr itself (capped, never blocking the program).
# ---------------------------------------------------------------------------


class Job:
    def __init__(self, opts: dict, fds: list[int]) -> None:
        self.opts = opts
        self.job_fd, self.res_fd, self.in_fd, self.out_fd, self.err_fd = fds
        self.pidns = bool(opts["pidns"])
        self.workdir = opts["workdir"]

    def kill(self) -> None:
        kill_all(self.pidns, limit_s=2.0)

    def report(self, result: dict) -> None:
        write_all(self.res_fd, pack_frame(result))


def as_bytes_for(lim: dict) -> int | None:
    """Address-space limit of a forked python child: its baseline plus the budget."""
    if lim["memory_mode"] != "rlimit":
        return None
    return vm_size_bytes() + int(lim["memory_mb"]) * (1 << 20)


def _prepare_program(program: str, workdir: str) -> str:
    import random

    random.seed()  # forked children must not share the zygote's random state
    path = os.path.join(workdir, "main.py")
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(program)
    sys.argv = [path]
    sys.path.insert(0, workdir)
    return path


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def direct_main(program: str, entry: str, calls: list, workdir: str, out_fd: int) -> None:
    """Direct grading: load the program, call `entry` on each literal argument list,
    stream each encoded result. The expected values are not here: the host has them."""
    import traceback

    path = _prepare_program(program, workdir)
    ns = {"__name__": "__candidate__", "__file__": path, "__builtins__": __builtins__}

    def send(obj):
        write_all(out_fd, pack_frame(obj))

    def opaque(obj):
        return ["R", 0, type(obj).__name__]

    try:
        compiled = compile(program, path, "exec")
    except (SyntaxError, ValueError) as exc:
        traceback.print_exception(exc, limit=0)
        send({"load": "syntax", "type": type(exc).__name__, "detail": str(exc)[:500]})
        _flush_and_exit(1)
    try:
        exec(compiled, ns)
    except SystemExit as exc:
        send({"load": "exit", "detail": f"the program raised SystemExit({exc.code!r}) while loading"})
        _flush_and_exit(1)
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        send({"load": "error", "type": type(exc).__name__, "detail": str(exc)[:500]})
        _flush_and_exit(1)
    send({"load": "ok"})
    fn = ns.get(entry)
    if fn is None:
        send({"i": 0, "exc": "NameError", "msg": f"name '{entry}' is not defined"})
        _flush_and_exit(1)
    for i, (args, kwargs) in enumerate(calls):
        try:
            value = fn(*decode_value(args), **decode_value(kwargs))
        except BaseException as exc:  # the program's exception: only its type travels
            send({"i": i, "exc": type(exc).__name__, "msg": str(exc)[:500]})
            _flush_and_exit(1)
        try:
            row = {"i": i, "value": encode_value(value, opaque)}
        except BaseException as exc:
            row = {"i": i, "exc": "TypeError", "msg": f"cannot return the value: {exc}"[:500]}
        send(row)
    for stream in (sys.stdout, sys.stderr):  # the host stops reading at "end"
        with contextlib.suppress(BaseException):
            stream.flush()
    send({"end": True})
    _flush_and_exit(0)


def exec_wait(job: Job, argv: list, env: dict, lim: dict, stdin_fd: int, deadline: float) -> dict:
    """Fork + exec one command (a compiler or a program) with the job's stdout/stderr."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            (errfd,) = become_child((stdin_fd, job.out_fd, job.err_fd), (err_w,), job.workdir)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            as_mb = lim.get("as_mb")
            set_limits(lim, as_mb * (1 << 20) if as_mb else None)
            os.execve(argv[0], argv, env)
        except BaseException as exc:
            try:
                os.write(errfd, f"{type(exc).__name__}: {exc}".encode())
            finally:
                os._exit(127)
    os.close(err_w)
    status, rusage, timed_out = wait_deadline(pid, deadline, job.kill)
    job.kill()  # what the command left running ends with it
    exec_error = os.read(err_r, 4096).decode(errors="replace")
    os.close(err_r)
    return {**usage(status, rusage, timed_out), "exec_error": exec_error or None}


def run_exec(job: Job, spec: dict) -> None:
    """Other languages: write sources, compile (if needed), run; same limits."""
    lim = spec["limits"]
    started = time.monotonic()
    for name, text in spec["files"].items():
        with open(os.path.join(job.workdir, name), "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
    env = spec["env"]
    if spec.get("compile"):
        devnull = os.open(os.devnull, os.O_RDONLY)
        clim = dict(lim, cpu_s=int(lim["compile_timeout_s"]) + 1, as_mb=None)
        comp = exec_wait(job, spec["compile"], env, clim, devnull, started + lim["compile_timeout_s"])
        os.close(devnull)
        if comp["exec_error"]:
            job.report({**comp, "status": "sandbox_error", "phase": "compile",
                        "detail": f"cannot start {spec['compile'][0]}: {comp['exec_error']}"})
            return
        if comp["timed_out"] or comp["exit_code"] != 0:
            if comp["timed_out"]:
                status = "timeout"
            elif comp["exit_code"]:
                status = "syntax"
            else:
                status = classify_signal(comp["signal"], comp["cpu_s"], clim)
            job.report({**comp, "status": status, "phase": "compile", "detail": "compilation failed"})
            return
    res = exec_wait(job, spec["run"], env, lim, job.in_fd, time.monotonic() + lim["timeout_s"])
    if res["exec_error"]:
        status = "sandbox_error"
    elif res["timed_out"]:
        status = "timeout"
    elif res["signal"] is not None:
        status = classify_signal(res["signal"], res["cpu_s"], lim)
    else:
        status = "passed" if res["exit_code"] == 0 else "failed"
    job.report({**res, "status": status, "phase": "run",
                "detail": f"cannot start the program: {res['exec_error']}" if res["exec_error"] else None})


# ----- Python programs and grading -----


def python_child_main(program: str, workdir: str, ctl_fd: int) -> None:
    """Run `program` as `__main__` in this forked interpreter, like `python main.py`."""
    import atexit
    import traceback
    import types

    path = _prepare_program(program, workdir)
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    report = {"kind": "exit", "code": 0}
    code = 0
    try:
        compiled = compile(program, path, "exec")
    except (SyntaxError, ValueError) as exc:
        traceback.print_exception(exc, limit=0)
        report, code = {"kind": "syntax", "type": type(exc).__name__}, 1
    else:
        try:
            exec(compiled, module.__dict__)
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code & 0xFF
            else:
                print(exc.code, file=sys.stderr)
                code = 1
            report = {"kind": "exit", "code": code}
        except BaseException as exc:  # the program's own exception: report its type
            # Skip our own frame so the traceback looks like `python main.py`'s.
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
            report, code = {"kind": "exception", "type": type(exc).__name__}, 1
    # Interpreter shutdown as `python main.py` does it: join threads, run atexit.
    with contextlib.suppress(BaseException):
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        atexit._run_exitfuncs()
    with contextlib.suppress(OSError):
        write_all(ctl_fd, pack_frame(report))
    _flush_and_exit(code)

class CandidateGone(Exception):
    """The program process timed out, exited or broke the protocol during the tests."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "timeout" | "exited" | "protocol"


class UntrustedComparison(AssertionError):
    """The test compared, hashed or tested the truth of an object of the program's."""


def grade_child_main(program: str, workdir: str, req_fd: int, resp_fd: int) -> None:
    """The candidate process: load the program, then answer call requests.

    Everything it sends back is encoded data; objects that are not plain data
    stay here behind numbered handles the tester can only pass back, call,
    index, iterate or read attributes of.
    """
    import traceback

    path = _prepare_program(program, workdir)
    ns = {"__name__": "__candidate__", "__file__": path, "__builtins__": __builtins__}
    table: dict[int, object] = {}

    def handle(obj):
        table[len(table) + 1] = obj
        return ["R", len(table), type(obj).__name__]

    def resolve(ref, _name):
        if ref not in table:
            raise ProtocolError("unknown handle")
        return table[ref]

    def send(obj):
        write_all(resp_fd, pack_frame(obj))

    try:
        compiled = compile(program, path, "exec")
    except (SyntaxError, ValueError) as exc:
        traceback.print_exception(exc, limit=0)
        send({"load": "syntax", "type": type(exc).__name__, "detail": str(exc)[:500]})
        os._exit(1)
    try:
        exec(compiled, ns)
    except SystemExit as exc:
        send({"load": "exit", "detail": f"the program raised SystemExit({exc.code!r}) while loading"})
        os._exit(1)
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        send({"load": "error", "type": type(exc).__name__, "detail": str(exc)[:500]})
        os._exit(1)
    send({"load": "ok"})
    mutable = (list, dict, set, bytearray)
    while True:
        try:
            req = read_frame(req_fd)
        except (ProtocolError, ValueError, OSError):
            os._exit(3)
        if req is None:
            _flush_and_exit(0)
        seq = req.get("seq")
        try:
            op = req["op"]
            if op == "call":
                target = req["target"]
                if isinstance(target, str):
                    if target not in ns:
                        raise NameError(f"name '{target}' is not defined")
                    fn = ns[target]
                else:
                    fn = resolve(target, None)
                args = decode_value(req["args"], resolve)
                kwargs = decode_value(req["kwargs"], resolve)
                value = fn(*args, **kwargs)
            else:
                obj = resolve(req["target"], None)
                if op == "getattr":
                    value = getattr(obj, req["name"])
                elif op == "getitem":
                    value = obj[decode_value(req["key"], resolve)]
                elif op == "iter":
                    value = iter(obj)
                elif op == "next":
                    value = next(obj)
                elif op == "len":
                    value = len(obj)
                elif op == "str":
                    value = str(obj)
                else:
                    raise ProtocolError(f"unknown op {op}")
        except BaseException as exc:  # the program's exception travels as a type name
            try:
                send({"seq": seq, "exc": type(exc).__name__, "msg": str(exc)[:500]})
            except BaseException:
                os._exit(4)
            continue
        try:
            reply = {"seq": seq, "value": encode_value(value, handle)}
            if op == "call":
                after = [encode_value(a, handle) if isinstance(a, mutable) else None for a in args]
                if any(a is not None for a in after):
                    reply["args_after"] = after
        except BaseException as exc:
            reply = {"seq": seq, "exc": "TypeError", "msg": f"cannot return the value: {exc}"[:500]}
        send(reply)


class Tester:
    """The trusted side of split grading (never runs program code).

    It is the zygote's child; it forks the program process *before* reading
    the tests and the nonce, so the program's memory never held them.
    """

    def __init__(self, job: Job, spec: dict, lim: dict, started: float) -> None:
        self.job = job
        self.lim = lim
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                req, resp = become_child((job.in_fd, job.out_fd, job.err_fd), (req_r, resp_w), job.workdir)
                set_limits(lim, as_bytes_for(lim))
                grade_child_main(spec["program"], job.workdir, req, resp)
            finally:
                os._exit(127)
        for fd in (req_r, resp_w, job.in_fd, job.out_fd, job.err_fd):
            os.close(fd)
        os.set_blocking(self.resp_r, False)
        self.deadline = started + lim["timeout_s"]
        self.pidfd = pidfd_for(self.pid)
        self.poller = select.poll()
        self.poller.register(self.resp_r, select.POLLIN)
        if self.pidfd is not None:
            self.poller.register(self.pidfd, select.POLLIN)
        self.frames = FrameReader()
        self.seq = 0
        self.rows: list = []
        self.status = None
        self.rusage = None
        self.timed_out = False

    def check_exit(self, block: bool = False) -> bool:
        if self.status is None:
            got = wait_child(self.pid, block)
            if got is not None:
                self.status, self.rusage = got
        return self.status is not None

    def _gone(self, detail: str) -> CandidateGone:
        if self.timed_out:
            return CandidateGone("timeout", "time limit reached")
        return CandidateGone("exited", detail)

    def receive(self):
        """The next frame from the program (deadline and exit aware)."""
        while True:
            try:
                frame = self.frames.pop()
            except (ProtocolError, ValueError):
                raise CandidateGone("protocol", "the program sent a malformed reply") from None
            if frame is not None:
                if not isinstance(frame, dict):
                    raise CandidateGone("protocol", "the program sent a malformed reply")
                return frame
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                raise self._gone("")
            wait = remaining if self.pidfd is not None else min(remaining, 0.002)
            self.poller.poll(wait * 1000)
            try:
                data = os.read(self.resp_r, 1 << 16)
            except BlockingIOError:
                if self.pidfd is None:
                    self.check_exit()
                continue
            except OSError:
                data = b""
            if not data:
                raise self._gone("the program exited during the tests")
            self.frames.feed(data)

    def close(self) -> dict:
        """End the program (its request pipe closes, then SIGKILL) and report how it ended."""
        with contextlib.suppress(OSError):
            os.close(self.req_w)
        # The program leaves on its own when its request pipe closes (flushing its
        # output); one that already ended keeps its own exit status. Whatever is
        # still running after a moment is killed.
        if not self.check_exit():
            if self.pidfd is not None:
                poller = select.poll()
                poller.register(self.pidfd, select.POLLIN)
                poller.poll(100)
            else:
                time.sleep(0.01)
        exited_before = self.check_exit()
        self.job.kill()
        self.check_exit(block=True)
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        info = usage(self.status, self.rusage, self.timed_out)
        info["exited_before"] = exited_before
        return info

    def request(self, req: dict):
        self.seq += 1
        req["seq"] = self.seq
        try:
            write_all(self.req_w, pack_frame(req))
        except OSError:
            raise self._gone("the program exited during the tests") from None
        reply = self.receive()
        if reply.get("seq") != self.seq:
            raise CandidateGone("protocol", "the program answered out of turn")
        if "exc" in reply:
            raise self._exception(str(reply["exc"]), str(reply.get("msg", "")))
        try:
            value = decode_value(reply.get("value"), self._remote)
        except ProtocolError as exc:
            raise CandidateGone("protocol", f"the program sent a malformed value: {exc}") from None
        return value, reply.get("args_after")

    def _exception(self, name: str, msg: str) -> BaseException:
        # Builtin exception types are re-raised as themselves so a test that
        # expects `ValueError` from the candidate still works; others keep their name.
        import builtins

        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in (
            SystemExit, KeyboardInterrupt, GeneratorExit, AssertionError
        ):
            try:
                exc = cls(msg)
            except Exception:
                exc = CandidateError(name, msg)
        else:
            exc = CandidateError(name, msg)
        exc.__codelm_candidate__ = name
        return exc

    def _remote(self, ref: int, type_name: str):
        return Remote(self, ref, type_name)

    def call(self, target, args, kwargs):
        try:
            eargs = encode_value(list(args), _remote_ref)
            ekw = encode_value(dict(kwargs), _remote_ref)
        except Unsupported as exc:
            raise HarnessLimit(f"an argument cannot be sent to the program: {exc}") from None
        value, after = self.request({"op": "call", "target": target, "args": eargs, "kwargs": ekw})
        if after:
            if not isinstance(after, list):
                raise CandidateGone("protocol", "the program sent a malformed reply")
            for arg, new in zip(args, after, strict=False):
                if new is None:
                    continue
                try:
                    fresh = decode_value(new, self._remote)
                except ProtocolError as exc:
                    raise CandidateGone("protocol", f"malformed value: {exc}") from None
                # Mirror in-place mutation of mutable arguments, as a shared process would.
                if (type(arg) is list and type(fresh) is list) or (
                        type(arg) is bytearray and type(fresh) is bytearray):
                    arg[:] = fresh
                elif (type(arg) is dict and type(fresh) is dict) or (type(arg) is set and type(fresh) is set):
                    arg.clear()
                    arg.update(fresh)
        return value

    def probe(self, index, value):
        try:
            self.rows.append([index, encode_value(value, _remote_ref)])
        except Unsupported as exc:
            raise HarnessLimit(f"check {index} produced a value that cannot be compared outside: {exc}") from None


class CandidateError(Exception):
    """An exception raised by the program whose type is not a builtin."""

    def __init__(self, name: str, msg: str) -> None:
        super().__init__(f"{name}: {msg}")
        self.name = name


class HarnessLimit(Exception):
    """The test needs something the boundary cannot carry (reported as sandbox_error)."""


def _remote_ref(obj):
    if isinstance(obj, Remote):
        return ["R", object.__getattribute__(obj, "_ref"), object.__getattribute__(obj, "_type")]
    raise Unsupported(f"a {type(obj).__name__} object is not plain data")


class Stub:
    """A name of the program, callable from the tests (the call runs in the program)."""

    __slots__ = ("_name", "_tester")

    def __init__(self, tester: Tester, name: str) -> None:
        self._tester = tester
        self._name = name

    def __call__(self, *args, **kwargs):
        return self._tester.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<program function {self._name}>"


def _untrusted(self, *_args):
    raise UntrustedComparison(
        f"the test compared or tested a {object.__getattribute__(self, '_type')} object of the "
        "program; only plain data returned by the program is trusted"
    )


class Remote:
    """An object that stays in the program's process. Data can be read from it;
    equality, ordering, hashing, truth and membership are refused because the
    program's own methods would answer them."""

    __slots__ = ("_ref", "_tester", "_type")

    def __init__(self, tester, ref, type_name):
        object.__setattr__(self, "_tester", tester)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_name)

    def _req(self, op, **kw):
        tester = object.__getattribute__(self, "_tester")
        value, _ = tester.request({"op": op, "target": object.__getattribute__(self, "_ref"), **kw})
        return value

    def __getattr__(self, name):
        return self._req("getattr", name=name)

    def __call__(self, *args, **kwargs):
        tester = object.__getattribute__(self, "_tester")
        return tester.call(object.__getattribute__(self, "_ref"), args, kwargs)

    def __getitem__(self, key):
        try:
            ekey = encode_value(key, _remote_ref)
        except Unsupported as exc:
            raise HarnessLimit(str(exc)) from None
        return self._req("getitem", key=ekey)

    def __iter__(self):
        it = self._req("iter")
        if not isinstance(it, Remote):
            raise TypeError("the program's __iter__ did not return an iterator")
        while True:
            try:
                value = it._req("next")
            except StopIteration:
                return
            yield value

    def __len__(self):
        return self._req("len")

    def __str__(self):
        return self._req("str")

    def __repr__(self):
        return f"<program object {object.__getattribute__(self, '_type')}>"

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _untrusted
    __bool__ = __hash__ = __contains__ = _untrusted


def run_split(job: Job, spec: dict) -> None:
    import builtins
    import traceback

    lim = spec["limits"]
    started = time.monotonic()
    tester = Tester(job, spec, lim, started)
    trusted = read_frame(job.job_fd)  # after the fork: tests and nonce never enter the program
    os.close(job.job_fd)

    def finish(status, etype=None, detail=None):
        info = tester.close()
        if status == "program_ended":
            if info["timed_out"]:
                status = "timeout"
            elif info["exited_before"] and info["signal"] is not None:
                status = classify_signal(info["signal"], info["cpu_s"], lim)
            else:
                status = "failed"
                code = info["exit_code"]
                detail = f"{detail} (exit code {code})" if code is not None else detail
        job.report({"nonce": trusted["nonce"], **info, "status": status, "error_type": etype,
                    "detail": detail, "rows": tester.rows})

    def ended(exc: CandidateGone, context: str = ""):
        if exc.kind == "protocol":
            return finish("failed", None, str(exc))
        return finish("timeout" if exc.kind == "timeout" else "program_ended", None, context + str(exc))

    try:
        load = tester.receive()
    except CandidateGone as exc:
        return ended(exc, "while loading the program: ")
    if load.get("load") != "ok":
        kind = load.get("load")
        if kind == "syntax":
            return finish("syntax", str(load.get("type")), str(load.get("detail")))
        if kind == "error":
            etype = str(load.get("type"))
            status = "memory" if etype == "MemoryError" else ("failed" if etype == "AssertionError" else "error")
            return finish(status, etype, f"while loading the program: {load.get('detail')}")
        return finish("failed", None, str(load.get("detail")))
    g = {"__name__": "__codelm_test__", "__builtins__": builtins, "__probe__": tester.probe}
    try:
        if trusted.get("prelude"):
            exec(compile(trusted["prelude"], "prelude.py", "exec"), g)
        for name in trusted["stubs"]:
            g[name] = Stub(tester, name)
        driver = compile(trusted["driver"], "test.py", "exec")
    except BaseException as exc:
        return finish("sandbox_error", type(exc).__name__, f"the test code cannot run: {exc}")
    try:
        exec(driver, g)
        if trusted.get("call"):
            g[trusted["call"]](Stub(tester, trusted["entry"]))
    except CandidateGone as exc:
        return ended(exc)
    except HarnessLimit as exc:
        return finish("sandbox_error", None, str(exc))
    except AssertionError as exc:
        line = None
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            if frame.f_code.co_filename == "test.py":
                line = lineno
        detail = f"assertion failed at test line {line}"
        if isinstance(exc, UntrustedComparison):
            detail += f": {exc}"
        return finish("failed", "AssertionError", detail)
    except BaseException as exc:
        etype = getattr(exc, "__codelm_candidate__", None) or type(exc).__name__
        status = "memory" if etype == "MemoryError" else "error"
        detail = str(exc) if isinstance(exc, CandidateError) else f"{etype}: {exc}"
        return finish(status, etype, detail[:500])
    finish("passed")


def job_main(opts: dict, fds: list[int]) -> None:
    job = Job(opts, fds)
    spec = read_frame(job.job_fd)
    mode = spec["mode"]
    lim = spec["limits"]
    if mode in ("python", "direct"):
        # The program runs in this very process (one fork per job).
        os.close(job.job_fd)
        (res,) = become_child((job.in_fd, job.out_fd, job.err_fd), (job.res_fd,), job.workdir)
        set_limits(lim, as_bytes_for(lim))
        if mode == "python":
            python_child_main(spec["program"], job.workdir, res)
        direct_main(spec["program"], spec["entry"], spec["calls"], job.workdir, res)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if mode == "split":
        run_split(job, spec)
    elif mode == "exec":
        run_exec(job, spec)
    else:
        raise ProtocolError(f"unknown job mode {mode!r}")
    kill_all(job.pidns)


# ---------------------------------------------------------------------------
# The zygote.
# ---------------------------------------------------------------------------

PRELOAD = ["abc", "array", "bisect", "builtins", "calendar", "cmath", "collections", "collections.abc", "copy", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json", "math", "numbers", "operator", "random", "re", "statistics", "string", "struct", "textwrap", "threading", "time", "traceback", "types", "typing", "unicodedata", "atexit"]


def _setup_unshare_mounts(opts: dict) -> None:
    """The `unshare` tier: private tmpfs dirs, host paths hidden, the rest read-only.

    Runs as root of a fresh user + mount namespace (capabilities there only),
    then drops every capability before any job runs.
    """
    c = libc()
    ms_nosuid, ms_nodev, ms_bind, ms_rec, ms_private = 2, 4, 4096, 16384, 1 << 18

    def mount(src, dst, fstype, flags, data=None):
        if c.mount(src.encode() if src else None, dst.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {dst}: {os.strerror(err)}")

    mount("none", "/", None, ms_rec | ms_private)
    size = opts["tmpfs_bytes"]
    keep = opts["keep_paths"]
    stage = None
    hidden = [p for p in opts["hide_paths"] if os.path.isdir(p)]
    if hidden:
        mount("tmpfs", "/tmp", "tmpfs", ms_nosuid | ms_nodev, "size=1m,mode=0755")
        stage = "/tmp"
        for i, path in enumerate(keep):
            os.makedirs(f"{stage}/{i}")
            mount(path, f"{stage}/{i}", None, ms_bind | ms_rec)
        for path in hidden:
            mount("tmpfs", path, "tmpfs", ms_nosuid | ms_nodev, "size=1m,mode=0755")
        for i, path in enumerate(keep):
            for h in hidden:
                if path == h or path.startswith(h.rstrip("/") + "/"):
                    os.makedirs(path, exist_ok=True)
                    mount(f"{stage}/{i}", path, None, ms_bind | ms_rec)
                    break
    writable = []
    for path in (opts["tmpdir"], "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", ms_nosuid | ms_nodev, f"size={size},mode=0777")
            writable.append(path)
    os.makedirs(opts["workdir"], exist_ok=True)
    mount("tmpfs", opts["workdir"], "tmpfs", ms_nosuid | ms_nodev, f"size={size},mode=0777")
    writable.append(opts["workdir"])

    # mount_setattr(2) (Linux 5.12): the whole tree read-only in one call, then
    # our own tmpfs mounts writable again.
    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    nr_mount_setattr, at_recursive, attr_rdonly, attr_nosuid, attr_nodev = 442, 0x8000, 1, 2, 4
    at_fdcwd = -100

    def setattr_(path, set_, clr):
        attr = MountAttr(set_, clr, 0, 0)
        if c.syscall(nr_mount_setattr, at_fdcwd, path.encode(), at_recursive,
                     ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount_setattr {path}: {os.strerror(err)}")

    setattr_("/", attr_rdonly | attr_nosuid | attr_nodev, 0)
    for path in writable:
        setattr_(path, 0, attr_rdonly)
    try:  # no further user namespaces, like bubblewrap's --disable-userns (best effort)
        with open("/proc/sys/user/max_user_namespaces", "w") as fh:
            fh.write("0")
    except OSError:
        pass
    for cap in range(64):
        c.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class CapData(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    data = (CapData * 2)()
    if c.capset(ctypes.byref(CapHeader(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def zygote_main(opts: dict) -> None:
    sock = socket.socket(fileno=0)  # the control channel (unix seqpacket) is our stdin
    if opts.get("mounts"):
        _setup_unshare_mounts(opts)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_DUMPABLE, 0)
    if not opts["pidns"]:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    os.environ.clear()
    os.environ.update(opts["env"])
    for name in (*PRELOAD, *opts.get("preload", [])):
        with contextlib.suppress(ImportError):
            __import__(name)
    for path in (opts["workdir"], opts["tmpdir"]):
        os.makedirs(path, exist_ok=True)
    os.chdir(opts["workdir"])
    import gc

    gc.collect()
    gc.freeze()  # keep the preloaded heap shared copy-on-write with every fork
    wipe = [opts["workdir"], opts["tmpdir"], *opts.get("wipe_extra", [])]
    ready = json.dumps({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0],
                        "vm_bytes": vm_size_bytes()}).encode()
    while True:
        # The next job's process is forked *before* the job exists: it takes the
        # job straight from the host, so neither a fork nor a relay through us is
        # on a job's critical path, and we never hold a job's descriptors or data.
        # We only learn the job's id and wall-clock budget.
        pid, taken_fd = _fork_spare(opts, sock)
        if ready:
            sock.send(ready)
            ready = b""
        head = read_exact(taken_fd, TAKEN.size)
        os.close(taken_fd)
        if len(head) != TAKEN.size:  # the host closed the channel: the spare left quietly
            wait_child(pid, block=True)
            os._exit(0)
        job_id, wall = TAKEN.unpack(head)
        started = time.monotonic()
        status, rusage, timed_out = wait_deadline(pid, started + wall, lambda: kill_all(opts["pidns"]))
        kill_all(opts["pidns"])
        for path in wipe:
            wipe_dir(path)
        if opts["pidns"]:
            remove_sysv_ipc()
        if job_id:
            sock.send(json.dumps({"job": job_id, **usage(status, rusage, timed_out),
                                  "seconds": round(time.monotonic() - started, 6)}).encode())


TAKEN = struct.Struct("!Qd")  # spare -> zygote: job id (0: header refused), wall seconds


def _fork_spare(opts: dict, control: socket.socket) -> tuple[int, int]:
    """Fork a clean child that receives the next job from the host and runs it."""
    taken_r, taken_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(taken_r)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            try:
                msg, fds, _flags, _addr = socket.recv_fds(control, HEADER.size, JOB_FDS)
            except OSError:
                msg, fds = b"", []
            if not msg:
                os._exit(0)
            magic, job_id, wall = HEADER.unpack(msg) if len(msg) == HEADER.size else (b"", 0, 0.0)
            if magic != MAGIC or len(fds) != JOB_FDS or not job_id:
                for fd in fds:
                    os.close(fd)
                control.send(json.dumps({"error": "bad job header"}).encode())
                write_all(taken_w, TAKEN.pack(0, 0.0))
                os._exit(0)
            # Closed before anything else runs: the job must never see the next job.
            control.close()
            write_all(taken_w, TAKEN.pack(job_id, wall))
            os.close(taken_w)
            job_main(opts, fds)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        os._exit(code)
    os.close(taken_w)
    return pid, taken_r


if __name__ == "__main__":
    zygote_main(json.loads(sys.argv[1]))
