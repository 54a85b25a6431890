"""User-facing errors.

Anything a user can cause (a bad config, a missing file, a missing optional
dependency) raises a `CodelmError` subclass whose message is one line naming
the offending key or file and the fix. The CLI prints it and exits 2 without a
traceback; every other exception is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import importlib
from types import ModuleType


class CodelmError(Exception):
    """An error the user can fix; `str(err)` is the one-line message."""

    exit_code = 2


class ConfigError(CodelmError):
    """A config file, preset or `--set` override is invalid."""


class InputError(CodelmError):
    """An input file or directory is missing, unreadable or malformed."""


class MissingDependencyError(CodelmError):
    """An optional dependency (an extra) is not installed."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or explain how to install it.

    Heavy optional packages (ray, vllm, bitsandbytes, mlflow) are imported
    lazily so the core install stays small and start-up stays fast.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package: pip install 'codelm[{extra}]' ({exc})"
        ) from exc
