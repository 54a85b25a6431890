"""Similarity metrics on text: exact match, edit similarity, BLEU, ROUGE-L.

Each is a corpus score: the mean over samples (sentence metrics) or a
micro-averaged corpus statistic (BLEU), and with several references per
sample the best-matching one counts.

- BLEU is sacrebleu's corpus BLEU, unchanged (Post 2018), so numbers are
  comparable with every paper that reports sacrebleu; `sentence-bleu` is
  sacrebleu's smoothed sentence BLEU averaged over samples (smoothing `exp`
  by default; `add-k` gives the Lin & Och 2004 add-one smoothing that
  CodeXGLUE's "smoothed BLEU-4" uses).
- Edit similarity is rapidfuzz's `fuzz.ratio` / 100 (normalised InDel
  similarity), the "ES" of CrossCodeEval and RepoBench.
- ROUGE-L is the F1 of the longest common subsequence of code tokens (Lin
  2004); rouge-score is not used because its tokenizer drops punctuation,
  which is most of the signal in code. The LCS itself is rapidfuzz's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import fmean

from codelm.eval.metrics import MetricResult, as_reference_lists, check_lengths, metric

_CODE_TOKEN = re.compile(r"\w+|[^\w\s]")


def code_tokens(text: str) -> list[str]:
    """Identifiers/numbers as words, every other non-space character alone."""
    return _CODE_TOKEN.findall(text)


def _mean(values: Sequence[float]) -> float:
    return fmean(values) if values else 0.0


def exact_match_score(prediction: str, references: Sequence[str], strip: bool = True) -> float:
    pred = prediction.strip() if strip else prediction
    return float(any(pred == (r.strip() if strip else r) for r in references))


@metric("exact-match", "text", "fraction of predictions equal to a reference (whitespace-stripped)")
def exact_match(predictions, references, strip: bool = True) -> MetricResult:
    check_lengths(predictions, references, "exact-match")
    refs = as_reference_lists(references)
    scores = [exact_match_score(p, r, strip) for p, r in zip(predictions, refs, strict=True)]
    return MetricResult("exact-match", _mean(scores), {"matches": int(sum(scores))}, len(scores))


def edit_similarity_score(prediction: str, references: Sequence[str]) -> float:
    from rapidfuzz import fuzz

    return max((fuzz.ratio(prediction.strip(), r.strip()) / 100.0 for r in references), default=0.0)


@metric("edit-sim", "text", "mean normalised edit similarity (rapidfuzz fuzz.ratio / 100)")
def edit_similarity(predictions, references) -> MetricResult:
    check_lengths(predictions, references, "edit-sim")
    refs = as_reference_lists(references)
    scores = [edit_similarity_score(p, r) for p, r in zip(predictions, refs, strict=True)]
    return MetricResult("edit-sim", _mean(scores), {}, len(scores))


def _reference_streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu wants one stream per reference slot; missing slots are None."""
    width = max((len(r) for r in refs), default=1)
    return [[r[i] if i < len(r) else None for r in refs] for i in range(width)]


@metric("bleu", "text", "sacrebleu corpus BLEU / 100 (options: tokenize, lowercase)")
def bleu(predictions, references, tokenize: str = "13a", lowercase: bool = False) -> MetricResult:
    from sacrebleu.metrics import BLEU

    check_lengths(predictions, references, "bleu")
    refs = as_reference_lists(references)
    result = BLEU(tokenize=tokenize, lowercase=lowercase).corpus_score(list(predictions), _reference_streams(refs))
    components = {
        "precisions": [p / 100.0 for p in result.precisions],
        "bp": result.bp,
        "sys_len": result.sys_len,
        "ref_len": result.ref_len,
        "sacrebleu": result.format(),
    }
    return MetricResult("bleu", result.score / 100.0, components, len(refs))


@metric("sentence-bleu", "text", "mean smoothed sentence BLEU / 100 (option smooth_method: exp, add-k, floor, none)")
def sentence_bleu(predictions, references, smooth_method: str = "exp", smooth_value: float | None = None,
                  tokenize: str = "13a") -> MetricResult:
    from sacrebleu.metrics import BLEU

    check_lengths(predictions, references, "sentence-bleu")
    scorer = BLEU(tokenize=tokenize, smooth_method=smooth_method, smooth_value=smooth_value, effective_order=True)
    refs = as_reference_lists(references)
    scores = [scorer.sentence_score(p, r).score / 100.0 for p, r in zip(predictions, refs, strict=True)]
    return MetricResult("sentence-bleu", _mean(scores), {"smooth_method": smooth_method}, len(scores))


def rouge_l_score(prediction: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the token LCS."""
    from rapidfuzz.distance import LCSseq

    pred, ref = code_tokens(prediction), code_tokens(reference)
    if not pred or not ref:
        same = float(pred == ref)
        return same, same, same
    lcs = LCSseq.similarity(pred, ref)
    precision, recall = lcs / len(pred), lcs / len(ref)
    f1 = 0.0 if lcs == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


@metric("rouge-l", "text", "mean ROUGE-L F1 over code tokens (LCS)")
def rouge_l(predictions, references) -> MetricResult:
    check_lengths(predictions, references, "rouge-l")
    best = []
    for pred, refs in zip(predictions, as_reference_lists(references), strict=True):
        best.append(max((rouge_l_score(pred, r) for r in refs), key=lambda t: t[2]))
    components = {"precision": _mean([b[0] for b in best]), "recall": _mean([b[1] for b in best])}
    return MetricResult("rouge-l", _mean([b[2] for b in best]), components, len(best))
