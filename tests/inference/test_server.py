"""The HTTP server, end to end: a real uvicorn on 127.0.0.1, the official openai client, raw HTTP."""

from __future__ import annotations

import json
import threading
import time

import httpx
import openai
import pytest

from codelm.errors import ConfigError, InputError, MissingDependencyError
from codelm.inference import GenerationConfig
from codelm.inference.config import LoadConfig, ServeConfig
from codelm.inference.server.app import create_app, served_name
from codelm.inference.server.backend import TorchBackend, make_backend

pytestmark = pytest.mark.timeout(60)
T = 10.0  # seconds: every HTTP call has a timeout


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0, timeout=T)


def sse_events(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def stats(srv) -> dict:
    return srv.state.backend.stats()


# ----- OpenAI shapes ---------------------------------------------------------


def test_models_and_health(live_server):
    r = httpx.get(live_server.url + "/health", timeout=T)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    models = client(live_server).models.list()
    [m] = models.data
    assert (m.id, m.object, m.owned_by) == ("tiny", "model", "codelm")
    assert (
        httpx.get(live_server.url + "/v1/models", timeout=T).json()["data"][0]["max_model_len"]
        == 256
    )


def test_completion_matches_the_library(live_server, decoder):
    r = client(live_server).completions.create(
        model="tiny", prompt="for i in", max_tokens=30, temperature=0
    )
    [[ref]] = decoder.generate(["for i in"], GenerationConfig(max_new_tokens=30))
    [choice] = r.choices
    assert (choice.text, choice.finish_reason, choice.index) == (ref.text, "stop", 0)
    assert ref.text == " range(10):\n    print(i)\n"
    assert r.object == "text_completion" and r.model == "tiny"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (
        ref.prompt_tokens,
        len(ref.token_ids),
    )


def test_fim_through_suffix_and_through_a_templated_prompt(live_server):
    c = client(live_server)
    r = c.completions.create(
        model="tiny", prompt="for i in range(10):\n    ", suffix="\n", max_tokens=20, temperature=0
    )
    assert (r.choices[0].text, r.choices[0].finish_reason) == ("print(i)", "stop")
    templated = "<fim_prefix>import os\n<fim_suffix>\n<fim_middle>"
    r = c.completions.create(model="tiny", prompt=templated, max_tokens=20, temperature=0)
    assert r.choices[0].text == "print(os.getcwd())"


def test_streaming_completion(live_server, decoder):
    c = client(live_server)
    chunks = list(
        c.completions.create(
            model="tiny", prompt="for i in", max_tokens=30, temperature=0, stream=True
        )
    )
    assert "".join(ch.choices[0].text for ch in chunks) == " range(10):\n    print(i)\n"
    assert [ch.choices[0].finish_reason for ch in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].text != ""
    # the wire format: SSE data lines, then [DONE]
    body = {
        "prompt": "for i in",
        "max_tokens": 30,
        "temperature": 0,
        "stream": True,
        "stop": ["print"],
    }
    r = httpx.post(live_server.url + "/v1/completions", json=body, timeout=T)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]" and r.text.endswith("data: [DONE]\n\n")
    pieces = [json.loads(e)["choices"][0]["text"] for e in events[:-1]]
    assert (
        "".join(pieces) == " range(10):\n    "
    )  # nothing of the stop string "print" was ever sent
    usage = list(
        c.completions.create(
            model="tiny",
            prompt="import",
            max_tokens=30,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )[-1]
    [[ref]] = decoder.generate(["import"], GenerationConfig(max_new_tokens=30))
    assert usage.choices == [] and usage.usage.completion_tokens == len(ref.token_ids)


def test_many_prompts_and_n(live_server, decoder):
    r = client(live_server).completions.create(
        model="tiny", prompt=["for i in", "import"], n=2, max_tokens=30, temperature=0
    )
    assert [ch.index for ch in r.choices] == [0, 1, 2, 3]
    ref = [
        c[0].text
        for c in decoder.generate(["for i in", "import"], GenerationConfig(max_new_tokens=30))
    ]
    assert [ch.text for ch in r.choices] == [ref[0], ref[0], ref[1], ref[1]]
    ids = decoder.encode("import")
    r = client(live_server).completions.create(
        model="tiny", prompt=ids, max_tokens=30, temperature=0
    )
    assert r.choices[0].text == ref[1]


def test_seeded_sampling_is_reproducible(live_server):
    c = client(live_server)
    kw = {"model": "tiny", "prompt": "x", "max_tokens": 12, "temperature": 2.0, "n": 3, "seed": 42}
    a = [ch.text for ch in c.completions.create(**kw).choices]
    b = [ch.text for ch in c.completions.create(**kw).choices]
    d = [ch.text for ch in c.completions.create(**{**kw, "seed": 43}).choices]
    assert a == b and a != d and len(set(a)) > 1


def test_logprobs_and_echo(live_server, decoder):
    c = client(live_server)
    r = c.completions.create(
        model="tiny", prompt="import", max_tokens=30, temperature=0, logprobs=2
    )
    [[ref]] = decoder.generate(["import"], GenerationConfig(max_new_tokens=30, logprobs=2))
    lp = r.choices[0].logprobs
    assert lp.token_logprobs == pytest.approx(ref.logprobs, abs=1e-4)
    assert "".join(lp.tokens) == r.choices[0].text and all(len(t) == 2 for t in lp.top_logprobs)
    assert lp.text_offset[0] == 0
    r = c.completions.create(model="tiny", prompt="import", max_tokens=30, temperature=0, echo=True)
    assert r.choices[0].text == "import" + ref.text
    # scoring a prompt (lm-eval style): echo + logprobs + max_tokens 0
    r = c.completions.create(model="tiny", prompt="import os", max_tokens=0, echo=True, logprobs=0)
    scored = r.choices[0].logprobs
    expected = decoder._engine.runner.prompt_logprobs(decoder.encode("import os"))
    assert scored.token_logprobs[0] is None and scored.token_logprobs[1:] == pytest.approx(
        expected[1:], abs=1e-4
    )
    assert r.choices[0].text == "import os" and r.usage.completion_tokens == 0


def test_chat(live_server):
    c = client(live_server)
    r = c.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "for i in"}],
        max_tokens=8,
        temperature=0,
    )
    [choice] = r.choices
    assert r.object == "chat.completion" and choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.finish_reason in ("stop", "length")
    chunks = list(
        c.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "for i in"}],
            max_tokens=8,
            temperature=0,
            stream=True,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == choice.message.content
    assert chunks[-1].choices[0].finish_reason == choice.finish_reason


