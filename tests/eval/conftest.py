"""Fixtures for the evaluation tests: no network, one shared sandbox, a tiny real model."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from codelm.eval.generation import Backend, GenItem

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection beyond loopback fails loudly: evaluation must never download."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            raise OSError(f"network disabled in tests (tried {address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: guarded(self, address) or 0)


@pytest.fixture(scope="session")
def sandbox():
    from codelm.eval.sandbox import Sandbox, SandboxConfig

    sb = Sandbox(SandboxConfig(workers=2))
    sb.start()
    yield sb
    sb.close()


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


class ScriptedBackend(Backend):
    """A stand-in for a model whose answers a test fixes in advance.

    `answers(item) -> list[str]` decides the texts; every request is recorded.
    """

    name = "scripted"

    def __init__(self, answers):
        self.answers = answers
        self.requests: list[GenItem] = []

    def complete(self, items, options):
        self.requests.extend(items)
        return [self.answers(item) for item in items]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real (random-weight) Llama checkpoint with a codelm BPE tokenizer, saved in HF format."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from codelm.tokenizer import save_tokenizer, train_tokenizer

    root = tmp_path_factory.mktemp("tiny-model")
    texts = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 20
    save_tokenizer(train_tokenizer(texts, 512), root)
    tok = PreTrainedTokenizerFast.from_pretrained(root)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(root)
    return root


@pytest.fixture
def scripted():
    """The ScriptedBackend class (test modules cannot import conftest in importlib mode)."""
    return ScriptedBackend
