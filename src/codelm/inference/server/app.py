"""The HTTP server: OpenAI, Mistral-FIM and llama.cpp endpoints over one model.

Endpoints (shapes: REFERENCE.md "Serving: API shapes IDE clients use"):

| endpoint | shape | notes |
|---|---|---|
| `POST /v1/completions` | OpenAI | `suffix` → the server builds the FIM prompt; FIM-templated prompts pass through |
| `POST /v1/chat/completions` | OpenAI | the checkpoint's chat template, else a plain-text one |
| `POST /v1/fim/completions` | Mistral | chat-style answer; `delta.content` always a string |
| `POST /infill`, `POST /completion` | llama.cpp | `input_extra` files go before the FIM prompt |
| `GET /v1/models` | OpenAI | with `max_model_len` |
| `GET /health` | llama.cpp/vLLM | 503 while the model loads |

Every request is parsed and validated completely (JSON, types, model name,
context length) before the first byte of an answer, so a stream never
starts and then fails on a bad argument. Errors are OpenAI-shaped JSON;
a traceback only ever goes to the server log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from codelm.errors import CodelmError, ConfigError, InputError
from codelm.inference.config import GenerationConfig, ServeConfig
from codelm.inference.engine import Completion
from codelm.inference.engine import Request as GenRequest
from codelm.inference.server.backend import Backend, make_backend
from codelm.inference.server.errors import ApiError, error_body, from_validation
from codelm.inference.server.protocol import (
    ChatRequest,
    CompletionRequest,
    FimRequest,
    InfillRequest,
    LlamaCommon,
    LlamaCompletionRequest,
    stop_list,
)
from codelm.inference.server.scheduler import Event, Job, QueueFull

log = logging.getLogger("codelm.serve")

# IDE clients switch prompt templates when the model id contains these (REFERENCE.md).
_TEMPLATE_TRIGGERS = re.compile(r"gpt|deepseek|codellama|codestral|qwen.*coder", re.IGNORECASE)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def served_name(cfg: ServeConfig) -> str:
    """The model id clients see: --model-name, else the checkpoint directory's name."""
    name = cfg.model_name or (Path(cfg.load.model).resolve().name if cfg.load.model else "codelm")
    match = _TEMPLATE_TRIGGERS.search(name)
    if match:
        raise ConfigError(
            f"served model name '{name}' contains '{match.group(0)}', which makes IDE clients switch to that "
            "vendor's prompt template; pass --model-name with another name"
        )
    return name


# ----- state ----------------------------------------------------------------


@dataclass
class ServerState:
    cfg: ServeConfig
    name: str
    created: int = field(default_factory=lambda: int(time.time()))
    backend: Backend | None = None
    load_error: str | None = None
    closed: bool = False

    def load(self, loader: Callable[[], Backend]) -> None:
        """Runs on a loader thread so /health answers 503 meanwhile."""
        try:
            backend = loader()
            backend.start()
        except CodelmError as exc:
            self.load_error = str(exc)
            log.error("loading failed: %s", exc)
            return
        except Exception:
            self.load_error = "the model failed to load; see the server log"
            log.exception("loading failed")
            return
        if self.closed:
            backend.stop()
            return
        self.backend = backend
        log.info("model '%s' ready: %s", self.name, backend.info())

    def ready(self) -> Backend:
        if self.backend is None:
            if self.load_error:
                raise ApiError(
                    503, f"model failed to load: {self.load_error}", code="model_load_failed"
                )
            raise ApiError(
                503,
                "model is loading; retry shortly",
                code="model_loading",
                headers={"Retry-After": "2"},
            )
        return self.backend


# ----- request parsing ------------------------------------------------------


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object: 413 past `limit` bytes, 400 when not JSON or not an object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            f"request body of {declared} bytes exceeds the limit of {limit} bytes",
            code="body_too_large",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"request body exceeds the limit of {limit} bytes", code="body_too_large"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            f"request body must be a JSON object, not {type(data).__name__}",
            code="invalid_json",
        )
    return data


def parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def gen_config(**kwargs: Any) -> GenerationConfig:
    """A GenerationConfig from request fields; a bad combination is a 422."""
    try:
        return GenerationConfig(**kwargs)
    except ValidationError as exc:
        raise from_validation(exc) from None


