"""Masked diffusion for encoders (CodeFusion-style non-autoregressive denoising).

Training (the absorbing-state / masked-diffusion ELBO, as in LLaDA): per
window draw a masking level t ~ U(0, 1), replace each ordinary token with
`<mask>` independently with probability t, and predict the masked tokens
with their cross-entropy weighted by 1/t. As a sum with a count:

    loss_sum = Σ_windows (1/t) Σ_masked CE,     num_targets = real tokens

so loss_sum / num_targets is the per-token bound, and low-t windows (few
masks, easy) are not drowned by high-t ones. t is kept ≥ `min_t` so 1/t
stays bounded.

Generation (`diffusion_generate`): start from a template whose unknown
positions are `<mask>` (all of them, or the middle between a prefix and a
suffix for infilling), and over K steps predict every masked position,
commit the most confident predictions (a linear schedule: after step k,
k/K of the masks are filled), and leave the rest masked for the next step
(low-confidence remasking).
"""

from __future__ import annotations

import math
from typing import Literal

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
    model_inputs,
)
from codelm.objectives.masking import maskable
from codelm.objectives.mlm import MaskedPacking
from codelm.objectives.registry import register
from codelm.tokenizer.special import NUM_SPECIAL


class DiffusionConfig(ObjectiveConfig):
    name: Literal["diffusion"] = "diffusion"
    min_t: float = Field(1e-3, gt=0, lt=1, description="Lower bound of the masking level t (bounds the 1/t weight).")


@register
class MaskedDiffusion(MaskedPacking):
    name = "diffusion"
    families = ("encoder",)
    Config = DiffusionConfig

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        ids = np.asarray(window.ids)
        t = float(rng.uniform(self.config.min_t, 1.0))
        candidates = maskable(ids)
        masked = candidates & (rng.random(len(ids)) < t)
        if not masked.any() and candidates.any():
            masked[rng.choice(np.flatnonzero(candidates))] = True  # at least one target per window
        return {
            "input_ids": np.where(masked, self.mask_id, ids).tolist(),
            "labels": np.where(masked, ids, IGNORE_INDEX).tolist(),
            "t": t,
        }

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        inputs = model_inputs(model, batch, ("input_ids", "attention_mask"))
        logits = model(**inputs).logits  # (B, T, V)
        labels = batch["labels"]
        ce = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
            ignore_index=IGNORE_INDEX, reduction="none",
        ).view(labels.shape)  # (B, T), 0 where ignored
        t = batch["t"].to(ce.dtype)  # (B,)
        weighted = (ce.sum(dim=1) / t).sum()
        real = batch["attention_mask"].sum() if "attention_mask" in batch else torch.tensor(labels.numel())
        metrics: dict[str, torch.Tensor] = {}
        add_metric(metrics, "masked_ce", ce.sum(), (labels != IGNORE_INDEX).sum())
        return LossOutput(weighted, real, metrics)


@torch.no_grad()
def diffusion_generate(
    model: torch.nn.Module,
    template: list[int],
    mask_id: int,
    steps: int = 8,
    temperature: float = 0.0,
    seed: int = 0,
    banned_ids: list[int] | None = None,
) -> tuple[list[int], list[int]]:
    """Fill every `mask_id` in `template` in `steps` rounds of parallel prediction.

    Returns the completed ids and, per step, how many positions were
    committed. With temperature 0 the choice is argmax (deterministic);
    otherwise tokens are sampled from a torch generator seeded by `seed`.
    Special tokens (ids below the first ordinary token) and `banned_ids`
    are never produced.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    device = next(model.parameters()).device
    ids = torch.tensor([template], device=device)  # (1, T)
    total = int((ids == mask_id).sum())
    generator = torch.Generator(device="cpu").manual_seed(seed)
    committed_per_step: list[int] = []
    for step in range(steps):
        masked = ids[0] == mask_id
        remaining = int(masked.sum())
        if remaining == 0:
            committed_per_step.append(0)
            continue
        # linear schedule: after step k, round(k/K · total) positions are filled
        target_filled = math.ceil(total * (step + 1) / steps)
        n_commit = min(remaining, max(1, target_filled - (total - remaining)))
        logits = model(input_ids=ids).logits[0].float()  # (T, V)
        logits[:, :NUM_SPECIAL] = -float("inf")
        if banned_ids:
            logits[:, banned_ids] = -float("inf")
        probs = F.softmax(logits, dim=-1)
        if temperature > 0:
            tempered = F.softmax(logits / temperature, dim=-1).cpu()
            choice = torch.multinomial(tempered, 1, generator=generator).squeeze(-1).to(device)
        else:
            choice = probs.argmax(dim=-1)
        confidence = probs.gather(-1, choice[:, None]).squeeze(-1)
        confidence[~masked] = -1.0  # only masked positions compete
        commit = confidence.topk(n_commit).indices
        ids[0, commit] = choice[commit]
        committed_per_step.append(n_commit)
    return ids[0].tolist(), committed_per_step


def infill_template(prefix: list[int], length: int, suffix: list[int], mask_id: int) -> list[int]:
    """prefix + `length` masks + suffix: what `diffusion_generate` fills for infilling."""
    return [*prefix, *([mask_id] * length), *suffix]
