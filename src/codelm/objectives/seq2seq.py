"""Input → target examples in each family's layout (span corruption, UL2, masked identifiers).

- encoder–decoder: `input_ids` = inputs, `labels` = targets (T5 shifts them
  right into the decoder).
- decoder: one sequence `inputs ++ targets`, loss on the targets only
  (inputs get IGNORE_INDEX labels). With `prefix_lm` the inputs attend
  bidirectionally (UniLM / UL2's prefix LM) through a 4-D mask from
  `codelm.models.masks`; otherwise attention stays causal.
"""

from __future__ import annotations

from typing import Any

import torch

from codelm.objectives.base import IGNORE_INDEX, Batch, Example, pad_and_stack


def seq2seq_example(inputs: list[int], targets: list[int], family: str) -> Example:
    if family == "encdec":
        return {"input_ids": inputs, "labels": targets}
    return {
        "input_ids": inputs + targets,
        "labels": [IGNORE_INDEX] * len(inputs) + targets,
        "prefix_len": len(inputs),
    }


def seq2seq_collate(examples: list[Example], pad_id: int, family: str, prefix_lm: bool) -> Batch:
    batch = pad_and_stack(examples, pad_id)
    prefix_len = batch.pop("prefix_len", None)
    if family == "decoder" and prefix_lm and prefix_len is not None:
        batch["attention_mask"] = prefix_attention(prefix_len, batch["attention_mask"])
    return batch


def prefix_attention(prefix_len: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Boolean (B, 1, T, T) prefix-LM mask (True = may attend); `model_inputs` makes it additive."""
    from codelm.models.masks import allowed_4d

    T = attention_mask.shape[1]
    prefix = torch.arange(T)[None, :] < prefix_len[:, None]  # (B, T)
    return allowed_4d(attention_mask, prefix_mask=prefix)


def fits_family(family: str, seq_len: int) -> Any:
    """Length check for a layout: encdec bounds the inputs, decoders inputs + targets."""

    def fits(lengths: tuple[int, int]) -> bool:
        inputs, targets = lengths
        if family == "encdec":
            return inputs <= seq_len
        return inputs + targets <= seq_len

    return fits
