"""Shingles, signatures and band keys: exact values where they are defined, statistics where not."""

from __future__ import annotations

import numpy as np
import xxhash

from codelm.data.minhash import (
    MinHasher,
    band_keys,
    estimate_jaccard,
    jaccard,
    mix64,
    ngram_hashes,
    shingle_set,
    token_hashes,
    tokens,
)


def test_tokens_split_on_runs_of_non_word_characters():
    assert tokens("def f(x):\n    return x+1  # Ünïcode ok") == ["def", "f", "x", "return", "x", "1", "ünïcode", "ok"]
    assert tokens("a--b__c") == ["a", "b__c"]  # \W+, not a single \W: no empty tokens
    assert tokens("  ") == []


def test_token_hashes_are_xxh3_of_each_token_for_ascii_and_unicode():
    for text in ["Hello, World! foo_bar baz9", "ünïcode wörds and ascii"]:
        expected = [xxhash.xxh3_64_intdigest(t.encode()) for t in tokens(text)]
        assert token_hashes(text).tolist() == expected


def test_ngram_hashes_are_order_sensitive_windows():
    h = token_hashes("a b c d e f")
    grams = ngram_hashes(h, 5)
    assert grams.shape == (2,)
    assert ngram_hashes(token_hashes("b c d e f"), 5).tolist() == [grams[1]]
    assert ngram_hashes(token_hashes("f e d c b a"), 5).tolist() != grams.tolist()[::-1]
    # fewer tokens than n: one shingle of everything for MinHash, nothing for decontamination
    assert ngram_hashes(token_hashes("a b"), 5).shape == (1,)
    assert ngram_hashes(token_hashes("a b"), 5, short=False).shape == (0,)
    assert ngram_hashes(token_hashes(""), 5).shape == (0,)


def test_exact_jaccard():
    a = shingle_set("one two three four five six seven")  # 3 shingles
    b = shingle_set("one two three four five six eight")  # shares 2 of them
    assert len(a) == 3 and len(b) == 3
    assert jaccard(a, b) == 2 / 4
    assert jaccard(a, a) == 1.0
    assert jaccard(a, np.empty(0, dtype=np.uint64)) == 0.0


def test_signature_estimates_jaccard_without_bias():
    rng = np.random.default_rng(7)
    hasher = MinHasher(256, seed=1)
    errors = []
    for target in (0.3, 0.5, 0.7, 0.9):
        for _ in range(10):
            n = int(rng.integers(200, 2000))
            pool = mix64(rng.integers(0, 2**63, 3 * n, dtype=np.uint64))
            k = round(2 * n * target / (1 + target))  # |A ∩ B| for |A| = |B| = n
            a, b = np.unique(pool[:n]), np.unique(np.concatenate([pool[:k], pool[n : 2 * n - k]]))
            errors.append(estimate_jaccard(hasher.signature(a), hasher.signature(b)) - jaccard(a, b))
    errors = np.array(errors)
    # binomial standard error at 256 permutations is <= 0.031; mean over 40 pairs must be near 0
    assert abs(errors.mean()) < 0.015
    assert errors.std() < 0.04


def test_signatures_are_deterministic_and_seeded():
    s = shingle_set("the quick brown fox jumps over the lazy dog again and again")
    assert MinHasher(256, 1).signature(s).tolist() == MinHasher(256, 1).signature(s).tolist()
    assert MinHasher(256, 1).signature(s).tolist() != MinHasher(256, 2).signature(s).tolist()
    assert MinHasher(256).signature(np.empty(0, dtype=np.uint64)).tolist() == [0xFFFFFFFF] * 256


def test_band_keys_equal_exactly_when_band_rows_agree():
    sig = np.arange(256, dtype=np.uint32)[None, :].repeat(2, axis=0)
    sig[1, 15] += 1  # differs only inside band 1 (rows 10..19)
    keys = band_keys(sig, 25, 10)
    assert keys.shape == (2, 25)
    assert (keys[0] == keys[1]).tolist() == [True] + [False] + [True] * 23
    assert len(set(keys[0].tolist())) == 25  # band index is part of the key
    sig[1, 251] += 1  # rows 250..255 are outside the 25 x 10 bands
    assert (band_keys(sig, 25, 10)[0] == band_keys(sig, 25, 10)[1]).sum() == 24
