"""Isolation tiers: detection, dedicated uids and the command that starts a worker.

Tiers, strongest first (REFERENCE.md "Sandboxing untrusted code"):

1. `bwrap`   bubblewrap: new user/pid/net/ipc/uts namespaces, no capabilities,
             cleared environment, a fresh root with read-only system binds and
             size-capped tmpfs for /tmp and the work dir, die-with-parent,
             no nested user namespaces.
2. `unshare` util-linux `unshare`: the same namespaces; the host tree is made
             read-only in a private mount namespace, /tmp, /var/tmp, /dev/shm
             and the work dir are private tmpfs, and `hide_paths` are covered.
             World-readable host files outside those stay readable.
3. `rlimit`  resource limits only: no isolation boundary at all. Used only
             with `allow_unsafe: true`, and always with a loud warning.

When codelm runs as root every worker slot drops to its own unprivileged uid
(leased with a lock file so concurrent pools never share one) before any
tier starts: a program can then neither touch root's files nor signal another
slot's processes, even in the rlimit tier.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from codelm.errors import CodelmError, ConfigError

SANDBOX_UID = 1000  # the uid programs see inside bwrap
UID_LOCK_DIR = Path("/tmp/codelm-sandbox-uids")
TIERS = ("bwrap", "unshare", "rlimit")


class SandboxUnavailableError(CodelmError):
    """The requested isolation tier (or memory mechanism) cannot run here."""


class SandboxUnsafeWarning(UserWarning):
    """Programs run without an isolation boundary (rlimit tier) or a weaker one."""


def is_root() -> bool:
    return os.geteuid() == 0


class UidLease:
    """An exclusive claim on one uid for one worker slot (flock on a file)."""

    def __init__(self, base: int) -> None:
        UID_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        for uid in range(base, base + 65536):
            fd = os.open(UID_LOCK_DIR / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid = uid
            self._fd = fd
            return
        raise SandboxUnavailableError(f"no free sandbox uid in {base}..{base + 65535}")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _world_reachable(path: str) -> bool:
    """Can an unrelated unprivileged uid execute `path` (every parent o+x)?"""
    p = Path(os.path.realpath(path))
    try:
        if not p.stat().st_mode & stat.S_IXOTH:
            return False
        for parent in p.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def resolve_python(choice: str, dedicated_uid: bool) -> tuple[str, str]:
    """(interpreter path, prefix to make visible) for the sandbox.

    `auto` prefers the interpreter running codelm (its base, not the venv);
    a dedicated uid cannot enter e.g. root's 0700 home where pyenv lives, so
    then the system `/usr/bin/python3` is used instead.
    """
    if choice != "auto":
        path = shutil.which(choice) or choice
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise ConfigError(f"sandbox.python = '{choice}' is not an executable interpreter")
        real = os.path.realpath(path)
        return real, _prefix_of(real)
    base = getattr(sys, "_base_executable", None) or sys.executable
    real = os.path.realpath(base)
    if not dedicated_uid or _world_reachable(real):
        return real, os.path.realpath(sys.base_prefix)
    system = os.path.realpath("/usr/bin/python3")
    if os.path.isfile(system):
        return system, "/usr"
    raise SandboxUnavailableError(
        f"the sandbox's unprivileged uid cannot reach {real} and /usr/bin/python3 is missing; "
        "set sandbox.python to a world-readable interpreter"
    )


def _prefix_of(real: str) -> str:
    bindir = os.path.dirname(real)
    return os.path.dirname(bindir) if os.path.basename(bindir) == "bin" else bindir


@dataclass
class Launch:
    """Everything needed to start one worker slot."""

    argv: list[str]
    env: dict[str, str]
    opts: dict
    host_dirs: list[Path] = field(default_factory=list)  # rlimit tier: host work dirs to remove


def sandbox_env(home: str, tmp: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _system_binds() -> list[str]:
    """Read-only binds that recreate the host's system layout (not its data)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = f"/{name}"
        if os.path.islink(p):
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
    # /etc is not bound: only what toolchains need to resolve their own files.
    etc = ["/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", *sorted(glob.glob("/etc/java-*"))]
    for p in etc:
        if os.path.exists(p):
            args += ["--ro-bind", p, p]
    return args


