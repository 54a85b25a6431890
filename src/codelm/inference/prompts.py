"""Prompt text → model input ids, the same way for the library, the CLI and every endpoint.

Kept apart from the model so the vLLM engine (which owns its own model)
builds prompts exactly as the torch engine does.
"""

from __future__ import annotations

from typing import Any

from codelm.errors import InputError
from codelm.inference.config import GenerationConfig
from codelm.inference.engine import Request
from codelm.inference.fim import build_infill, encode_plain, find_fim_tokens, has_fim_text

# Used when a checkpoint has no chat template (base code models): plain-text
# turns, so a base model sees something like a transcript and stops at the
# next "### User:" turn (`CHAT_STOP`).
DEFAULT_CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{{ m['content'] }}\n\n"
    "{%- elif m['role'] == 'assistant' -%}### Assistant:\n{{ m['content'] }}\n\n"
    "{%- else -%}### User:\n{{ m['content'] }}\n\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}### Assistant:\n{%- endif -%}"
)
CHAT_STOP = ["\n### User:"]


class PromptBuilder:
    """Encodes prompts for one checkpoint (its tokenizer, family and context length)."""

    def __init__(self, tokenizer: Any, kind: str, max_model_len: int) -> None:
        self.tokenizer = tokenizer
        self.kind = kind
        self.max_model_len = max_model_len
        self.fim = find_fim_tokens(tokenizer)
        self.vocab_size = len(tokenizer)

    def encode(self, prompt: str) -> list[int]:
        """Prompt text → ids as the model saw text in training.

        A client-templated FIM prompt (it spells `<fim_prefix>` etc.) is
        encoded with its FIM tokens as special tokens and nothing added.
        Otherwise the tokenizer's own convention applies (codelm tokenizers
        add nothing). Encoder–decoder inputs end with EOS, as in span
        corruption and UL2 training.
        """
        if has_fim_text(prompt, self.fim):
            ids = encode_plain(self.tokenizer, prompt)
        else:
            ids = (
                list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"]) if prompt else []
            )
        eos = self.tokenizer.eos_token_id
        if self.kind == "encdec" and eos is not None and (not ids or ids[-1] != eos):
            ids.append(eos)
        return ids

    def encode_plain(self, text: str) -> list[int]:
        """Text → ids with nothing added (templated text already carries its special tokens)."""
        return encode_plain(self.tokenizer, text)

    def check_ids(self, ids: list[int]) -> None:
        """InputError for token ids outside the vocabulary (prompts sent as ids)."""
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise InputError(
                f"token id {bad[0]} is outside the vocabulary (0..{self.vocab_size - 1})"
            )

    def infill_request(
        self,
        prefix: str,
        suffix: str,
        config: GenerationConfig,
        mode: str = "auto",
        extra: list[tuple[str, str]] | None = None,
    ) -> Request:
        """The request that fills the middle between `prefix` and `suffix` (FIM or sentinel layout).

        Diffusion-trained encoders infill natively: prefix, then
        max_new_tokens masks, then suffix (`Request.suffix_ids`).
        """
        if self.kind == "encoder":
            return Request(
                encode_plain(self.tokenizer, prefix),
                config,
                suffix_ids=encode_plain(self.tokenizer, suffix),
            )
        p = build_infill(self.tokenizer, prefix, suffix, mode, kind=self.kind, extra=extra)
        return Request(
            prompt_ids=p.input_ids,
            config=config,
            decoder_prefix=p.decoder_prefix,
            extra_stop_ids=p.stop_token_ids,
        )

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        """Chat messages → prompt text with the checkpoint's chat template (or the plain default) and extra stops."""
        template = getattr(self.tokenizer, "chat_template", None)
        stops = [] if template else list(CHAT_STOP)
        text = self.tokenizer.apply_chat_template(
            messages,
            chat_template=template or DEFAULT_CHAT_TEMPLATE,
            add_generation_prompt=True,
            tokenize=False,
        )
        return text, stops

    def check_length(
        self, prompt_ids: list[int], max_new_tokens: int, what: str = "prompt"
    ) -> None:
        """InputError when the prompt plus max_new_tokens exceeds the context.

        Decoders and diffusion encoders hold prompt and completion in one
        sequence; an encoder–decoder's encoder holds the prompt and its
        decoder the completion, each up to the context length.
        """
        used = 0 if self.kind == "encdec" else len(prompt_ids)
        if used + max_new_tokens > self.max_model_len or len(prompt_ids) > self.max_model_len:
            raise InputError(
                f"{what} has {len(prompt_ids)} tokens and max_new_tokens is {max_new_tokens}: together more than "
                f"the model's context of {self.max_model_len} tokens; shorten the prompt or lower max_new_tokens"
            )

    def room(self, prompt_ids: list[int]) -> int:
        """Tokens that still fit after the prompt."""
        used = 0 if self.kind == "encdec" else len(prompt_ids)
        return self.max_model_len - used
