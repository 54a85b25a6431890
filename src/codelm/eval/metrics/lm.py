"""Perplexity: exp of the mean negative log-likelihood per token.

Predictions are `(sum of token NLL in nats, token count)` per document; the
corpus perplexity weights documents by their token counts (the mean over
all tokens, not over documents), which is what a language model's loss on a
split means. Bits per byte are added when byte counts are given as a third
item, so models with different tokenizers can be compared.
"""

from __future__ import annotations

import math

from codelm.errors import InputError
from codelm.eval.metrics import MetricResult, metric


@metric("perplexity", "nll", "exp(total NLL / total tokens) over documents", needs_references=False)
def perplexity(predictions, references=None) -> MetricResult:
    total_nll = 0.0
    total_tokens = 0
    total_bytes = 0
    for item in predictions:
        nll, tokens = float(item[0]), int(item[1])
        if tokens < 0 or not math.isfinite(nll):
            raise InputError(f"perplexity: bad (nll, tokens) item {item!r}")
        total_nll += nll
        total_tokens += tokens
        if len(item) > 2:
            total_bytes += int(item[2])
    if total_tokens == 0:
        raise InputError("perplexity over zero tokens is undefined; the split is empty")
    mean = total_nll / total_tokens
    components = {"nll_per_token": mean, "tokens": total_tokens}
    if total_bytes:
        components["bits_per_byte"] = total_nll / math.log(2) / total_bytes
    return MetricResult("perplexity", math.exp(mean), components, len(predictions))
