"""Next-token choice for a batch of rows, each with its own settings and RNG.

Rows in one decode step may come from different requests (the server
batches them), so temperature, top-k and top-p are per-row tensors and each
sampled row draws from its own `torch.Generator`. A row's samples therefore
depend only on its seed, never on which other requests share the batch.

Order of the logits transforms follows transformers' warpers: temperature,
then top-k, then top-p (Holtzman et al. 2020, nucleus sampling). Greedy rows
(temperature 0) take the argmax of the raw logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def row_seed(seed: int, *path: int) -> int:
    """A 63-bit seed for one row, derived from the request seed and the row's position.

    `SeedSequence` mixes the integers so (seed, prompt 0, sample 1) and
    (seed, prompt 1, sample 0) give unrelated streams.
    """
    entropy = [seed & 0xFFFFFFFFFFFFFFFF, *path]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


@dataclass
class RowParams:
    """Per-row sampling settings (the subset of GenerationConfig a decode step needs)."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0


def warp_logits(
    logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor
) -> torch.Tensor:
    """Temperature, top-k and top-p for rows that sample; masked entries become -inf.

    logits (B, V) float32; temperature (B,) > 0; top_k (B,) int (0 = off); top_p (B,) in (0, 1].
    """
    logits = logits / temperature[:, None]
    V = logits.size(-1)
    k = torch.where(top_k > 0, top_k.clamp(max=V), torch.full_like(top_k, V))
    if bool((k < V).any()):
        # the k-th largest value per row is the threshold; ties at the threshold are kept (as transformers)
        kth = torch.topk(logits, int(k.max()), dim=-1).values.gather(1, (k - 1)[:, None])
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if bool((top_p < 1.0).any()):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # mass strictly before each token; a token is kept while that mass is < p (the top token always is)
        before = probs.cumsum(dim=-1) - probs
        drop_sorted = before >= top_p[:, None]
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose_tokens(
    logits: torch.Tensor,
    params: list[RowParams],
    generators: list[torch.Generator | None],
) -> torch.Tensor:
    """One token id per row: argmax for greedy rows, a draw from the warped softmax otherwise.

    logits (B, V) float32 → (B,) int64.
    """
    tokens = logits.argmax(dim=-1)
    sampled = [i for i, p in enumerate(params) if p.temperature > 0]
    if not sampled:
        return tokens
    idx = torch.tensor(sampled, device=logits.device)
    temperature = torch.tensor([params[i].temperature for i in sampled], device=logits.device)
    top_k = torch.tensor([params[i].top_k for i in sampled], device=logits.device)
    top_p = torch.tensor([params[i].top_p for i in sampled], device=logits.device)
    probs = warp_logits(logits.index_select(0, idx), temperature, top_k, top_p).softmax(dim=-1)
    for j, i in enumerate(sampled):
        # one draw per row from the row's own generator: independent of batch composition
        tokens[i] = torch.multinomial(probs[j], 1, generator=generators[i])[0]
    return tokens


def token_logprobs(
    logits: torch.Tensor, tokens: torch.Tensor, top: int
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """Log-probabilities of the chosen tokens under the raw model distribution, plus the top alternatives.

    Raw means before temperature/top-k/top-p, as vLLM and the OpenAI API
    report them, so values are comparable across sampling settings.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    chosen = logp.gather(1, tokens[:, None])[:, 0].tolist()
    if top <= 0:
        return chosen, [[] for _ in chosen]
    values, ids = torch.topk(logp, top, dim=-1)
    alts = [
        list(zip(i, v, strict=True)) for i, v in zip(ids.tolist(), values.tolist(), strict=True)
    ]
    return chosen, alts
