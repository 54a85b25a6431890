"""Similarity, ranking, classification and perplexity metrics against reference values."""

from __future__ import annotations

import math

import pytest
import sacrebleu

from codelm.errors import InputError
from codelm.eval.metrics import compute, list_metrics

PREDS = ["def add(a, b): return a + b", "x = [i for i in range(10)]", "print('hello world')"]
REFS = [["def add(x, y): return x + y", "def add(a, b):\n    return a + b"], ["x = list(range(10))"],
        ["print('hello, world')"]]


def test_bleu_equals_sacrebleu_corpus_bleu():
    streams = [[r[0] for r in REFS], [r[1] if len(r) > 1 else None for r in REFS]]
    expected = sacrebleu.corpus_bleu(PREDS, streams)
    result = compute("bleu", PREDS, REFS)
    assert result.score == expected.score / 100
    assert result.components["precisions"] == [p / 100 for p in expected.precisions]
    assert result.components["bp"] == expected.bp
    single = compute("bleu", PREDS, [r[0] for r in REFS])
    assert single.score == sacrebleu.corpus_bleu(PREDS, [[r[0] for r in REFS]]).score / 100


def test_sentence_bleu_is_mean_of_sacrebleu_sentence_bleu():
    expected = sum(sacrebleu.sentence_bleu(p, r).score for p, r in zip(PREDS, REFS, strict=True)) / 300
    assert compute("sentence-bleu", PREDS, REFS).score == pytest.approx(expected, abs=1e-12)
    add_one = compute("sentence-bleu", PREDS, REFS, smooth_method="add-k", smooth_value=1)
    assert 0 < add_one.score < 1 and add_one.score != pytest.approx(expected)


def test_exact_match_and_edit_similarity():
    assert compute("exact-match", ["  a = 1 \n", "b"], [["a = 1"], ["c", "b"]]).score == 1.0
    assert compute("exact-match", ["a", "b"], ["a", "c"]).score == 0.5
    # InDel similarity: "abc" vs "abd": 1 - 2/6
    assert compute("edit-sim", ["abc"], ["abd"]).score == pytest.approx(2 / 3)
    assert compute("edit-sim", ["abc", "x"], [["zzz", "abc"], "x"]).score == 1.0


def test_rouge_l_on_code_tokens():
    result = compute("rouge-l", ["return a + b"], ["return b + a + 1"])
    # LCS of [return, a, +, b] and [return, b, +, a, +, 1] is [return, a, +]
    p, r = 3 / 4, 3 / 6
    assert result.score == pytest.approx(2 * p * r / (p + r))
    assert result.components["precision"] == pytest.approx(p)
    assert compute("rouge-l", ["x"], ["y"]).score == 0.0


def test_length_mismatch_is_an_input_error():
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        compute("bleu", ["a", "b"], ["a"])


def test_ranking_metrics():
    preds = [["a", "b", "c"], ["c", "a", "b"], ["x", "y"]]
    refs = ["b", ["a", "b"], "z"]
    assert compute("mrr", preds, refs).score == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert compute("recall", preds, refs, k=2).score == pytest.approx((1 + 0.5 + 0) / 3)
    # query 2: relevant a (rank 2), b (rank 3); ideal: ranks 1, 2
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert compute("ndcg", [preds[1]], [refs[1]], k=10).score == pytest.approx(dcg / idcg)
    graded = compute("ndcg", [["a", "b"]], [{"a": 1, "b": 3}], k=2).score
    assert graded == pytest.approx((1 + 7 / math.log2(3)) / (7 + 1 / math.log2(3)))


def test_classification_metrics():
    preds, refs = ["1", "0", "1", "1"], [1, 0, 0, 1]
    assert compute("accuracy", preds, refs).score == 0.75
    binary = compute("f1", preds, refs, average="binary", positive="1")
    assert binary.score == pytest.approx(0.8)  # precision 2/3, recall 1
    macro = compute("f1", preds, refs)
    assert macro.score == pytest.approx((0.8 + 2 / 3) / 2)  # label 0: precision 1, recall 1/2


def test_perplexity_weights_by_tokens():
    result = compute("perplexity", [(2.0, 2, 8), (4.0, 2, 8)])
    assert result.score == pytest.approx(math.exp(1.5))
    assert result.components["bits_per_byte"] == pytest.approx(6.0 / math.log(2) / 16)
    with pytest.raises(InputError):
        compute("perplexity", [(0.0, 0)])


def test_fix_rate():
    result = compute("fix-rate", [True, False, True, False], [False, False, True, True])
    assert result.score == 0.5 and result.components == {"fixed": 1, "failing_before": 2, "regressions": 1}


def test_every_metric_is_listed_with_a_description():
    names = {m.name for m in list_metrics()}
    assert {"pass@k", "exact-match", "edit-sim", "bleu", "sentence-bleu", "rouge-l", "codebleu", "mrr", "ndcg",
            "recall", "accuracy", "f1", "perplexity", "syntax-validity", "compile-rate", "static-findings",
            "fix-rate"} <= names
    assert all(m.description for m in list_metrics())
