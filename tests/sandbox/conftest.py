"""One warm sandbox pool shared by the whole sandbox suite (starting one costs ~0.3 s)."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from codelm.eval.sandbox import Limits, Sandbox, SandboxConfig

# Small limits keep adversarial cases fast: every runaway ends within ~1 s.
FAST = Limits(timeout_s=1.0, memory_mb=256, max_procs=32, max_files=64,
              max_file_bytes=4 << 20, max_output_bytes=64 << 10)


@pytest.fixture(scope="session")
def sandbox():
    sb = Sandbox(SandboxConfig(workers=2, limits=FAST, disk_mb=16)).start()
    yield sb
    sb.close()


@pytest.fixture
def marker() -> str:
    """A unique string to find leaked files, processes or secrets by."""
    return f"codelm-test-{uuid.uuid4().hex}"


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (strays a run left behind)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def settled_process_count(sb: Sandbox, timeout: float = 3.0) -> int:
    """Processes in all worker slots once only bwrap, zygote and the spare remain."""
    limit = 3 * len(sb._pool.workers)
    end = time.monotonic() + timeout
    while True:
        count = len(sb.worker_pids())
        if count <= limit or time.monotonic() > end:
            return count
        time.sleep(0.02)


def assert_clean(sb: Sandbox, marker: str | None = None) -> None:
    """No stray process, and the pool still serves the next request correctly."""
    follow = sb.run("print(6 * 7)")
    assert (follow.status, follow.stdout) == ("passed", "42\n")
    assert settled_process_count(sb) <= 3 * len(sb._pool.workers)
    if marker is not None:
        assert host_processes_with(marker) == []


@pytest.fixture
def fast() -> Limits:
    return FAST


@pytest.fixture
def clean():
    """`clean(sb, marker=None)`: assert no strays and that `sb` still serves requests."""
    return assert_clean


@pytest.fixture
def strays():
    """`strays(marker)`: host pids whose command line holds `marker`."""
    return host_processes_with
