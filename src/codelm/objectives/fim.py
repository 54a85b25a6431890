"""Fill-in-the-middle (Bavarian et al. 2022; SantaCoder / StarCoder) for decoders.

With probability `fim_rate` a document is cut at two character positions
drawn uniformly from 0..len(doc) and sorted, giving prefix P, middle M and
suffix S. Each part is tokenised on its own (so no token straddles a cut)
and the parts are rearranged:

    PSM: <fim_prefix> P <fim_suffix> S <fim_middle> M <|endoftext|>
    SPM: <fim_prefix><fim_suffix> S <fim_middle> P M <|endoftext|>   (StarCoder's variant)

SPM is chosen with probability `spm_rate` among FIM documents. The rest
stay plain left-to-right text, so the model keeps its CLM ability ("FIM for
free").

`level: document` applies FIM before packing (the document as stored);
With `repo_level`, each file of the repository sequence is rearranged on
its own (document level), or the whole sequence is one document (context
level).

`level: context` applies it after packing, to each document piece inside a
window (decoded back to text, cut, re-tokenised), then cuts the window
back to `seq_len` or pads it with `<fim_pad>`. `<fim_pad>` never counts in
the loss (the reference implementation trains on it; we mask it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field

from codelm.objectives.base import IGNORE_INDEX, Example, Segment, token_id
from codelm.objectives.clm import CLM, CLMConfig
from codelm.objectives.registry import register
from codelm.objectives.text import decode, encode_text


class FIMConfig(CLMConfig):
    name: Literal["fim"] = "fim"  # type: ignore[assignment]
    fim_rate: float = Field(0.5, ge=0, le=1, description="Share of documents rearranged (StarCoder: 0.5).")
    spm_rate: float = Field(0.5, ge=0, le=1, description="Share of FIM documents in SPM order.")
    level: Literal["document", "context"] = Field(
        "document", description="FIM before packing (document) or per document inside each window (context)."
    )


def cut_points(length: int, rng: np.random.Generator) -> tuple[int, int]:
    """Two cut points uniform over 0..length (inclusive), sorted."""
    lo, hi = sorted(rng.integers(0, length + 1, size=2).tolist())
    return lo, hi


@register
class FIM(CLM):
    name = "fim"
    families = ("decoder",)
    Config = FIMConfig

    def __init__(self, config: FIMConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.prefix_id = token_id(tokenizer, "<fim_prefix>")
        self.middle_id = token_id(tokenizer, "<fim_middle>")
        self.suffix_id = token_id(tokenizer, "<fim_suffix>")
        self.fim_pad_id = token_id(tokenizer, "<fim_pad>")

    def rearrange(self, text: str, rng: np.random.Generator) -> tuple[str, list[int]]:
        """("psm" | "spm" | "none", token ids without EOS) for `text`.

        The mode is returned because the tokens alone cannot tell: with an
        empty prefix, PSM and SPM give the same sequence.
        """
        c = self.config
        if rng.random() >= c.fim_rate:
            return "none", encode_text(self.tokenizer, text)
        lo, hi = cut_points(len(text), rng)
        prefix, middle, suffix = (encode_text(self.tokenizer, part) for part in (text[:lo], text[lo:hi], text[hi:]))
        if rng.random() < c.spm_rate:
            return "spm", [self.prefix_id, self.suffix_id, *suffix, self.middle_id, *prefix, *middle]
        return "psm", [self.prefix_id, *prefix, self.suffix_id, *suffix, self.middle_id, *middle]

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        if self.config.level == "context":
            yield from super().encode(document, rng)
            return
        if "files" in document:  # repository: each file is rearranged on its own
            yield Segment(self.encode_repository(document, lambda text: self.rearrange(text, rng)[1]))
            return
        yield Segment([*self.rearrange(document["content"], rng)[1], self.eos_id])

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        if self.config.level == "document":
            example = super().finish(window, rng)
            example["labels"] = [IGNORE_INDEX if t == self.fim_pad_id else t for t in example["labels"]]
            return example
        # context level: FIM each document piece of the window, then restore the length
        ids: list[int] = []
        doc_ids: list[int] = []
        for index, piece in enumerate(split_pieces(window.ids, window.extra["doc_ids"])):
            ends_with_eos = piece[-1] == self.eos_id
            body = piece[:-1] if ends_with_eos else piece
            text = decode(self.tokenizer, body)
            # A piece cut mid-character at the window edge does not decode
            # cleanly; it stays as it is rather than being re-encoded wrongly.
            if body and "\ufffd" not in text:
                mode, rearranged = self.rearrange(text, rng)
                if mode != "none":
                    body = rearranged
            new = [*body, *([self.eos_id] if ends_with_eos else [])]
            ids.extend(new)
            doc_ids.extend([index] * len(new))
        n = self.seq_len
        ids, doc_ids = ids[:n], doc_ids[:n]
        labels = list(ids)
        if len(ids) < n:  # pad with <fim_pad>; never a target
            pad = n - len(ids)
            last = doc_ids[-1] + 1 if doc_ids else 0
            ids += [self.fim_pad_id] * pad
            labels += [IGNORE_INDEX] * pad
            doc_ids += [last] * pad
        return {"input_ids": ids, "labels": labels, "doc_ids": doc_ids}


def split_pieces(ids: list[int], doc_ids: list[int]) -> Iterator[list[int]]:
    """Consecutive runs of tokens from the same document."""
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or doc_ids[i] != doc_ids[start]:
            yield ids[start:i]
            start = i
