"""Contrastive learning of code representations: InfoNCE with in-batch negatives.

Each example is a pair of views of one function; the other pairs of the
batch are the negatives (Code-MVP, ContraBERT, UniXcoder; SimCSE for the
dropout view). View kinds:

- `docstring`: the function without its docstring ↔ the docstring;
- `transform`: the function ↔ a semantics-preserving rewrite of it
  (`codelm.objectives.transforms`: renaming, dead code, for↔while, operand
  swap; Python only);
- `dropout`: the function twice; the two forward passes see different
  dropout masks, so the model must keep the representation stable.

For each function the objective picks one of the configured kinds that
applies to it (a function without a docstring cannot give the first). Both
views are pooled (`mean` over tokens by default, the last token on
decoders), projected by a small head, L2-normalised, and scored by cosine
similarity / temperature (0.05, as SimCSE and UniXcoder). The loss is the
symmetric cross-entropy over the batch's similarity matrix, summed over
pairs; `num_targets` is the number of pairs.

Functions come from `codelm.analysis.functions` (11 languages); each is cut
from its first line and dedented so it stands alone.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from codelm.objectives.base import (
    Batch,
    Example,
    LossOutput,
    Objective,
    ObjectiveConfig,
    Segment,
    add_metric,
    hidden_size,
    hidden_states,
    model_inputs,
)
from codelm.objectives.masking import grammar_language
from codelm.objectives.registry import register
from codelm.objectives.text import encode_text
from codelm.objectives.transforms import TRANSFORMS, random_transforms

VIEWS = ("docstring", "transform", "dropout")
View = Literal["docstring", "transform", "dropout"]
Transform = Literal["rename", "dead_code", "loop_exchange", "operand_swap"]


class ContrastiveConfig(ObjectiveConfig):
    name: Literal["contrastive"] = "contrastive"
    views: list[View] = Field(default_factory=lambda: list(VIEWS), min_length=1, description="View kinds to pair.")
    transforms: list[Transform] = Field(default_factory=lambda: list(TRANSFORMS), min_length=1)
    temperature: float = Field(0.05, gt=0, description="Softmax temperature of the cosine similarities.")
    pooling: Literal["mean", "cls", "last"] | None = Field(None, description="Default: last on decoders, else mean.")
    projection: bool = Field(True, description="Train a dense + tanh head on the pooled vectors (SimCSE).")
    min_chars: int = Field(40, ge=1, description="Skip functions shorter than this.")


@dataclass(frozen=True)
class FunctionView:
    name: str
    code: str  # the whole function, dedented
    docstring: str | None
    code_without_docstring: str | None  # None when nothing but the docstring remains


def function_views(text: str, language: str | None) -> list[FunctionView]:
    """Functions and methods of a file as standalone, dedented snippets."""
    from codelm.analysis.functions import functions

    lang = grammar_language(language)
    if lang is None:
        return []
    out = []
    for fn in functions(text, lang):
        if fn.kind == "class":
            continue
        start = text.rfind("\n", 0, fn.start) + 1  # from the first line's indentation
        code = textwrap.dedent(text[start:fn.end])
        if code[:1].isspace():
            continue  # a line less indented than the first (a multi-line string): no clean dedent
        without = None
        if fn.docstring_span is not None:
            ds, de = fn.docstring_span
            line_start = text.rfind("\n", 0, ds) + 1
            line_end = text.find("\n", de)
            line_end = len(text) if line_end < 0 else line_end + 1
            if text[line_start:ds].strip() == "" and text[de:line_end].strip() == "":
                rest = text[start:line_start] + text[line_end:fn.end]
                dedented = textwrap.dedent(rest)
                body_left = dedented.strip().count("\n") > 0
                without = dedented if body_left and not dedented[:1].isspace() else None
        doc = fn.docstring.strip() if fn.docstring else None
        out.append(FunctionView(fn.name, code, doc or None, without))
    return out


def _pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    from codelm.models.heads import pool

    return pool(hidden, mask, mode)


class ProjectionHead(torch.nn.Module):
    """SimCSE's training head: dense + tanh on the pooled vector."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x))


