"""Masked language modelling (BERT / CodeBERT) for encoders, with whole-identifier masking.

Documents are packed, each ending with `<|endoftext|>`, into windows of
`seq_len` tokens; 15% of each window's ordinary tokens are predicted
(80% shown as `<mask>`, 10% as a random token, 10% unchanged). With
`whole_identifier`, all sub-tokens of an identifier occurrence are masked
together (identifiers from `codelm.analysis`), so the model cannot recover
`max_len` from `max_` and `len` next to each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from codelm.objectives.base import Example, Objective, ObjectiveConfig, Segment, token_id
from codelm.objectives.masking import apply_mask, identifier_units, maskable, select_positions
from codelm.objectives.registry import register
from codelm.objectives.text import encode_text


class MLMConfig(ObjectiveConfig):
    name: Literal["mlm"] = "mlm"
    mask_rate: float = Field(0.15, gt=0, lt=1, description="Share of tokens predicted (BERT: 0.15).")
    mask_token_rate: float = Field(0.8, ge=0, le=1, description="Of those, shown as <mask>.")
    random_token_rate: float = Field(0.1, ge=0, le=1, description="Of those, shown as a random token.")
    whole_identifier: bool = Field(False, description="Mask every sub-token of an identifier occurrence together.")

    @model_validator(mode="after")
    def _rates(self) -> MLMConfig:
        if self.mask_token_rate + self.random_token_rate > 1:
            raise ValueError("mask_token_rate + random_token_rate must be at most 1 (the rest stays unchanged)")
        return self


class MaskedPacking(Objective):
    """Packed documents with optional identifier units (base of MLM, RTD, diffusion)."""

    whole_identifier = False

    def __init__(self, config: ObjectiveConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.mask_id = token_id(tokenizer, "<mask>")
        self.vocab_size = len(tokenizer)

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        text = document["content"]
        if self.whole_identifier:
            ids, units = identifier_units(self.tokenizer, text, document.get("language"))
            yield Segment([*ids, self.eos_id], extra={"unit": [*units, -1]})
        else:
            yield Segment([*encode_text(self.tokenizer, text), self.eos_id])

    def window_units(self, window: Segment) -> np.ndarray | None:
        """Unit ids unique within the window (document index × occurrence), −1 for none."""
        if "unit" not in window.extra:
            return None
        units = np.asarray(window.extra["unit"], dtype=np.int64)
        docs = np.asarray(window.extra["doc_ids"], dtype=np.int64)
        return np.where(units >= 0, docs * (1 << 32) + units, -1)


@register
class MLM(MaskedPacking):
    name = "mlm"
    families = ("encoder",)
    Config = MLMConfig

    def __init__(self, config: MLMConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.whole_identifier = config.whole_identifier

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        c = self.config
        ids = np.asarray(window.ids)
        chosen = select_positions(maskable(ids), self.window_units(window), c.mask_rate, rng)
        corrupted, labels, _ = apply_mask(
            ids, chosen, rng, self.mask_id, self.vocab_size, c.mask_token_rate, c.random_token_rate
        )
        return {"input_ids": corrupted.tolist(), "labels": labels.tolist()}
