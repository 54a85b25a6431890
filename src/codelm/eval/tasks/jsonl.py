"""User tasks in HumanEval's JSONL shape, in Python or JavaScript.

Each line: `task_id`, `prompt`, `entry_point`, `test`, and optionally
`canonical_solution` (used to calibrate time limits and to self-check the
file), `language` (default `python`, or `task_options.language`), `stop`
(list of stop sequences). A `.jsonl.gz` file works too.

Python tests are HumanEval-shaped (`def check(candidate): assert ...`) or
module-level asserts (MBPP-shaped). JavaScript tests follow MultiPL-E: the
program is prompt + completion + test, where the test code calls the
function and fails by throwing (e.g. `assert.deepEqual` from `node:assert`);
node runs it inside the sandbox.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from codelm.errors import InputError
from codelm.eval.tasks import Problem, Task, register_task
from codelm.eval.tasks.humaneval import HUMANEVAL_STOP

# MultiPL-E's stop sequences for JavaScript
JS_STOP = ("\nfunction ", "\n/*", "\n//", "\nconsole.log")
LANGUAGE_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "node": "javascript"}
SUPPORTED = ("python", "javascript")
REQUIRED = ("task_id", "prompt", "test")


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL (or .jsonl.gz) file; a bad line is an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"task file '{path}' does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{number} is not valid JSON; each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number} is not a JSON object")
            rows.append(row)
    return rows


def problems_from_rows(rows: list[dict], source: str, language: str | None = None) -> list[Problem]:
    problems, seen = [], set()
    for number, row in enumerate(rows, start=1):
        missing = [key for key in REQUIRED if key not in row]
        if missing:
            raise InputError(f"{source}: problem {number} lacks {', '.join(missing)} (HumanEval shape: "
                             "task_id, prompt, entry_point, test)")
        lang = str(row.get("language") or language or "python").lower()
        lang = LANGUAGE_ALIASES.get(lang, lang)
        if lang not in SUPPORTED:
            raise InputError(f"{source}: problem {row['task_id']} has language '{lang}'; supported: {', '.join(SUPPORTED)}")
        task_id = str(row["task_id"])
        if task_id in seen:
            raise InputError(f"{source}: task_id '{task_id}' appears twice")
        seen.add(task_id)
        stop = tuple(row.get("stop") or (HUMANEVAL_STOP if lang == "python" else JS_STOP))
        problems.append(
            Problem(
                task_id=task_id,
                prompt=str(row["prompt"]),
                entry_point=str(row.get("entry_point") or ""),
                test=str(row["test"]),
                canonical_solution=row.get("canonical_solution"),
                language=lang,
                stop=stop,
            )
        )
    return problems


@register_task
class JsonlTask(Task):
    name = "jsonl"
    description = "your problems in HumanEval JSONL shape (Python or JavaScript), from task_options.path"
    scoring = "execution"
    needs_path = True

    def load(self) -> list[Problem]:
        return problems_from_rows(read_jsonl(self.options.path), str(self.options.path), self.options.language)
