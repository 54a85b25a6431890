"""Execute untrusted, model-generated code safely and fast, and grade it so it cannot cheat.

Public API (see docs/sandbox.md)::

    from codelm.eval.sandbox import Sandbox, SandboxConfig, Limits
    with Sandbox(SandboxConfig(workers=4)) as sb:
        sb.run(code, language="python", stdin=None, limits=None) -> ExecResult
        sb.grade(program, test, entry_point, language="python", limits=None, prelude=None) -> GradeResult
        sb.map([RunRequest(...), GradeRequest(...)]) -> list[ExecResult | GradeResult]
"""

from codelm.eval.sandbox.config import Limits, SandboxConfig
from codelm.eval.sandbox.results import STATUSES, ExecResult, GradeResult
from codelm.eval.sandbox.sandbox import GradeRequest, RunRequest, Sandbox, grade, run
from codelm.eval.sandbox.tiers import TIERS, SandboxUnavailableError, SandboxUnsafeWarning

__all__ = [
    "STATUSES",
    "TIERS",
    "ExecResult",
    "GradeRequest",
    "GradeResult",
    "Limits",
    "RunRequest",
    "Sandbox",
    "SandboxConfig",
    "SandboxUnavailableError",
    "SandboxUnsafeWarning",
    "grade",
    "run",
]
