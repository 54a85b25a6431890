"""Causal language modelling with packing.

Documents are tokenised, terminated with `<|endoftext|>` and packed into
windows of `seq_len` tokens (no padding is wasted). With
`document_masking`, each token attends only to earlier tokens of its own
document and positions restart at every document, as if the documents had
been fed one by one (block-diagonal causal mask).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch

from codelm.objectives.base import Batch, Example, Objective, ObjectiveConfig, Segment
from codelm.objectives.registry import register


class CLMConfig(ObjectiveConfig):
    name: Literal["clm"] = "clm"
    document_masking: bool = False


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of plain text (no special tokens added)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def document_attention(doc_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-diagonal causal mask (B, 1, T, T) and per-document positions (B, T).

    `doc_ids[b, t]` numbers the document token t belongs to within its window.
    A bool mask (True = may attend) is what transformers' SDPA path accepts.
    """
    # doc_ids: (B, T)
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]  # (B, T, T)
    T = doc_ids.size(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    mask = (same_doc & causal)[:, None]  # (B, 1, T, T)
    # position = index within its document: t minus the start of t's document
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    arange = torch.arange(T, device=doc_ids.device).expand_as(doc_ids)
    start_pos = torch.where(starts, arange, torch.zeros_like(arange)).cummax(dim=1).values
    return mask, arange - start_pos


@register
class CLM(Objective):
    name = "clm"
    families = ("decoder",)
    Config = CLMConfig

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        ids = [*encode_text(self.tokenizer, document["content"]), self.eos_id]
        yield Segment(ids)

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        return {"input_ids": window.ids, "labels": list(window.ids), "doc_ids": window.extra["doc_ids"]}

    def collate(self, examples: list[Example]) -> Batch:
        batch = super().collate(examples)
        doc_ids = batch.pop("doc_ids")
        if self.config.document_masking:
            batch["attention_mask"], batch["position_ids"] = document_attention(doc_ids)
        return batch
