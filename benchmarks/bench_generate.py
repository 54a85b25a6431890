"""Generation speed: our decoding loop vs `model.generate`, fp32 / int8 / bf16, side by side.

One checkpoint (the `decoder-small` preset by default: 12 layers, d=384,
GQA 6q/2kv), one prompt set, the same greedy settings for every engine:

- `hf`: transformers `model.generate(do_sample=False)` on left-padded batches;
- `ours`: `Generator.generate_ids` (our loop, same forward passes);
- `ours_int8`: the same with dynamic int8 Linear layers (`quantize="int8"`);
- `ours_bf16`: weights and activations in bfloat16.

Runs use one torch thread by default: on a shared 2-core machine two
OpenMP threads spin-wait for a core another process holds, which slows
small matmuls 4-25x and drowns the comparison in noise. Runs are interleaved (hf, ours, int8, bf16, hf, ...) so machine noise hits
all alike; the figure is the median of `--repeats` runs, as generated
tokens per second (EOS ends a row for every engine; tokens after it are
not counted). Also reported: greedy agreement of ours vs hf (must be 100%)
and of int8/bf16 vs fp32 on the prompt set (exact-sequence rate and mean
share of tokens before the first difference).

The checkpoint is random-initialised unless `--train-steps N` trains it
for N steps on standard-library code first (random weights give
near-uniform logits, on which any rounding flips argmaxes, so agreement is
only meaningful for a trained model), or `--model DIR` loads one.
Prompts: the first lines of standard-library functions from files not used
for the tokenizer or the training (held out by a path hash).

    python benchmarks/bench_generate.py [--preset decoder-small] [--train-steps 300] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sysconfig
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import torch


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idlelib", "lib2to3"}
    return sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))


def held_out(path: Path) -> bool:
    return zlib.crc32(str(path.name).encode()) % 10 == 0


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def function_prompts(files: list[Path], count: int) -> list[str]:
    """`def ...:` plus its docstring's first line or first body line, from held-out files."""
    prompts: list[str] = []
    pattern = re.compile(r"^(    )?def \w+\(.*\):\n(.*\n)", re.MULTILINE)
    for path in files:
        text = read(path)
        if text is None:
            continue
        for m in pattern.finditer(text):
            prompts.append(m.group(0))
            if len(prompts) >= count:
                return prompts
    return prompts