def sampling(temperature: float | None, top_p: float | None, top_k: int | None) -> dict[str, Any]:
    """OpenAI-style knobs → ours. top_p 0 (some clients' way to say greedy) means greedy."""
    t = 1.0 if temperature is None else float(temperature)
    p = 1.0 if top_p is None else float(top_p)
    if p == 0.0:
        t, p = 0.0, 1.0
    return {"temperature": t, "top_p": p, "top_k": max(0, top_k or 0)}


def request_seed(seed: int | None) -> int:
    """The request's seed, or a fresh random one (OpenAI: sampling without a seed is not reproducible)."""
    return secrets.randbits(63) if seed is None or seed < 0 else seed


def default_max_tokens(
    state: ServerState, backend: Backend, ids: list[int], asked: int | None
) -> int:
    if asked is not None and asked > 0:
        return asked
    return max(1, min(state.cfg.max_tokens_default, backend.prompts.room(ids)))


def check_context(backend: Backend, ids: list[int], max_tokens: int) -> None:
    try:
        backend.prompts.check_length(ids, max_tokens)
    except InputError as exc:
        raise ApiError(400, str(exc), param="max_tokens", code="context_length_exceeded") from None


# ----- running jobs ---------------------------------------------------------


def submit(state: ServerState, backend: Backend, requests: list[GenRequest]) -> Job:
    job = Job(requests, asyncio.get_running_loop(), state.cfg.request_timeout_s)
    try:
        backend.submit(job)
    except QueueFull as exc:
        raise ApiError(
            503,
            "server is busy: the request queue is full; retry later",
            code="queue_full",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    return job


async def events(job: Job, request: Request | None) -> AsyncIterator[Event]:
    """The job's events until every choice is done; cancels the job if the consumer goes away.

    `request` given (non-streaming answers): poll for a client disconnect
    while waiting. Streaming answers get cancelled by Starlette when the
    client disconnects, which lands in the `finally` below.
    """
    remaining = set(range(job.rows))  # choice indices still to finish
    hard_deadline = job.deadline + 30.0
    try:
        while remaining:
            try:
                event = await asyncio.wait_for(job.queue.get(), timeout=0.25)
            except TimeoutError:
                if request is not None and await request.is_disconnected():
                    return
                if time.monotonic() > hard_deadline:
                    yield Event("error", message="request timed out", status=504)
                    return
                continue
            yield event
            if event.kind == "done":
                remaining.discard(event.index)
            elif event.kind == "error":
                return
    finally:
        if remaining:
            job.cancel()


async def collect(job: Job, request: Request) -> dict[int, Completion]:
    """Wait for every choice of a non-streaming request."""
    done: dict[int, Completion] = {}
    async for event in events(job, request):
        if event.kind == "error":
            raise ApiError(
                event.status,
                event.message,
                code="generation_failed" if event.status == 500 else None,
            )
        if event.kind == "done" and event.completion is not None:
            done[event.index] = event.completion
    if len(done) < job.rows:
        raise ApiError(499, "client closed the request")  # nobody reads this answer
    return done


def sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def stream_choices(
    job: Job,
    chunk: Callable[[int, str, str | None, list[Event], Completion | None], dict[str, Any]],
    *,
    done_marker: bool = True,
    first: list[dict[str, Any]] | None = None,
    last: Callable[[], dict[str, Any] | None] | None = None,
) -> AsyncIterator[str]:
    """SSE body: one chunk per released text piece; `finish_reason` rides on the last text-bearing chunk.

    The newest piece of each choice is held until the next one arrives (or
    the choice ends), so the chunk that carries the final text also carries
    the finish reason.
    """
    pending: dict[int, list[Event]] = {}
    for c in first or []:
        yield sse(c)
    async for event in events(job, None):
        if event.kind == "error":
            yield sse(error_body(event.status, event.message))
            break
        if event.kind == "delta":
            held = pending.get(event.index)
            if held and held[-1].text and event.text:
                yield sse(chunk(event.index, "".join(e.text for e in held), None, held, None))
                held = None
            pending[event.index] = [*(held or []), event]
        elif event.kind == "done":
            held = pending.pop(event.index, [])
            yield sse(
                chunk(
                    event.index,
                    "".join(e.text for e in held),
                    event.completion.finish_reason,
                    held,
                    event.completion,
                )
            )  # type: ignore[union-attr]
    extra = last() if last is not None else None
    if extra is not None:
        yield sse(extra)
    if done_marker:
        yield "data: [DONE]\n\n"


def streaming(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


# ----- answer formats -------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class TokenText:
    """Token id → its text for logprobs (special tokens show as "")."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        if token_id not in self._cache:
            self._cache[token_id] = self.tokenizer.decode([token_id], skip_special_tokens=True)
        return self._cache[token_id]


def openai_logprobs(
    tt: TokenText,
    ids: list[int],
    lps: list[float | None],
    tops: list[dict[int, float]] | None,
    offset: int,
) -> dict[str, Any]:
    """The legacy completions `logprobs` object: tokens, token_logprobs, top_logprobs, text_offset."""
    tokens = [tt(i) for i in ids]
    offsets = []
    pos = offset
    for t in tokens:
        offsets.append(pos)
        pos += len(t)
    top = None
    if tops is not None:
        top = [None if d is None else {tt(k): v for k, v in d.items()} for d in tops]
    return {
        "tokens": tokens,
        "token_logprobs": list(lps),
        "top_logprobs": top,
        "text_offset": offsets,
    }


# ----- the app ----------------------------------------------------------------


def create_app(cfg: ServeConfig, *, loader: Callable[[], Backend] | None = None) -> FastAPI:
    """The FastAPI app; the model loads on a background thread at startup (`loader`, default `make_backend`)."""
    state = ServerState(cfg, served_name(cfg))
    load = loader or (lambda: make_backend(cfg))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(
            target=state.load, args=(load,), name="codelm-loader", daemon=True
        )
        thread.start()
        yield
        state.closed = True
        if state.backend is not None:
            state.backend.stop()

    app = FastAPI(
        title="codelm", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.codelm = state

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            f"no route {request.method} {request.url.path}"
            if exc.status_code == 404
            else str(exc.detail)
        )
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal server error"), status_code=500)

    def check_model(model: str | None) -> None:
        if model is not None and model != state.name:
            raise ApiError(
                404,
                f"model '{model}' does not exist; this server serves '{state.name}'",
                param="model",
                code="model_not_found",
            )

    # ----- status -----

    @app.get("/health")
    async def health() -> Response:
        if state.backend is not None:
            return JSONResponse({"status": "ok"})
        if state.load_error:
            return JSONResponse(
                {"status": "error", **error_body(503, state.load_error)}, status_code=503
            )
        return JSONResponse(
            {"status": "loading", **error_body(503, "model is loading")},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.get("/v1/models")
    async def models() -> Response:
        backend = state.ready()
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": state.name,
                        "object": "model",
                        "created": state.created,
                        "owned_by": "codelm",
                        "max_model_len": backend.max_model_len,
                    }
                ],
            }
        )

    # ----- OpenAI completions -----

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        backend = state.ready()
        req: CompletionRequest = parse(
            CompletionRequest, await read_json(request, cfg.max_body_bytes)
        )
        check_model(req.model)
        prompts = _prompt_list(req.prompt)
        if req.max_tokens == 0 and not req.echo:
            raise ApiError(
                422,
                "'max_tokens' = 0 only makes sense with echo (scoring a prompt)",
                param="max_tokens",
                code="invalid_value",
            )
        seed = request_seed(req.seed)
        stops = stop_list(req.stop)
        gen_requests: list[GenRequest] = []
        texts: list[str] = []
        for i, p in enumerate(prompts):
            text = p if isinstance(p, str) else backend.prompts.tokenizer.decode(p)
            texts.append(text)
            max_tokens = req.max_tokens if req.max_tokens is not None else 16
            cfg_i = gen_config(
                max_new_tokens=max(1, max_tokens),
                n=req.n,
                stop=stops,
                logprobs=req.logprobs,
                seed=seed,
                ignore_eos=req.ignore_eos,
                **sampling(req.temperature, req.top_p, req.top_k),
            )
            if (
                req.suffix is not None
                and isinstance(p, str)
                and (req.suffix or backend.prompts.fim is not None)
            ):
                try:
                    g = backend.prompts.infill_request(p, req.suffix, cfg_i)
                except InputError as exc:
                    raise ApiError(
                        400, str(exc), param="suffix", code="infill_unsupported"
                    ) from None
            else:
                ids = backend.prompts.encode(p) if isinstance(p, str) else checked_ids(backend, p)
                g = GenRequest(ids, cfg_i)
            g.seed_path, g.stream = (i,), req.stream
            check_context(backend, g.prompt_ids, max(1, max_tokens))
            gen_requests.append(g)
        tt = TokenText(backend.prompts.tokenizer)
        echo_lp: list[dict[str, Any] | None] = [None] * len(prompts)
        if req.echo and req.logprobs is not None:
            for i, g in enumerate(gen_requests):
                lps = await asyncio.to_thread(backend.prompt_logprobs, g.prompt_ids)
                echo_lp[i] = openai_logprobs(
                    tt, g.prompt_ids, lps, [None] * len(lps) if req.logprobs else None, 0
                )  # type: ignore[list-item]
        cid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        n = req.n
        prompt_tokens = sum(len(g.prompt_ids) for g in gen_requests)

        def choice_lp(
            index: int,
            ids: list[int],
            lps: list[float],
            tops: list[dict[int, float]] | None,
            offset: int,
            with_echo: bool,
        ) -> dict[str, Any] | None:
            if req.logprobs is None:
                return None
            lp = openai_logprobs(tt, ids, lps, tops if req.logprobs else None, offset)
            e = echo_lp[index // n] if with_echo else None
            if e is not None:
                return {
                    k: e[k] + lp[k] if e[k] is not None and lp[k] is not None else (e[k] or lp[k])
                    for k in lp
                }
            return lp

        if req.max_tokens == 0:  # echo only: score the prompt, generate nothing
            choices = []
            for i in range(len(prompts) * n):
                choices.append(
                    {
                        "index": i,
                        "text": texts[i // n],
                        "finish_reason": "length",
                        "logprobs": echo_lp[i // n],
                    }
                )
            return JSONResponse(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": state.name,
                    "choices": choices,
                    "usage": usage(prompt_tokens, 0),
                }
            )

        job = submit(state, backend, gen_requests)
        if req.stream:
            generated = [0]

            def chunk(
                index: int, text: str, finish: str | None, evs: list[Event], comp: Completion | None
            ) -> dict[str, Any]:
                ids = [t for e in evs for t in e.token_ids]
                generated[0] += len(ids)
                lp = None
                if req.logprobs is not None:
                    tops = [d for e in evs for d in e.top_logprobs] if req.logprobs else None
                    lp = openai_logprobs(tt, ids, [x for e in evs for x in e.logprobs], tops, 0)
                return {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": state.name,
                    "choices": [
                        {"index": index, "text": text, "finish_reason": finish, "logprobs": lp}
                    ],
                }

            first = []
            if req.echo:
                for i in range(len(prompts) * n):
                    first.append(
                        {
                            "id": cid,
                            "object": "text_completion",
                            "created": created,
                            "model": state.name,
                            "choices": [
                                {
                                    "index": i,
                                    "text": texts[i // n],
                                    "finish_reason": None,
                                    "logprobs": echo_lp[i // n],
                                }
                            ],
                        }
                    )

            def last() -> dict[str, Any] | None:
                if req.stream_options is None or not req.stream_options.include_usage:
                    return None
                return {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": state.name,
                    "choices": [],
                    "usage": usage(prompt_tokens, generated[0]),
                }

            return streaming(stream_choices(job, chunk, first=first, last=last))
        done = await collect(job, request)
        choices = []
        for index in sorted(done):
            c = done[index]
            prefix = texts[index // n] if req.echo else ""
            choices.append(
                {
                    "index": index,
                    "text": prefix + c.text,
                    "finish_reason": c.finish_reason,
                    "logprobs": choice_lp(
                        index, c.token_ids, c.logprobs or [], c.top_logprobs, len(prefix), req.echo
                    ),
                }
            )
        completion_tokens = sum(len(c.token_ids) for c in done.values())
        return JSONResponse(
            {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": state.name,
                "choices": choices,
                "usage": usage(prompt_tokens, completion_tokens),
            }
        )

    # ----- chat-shaped answers (OpenAI chat, Mistral FIM) -----

    def chat_answer(
        request: Request,
        job: Job,
        stream: bool,
        prompt_tokens: int,
        prefix: str,
        include_usage: bool,
    ) -> Any:
        cid, created = f"{prefix}-{uuid.uuid4().hex}", int(time.time())
        base = {"id": cid, "created": created, "model": state.name}
        if stream:
            generated = [0]

            def chunk(
                index: int, text: str, finish: str | None, evs: list[Event], comp: Completion | None
            ) -> dict[str, Any]:
                generated[0] += sum(len(e.token_ids) for e in evs)
                return {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {
                            "index": index,
                            "delta": {"content": text},
                            "finish_reason": finish,
                            "logprobs": None,
                        }
                    ],
                }

            first = [
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                            "logprobs": None,
                        }
                    ],
                }
                for i in range(job.rows)
            ]

            def last() -> dict[str, Any] | None:
                if not include_usage:
                    return None
                return {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": usage(prompt_tokens, generated[0]),
                }

            return streaming(stream_choices(job, chunk, first=first, last=last))

        async def answer() -> JSONResponse:
            done = await collect(job, request)
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": done[i].text},
                    "finish_reason": done[i].finish_reason,
                    "logprobs": None,
                }
                for i in sorted(done)
            ]
            completion_tokens = sum(len(c.token_ids) for c in done.values())
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": choices,
                    "usage": usage(prompt_tokens, completion_tokens),
                }
            )

        return answer()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        backend = state.ready()
        req: ChatRequest = parse(ChatRequest, await read_json(request, cfg.max_body_bytes))
        check_model(req.model)
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            text, extra_stops = backend.prompts.chat_prompt(messages)
        except Exception as exc:  # a template that fails on these messages (jinja errors)
            raise ApiError(
                400,
                f"chat template failed on these messages: {str(exc).splitlines()[0]}",
                param="messages",
            ) from None
        ids = backend.prompts.encode_plain(text)
        max_tokens = default_max_tokens(
            state, backend, ids, req.max_completion_tokens or req.max_tokens
        )
        check_context(backend, ids, max_tokens)
        g = GenRequest(
            ids,
            gen_config(
                max_new_tokens=max_tokens,
                n=req.n,
                stop=[*stop_list(req.stop), *extra_stops],
                seed=request_seed(req.seed),
                **sampling(req.temperature, req.top_p, req.top_k),
            ),
            stream=req.stream,
        )
        job = submit(state, backend, [g])
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        result = chat_answer(request, job, req.stream, len(ids), "chatcmpl", include_usage)
        return result if req.stream else await result

    @app.post("/v1/fim/completions")
    async def fim(request: Request) -> Response:
        backend = state.ready()
        req: FimRequest = parse(FimRequest, await read_json(request, cfg.max_body_bytes))
        check_model(req.model)
        cfg_ = gen_config(
            max_new_tokens=1,
            stop=stop_list(req.stop),
            seed=request_seed(req.random_seed),
            **sampling(req.temperature, req.top_p, None),
        )
        try:
            g = backend.prompts.infill_request(req.prompt, req.suffix or "", cfg_)
        except InputError as exc:
            raise ApiError(400, str(exc), param="suffix", code="infill_unsupported") from None
        max_tokens = default_max_tokens(state, backend, g.prompt_ids, req.max_tokens)
        check_context(backend, g.prompt_ids, max_tokens)
        g.config = cfg_.model_copy(update={"max_new_tokens": max_tokens})
        g.stream = req.stream
        job = submit(state, backend, [g])
        result = chat_answer(request, job, req.stream, len(g.prompt_ids), "fim", False)
        return result if req.stream else await result

    # ----- llama.cpp -----

    def llama_config(req: LlamaCommon, backend: Backend, ids: list[int]) -> GenerationConfig:
        max_tokens = default_max_tokens(
            state, backend, ids, req.n_predict if req.n_predict > 0 else None
        )
        check_context(backend, ids, max_tokens)
        return gen_config(
            max_new_tokens=max_tokens,
            stop=stop_list(req.stop),
            seed=request_seed(req.seed),
            logprobs=req.n_probs or None,
            ignore_eos=req.ignore_eos,
            **sampling(req.temperature, req.top_p, req.top_k),
        )

    def llama_answer(request: Request, job: Job, stream: bool, prompt_tokens: int) -> Any:
        tt = TokenText(backend_of().prompts.tokenizer)

        def final_fields(c: Completion) -> dict[str, Any]:
            stop_type = (
                "limit"
                if c.finish_reason == "length"
                else ("word" if c.stop_kind == "string" else "eos")
            )
            return {
                "stop": True,
                "model": state.name,
                "tokens_predicted": len(c.token_ids),
                "tokens_evaluated": prompt_tokens,
                "stop_type": stop_type,
                "stopped_eos": stop_type == "eos",
                "stopped_word": stop_type == "word",
                "stopped_limit": stop_type == "limit",
                "truncated": False,
                "index": 0,
            }

        def probs(
            ids: list[int], lps: list[float], tops: list[dict[int, float]]
        ) -> list[dict[str, Any]]:
            return [
                {
                    "id": i,
                    "token": tt(i),
                    "logprob": lp,
                    "top_logprobs": [
                        {"id": k, "token": tt(k), "logprob": v} for k, v in top.items()
                    ],
                }
                for i, lp, top in zip(ids, lps, tops or [{} for _ in ids], strict=False)
            ]

        if stream:

            def chunk(
                index: int, text: str, finish: str | None, evs: list[Event], comp: Completion | None
            ) -> dict[str, Any]:
                out: dict[str, Any] = {"content": text, "stop": False, "index": 0}
                if comp is not None:
                    out.update(final_fields(comp))
                if evs and evs[0].logprobs:
                    out["completion_probabilities"] = probs(
                        [t for e in evs for t in e.token_ids],
                        [x for e in evs for x in e.logprobs],
                        [d for e in evs for d in e.top_logprobs],
                    )
                return out

            return streaming(stream_choices(job, chunk, done_marker=False))

        async def answer() -> JSONResponse:
            c = (await collect(job, request))[0]
            out = {"content": c.text, **final_fields(c)}
            if c.logprobs is not None:
                out["completion_probabilities"] = probs(
                    c.token_ids, c.logprobs, c.top_logprobs or []
                )
            return JSONResponse(out)

        return answer()

    def backend_of() -> Backend:
        return state.ready()

    @app.post("/infill")
    async def infill(request: Request) -> Response:
        backend = state.ready()
        req: InfillRequest = parse(InfillRequest, await read_json(request, cfg.max_body_bytes))
        extra = [(f.filename, f.text) for f in req.input_extra]
        probe = gen_config(max_new_tokens=1)
        try:
            g = backend.prompts.infill_request(
                req.input_prefix + req.prompt, req.input_suffix, probe, extra=extra
            )
        except InputError as exc:
            raise ApiError(400, str(exc), param="input_suffix", code="infill_unsupported") from None
        g.config = llama_config(req, backend, g.prompt_ids)
        g.stream = req.stream
        job = submit(state, backend, [g])
        result = llama_answer(request, job, req.stream, len(g.prompt_ids))
        return result if req.stream else await result

    @app.post("/completion")
    async def llama_completion(request: Request) -> Response:
        backend = state.ready()
        req: LlamaCompletionRequest = parse(
            LlamaCompletionRequest, await read_json(request, cfg.max_body_bytes)
        )
        ids = (
            backend.prompts.encode(req.prompt)
            if isinstance(req.prompt, str)
            else checked_ids(backend, req.prompt)
        )
        g = GenRequest(ids, llama_config(req, backend, ids), stream=req.stream)
        job = submit(state, backend, [g])
        result = llama_answer(request, job, req.stream, len(ids))
        return result if req.stream else await result

    return app


def checked_ids(backend: Backend, ids: list[int]) -> list[int]:
    try:
        backend.prompts.check_ids(ids)
    except InputError as exc:
        raise ApiError(422, str(exc), param="prompt", code="invalid_value") from None
    return list(ids)


def _prompt_list(prompt: Any) -> list[str | list[int]]:
    """OpenAI's four prompt forms → a list of prompts (text or token ids)."""
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise ApiError(
            422, "'prompt' must not be an empty list", param="prompt", code="invalid_value"
        )
    if all(isinstance(p, int) for p in prompt):
        return [list(prompt)]
    return list(prompt)


def serve(cfg: ServeConfig, *, log_level: str = "info") -> None:
    """Run the server in the foreground until interrupted (`codelm serve`)."""
    import uvicorn

    app = create_app(cfg)
    uvicorn.run(
        app, host=cfg.host, port=cfg.port, log_level=log_level, access_log=log_level == "debug"
    )
