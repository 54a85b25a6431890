"""CodeT5's identifier-aware objectives (Wang et al. 2021), identifiers from `codelm.analysis`.

`task: tagging` (identifier tagging): for every token, is it part of an
identifier? A one-logit head on the encoder's hidden states, binary
cross-entropy on every real token. Packed windows; encoders and the encoder
of an encoder–decoder.

`task: masked` (masked identifier prediction): every occurrence of a chosen
identifier is replaced by the same sentinel, a different sentinel per
name, and the model writes the names back:

    input   def <extra_id_0>(<extra_id_1>): return <extra_id_1> + 1
    target  <extra_id_0> inc <extra_id_1> x <|endoftext|>

CodeT5 masks all identifiers (`mask_rate: 1.0`); at most 100 names per
example (the sentinels), chosen at random when a chunk has more. Masking
is done on the text (the occurrence's characters become the sentinel's
spelling) before tokenising, so the whitespace around a name survives even
when BPE glued it to the name. Long documents are cut into chunks that fit
`seq_len`. Encoder–decoders, and decoders (input and target concatenated).

To train both tasks, list the objective twice with labels:
`[{name: identifier, task: tagging, label: it}, {name: identifier, task: masked, label: mip}]`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from codelm.errors import ConfigError
from codelm.objectives.base import (
    Batch,
    Example,
    LossOutput,
    Objective,
    ObjectiveConfig,
    Segment,
    add_metric,
    check_family,
    hidden_size,
    hidden_states,
    model_inputs,
    pad_and_stack,
    token_id,
)
from codelm.objectives.masking import grammar_language, identifier_spans
from codelm.objectives.registry import register
from codelm.objectives.seq2seq import seq2seq_collate, seq2seq_example
from codelm.objectives.text import encode_offsets, encode_text
from codelm.tokenizer.special import NUM_SENTINELS, sentinel

TASK_FAMILIES = {"tagging": ("encoder", "encdec"), "masked": ("encdec", "decoder")}


class IdentifierConfig(ObjectiveConfig):
    name: Literal["identifier"] = "identifier"
    task: Literal["tagging", "masked"] = Field("masked", description="tagging (IT) or masked identifier prediction (MIP).")
    mask_rate: float = Field(1.0, gt=0, le=1, description="masked: share of distinct names masked (CodeT5: all).")
    prefix_lm: bool = Field(False, description="masked, decoders: the input attends bidirectionally.")


def token_tags(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each token overlapping an identifier span, else 0 (both lists sorted)."""
    tags = [0] * len(offsets)
    j = 0
    for t, (start, end) in enumerate(offsets):
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        if j < len(spans) and spans[j][0] < end and start < spans[j][1]:
            tags[t] = 1
    return tags


