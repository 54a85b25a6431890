"""What an execution or a grading returns.

Statuses tell the truth about who is responsible: `sandbox_error` means the
harness itself failed and must never be counted as the program's success or
fault; every other status is the program's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "error", "syntax", "timeout", "memory", "killed", "sandbox_error")
"""passed: exit 0 / all tests pass; failed: assertion or wrong output (or a
non-zero exit); error: an exception (its type in `error_type`); syntax: the
program does not parse or compile; timeout: wall clock or CPU limit; memory:
memory limit; killed: ended by a signal; sandbox_error: the harness failed."""


@dataclass
class ExecResult:
    """One program run. `to_json()` is the `codelm eval exec --json` document."""

    status: str
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    seconds: float
    tier: str
    error_type: str | None = None
    detail: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    cpu_seconds: float = 0.0
    max_rss_kb: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        keys = ("status", "exit_code", "signal", "stdout", "stderr", "seconds", "tier")
        return {k: getattr(self, k) for k in keys}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GradeResult:
    """One program graded against its tests; `passed` is True only for status `passed`."""

    status: str
    passed: bool
    detail: str | None
    seconds: float
    tier: str
    error_type: str | None = None
    checks: int = 0
    """How many assertions were compared outside the sandbox."""
    stdout: str = ""
    stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
