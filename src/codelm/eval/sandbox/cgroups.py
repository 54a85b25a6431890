"""Memory and process-count cgroups for worker slots (cgroup v1 and v2).

A cgroup limits the *whole* job (every process, page cache and tmpfs pages it
creates), counts OOM kills so a SIGKILL can be reported as `memory`, and lets
the host kill every process of a slot even when the sandbox's own supervisor
is gone. We nest our groups under the cgroup this process already lives in,
so a container's own limits still apply above ours.

Layout: `<controller root>/<our cgroup>/codelm-<pid>-<n>/slot-<i>`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count()


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _mounts() -> list[tuple[str, str, set[str]]]:
    out = []
    try:
        text = Path("/proc/self/mounts").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            out.append((parts[1], parts[2], set(parts[3].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """controller name (or "" for the v2 hierarchy) → our cgroup path."""
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and controllers == "":
            paths[""] = path
        for c in controllers.split(","):
            if c:
                paths[c] = path
    return paths


def _base(mount: str, own: str) -> Path:
    candidate = Path(mount) / own.lstrip("/")
    return candidate if candidate.is_dir() else Path(mount)


@dataclass
class CgroupSlot:
    """The cgroup(s) of one worker slot."""

    version: int
    dirs: dict[str, Path]  # "memory" / "pids" → directory (the same dir on v2)

    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def set_memory(self, limit: int) -> None:
        d = self.dirs["memory"]
        if self.version == 2:
            _write(d / "memory.max", str(limit))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            return
        # v1: memsw (memory+swap) must stay >= the memory limit at every step.
        memsw = d / "memory.memsw.limit_in_bytes"
        try:
            _write(d / "memory.limit_in_bytes", str(limit))
            if memsw.exists():
                _write(memsw, str(limit))
        except OSError:
            if memsw.exists():
                _write(memsw, str(limit))
            _write(d / "memory.limit_in_bytes", str(limit))

    def memory_usage(self) -> int:
        d = self.dirs["memory"]
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return int(_read(d / name))

    def oom_kills(self) -> int:
        d = self.dirs["memory"]
        path = d / ("memory.events" if self.version == 2 else "memory.oom_control")
        try:
            for line in _read(path).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        if self.version == 1:  # kernels without the oom_kill counter
            with contextlib.suppress(OSError):
                return int(_read(d / "memory.failcnt"))
        return 0

    def set_pids(self, limit: int) -> None:
        if "pids" in self.dirs:
            _write(self.dirs["pids"] / "pids.max", str(limit))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(x) for x in _read(d / "cgroup.procs").split())
        return sorted(found)

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the slot until none is left."""
        end = time.monotonic() + timeout
        kill_file = self.dirs["memory"] / "cgroup.kill" if self.version == 2 else None
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > end:
                return
            if kill_file is not None and kill_file.exists():
                with contextlib.suppress(OSError):
                    _write(kill_file, "1")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill_all(timeout=0.2)
                    time.sleep(0.01)


class CgroupGroup:
    """A pool's parent cgroup; hands out one `CgroupSlot` per worker."""

    def __init__(self, version: int, parents: dict[str, Path]) -> None:
        self.version = version
        self.parents = parents
        self.slots: list[CgroupSlot] = []

    @classmethod
    def create(cls) -> tuple[CgroupGroup | None, str]:
        """Make a pool cgroup, or explain why none is usable (v2 tried first)."""
        own = _own_paths()
        mounts = _mounts()
        name = f"codelm-{os.getpid()}-{next(_counter)}"
        reasons = []
        for mount, fstype, _opts in mounts:
            if fstype != "cgroup2":
                continue
            base = _base(mount, own.get("", "/"))
            try:
                controllers = _read(base / "cgroup.controllers").split()
            except OSError as exc:
                reasons.append(f"{base}: {exc.strerror}")
                continue
            if "memory" not in controllers:
                reasons.append(f"{mount}: no memory controller")
                continue
            d = base / name
            try:
                d.mkdir()
            except OSError as exc:
                reasons.append(f"{d}: {exc.strerror}")
                continue
            try:
                with contextlib.suppress(OSError):
                    _write(base / "cgroup.subtree_control", "+memory +pids")
                enabled = _read(base / "cgroup.subtree_control").split()
                if "memory" not in enabled:
                    raise OSError("memory controller not delegated to children")
                _write(d / "cgroup.subtree_control", "+memory" + (" +pids" if "pids" in enabled else ""))
            except OSError as exc:
                with contextlib.suppress(OSError):
                    d.rmdir()
                reasons.append(f"{base}: {exc}")
                continue
            return cls(2, {"memory": d}), ""
        v1 = {c: (m, opts) for m, fstype, opts in mounts if fstype == "cgroup"
              for c in ("memory", "pids") if c in opts}
        if "memory" in v1:
            parents: dict[str, Path] = {}
            try:
                for c, (mount, _opts) in v1.items():
                    d = _base(mount, own.get(c, "/")) / name
                    d.mkdir()
                    parents[c] = d
                return cls(1, parents), ""
            except OSError as exc:
                for d in parents.values():
                    with contextlib.suppress(OSError):
                        d.rmdir()
                reasons.append(f"cgroup v1: {exc.strerror or exc}")
        return None, "; ".join(reasons) or "no cgroup filesystem with a memory controller"

    def slot(self, index: int, owner_uid: int | None = None) -> CgroupSlot:
        dirs: dict[str, Path] = {}
        for c, parent in self.parents.items():
            d = parent / f"slot-{index}-{next(_counter)}"
            d.mkdir()
            dirs[c] = d
        if self.version == 2:
            dirs = {"memory": dirs["memory"], **({"pids": dirs["memory"]} if self._v2_pids() else {})}
        slot = CgroupSlot(self.version, dirs)
        self.slots.append(slot)
        return slot

    def _v2_pids(self) -> bool:
        try:
            return "pids" in _read(self.parents["memory"] / "cgroup.subtree_control").split()
        except OSError:
            return False

    def release(self, slot: CgroupSlot) -> None:
        slot.remove()
        if slot in self.slots:
            self.slots.remove(slot)

    def remove(self) -> None:
        for slot in list(self.slots):
            self.release(slot)
        for d in self.parents.values():
            with contextlib.suppress(OSError):
                d.rmdir()


def remove_stale() -> int:
    """Remove pool cgroups left by dead processes (a crash must not leak them)."""
    removed = 0
    own = _own_paths()
    for mount, fstype, opts in _mounts():
        keys = [""] if fstype == "cgroup2" else [c for c in ("memory", "pids") if c in opts]
        for key in keys:
            base = _base(mount, own.get(key, "/"))
            try:
                entries = list(base.iterdir())
            except OSError:
                continue
            for d in entries:
                parts = d.name.split("-")
                if len(parts) != 3 or parts[0] != "codelm" or not parts[1].isdigit():
                    continue
                if Path(f"/proc/{parts[1]}").exists():
                    continue
                for child in list(d.iterdir()) if d.is_dir() else []:
                    if child.is_dir():
                        CgroupSlot(2 if fstype == "cgroup2" else 1, {"memory": child}).remove()
                with contextlib.suppress(OSError):
                    d.rmdir()
                    removed += 1
    return removed
