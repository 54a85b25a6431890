"""Data parallelism through accelerate: 2 gloo processes × batch B == 1 process × batch 2B."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from codelm.train import train
from codelm.train.launch import accelerate_config
from codelm.train.tracking import step_losses

DDP_CONFIG = accelerate_config("ddp_cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_gloo_processes_match_one_process_with_twice_the_batch(make_cfg, tmp_path):
    sections = {
        "eval": {"every": 3, "batches": 2, "batch_size": 4},
        "checkpoint": {"every": 0},
        "logging": {"every": 1, "plots": False},
    }
    single = train(make_cfg("single", loop={"max_steps": 5, "micro_batch_size": 4, "num_threads": 1}, **sections))

    ddp_cfg = make_cfg("ddp", loop={"max_steps": 5, "micro_batch_size": 2, "num_threads": 1}, **sections)
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(yaml.safe_dump(ddp_cfg.model_dump(mode="json")))
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--config_file", str(DDP_CONFIG), "--num_processes", "2",
           "--main_process_port", str(_free_port()), "-m", "codelm", "train", str(cfg_path), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]

    run = Path(ddp_cfg.out)
    start = next(r for r in (yaml.safe_load(line) for line in (run / "log.jsonl").read_text().splitlines()) if r["event"] == "start")
    assert start["world_size"] == 2 and start["global_batch"] == 4
    a, b = step_losses(single.run_dir), step_losses(run)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
    for step in a:
        assert abs(a[step] - b[step]) < 1e-5, (step, a[step], b[step])
    # Evaluation is split across ranks and reduced: the same numbers as one process.
    evals = lambda path: [r["val_loss"] for r in (yaml.safe_load(x) for x in (Path(path) / "log.jsonl").read_text().splitlines()) if r["event"] == "eval"]  # noqa: E731
    assert len(evals(run)) == len(evals(single.run_dir)) == 3  # start, step 3, end
    for x, y in zip(evals(run), evals(single.run_dir), strict=True):
        assert abs(x - y) < 1e-5

    # The checkpoint of the DDP-wrapped model is a plain HF directory, with unprefixed weights.
    ckpt = run / "last"
    keys = set(load_file(str(ckpt / "model.safetensors")))
    assert keys and not any(k.startswith(("module.", "_orig_mod.")) for k in keys)
    model = AutoModelForCausalLM.from_pretrained(str(ckpt))
    assert model.config.hidden_size == 32