# ----- Mistral and llama.cpp shapes -------------------------------------------


def test_mistral_fim(live_server):
    body = {
        "model": "tiny",
        "prompt": "for i in range(10):\n    ",
        "suffix": "\n",
        "temperature": 0,
        "max_tokens": 20,
    }
    r = httpx.post(live_server.url + "/v1/fim/completions", json=body, timeout=T)
    data = r.json()
    assert r.status_code == 200 and data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "print(i)"}
    r = httpx.post(
        live_server.url + "/v1/fim/completions", json={**body, "stream": True}, timeout=T
    )
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(isinstance(ch["choices"][0]["delta"]["content"], str) for ch in chunks)
    assert "".join(ch["choices"][0]["delta"]["content"] for ch in chunks) == "print(i)"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_llama_cpp_infill_and_completion(live_server):
    body = {
        "input_prefix": "for i in range(10):\n    ",
        "input_suffix": "\n",
        "temperature": 0,
        "n_predict": 20,
    }
    r = httpx.post(live_server.url + "/infill", json=body, timeout=T).json()
    assert (r["content"], r["stop"], r["stop_type"], r["stopped_eos"]) == (
        "print(i)",
        True,
        "eos",
        True,
    )
    assert r["tokens_predicted"] == 4
    r = httpx.post(
        live_server.url + "/infill",
        json={**body, "input_extra": [{"filename": "a.py", "text": "y = 2\n"}]},
        timeout=T,
    )
    assert r.status_code == 200 and isinstance(r.json()["content"], str)
    lines = sse_events(
        httpx.post(live_server.url + "/infill", json={**body, "stream": True}, timeout=T).text
    )
    chunks = [json.loads(x) for x in lines]  # llama.cpp streams JSON only: no [DONE]
    assert "".join(ch["content"] for ch in chunks) == "print(i)"
    assert [ch["stop"] for ch in chunks] == [False] * (len(chunks) - 1) + [True]
    r = httpx.post(
        live_server.url + "/completion",
        json={"prompt": "for i in", "temperature": 0, "stop": ["print"]},
        timeout=T,
    ).json()
    assert (r["content"], r["stop_type"], r["stopped_word"]) == (" range(10):\n    ", "word", True)
    r = httpx.post(
        live_server.url + "/completion",
        json={"prompt": "for i in", "temperature": 0, "n_predict": 3, "n_probs": 2},
        timeout=T,
    ).json()
    assert (r["stop_type"], r["tokens_predicted"], len(r["completion_probabilities"])) == (
        "limit",
        3,
        3,
    )
    assert len(r["completion_probabilities"][0]["top_logprobs"]) == 2


