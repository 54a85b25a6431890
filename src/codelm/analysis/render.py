"""Render Graphviz DOT to PNG with the `dot` program, when it is installed.

Graphviz is a system package, not a Python one: the pure-Python bindings
(`graphviz`, `pydot`) call the same binary, so they would add a dependency
without removing the need for it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from codelm.errors import InputError, MissingDependencyError

INSTALL_HINT = ("install Graphviz (`apt-get install graphviz` on Debian/Ubuntu, "
                "`brew install graphviz` on macOS) or use --format dot")


def render_png(dot: str, path: str | Path, timeout: float = 60.0) -> Path:
    """Write `dot` rendered as a PNG image to `path`."""
    binary = shutil.which("dot")
    if binary is None:
        raise MissingDependencyError(f"rendering PNG needs Graphviz's `dot` program; {INSTALL_HINT}")
    path = Path(path)
    try:
        subprocess.run([binary, "-Tpng", "-o", str(path)], input=dot.encode("utf-8"),
                       check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"Graphviz could not render {path}: {message[-1] if message else exc}") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"Graphviz took over {timeout:.0f} s to render {path}; use --format dot") from None
    return path
