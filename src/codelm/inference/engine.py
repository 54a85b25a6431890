"""The decoding loop: rows join, step together, and leave as they finish.

One `Engine` owns the model's batch. `add()` prefills new prompts (n rows
each, sharing one prefill) and appends them to the running batch; `step()`
chooses one token for every row, updates each row's text, stop state and
logprobs, drops finished rows and runs the next forward pass. The library
(`Generator.generate`) and the server's scheduler drive the same loop, so
what the tests check about one holds for the other; the server simply calls
`add()` between steps as requests arrive (step-level continuous batching).

Why our own loop rather than `model.generate`: stop strings with correct
hold-back, token-by-token streaming, rows joining a running batch and
per-row seeds all need control between steps. The forward passes are
transformers' own; a test checks that greedy output equals
`model.generate` token for token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from codelm.inference.config import GenerationConfig
from codelm.inference.kv import KVBatch, Runner
from codelm.inference.sampling import (
    RowParams,
    choose_tokens,
    make_generator,
    row_seed,
    token_logprobs,
)
from codelm.inference.stops import TextTracker, special_token_ids


@dataclass
class Completion:
    """One generated completion.

    text: special tokens removed, cut before the first stop string.
    token_ids: generated ids (a final stop token such as EOS is not included).
    finish_reason: "stop" (EOS, a stop token id or a stop string) or "length"
    (max_new_tokens, the context length or the request's time limit).
    logprobs: log p of each token in `token_ids` under the raw model
    distribution (with `GenerationConfig.logprobs` set), top_logprobs the k
    most likely alternatives at each step as {token_id: logprob}.
    """

    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[float] | None = None
    top_logprobs: list[dict[int, float]] | None = None
    prompt_tokens: int = 0
    score: float | None = None  # beam search: length-normalised sum of logprobs
    stop_kind: str | None = (
        None  # with finish_reason "stop": "token" (EOS or a stop id) or "string"
    )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "token_ids": self.token_ids,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
        }
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        if self.top_logprobs is not None:
            out["top_logprobs"] = [{str(k): v for k, v in d.items()} for d in self.top_logprobs]
        if self.score is not None:
            out["score"] = self.score
        return out


@dataclass
class Request:
    """One prompt to complete `config.n` times."""

    prompt_ids: list[int]
    config: GenerationConfig
    decoder_prefix: list[int] = field(default_factory=list)  # encdec: forced first decoder tokens
    extra_stop_ids: list[int] = field(default_factory=list)  # e.g. FIM tokens for infilling
    suffix_ids: list[int] = field(
        default_factory=list
    )  # diffusion encoders: text after the generated span
    seed_path: tuple[int, ...] = (
        0,
    )  # mixes into every row's seed: (prompt index,) in a batch call
    stream: bool = False  # track text every step (streaming callers); stop strings imply it
    deadline: float | None = None  # time.monotonic() after which rows end with "length"
    key: Any = None  # the caller's handle, passed back on every row


class Row:
    """One completion in progress (decoded by `Engine`, or by the vLLM adapter)."""

    def __init__(
        self,
        req: Request,
        sample: int,
        *,
        tokenizer: Any,
        special_ids: set[int],
        eos_ids: set[int],
        max_model_len: int,
        context_used: int,
        device: Any = "cpu",
    ) -> None:
        cfg = req.config
        self.req = req
        self.sample = sample
        self.params = RowParams(cfg.temperature, cfg.top_k, cfg.top_p)
        self.seed = row_seed(cfg.seed, *req.seed_path, sample)
        self.generator = make_generator(self.seed, device) if cfg.temperature > 0 else None
        self.stop_ids = set(cfg.stop_token_ids) | set(req.extra_stop_ids)
        if not cfg.ignore_eos:
            self.stop_ids |= eos_ids
        # context_used: positions the prompt already fills (decoders) or the decoder start (+ prefix)
        self.limit = min(cfg.max_new_tokens, max_model_len - context_used)
        self.want_logprobs = cfg.logprobs is not None
        self.top = cfg.logprobs or 0
        self.tokens: list[int] = []
        self.logprobs: list[float] = []
        self.top_logprobs: list[dict[int, float]] = []
        self.text = TextTracker(tokenizer, special_ids, cfg.stop, incremental=req.stream)
        self.finish_reason: str | None = None
        self.stop_kind: str | None = None
        self.sent = 0  # tokens already reported to a streaming caller
        if self.limit <= 0:
            self.finish_reason = "length"

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def accept(self, token: int, logprob: float | None, alts: list[tuple[int, float]]) -> str:
        """Take the chosen token; returns newly final text."""
        if token in self.stop_ids:
            self.finish_reason, self.stop_kind = "stop", "token"
            return self.text.finish()
        self.tokens.append(token)
        if logprob is not None:
            self.logprobs.append(logprob)
            self.top_logprobs.append(dict(alts))
        delta = self.text.push(token)
        if self.text.stopped:
            self.finish_reason, self.stop_kind = "stop", "string"
        elif len(self.tokens) >= self.limit:
            self.finish_reason = "length"
        if self.finish_reason is not None:
            delta += self.text.finish()
        return delta

    def end(self, reason: str, stop_kind: str | None = None) -> str:
        """Finish from outside (time limit, another engine's stop); returns the last text piece."""
        self.finish_reason, self.stop_kind = reason, stop_kind
        return self.text.finish()

    def completion(self) -> Completion:
        return Completion(
            text=self.text.text,
            token_ids=list(self.tokens),
            finish_reason=self.finish_reason or "length",
            logprobs=list(self.logprobs) if self.want_logprobs else None,
            top_logprobs=list(self.top_logprobs) if self.want_logprobs and self.top else None,
            prompt_tokens=len(self.req.prompt_ids),
            stop_kind=self.stop_kind,
        )


StepEvent = tuple[Row, str]  # (row, newly final text); row.finished tells whether it ended


class Engine:
    """Owns the running batch of one model. Not thread-safe: one thread drives it."""

    def __init__(self, model: Any, tokenizer: Any, kind: str, max_model_len: int) -> None:
        if kind not in ("decoder", "encdec"):
            raise ValueError(
                f"the token-by-token engine decodes decoder and encdec models, not {kind}"
            )
        self.tokenizer = tokenizer
        config = model.config
        gen = getattr(model, "generation_config", None)
        pad = _first_id(
            getattr(gen, "pad_token_id", None), config.pad_token_id, tokenizer.pad_token_id
        )
        eos = _first_id(
            getattr(gen, "eos_token_id", None), config.eos_token_id, tokenizer.eos_token_id
        )
        start = _first_id(
            getattr(gen, "decoder_start_token_id", None),
            getattr(config, "decoder_start_token_id", None),
            pad,
        )
        self.pad_id = pad if pad is not None else (eos if eos is not None else 0)
        self.eos_ids = (
            _id_set(getattr(gen, "eos_token_id", None))
            | _id_set(config.eos_token_id)
            | _id_set(tokenizer.eos_token_id)
        )
        self.runner = Runner(model, kind, self.pad_id, start)
        self.special_ids = special_token_ids(tokenizer)
        self.max_model_len = max_model_len
        self.rows: list[Row] = []
        self.batch: KVBatch | None = None
        self.logits: torch.Tensor | None = None  # (len(rows), V): next-token logits of each row
        self.tokens_generated = 0
        self.steps = 0

    @property
    def size(self) -> int:
        return len(self.rows)

    def add(self, requests: list[Request]) -> list[Row]:
        """Prefill `requests` and add their rows to the running batch; returns the new rows.

        Rows that cannot generate at all (prompt already at the context
        length) come back finished and never enter the batch.
        """
        if not requests:
            return []
        new_rows: list[Row] = []
        live: list[Request] = []
        for req in requests:
            rows = [self._row(req, j) for j in range(req.config.n)]
            new_rows += rows
            if not rows[0].finished:
                live.append(req)
        if not live:
            return new_rows
        prompts = [r.prompt_ids or [self._fallback_bos()] for r in live]
        prefixes = [r.decoder_prefix for r in live] if self.runner.kind == "encdec" else None
        batch, logits = self.runner.prefill(prompts, prefixes)
        counts = [r.config.n for r in live]
        batch.repeat_rows(counts)
        logits = logits.repeat_interleave(torch.tensor(counts, device=logits.device), dim=0)
        if self.batch is None or self.batch.size == 0:
            self.batch, self.logits = batch, logits
        else:
            self.batch.concat(batch)
            self.logits = torch.cat([self.logits, logits])  # type: ignore[list-item]
        self.rows += [row for row in new_rows if not row.finished]
        return new_rows

    def _row(self, req: Request, sample: int) -> Row:
        used = len(req.prompt_ids) if self.runner.kind == "decoder" else 1 + len(req.decoder_prefix)
        return Row(
            req,
            sample,
            tokenizer=self.tokenizer,
            special_ids=self.special_ids,
            eos_ids=self.eos_ids,
            max_model_len=self.max_model_len,
            context_used=used,
            device=self.runner.device,
        )

    def _fallback_bos(self) -> int:
        """An empty prompt still needs one token to condition on: BOS, else EOS (GPT-2 style)."""
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else next(iter(self.eos_ids), self.pad_id)

    def step(self) -> list[StepEvent]:
        """Choose one token for every row; returns (row, new text) per row; finished rows leave."""
        if not self.rows:
            return []
        assert self.logits is not None and self.batch is not None
        logits = self.logits
        tokens = choose_tokens(
            logits, [r.params for r in self.rows], [r.generator for r in self.rows]
        )
        want = [i for i, r in enumerate(self.rows) if r.want_logprobs]
        lp: dict[int, tuple[float, list[tuple[int, float]]]] = {}
        if want:
            idx = torch.tensor(want, device=logits.device)
            top = max(self.rows[i].top for i in want)
            chosen, alts = token_logprobs(
                logits.index_select(0, idx), tokens.index_select(0, idx), top
            )
            for j, i in enumerate(want):
                lp[i] = (chosen[j], alts[j][: self.rows[i].top])
        token_list = tokens.tolist()
        now = time.monotonic()
        events: list[StepEvent] = []
        for i, row in enumerate(self.rows):
            chosen_lp, alt = lp.get(i, (None, []))
            delta = row.accept(token_list[i], chosen_lp, alt)
            if not row.finished and row.req.deadline is not None and now >= row.req.deadline:
                delta += row.end("length")
            events.append((row, delta))
        self.tokens_generated += len(self.rows)
        self.steps += 1
        keep = [i for i, r in enumerate(self.rows) if not r.finished]
        if len(keep) < len(self.rows):
            self.rows = [self.rows[i] for i in keep]
            if keep:
                self.batch.select(keep)
                tokens = tokens[keep]
            else:
                self.batch, self.logits = None, None
        if self.rows:
            self.logits = self.runner.decode(self.batch, tokens)
        return events

    def remove(self, predicate: Callable[[Row], bool], reason: str = "length") -> list[StepEvent]:
        """End rows matching `predicate` now (cancelled or timed-out requests); returns their last text."""
        gone = [i for i, r in enumerate(self.rows) if predicate(r)]
        if not gone:
            return []
        events = [(self.rows[i], self.rows[i].end(reason)) for i in gone]
        keep = [i for i in range(len(self.rows)) if i not in set(gone)]
        self.rows = [self.rows[i] for i in keep]
        if keep:
            assert self.batch is not None and self.logits is not None
            self.batch.select(keep)
            self.logits = self.logits[keep]
        else:
            self.batch, self.logits = None, None
        return events


def _first_id(*values: Any) -> int | None:
    for v in values:
        if isinstance(v, list | tuple):
            v = v[0] if v else None
        if isinstance(v, int):
            return v
    return None


def _id_set(value: Any) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, int):
        return {value}
    return {int(v) for v in value}