# ----- malformed requests -------------------------------------------------------

ENDPOINTS = {
    "/v1/completions": (
        {"model": "tiny", "prompt": "x", "max_tokens": 2},
        "max_tokens",
        "temperature",
    ),
    "/v1/chat/completions": (
        {"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2},
        "max_tokens",
        "temperature",
    ),
    "/v1/fim/completions": (
        {"model": "tiny", "prompt": "x", "suffix": "y", "max_tokens": 2},
        "max_tokens",
        "temperature",
    ),
    "/infill": (
        {"input_prefix": "x", "input_suffix": "y", "n_predict": 2},
        "n_predict",
        "temperature",
    ),
    "/completion": ({"prompt": "x", "n_predict": 2}, "n_predict", "temperature"),
}


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str)
    assert "Traceback" not in r.text
    return err


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_malformed_requests(live_server, path):
    valid, length_field, number_field = ENDPOINTS[path]
    url = live_server.url + path
    assert (
        httpx.post(url, json={**valid, "some_unknown_field": [1, 2]}, timeout=T).status_code == 200
    )
    err = _error(httpx.post(url, content=b'{"prompt": "x",', timeout=T), 400)
    assert err["code"] == "invalid_json"
    _error(httpx.post(url, json=["not", "an", "object"], timeout=T), 400)
    err = _error(httpx.post(url, json={**valid, number_field: "hot"}, timeout=T), 422)
    assert err["param"] == number_field
    err = _error(httpx.post(url, json={**valid, length_field: 100_000}, timeout=T), 400)
    assert err["code"] == "context_length_exceeded"
    _error(httpx.post(url, content=b"{" + b" " * (1 << 20) + b"}", timeout=T), 413)
    if "model" in valid:
        err = _error(httpx.post(url, json={**valid, "model": "other"}, timeout=T), 404)
        assert err["code"] == "model_not_found"
    required = {
        "/v1/completions": None,
        "/v1/chat/completions": "messages",
        "/v1/fim/completions": "prompt",
        "/infill": None,
        "/completion": "prompt",
    }[path]
    if required:
        err = _error(
            httpx.post(url, json={k: v for k, v in valid.items() if k != required}, timeout=T), 422
        )
        assert err["param"] == required


def test_more_malformed_requests(live_server):
    url = live_server.url
    _error(httpx.get(url + "/v1/completions", timeout=T), 405)
    _error(httpx.get(url + "/no/such/route", timeout=T), 404)
    err = _error(
        httpx.post(url + "/v1/completions", json={"prompt": [1, 2, 99999]}, timeout=T), 422
    )
    assert "outside the vocabulary" in err["message"]
    _error(httpx.post(url + "/v1/completions", json={"prompt": []}, timeout=T), 422)
    _error(httpx.post(url + "/v1/completions", json={"prompt": "x", "n": 0}, timeout=T), 422)
    _error(
        httpx.post(url + "/v1/completions", json={"prompt": "x", "stop": ["a"] * 65}, timeout=T),
        422,
    )
    _error(httpx.post(url + "/v1/chat/completions", json={"messages": []}, timeout=T), 422)
    _error(
        httpx.post(url + "/v1/chat/completions", json={"messages": [{"content": "x"}]}, timeout=T),
        422,
    )
    # errors come before the first byte of a stream: a bad streaming request is a plain JSON error
    r = httpx.post(
        url + "/v1/completions", json={"prompt": "x", "stream": True, "temperature": -1}, timeout=T
    )
    assert r.headers["content-type"].startswith("application/json")
    _error(r, 422)
    with pytest.raises(openai.NotFoundError):
        client(live_server).completions.create(model="other", prompt="x", max_tokens=2)


