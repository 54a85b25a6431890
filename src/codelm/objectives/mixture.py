"""Several objectives in one run: one objective per optimizer step, chosen by weight.

A training config lists objectives with weights:

    objectives:
      - {name: clm, weight: 0.5}
      - {name: fim, weight: 0.5, spm_rate: 0.5}

`MixtureStream.choose(step)` picks the objective of optimizer step `step`
from (seed, step) alone, so every micro-batch of a step (and every rank)
uses the same objective, and a resumed run makes the same choices. Each
objective reads the corpus through its own `ExampleStream`; `take(name, n)`
hands out that stream's next examples. Losses are reported per objective
because a step's loss belongs to exactly one of them.

Choosing per step rather than mixing examples inside a batch keeps each
batch in one layout (CLM windows and span-corruption pairs do not share
tensors) and one loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from codelm.errors import ConfigError
from codelm.objectives.base import (
    DocumentSource,
    Example,
    ExampleStream,
    Objective,
    make_rng,
    stable_hash,
)
from codelm.objectives.registry import build_objective


def build_objectives(
    specs: Sequence[Mapping[str, Any]], tokenizer: Any, family: str, seq_len: int, key: str = "objectives"
) -> tuple[list[Objective], list[float]]:
    """Build every objective of a config list; returns them with their weights."""
    if not specs:
        raise ConfigError(f"{key}: list at least one objective (e.g. [{{name: clm}}])")
    objectives = [build_objective(spec, tokenizer, family, seq_len, key=f"{key}.{i}") for i, spec in enumerate(specs)]
    check_unique([o.name for o in objectives], key)
    return objectives, [o.config.weight for o in objectives]


def check_unique(names: Sequence[str], key: str = "objectives") -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                f"{key}: objective '{name}' is listed twice; give each entry a distinct `label`"
            )
        seen.add(name)


class MixtureStream:
    """Per-step choice among objectives plus one resumable example stream each."""

    def __init__(self, objectives: list[Objective], weights: list[float], source: DocumentSource, seed: int,
                 shuffle_buffer: int = 0) -> None:
        if not objectives:
            raise ConfigError("a mixture needs at least one objective")
        if len(weights) != len(objectives):
            raise ConfigError(f"a mixture of {len(objectives)} objectives got {len(weights)} weights")
        if any(w <= 0 for w in weights):
            raise ConfigError("mixture weights must be positive")
        check_unique([o.name for o in objectives])
        self.objectives = list(objectives)
        self.by_name = {o.name: o for o in objectives}
        self.seed = seed
        self.probs = np.asarray(weights, dtype=float) / float(sum(weights))
        self.streams = {o.name: ExampleStream(o, source, seed, shuffle_buffer) for o in objectives}
        self._iters: dict[str, Iterator[Example]] = {}
        self._salt = stable_hash("mixture")

    def choose(self, step: int) -> Objective:
        """The objective of optimizer step `step` (a function of seed and step only)."""
        rng = make_rng(self.seed, self._salt, step)
        return self.objectives[int(rng.choice(len(self.objectives), p=self.probs))]

    def take(self, name: str, n: int) -> list[Example]:
        """The next `n` examples of objective `name`."""
        if name not in self.streams:
            raise KeyError(f"no objective '{name}' in this mixture; it has: {', '.join(self.streams)}")
        if name not in self._iters:
            self._iters[name] = iter(self.streams[name])
        return list(itertools.islice(self._iters[name], n))

    def state_dict(self) -> dict[str, Any]:
        return {"streams": {name: stream.state_dict() for name, stream in self.streams.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["streams"]
        if set(saved) != set(self.streams):
            raise ConfigError(
                f"the checkpoint's objectives ({', '.join(sorted(saved))}) differ from the config's "
                f"({', '.join(sorted(self.streams))}); resume with the same objectives"
            )
        for name, stream in self.streams.items():
            stream.load_state_dict(saved[name])
        self._iters = {}

    def shares(self, steps: int, start: int = 0) -> dict[str, float]:
        """Share of steps start..start+steps−1 each objective gets (for reports and tests)."""
        counts = dict.fromkeys(self.by_name, 0)
        for step in range(start, start + steps):
            counts[self.choose(step).name] += 1
        return {name: count / steps for name, count in counts.items()}
