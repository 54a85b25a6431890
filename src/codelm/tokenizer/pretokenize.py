"""Code-aware pre-tokenization: where BPE is allowed to merge.

BPE only merges inside the pieces the pre-tokenizer cuts, so this regex
decides what a token can be. GPT-2's byte-level pattern was made for prose;
on code it splits `snake_case` at every underscore, keeps digit runs whole
(so each number becomes its own opaque token), and spends a token on the
newline and another on the indentation of almost every line.

Our pattern (Oniguruma syntax, as `tokenizers.Regex` compiles it), tried
left to right at each position:

1. ` ?[\\p{L}\\p{M}_]+`   a word or identifier; `_` counts as a letter so
   `__init__` and `max_len` are single pieces.
2. ` ?\\p{N}`             one digit: numbers are spelled digit by digit
   (as in Llama and StarCoder), so `1234` and `1243` share their tokens.
3. ` ?[^\\s\\p{L}\\p{M}\\p{N}_]+(?:\\r?\\n)*[ \\t]*(?=\\S)`
                          a run of punctuation, then any newlines and the
   next line's indentation, when code follows: `):\\n        ` is one piece,
   so the end of a line, the line break and the new indentation usually cost
   one token together. This is the "indentation is cheap" rule; on the
   standard library it is worth about 10% fewer tokens at 32k vocab (see
   docs/BENCHMARKS.md).
4. `(?:\\r?\\n)+[ \\t]*`    newlines plus the indentation that follows (a
   line that ends in a word).
5. ` ?[^\\s\\p{L}\\p{M}\\p{N}_]+`  punctuation not followed by code.
6. `[ \\t]+(?!\\S)`        runs of spaces/tabs (alignment, trailing blanks);
   the last blank before a word goes with the word, as in GPT-2.
7. `\\s+`                 any other whitespace (form feeds, lone `\\r`).

Every character falls in some alternative, so the pieces always concatenate
back to the input, and the byte-level stage after the split maps every byte
to a printable symbol: decoding is exact for any text (no unknown tokens,
no normalisation).
"""

from __future__ import annotations

from typing import Any

_LETTER = r"\p{L}\p{M}_"
_PUNCT = rf"[^\s{_LETTER}\p{{N}}]"

CODE_PATTERN = "|".join(
    [
        rf" ?[{_LETTER}]+",
        r" ?\p{N}",
        rf" ?{_PUNCT}+(?:\r?\n)*[ \t]*(?=\S)",
        r"(?:\r?\n)+[ \t]*",
        rf" ?{_PUNCT}+",
        r"[ \t]+(?!\S)",
        r"\s+",
    ]
)


def build_pre_tokenizer(code_aware: bool = True) -> Any:
    """The pre-tokenizer: our code pattern, or GPT-2's plain byte-level one.

    `code_aware=False` is the baseline the benchmark compares against: the
    same byte-level BPE with GPT-2's regex (what `ByteLevelBPETokenizer`
    does).
    """
    from tokenizers import Regex, pre_tokenizers

    if not code_aware:
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CODE_PATTERN), behavior="isolated"),
            # The split already happened; ByteLevel only maps bytes to symbols.
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
