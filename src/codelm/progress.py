"""Progress bars for long work (rich), switchable off by `--quiet`/`--json`.

Library code calls `progress_bar(...)`; the CLI decides whether bars show.
Bars go to stderr so stdout stays clean for results and `--json`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

_state = {"enabled": True}
stderr_console = Console(stderr=True)


def set_enabled(enabled: bool) -> None:
    _state["enabled"] = enabled


def enabled() -> bool:
    """Bars show only when not disabled and stderr is a terminal."""
    return _state["enabled"] and sys.stderr.isatty()


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1, **fields: Any) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=amount, **fields)

    def update(self, **fields: Any) -> None:
        """Update the bar's total/description or custom fields (e.g. `info='loss 2.1'`)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, **fields)


@contextmanager
def progress_bar(description: str, total: float | None = None) -> Iterator[_Bar]:
    """A bar with count, elapsed time, ETA and a free-text `info` field."""
    if not enabled():
        yield _Bar(None, None)
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    with Progress(*columns, console=stderr_console, transient=False) as progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)


def track(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total) as bar:
        for item in items:
            yield item
            bar.advance()
