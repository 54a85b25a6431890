"""Training throughput: codelm's trainer vs HF `Trainer`, MFU vs a measured matmul peak, and the data path.

Side by side in one run, on the same model (a codelm preset, same seed), the
same examples, batch, optimizer settings and precision:

- `trainers`: tokens/s of `codelm.train.train` and of `transformers.Trainer`
  over the steps after a warm-up, runs alternated (ours, HF, ours, HF, ...)
  so machine noise hits both; the ratio is per pair, then the median.
- MFU of both against the peak measured by the same matmul probe in the same
  dtype (PaLM FLOPs: 6N + 12·L·H·Q·T per token).
- `data`: how fast the streaming pipeline (corpus → objective → packed,
  collated batches, one thread) produces tokens for each objective, vs
  reading windows from a pre-tokenised memmap, and what building the memmap
  costs: the measurement behind the data-path choice in docs/training.md.

Needs a corpus and a tokenizer (the quickstart commands):

    codelm data build --preset data/stdlib --out runs/corpus
    codelm tokenizer train --data runs/corpus --out runs/tokenizer --vocab-size 8192
    python benchmarks/bench_train.py --corpus runs/corpus --tokenizer runs/tokenizer

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codelm.config import validate
from codelm.objectives import MixtureStream, build_objective
from codelm.runs import RunDir
from codelm.tokenizer import load_tokenizer
from codelm.train import TrainConfig, train
from codelm.train.data import CorpusSource, StepBatcher
from codelm.train.throughput import batch_flops, measure_peak_flops, model_shape
from codelm.train.tracking import current_records


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "load_average_1m_at_start": round(load[0], 2),
    }


# --------------------------------------------------------------------------- trainers


def train_config(args: argparse.Namespace, out: Path, steps: int) -> TrainConfig:
    return validate(
        TrainConfig,
        {
            "seed": 0,
            "out": str(out),
            "model": {"preset": args.model},
            "tokenizer": args.tokenizer,
            "data": {"corpus": args.corpus, "seq_len": args.seq_len, "shuffle": False, "validation_split": None},
            "objectives": [{"name": "clm"}],
            "optim": {"lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.95], "grad_clip": 1.0},
            # HF's cosine goes to 0 and its warmup starts at 0: close enough for
            # throughput; the first-step losses agree exactly (same init, same data).
            "schedule": {"kind": "cosine", "warmup_steps": 2, "min_lr_ratio": 0.0},
            "loop": {"max_steps": steps, "micro_batch_size": args.batch, "grad_accum": 1, "precision": args.precision},
            "checkpoint": {"every": 0},
            "logging": {"every": 1, "plots": False},
            "perf": {"probe_seconds": 1.0},
        },
    )


def steady_rate(times: list[float], tokens_per_step: int, warmup: int) -> float:
    """tokens/s between the end of step `warmup` and the end of the last step."""
    span = times[-1] - times[warmup - 1]
    return tokens_per_step * (len(times) - warmup) / span


def run_ours(args: argparse.Namespace, workdir: Path, index: int) -> dict[str, Any]:
    cfg = train_config(args, workdir / f"ours-{index}", args.steps)
    result = train(cfg)
    steps = current_records(RunDir(Path(result.run_dir)).read_log(), "step")
    times = [r["time"] for r in steps]
    rate = steady_rate(times, args.batch * args.seq_len, args.warmup)
    return {"tokens_per_s": rate, "mfu_reported": result.mfu, "peak_flops": result.peak_flops,
            "data_wait_fraction": result.data_wait_fraction, "final_loss": result.train_loss}


def run_hf(args: argparse.Namespace, workdir: Path, index: int, examples: list[dict[str, Any]], objective: Any) -> dict[str, Any]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from codelm.models import ModelConfig, build_model

    tokenizer = objective.tokenizer
    model = build_model(ModelConfig(preset=args.model), len(tokenizer), seed=0).train()

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, *a: Any, **k: Any) -> None:
            self.times.append(time.time())

    def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        out = objective.collate(batch)  # the same padding/labels our trainer gets
        out.pop("doc_ids", None)
        return out

    timer = Timer()
    targs = TrainingArguments(
        output_dir=str(workdir / f"hf-{index}"),
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        max_steps=args.steps,
        learning_rate=1e-3,
        weight_decay=0.1,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        warmup_steps=2,
        bf16=args.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        train_sampling_strategy="sequential",  # the same example order as our stream
        seed=0,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=examples, data_collator=collate, callbacks=[timer])
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"tokens_per_s": steady_rate(timer.times, args.batch * args.seq_len, args.warmup), "final_loss": losses[-1]}


def bench_trainers(args: argparse.Namespace) -> dict[str, Any]:
    tokenizer = load_tokenizer(args.tokenizer)
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", args.seq_len)
    # HF gets exactly the examples our trainer streams: the same stream, cut in advance.
    mix = MixtureStream([clm], [1.0], CorpusSource(args.corpus, "train"), seed=0)
    examples = mix.take("clm", args.steps * args.batch)
    from codelm.models import ModelConfig, meta_model

    shape = model_shape(meta_model(ModelConfig(preset=args.model), len(tokenizer)), "decoder")
    flops_per_step = batch_flops(shape, clm.collate(examples[: args.batch]))
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.precision]
    peak = measure_peak_flops(torch.device("cpu"), dtype, seconds=2.0)
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            ours = run_ours(args, Path(tmp), i)
            hf = run_hf(args, Path(tmp), i, examples, clm)
            pairs.append({"ours": ours, "hf": hf, "ratio": ours["tokens_per_s"] / hf["tokens_per_s"]})
    tokens_per_step = args.batch * args.seq_len
    ours_rate = statistics.median(p["ours"]["tokens_per_s"] for p in pairs)
    hf_rate = statistics.median(p["hf"]["tokens_per_s"] for p in pairs)
    return {
        "model": args.model,
        "parameters": shape.n_params,
        "precision": args.precision,
        "batch": args.batch,
        "seq_len": args.seq_len,
        "steps": args.steps,
        "warmup_steps_excluded": args.warmup,
        "flops_per_step": flops_per_step,
        "peak_flops_probe": peak,
        "ours_tokens_per_s": ours_rate,
        "hf_tokens_per_s": hf_rate,
        "ratio_median": statistics.median(p["ratio"] for p in pairs),
        "ours_mfu": ours_rate / tokens_per_step * flops_per_step / peak,
        "hf_mfu": hf_rate / tokens_per_step * flops_per_step / peak,
        "pairs": pairs,
    }


# --------------------------------------------------------------------------- data path


def bench_data(args: argparse.Namespace) -> dict[str, Any]:
    tokenizer = load_tokenizer(args.tokenizer)
    source = CorpusSource(args.corpus, "train", shuffle=True, seed=0)
    rows: dict[str, Any] = {}
    cases = [("clm", "decoder", {}), ("fim", "decoder", {"fim_rate": 0.5}), ("mlm", "encoder", {}), ("span", "encdec", {})]
    for name, family, params in cases:
        objective = build_objective({"name": name, **params}, tokenizer, family, args.seq_len)
        batcher = StepBatcher(MixtureStream([objective], [1.0], source, seed=0), micro_batch_size=8, grad_accum=1, family=family)
        start = time.perf_counter()
        tokens = 0
        while tokens < args.data_tokens:
            tokens += batcher.build(len(rows)).tokens
        rows[name] = {"tokens_per_s": tokens / (time.perf_counter() - start), "tokens": tokens}
    # Pre-tokenised alternative: tokenise the corpus once into a flat memmap, read random windows.
    start = time.perf_counter()
    ids: list[int] = []
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    for doc in source(0, 0):
        ids.extend(tokenizer(doc["content"], add_special_tokens=False)["input_ids"])
        ids.append(eos)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.u16"
        arr = np.memmap(path, dtype=np.uint16, mode="w+", shape=(len(ids),))
        arr[:] = ids
        arr.flush()
        build_s = time.perf_counter() - start
        data = np.memmap(path, dtype=np.uint16, mode="r")
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        read = 0
        while read < args.data_tokens:
            offsets = rng.integers(0, len(data) - args.seq_len - 1, size=8)
            batch = torch.from_numpy(np.stack([data[o : o + args.seq_len].astype(np.int64) for o in offsets]))
            read += batch.numel()
        rows["memmap_clm_read"] = {"tokens_per_s": read / (time.perf_counter() - start), "tokens": read}
    rows["memmap_build"] = {"seconds": build_s, "corpus_tokens": len(ids)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--model", default="decoder-small", help="codelm model preset")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3, help="steps excluded from the rate")
    parser.add_argument("--repeats", type=int, default=2, help="ours/HF pairs, alternated")
    parser.add_argument("--data-tokens", type=int, default=200_000)
    parser.add_argument("--skip", choices=["data", "trainers"], action="append", default=[])
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    if "data" not in args.skip:
        report["data"] = bench_data(args)
    if "trainers" not in args.skip:
        report["trainers"] = bench_trainers(args)
    report["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
