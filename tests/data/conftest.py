"""Fixtures for the corpus-builder tests: synthetic code made at test time, small builds.

`program(seed)` writes a plausible Python module from a seeded word list, so
two seeds give files of the same shape (imports, functions, docstrings,
loops) but different words; near-duplicates are made by editing a few lines.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from codelm.data.config import DataConfig

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "basalt", "cedar", "dune", "ember", "fjord", "glacier", "harbor", "island", "jungle", "kelp", "lagoon", "meadow", "nectar", "orchid", "prairie", "quartz", "river", "summit", "tundra", "valley", "willow", "yarrow", "zephyr", "anchor", "beacon", "canyon", "delta", "estuary", "forest", "grove", "heath", "inlet", "jetty", "knoll"]


def program(seed: int, functions: int = 8) -> str:
    """A deterministic pseudo-module: same shape for every seed, different identifiers and prose."""
    rng = random.Random(seed)
    pick = lambda k=1: "_".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    lines = [f'"""Utilities for {pick()} {pick()} and {pick()} handling."""', "", "import os", "import sys", ""]
    for _ in range(functions):
        name, a, b = pick(2), pick(), pick()
        lines += [
            f"def {name}({a}, {b}=None):",
            f'    """Return the {pick()} of {a} when {pick()} {pick()} is {pick()}."""',
            f"    {pick()} = []",
            f"    for {pick()} in range(len({a})):",
            f"        if {a}[{rng.randint(0, 9)}] > {rng.randint(10, 999)}:",
            f"            {pick()}.append({a} * {rng.randint(2, 50)})",
            f"    return {b} or {pick()}",
            "",
        ]
    return "\n".join(lines) + "\n"


def edit(text: str, seed: int, lines: int = 2) -> str:
    """A near-duplicate: `lines` lines replaced with new statements."""
    rng = random.Random(seed)
    rows = text.splitlines()
    for _ in range(lines):
        i = rng.randrange(len(rows))
        rows[i] = f"    {rng.choice(WORDS)}_{rng.choice(WORDS)} = {rng.randint(0, 10**6)}"
    return "\n".join(rows) + "\n"


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def small_config(sources: list, **overrides) -> DataConfig:
    """Test builds: small tasks, no report (matplotlib costs a second), no split holdout by default."""
    base = {"sources": sources, "task_files": 8, "report": False}
    base.update(overrides)
    return DataConfig.model_validate(base)


@pytest.fixture
def make_program() -> Callable[..., str]:
    return program


@pytest.fixture
def make_edit() -> Callable[..., str]:
    return edit


@pytest.fixture
def tree() -> Callable[[Path, dict[str, str | bytes]], Path]:
    return write_tree


@pytest.fixture
def config() -> Callable[..., DataConfig]:
    return small_config
