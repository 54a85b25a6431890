"""SIGKILL at an arbitrary moment, then --resume: the per-step losses equal an uninterrupted run's, bitwise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from codelm.train import train
from codelm.train.checkpoint import list_checkpoints
from codelm.train.tracking import step_losses

STEPS = 60
SECTIONS = {
    "loop": {"max_steps": STEPS, "micro_batch_size": 4, "num_threads": 1},
    "checkpoint": {"every": 8, "keep_last": 2},
    "eval": {"every": 10, "batches": 1},
    "logging": {"every": 1, "plots": False},
}


def _logged_steps(log: Path) -> int:
    """Highest step in the log (a line still being written is skipped)."""
    from codelm.runs import RunDir

    return max((r["step"] for r in RunDir(log.parent).read_log("step")), default=0)


def _start(cfg_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "codelm", "train", str(cfg_path), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_step(proc: subprocess.Popen, log: Path, step: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while _logged_steps(log) < step:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the training subprocess made no progress"
        time.sleep(0.005)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_then_resume_reproduces_every_step_loss(make_cfg, tmp_path):
    reference = step_losses(train(make_cfg("reference", **SECTIONS)).run_dir)
    assert sorted(reference) == list(range(1, STEPS + 1))

    cfg = make_cfg("killed", **SECTIONS)
    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    run = Path(cfg.out)
    proc = _start(cfg_path)
    try:
        _wait_for_step(proc, run / "log.jsonl", 27)  # past checkpoints 8..24, between two of them
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _logged_steps(run / "log.jsonl")
    assert killed_at < STEPS
    newest = list_checkpoints(run / "checkpoints")[-1].step
    assert newest >= 24 and newest <= killed_at

    result = train(cfg, resume=True)
    assert result.resumed_from == newest
    assert result.step == STEPS
    assert step_losses(run) == reference  # bitwise: same floats, every step


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_saves_and_exits_then_resume_continues(make_cfg, tmp_path):
    cfg = make_cfg("terminated", **{**SECTIONS, "checkpoint": {"every": 0}})
    cfg_path = tmp_path / "terminated.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    run = Path(cfg.out)
    proc = _start(cfg_path, "--json")
    try:
        _wait_for_step(proc, run / "log.jsonl", 5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    result = json.loads(out)
    assert result["stop_reason"] == "signal" and result["signal"] == signal.SIGTERM
    stopped = result["step"]
    assert 5 <= stopped < STEPS
    assert [c.step for c in list_checkpoints(run / "checkpoints")] == [stopped]
    assert (run / "last").resolve() == (run / "checkpoints" / f"step-{stopped:06d}").resolve()

    resumed = train(cfg, resume=True)
    assert resumed.resumed_from == stopped and resumed.step == STEPS
    assert sorted(step_losses(run)) == list(range(1, STEPS + 1))
