"""Fixtures for the objective tests: the standard-library corpus, a tiny tokenizer, tiny models.

The statistical tests run on real code: the `.py` files of the running
Python's standard library, read directly (sorted, so the order is the same
on every machine with the same Python). Statistics that need many samples
use function-level snippets (≥ 10k); the full-corpus runs live in
`benchmarks/bench_objectives.py` (see docs/objectives.md).
"""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

import pytest

SNIPPET_MIN_CHARS = 40
SNIPPET_MAX_CHARS = 500
NUM_SNIPPETS = 12_000


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def read_stdlib() -> list[dict]:
    """Every stdlib `.py` file as a corpus-like document, sorted by path."""
    root = stdlib_root()
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "site-packages" in rel.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        docs.append({"repo": "cpython/" + (rel.parts[0] if len(rel.parts) > 1 else "Lib"),
                     "path": str(rel), "language": "python", "content": text})
    return docs


_DEF = re.compile(r"\n(?=[ \t]*(?:async[ \t]+)?def )")


def split_snippets(docs: list[dict]) -> list[dict]:
    """Function-level snippets: each file cut before every `def` line (a text split, not a parse)."""
    out = []
    for doc in docs:
        parts = _DEF.split(doc["content"])
        for part in parts[1:]:
            if SNIPPET_MIN_CHARS <= len(part) <= SNIPPET_MAX_CHARS:
                out.append({**doc, "content": part})
    return out


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run ~10x faster on one thread than on two contended ones (shared 2-core CI)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def stdlib_docs() -> list[dict]:
    return read_stdlib()


@pytest.fixture(scope="session")
def snippets(stdlib_docs) -> list[dict]:
    """≥ 10k function-level snippets spread evenly over the whole standard library."""
    everything = split_snippets(stdlib_docs)
    stride = max(1, len(everything) // NUM_SNIPPETS)
    picked = everything[::stride][:NUM_SNIPPETS]
    assert len(picked) >= 10_000
    return picked


@pytest.fixture(scope="session")
def tokenizer(stdlib_docs):
    """A 1k-vocabulary code BPE trained on 0.5 MB of the standard library (about a second)."""
    from codelm.tokenizer import train_tokenizer

    texts, size = [], 0
    for doc in stdlib_docs[::15]:
        texts.append(doc["content"])
        size += len(doc["content"])
        if size > 500_000:
            break
    return train_tokenizer(texts, vocab_size=1024)


def tiny_model(family: str, vocab_size: int, seed: int = 0, **overrides):
    """hidden 32, one layer: big enough to learn, small enough for 50 steps in a second."""
    from codelm.models import build_model
    from codelm.models.config import ModelConfig

    kwargs = {"family": family, "hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}
    if family != "encdec":
        kwargs["max_position_embeddings"] = 256
    kwargs.update(overrides)
    return build_model(ModelConfig(**kwargs), vocab_size, seed=seed)


@pytest.fixture
def make_model():
    return tiny_model


def list_source(docs: list[dict]):
    """A DocumentSource over a list: `source(epoch, start)`."""

    def source(epoch: int, start: int):
        yield from docs[start:]

    return source


@pytest.fixture
def source_of():
    return list_source
