"""The objective contract: corpus documents → model inputs, labels and a loss.

Every objective follows the same three stages, so the trainer treats them
alike and can resume any of them exactly:

    document ──encode()──► Segment            one per document; RNG seeded by (seed, epoch, doc)
    segments ──Packer────► window of tokens   packed objectives only (CLM, FIM, MLM, span, UL2 ...)
    window   ──finish()──► Example            RNG seeded by (seed, epoch, window index)
    examples ──collate()─► batch of tensors
    model, batch ──loss()► LossOutput(sum over targets, number of targets)

Seeding each document and each window from its own index (instead of one
running RNG) makes the stream position a few integers plus the packer's
carry-over tokens, so a resumed run sees exactly the examples the
uninterrupted run would have seen, without replaying the stream.

The loss is returned as a *sum* with its target count: the trainer divides by
the total count over all accumulated micro-batches, so gradient accumulation
does not change the loss (the HF Trainer bug of averaging per micro-batch).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from codelm.config import Section
from codelm.errors import ConfigError

Family = Literal["decoder", "encoder", "encdec"]
FAMILIES: tuple[str, ...] = ("decoder", "encoder", "encdec")
IGNORE_INDEX = -100  # label value that contributes no loss (PyTorch/HF convention)

Example = dict[str, Any]
Batch = dict[str, torch.Tensor]


class ObjectiveConfig(Section):
    """Fields every objective accepts; subclasses add their parameters."""

    name: str
    weight: float = Field(default=1.0, gt=0, description="Sampling weight inside a mixture.")
    label: str | None = Field(
        default=None,
        description="Name this entry goes by in a mixture and in logs (needed when one objective is listed twice).",
    )


@dataclass
class Segment:
    """One document after `encode`: token ids plus aligned per-token arrays.

    `labels` follow the Hugging Face convention: unshifted, the same length as
    `ids`, `IGNORE_INDEX` where no loss applies (decoders shift inside the loss).
    `extra` holds further per-token arrays an objective needs after packing
    (identifier tags, document ids ...).
    """

    ids: list[int]
    labels: list[int] | None = None
    extra: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class LossOutput:
    """A micro-batch's summed loss and how many targets it summed over."""

    loss_sum: torch.Tensor
    num_targets: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


def stable_hash(text: str) -> int:
    """A hash that, unlike `hash()`, is the same in every process."""
    return zlib.crc32(text.encode("utf-8"))


def make_rng(seed: int, *parts: int) -> np.random.Generator:
    """An RNG that depends only on the seed and the given indices."""
    return np.random.default_rng([seed, *parts])


