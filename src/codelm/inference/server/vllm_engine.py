"""`--engine vllm`: the same endpoints with vLLM generating tokens on a GPU.

vLLM does the heavy part (paged KV cache, continuous batching, CUDA
kernels); everything a client sees stays ours: prompts are built by the same
`PromptBuilder` (so `suffix` FIM works, which vLLM's own OpenAI server
refuses), and the generated token ids go through the same `Row` /
`TextTracker` as the torch engine, so stop strings, hold-back and
special-token removal are identical on both engines. Each choice is one
vLLM request (`n=1`) seeded with the same per-row seed the torch engine uses;
when our stop-string check ends a row first, the vLLM request is aborted.

vLLM is an optional GPU dependency (`pip install 'codelm[gpu]'`), imported
only here, lazily.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from codelm.errors import ConfigError, require
from codelm.inference.config import ServeConfig
from codelm.inference.engine import Row
from codelm.inference.loading import _max_model_len, check_model_dir, detect_kind
from codelm.inference.prompts import PromptBuilder
from codelm.inference.server.scheduler import Event, Job, QueueFull, report
from codelm.inference.stops import special_token_ids


class VllmBackend:
    """Serves a decoder checkpoint through `vllm.AsyncLLMEngine`."""

    engine_name = "vllm"

    def __init__(self, cfg: ServeConfig) -> None:
        vllm = require("vllm", "gpu", "codelm serve --engine vllm")
        from transformers import AutoConfig, AutoTokenizer

        if cfg.load.model is None:
            raise ConfigError("load.model is required: pass --model DIR")
        if cfg.load.quantize is not None:
            raise ConfigError(
                "quantize int8 is a CPU option of the torch engine; drop it with --engine vllm"
            )
        path = Path(cfg.load.model)
        check_model_dir(path)
        hf_config = AutoConfig.from_pretrained(str(path))
        if detect_kind(hf_config) != "decoder":
            raise ConfigError(
                "--engine vllm serves decoder checkpoints; use --engine torch for encdec/encoder models"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.max_model_len = cfg.max_model_len or _max_model_len(hf_config, self.tokenizer)
        self.prompts = PromptBuilder(self.tokenizer, "decoder", self.max_model_len)
        self.special_ids = special_token_ids(self.tokenizer)
        self.eos_ids = {
            i
            for i in (self.tokenizer.eos_token_id, getattr(hf_config, "eos_token_id", None))
            if isinstance(i, int)
        }
        self._SamplingParams = vllm.SamplingParams
        args = vllm.AsyncEngineArgs(
            model=str(path),
            tokenizer=str(path),
            dtype="auto" if cfg.load.dtype == "float32" else cfg.load.dtype,
            max_model_len=self.max_model_len,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_num_seqs=cfg.max_batch_size,
            seed=0,
        )
        self.engine = vllm.AsyncLLMEngine.from_engine_args(args)
        self.cfg = cfg
        self._jobs: set[int] = set()
        self._rows = 0
        self._stats = {
            "jobs": 0,
            "cancelled_rows": 0,
            "timed_out_rows": 0,
            "errors": 0,
            "max_rows": 0,
        }

    def start(self) -> None:
        """vLLM's engine loop starts with the first request on the server's event loop."""

    def stop(self) -> None:
        shutdown = getattr(self.engine, "shutdown", None)
        if callable(shutdown):
            shutdown()

    def submit(self, job: Job) -> None:
        # vLLM queues internally; we bound the jobs in flight (running + waiting) the same way
        if len(self._jobs) >= self.cfg.max_batch_size + self.cfg.max_queue:
            raise QueueFull(retry_after=1)
        self._jobs.add(job.id)
        self._stats["jobs"] += 1
        job.loop.create_task(self._run_job(job))

    def prompt_logprobs(self, ids: list[int]) -> list[float | None]:
        """Not computed with vLLM (echo returns the prompt text without its logprobs)."""
        return [None] * len(ids)

    def info(self) -> dict[str, Any]:
        return {
            "engine": self.engine_name,
            "kind": "decoder",
            "model": str(self.cfg.load.model),
            "dtype": self.cfg.load.dtype,
            "max_model_len": self.max_model_len,
            "fim": self.prompts.fim is not None,
        }

    def stats(self) -> dict[str, Any]:
        return {"waiting": 0, "running_rows": self._rows, **self._stats}

    async def _run_job(self, job: Job) -> None:
        rows = [(req, j) for req in job.requests for j in range(req.config.n)]
        try:
            await asyncio.gather(*(self._run_row(job, req, j) for req, j in rows))
        except Exception:
            self._stats["errors"] += 1
            job.post(Event("error", message="internal error during generation"))
        finally:
            self._jobs.discard(job.id)

    async def _run_row(self, job: Job, req: Any, sample: int) -> None:
        cfg = req.config
        row = Row(
            req,
            sample,
            tokenizer=self.tokenizer,
            special_ids=self.special_ids,
            eos_ids=self.eos_ids,
            max_model_len=self.max_model_len,
            context_used=len(req.prompt_ids),
        )
        if row.finished:
            report(row, "")
            return
        params = self._SamplingParams(
            n=1,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k if cfg.top_k > 0 else -1,
            seed=row.seed,
            max_tokens=row.limit,
            stop_token_ids=sorted(row.stop_ids),
            ignore_eos=cfg.ignore_eos,
            logprobs=cfg.logprobs,
            detokenize=False,  # text is ours (TextTracker), token ids are vLLM's
        )
        request_id = f"codelm-{job.id}-{req.key[1]}-{sample}-{uuid.uuid4().hex[:8]}"
        self._rows += 1
        self._stats["max_rows"] = max(self._stats["max_rows"], self._rows)
        finished = False  # vLLM's request ended by itself (nothing to abort)
        consumed = 0  # vLLM output tokens already fed to the row
        try:
            async for output in self.engine.generate(
                {"prompt_token_ids": req.prompt_ids}, params, request_id
            ):
                seq = output.outputs[0]
                piece = ""
                while consumed < len(seq.token_ids) and not row.finished:
                    token = seq.token_ids[consumed]
                    chosen, alts = None, []
                    if cfg.logprobs is not None and seq.logprobs:
                        entry = seq.logprobs[consumed]  # {token_id: Logprob(logprob, rank, ...)}
                        chosen = entry[token].logprob
                        ranked = sorted(entry.items(), key=lambda kv: kv[1].rank or 0)
                        alts = [(tid, lp.logprob) for tid, lp in ranked[: cfg.logprobs]]
                    consumed += 1
                    piece += row.accept(token, chosen, alts)
                if not row.finished and (job.cancelled or time.monotonic() >= job.deadline):
                    if job.cancelled:
                        self._stats["cancelled_rows"] += 1
                    piece += row.end("length")
                if not row.finished and output.finished:
                    # vLLM ended it (a stop token it does not return, or max_tokens)
                    piece += (
                        row.end("stop", "token")
                        if seq.finish_reason == "stop"
                        else row.end("length")
                    )
                finished = bool(output.finished)
                report(row, piece)
                if row.finished:
                    break
        finally:
            self._rows -= 1
            if not finished:
                await self.engine.abort(request_id)
