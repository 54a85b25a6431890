"""Rows decoded together: the KV cache, masks and positions, and how to merge and drop rows.

Step-level (continuous) batching needs three operations transformers'
`generate()` has no use for: start new rows while others are mid-way
(`prefill` then `concat`), drop finished rows (`select`), and keep the
cache tight afterwards (`_trim`). Rows of different lengths share one
cache tensor per layer by **left padding**: row b's real tokens sit at the
right end, `mask[b]` marks them, and each row carries its own position
ids, so RoPE (decoders) sees positions 0..n-1 whatever the padding.
Relative-position encoder–decoders (T5) only use distances between
positions, which left padding does not change.

The cache itself is transformers' `DynamicCache`/`EncoderDecoderCache`;
only its per-layer tensors (B, heads, T, head_dim) are re-indexed here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


def _cache_kwarg(model: Any) -> str:
    """transformers >= 5.2x calls it `cache`; earlier 5.x releases `past_key_values`."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _layers(cache: Any) -> tuple[list[Any], list[Any]]:
    """(self-attention layers, cross-attention layers) of a transformers cache."""
    if hasattr(cache, "self_attention_cache"):
        return list(cache.self_attention_cache.layers), list(cache.cross_attention_cache.layers)
    return list(cache.layers), []


def _pad_left(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n == 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [n, 0]
    return F.pad(x, pad)


def _pad_right(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n == 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [0, n]
    return F.pad(x, pad)


@dataclass
class KVBatch:
    """State of B rows between decode steps.

    mask (B, T): 1 where the decoder cache holds a real token of the row.
    positions (B,): position id of each row's next token (decoders).
    enc_mask (B, S), enc_hidden (B, S, H): encoder side of encoder–decoders.
    """

    cache: Any
    mask: torch.Tensor
    positions: torch.Tensor
    enc_mask: torch.Tensor | None = None
    enc_hidden: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.mask.size(0))

    def select(self, rows: list[int] | torch.Tensor) -> None:
        """Keep (and reorder, repeat) rows by index, in place: dropping finished rows, beam reordering."""
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.mask.device)
        self_layers, cross_layers = _layers(self.cache)
        for layer in self_layers + cross_layers:
            if getattr(layer, "keys", None) is not None and layer.keys.numel():
                layer.keys = layer.keys.index_select(0, idx)
                layer.values = layer.values.index_select(0, idx)
        self.mask = self.mask.index_select(0, idx)
        self.positions = self.positions.index_select(0, idx)
        if self.enc_mask is not None:
            self.enc_mask = self.enc_mask.index_select(0, idx)
            self.enc_hidden = self.enc_hidden.index_select(0, idx)  # type: ignore[union-attr]
        self._trim()

    def _trim(self) -> None:
        """Drop leading cache columns that are padding in every row (left by finished long rows)."""
        if self.mask.size(0) == 0:
            return
        used = self.mask.any(dim=0)
        first = int(used.float().argmax()) if bool(used.any()) else 0
        if first == 0:
            return
        self.mask = self.mask[:, first:]
        for layer in _layers(self.cache)[0]:
            if getattr(layer, "keys", None) is not None and layer.keys.numel():
                layer.keys = layer.keys[:, :, first:]
                layer.values = layer.values[:, :, first:]

    def concat(self, other: KVBatch) -> None:
        """Append `other`'s rows after ours, in place; the shorter side is left-padded."""
        T_a, T_b = self.mask.size(1), other.mask.size(1)
        T = max(T_a, T_b)
        a_self, a_cross = _layers(self.cache)
        b_self, b_cross = _layers(other.cache)
        for la, lb in zip(a_self, b_self, strict=True):
            la.keys = torch.cat(
                [_pad_left(la.keys, T - T_a, 2), _pad_left(lb.keys, T - T_b, 2)], dim=0
            )
            la.values = torch.cat(
                [_pad_left(la.values, T - T_a, 2), _pad_left(lb.values, T - T_b, 2)], dim=0
            )
        self.mask = torch.cat(
            [_pad_left(self.mask, T - T_a, 1), _pad_left(other.mask, T - T_b, 1)], dim=0
        )
        self.positions = torch.cat([self.positions, other.positions])
        if self.enc_mask is not None and other.enc_mask is not None:
            S_a, S_b = self.enc_mask.size(1), other.enc_mask.size(1)
            S = max(S_a, S_b)
            # encoder side: right padding (T5 encoders are bidirectional; masked keys are ignored)
            for la, lb in zip(a_cross, b_cross, strict=True):
                la.keys = torch.cat(
                    [_pad_right(la.keys, S - S_a, 2), _pad_right(lb.keys, S - S_b, 2)], dim=0
                )
                la.values = torch.cat(
                    [_pad_right(la.values, S - S_a, 2), _pad_right(lb.values, S - S_b, 2)], dim=0
                )
            self.enc_mask = torch.cat(
                [_pad_right(self.enc_mask, S - S_a, 1), _pad_right(other.enc_mask, S - S_b, 1)]
            )
            self.enc_hidden = torch.cat(
                [_pad_right(self.enc_hidden, S - S_a, 1), _pad_right(other.enc_hidden, S - S_b, 1)]  # type: ignore[arg-type]
            )

    def repeat_rows(self, counts: list[int]) -> None:
        """Row i repeated counts[i] times (n samples share one prompt prefill)."""
        if all(c == 1 for c in counts):
            return
        idx = [i for i, c in enumerate(counts) for _ in range(c)]
        self.select(idx)


