"""Where completions come from: a local checkpoint, an OpenAI-compatible endpoint,
or a task's own canonical solutions (to self-check a task file).

Every backend answers `complete(items, options) -> list[list[str]]`, one list
of `item.n` raw texts per item. Seeds are per problem (derived from the run
seed and the task id), never from a position in a batch, so a resumed or
re-batched run draws exactly the same samples.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from codelm.errors import ConfigError, InputError, MissingDependencyError
from codelm.eval.config import GenerationOptions


@dataclass
class GenItem:
    """One prompt (or prefix/suffix pair) to complete `n` times."""

    prompt: str
    n: int
    seed: int
    stop: list[str] = field(default_factory=list)
    suffix: str | None = None  # set: fill in the middle between prompt and suffix
    canonical: str | None = None  # what the `canonical` backend returns
    max_new_tokens: int | None = None


def problem_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for (run seed, task id, round, ...)."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def tokenizer_merges_indentation(tokenizer) -> bool:
    """True when one token holds a newline together with the whole indentation of the next line.

    codelm's code-aware pre-tokenizer does this ("\\n    ", "y"); GPT-2's
    byte-level split leaves the last space to the word ("\\n   ", " y").
    """
    ids = tokenizer("x = 1\n    y = 2\n", add_special_tokens=False)["input_ids"]
    return any(tokenizer.decode([i]).endswith("\n    ") for i in ids)


class Backend(ABC):
    name = ""

    @abstractmethod
    def complete(self, items: list[GenItem], options: GenerationOptions) -> list[list[str]]:
        """`item.n` raw completions per item, in order."""

    def info(self) -> dict:
        return {"backend": self.name}

    def merges_indentation(self) -> bool:
        """Whether the model's tokenizer joins a newline and the next line's indentation into one token."""
        return False

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the model or connection."""


