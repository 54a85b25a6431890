"""What the HTTP layer needs from an engine: prompt building, job submission, model facts.

`TorchBackend` runs our own engine on a background scheduler thread;
`codelm.inference.server.vllm_engine.VllmBackend` runs vLLM. Both build
prompts with the same `PromptBuilder` and report text through the same
`TextTracker` logic, so stop strings, hold-back and special-token removal
behave the same on either engine.
"""

from __future__ import annotations

from typing import Any, Protocol

from codelm.inference.config import ServeConfig
from codelm.inference.prompts import PromptBuilder
from codelm.inference.server.scheduler import Job, Scheduler, SequentialScheduler


class Backend(Protocol):
    prompts: PromptBuilder
    max_model_len: int
    engine_name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, job: Job) -> None: ...

    def prompt_logprobs(self, ids: list[int]) -> list[float | None]: ...

    def info(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


class TorchBackend:
    """Our engine (`Engine`) behind a `Scheduler` thread."""

    engine_name = "torch"

    def __init__(self, generator: Any, cfg: ServeConfig) -> None:
        self.generator = generator
        self.max_model_len = min(
            cfg.max_model_len or generator.max_model_len, generator.max_model_len
        )
        self.prompts = PromptBuilder(generator.tokenizer, generator.kind, self.max_model_len)
        self.scheduler: Scheduler | SequentialScheduler
        if generator.kind == "encoder":
            self.scheduler = SequentialScheduler(generator, cfg.max_queue)
        else:
            engine = generator.new_engine()
            engine.max_model_len = self.max_model_len
            self.scheduler = Scheduler(engine, cfg.max_batch_size, cfg.max_queue)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    def submit(self, job: Job) -> None:
        self.scheduler.submit(job)

    def prompt_logprobs(self, ids: list[int]) -> list[float | None]:
        if isinstance(self.scheduler, SequentialScheduler):
            return [None] * len(ids)
        return self.scheduler.engine.runner.prompt_logprobs(ids)

    def info(self) -> dict[str, Any]:
        return {
            **self.generator.info(),
            "engine": self.engine_name,
            "max_model_len": self.max_model_len,
        }

    def stats(self) -> dict[str, Any]:
        s = self.scheduler
        return {"waiting": s.waiting, "running_rows": s.running_rows, **s.stats}


def make_backend(cfg: ServeConfig) -> Backend:
    """Load the checkpoint with the configured engine (called on the loader thread)."""
    if cfg.engine == "vllm":
        from codelm.inference.server.vllm_engine import VllmBackend

        return VllmBackend(cfg)
    from codelm.inference.generator import Generator
    from codelm.inference.loading import load_model

    generator = Generator(load_model(cfg.load), max_batch_size=cfg.max_batch_size)
    return TorchBackend(generator, cfg)
