"""GraphCodeBERT data-flow pretraining (Guo et al. 2021) for encoders.

The input is a function's code tokens followed by its data-flow graph's
nodes (variable occurrences, from `codelm.analysis.data_flow`):

    positions  0 .. n−1      code tokens, then <|endoftext|>
    positions  n+1 .. n+m    one position per DFG node

Graph-guided attention (a 4-D mask): code tokens see all code tokens; a
node sees itself, the nodes its value comes from (the graph's edges), and
the code tokens it stands for (node–token alignment), which see it back.
A node's input vector is the mean embedding of the tokens it may attend to
(GraphCodeBERT's trick, so a node needs no vocabulary entry), and all
nodes share position 0 while code tokens count from 1.

Three losses, summed over all their targets (`num_targets` counts them all):

- masked language modelling on the code tokens (15%, 80/10/10);
- edge prediction: the edges of 20% of the nodes are hidden from attention
  and predicted from node pairs (σ of a projected dot product), with as many
  non-edges as negatives;
- node–token alignment: the alignments of another 20% of the nodes are
  hidden and predicted against code tokens, again with balanced negatives.

Examples are functions (`codelm.analysis.functions`), cut to fit
`seq_len`: nodes get at most a quarter of the window by default.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from codelm.objectives.base import (
    IGNORE_INDEX,
    Batch,
    Example,
    LossOutput,
    Objective,
    ObjectiveConfig,
    Segment,
    add_metric,
    hidden_size,
    model_inputs,
    token_id,
)
from codelm.objectives.contrastive import function_views
from codelm.objectives.masking import apply_mask, grammar_language, maskable, select_positions
from codelm.objectives.registry import register
from codelm.objectives.text import encode_offsets


class DataFlowConfig(ObjectiveConfig):
    name: Literal["dataflow"] = "dataflow"
    mlm_rate: float = Field(0.15, ge=0, lt=1, description="Share of code tokens masked for MLM.")
    edge_mask_rate: float = Field(0.2, ge=0, le=1, description="Share of nodes whose edges are hidden and predicted.")
    align_mask_rate: float = Field(0.2, ge=0, le=1, description="Share of nodes whose alignments are hidden and predicted.")
    max_nodes: int | None = Field(None, ge=1, description="Most DFG nodes per example; default seq_len // 4.")
    min_nodes: int = Field(2, ge=1, description="Skip functions with fewer nodes.")


def align_nodes(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[list[int]]:
    """For each node span, the tokens whose character spans overlap it (tokens sorted, tiling the text)."""
    ends = [b for _, b in offsets]
    out = []
    for s, e in spans:
        t = bisect.bisect_right(ends, s)  # first token ending after the span starts
        found = []
        while t < len(offsets) and offsets[t][0] < e:
            found.append(t)
            t += 1
        out.append(found)
    return out


class PairHead(torch.nn.Module):
    """Scores (i, j) pairs of hidden states by a dot product of two projections."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = torch.nn.Linear(hidden, hidden)
        self.key = torch.nn.Linear(hidden, hidden)
        self.scale = hidden**-0.5

    def forward(self, hi: torch.Tensor, hj: torch.Tensor) -> torch.Tensor:
        return (self.query(hi) * self.key(hj)).sum(-1) * self.scale