# ----- loading, queueing, cancellation, timeouts --------------------------------


def test_health_is_503_while_loading(decoder_dir, decoder, server_for):
    gate = threading.Event()
    cfg = ServeConfig(load=LoadConfig(model=decoder_dir), model_name="tiny")

    def slow_loader():
        assert gate.wait(20)
        return TorchBackend(decoder, cfg)

    with server_for(create_app(cfg, loader=slow_loader)) as srv:
        r = httpx.get(srv.url + "/health", timeout=T)
        assert r.status_code == 503 and r.json()["status"] == "loading" and r.headers["retry-after"]
        err = _error(httpx.post(srv.url + "/v1/completions", json={"prompt": "x"}, timeout=T), 503)
        assert err["code"] == "model_loading"
        _error(httpx.get(srv.url + "/v1/models", timeout=T), 503)
        gate.set()
        srv.wait_ready()
        assert (
            httpx.post(
                srv.url + "/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=T
            ).status_code
            == 200
        )


def test_a_failed_load_is_reported(tmp_path, server_for):
    cfg = ServeConfig(load=LoadConfig(model=tmp_path / "missing"), model_name="broken")
    with server_for(create_app(cfg)) as srv:
        assert wait_for(lambda: srv.state.load_error is not None)
        r = httpx.get(srv.url + "/health", timeout=T)
        assert (
            r.status_code == 503
            and r.json()["status"] == "error"
            and "does not exist" in r.json()["error"]["message"]
        )


def _long(srv, **extra) -> dict:
    """A request that would run for thousands of tokens (sampled, so text keeps coming)."""
    return {
        "prompt": "def",
        "max_tokens": 2000,
        "temperature": 1.0,
        "seed": 0,
        "ignore_eos": True,
        **extra,
    }


def test_queue_full_answers_503_with_retry_after(encdec_dir, encdec, server_over):
    with server_over(encdec, encdec_dir, "t5-queue", max_batch_size=1, max_queue=1) as srv:
        srv.wait_ready()
        url = srv.url + "/v1/completions"
        with httpx.stream("POST", url, json=_long(srv, stream=True), timeout=T) as running:
            lines = running.iter_lines()
            assert next(lines).startswith("data: ")  # the first request holds the only batch slot
            with httpx.stream("POST", url, json=_long(srv, stream=True), timeout=T) as queued:
                assert queued.status_code == 200  # headers come at once; the job waits in the queue
                assert wait_for(lambda: stats(srv)["waiting"] == 1)
                r = httpx.post(url, json=_long(srv), timeout=T)
                err = _error(r, 503)
                assert err["code"] == "queue_full" and int(r.headers["retry-after"]) >= 1
                with pytest.raises(openai.InternalServerError) as exc:
                    client(srv).completions.create(model="t5-queue", prompt="x", max_tokens=2)
                assert exc.value.status_code == 503
        # closing both streams cancels the running row and drops the queued job
        assert wait_for(lambda: stats(srv)["cancelled_rows"] == 1 and stats(srv)["waiting"] == 0)
        assert wait_for(lambda: stats(srv)["running_rows"] == 0)


def test_disconnect_mid_stream_stops_generation(long_server):
    before = stats(long_server)["cancelled_rows"]
    engine = long_server.state.backend.scheduler.engine
    start_tokens = engine.tokens_generated
    with httpx.stream(
        "POST", long_server.url + "/v1/completions", json=_long(long_server, stream=True), timeout=T
    ) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        time.sleep(0.2)
        assert (
            stats(long_server)["cancelled_rows"] == before
        )  # still generating while the client listens
    assert wait_for(lambda: stats(long_server)["cancelled_rows"] == before + 1)
    assert wait_for(lambda: stats(long_server)["running_rows"] == 0)
    assert engine.tokens_generated - start_tokens < 2000  # stopped long before max_tokens


def test_disconnect_while_waiting_for_a_full_answer(long_server):
    before = stats(long_server)["cancelled_rows"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            long_server.url + "/v1/completions",
            json=_long(long_server),
            timeout=httpx.Timeout(T, read=0.5),
        )
    assert wait_for(lambda: stats(long_server)["cancelled_rows"] == before + 1)
    assert wait_for(lambda: stats(long_server)["running_rows"] == 0)


