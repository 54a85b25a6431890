"""Code-aware BPE vs plain byte-level BPE, side by side in one run.

Both tokenizers are byte-level BPE from HF `tokenizers` with the same
vocabulary size, the same 117 special tokens, the same training documents
and `min_frequency`; the only difference is pre-tokenization: ours
(`codelm.tokenizer.pretokenize.CODE_PATTERN`) vs GPT-2's regex (what
`ByteLevelBPETokenizer` does). Figures:

- bytes/token on held-out files (higher = shorter sequences = cheaper
  training and longer effective context);
- encode throughput in MB/s, batched (`encode_batch`, all cores) and one
  document at a time through the transformers wrapper;
- exact round trip `decode(encode(x)) == x` over every file of the standard
  library that is UTF-8 text (not only `.py`), for both tokenizers.

Data: the running Python's standard library (site-packages excluded), split
by a hash of each path (every 10th bucket held out), or `--corpus DIR`, a
`codelm data build` corpus (train split / validation split / all splits).

    python benchmarks/bench_tokenizer.py [--vocab-size 32768] [--corpus DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sysconfig
import time
import zlib
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from codelm.tokenizer import encode_stats, train_tokenizer

SKIP_PARTS = {"site-packages", "dist-packages", "__pycache__"}


def stdlib_texts() -> tuple[list[tuple[str, str]], int]:
    """Every UTF-8 text file of the standard library as (relative path, text); plus the count of skipped files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs, skipped = [], 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or SKIP_PARTS & set(path.relative_to(root).parts):
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            skipped += 1  # binary files (.pyc, .zip, test data) and deliberately non-UTF-8 tests
            continue
        docs.append((str(path.relative_to(root)), text))
    return docs, skipped


def held_out(name: str) -> bool:
    return zlib.crc32(name.encode()) % 10 == 0


def corpus_docs(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    from codelm.data.corpus import SPLITS, iter_documents

    out = {}
    for split in SPLITS:
        if any((corpus / split).glob("*.parquet")):
            out[split] = [
                (f"{r['repo']}/{r['path']}", r["content"] or "")
                for r in iter_documents(corpus, split, columns=("repo", "path", "content"))
            ]
    return out


def throughput(tokenizers: dict, texts: list[str], repeat: int) -> dict[str, dict[str, float]]:
    """MB/s of batched backend encoding and of one-at-a-time encoding through the transformers wrapper.

    The tokenizers take turns in every round (best of `repeat` each), so a
    burst of load on the shared machine hits both alike.
    """
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    best = {name: {"batch": float("inf"), "single": float("inf")} for name in tokenizers}
    for _ in range(repeat):
        for name, tok in tokenizers.items():
            start = time.perf_counter()
            tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
            best[name]["batch"] = min(best[name]["batch"], time.perf_counter() - start)
            start = time.perf_counter()
            for t in texts:
                tok(t, add_special_tokens=False)
            best[name]["single"] = min(best[name]["single"], time.perf_counter() - start)
    return {
        name: {
            "batch_mb_per_s": round(n_bytes / b["batch"] / 1e6, 2),
            "single_mb_per_s": round(n_bytes / b["single"] / 1e6, 2),
        }
        for name, b in best.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--min-frequency", type=int, default=2)
    parser.add_argument("--corpus", type=Path, default=None, help="a codelm corpus instead of the raw stdlib")
    parser.add_argument("--repeat", type=int, default=5, help="throughput: best of N rounds")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    if args.corpus is not None:
        splits = corpus_docs(args.corpus)
        train_docs = splits["train"]
        test_docs = splits.get("validation") or splits.get("test") or []
        all_docs = [d for docs in splits.values() for d in docs]
        data = {"source": str(args.corpus), "splits": {k: len(v) for k, v in splits.items()}}
    else:
        all_docs, skipped = stdlib_texts()
        train_docs = [d for d in all_docs if d[0].endswith(".py") and not held_out(d[0])]
        test_docs = [d for d in all_docs if d[0].endswith(".py") and held_out(d[0])]
        data = {
            "source": "stdlib " + sysconfig.get_paths()["stdlib"],
            "utf8_files": len(all_docs),
            "py_files": sum(d[0].endswith(".py") for d in all_docs),
            "skipped_non_utf8_files": skipped,
        }
    mb = lambda docs: round(sum(len(t.encode("utf-8")) for _, t in docs) / 1e6, 2)  # noqa: E731
    data.update(train_files=len(train_docs), train_mb=mb(train_docs), heldout_files=len(test_docs), heldout_mb=mb(test_docs))

    results, tokenizers = {}, {}
    for name, code_aware in (("codelm", True), ("plain_bytelevel", False)):
        start = time.perf_counter()
        tokenizers[name] = train_tokenizer(
            (t for _, t in train_docs), args.vocab_size, min_frequency=args.min_frequency, code_aware=code_aware
        )
        train_s = time.perf_counter() - start
        held = encode_stats(tokenizers[name], test_docs, verify_roundtrip=True)
        results[name] = {
            "train_seconds": round(train_s, 1),
            "heldout_bytes_per_token": round(held.bytes_per_token, 4),
            "heldout_tokens": held.tokens,
            "heldout_roundtrip_failures": held.roundtrip_failures,
        }
    speeds = throughput(tokenizers, [t for _, t in test_docs], args.repeat)
    for name, tok in tokenizers.items():
        start = time.perf_counter()
        full = encode_stats(tok, all_docs, verify_roundtrip=True)
        results[name].update(
            speeds[name],
            roundtrip_files=full.documents,
            roundtrip_failures=full.roundtrip_failures,
            roundtrip_failed_examples=full.failed,
            roundtrip_seconds=round(time.perf_counter() - start, 1),
        )
    ours, plain = results["codelm"], results["plain_bytelevel"]
    report = {
        "benchmark": "tokenizer",
        "vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency,
        "data": data,
        "results": results,
        "ratios": {
            "bytes_per_token_codelm_over_plain": round(ours["heldout_bytes_per_token"] / plain["heldout_bytes_per_token"], 4),
            "heldout_tokens_saved_pct": round(100 * (1 - ours["heldout_tokens"] / plain["heldout_tokens"]), 2),
            "batch_throughput_codelm_over_plain": round(ours["batch_mb_per_s"] / plain["batch_mb_per_s"], 3),
            "single_throughput_codelm_over_plain": round(ours["single_mb_per_s"] / plain["single_mb_per_s"], 3),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
