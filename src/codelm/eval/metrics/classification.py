"""Accuracy and F1 for classification tasks (defect detection, clone detection).

Labels are compared as strings after stripping, so `1`, `"1"` and `"1\\n"`
agree. F1 is macro-averaged over the labels that occur in either side by
default; `average="binary"` with `positive` gives the positive-class F1
used by CodeXGLUE's defect and clone detection.
"""

from __future__ import annotations

from codelm.errors import ConfigError
from codelm.eval.metrics import MetricResult, check_lengths, metric


def _labels(items) -> list[str]:
    return [str(x).strip() for x in items]


@metric("accuracy", "labels", "fraction of predicted labels equal to the reference label")
def accuracy(predictions, references) -> MetricResult:
    check_lengths(predictions, references, "accuracy")
    pred, ref = _labels(predictions), _labels(references)
    correct = sum(p == r for p, r in zip(pred, ref, strict=True))
    return MetricResult("accuracy", correct / len(ref) if ref else 0.0, {"correct": correct}, len(ref))


def _prf(pred: list[str], ref: list[str], label: str) -> tuple[float, float, float]:
    tp = sum(p == label and r == label for p, r in zip(pred, ref, strict=True))
    fp = sum(p == label and r != label for p, r in zip(pred, ref, strict=True))
    fn = sum(p != label and r == label for p, r in zip(pred, ref, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@metric("f1", "labels", "F1 (options: average=macro|binary, positive label for binary, default '1')")
def f1(predictions, references, average: str = "macro", positive: str = "1") -> MetricResult:
    check_lengths(predictions, references, "f1")
    pred, ref = _labels(predictions), _labels(references)
    if average == "binary":
        p, r, f = _prf(pred, ref, str(positive))
        return MetricResult("f1", f, {"precision": p, "recall": r, "positive": str(positive)}, len(ref))
    if average != "macro":
        raise ConfigError(f"f1 average '{average}' is unknown; use macro or binary")
    labels = sorted(set(pred) | set(ref))
    per_label = {label: _prf(pred, ref, label) for label in labels}
    score = sum(v[2] for v in per_label.values()) / len(labels) if labels else 0.0
    return MetricResult("f1", score, {"per_label": {k: v[2] for k, v in per_label.items()}}, len(ref))