def test_request_timeout_ends_generation(encdec_dir, encdec, server_over):
    with server_over(encdec, encdec_dir, "t5-timeout", request_timeout_s=0.5) as srv:
        srv.wait_ready()
        start = time.monotonic()
        r = client(srv).completions.create(
            model="t5-timeout",
            prompt="def",
            max_tokens=2000,
            temperature=0,
            extra_body={"ignore_eos": True},
        )
        assert time.monotonic() - start < 5
        assert r.choices[0].finish_reason == "length" and 0 < r.usage.completion_tokens < 2000


def test_concurrent_requests_are_batched(live_server, decoder):
    prompts = [
        "for i in",
        "import",
        "def add(a, b):\n    return",
        "x",
        "for i in range(10):\n   ",
        "import os",
    ]
    ref = [c[0].text for c in decoder.generate(prompts, GenerationConfig(max_new_tokens=40))]
    results: dict[int, str] = {}
    peak = [0]

    def call(i: int) -> None:
        results[i] = (
            client(live_server)
            .completions.create(model="tiny", prompt=prompts[i], max_tokens=40, temperature=0)
            .choices[0]
            .text
        )

    def long_call() -> None:
        client(live_server).completions.create(
            model="tiny", prompt="x", max_tokens=200, temperature=0, extra_body={"ignore_eos": True}
        )

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(prompts))]
    threads += [threading.Thread(target=long_call, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak[0] = max(peak[0], stats(live_server)["running_rows"])
        time.sleep(0.002)
    assert [results[i] for i in range(len(prompts))] == ref
    assert peak[0] >= 2  # requests shared decode steps


def test_diffusion_encoder_is_served(encoder_dir, server_over):
    from codelm.inference import load_generator

    gen = load_generator(encoder_dir)
    [[ref]] = gen.generate(["for i in"], GenerationConfig(max_new_tokens=6))
    with server_over(gen, encoder_dir, "tiny-diffusion") as srv:
        srv.wait_ready()
        body = {"prompt": "for i in", "max_tokens": 6, "temperature": 0}
        r = httpx.post(srv.url + "/v1/completions", json=body, timeout=T).json()
        assert r["choices"][0]["text"] == ref.text and r["usage"]["completion_tokens"] == 6
        events = sse_events(httpx.post(srv.url + "/v1/completions", json={**body, "stream": True}, timeout=T).text)
        assert events[-1] == "[DONE]" and json.loads(events[0])["choices"][0]["text"] == ref.text


# ----- engines and names ----------------------------------------------------------


def test_vllm_engine_missing_is_a_clear_error(decoder_dir, server_for):
    cfg = ServeConfig(load=LoadConfig(model=decoder_dir), engine="vllm", model_name="tiny")
    with pytest.raises(
        MissingDependencyError, match=r"needs the 'vllm' package: pip install 'codelm\[gpu\]'"
    ):
        make_backend(cfg)
    with server_for(create_app(cfg)) as srv:
        assert wait_for(lambda: srv.state.load_error is not None)
        assert "vllm" in httpx.get(srv.url + "/health", timeout=T).json()["error"]["message"]


@pytest.mark.parametrize(
    "name", ["my-gpt2", "DeepSeek-lite", "codellama-7b", "Codestral", "Qwen2.5-Coder-1.5B"]
)
def test_names_that_switch_client_templates_are_refused(name, decoder_dir):
    with pytest.raises(ConfigError, match="--model-name"):
        served_name(ServeConfig(load=LoadConfig(model=decoder_dir), model_name=name))
    assert (
        served_name(ServeConfig(load=LoadConfig(model=decoder_dir), model_name="qwen-2"))
        == "qwen-2"
    )


def test_infill_without_fim_tokens_is_a_400(tmp_path):
    from transformers import PreTrainedTokenizerFast

    from codelm.inference.fim import build_infill, find_fim_tokens

    tok = PreTrainedTokenizerFast(
        tokenizer_object=__import__("tokenizers").Tokenizer(
            __import__("tokenizers").models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>")
        )
    )
    assert find_fim_tokens(tok) is None
    with pytest.raises(InputError, match="no FIM tokens"):
        build_infill(tok, "a", "a", "psm")
