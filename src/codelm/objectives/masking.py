"""BERT-style token masking, optionally by whole identifier (shared by mlm, rtd, dataflow).

Selection (Devlin et al. 2019; CodeBERT): `round(rate × candidates)` tokens
per window are chosen to be predicted; each chosen token becomes `<mask>`
with probability 0.8, a random ordinary token with 0.1, and stays as it is
with 0.1. Special tokens (EOS, padding, sentinels) are never chosen.

Whole-identifier masking chooses *units* instead of tokens: every
occurrence of an identifier (all the sub-tokens BPE cut it into) is one
unit, every other token its own unit. Units are taken in random order until
the token budget is met, skipping a unit that would overshoot it (as BERT's
whole-word masking does), so an identifier is either fully masked or not at
all. The 80/10/10 replacement is still decided per token.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codelm.objectives.base import IGNORE_INDEX
from codelm.objectives.text import encode_offsets
from codelm.tokenizer.special import NUM_SPECIAL


def select_positions(
    candidates: np.ndarray, units: np.ndarray | None, rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Boolean mask of positions to predict.

    candidates: (T,) bool, positions that may be chosen.
    units: (T,) int or None; positions sharing a non-negative unit id are chosen together.
    """
    T = len(candidates)
    chosen = np.zeros(T, dtype=bool)
    positions = np.flatnonzero(candidates)
    budget = round(rate * len(positions))
    if budget == 0:
        return chosen
    if units is None or (units[positions] < 0).all():
        chosen[rng.choice(positions, size=budget, replace=False)] = True
        return chosen
    # group candidate positions into units: identifier occurrences, else singletons
    groups: dict[int, list[int]] = {}
    singles: list[list[int]] = []
    for pos in positions.tolist():
        unit = int(units[pos])
        if unit < 0:
            singles.append([pos])
        else:
            groups.setdefault(unit, []).append(pos)
    all_units = list(groups.values()) + singles
    covered = 0
    for i in rng.permutation(len(all_units)).tolist():
        unit = all_units[i]
        if covered + len(unit) > budget:
            continue
        chosen[unit] = True
        covered += len(unit)
        if covered == budget:
            break
    return chosen


def apply_mask(
    ids: np.ndarray,
    chosen: np.ndarray,
    rng: np.random.Generator,
    mask_id: int,
    vocab_size: int,
    mask_token_rate: float = 0.8,
    random_token_rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(corrupted ids, labels, action) for chosen positions.

    action per position: 0 untouched (not chosen), 1 `<mask>`, 2 random token, 3 kept.
    Labels are the original ids at chosen positions, IGNORE_INDEX elsewhere.
    """
    ids = np.asarray(ids, dtype=np.int64)
    u = rng.random(len(ids))
    action = np.zeros(len(ids), dtype=np.int64)
    action[chosen & (u < mask_token_rate)] = 1
    action[chosen & (u >= mask_token_rate) & (u < mask_token_rate + random_token_rate)] = 2
    action[chosen & (u >= mask_token_rate + random_token_rate)] = 3
    out = ids.copy()
    out[action == 1] = mask_id
    n_random = int((action == 2).sum())
    if n_random:
        # random replacements come from ordinary tokens only, never special ones
        out[action == 2] = rng.integers(NUM_SPECIAL, vocab_size, size=n_random)
    labels = np.where(chosen, ids, IGNORE_INDEX)
    return out, labels, action


def maskable(ids: np.ndarray) -> np.ndarray:
    """Positions holding ordinary (non-special) tokens."""
    return np.asarray(ids) >= NUM_SPECIAL


def identifier_units(tokenizer: Any, text: str, language: str | None) -> tuple[list[int], list[int]]:
    """Token ids of `text` and, per token, the identifier occurrence it belongs to (−1: none).

    Occurrences come from `codelm.analysis.identifiers` (tree-sitter); a token
    belongs to every occurrence its character span overlaps, and occurrences
    sharing a token are merged into one unit, so no unit is ever split.
    Text in a language without a grammar gets no units (plain token masking).
    """
    ids, offsets = encode_offsets(tokenizer, text)
    units = [-1] * len(ids)
    spans = identifier_spans(text, language)
    if not spans:
        return ids, units
    parent = list(range(len(spans)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Both lists are sorted by start: walk them together.
    j = 0
    for t, (start, end) in enumerate(offsets):
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        k = j
        while k < len(spans) and spans[k][0] < end:
            if end > spans[k][0] and start < spans[k][1]:
                if units[t] < 0:
                    units[t] = k
                else:
                    parent[find(k)] = find(units[t])
            k += 1
    return ids, [find(u) if u >= 0 else -1 for u in units]


def grammar_language(language: str | None) -> str | None:
    """The analysis name of `language` when a tree-sitter grammar is bundled, else None."""
    from codelm.analysis.parsing import normalize_language
    from codelm.errors import CodelmError

    if not language:
        return None
    try:
        return normalize_language(language)
    except CodelmError:
        return None


def identifier_spans(text: str, language: str | None) -> list[tuple[int, int]]:
    """Character spans of identifier occurrences, sorted; empty without a grammar."""
    from codelm.analysis.identifiers import identifiers

    lang = grammar_language(language)
    if lang is None:
        return []
    groups = identifiers(text, lang)
    return sorted((occ.start, occ.end) for occs in groups.values() for occ in occs)
