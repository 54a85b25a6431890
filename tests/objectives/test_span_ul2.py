from __future__ import annotations

import itertools

import numpy as np
import pytest

from codelm.errors import ConfigError
from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, make_rng
from codelm.objectives.spans import (
    corrupt_spans,
    corrupted_lengths,
    random_segmentation,
    random_spans_helper,
    random_spans_noise_mask,
)
from codelm.objectives.ul2 import prefix_length

EOS = 0
SENTINEL_0 = 17  # <extra_id_0>
NLU, NLG, S2S = 14, 15, 16


def is_sentinel(t: int) -> bool:
    return SENTINEL_0 <= t < SENTINEL_0 + 100


def uncorrupt(inputs: list[int], targets: list[int]) -> list[int]:
    """Put the removed spans back in place of their sentinels."""
    spans: dict[int, list[int]] = {}
    current = None
    for t in targets:
        if is_sentinel(t):
            current = t
            spans[t] = []
        else:
            spans[current].append(t)
    out = []
    for t in inputs:
        out.extend(spans[t] if is_sentinel(t) else [t])
    return out


def test_t5_bookkeeping():
    assert random_spans_helper(512, 0.15, 3.0) == (568, 114)
    assert random_spans_helper(1024, 0.15, 3.0) == (1137, 229)
    assert corrupted_lengths(568, 0.15, 3.0) == (512, 114)
    assert corrupted_lengths(1137, 0.15, 3.0) == (1024, 229)


def test_random_segmentation_parts_are_positive_and_uniform():
    rng = make_rng(0)
    seen = {}
    for _ in range(6000):
        parts = random_segmentation(5, 3, rng)
        assert parts.sum() == 5 and (parts > 0).all()
        seen[tuple(parts)] = seen.get(tuple(parts), 0) + 1
    # C(4, 2) = 6 compositions of 5 into 3 positive parts, each ~1/6
    assert len(seen) == 6
    assert all(abs(c / 6000 - 1 / 6) < 0.02 for c in seen.values())


def test_noise_mask_starts_clean_and_alternates():
    mask = random_spans_noise_mask(100, 0.15, 3.0, make_rng(1))
    assert mask.sum() == 15 and not mask[0] and mask[-1]
    starts = np.flatnonzero(mask[1:] & ~mask[:-1]) + 1
    assert len(starts) == 5  # round(15 / 3)


def test_corrupt_spans_layout():
    ids = [101, 102, 103, 104, 105, 106]
    noise = np.array([False, False, True, True, False, True])
    inputs, targets = corrupt_spans(ids, noise, list(range(17, 117)))
    assert inputs == [101, 102, 17, 105, 18]
    assert targets == [17, 103, 104, 18, 106]


@pytest.fixture(scope="module")
def span_examples(tokenizer, stdlib_docs):
    span = build_objective({"name": "span"}, tokenizer, "encdec", seq_len=512)
    docs = stdlib_docs[::40]
    stream = ExampleStream(span, lambda epoch, start: iter(docs[start:]), seed=0)
    return span, list(itertools.islice(stream, 200))


def test_span_corruption_statistics_on_stdlib(span_examples):
    span, examples = span_examples
    assert span.window_len() == 568
    noise = spans = raw = 0
    span_lengths = []
    for ex in examples:
        inputs, targets = ex["input_ids"], ex["labels"]
        assert len(inputs) == 512 and len(targets) == 114  # T5 bookkeeping, every example
        assert inputs[-1] == EOS and targets[-1] == EOS
        in_sentinels = [t for t in inputs if is_sentinel(t)]
        tgt_sentinels = [t for t in targets if is_sentinel(t)]
        # sentinels in order <extra_id_0>, <extra_id_1>, ... in both
        assert in_sentinels == tgt_sentinels == list(range(SENTINEL_0, SENTINEL_0 + len(in_sentinels)))
        assert len(uncorrupt(inputs[:-1], targets[:-1])) == 568
        body = targets[:-1]
        n_noise = sum(not is_sentinel(t) for t in body)
        noise += n_noise
        spans += len(tgt_sentinels)
        raw += 568
        run = 0
        for t in [*body[1:], SENTINEL_0]:
            if is_sentinel(t):
                span_lengths.append(run)
                run = 0
            else:
                run += 1
    assert abs(noise / raw - 0.15) <= 0.01
    assert abs(noise / spans - 3.0) <= 0.05 * 3.0
    assert abs(np.mean(span_lengths) - 3.0) <= 0.05 * 3.0
    assert np.std(span_lengths) > 1.0  # span lengths vary (random segmentation), not all 3


def test_span_reconstructs_the_packed_stream(tokenizer, stdlib_docs):
    span = build_objective({"name": "span"}, tokenizer, "encdec", seq_len=1024)
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", seq_len=1137)
    docs = stdlib_docs[:20]
    corrupted = list(itertools.islice(ExampleStream(span, lambda e, s: iter(docs[s:]), 0), 5))
    plain = list(itertools.islice(ExampleStream(clm, lambda e, s: iter(docs[s:]), 0), 5))
    for ex, raw in zip(corrupted, plain, strict=True):
        assert len(ex["input_ids"]) == 1024 and len(ex["labels"]) == 229
        assert uncorrupt(ex["input_ids"][:-1], ex["labels"][:-1]) == raw["input_ids"]


