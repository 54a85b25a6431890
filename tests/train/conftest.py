"""Tiny fixtures for training tests: a synthetic code corpus, a byte-level BPE, configs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from codelm.data.corpus import make_record, write_corpus

WORDS = ["value", "count", "item", "total", "name", "data", "result", "index", "left", "right", "node", "key"]


def synthetic_python(rng: random.Random) -> str:
    """A small, varied, deterministic Python-like file."""
    lines = []
    for _ in range(rng.randint(1, 4)):
        fn = rng.choice(WORDS) + "_" + rng.choice(WORDS)
        args = ", ".join(rng.sample(WORDS, rng.randint(1, 3)))
        lines.append(f"def {fn}({args}):")
        for _ in range(rng.randint(1, 5)):
            a, b = rng.sample(WORDS, 2)
            op = rng.choice(["+", "-", "*", "//"])
            lines.append(f"    {a} = {b} {op} {rng.randint(0, 99)}")
        lines.append(f"    return {rng.choice(WORDS)}\n")
    return "\n".join(lines) + "\n"


def make_corpus(root: Path, n_train: int = 120, n_val: int = 16, seed: int = 0) -> Path:
    rng = random.Random(seed)
    def records(n: int, prefix: str) -> list[dict[str, Any]]:
        return [make_record("synthetic/repo", f"{prefix}/m{i}.py", synthetic_python(rng), "Python") for i in range(n)]

    write_corpus({"train": records(n_train, "train"), "validation": records(n_val, "val")}, root, shard_size=50)
    return root


def make_tokenizer(root: Path, corpus: Path, vocab_size: int = 512) -> Path:
    from codelm.data.corpus import iter_documents
    from codelm.tokenizer import save_tokenizer, train_tokenizer

    texts = [d["content"] for d in iter_documents(corpus, "train")]
    save_tokenizer(train_tokenizer(texts, vocab_size), root)
    return root


TINY_LLAMA = {
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
}


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("train-assets")
    corpus = make_corpus(base / "corpus")
    tokenizer = make_tokenizer(base / "tokenizer", corpus)
    return {"corpus": corpus, "tokenizer": tokenizer}


def tiny_config(assets: dict[str, Path], out: Path, **sections: Any) -> dict[str, Any]:
    """A TrainConfig mapping for the tiny decoder; `sections` merge over the defaults."""
    from codelm.config import deep_merge

    base = {
        "seed": 0,
        "out": str(out),
        "model": {"hf": dict(TINY_LLAMA)},
        "tokenizer": str(assets["tokenizer"]),
        "data": {"corpus": str(assets["corpus"]), "seq_len": 32, "prefetch": 2},
        "objectives": [{"name": "clm"}],
        "optim": {"lr": 3e-3, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 2},
        "loop": {"max_steps": 6, "micro_batch_size": 4, "num_threads": 1},
        "eval": {"every": 3, "batches": 2},
        "checkpoint": {"every": 3, "keep_last": 2},
        "logging": {"every": 1},
        "perf": {"probe_seconds": 0.05},
    }
    model = sections.pop("model", None)
    merged = deep_merge(base, sections)
    if model is not None:  # a model section replaces the default one (sources are exclusive)
        merged["model"] = model
    return merged


@pytest.fixture
def make_cfg(tiny_assets: dict[str, Path], tmp_path: Path):
    """`make_cfg(name, **sections)` → a validated TrainConfig writing to tmp_path/name."""
    from codelm.config import validate
    from codelm.train import TrainConfig

    def make(name: str = "run", **sections: Any) -> TrainConfig:
        return validate(TrainConfig, tiny_config(tiny_assets, tmp_path / name, **sections))

    return make