class LocalBackend(Backend):
    """A codelm / HF checkpoint directory, through `codelm.inference`."""

    name = "local"
    MAX_N = 128  # GenerationConfig.n's upper bound

    def __init__(self, model_dir: str, batch_size: int = 8) -> None:
        from codelm.inference import load_generator

        self.model_dir = model_dir
        self.generator = load_generator(model_dir)

    def info(self) -> dict:
        return {"backend": self.name, **{k: str(v) for k, v in self.generator.info().items()}}

    def merges_indentation(self) -> bool:
        return tokenizer_merges_indentation(self.generator.tokenizer)

    # Room kept for the FIM control tokens when a long infill context is cut.
    FIM_OVERHEAD = 8

    def _room(self, max_new_tokens: int) -> int:
        """Prompt tokens that fit the model's context next to the completion."""
        used = 0 if self.generator.kind == "encdec" else max_new_tokens
        return max(1, self.generator.max_model_len - used)

    def _fit(self, ids: list[int], max_new_tokens: int) -> list[int]:
        """Keep the end of a prompt that does not fit the context (the text nearest the completion).

        Benchmarks such as repository completion build prompts longer than a
        small model's context; cutting from the left is what the model would
        have seen had the file been read in a sliding window.
        """
        room = self._room(max_new_tokens)
        return ids[-room:] if len(ids) > room else ids

    def _fit_infill(self, prefix: str, suffix: str, max_new_tokens: int) -> tuple[str, str]:
        """Cut the prefix's start and the suffix's end so a FIM prompt fits the context."""
        tok = self.generator.tokenizer
        room = self._room(max_new_tokens) - self.FIM_OVERHEAD
        pre = tok(prefix, add_special_tokens=False)["input_ids"]
        suf = tok(suffix, add_special_tokens=False)["input_ids"]
        if len(pre) + len(suf) <= room:
            return prefix, suffix
        keep_suf = min(len(suf), room // 3)  # the prefix usually says more about the middle
        keep_pre = max(0, room - keep_suf)
        return tok.decode(pre[len(pre) - keep_pre:]), tok.decode(suf[:keep_suf])

    def complete(self, items: list[GenItem], options: GenerationOptions) -> list[list[str]]:
        from codelm.inference import GenerationConfig
        from codelm.inference.engine import Request

        requests, owners = [], []  # owners[r] = index of the item request r belongs to
        for index, item in enumerate(items):
            # the engine takes at most MAX_N completions per request: larger n is split into
            # chunks whose seeds differ by chunk, so sample j always gets the same stream
            for chunk, start in enumerate(range(0, item.n, self.MAX_N)):
                cfg = GenerationConfig(
                    max_new_tokens=item.max_new_tokens or options.max_new_tokens,
                    temperature=options.temperature,
                    top_p=options.top_p,
                    n=min(self.MAX_N, item.n - start),
                    stop=[s for s in item.stop if s],
                    seed=item.seed,
                )
                if item.suffix is not None:
                    if self.generator.fim is None and self.generator.kind == "decoder":
                        raise InputError(
                            f"model '{self.model_dir}' has no FIM tokens, so it cannot infill; "
                            "train it with the fim objective or use a left-to-right task"
                        )
                    prefix, suffix = self._fit_infill(item.prompt, item.suffix, cfg.max_new_tokens)
                    req = self.generator.prompts.infill_request(prefix, suffix, cfg)
                else:
                    req = Request(self._fit(self.generator.encode(item.prompt), cfg.max_new_tokens), cfg)
                req.seed_path = (item.seed, chunk)
                requests.append(req)
                owners.append(index)
        outputs: list[list[str]] = [[] for _ in items]
        for start in range(0, len(requests), options.batch_size):
            batch = requests[start:start + options.batch_size]
            for owner, completions in zip(owners[start:start + options.batch_size],
                                          self.generator.generate_requests(batch), strict=True):
                outputs[owner].extend(c.text for c in completions)
        return outputs


class OpenAIBackend(Backend):
    """Any OpenAI-compatible `/v1/completions` endpoint (ours, vLLM, TGI, llama.cpp)."""

    name = "openai"

    def __init__(self, base_url: str, model_name: str | None, options: GenerationOptions) -> None:
        try:
            import openai
        except ImportError:
            raise MissingDependencyError("evaluating an endpoint needs the openai client: pip install openai") from None
        self.base_url = base_url
        self.client = openai.OpenAI(
            base_url=base_url, api_key=os.environ.get(options.api_key_env) or "EMPTY",
            timeout=options.request_timeout_s, max_retries=2,
        )
        self.model_name = model_name or self._only_model()

    def _only_model(self) -> str:
        import openai

        try:
            models = [m.id for m in self.client.models.list().data]
        except openai.APIError as exc:
            raise InputError(f"endpoint '{self.base_url}' did not list its models ({exc}); set model_name") from None
        if not models:
            raise InputError(f"endpoint '{self.base_url}' serves no model; set model_name")
        return models[0]

    def info(self) -> dict:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model_name}

    def complete(self, items: list[GenItem], options: GenerationOptions) -> list[list[str]]:
        import openai

        outputs = []
        for item in items:
            extra = {"suffix": item.suffix} if item.suffix is not None else {}
            try:
                response = self.client.completions.create(
                    model=self.model_name, prompt=item.prompt, n=item.n,
                    temperature=options.temperature, top_p=options.top_p,
                    max_tokens=item.max_new_tokens or options.max_new_tokens,
                    stop=[s for s in item.stop if s] or None, seed=item.seed, **extra,
                )
            except openai.APIConnectionError as exc:
                raise InputError(f"cannot reach endpoint '{self.base_url}': {exc}") from None
            except openai.APIStatusError as exc:
                raise InputError(f"endpoint '{self.base_url}' refused the request ({exc.status_code}): {exc.message}") from None
            texts = [""] * item.n
            for choice in response.choices:
                if choice.index < item.n:
                    texts[choice.index] = choice.text or ""
            outputs.append(texts)
        return outputs


class CanonicalBackend(Backend):
    """Returns each problem's canonical solution: checks a task file end to end."""

    name = "canonical"

    def complete(self, items: list[GenItem], options: GenerationOptions) -> list[list[str]]:
        out = []
        for item in items:
            if item.canonical is None:
                raise InputError("model 'canonical' needs problems with a canonical_solution")
            out.append([item.canonical] * item.n)
        return out


def load_backend(model: str, model_name: str | None, options: GenerationOptions) -> Backend:
    """`canonical`, an http(s) URL (OpenAI-compatible), or a local model directory."""
    if model == "canonical":
        return CanonicalBackend()
    if model.startswith(("http://", "https://")):
        return OpenAIBackend(model, model_name, options)
    if not os.path.isdir(model):
        raise ConfigError(
            f"model '{model}' is neither a model directory, an http(s) endpoint URL, nor 'canonical'"
        )
    return LocalBackend(model, options.batch_size)
