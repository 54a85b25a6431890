"""CodeBLEU (Ren et al. 2020, "CodeBLEU: a Method for Automatic Evaluation of Code Synthesis").

    CodeBLEU = 0.25 * BLEU + 0.25 * weighted n-gram match
             + 0.25 * AST subtree match + 0.25 * data-flow match

- BLEU: corpus BLEU-4 over whitespace tokens, with NLTK's "method1"
  smoothing (an n-gram order without matches counts 0.1 matches), as the
  CodeXGLUE evaluator computes it; this is *not* sacrebleu's BLEU (which the
  separate `bleu` metric is).
- weighted n-gram match: the same but recall-based, with unigrams weighted 1
  for language keywords and 0.2 for every other token.
- syntax match: the fraction of the reference's AST subtrees (leaves
  ignored) that also occur in the candidate, on tree-sitter trees.
- data-flow match: the fraction of the reference's normalised data-flow
  edges found in the candidate (GraphCodeBERT's graph, `dfg.py`).

Comments (and Python docstrings) are removed before the syntax and
data-flow parts, as in the reference evaluator.

Two behaviours exist for a corpus whose references have no data flow at all
(e.g. `pass`): the original CodeXGLUE evaluator scores the component 0; the
widely used `codebleu` package replaces a zero data-flow score by 1.0. The
default is the original; `compat=True` reproduces the package.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from codelm.analysis.keywords import keywords as language_keywords
from codelm.analysis.parsing import normalize_language, parse, subtrees
from codelm.errors import ConfigError
from codelm.eval.metrics import MetricResult, as_reference_lists, check_lengths, metric
from codelm.eval.metrics import dfg as _dfg

_EPSILON = 0.1  # NLTK SmoothingFunction().method1


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _brevity_penalty(ref_len: int, hyp_len: int) -> float:
    if hyp_len > ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1 - ref_len / hyp_len)


def _closest_ref_length(refs: Sequence[Sequence[str]], hyp_len: int) -> int:
    return min((len(r) for r in refs), key=lambda n: (abs(n - hyp_len), n))


def _geometric(stats: list[tuple[float, float]], bp: float) -> float:
    if stats[0][0] == 0:
        return 0.0
    logs = [math.log((num if num else _EPSILON) / den) for num, den in stats]
    return bp * math.exp(math.fsum(0.25 * x for x in logs))


def ngram_match(hyps: list[list[str]], refs: list[list[list[str]]]) -> float:
    """Corpus BLEU-4 with clipped precision and method1 smoothing."""
    num, den = [0] * 4, [0] * 4
    hyp_total = ref_total = 0
    for hyp, references in zip(hyps, refs, strict=True):
        for n in range(1, 5):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for ref in references:
                ref_counts = _ngrams(ref, n)
                for gram in counts:
                    best[gram] = max(best[gram], ref_counts[gram])
            num[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            den[n - 1] += max(1, sum(counts.values()))
        hyp_total += len(hyp)
        ref_total += _closest_ref_length(references, len(hyp))
    return _geometric(list(zip(num, den, strict=True)), _brevity_penalty(ref_total, hyp_total))


def weighted_ngram_match(hyps: list[list[str]], refs: list[list[list[str]]], keywords: frozenset[str]) -> float:
    """Recall-based BLEU-4 whose unigrams are weighted (keywords 1, others 0.2)."""
    num, den = [0.0] * 4, [0.0] * 4
    hyp_total = ref_total = 0
    for hyp, references in zip(hyps, refs, strict=True):
        for n in range(1, 5):
            counts = _ngrams(hyp, n)
            for ref in references:
                ref_counts = _ngrams(ref, n)
                clipped = {g: min(c, counts[g]) for g, c in ref_counts.items()}
                if n == 1:
                    weight = {g: 1.0 if g[0] in keywords else 0.2 for g in ref_counts}
                    num[0] += sum(c * weight[g] for g, c in clipped.items())
                    den[0] += max(1, sum(c * weight[g] for g, c in ref_counts.items()))
                else:
                    num[n - 1] += sum(clipped.values())
                    den[n - 1] += max(1, sum(ref_counts.values()))
        hyp_total += len(hyp)
        ref_total += _closest_ref_length(references, len(hyp))
    return _geometric(list(zip(num, den, strict=True)), _brevity_penalty(ref_total, hyp_total))


def strip_comments(code: str, language: str) -> str:
    """Drop comments (and Python docstring statements) and blank lines."""
    result = parse(code, language)
    spans = []
    stack = [result.root]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            spans.append(result.span(node))
            continue
        if (
            result.language == "python"
            and node.type == "expression_statement"
            and node.named_child_count == 1
            and node.named_children[0].type in ("string", "concatenated_string")
        ):
            spans.append(result.span(node))
            continue
        stack.extend(node.children)
    text = result.source
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return "\n".join(line for line in text.split("\n") if line.strip())


def syntax_match(hyps: list[str], refs: list[list[str]], language: str) -> float:
    match = total = 0
    for hyp, references in zip(hyps, refs, strict=True):
        cand = set(subtrees(strip_comments(hyp, language), language))
        for ref in references:
            ref_trees = subtrees(strip_comments(ref, language), language)
            match += sum(1 for t in ref_trees if t in cand)
            total += len(ref_trees)
    return match / total if total else 0.0


def _analysis_flow(code: str, language: str) -> list:
    """`codelm.analysis.data_flow` as GraphCodeBERT tuples, kept like the reference keeps them."""
    from codelm.analysis.dfg import data_flow

    items = data_flow(code, language, literals=True).items()
    involved = {i for _, i, _, _, parents in items if parents} | {p for *_, parents in items for p in parents}
    return [item for item in items if item[1] in involved]


def _flow(code: str, language: str, dataflow: str) -> list:
    if dataflow == "analysis":
        return _analysis_flow(code, language)
    return _dfg.data_flow(code, language)


def dataflow_match(hyps: list[str], refs: list[list[str]], language: str,
                   dataflow: str = "reference") -> tuple[float, int]:
    """(score, number of reference edges); score 0 when the references have none."""
    match = total = 0
    for hyp, references in zip(hyps, refs, strict=True):
        cand_edges = _dfg.normalize(_flow(strip_comments(hyp, language), language, dataflow))
        for ref in references:
            ref_edges = _dfg.normalize(_flow(strip_comments(ref, language), language, dataflow))
            remaining = list(cand_edges)
            for edge in ref_edges:
                if edge in remaining:
                    match += 1
                    remaining.remove(edge)
            total += len(ref_edges)
    return (match / total if total else 0.0), total


def codebleu_score(
    predictions: Sequence[str],
    references: Sequence[str | Sequence[str]],
    lang: str = "python",
    weights: Sequence[float] = (0.25, 0.25, 0.25, 0.25),
    compat: bool = False,
    dataflow: str = "reference",
) -> dict[str, float]:
    """CodeBLEU with its four components (all in [0, 1]).

    `dataflow="reference"` uses the reference evaluator's graph (`dfg.py`, the
    default, comparable with published numbers); `"analysis"` uses
    `codelm.analysis.data_flow`, a proper reaching-definitions analysis
    (loops to a fixpoint, `x += e` reads `x`), which scores differently on
    loops and augmented assignments.
    """
    if dataflow not in ("reference", "analysis"):
        raise ConfigError(f"CodeBLEU dataflow '{dataflow}' is unknown; use reference or analysis")
    try:
        language = normalize_language(lang)
    except ConfigError:
        raise ConfigError(f"--lang '{lang}': CodeBLEU supports {', '.join(_dfg.supported_languages())}") from None
    if language not in _dfg.RULES:
        raise ConfigError(f"--lang '{lang}': CodeBLEU supports {', '.join(_dfg.supported_languages())}")
    if len(weights) != 4:
        raise ConfigError(f"CodeBLEU weights must be 4 numbers (got {list(weights)})")
    check_lengths(predictions, references, "codebleu")
    hyps = [p.strip() for p in predictions]
    refs = [[r.strip() for r in rs] for rs in as_reference_lists(references)]
    tok_hyps = [h.split() for h in hyps]
    tok_refs = [[r.split() for r in rs] for rs in refs]
    parts = {
        "ngram_match": ngram_match(tok_hyps, tok_refs),
        "weighted_ngram_match": weighted_ngram_match(tok_hyps, tok_refs, language_keywords(language)),
        "syntax_match": syntax_match(hyps, refs, language),
    }
    flow, edges = dataflow_match(hyps, refs, language, dataflow)
    parts["dataflow_match"] = flow
    # The `codebleu` package counts a zero data-flow score as a perfect one.
    flow_used = (flow or 1.0) if compat else flow
    alpha, beta, gamma, theta = weights
    parts["codebleu"] = (
        alpha * parts["ngram_match"] + beta * parts["weighted_ngram_match"]
        + gamma * parts["syntax_match"] + theta * flow_used
    )
    parts["reference_dataflow_edges"] = edges
    return parts


@metric("codebleu", "text", "CodeBLEU (options: lang, weights, compat=true for the `codebleu` package's "
        "behaviour, dataflow=reference|analysis)")
def codebleu(predictions, references, lang: str = "python", weights: Sequence[float] = (0.25, 0.25, 0.25, 0.25),
             compat: bool = False, dataflow: str = "reference") -> MetricResult:
    parts = codebleu_score(predictions, references, lang, weights, compat, dataflow)
    score = parts.pop("codebleu")
    parts["compat"] = bool(compat)
    parts["dataflow"] = dataflow
    return MetricResult("codebleu", score, parts, len(predictions))
