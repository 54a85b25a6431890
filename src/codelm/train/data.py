"""The training data path: corpus rows → objective examples → batches, in a background thread.

Choice (measured in docs/training.md): stream from the Parquet corpus through
the objective transforms, in one background thread, instead of pre-tokenised
memmap shards. FIM cuts documents at the *character* level and span corruption
draws new spans each epoch, so a fixed pre-tokenised array would freeze the
objective's randomness (or need one array per objective and epoch); and the
measured producer rate is far above what the model consumes (tokenizers and
the packers spend most of their time outside the Python interpreter loop).

Exact resume: the stream position is a few integers plus the packers' carry
(see `codelm.objectives.base.ExampleStream`). The producer runs ahead by
`data.prefetch` steps, so every batch carries the stream state *after* it;
the checkpoint stores the state of the last batch the optimizer consumed,
never the prefetched position.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from codelm.data.corpus import split_files
from codelm.errors import ConfigError
from codelm.objectives.base import IGNORE_INDEX, Batch, ExampleStream, Objective

DOCUMENT_COLUMNS = ("repo", "path", "language", "content")


class CorpusSource:
    """`source(epoch, start)`: the documents of one epoch from index `start` on.

    Order: with `shuffle`, each epoch visits the corpus row groups in a seeded
    random order and the rows of each group in a seeded random order (two
    levels, so memory stays one row group and skipping to `start` reads
    nothing before it). With `world > 1` ("shard" mode) rank r sees positions
    r, r+world, ...; indices are local to the rank.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        *,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        columns: Sequence[str] = DOCUMENT_COLUMNS,
    ) -> None:
        self.files = split_files(root, split)
        self.split = split
        self.shuffle, self.seed = shuffle, seed
        self.rank, self.world = rank, world
        self._parquet: dict[int, pq.ParquetFile] = {}
        self.groups: list[tuple[int, int, int]] = []  # (file index, row group, rows)
        for fi, file in enumerate(self.files):
            meta = self._file(fi).metadata
            available = set(meta.schema.names)
            self.columns = [c for c in columns if c in available]
            if "content" not in available:
                raise ConfigError(f"corpus shard '{file}' has no 'content' column; rebuild it with `codelm data build`")
            for rg in range(meta.num_row_groups):
                rows = meta.row_group(rg).num_rows
                if rows:
                    self.groups.append((fi, rg, rows))
        self.total = sum(rows for *_, rows in self.groups)

    def _file(self, index: int) -> pq.ParquetFile:
        if index not in self._parquet:
            self._parquet[index] = pq.ParquetFile(self.files[index])
        return self._parquet[index]

    def __len__(self) -> int:
        """Documents this rank sees per epoch."""
        return len(range(self.rank, self.total, self.world))

    def _group_order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.groups)))
        return np.random.default_rng([self.seed, 0x5EED, epoch]).permutation(len(self.groups)).tolist()

    def _row_order(self, epoch: int, group: int, rows: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(rows)
        return np.random.default_rng([self.seed, 0x5EED, epoch, group]).permutation(rows)

    def __call__(self, epoch: int, start: int) -> Iterator[dict[str, Any]]:
        position = start * self.world + self.rank  # first global position to yield
        offset = 0  # global position of the current group's first row
        for g in self._group_order(epoch):
            fi, rg, rows = self.groups[g]
            if offset + rows <= position:
                offset += rows  # skipped without reading
                continue
            first = position - offset
            wanted = self._row_order(epoch, g, rows)[first :: self.world]
            position += len(wanted) * self.world
            offset += rows
            if len(wanted) == 0:
                continue
            table = self._file(fi).read_row_group(rg, columns=self.columns)
            yield from table.take(wanted).to_pylist()


def count_targets(batch: Batch, family: str) -> int:
    """Targets `lm_loss` will sum over (decoders predict t+1, so the first label never counts)."""
    labels = batch.get("labels")
    if labels is None:
        return 0
    if family == "decoder":
        labels = labels[:, 1:]
    return int((labels != IGNORE_INDEX).sum())


def count_tokens(batch: Batch, family: str) -> int:
    """Real (non-padding) tokens the model reads: encoder/decoder input, plus decoder targets for encdec."""
    mask = batch.get("attention_mask")
    if mask is not None and mask.dim() == 2:
        tokens = int(mask.sum())
    else:  # 4-D document mask: packed windows, no padding
        tokens = batch["input_ids"].numel()
    if family == "encdec" and "labels" in batch:
        tokens += int((batch["labels"] != IGNORE_INDEX).sum())
    return tokens


@dataclass
class StepBatch:
    """Everything one optimizer step consumes, with the stream position after it."""

    step: int  # 0-based index of the optimizer step
    objective: str
    micro_batches: list[Batch]
    targets: int  # this rank's expected target count (all micro-batches)
    tokens: int  # this rank's real tokens
    flops: float  # this rank's model FLOPs (forward + backward)
    state: dict[str, Any] = field(default_factory=dict)


class StepBatcher:
    """Builds the micro-batches of optimizer step `i` for this rank from a `MixtureStream`."""

    def __init__(
        self,
        mix: Any,
        *,
        micro_batch_size: int,
        grad_accum: int,
        family: str,
        rank: int = 0,
        world: int = 1,
        slice_global: bool = True,
        flops_fn: Callable[[Batch], float] = lambda batch: 0.0,
    ) -> None:
        self.mix = mix
        self.micro, self.accum = micro_batch_size, grad_accum
        self.family = family
        self.rank, self.world = rank, world
        self.slice_global = slice_global and world > 1
        self.flops_fn = flops_fn

    def build(self, step: int) -> StepBatch:
        objective = self.mix.choose(step)
        B, W = self.micro, self.world
        if self.slice_global:
            # Every rank draws the whole global batch and keeps its slice of each
            # micro-batch: W ranks × B reproduce 1 rank × W·B example for example.
            examples = self.mix.take(objective.name, B * W * self.accum)
            parts = [examples[m * B * W + self.rank * B : m * B * W + (self.rank + 1) * B] for m in range(self.accum)]
        else:
            examples = self.mix.take(objective.name, B * self.accum)
            parts = [examples[m * B : (m + 1) * B] for m in range(self.accum)]
        micro_batches = [objective.collate(part) for part in parts if part]
        return StepBatch(
            step=step,
            objective=objective.name,
            micro_batches=micro_batches,
            targets=sum(count_targets(b, self.family) for b in micro_batches),
            tokens=sum(count_tokens(b, self.family) for b in micro_batches),
            flops=sum(self.flops_fn(b) for b in micro_batches),
            # Already a copy (examples are never mutated once made, so it may share them).
            state=self.mix.state_dict(),
        )


class BatchProducer:
    """Background thread that keeps `prefetch` steps of batches ready.

    A thread rather than a process: collating and tokenising release the GIL
    for most of their time, tensors need no pickling, and one extra core is
    all a laptop has. Errors in the thread are re-raised by `get()`.
    """

    _DONE = object()

    def __init__(self, batcher: StepBatcher, start_step: int, prefetch: int) -> None:
        self.batcher = batcher
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.wait_seconds = 0.0  # time the trainer spent waiting for data
        self._thread = threading.Thread(target=self._run, args=(start_step,), name="codelm-data", daemon=True)
        self._thread.start()

    def _run(self, step: int) -> None:
        try:
            while not self._stop.is_set():
                item = self.batcher.build(step)
                step += 1
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the consumer
            self._error = exc
            self._queue.put(self._DONE)

    def get(self) -> StepBatch:
        import time

        start = time.perf_counter()
        item = self._queue.get()
        self.wait_seconds += time.perf_counter() - start
        if item is self._DONE:
            assert self._error is not None
            raise self._error
        return item

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
        self._thread.join(timeout=5)


def validation_batches(
    objectives: list[Objective], source: Any, *, batches: int, batch_size: int, seed: int, shuffle_buffer: int = 0
) -> dict[str, list[Batch]]:
    """A fixed set of validation batches per objective: a fresh deterministic stream, cut once."""
    out: dict[str, list[Batch]] = {}
    for objective in objectives:
        stream = iter(ExampleStream(objective, source, seed, shuffle_buffer))
        examples = list(itertools.islice(stream, batches * batch_size))
        out[objective.name] = [
            objective.collate(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)
        ]
    return out


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
