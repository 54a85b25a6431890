"""Metrics by name: every score the harness reports is a registered function.

A metric takes `predictions` and `references` (each a list, one item per
sample; what an item is depends on the metric's `inputs`) plus keyword
options, and returns a `MetricResult` with the headline `score` and its
`components` (BLEU's n-gram precisions, CodeBLEU's four parts, ...), so a
report can show where a number comes from.

    from codelm.eval.metrics import compute
    compute("codebleu", ["def f(x): return x"], [["def g(y): return y"]], lang="python")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codelm.registry import Registry


@dataclass
class MetricResult:
    """A corpus-level score with the parts it is made of."""

    name: str
    score: float
    components: dict[str, Any] = field(default_factory=dict)
    count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.name, "score": self.score, "components": self.components, "count": self.count}


# What one prediction/reference item is, for each kind of metric:
#   text     predictions: str, references: str or list[str]   (BLEU, CodeBLEU, EM ...)
#   labels   predictions: label, references: label             (accuracy, F1)
#   ranking  predictions: ranked list of ids, references: relevant ids (MRR, NDCG)
#   code     predictions: source text, references unused        (syntax, compile rate, ruff)
#   pairs    predictions: fixed code, references: (buggy, fixed) or test outcome (fix rate)
#   passed   predictions: list[bool] per problem, references unused (pass@k)
#   nll      predictions: (sum of token NLL, token count) per document (perplexity)
INPUT_KINDS = ("text", "labels", "ranking", "code", "pairs", "passed", "nll")


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., MetricResult]
    inputs: str
    description: str
    needs_references: bool = True

    def __call__(self, predictions: Sequence[Any], references: Sequence[Any] | None = None, **options: Any) -> MetricResult:
        return self.fn(predictions, references, **options)


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, inputs: str, description: str, needs_references: bool = True):
    """Decorator registering `fn(predictions, references, **options) -> MetricResult`."""
    assert inputs in INPUT_KINDS, inputs

    def deco(fn: Callable[..., MetricResult]) -> Callable[..., MetricResult]:
        METRICS.add(name, Metric(name, fn, inputs, description, needs_references))
        return fn

    return deco


def as_reference_lists(references: Sequence[Any]) -> list[list[str]]:
    """Each reference item as a list of texts (a sample may have several references)."""
    out = []
    for ref in references:
        if isinstance(ref, str):
            out.append([ref])
        else:
            out.append([str(r) for r in ref])
    return out


def check_lengths(predictions: Sequence[Any], references: Sequence[Any] | None, name: str) -> None:
    from codelm.errors import InputError

    if references is not None and len(predictions) != len(references):
        raise InputError(
            f"{name}: {len(predictions)} predictions but {len(references)} references; "
            "give one reference line per prediction"
        )


def get_metric(name: str) -> Metric:
    return METRICS.get(name, key="metric")


def compute(name: str, predictions: Sequence[Any], references: Sequence[Any] | None = None, **options: Any) -> MetricResult:
    """Compute a registered metric by name."""
    return get_metric(name)(predictions, references, **options)


def list_metrics() -> list[Metric]:
    return [m for _, m in METRICS.items()]


# Importing the modules registers their metrics (after the names above exist).
from codelm.eval.metrics import (  # noqa: E402, F401
    classification,
    codebleu,
    lm,
    passk,
    quality,
    ranking,
    text,
)
