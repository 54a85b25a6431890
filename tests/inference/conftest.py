"""Tiny checkpoints built once per session: a decoder trained for ~3 s, a random T5.

The decoder memorises three snippets, plain and in PSM fill-in-the-middle
layout, so greedy output is readable and infilling has a right answer
(" range(10):\\n    print(i)\\n" after "for i in"; "print(i)" between
"for i in range(10):\\n    " and "\\n"). Training runs on one thread so
the weights (and the outputs) do not depend on thread scheduling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

DOCS = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n    print(i)\n",
    "import os\nprint(os.getcwd())\n",
]
DIMS = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread; two OpenMP threads on a busy 2-core machine spin-wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _examples(tok) -> list[list[int]]:
    from codelm.tokenizer.special import EOS_ID, SPECIAL_IDS

    def enc(s: str) -> list[int]:
        return tok(s, add_special_tokens=False)["input_ids"]

    fp, fs, fm = (SPECIAL_IDS[t] for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    out = []
    for doc in DOCS:
        out.append([*enc(doc), EOS_ID])
        lines = doc.splitlines(keepends=True)
        for k, line in enumerate(lines):  # PSM: the middle is line k without its indentation
            indent = len(line) - len(line.lstrip(" "))
            prefix = "".join(lines[:k]) + line[:indent]
            middle = line[indent:].rstrip("\n")
            suffix = "\n" + "".join(lines[k + 1 :])
            out.append([fp, *enc(prefix), fs, *enc(suffix), fm, *enc(middle), EOS_ID])
    return out


@pytest.fixture(scope="session")
def tokenizer():
    from codelm.tokenizer import train_tokenizer

    return train_tokenizer(DOCS * 10, 400, min_frequency=1)


@pytest.fixture(scope="session")
def decoder_dir(tmp_path_factory, tokenizer) -> Path:
    from codelm.models import ModelConfig, build_model
    from codelm.tokenizer import save_tokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(
            ModelConfig(preset="decoder-tiny", num_kv_heads=2, max_position_embeddings=256, **DIMS),
            len(tokenizer),
            seed=0,
        )
        examples = _examples(tokenizer)
        T = max(map(len, examples))
        ids = torch.full((len(examples), T), tokenizer.pad_token_id)
        labels = torch.full((len(examples), T), -100)
        for b, e in enumerate(examples):
            ids[b, : len(e)] = torch.tensor(e)
            labels[b, : len(e)] = torch.tensor(e)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1.5e-2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for _ in range(80):
                model(input_ids=ids, labels=labels).loss.backward()
                opt.step()
                opt.zero_grad()
        model.eval()
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("decoder")
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out)
    return out


@pytest.fixture(scope="session")
def encdec_dir(tmp_path_factory, tokenizer) -> Path:
    from codelm.models import ModelConfig, build_model
    from codelm.tokenizer import save_tokenizer

    model = build_model(ModelConfig(preset="encdec-tiny", **DIMS), len(tokenizer), seed=1)
    out = tmp_path_factory.mktemp("encdec")
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out)
    return out


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory, tokenizer) -> Path:
    """A random ModernBERT masked LM: generation goes through the diffusion sampler."""
    from codelm.models import ModelConfig, build_model
    from codelm.tokenizer import save_tokenizer

    dims = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}
    model = build_model(ModelConfig(preset="encoder-tiny", **dims), len(tokenizer), seed=2)
    out = tmp_path_factory.mktemp("encoder")
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out)
    return out


@pytest.fixture(scope="session")
def decoder(decoder_dir):
    from codelm.inference import load_generator

    return load_generator(decoder_dir)


@pytest.fixture(scope="session")
def encdec(encdec_dir):
    from codelm.inference import load_generator

    return load_generator(encdec_dir)


class LiveServer:
    """A real uvicorn server on 127.0.0.1 with an ephemeral port, in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                return
            time.sleep(0.02)
        raise RuntimeError("model did not load")

    @property
    def state(self):
        return self.app.state.codelm

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def make_server(generator, model_dir: Path, name: str, **settings) -> LiveServer:
    """A server over an already loaded generator (the real TorchBackend, no reload)."""
    from codelm.inference.config import LoadConfig, ServeConfig
    from codelm.inference.server.app import create_app
    from codelm.inference.server.backend import TorchBackend

    cfg = ServeConfig(load=LoadConfig(model=model_dir), model_name=name, **settings)
    return LiveServer(create_app(cfg, loader=lambda: TorchBackend(generator, cfg)))


@pytest.fixture(scope="session")
def server_for():
    """`server_for(app)`: a LiveServer for an app (use as a context manager)."""
    return LiveServer


@pytest.fixture(scope="session")
def server_over():
    """`server_over(generator, dir, name, **ServeConfig fields)`: a LiveServer over a loaded model."""
    return make_server


@pytest.fixture(scope="session")
def live_server(decoder_dir, decoder) -> Iterator[LiveServer]:
    """One server for the whole session over the trained decoder (model name 'tiny')."""
    with make_server(decoder, decoder_dir, "tiny", max_batch_size=8, max_queue=8) as srv:
        srv.wait_ready()
        yield srv


@pytest.fixture(scope="session")
def long_server(encdec_dir, encdec) -> Iterator[LiveServer]:
    """The random T5 (no position limit: 2048-token completions) for long-running requests."""
    with make_server(encdec, encdec_dir, "tiny-t5", max_batch_size=4, max_queue=4) as srv:
        srv.wait_ready()
        yield srv
