"""Learning-rate schedules: linear warmup, then cosine / linear / WSD / constant.

One pure function gives the multiplier of `optim.lr` at every step, so the
schedule can be plotted, tested and resumed (LambdaLR stores only the step).
transformers spreads these shapes over several factories with different
min-lr conventions; one function with one `min_lr_ratio` is easier to trust.

Warmup-stable-decay (MiniCPM, Hu et al. 2024) holds the peak rate and decays
only over the final `decay_fraction` of steps, so a run can be extended from
any stable-phase checkpoint.
"""

from __future__ import annotations

import math

import torch

from codelm.train.config import ScheduleSection


def lr_factor(step: int, total_steps: int, cfg: ScheduleSection) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based: the step about to run)."""
    warmup = min(cfg.warmup_steps, total_steps)
    if step < warmup:
        return (step + 1) / warmup  # reaches 1.0 at the last warmup step, never 0 at step 0
    floor = cfg.min_lr_ratio
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "wsd":
        decay_steps = max(1, round(cfg.decay_fraction * total_steps))
        decay_start = max(warmup, total_steps - decay_steps)
        if step < decay_start:
            return 1.0
        progress = (step - decay_start + 1) / max(1, total_steps - decay_start)
        return 1.0 - (1.0 - floor) * min(progress, 1.0)
    progress = (step - warmup + 1) / max(1, total_steps - warmup)  # in (0, 1]
    progress = min(progress, 1.0)
    if cfg.kind == "linear":
        return 1.0 - (1.0 - floor) * progress
    # cosine from 1 down to floor
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, cfg: ScheduleSection) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg))
