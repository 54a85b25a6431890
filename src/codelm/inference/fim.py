"""Fill-in-the-middle prompts from a prefix and a suffix, with the checkpoint's own tokens.

Layouts (Bavarian et al. 2022; StarCoder's SPM variant), where P, S are the
prefix and suffix tokenized separately, as in training:

- PSM: `<fim_prefix> P <fim_suffix> S <fim_middle>` → the model writes the middle
- SPM: `<fim_prefix><fim_suffix> S <fim_middle> P` → the middle continues P
- sentinel (T5 span corruption, encoder–decoders): encoder input
  `P <extra_id_0> S <|endoftext|>`, decoder starts with `<extra_id_0>` and the
  middle ends at `<extra_id_1>`.

Token spellings are looked up in the tokenizer: StarCoder's `<fim_prefix>`
(codelm's own, and what Continue/Tabby send for unknown models) or the
`<|fim_prefix|>` spelling other checkpoints use. A checkpoint without FIM
tokens cannot infill, which is a one-line `InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codelm.errors import InputError
from codelm.tokenizer.special import EOS, FILE_SEP, REPO_NAME, sentinel

FIM_MODES = ("psm", "spm", "sentinel")
# (prefix, suffix, middle, pad) spellings, tried in order
_SPELLINGS = [
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>"),
]


@dataclass(frozen=True)
class FimTokens:
    """The FIM token ids (and spellings) a checkpoint uses."""

    prefix: int
    suffix: int
    middle: int
    pad: int | None
    spellings: tuple[str, str, str]
    file_sep: int | None = None
    repo_name: int | None = None

    @property
    def ids(self) -> list[int]:
        return [i for i in (self.prefix, self.suffix, self.middle, self.pad) if i is not None]


def _token_id(tokenizer: Any, token: str) -> int | None:
    vocab = tokenizer.get_vocab()
    return vocab.get(token)


def find_fim_tokens(tokenizer: Any) -> FimTokens | None:
    """The checkpoint's FIM tokens, or None when it has none."""
    for pre, suf, mid, pad in _SPELLINGS:
        ids = [_token_id(tokenizer, t) for t in (pre, suf, mid)]
        if all(i is not None for i in ids):
            return FimTokens(
                prefix=ids[0],  # type: ignore[arg-type]
                suffix=ids[1],  # type: ignore[arg-type]
                middle=ids[2],  # type: ignore[arg-type]
                pad=_token_id(tokenizer, pad),
                spellings=(pre, suf, mid),
                file_sep=_token_id(tokenizer, FILE_SEP),
                repo_name=_token_id(tokenizer, REPO_NAME),
            )
    return None


def has_fim_text(text: str, fim: FimTokens | None) -> bool:
    """True for a client-templated FIM prompt (it already spells the FIM tokens)."""
    return fim is not None and any(s in text for s in fim.spellings)


@dataclass
class InfillPrompt:
    """What the decoding loop needs for one infill: model input and where decoding starts."""

    input_ids: list[int]
    decoder_prefix: list[int] = field(
        default_factory=list
    )  # encdec: forced decoder tokens after the start token
    stop_token_ids: list[int] = field(default_factory=list)  # ids that end the middle besides EOS


def encode_plain(tokenizer: Any, text: str) -> list[int]:
    """Text → ids without any template (no BOS/EOS), special-token spellings kept as special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def repo_context_ids(
    tokenizer: Any, fim: FimTokens | None, extra: list[tuple[str, str]]
) -> list[int]:
    """Other files of the repository before the FIM prompt (llama.cpp's `input_extra`).

    Each file as `<file_sep>path\\ntext`, the StarCoder2 repository layout;
    checkpoints without `<file_sep>` get the files joined by blank lines.
    """
    ids: list[int] = []
    for name, text in extra:
        body = encode_plain(tokenizer, f"{name}\n{text}" if name else text)
        if fim is not None and fim.file_sep is not None:
            ids += [fim.file_sep, *body]
        else:
            ids += [*body, *encode_plain(tokenizer, "\n\n")]
    if ids and fim is not None and fim.file_sep is not None:
        ids.append(fim.file_sep)  # the file being edited starts after one more separator
    return ids


def build_infill(
    tokenizer: Any,
    prefix: str,
    suffix: str,
    mode: str,
    *,
    kind: str = "decoder",
    extra: list[tuple[str, str]] | None = None,
) -> InfillPrompt:
    """Token ids of an infill prompt for `mode` (psm, spm, sentinel, or auto)."""
    if mode == "auto":
        mode = "sentinel" if kind == "encdec" else "psm"
    if mode not in FIM_MODES:
        raise InputError(f"unknown infill mode '{mode}'; known: auto, {', '.join(FIM_MODES)}")
    fim = find_fim_tokens(tokenizer)
    context = repo_context_ids(tokenizer, fim, extra or [])
    P, S = encode_plain(tokenizer, prefix), encode_plain(tokenizer, suffix)
    if mode == "sentinel":
        s0, s1, eos = (_token_id(tokenizer, t) for t in (sentinel(0), sentinel(1), EOS))
        if s0 is None or s1 is None:
            raise InputError(
                "this checkpoint has no <extra_id_0> sentinel; use infill mode psm or spm"
            )
        tail = [eos] if eos is not None else []
        return InfillPrompt([*context, *P, s0, *S, *tail], decoder_prefix=[s0], stop_token_ids=[s1])
    if kind != "decoder":
        raise InputError(
            f"infill mode '{mode}' needs a decoder checkpoint; this one is {kind} (use mode sentinel)"
        )
    if fim is None:
        raise InputError(
            "this checkpoint has no FIM tokens (<fim_prefix>/<fim_suffix>/<fim_middle>); "
            "train it with the fim objective to infill"
        )
    stops = [
        t for t in (fim.prefix, fim.suffix, fim.middle, fim.pad, fim.file_sep) if t is not None
    ]
    if mode == "psm":
        ids = [*context, fim.prefix, *P, fim.suffix, *S, fim.middle]
    else:  # spm, StarCoder variant: the middle continues the prefix
        ids = [*context, fim.prefix, fim.suffix, *S, fim.middle, *P]
    return InfillPrompt(ids, stop_token_ids=stops)
