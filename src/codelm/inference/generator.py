"""`Generator`: completion and infilling over a loaded checkpoint (the public API).

    from codelm.inference import GenerationConfig, load_generator

    gen = load_generator("runs/train-x/checkpoint", quantize="int8")
    [[c]] = gen.generate(["def fib(n):"], GenerationConfig(max_new_tokens=64, stop=["\\ndef "]))
    middle = gen.infill("def add(a, b):\\n    ", "\\n\\nprint(add(1, 2))")[0].text

Prompts are batched with left padding and decoded with a KV cache by
`Engine` (our own loop over transformers' forward passes). More prompts
than `max_batch_size` rows are fed in as earlier ones finish.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codelm.errors import ConfigError, InputError
from codelm.inference.config import GenerationConfig, LoadConfig
from codelm.inference.engine import Completion, Engine, Request
from codelm.inference.loading import LoadedModel, load_model
from codelm.inference.prompts import PromptBuilder


class Generator:
    """Generation over one loaded model (decoder, encoder–decoder, or diffusion-trained encoder)."""

    def __init__(self, loaded: LoadedModel, max_batch_size: int = 32) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.kind = loaded.kind
        self.max_model_len = loaded.max_model_len
        self.max_batch_size = max_batch_size
        self.prompts = PromptBuilder(self.tokenizer, self.kind, self.max_model_len)
        self.fim = self.prompts.fim
        self._engine: Engine | None = None
        self._diffusion: Any = None
        if self.kind == "encoder":
            from codelm.inference.diffusion import DiffusionSampler

            self._diffusion = DiffusionSampler(self.model, self.tokenizer)
        else:
            self._engine = self.new_engine()

    def new_engine(self) -> Engine:
        """A fresh decoding engine on this model (the server's scheduler owns its own)."""
        return Engine(self.model, self.tokenizer, self.kind, self.max_model_len)

    def info(self) -> dict[str, Any]:
        """Model kind, dtype, int8, device, threads, context length, FIM support."""
        return {**self.loaded.info(), "fim": self.fim is not None}

    # ----- prompts -------------------------------------------------------

    def encode(self, prompt: str) -> list[int]:
        """Prompt text → ids (see `PromptBuilder.encode`: FIM-templated prompts, EOS for encdec)."""
        return self.prompts.encode(prompt)

    def check_length(
        self, prompt_ids: list[int], max_new_tokens: int, what: str = "prompt"
    ) -> None:
        self.prompts.check_length(prompt_ids, max_new_tokens, what)

    # ----- generation ----------------------------------------------------

    def generate(
        self, prompts: list[str], config: GenerationConfig | None = None
    ) -> list[list[Completion]]:
        """`config.n` completions for each prompt, in order: result[i][j] is sample j of prompt i."""
        if isinstance(prompts, str):
            raise InputError("generate() takes a list of prompts; wrap a single prompt as [prompt]")
        cfg = config or GenerationConfig()
        return self.generate_requests(
            [Request(self.encode(p), cfg, seed_path=(i,)) for i, p in enumerate(prompts)]
        )

    def generate_ids(
        self, prompt_ids: list[list[int]], config: GenerationConfig | None = None
    ) -> list[list[Completion]]:
        """Like `generate` with prompts already tokenized (used as given)."""
        cfg = config or GenerationConfig()
        return self.generate_requests(
            [Request(list(p), cfg, seed_path=(i,)) for i, p in enumerate(prompt_ids)]
        )

    def infill(
        self,
        prefix: str,
        suffix: str,
        config: GenerationConfig | None = None,
        mode: str = "auto",
    ) -> list[Completion]:
        """`config.n` middles for one prefix/suffix pair.

        mode: `psm`, `spm` (decoders with FIM tokens), `sentinel`
        (encoder–decoders, T5 style) or `auto` (psm for decoders, sentinel
        for encoder–decoders). The FIM tokens also end the middle.
        """
        return self.infill_batch([(prefix, suffix)], config, mode)[0]

    def infill_batch(
        self,
        pairs: list[tuple[str, str]],
        config: GenerationConfig | None = None,
        mode: str = "auto",
    ) -> list[list[Completion]]:
        """`infill` for many (prefix, suffix) pairs at once."""
        cfg = config or GenerationConfig()
        reqs = []
        for i, (prefix, suffix) in enumerate(pairs):
            req = self.prompts.infill_request(prefix, suffix, cfg, mode)
            req.seed_path = (i,)
            reqs.append(req)
        return self.generate_requests(reqs)

    def generate_requests(self, requests: list[Request]) -> list[list[Completion]]:
        """Decode prepared requests; the common path of generate/infill."""
        if not requests:
            return []
        for req in requests:
            self.check_length([*req.prompt_ids, *req.suffix_ids], req.config.max_new_tokens)
        if self._diffusion is not None:
            return [self._diffusion.complete(req) for req in requests]
        engine = self._engine
        assert engine is not None
        cfg0 = requests[0].config
        if cfg0.num_beams > 1:
            if any(r.config != cfg0 for r in requests):
                raise ConfigError(
                    "beam search needs one GenerationConfig for all prompts of a call"
                )
            from codelm.inference.beam import beam_search

            return beam_search(engine, requests)
        results: list[list[Completion | None]] = [[None] * r.config.n for r in requests]
        index = {id(r): i for i, r in enumerate(requests)}
        waiting = deque(requests)
        while waiting or engine.size:
            admit: list[Request] = []
            room = self.max_batch_size - engine.size
            while waiting and (waiting[0].config.n <= room or (engine.size == 0 and not admit)):
                room -= waiting[0].config.n
                admit.append(waiting.popleft())
            events = [(row, "") for row in engine.add(admit) if row.finished]
            events += engine.step()
            for row, _ in events:
                if row.finished:
                    results[index[id(row.req)]][row.sample] = row.completion()
        return [[c for c in per if c is not None] for per in results]

    def stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Text pieces of one completion as they become final (stop strings held back)."""
        cfg = config or GenerationConfig()
        if cfg.n != 1 or cfg.num_beams != 1:
            raise ConfigError("stream() produces one completion: set n 1 and num_beams 1")
        req = Request(self.encode(prompt), cfg, stream=True)
        self.check_length(req.prompt_ids, cfg.max_new_tokens)
        if self._diffusion is not None:
            yield self._diffusion.complete(req)[0].text
            return
        engine = self.new_engine()  # private: a stream may be interleaved with other calls
        rows = engine.add([req])
        if rows[0].finished:
            return
        while engine.size:
            for _, piece in engine.step():
                if piece:
                    yield piece


def load_generator(
    model_dir: str | Path,
    *,
    dtype: str = "float32",
    quantize: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    max_batch_size: int = 32,
) -> Generator:
    """Load an HF checkpoint directory (model + tokenizer) for generation.

    dtype: float32 | bfloat16 | float16; quantize: None | "int8" (dynamic
    int8 Linear layers, CPU, float32 only); device: "cpu", "cuda", ...
    """
    cfg = _load_config(model_dir, dtype, quantize, device, threads)
    return Generator(load_model(cfg), max_batch_size=max_batch_size)


def _load_config(
    model_dir: str | Path, dtype: str, quantize: str | None, device: str, threads: int | None
) -> LoadConfig:
    from codelm.config import validate

    return validate(
        LoadConfig,
        {
            "model": str(model_dir),
            "dtype": dtype,
            "quantize": quantize,
            "device": device,
            "threads": threads,
        },
    )