def bwrap_argv(runtime_dir: Path, python: str, prefix: str, opts: dict, disk_bytes: int,
               ro_binds: list[str]) -> list[str]:
    bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
    args = [
        bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv",
        "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
        *_system_binds(),
        "--ro-bind", str(runtime_dir / "passwd"), "/etc/passwd",
        "--ro-bind", str(runtime_dir / "group"), "/etc/group",
        "--ro-bind", str(runtime_dir / "runtime.py"), "/codelm/runtime.py",
    ]
    if not (prefix == "/usr" or prefix.startswith("/usr/")):
        args += ["--ro-bind", prefix, prefix]
    for p in ro_binds:
        if not os.path.exists(p):
            raise ConfigError(f"sandbox.ro_binds: '{p}' does not exist")
        args += ["--ro-bind", p, p]
    # /dev is bubblewrap's own small tmpfs of device nodes: read-only (device
    # nodes stay usable), so nothing persists there between jobs.
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    for mount in ("/tmp", "/sandbox", "/dev/shm"):
        args += ["--size", str(disk_bytes), "--tmpfs", mount]
    args += ["--remount-ro", "/", "--chdir", "/sandbox"]
    for key, value in opts["env"].items():
        args += ["--setenv", key, value]
    args += ["--as-pid-1", python, "-I", "-B", "/codelm/runtime.py", json.dumps(opts)]
    return args


def unshare_argv(runtime_dir: Path, python: str, opts: dict) -> list[str]:
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    return [
        unshare, "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--net", "--ipc",
        "--uts", "--mount", "--mount-proc", "--propagation", "private", "--",
        python, "-I", "-B", str(runtime_dir / "runtime.py"), json.dumps(opts),
    ]


def launcher(argv: list[str], uid: int | None, procs_files: list[str]) -> list[str]:
    """Join the slot's cgroups, drop to the slot uid, then exec the tier.

    A tiny shell joins the cgroups *before* exec, so no process of the worker
    ever runs outside them; `setpriv` then drops root for good.
    """
    if uid is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv = [setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--", *argv]
    if procs_files:
        script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'
        argv = ["/bin/sh", "-c", script, "sh", str(len(procs_files)), *procs_files, *argv]
    return argv


def build_launch(tier: str, runtime_dir: Path, slot: int, uid: int | None, python: str, prefix: str,
                 cfg, procs_files: list[str]) -> Launch:
    disk = cfg.disk_mb << 20
    if tier == "bwrap":
        opts = {"tier": tier, "pidns": True, "workdir": "/sandbox", "tmpdir": "/tmp",
                "wipe_extra": ["/dev/shm"], "env": sandbox_env("/sandbox", "/tmp"), "preload": cfg.preload}
        argv = bwrap_argv(runtime_dir, python, prefix, opts, disk, cfg.ro_binds)
        return Launch(launcher(argv, uid, procs_files), {"PATH": "/usr/bin:/bin"}, opts)
    if tier == "unshare":
        keep = [] if prefix == "/usr" or prefix.startswith("/usr/") else [prefix]
        opts = {"tier": tier, "pidns": True, "workdir": "/tmp/sandbox", "tmpdir": "/tmp",
                "wipe_extra": ["/dev/shm", "/var/tmp"], "env": sandbox_env("/tmp/sandbox", "/tmp"),
                "preload": cfg.preload, "mounts": True, "tmpfs_bytes": disk,
                "keep_paths": keep, "hide_paths": [p for p in cfg.hide_paths if p not in ("/", "/usr")]}
        argv = unshare_argv(runtime_dir, python, opts)
        return Launch(launcher(argv, uid, procs_files), {"PATH": "/usr/bin:/bin"}, opts)
    # rlimit: host directories, owned by the slot uid, are the work dir and TMPDIR.
    base = runtime_dir / f"slot-{slot}"
    work, tmp = base / "work", base / "tmp"
    for d in (base, work, tmp):
        d.mkdir(mode=0o700, exist_ok=True)
        if uid is not None:
            os.chown(d, uid, uid)
    opts = {"tier": tier, "pidns": False, "workdir": str(work), "tmpdir": str(tmp),
            "env": sandbox_env(str(work), str(tmp)), "preload": cfg.preload}
    argv = [python, "-I", "-B", str(runtime_dir / "runtime.py"), json.dumps(opts)]
    return Launch(launcher(argv, uid, procs_files), dict(opts["env"]), opts, [base])


@functools.lru_cache(maxsize=16)
def probe(tier: str, uid: int | None) -> str | None:
    """None if `tier` can start here (as `uid`), else the reason it cannot."""
    if tier == "rlimit":
        return None
    true = shutil.which("true") or "/usr/bin/true"
    if tier == "bwrap":
        if not shutil.which("bwrap"):
            return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap (or `make system-deps`)"
        argv = [shutil.which("bwrap"), "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv",
                "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", true]
    else:
        if not shutil.which("unshare"):
            return "util-linux unshare is not installed"
        argv = [shutil.which("unshare"), "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
                "--net", "--ipc", "--uts", "--mount", "--mount-proc", true]
    argv = launcher(argv, uid, [])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{tier} failed to start: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["exit code " + str(proc.returncode)])[-1]
        return f"{tier} cannot create its namespaces here: {last}"
    return None


