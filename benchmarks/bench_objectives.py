"""Objective transforms: throughput on one core against a tiny model's training speed,
and the acceptance statistics on the whole standard library.

    .venv/bin/python benchmarks/bench_objectives.py            # everything (~10 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_objectives.py --quick    # smaller samples (~2 minutes)

Part 1, side by side in one run, all on one thread:
- each objective's data path (corpus document → collated batch: tokenising,
  FIM / masking / span corruption / parsing / transforms) in tokens/s;
- a tiny model's training step (forward + backward + AdamW) in tokens/s per
  family, hidden 64, 2 layers, seq_len 256, batch 8.
The ratio says how many training processes one data core can feed; the
trainer runs the data path in a background thread, so > 1 means the
transform is never the bottleneck.

Part 2, statistics over all ~1,800 `.py` files of the running Python's
standard library (the unit tests use ≥10k function snippets or smaller
exact-seed runs): FIM rate and SPM share, span-corruption noise density and
mean span length, MLM 80/10/10 shares, and how often each code transform
applies to real functions (every result must compile).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import sysconfig
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, make_rng, stable_hash
from codelm.tokenizer.special import NUM_SPECIAL

PIPELINES = [
    ("clm", {"name": "clm"}, "decoder"),
    ("clm repo_level+document_masking", {"name": "clm", "repo_level": True, "document_masking": True}, "decoder"),
    ("fim document", {"name": "fim"}, "decoder"),
    ("fim context", {"name": "fim", "level": "context"}, "decoder"),
    ("mlm", {"name": "mlm"}, "encoder"),
    ("mlm whole_identifier", {"name": "mlm", "whole_identifier": True}, "encoder"),
    ("rtd", {"name": "rtd"}, "encoder"),
    ("span", {"name": "span"}, "encdec"),
    ("span decoder", {"name": "span", "prefix_lm": True}, "decoder"),
    ("ul2", {"name": "ul2"}, "encdec"),
    ("identifier tagging", {"name": "identifier", "task": "tagging"}, "encoder"),
    ("identifier masked", {"name": "identifier", "task": "masked"}, "encdec"),
    ("contrastive", {"name": "contrastive"}, "encoder"),
    ("dataflow", {"name": "dataflow"}, "encoder"),
    ("diffusion", {"name": "diffusion"}, "encoder"),
]


def stdlib_docs() -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "site-packages" in rel.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        repo = "cpython/" + (rel.parts[0] if len(rel.parts) > 1 else "Lib")
        docs.append({"repo": repo, "path": str(rel), "language": "python", "content": text})
    return docs


def make_tokenizer(docs: list[dict], vocab_size: int):
    from codelm.tokenizer import train_tokenizer

    texts, size = [], 0
    for doc in docs[::7]:
        texts.append(doc["content"])
        size += len(doc["content"])
        if size > 3_000_000:
            break
    return train_tokenizer(texts, vocab_size=vocab_size)


def source(docs):
    return lambda epoch, start: iter(docs[start:])


def count_tokens(batch: dict) -> int:
    n = int(batch["attention_mask"].sum()) if batch["attention_mask"].dim() == 2 else batch["input_ids"].numel()
    return n


def pipeline_throughput(tokenizer, docs, seconds: float, seq_len: int, batch_size: int) -> list[dict]:
    rows = []
    for label, spec, family in PIPELINES:
        objective = build_objective(spec, tokenizer, family, seq_len)
        stream = iter(ExampleStream(objective, source(docs), seed=0))
        examples = tokens = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            batch = objective.collate(list(itertools.islice(stream, batch_size)))
            examples += batch_size
            tokens += count_tokens(batch)
        elapsed = time.perf_counter() - start
        rows.append({"objective": label, "family": family, "examples_per_s": examples / elapsed,
                     "tokens_per_s": tokens / elapsed})
        print(f"  data {label}: {tokens / elapsed:,.0f} tokens/s", file=sys.stderr)
    return rows


def model_throughput(vocab_size: int, seq_len: int, batch_size: int, steps: int) -> dict[str, float]:
    from codelm.models import build_model
    from codelm.models.config import ModelConfig

    out = {}
    for family in ("decoder", "encoder", "encdec"):
        kwargs = {"family": family, "hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128}
        if family != "encdec":
            kwargs["max_position_embeddings"] = seq_len
        model = build_model(ModelConfig(**kwargs), vocab_size, seed=0).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        ids = torch.randint(NUM_SPECIAL, vocab_size, (batch_size, seq_len))
        extra = {"decoder_input_ids": ids[:, : seq_len // 4].contiguous()} if family == "encdec" else {}
        for i in range(steps + 2):  # two warm-up steps
            if i == 2:
                start = time.perf_counter()
            logits = model(input_ids=ids, **extra).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, : logits.size(1)].reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad()
        elapsed = time.perf_counter() - start
        out[family] = steps * batch_size * seq_len / elapsed
        print(f"  model {family}: {out[family]:,.0f} tokens/s", file=sys.stderr)
    return out


def fim_statistics(tokenizer, docs) -> dict:
    fim = build_objective({"name": "fim"}, tokenizer, "decoder", 256)
    salt = stable_hash("fim")
    modes = [fim.rearrange(d["content"], make_rng(0, salt, 0, i))[0] for i, d in enumerate(docs)]
    n_fim = sum(m != "none" for m in modes)
    return {"documents": len(docs), "fim_rate": n_fim / len(docs), "spm_share": modes.count("spm") / n_fim,
            "config": {"fim_rate": 0.5, "spm_rate": 0.5}}


def span_statistics(tokenizer, docs) -> dict:
    span = build_objective({"name": "span"}, tokenizer, "encdec", 512)
    noise = spans = raw = windows = 0
    exact = True
    stream = ExampleStream(span, source(docs), 0)
    for ex in stream:
        if stream.epoch > 0:  # the stream is endless: one pass over the corpus
            break
        inputs, targets = ex["input_ids"], ex["labels"]
        exact &= len(inputs) == 512 and len(targets) == 114
        sentinels = sum(17 <= t < 117 for t in targets)
        noise += len(targets) - 1 - sentinels
        spans += sentinels
        raw += span.window_len()
        windows += 1
        if span_statistics.limit and windows >= span_statistics.limit:
            break
    return {"windows": windows, "raw_length": span.window_len(), "inputs_512_targets_114": bool(exact),
            "noise_density": noise / raw, "mean_span_length": noise / spans,
            "config": {"noise_density": 0.15, "mean_noise_span_length": 3.0}}


span_statistics.limit = 0


def mlm_statistics(tokenizer, docs, limit: int) -> dict:
    mlm = build_objective({"name": "mlm"}, tokenizer, "encoder", 512)
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", 512)
    counts = np.zeros(3)
    chosen = candidates = 0
    pairs = zip(ExampleStream(mlm, source(docs), 0), ExampleStream(clm, source(docs), 0), strict=False)
    for n, (ex, orig) in enumerate(pairs):
        ids, labels, raw = np.array(ex["input_ids"]), np.array(ex["labels"]), np.array(orig["input_ids"])
        sel = labels != IGNORE_INDEX
        chosen += sel.sum()
        candidates += (raw >= NUM_SPECIAL).sum()
        counts += [(ids[sel] == 2).sum(), ((ids[sel] != 2) & (ids[sel] != raw[sel])).sum(), (ids[sel] == raw[sel]).sum()]
        if n + 1 >= limit:
            break
    shares = counts / counts.sum()
    return {"windows": limit, "predicted_share": chosen / candidates, "mask": shares[0], "random": shares[1],
            "unchanged": shares[2], "config": {"mask_rate": 0.15, "80/10/10": [0.8, 0.1, 0.1]}}


def transform_statistics(docs, every: int) -> dict:
    from codelm.objectives.contrastive import function_views
    from codelm.objectives.transforms import TRANSFORMS, apply_transform

    applied = dict.fromkeys(TRANSFORMS, 0)
    failed = dict.fromkeys(TRANSFORMS, 0)
    functions = 0
    start = time.perf_counter()
    for doc in docs[::every]:
        for fn in function_views(doc["content"], "python"):
            try:
                compile(fn.code, "f", "exec")
            except SyntaxError:
                continue
            functions += 1
            for name in TRANSFORMS:
                new = apply_transform(name, fn.code, make_rng(functions))
                if new is None:
                    continue
                applied[name] += 1
                try:
                    compile(new, "t", "exec")
                except SyntaxError:
                    failed[name] += 1
    elapsed = time.perf_counter() - start
    return {"functions": functions, "applies_to": {k: v / functions for k, v in applied.items()},
            "compile_failures": failed, "functions_per_s_all_four": functions / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (for a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    quick = args.quick
    docs = stdlib_docs()
    print(f"{len(docs)} standard-library files", file=sys.stderr)
    vocab = 8192
    tokenizer = make_tokenizer(docs, vocab)
    seq_len, batch = 256, 8
    data = pipeline_throughput(tokenizer, docs, seconds=2.0 if quick else 5.0, seq_len=seq_len, batch_size=batch)
    model = model_throughput(len(tokenizer), seq_len, batch, steps=5 if quick else 20)
    for row in data:
        row["model_tokens_per_s"] = model[row["family"]]
        row["data_over_model"] = row["tokens_per_s"] / model[row["family"]]
    stats_docs = docs[::10] if quick else docs
    span_statistics.limit = 300 if quick else 0
    result = {
        "machine": {"cpu_threads_used": 1, "cores": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "note": "shared 2-core machine, no GPU; timings are noisy, ratios matter"},
        "tokenizer_vocab": len(tokenizer),
        "seq_len": seq_len,
        "batch_size": batch,
        "throughput": data,
        "model_tokens_per_s": model,
        "statistics": {
            "fim": fim_statistics(tokenizer, stats_docs),
            "span": span_statistics(tokenizer, stats_docs),
            "mlm": mlm_statistics(tokenizer, stats_docs, limit=300 if quick else 3000),
            "transforms": transform_statistics(docs, every=40 if quick else 8),
        },
    }
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
