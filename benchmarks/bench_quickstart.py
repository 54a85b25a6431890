"""The quickstart end to end: a fresh run, then the same run again (every stage reused).

    python benchmarks/bench_quickstart.py [--minutes 10] [--out DIR]

Prints JSON: the machine, the plan derived from the budget, each stage's
seconds and the total against the budget, the metric table of the untrained
initialisation beside the trained model (with which way each metric should
move and whether it did), and the second run's time as a share of the first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

# Higher is better for every headline metric except perplexity.
LOWER_IS_BETTER = {"validation perplexity"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # as the CLI: JSON only on stdout, no bars
    from codelm.quickstart.config import QuickstartConfig
    from codelm.quickstart.pipeline import run_quickstart

    out = args.out or tempfile.mkdtemp(prefix="bench-quickstart-")
    cfg = QuickstartConfig(minutes=args.minutes, out=out, fresh=True)
    first = run_quickstart(cfg)
    started = time.perf_counter()
    run_quickstart(cfg.model_copy(update={"fresh": False}))
    again = time.perf_counter() - started

    init, trained = first["metrics"]["init"], first["metrics"]["trained"]
    metrics = {}
    for name in trained:
        before, after = init.get(name), trained[name]
        better = after < before if name in LOWER_IS_BETTER else after > before
        metrics[name] = {"untrained": before, "trained": after, "improved": bool(better)}
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "minutes_budget": args.minutes,
        "plan": first["plan"],
        "stage_seconds": {name: t["seconds"] for name, t in first["stages"].items()},
        "total_seconds": first["seconds"],
        "share_of_budget": round(first["seconds"] / (60 * args.minutes), 3),
        "training": {k: first["training"].get(k) for k in ("step", "stop_reason", "tokens", "tokens_per_s", "mfu",
                                                       "initial_val_loss", "val_loss")},
        "parameters": first["model"]["parameters"],
        "metrics": metrics,
        "second_run_seconds": round(again, 1),
        "second_run_share_of_first": round(again / first["seconds"], 4),
    }, indent=2))


if __name__ == "__main__":
    main()