def choose_tier(requested: str, allow_unsafe: bool, uid: int | None) -> tuple[str, list[str]]:
    """The tier to use and the warnings to show; never silently weaker.

    An explicitly requested tier that cannot run is an error. `auto` takes
    the strongest available and warns when that is not bubblewrap.
    """
    notes: list[str] = []
    if requested == "rlimit":
        if not allow_unsafe:
            raise ConfigError(
                "sandbox.tier = 'rlimit' has no isolation boundary; set sandbox.allow_unsafe: true to accept that"
            )
        return "rlimit", [_unsafe_message()]
    if requested in ("bwrap", "unshare"):
        reason = probe(requested, uid)
        if reason:
            raise SandboxUnavailableError(f"sandbox tier '{requested}' is unavailable: {reason}")
        return requested, notes
    reasons = []
    for tier in ("bwrap", "unshare"):
        reason = probe(tier, uid)
        if reason is None:
            if tier != "bwrap":
                notes.append(f"bubblewrap is unavailable ({reasons[0]}); using the weaker 'unshare' tier")
            return tier, notes
        reasons.append(reason)
    if allow_unsafe:
        return "rlimit", [f"no namespace tier available ({'; '.join(reasons)})", _unsafe_message()]
    raise SandboxUnavailableError(
        f"no sandbox tier is available ({'; '.join(reasons)}); install bubblewrap, or set "
        "sandbox.allow_unsafe: true to run programs with resource limits only"
    )


def _unsafe_message() -> str:
    return ("UNSAFE: the 'rlimit' tier runs programs with resource limits only; they can read and write "
            "your files, use the network and see your environment. Use it only for trusted code.")


def warn(notes: list[str]) -> None:
    for note in notes:
        warnings.warn(note, SandboxUnsafeWarning, stacklevel=3)


def write_runtime_dir(path: Path) -> None:
    """The read-only files every worker sees: the runtime and a minimal passwd."""
    src = Path(__file__).with_name("_runtime.py")
    shutil.copyfile(src, path / "runtime.py")
    (path / "passwd").write_text(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/sandbox:/bin/sh\n")
    (path / "group").write_text(f"sandbox:x:{SANDBOX_UID}:\n")
    for name in ("runtime.py", "passwd", "group"):
        os.chmod(path / name, 0o644)
    os.chmod(path, 0o755)


def remove_stale_runtime_dirs() -> int:
    """Runtime dirs of processes that died without closing their pool."""
    removed = 0
    for d in Path(tempfile.gettempdir()).glob("codelm-sandbox-*-*"):
        pid = d.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and d.is_dir():
            remove_tree(d)
            removed += 1
    return removed


def remove_tree(path: Path) -> None:
    """Remove a tree a program may have made unwritable (never touching anything above it)."""
    root = os.path.realpath(path)

    def fix(func, p, _exc):
        # Only paths strictly inside the tree get their permissions repaired.
        for target in (os.path.dirname(p), p):
            real = os.path.realpath(target)
            if real.startswith(root + os.sep) or (real == root and target == p and os.path.isdir(p)):
                with contextlib.suppress(OSError):
                    os.chmod(target, 0o700)
        with contextlib.suppress(OSError):
            func(p)

    if os.path.isdir(root) and not os.path.islink(path):
        shutil.rmtree(root, onerror=fix)