def left_pad(seqs: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids and mask, every row right-aligned."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        if s:
            ids[b, T - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[b, T - len(s) :] = 1
    return ids.to(device), mask.to(device)


def right_pad(seqs: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[b, : len(s)] = 1
    return ids.to(device), mask.to(device)


class Runner:
    """Forward passes over a `KVBatch` for decoder-only and encoder–decoder models."""

    def __init__(self, model: Any, kind: str, pad_id: int, decoder_start_id: int | None) -> None:
        self.model = model
        self.kind = kind
        self.pad_id = pad_id
        self.decoder_start_id = decoder_start_id
        self.device = next(model.parameters()).device
        self.cache_kw = _cache_kwarg(model)

    @torch.inference_mode()
    def prefill(
        self, prompts: list[list[int]], decoder_prefixes: list[list[int]] | None = None
    ) -> tuple[KVBatch, torch.Tensor]:
        """Run the prompts (one row each); returns their batch and last-position logits (B, V) float32."""
        from transformers import DynamicCache, EncoderDecoderCache

        if self.kind == "decoder":
            ids, mask = left_pad(prompts, self.pad_id, self.device)
            # positions count real tokens only; padding gets 1 (never attended), as transformers does
            position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
            cache = DynamicCache(config=self.model.config)
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=position_ids,
                use_cache=True,
                logits_to_keep=1,
                **{self.cache_kw: cache},
            )
            batch = KVBatch(cache=cache, mask=mask, positions=mask.sum(-1))
            return batch, out.logits[:, -1, :].float()
        # encoder–decoder: encode once; the decoder starts from its start token (+ forced prefix)
        enc_ids, enc_mask = right_pad(prompts, self.pad_id, self.device)
        enc_hidden = self.model.get_encoder()(
            input_ids=enc_ids, attention_mask=enc_mask
        ).last_hidden_state
        starts = [[self.decoder_start_id, *p] for p in (decoder_prefixes or [[] for _ in prompts])]
        dec_ids, dec_mask = left_pad(starts, self.pad_id, self.device)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        out = self.model(
            encoder_outputs=(enc_hidden,),
            attention_mask=enc_mask,
            decoder_input_ids=dec_ids,
            decoder_attention_mask=dec_mask,
            use_cache=True,
            **{self.cache_kw: cache},
        )
        batch = KVBatch(
            cache=cache,
            mask=dec_mask,
            positions=dec_mask.sum(-1),
            enc_mask=enc_mask,
            enc_hidden=enc_hidden,
        )
        return batch, out.logits[:, -1, :].float()

    @torch.inference_mode()
    def decode(self, batch: KVBatch, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (B,); returns next logits (B, V) float32 and grows the cache."""
        tokens = tokens.to(self.device)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((batch.size, 1))], dim=1)
        if self.kind == "decoder":
            out = self.model(
                input_ids=tokens[:, None],
                attention_mask=batch.mask,
                position_ids=batch.positions[:, None],
                use_cache=True,
                **{self.cache_kw: batch.cache},
            )
        else:
            out = self.model(
                encoder_outputs=(batch.enc_hidden,),
                attention_mask=batch.enc_mask,
                decoder_input_ids=tokens[:, None],
                decoder_attention_mask=batch.mask,
                use_cache=True,
                **{self.cache_kw: batch.cache},
            )
        batch.positions = batch.positions + 1
        return out.logits[:, -1, :].float()

    @torch.inference_mode()
    def prompt_logprobs(self, ids: list[int]) -> list[float | None]:
        """log p(token_t | tokens_<t) for a decoder prompt (None for the first token): OpenAI `echo` + `logprobs`."""
        if self.kind != "decoder" or len(ids) == 0:
            return [None] * len(ids)
        x = torch.tensor([ids], device=self.device)
        logits = self.model(input_ids=x).logits[0, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(1, x[0, 1:, None])[:, 0]
        return [None, *logp.tolist()]
