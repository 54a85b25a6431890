"""FLOPs from the model's real shape, a measured matmul peak, and MFU.

Model FLOPs follow PaLM (Chowdhery et al. 2022, appendix B): per token,
6·N for the weight matmuls of forward + backward (N = parameters that take
part in a matmul: every Linear, the output projection included even when it
is tied to the embedding; embedding lookups and norms excluded) plus
12·L·H·Q·T for attention scores and values (L layers, H query heads of size
Q, sequence length T; the full T×T product is counted even under a causal
mask, as PaLM does). Gradient checkpointing recomputes the forward but this
is *model* FLOPs utilisation: recomputation does not count as useful work.

The peak is measured at start-up by timing a square matmul in the training
dtype, so MFU on a laptop CPU means the fraction of what this machine's BLAS
actually reaches, not of a datasheet number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from codelm.objectives.base import Batch


def _first_attr(config, names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count needs to know about a model."""

    family: str
    n_matmul: int  # decoder-only / encoder-only: all matmul parameters
    n_matmul_encoder: int  # encdec: encoder part
    n_matmul_decoder: int  # encdec: decoder part + output projection
    layers: int
    decoder_layers: int
    heads: int
    head_dim: int
    hidden: int
    vocab: int
    n_params: int

    @property
    def attn_width(self) -> int:
        return self.heads * self.head_dim


def _is_matmul_module(module: torch.nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D  # GPT-2 style linear layer

    return isinstance(module, torch.nn.Linear | Conv1D)


def model_shape(model: torch.nn.Module, family: str) -> ModelShape:
    """Read the shape from an (unwrapped, possibly meta-device) transformers model."""
    config = model.config
    total = enc = dec = 0
    for name, module in model.named_modules():
        if not _is_matmul_module(module):
            continue
        n = module.weight.numel()
        total += n
        if name.startswith(("encoder.", "model.encoder.")):
            enc += n
        else:
            dec += n
    hidden = _first_attr(config, ("hidden_size", "d_model", "n_embd"))
    heads = _first_attr(config, ("num_attention_heads", "num_heads", "n_head"))
    head_dim = _first_attr(config, ("head_dim", "d_kv"), hidden // heads)
    layers = _first_attr(config, ("num_hidden_layers", "num_layers", "n_layer", "encoder_layers"))
    decoder_layers = _first_attr(config, ("num_decoder_layers", "decoder_layers"), layers)
    n_params = sum(p.numel() for p in model.parameters())
    return ModelShape(
        family=family,
        n_matmul=total,
        n_matmul_encoder=enc,
        n_matmul_decoder=dec,
        layers=int(layers),
        decoder_layers=int(decoder_layers),
        heads=int(heads),
        head_dim=int(head_dim),
        hidden=int(hidden),
        vocab=int(config.vocab_size),
        n_params=n_params,
    )


def flops_per_token(shape: ModelShape, seq_len: int) -> float:
    """Training FLOPs per token of a decoder/encoder at sequence length T (PaLM: 6N + 12LHQT)."""
    return 6.0 * shape.n_matmul + 12.0 * shape.layers * shape.attn_width * seq_len


def batch_flops(shape: ModelShape, batch: Batch) -> float:
    """Training FLOPs of one micro-batch, from its padded shape (what the hardware computes)."""
    B, T = batch["input_ids"].shape
    if shape.family != "encdec":
        return B * T * flops_per_token(shape, T)
    Td = batch["labels"].shape[1] if "labels" in batch else T
    # The cross-attention key/value projections run over encoder positions but are
    # counted with the decoder's tokens here: a small approximation.
    weights = 6.0 * B * (shape.n_matmul_encoder * T + shape.n_matmul_decoder * Td)
    attention = 12.0 * shape.attn_width * B * (shape.layers * T * T + shape.decoder_layers * (Td * Td + Td * T))
    return weights + attention


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak_flops(device: torch.device, dtype: torch.dtype, seconds: float = 0.5, size: int | None = None) -> float:
    """FLOP/s of the fastest of repeated n×n matmuls in `dtype` (n = 1024 on CPU, 8192 on GPU).

    Uses its own RNG so the probe never shifts the training random streams.
    """
    n = size or (8192 if device.type == "cuda" else 1024)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=torch.float32, generator=gen).to(dtype)
    b = torch.randn(n, n, device=device, dtype=torch.float32, generator=gen).to(dtype)
    for _ in range(2):  # warm-up: kernel selection, page faults
        torch.mm(a, b)
    synchronize(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        elapsed = time.perf_counter() - start
        best = max(best, 2.0 * n**3 / elapsed)
        if time.perf_counter() > deadline:
            return best


class Meter:
    """Tokens, FLOPs and wall time over a logging window (eval and saving excluded)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.flops = 0.0
        self.seconds = 0.0
        self.total_tokens = 0
        self.total_flops = 0.0
        self.total_seconds = 0.0

    def add(self, tokens: int, flops: float, seconds: float) -> None:
        self.tokens += tokens
        self.flops += flops
        self.seconds += seconds

    def window(self, peak: float) -> dict[str, float]:
        """Rates over the window since the last call, then start a new window."""
        secs = max(self.seconds, 1e-9)
        out = {
            "tokens_per_s": self.tokens / secs,
            "flops_per_s": self.flops / secs,
            "mfu": (self.flops / secs) / peak if peak > 0 else 0.0,
        }
        self.total_tokens += self.tokens
        self.total_flops += self.flops
        self.total_seconds += self.seconds
        self.tokens, self.flops, self.seconds = 0, 0.0, 0.0
        return out

    def totals(self, peak: float) -> dict[str, float]:
        secs = max(self.total_seconds, 1e-9)
        return {
            "tokens": self.total_tokens,
            "train_seconds": self.total_seconds,
            "tokens_per_s": self.total_tokens / secs,
            "flops_per_s": self.total_flops / secs,
            "mfu": (self.total_flops / secs) / peak if peak > 0 else 0.0,
        }


__all__ = [
    "Meter",
    "ModelShape",
    "batch_flops",
    "flops_per_token",
    "measure_peak_flops",
    "model_shape",
]
