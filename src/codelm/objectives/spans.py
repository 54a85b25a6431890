"""T5 span corruption: noise masks, sentinel layout and exact length bookkeeping.

Shared by `span` (T5) and `ul2` (its R- and X-denoisers). Numbers and rules
follow Raffel et al. 2020 and the T5 `span_corruption` preprocessor (see
docs/objectives.md); the code is ours.

For a raw chunk of L tokens:

    noise tokens  = round(L × density), clamped to [1, L − 1]
    noise spans   = max(round(noise / mean_span), 1)
    inputs        = non-noise tokens + one sentinel per span (+ EOS)
    targets       = noise tokens + one sentinel per span (+ EOS)

Lengths depend on L only (never on the random draw), so a window of raw
length L always yields inputs and targets of the same known lengths:
512 input tokens need L = 568 and give 114 targets; 1024 need 1137 and give 229.

The number of spans is capped at the sentinels the tokenizer has (100):
T5's own code would run past its extra ids into ordinary vocabulary. At
long windows with a high noise density (UL2's X-denoisers) the cap binds
and spans get longer than `mean_span` instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from codelm.errors import ConfigError
from codelm.tokenizer.special import NUM_SENTINELS


def noise_counts(length: int, density: float, mean_span: float, max_spans: int = NUM_SENTINELS) -> tuple[int, int]:
    """(noise tokens, noise spans) for a raw chunk of `length` tokens."""
    num_noise = min(max(round(length * density), 1), length - 1)
    num_spans = max(round(num_noise / mean_span), 1)
    # Each span and each gap between spans needs at least one token.
    num_spans = min(num_spans, max_spans, num_noise, length - num_noise)
    return num_noise, num_spans


def corrupted_lengths(
    length: int,
    density: float,
    mean_span: float,
    extra_inputs: int = 1,
    extra_targets: int = 1,
    max_spans: int = NUM_SENTINELS,
) -> tuple[int, int]:
    """(input length, target length) after corrupting `length` raw tokens.

    `extra_*` counts tokens added besides sentinels: the EOS (1), plus a UL2
    mode token on the inputs.
    """
    num_noise, num_spans = noise_counts(length, density, mean_span, max_spans)
    return length - num_noise + num_spans + extra_inputs, num_noise + num_spans + extra_targets


def largest_length(fits: Callable[[int], bool], start: int = 2) -> int:
    """The largest raw length L ≥ start with `fits(L)` (lengths grow with L)."""
    if not fits(start):
        return start - 1
    length = start
    step = 1
    # gallop, then walk back: fits() is monotone for every layout we use
    while fits(length + step):
        length += step
        step *= 2
    while step > 1:
        step //= 2
        if fits(length + step):
            length += step
    return length


def random_spans_helper(
    inputs_length: int,
    noise_density: float = 0.15,
    mean_noise_span_length: float = 3.0,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
) -> tuple[int, int]:
    """T5's bookkeeping: (raw tokens to read, target length) for `inputs_length` inputs.

    Reproduces T5's `random_spans_helper` (512 → (568, 114), 1024 → (1137, 229)),
    including its tweak for density 0.5: one raw token fewer so targets are
    not longer than inputs.
    """

    def lengths(raw: int) -> tuple[int, int]:
        num_noise = round(raw * noise_density)
        num_spans = round(num_noise / mean_noise_span_length)
        return (
            raw - num_noise + num_spans * extra_tokens_per_span_inputs + 1,
            num_noise + num_spans * extra_tokens_per_span_targets + 1,
        )

    raw = largest_length(lambda n: lengths(n)[0] <= inputs_length, start=inputs_length - 1)
    inputs, targets = lengths(raw)
    if noise_density == 0.5 and targets > inputs:
        raw -= 1
        targets -= 1
    return raw, targets


def random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` into `num_segments` non-empty parts, uniformly over all such splits.

    Choosing the `num_segments − 1` cut points among the `num_items − 1` gaps
    uniformly without replacement gives every composition the same chance
    (what T5's shuffle-and-cumsum does).
    """
    if num_segments == 1:
        return np.array([num_items])
    cuts = np.sort(rng.choice(num_items - 1, size=num_segments - 1, replace=False) + 1)
    return np.diff(np.concatenate([[0], cuts, [num_items]]))


def random_spans_noise_mask(
    length: int,
    density: float,
    mean_span: float,
    rng: np.random.Generator,
    max_spans: int = NUM_SENTINELS,
) -> np.ndarray:
    """Boolean mask of `length`, True on noise; non-noise first, spans alternating."""
    num_noise, num_spans = noise_counts(length, density, mean_span, max_spans)
    noise_lengths = random_segmentation(num_noise, num_spans, rng)
    keep_lengths = random_segmentation(length - num_noise, num_spans, rng)
    # [keep_0, noise_0, keep_1, noise_1, ...]: the chunk starts with kept tokens
    interleaved = np.stack([keep_lengths, noise_lengths], axis=1).reshape(-1)
    is_noise = np.tile([False, True], num_spans)
    return np.repeat(is_noise, interleaved)


def corrupt_spans(ids: list[int], noise: np.ndarray, sentinel_ids: list[int]) -> tuple[list[int], list[int]]:
    """Inputs with each noise span replaced by the next sentinel; targets = sentinels + spans.

    ids `a b c d e f`, noise on `c d` and `f` →
    inputs `a b <extra_id_0> e <extra_id_1>`, targets `<extra_id_0> c d <extra_id_1> f`.
    EOS is added by the caller.
    """
    inputs: list[int] = []
    targets: list[int] = []
    span = -1
    previous = False
    for token, is_noise in zip(ids, noise.tolist(), strict=True):
        if is_noise:
            if not previous:
                span += 1
                inputs.append(sentinel_ids[span])
                targets.append(sentinel_ids[span])
            targets.append(token)
        else:
            inputs.append(token)
        previous = is_noise
    return inputs, targets


def check_span_params(key: str, density: float, mean_span: float) -> None:
    if not 0.0 < density < 1.0:
        raise ConfigError(f"{key}: noise density {density} must be between 0 and 1 (exclusive)")
    if mean_span < 1.0:
        raise ConfigError(f"{key}: mean span length {mean_span} must be at least 1")