def build_checkpoint(args: argparse.Namespace, train_files: list[Path], out: Path) -> None:
    from codelm.models import ModelConfig, build_model
    from codelm.tokenizer import save_tokenizer, train_tokenizer
    from codelm.tokenizer.special import EOS_ID

    texts = [t for t in (read(p) for p in train_files) if t]
    budget, docs = 0, []
    for t in texts:
        docs.append(t)
        budget += len(t)
        if budget > 4_000_000:
            break
    tok = train_tokenizer(docs, args.vocab_size)
    model = build_model(ModelConfig(preset=args.preset), len(tok), seed=0)
    if args.train_steps:
        ids: list[int] = []
        for d in docs:
            ids += [*tok(d, add_special_tokens=False)["input_ids"], EOS_ID]
        data = torch.tensor(ids)
        seq, bsz = 128, 8
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        model.train()
        start = time.perf_counter()
        for step in range(args.train_steps):
            starts = torch.randint(0, len(data) - seq - 1, (bsz,), generator=g)
            batch = torch.stack([data[s : s + seq] for s in starts.tolist()])
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            if step % 50 == 0:
                print(
                    f"train step {step} loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
        model.eval()
    model.save_pretrained(out)
    save_tokenizer(tok, out)


def hf_generate(
    gen: Any, prompts: list[list[int]], batch: int, new_tokens: int
) -> tuple[list[list[int]], int]:
    from codelm.inference.kv import left_pad

    outs, counted = [], 0
    eos, pad = gen.tokenizer.eos_token_id, gen.tokenizer.pad_token_id
    for i in range(0, len(prompts), batch):
        x, mask = left_pad(prompts[i : i + batch], pad, "cpu")
        with torch.inference_mode():
            y = gen.model.generate(
                input_ids=x, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False
            )
        for row in y[:, x.size(1) :].tolist():
            cut = row.index(eos) if eos in row else len(row)
            outs.append(row[:cut])
            counted += cut
    return outs, counted


def ours_generate(
    gen: Any, prompts: list[list[int]], batch: int, new_tokens: int
) -> tuple[list[list[int]], int]:
    from codelm.inference import GenerationConfig

    gen.max_batch_size = batch
    comps = gen.generate_ids(prompts, GenerationConfig(max_new_tokens=new_tokens))
    outs = [c[0].token_ids for c in comps]
    return outs, sum(len(o) for o in outs)


def agreement(a: list[list[int]], b: list[list[int]]) -> dict[str, float]:
    exact = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    prefix = []
    for x, y in zip(a, b, strict=True):
        n = next(
            (i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y))
        )
        prefix.append(n / max(len(x), 1))
    return {
        "exact_sequence_rate": round(exact, 3),
        "mean_prefix_share": round(statistics.mean(prefix), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="decoder-small")
    ap.add_argument("--model", type=Path, help="use this checkpoint instead of building one")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--train-steps", type=int, default=0)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: no OpenMP spin-waits on a shared machine)",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from codelm.inference import load_generator

    files = stdlib_files()
    train_files = [p for p in files if not held_out(p)]
    prompts_text = function_prompts([p for p in files if held_out(p)], args.prompts)
    tmp = tempfile.TemporaryDirectory()
    model_dir = args.model or Path(tmp.name) / "ckpt"
    if args.model is None:
        build_checkpoint(args, train_files, model_dir)
    engines = {
        "ours": load_generator(model_dir),
        "ours_int8": load_generator(model_dir, quantize="int8"),
        "ours_bf16": load_generator(model_dir, dtype="bfloat16"),
    }
    prompts = [engines["ours"].encode(p) for p in prompts_text]
    runs: dict[str, Any] = {
        "hf": lambda b: hf_generate(engines["ours"], prompts, b, args.new_tokens)
    }
    for name, gen in engines.items():
        runs[name] = lambda b, gen=gen: ours_generate(gen, prompts, b, args.new_tokens)

    results: dict[str, Any] = {}
    outputs: dict[str, list[list[int]]] = {}
    for batch in args.batch_sizes:
        for fn in runs.values():  # warm-up (allocator, first-call costs)
            fn(batch)
        times: dict[str, list[float]] = {name: [] for name in runs}
        tokens: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                start = time.perf_counter()
                outs, counted = fn(batch)
                times[name].append(time.perf_counter() - start)
                tokens[name] = counted
                outputs[name] = outs
        speed = {name: tokens[name] / statistics.median(t) for name, t in times.items()}
        results[f"batch_{batch}"] = {
            "tokens_per_second": {k: round(v, 1) for k, v in speed.items()},
            "speedup_vs_hf": {k: round(v / speed["hf"], 3) for k, v in speed.items()},
            "generated_tokens": tokens,
            "median_seconds": {k: round(statistics.median(t), 3) for k, t in times.items()},
        }
        print(json.dumps({f"batch_{batch}": results[f"batch_{batch}"]}), flush=True)
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "checkpoint": {
            "preset": args.preset if args.model is None else str(args.model),
            "train_steps": args.train_steps,
            **{
                k: v
                for k, v in engines["ours"].info().items()
                if k in ("parameters", "max_model_len")
            },
        },
        "settings": {
            "prompts": len(prompts),
            "new_tokens": args.new_tokens,
            "greedy": True,
            "repeats": args.repeats,
        },
        "results": results,
        "agreement": {
            "ours_vs_hf": agreement(outputs["ours"], outputs["hf"]),
            "int8_vs_fp32": agreement(outputs["ours_int8"], outputs["ours"]),
            "bf16_vs_fp32": agreement(outputs["ours_bf16"], outputs["ours"]),
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