@register
class Contrastive(Objective):
    name = "contrastive"
    families = ("encoder", "decoder", "encdec")
    Config = ContrastiveConfig
    packed = False

    def __init__(self, config: ContrastiveConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.pooling = config.pooling or ("last" if family == "decoder" else "mean")
        self.needs_auxiliary = config.projection

    def build_auxiliary(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        if not self.config.projection:
            return {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            head = ProjectionHead(hidden_size(model))
        return {"projection": head.to(next(model.parameters()).dtype)}

    def _ids(self, text: str) -> list[int]:
        # every view ends with EOS: the last-token pooling of decoders reads it
        return [*encode_text(self.tokenizer, text)[: self.seq_len - 1], self.eos_id]

    def pair(self, fn: FunctionView, language: str, rng: np.random.Generator) -> tuple[str, str, str] | None:
        """(view kind, text a, text b) for one function, or None if no configured kind applies."""
        kinds = [self.config.views[i] for i in rng.permutation(len(self.config.views))]
        for kind in kinds:
            if kind == "docstring" and fn.docstring and fn.code_without_docstring:
                return kind, fn.code_without_docstring, fn.docstring
            if kind == "transform":
                new, applied = random_transforms(fn.code, rng, language, tuple(self.config.transforms))
                if applied:
                    return kind, fn.code, new
            if kind == "dropout":
                return kind, fn.code, fn.code
        return None

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        language = grammar_language(document.get("language"))
        for fn in function_views(document["content"], language):
            if len(fn.code) < self.config.min_chars:
                continue
            made = self.pair(fn, language, rng)
            if made is None:
                continue
            kind, a, b = made
            ids_a, ids_b = self._ids(a), self._ids(b)
            if ids_a == ids_b:
                kind = "dropout"  # the change fell past seq_len: the pair is a dropout pair now
            yield Segment(ids_a, extra={"pair": ids_b, "view": [VIEWS.index(kind)]})

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        return {"input_ids": window.ids, "pair_input_ids": window.extra["pair"], "view": window.extra["view"][0]}

    def collate(self, examples: list[Example]) -> Batch:
        batch: Batch = {}
        for key in ("input_ids", "pair_input_ids"):
            rows = [ex[key] for ex in examples]
            length = max(len(r) for r in rows)
            ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), length), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            prefix = key[: -len("input_ids")]
            batch[f"{prefix}input_ids"], batch[f"{prefix}attention_mask"] = ids, mask
        batch["view"] = torch.tensor([ex["view"] for ex in examples])
        return batch

    def embed(self, model: torch.nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
        """Pooled, projected, L2-normalised vectors (B, H) of one side of the pairs."""
        inputs = model_inputs(model, batch, (f"{prefix}input_ids", f"{prefix}attention_mask"))
        hidden = hidden_states(model, inputs, self.family, prefix=prefix)
        pooled = _pool(hidden, inputs[f"{prefix}attention_mask"], self.pooling)
        if self.config.projection:
            pooled = self.auxiliary_modules(model)["projection"](pooled)
        return F.normalize(pooled.float(), dim=-1)

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        a = self.embed(model, batch)
        b = self.embed(model, batch, prefix="pair_")
        logits = a @ b.T / self.config.temperature  # (B, B): row i's positive is column i
        target = torch.arange(len(a), device=a.device)
        loss_sum = (F.cross_entropy(logits, target, reduction="sum") + F.cross_entropy(logits.T, target, reduction="sum")) / 2
        metrics: dict[str, torch.Tensor] = {}
        add_metric(metrics, "retrieval_accuracy", (logits.argmax(dim=1) == target).sum().float(), len(a))
        return LossOutput(loss_sum, torch.tensor(len(a), device=a.device), metrics)
