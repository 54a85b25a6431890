"""Decontamination: HumanEval from the installed wheel, user JSONL benchmarks, exact reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codelm.data.config import DecontamConfig
from codelm.data.decontam import Decontaminator, HashSet, humaneval_texts, informative, normalise
from codelm.data.pipeline import build_corpus
from codelm.errors import InputError

MBPP = Path("/work/shared/data/mbpp/mbpp.jsonl")  # tests only: the product takes benchmark files by path


@pytest.fixture(scope="module")
def humaneval():
    problems = {}
    for item in humaneval_texts():
        task, _, kind = item.name.partition(":")
        problems.setdefault(task.removeprefix("humaneval/"), {})[kind] = item.text
    return problems


@pytest.fixture(scope="module")
def decontam():
    return Decontaminator(DecontamConfig())


def test_humaneval_comes_from_the_wheel(humaneval):
    assert len(humaneval) == 164
    assert humaneval["HumanEval/0"]["docstring"].startswith(" Check if in given list of numbers")
    assert humaneval["HumanEval/0"]["solution"].startswith("    for idx, elem in enumerate(numbers):")


def test_normalise_strips_all_whitespace_and_case():
    assert normalise("  Return  X\n\t+ 1 ") == "returnx+1"


def test_canonical_solution_found_through_whitespace_and_case_changes(decontam, humaneval):
    solution = humaneval["HumanEval/12"]["solution"]
    disguised = solution.replace("    ", "\t").upper()
    text = "import os\n\ndef longest(strings):\n" + disguised + "\n\nprint(longest(['a']))\n"
    assert decontam.check(text) == "substring humaneval/HumanEval/12:solution"


def test_docstring_found_inside_other_code(decontam, humaneval):
    doc = humaneval["HumanEval/0"]["docstring"]
    text = f'def other(values):\n    """{doc}"""\n    return sorted(values)\n'
    assert decontam.check(text) == "substring humaneval/HumanEval/0:docstring"


def test_shared_10_gram(decontam, humaneval):
    words = " ".join(humaneval["HumanEval/0"]["docstring"].split()[:11])  # 11 words: two 10-grams
    text = f"# {words} -- paraphrased elsewhere\nx = 1\n"
    assert decontam.check(text) == "10-gram humaneval/HumanEval/0:docstring"
    nine = " ".join(humaneval["HumanEval/0"]["docstring"].split()[:9])
    assert decontam.check(f"# {nine}\nx = 1\n") is None


def test_generic_code_and_uninformative_ngrams_are_not_contamination(decontam):
    assert decontam.check("def add(a, b):\n    return a + b\n") is None  # shorter than min_chars
    hex_digits = "DIGITS = '0, 1, 2, 3, 4, 5, 6, 7, 8, 9, A, B, C, D, E, F'\n"  # a 10-gram of HumanEval/78
    assert decontam.check(hex_digits) is None
    assert not informative(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    assert not informative(["zero", "0", "one", "1", "two", "2", "three", "3", "four", "4"])
    assert informative(["check", "if", "in", "given", "list", "of", "numbers", "are", "any", "two"])


def test_hashset_membership():
    keys = [5, 1 << 40, 123456789, (1 << 64) - 1]
    hs = HashSet(keys)
    probe = np.array([5, 6, 1 << 40, (1 << 40) + 1, (1 << 64) - 1, 123456789 + (1 << 20)], dtype=np.uint64)
    assert hs.contains(probe).tolist() == [True, False, True, False, True, False]
    assert HashSet([]).contains(probe).tolist() == [False] * 6


def test_user_jsonl_benchmark(tmp_path):
    rows = [json.loads(line) for line in MBPP.read_text().splitlines()[:50]]
    decontam = Decontaminator(DecontamConfig(humaneval=False, benchmarks=[{"path": str(MBPP), "fields": ["code"]}]))
    planted = "# helpers\n" + rows[1]["code"].replace("\r\n", "\n") + "\n"
    assert decontam.check(planted) == f"substring mbpp/{rows[1]['task_id']}:code"
    assert decontam.check("def unrelated():\n    return 42\n") is None
    with pytest.raises(InputError, match=r"decontam\.benchmarks: '.*missing\.jsonl' does not exist"):
        Decontaminator(DecontamConfig(benchmarks=[str(tmp_path / "missing.jsonl")]))


def test_planted_humaneval_solution_is_removed_from_a_build(tmp_path, humaneval, make_program, tree, config):
    planted = (
        "import math\n\n\ndef has_close_elements(numbers, threshold):\n"
        + humaneval["HumanEval/0"]["solution"]
        + "\n\nprint(has_close_elements([1.0, 2.0], 0.5))\n"
    )
    files = {f"m{i}.py": make_program(i) for i in range(6)} | {"leak.py": planted}
    root = tree(tmp_path / "src", files)
    manifest = build_corpus(config([{"kind": "dir", "path": str(root)}]), tmp_path / "out", workers=0)
    assert manifest["decontaminated"] == 1
    assert manifest["files_out"] == 6
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rejects == [
        {"repo": "src", "path": "leak.py", "reason": "decontaminated", "detail": "substring humaneval/HumanEval/0:solution"}
    ]
    off = config([{"kind": "dir", "path": str(root)}], decontam={"enabled": False})
    assert build_corpus(off, tmp_path / "off", workers=0)["files_out"] == 7