class Objective(ABC):
    """Base class; subclasses set `name`, `families`, `Config` and implement `encode`."""

    name: ClassVar[str]
    families: ClassVar[tuple[str, ...]]
    Config: ClassVar[type[ObjectiveConfig]]
    packed: ClassVar[bool] = True  # documents are concatenated into fixed windows

    def __init__(self, config: ObjectiveConfig, tokenizer: Any, family: str, seq_len: int) -> None:
        check_family(self.name, family, self.families)
        if config.label:
            self.name = config.label  # instance attribute shadows the class's registry name
        self.config = config
        self.tokenizer = tokenizer
        self.family = family
        self.seq_len = seq_len
        self.eos_id = token_id(tokenizer, "<|endoftext|>")
        self.pad_id = token_id(tokenizer, "<pad>")

    def window_len(self) -> int:
        """Tokens per packed window (span corruption asks for more than seq_len).

        For objectives whose window length varies (UL2: one length per
        denoiser) this is the longest one.
        """
        return self.seq_len

    def next_window_len(self, rng: np.random.Generator) -> int:
        """Length of the next window to cut; `rng` is a copy of the one `finish` will get.

        UL2 draws its denoiser here (the first draw), so each denoiser gets
        exactly the raw length its bookkeeping needs; `finish` repeats the draw.
        """
        return self.window_len()

    def wrap_source(self, source: DocumentSource) -> DocumentSource:
        """The document source this objective reads (CLM's repository packing groups files)."""
        return source

    @abstractmethod
    def encode(self, document: dict[str, Any], rng: np.random.Generator) -> Iterator[Segment]:
        """Turn one corpus document into segments (usually exactly one)."""

    def finish(self, window: Segment, rng: np.random.Generator) -> Example:
        """Turn one packed window (or one unpacked segment) into a training example."""
        labels = window.labels if window.labels is not None else list(window.ids)
        return {"input_ids": window.ids, "labels": labels, **window.extra}

    def collate(self, examples: list[Example]) -> Batch:
        """Stack examples, right-padding `input_ids` with pad and `labels` with IGNORE_INDEX."""
        return pad_and_stack(examples, self.pad_id)

    def loss(self, model: torch.nn.Module, batch: Batch) -> LossOutput:
        """Token-level cross-entropy in the family's layout."""
        return lm_loss(model, batch, self.family)

    def auxiliary_modules(self, model: torch.nn.Module | None = None) -> dict[str, torch.nn.Module]:
        """Modules trained with the model but not part of it (e.g. an RTD generator).

        They are sized from the model (hidden size, vocabulary), so the first
        call must pass it; they are built once, on the model's device, and the
        same objects are returned on every later call (also from `loss`).
        The trainer adds their parameters to the optimizer and checkpoints
        their state dicts.
        """
        if not hasattr(self, "_aux"):
            if model is None:
                if not self.needs_auxiliary:
                    return {}
                raise TypeError(
                    f"objective '{self.name}' sizes its auxiliary modules from the model: "
                    "call auxiliary_modules(model) once before training"
                )
            modules = self.build_auxiliary(model)
            device = next(model.parameters()).device
            self._aux = {k: m.to(device) for k, m in modules.items()}
        return self._aux

    needs_auxiliary: ClassVar[bool] = False

    def build_auxiliary(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """Create the auxiliary modules (override with `needs_auxiliary = True`)."""
        return {}


def token_id(tokenizer: Any, token: str) -> int:
    """Id of a special token that must exist in the tokenizer."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == getattr(tokenizer, "unk_token_id", object()) or not isinstance(tid, int):
        raise ConfigError(f"tokenizer has no '{token}' token; train it with `codelm tokenizer train`")
    return tid


def check_family(name: str, family: str, supported: Iterable[str]) -> None:
    supported = tuple(supported)
    if family not in supported:
        raise ConfigError(
            f"objective '{name}' does not fit the {family} family; it supports: {', '.join(supported)}"
        )


def pad_and_stack(examples: list[Example], pad_id: int) -> Batch:
    """Right-pad variable-length examples into a batch with an attention mask.

    Keys: `input_ids` (pad), `labels` / `decoder_*` (IGNORE_INDEX or pad),
    any other list-valued key padded with 0. A 2-D `attention_mask` marks real
    tokens unless the examples bring their own.
    """
    batch: Batch = {}
    keys = examples[0].keys()
    for key in keys:
        values = [ex[key] for ex in examples]
        if not isinstance(values[0], list | tuple | np.ndarray):
            batch[key] = torch.tensor(values)
            continue
        length = max(len(v) for v in values)
        fill = pad_id if key == "input_ids" else IGNORE_INDEX if "labels" in key else 0
        out = torch.full((len(values), length), fill, dtype=torch.long)
        for row, value in enumerate(values):
            out[row, : len(value)] = torch.as_tensor(value, dtype=torch.long)
        batch[key] = out
    if "attention_mask" not in batch:
        mask = torch.zeros_like(batch["input_ids"])
        for row, ex in enumerate(examples):
            mask[row, : len(ex["input_ids"])] = 1
        batch["attention_mask"] = mask
    return batch


def summed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> LossOutput:
    """Sum of token cross-entropies over labels != IGNORE_INDEX (fp32 for stability)."""
    # logits: (B, T, V), labels: (B, T)
    loss_sum = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    num = (labels != IGNORE_INDEX).sum()
    return LossOutput(loss_sum, num)


MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "position_ids", "token_type_ids")


def model_inputs(model: torch.nn.Module, batch: Batch, keys: Iterable[str] = MODEL_INPUT_KEYS) -> dict[str, torch.Tensor]:
    """The batch keys a model takes, with a boolean 4-D mask made additive.

    Collate builds 4-D masks as booleans (it does not know the model's
    dtype); SDPA takes booleans but eager attention *adds* the mask, so it
    becomes 0 / most-negative in the model's dtype here, which every
    attention backend accepts.
    """
    inputs = {k: batch[k] for k in keys if k in batch}
    mask = inputs.get("attention_mask")
    if mask is not None and mask.dim() == 4 and mask.dtype == torch.bool:
        dtype = getattr(model, "dtype", torch.float32)
        if not dtype.is_floating_point:
            dtype = torch.float32
        inputs["attention_mask"] = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(dtype).min
        )
    return inputs


def lm_loss(model: torch.nn.Module, batch: Batch, family: str) -> LossOutput:
    """Cross-entropy for decoder (shifted), encoder (in place) and encoder–decoder.

    We compute the loss ourselves rather than passing `labels=` to the model:
    HF models return a mean per call, and we need the sum and the count.
    """
    inputs = model_inputs(model, batch)
    labels = batch["labels"]
    if family == "encdec":
        # T5 builds decoder inputs by shifting labels right (decoder_start = pad).
        logits = model(**inputs, labels=None, decoder_input_ids=_shift_right(model, labels)).logits
        return summed_cross_entropy(logits, labels)
    logits = model(**inputs).logits  # (B, T, V)
    if family == "decoder":
        # position t predicts token t+1
        return summed_cross_entropy(logits[:, :-1], labels[:, 1:])
    return summed_cross_entropy(logits, labels)


def _shift_right(model: torch.nn.Module, labels: torch.Tensor) -> torch.Tensor:
    start = model.config.decoder_start_token_id
    pad = model.config.pad_token_id
    shifted = labels.new_full(labels.shape, pad)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = start
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad)


class Packer:
    """Concatenate segments into windows of exactly `length` tokens.

    Segments are joined as they come (each already ends with EOS where the
    objective wants one); a window may hold the tail of one document and the
    head of the next, and a long document spans several windows. Per-token
    arrays are cut at the same places. `doc` records which segment each token
    came from so attention can be blocked at document boundaries.

    The carry-over (tokens not yet emitted) is part of the stream position.
    """

    def __init__(self, length: int) -> None:
        self.length = length
        self.ids: list[int] = []
        self.labels: list[int] = []
        self.extra: dict[str, list[int]] = {}
        self.doc: list[int] = []
        self._segments_seen = 0

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, segment: Segment) -> Iterator[Segment]:
        """Append a segment and yield every full window of `length` tokens."""
        self.push(segment)
        while len(self.ids) >= self.length:
            yield self.cut(self.length)

    def push(self, segment: Segment) -> None:
        """Append a segment without cutting (for windows of varying length)."""
        self.ids.extend(segment.ids)
        self.labels.extend(segment.labels if segment.labels is not None else segment.ids)
        for key, values in segment.extra.items():
            self.extra.setdefault(key, []).extend(values)
        self.doc.extend([self._segments_seen] * len(segment.ids))
        self._segments_seen += 1

    def cut(self, n: int) -> Segment:
        """Remove and return the first `n` tokens as a window."""
        window = Segment(self.ids[:n], self.labels[:n], {k: v[:n] for k, v in self.extra.items()})
        first = self.doc[0]
        window.extra["doc_ids"] = [d - first for d in self.doc[:n]]  # 0, 0, ..., 1, 1, ...
        self.ids, self.labels, self.doc = self.ids[n:], self.labels[n:], self.doc[n:]
        self.extra = {k: v[n:] for k, v in self.extra.items()}
        return window

    def state_dict(self) -> dict[str, Any]:
        return {
            "ids": list(self.ids),
            "labels": list(self.labels),
            "extra": {k: list(v) for k, v in self.extra.items()},
            "doc": list(self.doc),
            "segments_seen": self._segments_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ids, self.labels = list(state["ids"]), list(state["labels"])
        self.extra = {k: list(v) for k, v in state["extra"].items()}
        self.doc, self._segments_seen = list(state["doc"]), state["segments_seen"]


DocumentSource = Callable[[int, int], Iterator[dict[str, Any]]]
"""`source(epoch, start)` yields the documents of one epoch from index `start` on."""


class ExampleStream:
    """Deterministic, resumable, endless stream of examples for one objective.

    The position (`state_dict`) is (epoch, next document index, windows
    emitted, packer carry-over, pending examples of the current document);
    loading it continues exactly where the saved stream stood.
    """

    def __init__(self, objective: Objective, source: DocumentSource, seed: int, shuffle_buffer: int = 0) -> None:
        self.objective = objective
        self.source = objective.wrap_source(source)
        # Examples are drawn at random from a pool of this many: a long file
        # yields hundreds of consecutive windows, which would otherwise fill
        # many batches in a row (the loss then swings with the file at hand).
        self.shuffle_buffer = shuffle_buffer
        self.emitted = 0  # examples handed out, across epochs (seeds the draw)
        self.seed = seed
        self.salt = stable_hash(objective.name)
        self.epoch = 0
        self.doc_index = 0  # next document to read
        self.window_index = 0  # examples emitted so far in this epoch
        self.packer = Packer(objective.window_len()) if objective.packed else None
        self.pending: list[Example] = []  # finished examples not yet handed out
        self._segments_this_pass = 0

    def __iter__(self) -> Iterator[Example]:
        # A stream saved mid-draw holds more than the buffer: finish that draw
        # before reading on, exactly as the uninterrupted stream did.
        while len(self.pending) > self.shuffle_buffer:
            yield self._draw()
        while True:
            started_at = self.doc_index
            self._segments_this_pass = 0
            for doc in self.source(self.epoch, self.doc_index):
                rng = make_rng(self.seed, self.salt, self.epoch, self.doc_index)
                self.doc_index += 1
                self.pending.extend(self._finish_segments(self.objective.encode(doc, rng)))
                while len(self.pending) > self.shuffle_buffer:
                    yield self._draw()
            if started_at == 0 and self._segments_this_pass == 0:
                # A whole epoch gave nothing: looping again would spin forever.
                raise ConfigError(
                    f"objective '{self.objective.name}' found nothing to train on in the corpus; "
                    "is the split empty, or do its documents lack what this objective needs?"
                )
            self.epoch += 1
            self.doc_index = 0
            self.window_index = 0

    def _draw(self) -> Example:
        """The next example: the oldest one, or with a buffer a seeded random pick (swap-remove)."""
        self.emitted += 1
        if not self.shuffle_buffer:
            return self.pending.pop(0)
        i = int(make_rng(self.seed, self.salt, 3 << 40 | self.emitted).integers(len(self.pending)))
        self.pending[i], self.pending[-1] = self.pending[-1], self.pending[i]
        return self.pending.pop()

    def _window_rng(self) -> np.random.Generator:
        return make_rng(self.seed, self.salt, self.epoch, 1 << 40 | self.window_index)

    def _finish_segments(self, segments: Iterable[Segment]) -> Iterator[Example]:
        for segment in segments:
            self._segments_this_pass += 1
            if self.packer is None:
                rng = self._window_rng()
                self.window_index += 1
                yield self.objective.finish(segment, rng)
                continue
            self.packer.push(segment)
            while True:
                # The length may depend on this window's own random draws (UL2),
                # so it is asked with a fresh copy of the window's RNG.
                length = self.objective.next_window_len(self._window_rng())
                if len(self.packer) < length:
                    break
                window = self.packer.cut(length)
                rng = self._window_rng()
                self.window_index += 1
                yield self.objective.finish(window, rng)

    def state_dict(self) -> dict[str, Any]:
        """A copy of the position. Pending examples are shared, not copied: an
        example is never mutated after `finish` (collate builds new tensors),
        which keeps taking a snapshot per step cheap."""
        return {
            "epoch": self.epoch,
            "doc_index": self.doc_index,
            "window_index": self.window_index,
            "packer": self.packer.state_dict() if self.packer is not None else None,
            "pending": list(self.pending),
            "emitted": self.emitted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.doc_index = state["epoch"], state["doc_index"]
        self.window_index = state["window_index"]
        if self.packer is not None and state["packer"] is not None:
            self.packer.load_state_dict(state["packer"])
        self.pending = list(state["pending"])
        self.emitted = state.get("emitted", 0)


# --- metrics ------------------------------------------------------------------
# `LossOutput.metrics` holds per-micro-batch *sums*: a metric `m` is the pair
# `m/sum`, `m/count`, so it is reduced over micro-batches, steps and ranks the
# same way as the loss (Σ sum / Σ count) and accumulation never changes it.


def add_metric(metrics: dict[str, torch.Tensor], name: str, total: torch.Tensor, count: torch.Tensor | int) -> None:
    """Record one metric as a (sum, count) pair; values are detached."""
    metrics[f"{name}/sum"] = total.detach().float()
    metrics[f"{name}/count"] = torch.as_tensor(count, dtype=torch.float32, device=total.device)


def reduce_metrics(outputs: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Sum metrics over micro-batches and divide each `m/sum` by its `m/count`."""
    sums: dict[str, float] = {}
    for metrics in outputs:
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value)
    out: dict[str, float] = {}
    for key, value in sums.items():
        if key.endswith("/sum"):
            name = key[: -len("/sum")]
            count = sums.get(f"{name}/count", 0.0)
            out[name] = value / count if count else float("nan")
    return out


# --- hidden states --------------------------------------------------------------


def hidden_states(model: torch.nn.Module, batch: Batch, family: str, prefix: str = "") -> torch.Tensor:
    """Last-layer hidden states (B, T, H) of the model's input side.

    Always a call of `model(...)` itself (never `model.base_model`), so
    DDP/FSDP wrappers see the forward. For encoder–decoders it is the
    encoder's output; the decoder runs on one start token only.
    `prefix` selects keys such as `pair_input_ids` (contrastive views).
    """
    ids = batch[f"{prefix}input_ids"]
    mask = batch.get(f"{prefix}attention_mask")
    kwargs: dict[str, Any] = {"input_ids": ids, "output_hidden_states": True}
    if mask is not None:
        kwargs["attention_mask"] = mask
    if family == "encdec":
        start = torch.full_like(ids[:, :1], model.config.decoder_start_token_id)
        return model(**kwargs, decoder_input_ids=start).encoder_last_hidden_state
    return model(**kwargs).hidden_states[-1]


def hidden_size(model: torch.nn.Module) -> int:
    """Width of the model's hidden states (T5 configs map `hidden_size` to `d_model`)."""
    return int(model.config.hidden_size)
