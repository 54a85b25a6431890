"""Replaced token detection (ELECTRA, Clark et al. 2020; CodeBERT's RTD) for encoders.

A small generator (a masked LM of the model's own class, narrower) fills
15% masked positions with tokens sampled from its predictions; the model
being trained, the discriminator, labels every token original or replaced.
Both are trained together:

    loss = generator MLM loss + λ · discriminator loss,   λ = 50 (ELECTRA)

Per token of the window, so as a sum with a count: the generator's summed
loss is divided by the mask rate (its mean is over the masked ~15% of
tokens), the discriminator's is over every real token. A sampled token
equal to the original counts as original (ELECTRA's labelling).

The generator and the discriminator's one-logit head are auxiliary modules:
trained and checkpointed with the model, not part of the saved encoder.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from codelm.objectives.base import (
    IGNORE_INDEX,
    Batch,
    Example,
    LossOutput,
    ObjectiveConfig,
    Segment,
    add_metric,
    hidden_size,
    model_inputs,
)
from codelm.objectives.masking import maskable, select_positions
from codelm.objectives.mlm import MaskedPacking
from codelm.objectives.registry import register


class RTDConfig(ObjectiveConfig):
    name: Literal["rtd"] = "rtd"
    mask_rate: float = Field(0.15, gt=0, lt=1, description="Share of tokens the generator fills.")
    generator_size: float = Field(0.25, gt=0, le=1, description="Generator width / model width (ELECTRA: 1/4–1/2).")
    generator_layers: int | None = Field(None, ge=1, description="Generator depth; default: the model's.")
    discriminator_weight: float = Field(50.0, gt=0, description="λ in gen_loss + λ·disc_loss (ELECTRA: 50).")
    sampling_temperature: float = Field(1.0, gt=0, description="Temperature of the generator's samples.")


def scaled_config(config: Any, ratio: float, layers: int | None) -> Any:
    """A copy of a transformers config with width (and optionally depth) scaled down."""
    small = copy.deepcopy(config)
    heads = max(1, round(config.num_attention_heads * ratio))
    head_dim = max(1, round(config.hidden_size * ratio / heads))
    small.num_attention_heads = heads
    small.hidden_size = heads * head_dim
    if getattr(config, "intermediate_size", None):
        small.intermediate_size = max(1, round(config.intermediate_size * ratio))
    if getattr(config, "num_key_value_heads", None):
        small.num_key_value_heads = heads
    if getattr(config, "head_dim", None):
        small.head_dim = head_dim
    if layers is not None:
        small.num_hidden_layers = layers
    return small


class DiscriminatorHead(torch.nn.Module):
    """ELECTRA's discriminator head: dense → GELU → one logit per token."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(hidden, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T)
        return self.out(F.gelu(self.dense(h))).squeeze(-1)


@register
class RTD(MaskedPacking):
    name = "rtd"
    families = ("encoder",)
    Config = RTDConfig
    needs_auxiliary = True

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        ids = np.asarray(window.ids)
        chosen = select_positions(maskable(ids), None, self.config.mask_rate, rng)
        # ELECTRA masks every chosen position (no 10% random / 10% kept):
        # the generator's samples already provide the "noise".
        corrupted = np.where(chosen, self.mask_id, ids)
        return {
            "input_ids": corrupted.tolist(),
            "labels": np.where(chosen, ids, IGNORE_INDEX).tolist(),
            "original_ids": ids.tolist(),
        }

    def build_auxiliary(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        c = self.config
        small = scaled_config(model.config, c.generator_size, c.generator_layers)
        from transformers import AutoModelForMaskedLM

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            # from the config, not type(model): the trainer may hand us a DDP/compile view
            generator = AutoModelForMaskedLM.from_config(small)
            head = DiscriminatorHead(hidden_size(model))
        dtype = next(model.parameters()).dtype
        return {"generator": generator.to(dtype).train(), "rtd_head": head.to(dtype)}

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        aux = self.auxiliary_modules(model)
        generator, head = aux["generator"], aux["rtd_head"]
        inputs = model_inputs(model, batch, ("input_ids", "attention_mask"))
        labels = batch["labels"]  # (B, T): originals at masked positions
        masked = labels != IGNORE_INDEX
        real = inputs["attention_mask"].bool() if "attention_mask" in inputs else torch.ones_like(masked)

        gen_logits = generator(**inputs).logits  # (B, T, V)
        gen_sum = F.cross_entropy(
            gen_logits.reshape(-1, gen_logits.size(-1)).float(), labels.reshape(-1),
            ignore_index=IGNORE_INDEX, reduction="sum",
        )
        with torch.no_grad():
            # sample replacements from the generator (no gradient through sampling)
            probs = F.softmax(gen_logits[masked].float() / self.config.sampling_temperature, dim=-1)
            sampled = torch.multinomial(probs, 1).squeeze(-1) if probs.numel() else labels[masked]
            disc_ids = batch["original_ids"].clone()
            disc_ids[masked] = sampled
            replaced = (disc_ids != batch["original_ids"]).float()

        disc_batch = {"input_ids": disc_ids, **({"attention_mask": batch["attention_mask"]} if "attention_mask" in batch else {})}
        disc_logits = head(self._hidden(model, disc_batch))  # (B, T)
        disc_all = F.binary_cross_entropy_with_logits(disc_logits.float(), replaced, reduction="none")
        disc_sum = (disc_all * real).sum()
        n_real = real.sum()
        n_masked = masked.sum()
        loss_sum = gen_sum / self.config.mask_rate + self.config.discriminator_weight * disc_sum
        metrics: dict[str, torch.Tensor] = {}
        add_metric(metrics, "generator_loss", gen_sum, n_masked)
        add_metric(metrics, "discriminator_loss", disc_sum, n_real)
        correct = ((disc_logits > 0).float() == replaced) & real
        add_metric(metrics, "discriminator_accuracy", correct.sum().float(), n_real)
        add_metric(metrics, "replaced_share", (replaced * real).sum(), n_real)
        return LossOutput(loss_sum, n_real, metrics)

    def _hidden(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        from codelm.objectives.base import hidden_states

        return hidden_states(model, model_inputs(model, batch), self.family)
