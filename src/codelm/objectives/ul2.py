"""UL2 mixture of denoisers (Tay et al. 2022, Table 1).

Each packed window picks one denoiser by weight:

- R (regular span corruption, mode token `[NLU]`): (μ=3, r=0.15), (μ=8, r=0.15)
- X (extreme: long spans or high rates, `[NLG]`): (μ=3, r=0.5), (μ=8, r=0.5),
  (μ=64, r=0.15), (μ=64, r=0.5)
- S (sequential prefix LM, `[S2S]`): the input is a prefix, the target the
  rest of the window, r=0.25 of it on average.

The mode token starts the input, so at inference time a user can ask for
the behaviour they want. Default weights give each class a third (R split
in two, X in four), the common choice; U-PaLM's UL2R used 50% S / 25% R /
25% X.

Every denoiser gets its own raw window length from the T5 bookkeeping, so
each example fills `seq_len` input tokens exactly (R, X) or at most (S):
the denoiser is drawn before the window is cut (`next_window_len`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field

from codelm.config import Section
from codelm.errors import ConfigError
from codelm.objectives.base import Batch, Example, Objective, ObjectiveConfig, Segment, token_id
from codelm.objectives.registry import register
from codelm.objectives.seq2seq import fits_family, seq2seq_collate, seq2seq_example
from codelm.objectives.span import sentinel_ids
from codelm.objectives.spans import (
    check_span_params,
    corrupt_spans,
    corrupted_lengths,
    largest_length,
    random_spans_noise_mask,
)
from codelm.objectives.text import encode_text
from codelm.tokenizer.special import MODE_NLG, MODE_NLU, MODE_S2S

MODE_TOKENS = {"R": MODE_NLU, "X": MODE_NLG, "S": MODE_S2S}


class Denoiser(Section):
    kind: Literal["R", "X", "S"]
    mean_span: float | None = Field(None, ge=1, description="Mean span length μ (R and X only).")
    rate: float = Field(gt=0, lt=1, description="Corruption rate r (S: mean suffix share, at most 0.5).")
    weight: float = Field(1.0, gt=0)


def default_denoisers() -> list[Denoiser]:
    """UL2 Table 1, one third of the weight per class."""
    r = [(3, 0.15), (8, 0.15)]
    x = [(3, 0.5), (8, 0.5), (64, 0.15), (64, 0.5)]
    return [
        *(Denoiser(kind="R", mean_span=m, rate=v, weight=1 / 6) for m, v in r),
        *(Denoiser(kind="X", mean_span=m, rate=v, weight=1 / 12) for m, v in x),
        Denoiser(kind="S", rate=0.25, weight=1 / 3),
    ]


class UL2Config(ObjectiveConfig):
    name: Literal["ul2"] = "ul2"
    denoisers: list[Denoiser] = Field(default_factory=default_denoisers, min_length=1)
    mode_tokens: bool = Field(True, description="Start each input with [NLU]/[NLG]/[S2S].")
    prefix_lm: bool = Field(True, description="Decoders: the input part attends bidirectionally.")


def prefix_length(length: int, rate: float, rng: np.random.Generator) -> int:
    """S-denoiser split: prefix uniform in [round((1 − 2r)·L), L − 1], so the suffix is r·L on average.

    The same rule as T5's `random_prefix_noise_mask`; the suffix always has
    at least one token.
    """
    low = min(max(1, round((1 - 2 * rate) * length)), length - 1)
    return int(rng.integers(low, length))  # high end exclusive: at most L − 1


@register
class UL2(Objective):
    name = "ul2"
    families = ("encdec", "decoder")
    Config = UL2Config

    def __init__(self, config: UL2Config, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.sentinels = sentinel_ids(tokenizer)
        self.mode_ids = {k: token_id(tokenizer, t) for k, t in MODE_TOKENS.items()}
        weights = np.array([d.weight for d in config.denoisers], dtype=float)
        self.probs = weights / weights.sum()
        self._cumulative = np.cumsum(self.probs)
        fits = fits_family(family, seq_len)
        mode = 1 if config.mode_tokens else 0
        self.raw_lens: list[int] = []
        for i, d in enumerate(config.denoisers):
            key = f"ul2.denoisers.{i}"
            if d.kind == "S":
                if d.rate > 0.5:
                    raise ConfigError(f"{key}.rate: the S-denoiser's rate {d.rate} must be at most 0.5")
                # inputs: mode + prefix (≤ L − 1) + EOS on encdec; decoders add the suffix + EOS
                raw = seq_len - mode if family == "encdec" else seq_len - mode - 1
            else:
                if d.mean_span is None:
                    raise ConfigError(f"{key}.mean_span is required for an {d.kind}-denoiser")
                check_span_params(key, d.rate, d.mean_span)
                raw = largest_length(
                    lambda n, d=d: fits(corrupted_lengths(n, d.rate, d.mean_span, extra_inputs=1 + mode))
                )
            if raw < 2:
                raise ConfigError(f"ul2: seq_len {seq_len} is too short for denoiser {key}; use at least 8")
            self.raw_lens.append(raw)

    def window_len(self) -> int:
        return max(self.raw_lens)

    def _draw(self, rng: np.random.Generator) -> int:
        """Denoiser index by weight (inverse CDF: one uniform, much cheaper than rng.choice)."""
        return min(int(np.searchsorted(self._cumulative, rng.random(), side="right")), len(self.probs) - 1)

    def next_window_len(self, rng: np.random.Generator) -> int:
        return self.raw_lens[self._draw(rng)]

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        yield Segment([*encode_text(self.tokenizer, document["content"]), self.eos_id])

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        index = self._draw(rng)  # the same first draw as next_window_len
        d = self.config.denoisers[index]
        ids = window.ids
        mode = [self.mode_ids[d.kind]] if self.config.mode_tokens else []
        if d.kind == "S":
            split = prefix_length(len(ids), d.rate, rng)
            if self.family == "encdec":
                inputs, targets = [*mode, *ids[:split], self.eos_id], [*ids[split:], self.eos_id]
            else:  # the target simply continues the prefix
                inputs, targets = [*mode, *ids[:split]], [*ids[split:], self.eos_id]
        else:
            noise = random_spans_noise_mask(len(ids), d.rate, d.mean_span, rng)
            corrupted, removed = corrupt_spans(ids, noise, self.sentinels)
            inputs, targets = [*mode, *corrupted, self.eos_id], [*removed, self.eos_id]
        example = seq2seq_example(inputs, targets, self.family)
        example["denoiser"] = index
        return example

    def collate(self, examples: list[Example]) -> Batch:
        batch = seq2seq_collate(examples, self.pad_id, self.family, self.config.prefix_lm)
        batch.pop("denoiser", None)
        return batch