@register
class Identifier(Objective):
    name = "identifier"
    families = ("encoder", "encdec", "decoder")
    family_detail = "task tagging: encoder, encdec; task masked: encdec, decoder"
    Config = IdentifierConfig

    def __init__(self, config: IdentifierConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        check_family(f"identifier (task {config.task})", family, TASK_FAMILIES[config.task])
        super().__init__(config, tokenizer, family, seq_len)
        self.packed = config.task == "tagging"  # instance attribute: read by ExampleStream
        self.needs_auxiliary = config.task == "tagging"
        self.sentinels = [sentinel(i) for i in range(NUM_SENTINELS)]
        self.sentinel_ids = [token_id(tokenizer, s) for s in self.sentinels]
        if config.task == "masked" and seq_len < 8:
            raise ConfigError(f"identifier: seq_len {seq_len} is too short; use at least 8")

    # --- identifier tagging -------------------------------------------------

    def build_auxiliary(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        if self.config.task != "tagging":
            return {}  # masked identifier prediction uses the model's own LM head
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            head = torch.nn.Linear(hidden_size(model), 1)
        return {"identifier_head": head.to(next(model.parameters()).dtype)}

    # --- both ----------------------------------------------------------------

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        text, language = document["content"], document.get("language")
        if self.config.task == "tagging":
            ids, offsets = encode_offsets(self.tokenizer, text)
            tags = token_tags(offsets, identifier_spans(text, language))
            yield Segment([*ids, self.eos_id], extra={"tags": [*tags, 0]})
            return
        yield from self._masked_chunks(text, language, rng)

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        if self.config.task == "tagging":
            return {"input_ids": window.ids, "labels": window.extra["tags"]}
        return seq2seq_example(window.ids, window.extra["targets"], self.family)

    def collate(self, examples: list[Example]) -> Batch:
        if self.config.task == "tagging":
            return pad_and_stack(examples, self.pad_id)
        return seq2seq_collate(examples, self.pad_id, self.family, self.config.prefix_lm)

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        if self.config.task == "masked":
            return super().loss(model, batch)
        head = self.auxiliary_modules(model)["identifier_head"]
        inputs = model_inputs(model, batch, ("input_ids", "attention_mask"))
        logits = head(hidden_states(model, inputs, self.family)).squeeze(-1)  # (B, T)
        labels = batch["labels"]
        real = labels >= 0  # padding carries IGNORE_INDEX
        tags = labels.clamp(min=0).float()
        per_token = F.binary_cross_entropy_with_logits(logits.float(), tags, reduction="none")
        loss_sum = (per_token * real).sum()
        metrics: dict[str, torch.Tensor] = {}
        correct = ((logits > 0).float() == tags) & real
        add_metric(metrics, "tagging_accuracy", correct.sum().float(), real.sum())
        return LossOutput(loss_sum, real.sum(), metrics)

    # --- masked identifier prediction ----------------------------------------

    def _masked_chunks(self, text: str, language: str | None, rng: np.random.Generator) -> Iterator[Segment]:
        from codelm.analysis.identifiers import identifiers

        lang = grammar_language(language)
        if lang is None:
            return  # no grammar for this language: nothing to mask
        ids, offsets = encode_offsets(self.tokenizer, text)
        occurrences = [(occ.start, occ.end, name) for name, occs in identifiers(text, lang).items() for occ in occs]
        occurrences.sort()
        budget = self.seq_len - 1  # room for EOS
        start = 0
        while start < len(ids):
            size = min(len(ids) - start, budget)
            while True:
                built = self._mask_chunk(text, offsets, occurrences, start, start + size, rng)
                if built is None or self._fits(*built) or size == 1:
                    break
                size = max(1, size * 3 // 4)  # sentinels cost tokens: shrink until it fits
            start += size
            if built is not None and self._fits(*built):
                inputs, targets = built
                yield Segment([*inputs, self.eos_id], extra={"targets": [*targets, self.eos_id]})

    def _fits(self, inputs: list[int], targets: list[int]) -> bool:
        n_in, n_tgt = len(inputs) + 1, len(targets) + 1
        if self.family == "encdec":
            return n_in <= self.seq_len and n_tgt <= self.seq_len
        return n_in + n_tgt <= self.seq_len

    def _mask_chunk(
        self, text: str, offsets: list[tuple[int, int]], occurrences: list[tuple[int, int, str]],
        first: int, last: int, rng: np.random.Generator,
    ) -> tuple[list[int], list[int]] | None:
        """(inputs, targets) without EOS for tokens first..last−1, or None if it has no identifier."""
        lo, hi = offsets[first][0], offsets[last - 1][1]
        # occurrences are sorted by start: bisect to the chunk instead of scanning them all
        a = bisect.bisect_left(occurrences, (lo, -1, ""))
        b = bisect.bisect_left(occurrences, (hi, -1, ""))
        inside = [(s, e, name) for s, e, name in occurrences[a:b] if e <= hi]
        names = list(dict.fromkeys(name for _, _, name in inside))  # order of first appearance
        if not names:
            return None
        k = max(1, round(self.config.mask_rate * len(names)))
        k = min(k, len(self.sentinels))
        picked = sorted(rng.choice(len(names), size=k, replace=False).tolist()) if k < len(names) else list(range(k))
        chosen = {names[i]: j for j, i in enumerate(picked)}  # name -> sentinel index, first appearance first
        pieces, cursor = [], lo
        for s, e, name in inside:
            if name in chosen:
                pieces.append(text[cursor:s])
                pieces.append(self.sentinels[chosen[name]])
                cursor = e
        pieces.append(text[cursor:hi])
        inputs = encode_text(self.tokenizer, "".join(pieces))
        targets: list[int] = []
        for name, j in chosen.items():
            targets.append(self.sentinel_ids[j])
            targets.extend(encode_text(self.tokenizer, name))
        return inputs, targets
