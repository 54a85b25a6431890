"""Where a run reports: log.jsonl always; TensorBoard and MLflow when enabled; loss.png and summary.md.

`log.jsonl` events written by the trainer:

    start      config summary, world size, device, peak FLOP/s, memory estimate
    resume     from_step: the checkpoint resumed (records after it from the killed run are stale)
    step       step, objective, loss, targets, lr, grad_norm, tokens (cumulative)
    perf       step, tokens_per_s, flops_per_s, mfu, data_wait (fraction of time waiting for data)
    eval       step, per objective loss/ppl, val_loss (mean over objectives), best
    checkpoint step, path
    end        stop reason, totals
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from codelm.errors import require
from codelm.runs import RunDir


def current_records(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """Records of `event` as the final, resumed history: a `resume` from step s
    discards records of steps after s written before it (the killed run's tail)."""
    kept: dict[int, dict[str, Any]] = {}
    for record in records:
        if record.get("event") == "resume":
            cut = int(record["from_step"])
            kept = {s: r for s, r in kept.items() if s <= cut}
        elif record.get("event") == event and "step" in record:
            kept[int(record["step"])] = record
    return [kept[s] for s in sorted(kept)]


def step_losses(run_dir: str | Path) -> dict[int, float]:
    """step → training loss of a run, as resumed runs would have logged it uninterrupted."""
    records = RunDir(Path(run_dir)).read_log()
    return {r["step"]: r["loss"] for r in current_records(records, "step")}


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


class Trackers:
    """TensorBoard and MLflow writers (main process only); each optional."""

    def __init__(
        self, run: RunDir, tensorboard: bool, mlflow: bool, config: dict[str, Any], mlflow_uri: str | None = None
    ) -> None:
        self.tb = None
        self.mlflow = None
        if tensorboard:
            require("tensorboard", "track", "logging.tensorboard")
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(log_dir=str(run.path / "tensorboard"))
        if mlflow:
            self.mlflow = require("mlflow", "track", "logging.mlflow")
            # Default: MLflow's local file store inside the run directory (mlruns/),
            # fast to open and readable by `mlflow ui --backend-store-uri`. MLflow 3
            # keeps that store in maintenance mode behind an explicit opt-in, given
            # here for our run-local store only; `logging.mlflow_uri` selects any
            # other backend (sqlite:///..., a tracking server).
            if mlflow_uri is None:
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
                uri = (run.path / "mlruns").resolve().as_uri()
            else:
                uri = mlflow_uri
            self.mlflow.set_tracking_uri(uri)
            name = "codelm-train"
            if self.mlflow.get_experiment_by_name(name) is None:
                self.mlflow.create_experiment(name)
            self.mlflow.set_experiment(name)
            id_file = run.path / "mlflow_run_id.txt"
            if id_file.is_file():  # a resumed run continues its MLflow run
                self.mlflow.start_run(run_id=id_file.read_text().strip())
            else:
                active = self.mlflow.start_run(run_name=run.path.name)
                id_file.write_text(active.info.run_id)
                params: dict[str, Any] = {}
                _flatten("", config, params)
                self.mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def scalars(self, step: int, values: dict[str, float]) -> None:
        finite = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}
        if self.tb is not None:
            for key, value in finite.items():
                self.tb.add_scalar(key, value, step)
        if self.mlflow is not None:
            self.mlflow.log_metrics({k.replace("@", "_"): v for k, v in finite.items()}, step=step)

    def artifact(self, path: Path) -> None:
        if self.mlflow is not None and path.exists():
            self.mlflow.log_artifact(str(path))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.mlflow is not None:
            self.mlflow.end_run()


def plot_losses(run: RunDir, title: str) -> Path | None:
    """loss.png: training loss per step (raw and smoothed) and validation loss per objective."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = run.read_log()
    steps = current_records(records, "step")
    evals = current_records(records, "eval")
    if not steps and not evals:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    if steps:
        xs = [r["step"] for r in steps]
        ys = [r["loss"] for r in steps]
        ax.plot(xs, ys, color="tab:blue", alpha=0.25, linewidth=0.8, label="train (per step)")
        window = max(1, len(ys) // 50)
        smooth = [sum(ys[max(0, i - window + 1) : i + 1]) / len(ys[max(0, i - window + 1) : i + 1]) for i in range(len(ys))]
        ax.plot(xs, smooth, color="tab:blue", linewidth=1.5, label=f"train (mean of {window})")
    names = sorted({k for r in evals for k in r.get("objectives", {})})
    for i, name in enumerate(names):
        pts = [(r["step"], r["objectives"][name]["loss"]) for r in evals if name in r.get("objectives", {})]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=f"C{i + 1}", label=f"validation {name}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per target token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    target = run.file("loss.png")
    fig.savefig(target)
    plt.close(fig)
    return target


def summary_markdown(result: dict[str, Any], cfg_lines: list[str]) -> str:
    """The human-readable summary.md of a finished (or stopped) run."""
    lines = ["# Training run", ""]
    lines += [f"- {line}" for line in cfg_lines]
    lines += [
        "",
        "## Result",
        "",
        "| | |",
        "|---|---|",
        f"| stopped | {result['stop_reason']} at step {result['step']} |",
        f"| final training loss | {result['train_loss']:.4f} |" if result.get("train_loss") is not None else "| final training loss | - |",
    ]
    for name, values in (result.get("validation") or {}).items():
        lines.append(f"| validation {name} | loss {values['loss']:.4f}, ppl {values['ppl']:.2f} |")
    if result.get("initial_val_loss") is not None and result.get("val_loss") is not None:
        drop = result["initial_val_loss"] - result["val_loss"]
        lines.append(f"| validation loss drop | {drop:.3f} nats (from {result['initial_val_loss']:.3f}) |")
    if result.get("best_step") is not None:
        lines.append(f"| best validation loss | {result['best_val_loss']:.4f} at step {result['best_step']} |")
    lines += [
        f"| tokens seen | {result['tokens']:,} |",
        f"| throughput | {result['tokens_per_s']:,.0f} tokens/s, {result['flops_per_s'] / 1e9:,.2f} GFLOP/s |",
        f"| MFU | {100 * result['mfu']:.1f}% of a measured {result['peak_flops'] / 1e9:,.1f} GFLOP/s peak "
        f"({result['world_size']} process(es)) |",
        f"| data wait | {100 * result['data_wait_fraction']:.1f}% of training time |",
        f"| training time | {result['train_seconds']:.1f} s |",
        f"| last checkpoint | `{result['last_checkpoint']}` |",
    ]
    if result.get("best_checkpoint"):
        lines.append(f"| best checkpoint | `{result['best_checkpoint']}` |")
    lines += ["", "![loss](loss.png)" if result.get("plot") else ""]
    return "\n".join(lines)
