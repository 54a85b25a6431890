"""Request bodies of every endpoint, as IDE clients send them.

Shapes follow the APIs the clients were written for (REFERENCE.md,
"Serving: API shapes IDE clients use"): OpenAI completions and chat,
Mistral's FIM endpoint, llama.cpp's `/infill` and `/completion`. Models are
strict about types (a string where a number belongs is a 422, never
silently coerced) and ignore unknown fields, as OpenAI does, so clients that
send extras (`user`, `presence_penalty`, `cache_prompt`, ...) keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_STOPS = 64  # OpenAI allows 4; IDE clients send a dozen or more (one per language keyword)
MAX_N = 16


def _check_stops(value: str | list[str] | None) -> str | list[str] | None:
    if isinstance(value, list) and len(value) > MAX_STOPS:
        raise ValueError(f"at most {MAX_STOPS} stop strings")
    return value


Stop = Annotated[str | list[str] | None, AfterValidator(_check_stops)]


def stop_list(stop: str | list[str] | None) -> list[str]:
    """`stop` as a list without empty strings (an empty stop string would end every completion at once)."""
    if stop is None:
        return []
    items = [stop] if isinstance(stop, str) else stop
    return [s for s in items if s]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, protected_namespaces=())


class StreamOptions(ApiModel):
    include_usage: bool = False


class CompletionRequest(ApiModel):
    """`POST /v1/completions` (OpenAI legacy completions, what Continue/Tabby use for autocomplete)."""

    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]] = ""
    suffix: str | None = None  # given: the server builds the FIM prompt (vLLM refuses this)
    max_tokens: Annotated[int, Field(ge=0)] | None = 16  # OpenAI's default
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = 1.0
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = 1.0
    top_k: int | None = None  # vLLM extension; <= 0 means off
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    echo: bool = False
    logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    seed: int | None = None
    ignore_eos: bool = False  # vLLM extension (benchmarks, load tests)


class ChatMessage(ApiModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Content as text; OpenAI's list-of-parts form keeps only the text parts."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(
            str(p.get("text", "")) for p in self.content if p.get("type", "text") == "text"
        )


class ChatRequest(ApiModel):
    """`POST /v1/chat/completions`."""

    model: str | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = 1.0
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = 1.0
    top_k: int | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None


class FimRequest(ApiModel):
    """`POST /v1/fim/completions` (Mistral's FIM API)."""

    model: str | None = None
    prompt: str
    suffix: str | None = ""
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    min_tokens: Annotated[int, Field(ge=0)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = 0.7  # Mistral's FIM default
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = 1.0
    stop: Stop = None
    stream: bool = False
    random_seed: int | None = None


class ExtraFile(ApiModel):
    filename: str = ""
    text: str = ""


class LlamaCommon(ApiModel):
    n_predict: int = (
        -1
    )  # -1: until a stop or the context ends (capped by the server's max_tokens_default)
    temperature: Annotated[float, Field(ge=0.0)] = 0.8  # llama.cpp's default
    top_k: int = 40
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOPS)
    stream: bool = False
    seed: int = -1  # -1: random
    n_probs: Annotated[int, Field(ge=0, le=20)] = 0
    ignore_eos: bool = False


class InfillRequest(LlamaCommon):
    """`POST /infill` (llama.cpp, what llama.vim / llama.vscode and Tabby's llama.cpp backend send)."""

    input_prefix: str = ""
    input_suffix: str = ""
    input_extra: list[ExtraFile] = Field(default_factory=list)
    prompt: str = ""  # llama.cpp appends it to the prefix (text typed on the current line)


class LlamaCompletionRequest(LlamaCommon):
    """`POST /completion` (llama.cpp)."""

    prompt: str | list[int]


ObjectName = Literal["text_completion", "chat.completion", "chat.completion.chunk"]
