"""MBPP (Austin et al. 2021): crowd-sourced Python problems, read from a local file.

Accepts either release, detected from the content:
- original `mbpp.jsonl` (974 problems: task_id, text, code, test_list,
  test_setup_code, challenge_test_list);
- sanitized `sanitized-mbpp.json` (427 hand-verified problems: task_id,
  prompt, code, test_imports, test_list).

Splits follow the paper's task-id ranges: 1-10 prompt (few-shot), 11-510
test, 511-600 validation, 601-974 train; `all` keeps everything.

The prompt is the bigcode-evaluation-harness one (description plus the
first test as a docstring); the model writes the whole function, and the
program is prompt + completion followed by the asserts at module level,
which the sandbox grades on the host.
"""

from __future__ import annotations

import json
from pathlib import Path

from codelm.errors import ConfigError, InputError
from codelm.eval.tasks import Problem, Task, register_task

SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")


def _read_rows(path: Path) -> tuple[list[dict], str]:
    """(rows, variant) from either MBPP file; a directory is searched for one."""
    if path.is_dir():
        for name in ("sanitized-mbpp.json", "mbpp.jsonl"):
            if (path / name).is_file():
                return _read_rows(path / name)
        raise InputError(f"MBPP directory '{path}' holds neither sanitized-mbpp.json nor mbpp.jsonl")
    if not path.is_file():
        raise InputError(f"MBPP file '{path}' does not exist; pass the path of mbpp.jsonl or sanitized-mbpp.json")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"MBPP file '{path}' is not JSON/JSONL (line {exc.lineno}); use an MBPP release file") from None
    if not rows or not isinstance(rows[0], dict) or "test_list" not in rows[0]:
        raise InputError(f"MBPP file '{path}' has no test_list field; it is not an MBPP release file")
    variant = "sanitized" if "prompt" in rows[0] else "full"
    return rows, variant


def mbpp_prompt(description: str, first_test: str) -> str:
    return f'"""\n{description.strip()}\n{first_test.strip()}\n"""\n'


def _entry_point(row: dict) -> str:
    """The function the first assert calls (the first non-builtin name called)."""
    import ast
    import builtins

    try:
        tree = ast.parse(row["test_list"][0])
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not hasattr(builtins, node.func.id):
            return node.func.id
    return ""


def missing_imports(test: str) -> list[str]:
    """`import m` for standard-library modules the test uses but never imports.

    A few MBPP tests lean on the reference solution's imports (`sys.getsizeof`
    in the assert). Peers run program and tests in one namespace, so that
    works there; our grader keeps the tests apart from the program, so the
    test gets the import itself (the module, never the program's object).
    """
    import ast
    import builtins
    import sys

    try:
        tree = ast.parse(test)
    except SyntaxError:
        return []
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
    return [f"import {name}" for name in sorted(used - bound)
            if name in sys.stdlib_module_names and not hasattr(builtins, name)]


def mbpp_problems(path: str | Path, split: str = "test", variant: str = "auto") -> list[Problem]:
    rows, found = _read_rows(Path(path))
    if variant != "auto" and variant != found:
        raise ConfigError(f"task_options.variant is '{variant}' but '{path}' is the {found} MBPP release")
    if split != "all" and split not in SPLITS:
        raise ConfigError(f"task_options.split '{split}' is not an MBPP split; use {', '.join(SPLITS)} or all")
    lo, hi = SPLITS.get(split, (0, 10**9))
    problems = []
    for row in rows:
        tid = int(row["task_id"])
        if not lo <= tid <= hi:
            continue
        description = row["prompt"] if found == "sanitized" else row["text"]
        imports = row.get("test_imports") or []
        setup = row.get("test_setup_code") or ""
        test = "\n".join([*imports, setup, *row["test_list"]]).strip() + "\n"
        test = "\n".join([*missing_imports(test), test]) if missing_imports(test) else test
        problems.append(
            Problem(
                task_id=f"Mbpp/{tid}",
                prompt=mbpp_prompt(description, row["test_list"][0]),
                entry_point=_entry_point(row),
                test=test,
                canonical_solution=row["code"].replace("\r\n", "\n"),
                language="python",
                stop=MBPP_STOP,
                meta={"variant": found, "public_tests": [row["test_list"][0]]},
            )
        )
    return problems


@register_task
class Mbpp(Task):
    name = "mbpp"
    description = "MBPP from a local mbpp.jsonl or sanitized-mbpp.json (task_options.path), pass@k"
    scoring = "execution"
    needs_path = True

    def load(self) -> list[Problem]:
        return mbpp_problems(self.options.path, self.options.split, self.options.variant)
