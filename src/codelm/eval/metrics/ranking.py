"""Retrieval metrics for code search: MRR, NDCG@k, Recall@k.

A prediction is a ranked list of candidate ids (best first); its reference
is the relevant id, a list of relevant ids, or a mapping id -> graded gain
(NDCG only uses the gains). Ids are compared as strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import fmean
from typing import Any

from codelm.eval.metrics import MetricResult, check_lengths, metric


def _gains(reference: Any) -> dict[str, float]:
    if isinstance(reference, Mapping):
        return {str(k): float(v) for k, v in reference.items()}
    if isinstance(reference, str | int):
        return {str(reference): 1.0}
    return {str(r): 1.0 for r in reference}


def _ranked(prediction: Any) -> list[str]:
    return [str(p) for p in ([prediction] if isinstance(prediction, str | int) else prediction)]


def reciprocal_rank(prediction, reference) -> float:
    relevant = {k for k, g in _gains(reference).items() if g > 0}
    for rank, item in enumerate(_ranked(prediction), start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def recall_at_k(prediction, reference, k: int) -> float:
    relevant = {k_ for k_, g in _gains(reference).items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(_ranked(prediction)[:k])) / len(relevant)


def ndcg_at_k(prediction, reference, k: int) -> float:
    """NDCG with gain (2^rel - 1) and log2(rank + 1) discount (Järvelin & Kekäläinen 2002)."""
    gains = _gains(reference)
    dcg = sum((2 ** gains.get(item, 0.0) - 1) / math.log2(rank + 1)
              for rank, item in enumerate(_ranked(prediction)[:k], start=1))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


@metric("mrr", "ranking", "mean reciprocal rank of the first relevant item")
def mrr(predictions, references) -> MetricResult:
    check_lengths(predictions, references, "mrr")
    scores = [reciprocal_rank(p, r) for p, r in zip(predictions, references, strict=True)]
    return MetricResult("mrr", fmean(scores) if scores else 0.0, {}, len(scores))


@metric("ndcg", "ranking", "mean NDCG@k (option k, default 10)")
def ndcg(predictions, references, k: int = 10) -> MetricResult:
    check_lengths(predictions, references, "ndcg")
    scores = [ndcg_at_k(p, r, int(k)) for p, r in zip(predictions, references, strict=True)]
    return MetricResult(f"ndcg@{k}", fmean(scores) if scores else 0.0, {"k": int(k)}, len(scores))


@metric("recall", "ranking", "mean Recall@k (option k, default 10)")
def recall(predictions, references, k: int = 10) -> MetricResult:
    check_lengths(predictions, references, "recall")
    scores = [recall_at_k(p, r, int(k)) for p, r in zip(predictions, references, strict=True)]
    return MetricResult(f"recall@{k}", fmean(scores) if scores else 0.0, {"k": int(k)}, len(scores))
