"""Convergence acceptance: each tiny family drops validation loss by >= 2.0 nats within 10 minutes on 2 cores.

Runs the shipped presets `train/decoder-tiny-clm-fim` (CLM + 50% FIM),
`train/encoder-tiny-mlm` and `train/encdec-tiny-span` one after another on
the standard-library corpus, each capped at `--minutes` of training time
(`loop.max_minutes`), and reports initial and final validation loss.

    codelm data build --preset data/stdlib --out runs/corpus
    codelm tokenizer train --data runs/corpus --out runs/tokenizer --vocab-size 8192
    python benchmarks/bench_convergence.py --corpus runs/corpus --tokenizer runs/tokenizer

Prints one JSON document. Too slow for CI (30 minutes); its figures are in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from codelm.config import resolve_config
from codelm.train import TrainConfig, train

PRESETS = ("decoder-tiny-clm-fim", "encoder-tiny-mlm", "encdec-tiny-span")
GOAL_NATS = 2.0


def run(preset: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    overrides = [
        f"data.corpus={args.corpus}",
        f"tokenizer={args.tokenizer}",
        f"out={out}",
        f"loop.max_minutes={args.minutes}",
        f"loop.num_threads={args.threads}",
        "checkpoint.every=0",
    ]
    cfg = resolve_config(TrainConfig, None, overrides, preset=f"train/{preset}")
    start = time.monotonic()
    load_before = os.getloadavg()[0]
    result = train(cfg)
    drop = result.initial_val_loss - result.val_loss
    return {
        "preset": preset,
        "objectives": [o["name"] for o in cfg.objectives],
        "steps": result.step,
        "stop_reason": result.stop_reason,
        "train_minutes": round(result.train_seconds / 60, 2),
        "wall_minutes": round((time.monotonic() - start) / 60, 2),
        "initial_val_loss": round(result.initial_val_loss, 4),
        "final_val_loss": round(result.val_loss, 4),
        "best_val_loss": round(result.best_val_loss, 4) if result.best_val_loss is not None else None,
        "drop_nats": round(drop, 4),
        "passed": drop >= GOAL_NATS,
        "tokens": result.tokens,
        "tokens_per_s": round(result.tokens_per_s, 1),
        "mfu": round(result.mfu, 4),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--minutes", type=float, default=10.0, help="training-time cap per preset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--out", default=None, help="keep the run directories here (default: a temp dir)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for preset in args.presets:
            rows.append(run(preset, args, root / preset))
    print(json.dumps({"goal_nats": GOAL_NATS, "minutes": args.minutes, "threads": args.threads,
                      "cpus": os.cpu_count(), "torch": torch.__version__, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
