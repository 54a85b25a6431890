"""Word n-gram shingles, MinHash signatures, LSH band keys and exact Jaccard.

Shingles follow StarCoder's near-dedup: split on runs of non-word characters
(`\\W+`, REFERENCE.md: a single `\\W` would make empty tokens and near-character
shingles, which merge unrelated files), lower-case, word 5-grams, as a set.

Everything after tokenisation is vectorised with numpy over uint64/uint32
arrays (datasketch hashes each shingle with sha1 in Python and reduces modulo
a Mersenne prime, which is what makes it slow):

- each token is hashed once with xxh3-64; an n-gram's hash is a polynomial in
  its tokens' hashes (uint64 arithmetic wraps mod 2^64) run through the
  splitmix64 finalizer so every bit depends on every token;
- permutation i is `h_i(x) = a_i·x + b_i mod 2^32` on the top 32 bits of the
  shingle hash (a_i odd, so each h_i is a bijection); the signature is the
  per-permutation minimum. Multiply-add families are only 2-universal, not
  min-wise independent, but on well-mixed inputs their estimates match
  random permutations (benchmarks/bench_data.py measures recall against
  datasketch on the standard library);
- a band key hashes `rows` consecutive signature values (and the band index)
  into one uint64, so the LSH index is plain integer sorting on disk.
"""

from __future__ import annotations

import re

import numpy as np
import xxhash

NON_WORD = re.compile(r"\W+")
# For ASCII text, bytes-mode \W (ASCII word characters) splits exactly like the
# Unicode str pattern, about twice as fast, and yields bytes ready to hash.
_NON_WORD_BYTES = re.compile(rb"\W+")

_U64 = np.uint64
_MUL = _U64(0x9E3779B97F4A7C15)  # golden-ratio odd constant: polynomial base
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)  # splitmix64
_S30, _S27, _S31, _S32 = _U64(30), _U64(27), _U64(31), _U64(32)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens: `text` split on `\\W+`, empty pieces dropped."""
    return [t for t in NON_WORD.split(text.lower()) if t]


def token_hashes(text: str) -> np.ndarray:
    """xxh3-64 of every token, in order. Shape (n_tokens,), uint64."""
    if text.isascii():
        raw = [t for t in _NON_WORD_BYTES.split(text.lower().encode("ascii")) if t]
        return np.fromiter(map(xxhash.xxh3_64_intdigest, raw), dtype=_U64, count=len(raw))
    parts = tokens(text)
    return np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, parts)), dtype=_U64, count=len(parts))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, in place on a uint64 array (returns it)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def ngram_hashes(hashes: np.ndarray, n: int, short: bool = True) -> np.ndarray:
    """Hash of every window of `n` consecutive token hashes. Shape (max(len-n+1, 0),).

    A document shorter than `n` tokens gives one shingle of all its tokens when
    `short` (MinHash needs a non-empty set), nothing otherwise (decontamination
    only wants true n-grams).
    """
    count = len(hashes) - n + 1
    if count <= 0:
        if not short or len(hashes) == 0:
            return np.empty(0, dtype=_U64)
        n, count = len(hashes), 1
    grams = hashes[:count].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            grams *= _MUL
            grams += hashes[k : k + count]
        grams += _U64(n)  # n-grams of different n never share a hash by construction
    return mix64(grams)


def shingle_set(text: str, n: int = 5) -> np.ndarray:
    """Sorted unique n-gram shingle hashes of `text` (what Jaccard is taken over)."""
    return np.unique(ngram_hashes(token_hashes(text), n))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique shingle arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (len(a) + len(b) - inter)


class MinHasher:
    """`num_perm` multiply-add permutations of 32-bit shingle hashes, fixed by `seed`."""

    CHUNK = 4096  # shingles per step: bounds the (chunk, num_perm) work buffer to 4 MiB

    def __init__(self, num_perm: int = 256, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = (rng.integers(0, 1 << 32, num_perm, dtype=np.uint64) | 1).astype(np.uint32)
        self.b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """Signature of one shingle set. Shape (num_perm,), uint32; all-ones when empty."""
        out = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        if len(shingles) == 0:
            return out
        top = (shingles >> _S32).astype(np.uint32)  # (n,)
        buf = np.empty((min(len(top), self.CHUNK), self.num_perm), dtype=np.uint32)
        for start in range(0, len(top), self.CHUNK):
            chunk = top[start : start + self.CHUNK]
            work = buf[: len(chunk)]  # (chunk, num_perm)
            np.multiply(chunk[:, None], self.a[None, :], out=work)  # wraps mod 2^32
            work += self.b
            np.minimum(out, work.min(axis=0), out=out)
        return out


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """LSH keys: one uint64 per band. (n, num_perm) uint32 -> (n, bands) uint64.

    Two documents share band b's key exactly when their signatures agree on
    the `rows` values of band b (up to 64-bit collisions, which candidate
    verification removes).
    """
    n = signatures.shape[0]
    values = signatures[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    keys = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _MUL, (n, bands)).copy()
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys ^= values[:, :, r]
            keys *= _MUL
    return mix64(keys)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """MinHash estimate: the fraction of permutations whose minima agree."""
    return float(np.mean(sig_a == sig_b))
