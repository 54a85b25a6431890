"""Logging (log.jsonl, TensorBoard, MLflow, summary, plot) and the two other families end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from codelm.runs import RunDir
from codelm.train import train


@pytest.mark.timeout(120)
def test_every_tracker_records_the_run(make_cfg):
    cfg = make_cfg("tracked", loop={"max_steps": 4, "num_threads": 1}, eval={"every": 2, "batches": 1},
                   checkpoint={"every": 0}, logging={"every": 2, "tensorboard": True, "mlflow": True})
    result = train(cfg)
    run = Path(result.run_dir)
    events = [r["event"] for r in RunDir(run).read_log()]
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("step") == 4 and events.count("perf") == 2 and events.count("eval") == 3
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    import mlflow

    client = mlflow.tracking.MlflowClient((run / "mlruns").as_uri())
    run_id = (run / "mlflow_run_id.txt").read_text()
    history = client.get_metric_history(run_id, "train/loss")
    assert [m.step for m in history] == [2, 4]
    assert client.get_metric_history(run_id, "val/loss")[-1].value == pytest.approx(result.val_loss)
    assert client.get_run(run_id).data.params["loop.max_steps"] == "4"
    assert {p.name for p in (run / "mlruns").rglob("artifacts/*")} >= {"summary.md", "loss.png"}
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (run / "summary.md").read_text()
    assert "validation loss drop" in summary and "MFU" in summary and "![loss](loss.png)" in summary
    assert result.initial_val_loss > result.val_loss
    assert 0 < result.mfu < 1 and result.tokens == 4 * 4 * 32


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("preset", "objective"),
    [("encoder-tiny", {"name": "mlm"}), ("encdec-tiny", {"name": "span"})],
)
def test_encoder_and_encoder_decoder_train_and_improve(make_cfg, preset, objective):
    cfg = make_cfg(
        preset,
        model={"preset": preset, "hidden_size": 32, "num_layers": 1, "num_heads": 2},
        objectives=[objective],
        loop={"max_steps": 8, "num_threads": 1},
        eval={"every": 0, "batches": 1},
        logging={"plots": False},
    )
    result = train(cfg)
    assert result.step == 8 and math.isfinite(result.val_loss)
    assert result.val_loss < result.initial_val_loss
    assert Path(result.last_checkpoint, "model.safetensors").is_file()
