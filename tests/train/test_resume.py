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
@pytest.mark.timeout(240)
def test_sigkill_then_sigterm_then_resume_reproduce_every_step_loss(make_cfg, tmp_path):
    """SIGKILL at an arbitrary step, resume; SIGTERM that run, resume again: the same losses, bitwise."""
    reference = step_losses(train(make_cfg("reference", **SECTIONS)).run_dir)
    assert sorted(reference) == list(range(1, STEPS + 1))

    cfg = make_cfg("interrupted", **SECTIONS)
    cfg_path = tmp_path / "interrupted.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    run = Path(cfg.out)
    log = run / "log.jsonl"

    # 1. SIGKILL between two checkpoints: no chance to save anything.
    proc = _start(cfg_path)
    try:
        _wait_for_step(proc, log, 27)  # past checkpoints 8, 16, 24
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _logged_steps(log)
    newest = list_checkpoints(run / "checkpoints")[-1].step
    assert 24 <= newest <= killed_at < STEPS

    # 2. Resume in a new process, then SIGTERM it: it finishes the step, saves, exits 128+15.
    proc = _start(cfg_path, "--resume", "--json")
    try:
        _wait_for_step(proc, log, killed_at + 5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    stopped = json.loads(out)
    assert stopped["stop_reason"] == "signal" and stopped["signal"] == signal.SIGTERM
    assert stopped["resumed_from"] == newest and stopped["step"] < STEPS
    assert list_checkpoints(run / "checkpoints")[-1].step == stopped["step"]
    assert (run / "last").resolve().name == f"step-{stopped['step']:06d}"

    # 3. Resume to the end (in this process).
    result = train(cfg, resume=True)
    assert result.resumed_from == stopped["step"] and result.step == STEPS
    assert step_losses(run) == reference  # bitwise: the same floats at every step
