"""Tokenizer fixtures: a small deterministic sample of the running Python's standard library."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(max_size: int = 12_000) -> list[Path]:
    """Standard-library .py files (no site-packages) of 1..max_size bytes, sorted by path."""
    files = [
        p
        for p in sorted(STDLIB.rglob("*.py"))
        if not {"site-packages", "dist-packages"} & set(p.parts) and 1_000 <= p.stat().st_size <= max_size
    ]
    assert len(files) > 400, "expected a standard library to sample from"
    return files


def read_all(paths: list[Path]) -> list[str]:
    texts = []
    for p in paths:
        try:
            texts.append(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError:  # a few test files are deliberately not UTF-8
            continue
    return texts


@pytest.fixture(scope="session")
def stdlib_split() -> tuple[list[str], list[str]]:
    """(train texts ≈ 300 KB, 100 held-out texts); every 4th file is held out."""
    files = stdlib_files()
    train = read_all([p for i, p in enumerate(files) if i % 4 != 0][:60])
    held = read_all([p for i, p in enumerate(files) if i % 4 == 0][:100])
    return train, held


@pytest.fixture(scope="session")
def tokenizer(stdlib_split):
    from codelm.tokenizer import train_tokenizer

    return train_tokenizer(stdlib_split[0], 1000)