@register
class DataFlow(Objective):
    name = "dataflow"
    families = ("encoder",)
    Config = DataFlowConfig
    packed = False
    needs_auxiliary = True

    def __init__(self, config: DataFlowConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        super().__init__(config, tokenizer, family, seq_len)
        self.mask_id = token_id(tokenizer, "<mask>")
        self.node_id = token_id(tokenizer, "<sep>")  # placeholder id: node inputs are averaged embeddings
        self.vocab_size = len(tokenizer)
        self.max_nodes = config.max_nodes or max(1, seq_len // 4)

    def build_auxiliary(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            heads = {"edge_head": PairHead(hidden_size(model)), "align_head": PairHead(hidden_size(model))}
        dtype = next(model.parameters()).dtype
        return {k: v.to(dtype) for k, v in heads.items()}

    # --- data ---------------------------------------------------------------------------

    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        from codelm.analysis.dfg import DFG_LANGUAGES, data_flow

        language = grammar_language(document.get("language"))
        if language not in DFG_LANGUAGES:
            return
        for fn in function_views(document["content"], language):
            graph = self.graph(fn.code, language, data_flow)
            if graph is not None:
                yield Segment(graph["code_ids"], extra=graph)

    def graph(self, code: str, language: str, data_flow: Any) -> dict[str, Any] | None:
        """Tokens, kept nodes, their edges and alignments for one function (None if too small)."""
        ids, offsets = encode_offsets(self.tokenizer, code)
        dfg = data_flow(code, language)
        n_code = min(len(ids), self.seq_len - 1 - min(self.max_nodes, len(dfg.nodes)))
        if n_code < 1:
            return None
        limit = offsets[n_code - 1][1]  # characters covered by the kept tokens
        kept = [n for n in dfg.nodes if n.end <= limit][: self.max_nodes]
        if len(kept) < self.config.min_nodes:
            return None
        index = {n.id: i for i, n in enumerate(kept)}
        edges = sorted({(index[e.dst], index[e.src]) for e in dfg.edges if e.src in index and e.dst in index})
        align = align_nodes(offsets[:n_code], [(n.start, n.end) for n in kept])
        return {
            "code_ids": ids[:n_code],
            "edges": [list(e) for e in edges],  # (node, node its value comes from)
            "align": align,
        }

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        c = self.config
        code = np.asarray(window.ids)
        n_code, n_nodes = len(code), len(window.extra["align"])
        chosen = select_positions(maskable(code), None, c.mlm_rate, rng)
        corrupted, labels, _ = apply_mask(code, chosen, rng, self.mask_id, self.vocab_size)
        edge_hidden = rng.random(n_nodes) < c.edge_mask_rate
        align_hidden = rng.random(n_nodes) < c.align_mask_rate
        edges = [tuple(e) for e in window.extra["edges"]]
        edge_set = set(edges)
        # edge queries: every edge touching an edge-hidden node, plus as many non-edges
        positives = [e for e in edges if edge_hidden[e[0]] or edge_hidden[e[1]]]
        negatives = _sample_pairs(
            rng, len(positives), lambda: (int(rng.integers(n_nodes)), int(rng.integers(n_nodes))),
            lambda p: p not in edge_set and p[0] != p[1] and (edge_hidden[p[0]] or edge_hidden[p[1]]),
        )
        align = window.extra["align"]
        align_pos = [(n, t) for n in range(n_nodes) if align_hidden[n] for t in align[n]]
        align_neg = _sample_pairs(
            rng, len(align_pos),
            lambda: (int(rng.choice(np.flatnonzero(align_hidden))), int(rng.integers(n_code))),
            lambda p: p[1] not in align[p[0]],
        )
        n_total = n_code + 1 + n_nodes
        return {
            "input_ids": [*corrupted.tolist(), self.eos_id, *([self.node_id] * n_nodes)],
            "labels": [*labels.tolist(), IGNORE_INDEX, *([IGNORE_INDEX] * n_nodes)],
            "position_ids": [*range(1, n_code + 2), *([0] * n_nodes)],
            "n_code": n_code + 1,  # EOS counts as code
            "length": n_total,
            "edges": [list(e) for e in edges],
            "edge_hidden": np.flatnonzero(edge_hidden).tolist(),
            "align": align,
            "align_hidden": np.flatnonzero(align_hidden).tolist(),
            "edge_queries": [[*p, 1] for p in positives] + [[*p, 0] for p in negatives],
            "align_queries": [[*p, 1] for p in align_pos] + [[*p, 0] for p in align_neg],
        }

    def collate(self, examples: list[Example]) -> Batch:
        B, T = len(examples), max(ex["length"] for ex in examples)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
        positions = torch.zeros((B, T), dtype=torch.long)
        attend = torch.zeros((B, T, T), dtype=torch.bool)
        node_mask = torch.zeros((B, T), dtype=torch.bool)
        Q_e = max(1, max(len(ex["edge_queries"]) for ex in examples))
        Q_a = max(1, max(len(ex["align_queries"]) for ex in examples))
        edge_q = torch.zeros((B, Q_e, 3), dtype=torch.long)
        edge_q[:, :, 2] = IGNORE_INDEX
        align_q = torch.zeros((B, Q_a, 3), dtype=torch.long)
        align_q[:, :, 2] = IGNORE_INDEX
        for b, ex in enumerate(examples):
            n, L = ex["n_code"], ex["length"]
            ids[b, :L] = torch.tensor(ex["input_ids"])
            labels[b, :L] = torch.tensor(ex["labels"])
            positions[b, :L] = torch.tensor(ex["position_ids"])
            node_mask[b, n:L] = True
            attend[b, :n, :n] = True  # code ↔ code
            idx = torch.arange(n, L)
            attend[b, idx, idx] = True  # every node sees itself
            hidden_e, hidden_a = set(ex["edge_hidden"]), set(ex["align_hidden"])
            for dst, src in ex["edges"]:
                if dst not in hidden_e and src not in hidden_e:
                    attend[b, n + dst, n + src] = True  # a node reads the nodes its value comes from
            for node, toks in enumerate(ex["align"]):
                if node in hidden_a:
                    continue
                for t in toks:
                    attend[b, n + node, t] = attend[b, t, n + node] = True
            for q, (i, j, y) in enumerate(ex["edge_queries"]):
                edge_q[b, q] = torch.tensor([n + i, n + j, y])
            for q, (i, t, y) in enumerate(ex["align_queries"]):
                align_q[b, q] = torch.tensor([n + i, t, y])
            pad = torch.arange(L, T)
            attend[b, pad, pad] = True  # padded rows see themselves only (no empty softmax row)
        return {
            "input_ids": ids, "labels": labels, "position_ids": positions,
            "attention_mask": attend[:, None], "node_mask": node_mask,
            "edge_queries": edge_q, "align_queries": align_q,
        }

    # --- loss ----------------------------------------------------------------------------

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        aux = self.auxiliary_modules(model)
        inputs = model_inputs(model, batch, ("attention_mask", "position_ids"))
        embed = model.get_input_embeddings()(batch["input_ids"])  # (B, T, H)
        # node vectors: mean embedding of the code tokens each node may attend to
        attend = batch["attention_mask"][:, 0]  # (B, T, T) bool
        nodes = batch["node_mask"]  # (B, T)
        code = ~nodes & (batch["input_ids"] != self.pad_id)  # (B, T): code tokens, EOS included
        to_tokens = (attend & nodes[:, :, None] & code[:, None, :]).to(embed.dtype)  # (B, T, T)
        averaged = to_tokens @ embed / to_tokens.sum(-1, keepdim=True).clamp(min=1.0)
        embed = torch.where(nodes[:, :, None], averaged, embed)
        out = model(inputs_embeds=embed, **inputs, output_hidden_states=True)
        hidden = out.hidden_states[-1]  # (B, T, H)
        labels = batch["labels"]
        mlm_sum = F.cross_entropy(out.logits.reshape(-1, out.logits.size(-1)).float(), labels.reshape(-1),
                                  ignore_index=IGNORE_INDEX, reduction="sum")
        n_mlm = (labels != IGNORE_INDEX).sum()
        edge_sum, n_edge, edge_acc = _pair_loss(aux["edge_head"], hidden, batch["edge_queries"])
        align_sum, n_align, align_acc = _pair_loss(aux["align_head"], hidden, batch["align_queries"])
        metrics: dict[str, torch.Tensor] = {}
        add_metric(metrics, "mlm_loss", mlm_sum, n_mlm)
        add_metric(metrics, "edge_loss", edge_sum, n_edge)
        add_metric(metrics, "edge_accuracy", edge_acc, n_edge)
        add_metric(metrics, "align_loss", align_sum, n_align)
        add_metric(metrics, "align_accuracy", align_acc, n_align)
        return LossOutput(mlm_sum + edge_sum + align_sum, n_mlm + n_edge + n_align, metrics)


def _pair_loss(head: torch.nn.Module, hidden: torch.Tensor, queries: torch.Tensor):
    """Summed BCE, count and correct predictions of (i, j, label) queries; label −100 = padding."""
    i, j, y = queries.unbind(-1)  # each (B, Q)
    valid = y != IGNORE_INDEX
    gather = lambda idx: hidden.gather(1, idx[:, :, None].expand(-1, -1, hidden.size(-1)))  # noqa: E731
    logits = head(gather(i), gather(j)).float()  # (B, Q)
    target = y.clamp(min=0).float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    correct = (((logits > 0).float() == target) & valid).sum().float()
    return (bce * valid).sum(), valid.sum(), correct


def _sample_pairs(rng: np.random.Generator, count: int, draw: Any, ok: Any, tries: int = 20) -> list[tuple[int, int]]:
    """Up to `count` distinct pairs from `draw()` accepted by `ok` (gives up after count × tries draws)."""
    out: set[tuple[int, int]] = set()
    for _ in range(count * tries):
        if len(out) >= count:
            break
        pair = draw()
        if ok(pair):
            out.add(pair)
    return sorted(out)
