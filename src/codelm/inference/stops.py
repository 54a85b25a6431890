"""Text of a completion as tokens arrive: detokenization, stop strings, hold-back.

Three things need the text while it is being generated, not only at the end:
stop strings (the completion ends right before the first one), streaming
(each new piece is sent as soon as it is final) and the server's per-token
output. `TextTracker` keeps them consistent:

- **special tokens never reach the text**: their ids are dropped before
  decoding (the ids stay in `Completion.token_ids`);
- **incremental detokenization**: a byte-level BPE token can end in the
  middle of a UTF-8 character, so each step decodes a short window of ids
  and only releases text once it does not end in U+FFFD (the scheme vLLM
  and TGI use: a "prefix" window whose text is known plus the new ids);
- **hold-back**: text that could be the beginning of a stop string is not
  released until the next tokens show whether it is one. With stop "\\ndef"
  the text "x = 1\\nde" releases "x = 1" and holds "\\nde".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def special_token_ids(tokenizer: Any) -> set[int]:
    """Ids of every special token of a tokenizer (named ones and all added special tokens)."""
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids.update(i for i, tok in decoder.items() if getattr(tok, "special", False))
    return ids


def held_back(text: str, stops: Iterable[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


def find_stop(text: str, stops: Iterable[str], start: int = 0) -> int:
    """Index of the earliest stop string in `text[start:]` (as an index into `text`), or -1."""
    first = -1
    for stop in stops:
        pos = text.find(stop, start)
        if pos != -1 and (first == -1 or pos < first):
            first = pos
    return first


class TextTracker:
    """Turns a stream of token ids into final text pieces, honouring stop strings.

    `incremental=False` (no stop strings, no streaming) skips all per-step
    work and decodes once in `finish()`: the fast path for batch generation.
    """

    def __init__(
        self, tokenizer: Any, special_ids: set[int], stops: list[str], incremental: bool
    ) -> None:
        self.tokenizer = tokenizer
        self.special_ids = special_ids
        self.stops = [s for s in stops if s]
        self.incremental = incremental or bool(self.stops)
        self.max_stop = max((len(s) for s in self.stops), default=0)
        self.ids: list[int] = []  # non-special ids, the ones that make text
        self.text = ""  # decoded so far (possibly ending in held-back text)
        self.emitted = 0  # characters of `text` already released
        self.stopped = False  # a stop string matched; `text` ends before it
        self._prefix = 0  # ids[_prefix:_read] decode to text already in `text`
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def push(self, token_id: int) -> str:
        """Add one generated token; returns the newly final text (may be empty)."""
        if token_id in self.special_ids or self.stopped:
            return ""
        self.ids.append(token_id)
        if not self.incremental:
            return ""
        known = self._decode(self.ids[self._prefix : self._read])
        now = self._decode(self.ids[self._prefix :])
        if len(now) <= len(known) or now.endswith("\ufffd"):
            return ""  # an incomplete UTF-8 character: wait for the next token
        self._append(now[len(known) :])
        self._prefix, self._read = self._read, len(self.ids)
        return self._release(final=False)

    def _append(self, delta: str) -> None:
        before = len(self.text)
        self.text += delta
        if self.stops:
            # only the new text and the max_stop-1 characters before it can hold a new match
            pos = find_stop(self.text, self.stops, max(0, before - self.max_stop + 1))
            if pos != -1:
                self.text = self.text[:pos]
                self.stopped = True

    def _release(self, final: bool) -> str:
        safe = (
            len(self.text)
            if (final or self.stopped)
            else len(self.text) - held_back(self.text, self.stops)
        )
        safe = max(safe, self.emitted)
        piece = self.text[self.emitted : safe]
        self.emitted = safe
        return piece

    def finish(self) -> str:
        """Flush at the end of generation; returns the last piece. `self.text` is then final."""
        if not self.incremental:
            self.text = self._decode(self.ids)
            return self._release(final=True)
        if not self.stopped and self._read < len(self.ids):
            known = self._decode(self.ids[self._prefix : self._read])
            now = self._decode(self.ids[self._prefix :])
            self._append(now[len(known) :])
            self._read = len(self.ids)
        return self._release(final=True)
