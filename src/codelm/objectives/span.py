"""T5 span corruption (Raffel et al. 2020) for encoder–decoders and decoders.

Documents are packed, each ending with `<|endoftext|>`, into raw windows of
the length T5's bookkeeping asks for (568 tokens for 512 inputs), so every
example has exactly `seq_len` input tokens: no padding, no truncation.
On a decoder the corrupted input and its targets form one sequence of
`seq_len` tokens at most, and only the targets are predicted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field

from codelm.errors import ConfigError
from codelm.objectives.base import Batch, Example, Objective, ObjectiveConfig, Segment, token_id
from codelm.objectives.registry import register
from codelm.objectives.seq2seq import fits_family, seq2seq_collate, seq2seq_example
from codelm.objectives.spans import (
    check_span_params,
    corrupt_spans,
    corrupted_lengths,
    largest_length,
    random_spans_noise_mask,
)
from codelm.objectives.text import encode_text
from codelm.tokenizer.special import NUM_SENTINELS, sentinel


class SpanConfig(ObjectiveConfig):
    name: Literal["span"] = "span"
    noise_density: float = Field(0.15, gt=0, lt=1, description="Fraction of raw tokens corrupted (T5: 0.15).")
    mean_noise_span_length: float = Field(3.0, ge=1, description="Mean corrupted span length (T5: 3).")
    prefix_lm: bool = Field(False, description="Decoders: the corrupted input attends bidirectionally.")


def sentinel_ids(tokenizer: Any) -> list[int]:
    return [token_id(tokenizer, sentinel(i)) for i in range(NUM_SENTINELS)]


@register
class SpanCorruption(Objective):
    name = "span"
    families = ("encdec", "decoder")
    Config = SpanConfig

    def __init__(self, config: SpanConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        check_span_params("span", config.noise_density, config.mean_noise_span_length)
        self.sentinels = sentinel_ids(tokenizer)
        fits = fits_family(family, seq_len)
        self.raw_len = largest_length(lambda n: fits(self.lengths(n)))
        if self.raw_len < 2:
            raise ConfigError(f"span: seq_len {seq_len} is too short for span corruption; use at least 8")
        self.inputs_len, self.targets_len = self.lengths(self.raw_len)

    def lengths(self, raw: int) -> tuple[int, int]:
        c = self.config
        return corrupted_lengths(raw, c.noise_density, c.mean_noise_span_length)

    def window_len(self) -> int:
        return self.raw_len

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        yield Segment([*encode_text(self.tokenizer, document["content"]), self.eos_id])

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        c = self.config
        noise = random_spans_noise_mask(len(window.ids), c.noise_density, c.mean_noise_span_length, rng)
        inputs, targets = corrupt_spans(window.ids, noise, self.sentinels)
        return seq2seq_example([*inputs, self.eos_id], [*targets, self.eos_id], self.family)

    def collate(self, examples: list[Example]) -> Batch:
        return seq2seq_collate(examples, self.pad_id, self.family, self.config.prefix_lm)