def test_span_on_decoder_concatenates_and_trains_on_targets_only(tokenizer, snippets):
    span = build_objective({"name": "span", "prefix_lm": True}, tokenizer, "decoder", seq_len=128)
    examples = list(itertools.islice(ExampleStream(span, lambda e, s: iter(snippets[s:]), 0), 8))
    for ex in examples:
        n_in = ex["prefix_len"]
        assert len(ex["input_ids"]) <= 128
        assert ex["labels"][:n_in] == [IGNORE_INDEX] * n_in
        assert ex["labels"][n_in:] == ex["input_ids"][n_in:]
        assert ex["input_ids"][n_in - 1] == EOS and ex["input_ids"][-1] == EOS
    batch = span.collate(examples)
    assert batch["attention_mask"].shape == (8, 1, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
    n_in = examples[0]["prefix_len"]
    mask = batch["attention_mask"][0, 0]
    assert mask[0, n_in - 1] and not mask[n_in, n_in + 1]  # bidirectional prefix, causal targets


def test_too_short_seq_len_is_a_config_error(tokenizer):
    with pytest.raises(ConfigError, match="too short"):
        build_objective({"name": "span"}, tokenizer, "decoder", seq_len=3)
    with pytest.raises(ConfigError, match="does not fit the encoder family; it supports: encdec, decoder"):
        build_objective({"name": "span"}, tokenizer, "encoder", seq_len=64)


def test_ul2_denoiser_shares_mode_tokens_and_lengths(tokenizer, snippets):
    ul2 = build_objective({"name": "ul2"}, tokenizer, "encdec", seq_len=64)
    stream = ExampleStream(ul2, lambda e, s: iter(snippets[s:]), seed=0)
    examples = list(itertools.islice(stream, 3000))
    counts = np.bincount([ex["denoiser"] for ex in examples], minlength=7) / len(examples)
    expected = np.array([1 / 6, 1 / 6, 1 / 12, 1 / 12, 1 / 12, 1 / 12, 1 / 3])
    assert np.abs(counts - expected).max() < 0.025
    denoisers = ul2.config.denoisers
    for ex in examples:
        d = denoisers[ex["denoiser"]]
        inputs, targets = ex["input_ids"], ex["labels"]
        assert inputs[0] == {"R": NLU, "X": NLG, "S": S2S}[d.kind]
        raw = ul2.raw_lens[ex["denoiser"]]
        if d.kind == "S":
            assert not any(is_sentinel(t) for t in inputs + targets)
            assert len(inputs) - 2 + len(targets) - 1 == raw
        else:
            assert len(inputs) == corrupted_lengths(raw, d.rate, d.mean_span, extra_inputs=2)[0] <= 64
            assert len(uncorrupt(inputs[1:-1], targets[:-1])) == raw
    # R(μ=3, r=0.15) at 64 inputs: the same bookkeeping as T5's
    assert ul2.raw_lens[0] == random_spans_helper(63, 0.15, 3.0)[0]


def test_ul2_s_denoiser_prefix_share():
    rng = make_rng(0)
    shares = [1 - prefix_length(200, 0.25, rng) / 200 for _ in range(5000)]
    assert abs(np.mean(shares) - 0.25) < 0.01
    assert min(shares) > 0


def test_ul2_resume_is_exact_with_varying_window_lengths(tokenizer, snippets):
    ul2 = build_objective({"name": "ul2"}, tokenizer, "decoder", seq_len=64)
    docs = snippets[:300]
    full = [ex["input_ids"] for ex in itertools.islice(ExampleStream(ul2, lambda e, s: iter(docs[s:]), 3), 60)]
    stream = ExampleStream(ul2, lambda e, s: iter(docs[s:]), 3)
    head = [ex["input_ids"] for ex in itertools.islice(stream, 25)]
    resumed = ExampleStream(ul2, lambda e, s: iter(docs[s:]), 3)
    resumed.load_state_dict(stream.state_dict())
    tail = [ex["input_ids"] for ex in itertools.islice(resumed, 35)]
    assert head + tail == full
    assert len({len(x) for x in full}) > 1


def test_ul2_custom_denoisers_are_validated(tokenizer):
    with pytest.raises(ConfigError, match=r"ul2.denoisers.0.mean_span is required"):
        build_objective({"name": "ul2", "denoisers": [{"kind": "R", "rate": 0.15}]}, tokenizer, "encdec", 64)
    with pytest.raises(ConfigError, match=r"at most 0\.5"):
        build_objective({"name": "ul2", "denoisers": [{"kind": "S", "rate": 0.7}]}, tokenizer, "encdec", 64)
