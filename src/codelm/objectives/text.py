"""Tokenizing document text for objectives: ids, and ids with character offsets.

Objectives tokenize many small pieces (FIM parts, masked chunks), so the
per-call overhead of the `transformers` wrapper matters: calling the Rust
`tokenizers` backend directly is about twice as fast on short texts and
gives the same ids (the wrapper calls the same backend). Slow (Python)
tokenizers fall back to the wrapper.
"""

from __future__ import annotations

from typing import Any


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of plain text, no special tokens added."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.encode(text, add_special_tokens=False).ids
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and each token's [start, end) character span in `text`."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        enc = backend.encode(text, add_special_tokens=False)
        return enc.ids, enc.offsets
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]


def decode(tokenizer: Any, ids: list[int]) -> str:
    """Exact text of token ids (special-token spellings kept, no clean-up)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode(list(ids), skip_special_tokens=False)
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
