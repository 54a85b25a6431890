"""Tasks: where problems come from and how they are built."""

from __future__ import annotations

import json

import pytest

from codelm.data.corpus import make_record, write_corpus
from codelm.errors import ConfigError, InputError
from codelm.eval.config import TaskOptions
from codelm.eval.tasks import get_task, list_tasks, truncate_at_stop

MBPP = "/work/shared/data/mbpp"


def test_humaneval_comes_from_the_wheel():
    problems = get_task("humaneval").problems()
    assert len(problems) == 164
    assert problems[0].task_id == "HumanEval/0" and problems[0].entry_point == "has_close_elements"
    assert "def check(candidate)" in problems[0].test


def test_infill_holes_rebuild_the_canonical_solution():
    single = get_task("humaneval-infill-single").problems()
    multi = get_task("humaneval-infill-multi").problems()
    assert (len(single), len(multi)) == (1033, 5815)  # InCoder's counts
    base = {p.task_id: p for p in get_task("humaneval").problems()}
    for p in single[:40] + multi[:40]:
        original = base[p.meta["base_task"]]
        assert p.program(p.reference) == original.prompt + original.canonical_solution
    assert single[0].stop == ("\n",) and multi[0].stop == ()
    capped = get_task("humaneval-infill-multi", TaskOptions(max_per_problem=3), seed=7).problems()
    assert len(capped) == sum(min(3, sum(1 for q in multi if q.meta["base_task"] == t)) for t in base)
    again = get_task("humaneval-infill-multi", TaskOptions(max_per_problem=3), seed=7).problems()
    assert [p.task_id for p in capped] == [p.task_id for p in again]


def test_infill_single_keeps_the_line_break_in_the_middle():
    task = get_task("humaneval-infill-single")
    p = task.problems()[0]
    assert task.postprocess(p, "    for x in y:\n    junk") == "    for x in y:\n"


def test_mbpp_both_releases_and_splits():
    sanitized = get_task("mbpp", TaskOptions(path=f"{MBPP}/sanitized-mbpp.json", split="all")).problems()
    assert len(sanitized) == 427
    full = get_task("mbpp", TaskOptions(path=f"{MBPP}/mbpp.jsonl")).problems()
    assert len(full) == 500 and full[0].task_id == "Mbpp/11"
    # a directory: the sanitized release is preferred (7 of its problems are in the 1-10 prompt split)
    assert len(get_task("mbpp", TaskOptions(path=MBPP, split="prompt")).problems()) == 7
    p = full[0]
    assert p.prompt.startswith('"""\nWrite a python function to remove first and last occurrence')
    assert p.entry_point == "remove_Occ" and p.test.count("assert") == 3
    assert p.meta["public_tests"] == ['assert remove_Occ("hello","l") == "heo"']
    with pytest.raises(ConfigError, match=r"task_options\.path"):
        get_task("mbpp")
    with pytest.raises(ConfigError, match="variant"):
        get_task("mbpp", TaskOptions(path=f"{MBPP}/mbpp.jsonl", variant="sanitized")).problems()


def test_user_jsonl_tasks(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [{"task_id": "js/add", "prompt": "function add(a, b) {\n", "entry_point": "add", "language": "js",
             "test": "const assert = require('node:assert');\nassert.strictEqual(add(1, 2), 3);\n",
             "canonical_solution": "  return a + b;\n}\n"},
            {"task_id": "py/sq", "prompt": "def sq(x):\n", "entry_point": "sq",
             "test": "def check(candidate):\n    assert candidate(3) == 9\n"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    problems = get_task(str(path)).problems()  # a path is a user task
    assert [p.language for p in problems] == ["javascript", "python"]
    assert problems[0].stop[0] == "\nfunction "
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n{oops\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2 is not valid JSON"):
        get_task(str(bad)).problems()
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"task_id": "x", "prompt": "p"}) + "\n")
    with pytest.raises(InputError, match="lacks test"):
        get_task(str(missing)).problems()


def _write_repo(root):
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "geometry.py").write_text(
        "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n\n\n"
        "def square_area(side):\n    return side * side\n")
    (root / "pkg" / "shapes.py").write_text(
        "from pkg.geometry import circle_area, square_area\n\n\nclass Circle:\n    def __init__(self, radius):\n"
        "        self.radius = radius\n\n    def area(self):\n        return circle_area(self.radius)\n\n\n"
        "class Square:\n    def __init__(self, side):\n        self.side = side\n\n    def area(self):\n"
        "        return square_area(self.side)\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "x.py").write_text("ignored = True\n" * 20)


@pytest.mark.parametrize("retrieval", ["bm25", "overlap"])
def test_repo_next_line_retrieves_cross_file_context(tmp_path, retrieval):
    _write_repo(tmp_path)
    opts = TaskOptions(path=str(tmp_path), lines_per_file=50, top_k=1, chunk_lines=6, retrieval=retrieval)
    problems = get_task("repo-next-line", opts, seed=1).problems()
    assert all("node_modules" not in p.task_id for p in problems)
    target = next(p for p in problems if p.reference == "return circle_area(self.radius)")
    assert "# Path: pkg/geometry.py\n# import math" in target.prompt or "# def circle_area(radius):" in target.prompt
    assert target.prompt.rstrip().endswith("def area(self):")
    assert target.meta["snippets"] == ["pkg/geometry.py"]
    again = get_task("repo-next-line", opts, seed=1).problems()
    assert [p.prompt for p in again] == [p.prompt for p in problems]


def test_perplexity_documents_from_a_corpus(tmp_path):
    records = [make_record("r", f"f{i}.py", f"x = {i}\n", "Python") for i in range(5)]
    write_corpus({"train": records, "validation": records[:2]}, tmp_path)
    opts = TaskOptions(path=str(tmp_path), split="validation")
    problems = get_task("perplexity", opts).problems()
    assert [p.task_id for p in problems] == ["r/f0.py", "r/f1.py"]


def test_registry_and_helpers():
    names = {t.name for t in list_tasks()}
    assert {"humaneval", "humaneval-infill-single", "humaneval-infill-multi", "mbpp", "jsonl", "repo-next-line",
            "perplexity"} <= names
    with pytest.raises(ConfigError, match="unknown task 'humaneva'"):
        get_task("humaneva")
    assert truncate_at_stop("a\ndef b\nprint", ("\ndef", "\nprint")) == "a"
    with pytest.raises(ConfigError, match="unknown task ids"):
        get_task("humaneval", TaskOptions(ids=["HumanEval/999"])).problems()
