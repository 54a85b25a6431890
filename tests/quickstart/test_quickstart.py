"""End to end: `codelm quickstart --minutes 1`, then load and serve what it built.

This is the project's one full-pipeline test (corpus → tokenizer → training →
sandboxed evaluation → report); it runs in CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from codelm.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

METRICS = {
    "validation perplexity", "infill exact match", "infill edit similarity", "infill pass@1",
    "next-line exact match", "next-line edit similarity", "HumanEval pass@1", "HumanEval pass@10",
    "HumanEval greedy pass@1", "valid functions (sampled)", "valid functions (greedy)",
}
STAGES = ["corpus", "tokenizer", "init-model", "train", "heldout-files", "eval-init", "eval-trained"]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    assert main(["quickstart", "--minutes", "1", "--out", str(out), "--quiet"]) == 0
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_report_and_artifacts(quickstart):
    summary = json.loads((quickstart / "summary.json").read_text())
    assert set(summary["stages"]) == set(STAGES)
    assert set(summary["metrics"]["init"]) == METRICS and set(summary["metrics"]["trained"]) == METRICS
    corpus = summary["corpus"]
    accounted = corpus["files_out"] + sum(corpus["rejected"].values()) + corpus["duplicates"]["exact"] \
        + corpus["duplicates"]["near"] + corpus["decontaminated"]
    assert accounted == corpus["files_in"]
    training = summary["training"]
    assert training["step"] >= 1 and training["initial_val_loss"] > training["val_loss"]
    # Even a minute of training must beat the random initialisation on perplexity.
    assert summary["metrics"]["trained"]["validation perplexity"] < summary["metrics"]["init"]["validation perplexity"]
    assert summary["evaluations"]["trained"]["humaneval"]["tier"] == "bwrap"
    page = (quickstart / "report.html").read_text()
    for heading in ("What was built", "Trained vs untrained", "Completions by the trained model", "Continue"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("data:image/png;base64,") == 2  # loss curves and metric bars
    assert "codelm serve --model" in page
    md = (quickstart / "summary.md").read_text()
    assert "| HumanEval pass@10 |" in md and "honest expectation" in md


def test_second_run_reuses_every_stage(quickstart, capsys):
    assert main(["quickstart", "--minutes", "1", "--out", str(quickstart), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((quickstart / "summary.json").read_text())
    assert all(s["reused"] for s in summary["stages"].values())
    assert result["report"] == str(quickstart / "report.html")


def test_checkpoint_loads_with_plain_transformers_and_is_served(quickstart):
    model_dir = quickstart / "train" / "model"
    code = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(model_dir)!r}); t = AutoTokenizer.from_pretrained({str(model_dir)!r})\n"
        "ids = t('def add(a, b):', return_tensors='pt').input_ids\n"
        "out = m.generate(ids, max_new_tokens=5, do_sample=False)\n"
        "assert 'codelm' not in sys.modules\n"
        "print(out.shape[1] - ids.shape[1])\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[-1] == "5"

    import httpx
    from openai import OpenAI

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "codelm", "serve", "--model", str(model_dir), "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.3)
        client = OpenAI(base_url=f"{base}/v1", api_key="none", timeout=30, max_retries=0)
        model_id = client.models.list().data[0].id
        reply = client.completions.create(model=model_id, prompt="def add(a, b):", suffix="\n", max_tokens=8,
                                          temperature=0)
        assert reply.choices[0].finish_reason in ("stop", "length")
        assert reply.usage.completion_tokens <= 8
    finally:
        server.terminate()
        server.wait(timeout=30)
