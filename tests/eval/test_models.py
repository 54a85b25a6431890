"""Generation backends with a tiny real model: local checkpoint, OpenAI-compatible endpoint,
determinism and resumed generation; perplexity on a corpus split."""

from __future__ import annotations

import json
import math
import socket
import threading
import time

import pytest

from codelm.data.corpus import make_record, write_corpus
from codelm.errors import ConfigError
from codelm.eval.config import EvalConfig
from codelm.eval.harness import JsonlLog, evaluate
from codelm.eval.tasks.perplexity import document_nll


def _cfg(tmp_path, model, out="run", **extra):
    data = {"task": "humaneval", "model": str(model), "out": str(tmp_path / out), "seed": 3,
            "task_options": {"limit": 2}, "generation": {"n": 2, "temperature": 0.8, "max_new_tokens": 8},
            "execution": {"cache_dir": str(tmp_path / "cache"), "timeout_s": 4.0}, "report": False}
    data.update(extra)
    return EvalConfig.model_validate(data)


@pytest.mark.timeout(180)
def test_local_model_generation_is_deterministic_and_resumable(tmp_path, tiny_model, sandbox):
    first, run1 = evaluate(_cfg(tmp_path, tiny_model), sandbox=sandbox)
    assert first["samples"] == 4 and "sandbox_error" not in first["statuses"]
    assert first["generation"]["backend"] == "local"
    samples = JsonlLog(run1.path / "samples.jsonl").read()
    assert len(samples) == 4 and len({s["completion"] for s in samples}) > 1  # sampled, not greedy
    second, run2 = evaluate(_cfg(tmp_path, tiny_model, out="again"), sandbox=sandbox)
    assert JsonlLog(run2.path / "samples.jsonl").read() == samples
    assert second["metrics"] == first["metrics"]
    # a generation killed after three lines (the last cut short) resumes to the same samples
    text = (run1.path / "samples.jsonl").read_text().splitlines(keepends=True)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "samples.jsonl").write_text("".join(text[:3]) + text[3][:10])
    evaluate(_cfg(tmp_path, tiny_model, out="partial"), sandbox=sandbox)
    assert JsonlLog(partial / "samples.jsonl").read() == samples


@pytest.mark.timeout(180)
def test_openai_compatible_endpoint(tmp_path, tiny_model, sandbox):
    import httpx
    import uvicorn

    from codelm.inference import ServeConfig, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServeConfig.model_validate({"load": {"model": str(tiny_model)}, "port": port,
                                                 "model_name": "tiny-test"}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/v1"
        summary, run = evaluate(_cfg(tmp_path, url), sandbox=sandbox)
        assert summary["generation"]["backend"] == "openai" and summary["generation"]["model"] == "tiny-test"
        samples = JsonlLog(run.path / "samples.jsonl").read()
        assert len(samples) == 4 and "sandbox_error" not in summary["statuses"]
        _, run2 = evaluate(_cfg(tmp_path, url, out="again"), sandbox=sandbox)
        assert JsonlLog(run2.path / "samples.jsonl").read() == samples  # seeded per problem
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_unknown_model_spec_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither a model directory"):
        evaluate(_cfg(tmp_path, tmp_path / "missing"))


@pytest.mark.timeout(120)
def test_perplexity_on_a_corpus_split(tmp_path, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    docs = ["def add(a, b):\n    return a + b\n" * 3, "for i in range(10):\n    print(i)\n"]
    write_corpus({"validation": [make_record("r", f"f{i}.py", d, "Python") for i, d in enumerate(docs)]}, tmp_path / "c")
    cfg = EvalConfig.model_validate({"task": "perplexity", "model": str(tiny_model), "out": str(tmp_path / "run"),
                                     "task_options": {"path": str(tmp_path / "c"), "split": "validation"}})
    summary, run = evaluate(cfg)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    nll = tokens = 0
    for doc in docs:  # one window holds each document: plain next-token NLL
        ids = torch.tensor([[tok.bos_token_id, *tok(doc, add_special_tokens=False)["input_ids"]]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        nll += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
        tokens += ids.shape[1] - 1
    assert summary["metrics"]["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    assert summary["tokens"] == tokens
    assert summary["metrics"]["bits_per_byte"] == pytest.approx(nll / math.log(2) / sum(len(d) for d in docs), rel=1e-5)
    rows = [json.loads(line) for line in (run.path / "results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["r/f0.py", "r/f1.py"]
    # sliding windows: every token is predicted exactly once whatever the window
    total, count = document_nll(model, tok, docs[0], window=8, stride=4)
    assert count == len(tok(docs[0], add_special_tokens=False)["input_ids"])
    assert math.isfinite(total) and total > 0
    # a token cap scores each document's first N tokens only
    capped = cfg.model_copy(update={"out": str(tmp_path / "run-capped"),
                                    "task_options": cfg.task_options.model_copy(update={"max_document_tokens": 5})})
    summary_capped, _ = evaluate(capped)
    assert summary_capped["tokens"] == 2 * 5


@pytest.mark.timeout(120)
def test_local_model_infills_through_its_fim_tokens(tmp_path, tiny_model, sandbox):
    cfg = _cfg(tmp_path, tiny_model, task="humaneval-infill-single", generation={"n": 1, "max_new_tokens": 6})
    summary, run = evaluate(cfg, sandbox=sandbox)
    assert summary["samples"] == 2 and set(summary["metrics"]) == {"pass@1", "exact_match"}
    assert all(s["completion"].endswith("\n") for s in JsonlLog(run.path / "samples.jsonl").read())


def test_prompts_longer_than_the_context_are_cut_from_the_left(tiny_model):
    from codelm.eval.generation import GenItem, LocalBackend

    backend = LocalBackend(str(tiny_model))
    room = backend.generator.max_model_len - 4
    ids = list(range(200, 200 + room + 50))
    assert backend._fit(ids, 4) == ids[-room:]
    assert backend._fit(ids[:10], 4) == ids[:10]
    long_prefix = "x = 1\n" * 1500
    prefix, suffix = backend._fit_infill(long_prefix, "y = 2\n" * 1500, 4)
    tok = backend.generator.tokenizer
    n_pre = len(tok(prefix, add_special_tokens=False)["input_ids"])
    n_suf = len(tok(suffix, add_special_tokens=False)["input_ids"])
    assert long_prefix.endswith(prefix) and suffix.startswith("y = 2")
    assert n_pre + n_suf <= room - LocalBackend.FIM_OVERHEAD and n_suf <= (room - LocalBackend.FIM_OVERHEAD) // 3
    # a prompt far beyond the context still generates instead of failing
    from codelm.eval.config import GenerationOptions

    out = backend.complete([GenItem(long_prefix, 1, 0)], GenerationOptions(temperature=0.0, max_new_tokens=4))
    assert len(out) == 1 and len(out[0]) == 1
