"""Memory needed by a training config, estimated before anything is allocated.

Parts (bytes):
- weights: fp32 master copy, 4 per parameter (autocast keeps fp32 weights);
- gradients: 4 per trainable parameter;
- AdamW: two fp32 moments, 8 per trainable parameter;
- activations per micro-batch, from Korthikanti et al. 2022 ("Reducing
  Activation Recomputation in Large Transformer Models"): s·b·h·(34 + 5·a·s/h)
  bytes per layer with 16-bit activations (a = heads); doubled for fp32. With
  gradient checkpointing only each layer's input (2·s·b·h bytes in 16 bit) is
  kept, plus one layer's activations during its recomputation;
- logits: b·s·V in the activation dtype, plus the fp32 copy and its gradient
  the loss makes (cross-entropy runs in fp32).

A 10% margin covers the allocator and workspace. The budget is the device's
total memory on CUDA and the free RAM (MemAvailable) on CPU.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from codelm.errors import ConfigError
from codelm.train.throughput import ModelShape

GiB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float

    @property
    def total(self) -> float:
        return 1.1 * (self.weights + self.gradients + self.optimizer + self.activations + self.logits)

    def as_gib(self) -> dict[str, float]:
        parts = {k: round(v / GiB, 3) for k, v in asdict(self).items()}
        parts["total"] = round(self.total / GiB, 3)
        return parts


def estimate_memory(
    shape: ModelShape,
    *,
    micro_batch_size: int,
    seq_len: int,
    precision: str,
    gradient_checkpointing: bool,
    trainable_params: int | None = None,
) -> MemoryEstimate:
    n = shape.n_params
    trainable = n if trainable_params is None else trainable_params
    b, s, h, a = micro_batch_size, seq_len, shape.hidden, shape.heads
    act_bytes = 2 if precision in ("bf16", "fp16") else 4
    scale = act_bytes / 2  # the formula is for 16-bit activations
    layers = shape.layers + (shape.decoder_layers if shape.family == "encdec" else 0)
    per_layer = s * b * h * (34 + 5 * a * s / h) * scale
    if gradient_checkpointing:
        activations = layers * 2 * s * b * h * scale + per_layer
    else:
        activations = layers * per_layer
    logits = b * s * shape.vocab * (act_bytes + 4 + 4)
    return MemoryEstimate(
        weights=4.0 * n,
        gradients=4.0 * trainable,
        optimizer=8.0 * trainable,
        activations=float(activations),
        logits=float(logits),
    )


def available_memory(device: torch.device) -> float:
    """Bytes a run may use on `device`."""
    if device.type == "cuda":
        return float(torch.cuda.get_device_properties(device).total_memory)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_fits(estimate: MemoryEstimate, budget: float, device: torch.device) -> None:
    """Refuse a config that cannot fit, naming the biggest part and what to change."""
    if estimate.total <= budget:
        return
    parts = estimate.as_gib()
    biggest = max(("weights", "gradients", "optimizer", "activations", "logits"), key=lambda k: parts[k])
    advice = {
        "activations": "lower loop.micro_batch_size (raise loop.grad_accum to keep the batch), "
        "set loop.gradient_checkpointing=true or shorten data.seq_len",
        "logits": "lower loop.micro_batch_size or data.seq_len",
    }.get(biggest, "choose a smaller model or shard it with FSDP (docs/training.md)")
    detail = ", ".join(f"{k} {parts[k]}" for k in ("weights", "gradients", "optimizer", "activations", "logits"))
    raise ConfigError(
        f"training needs about {parts['total']} GiB ({detail}) but {device.type} has {budget / GiB:.1f} GiB; "
        f"{advice} (or memory.check=false to try anyway)"
    )
