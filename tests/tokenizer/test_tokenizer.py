from __future__ import annotations

import itertools
import json
import re

import pytest

from codelm.errors import ConfigError, InputError
from codelm.tokenizer import (
    encode_stats,
    load_tokenizer,
    roundtrip_ok,
    save_tokenizer,
    train_tokenizer,
)
from codelm.tokenizer.special import SPECIAL_TOKENS

# The id contract, spelled out: changing it breaks every checkpoint.
PINNED_IDS = {
    "<|endoftext|>": 0,
    "<pad>": 1,
    "<mask>": 2,
    "<cls>": 3,
    "<sep>": 4,
    "<fim_prefix>": 5,
    "<fim_middle>": 6,
    "<fim_suffix>": 7,
    "<fim_pad>": 8,
    "<file_sep>": 9,
    "<repo_name>": 10,
    "<commit_before>": 11,
    "<commit_msg>": 12,
    "<commit_after>": 13,
    "[NLU]": 14,
    "[NLG]": 15,
    "[S2S]": 16,
    "<extra_id_0>": 17,
    "<extra_id_1>": 18,
    "<extra_id_50>": 67,
    "<extra_id_99>": 116,
}

TRICKY = [
    "",
    "x",
    "def f(x):\n    return x\n",
    "if a:\r\n\tb = 1\r\n",  # CRLF and tabs
    "trailing   \n\n\n   \n",
    "  leading spaces and . punctuation ,spaces",
    "é 中文 😀 \u200b \x00 \x7f",  # multi-byte, zero-width, NUL, DEL
    "literal <|endoftext|> and <fim_prefix>x<fim_suffix>y<fim_middle> inside code",
    "<pad><pad><mask>",
    "1234567890 3.14e-10 0x1F",
    "a" * 5000,
    " " * 300 + "\n" + "\t" * 40,
]


def test_special_tokens_pinned_and_single(tokenizer):
    for token, want in PINNED_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == want
    for i, token in enumerate(SPECIAL_TOKENS):
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert ids == [i], token
    assert len(SPECIAL_TOKENS) == 117
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id) == (0, 1, 2)
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id) == (3, 4, 0)
    assert len(tokenizer) == 1000
    # Encoding adds nothing on its own: objectives place special tokens themselves.
    assert tokenizer("a")["input_ids"] == tokenizer("a", add_special_tokens=False)["input_ids"]


def test_special_spelling_can_be_encoded_as_text(tokenizer):
    text = "x<fim_middle>y"
    assert 6 in tokenizer(text)["input_ids"]
    plain = tokenizer(text, split_special_tokens=True)["input_ids"]
    assert 6 not in plain and all(i >= 117 for i in plain)
    assert tokenizer.decode(plain) == text


def test_roundtrip_tricky_strings(tokenizer):
    for text in TRICKY:
        assert roundtrip_ok(tokenizer, text), repr(text[:40])
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_roundtrip_stdlib_sample(tokenizer, stdlib_split):
    _, held = stdlib_split
    assert len(held) == 100
    stats = encode_stats(tokenizer, [(str(i), t) for i, t in enumerate(held)])
    assert stats.documents == 100 and stats.roundtrip_failures == 0 and stats.failed == []
    assert stats.bytes == sum(len(t.encode("utf-8")) for t in held)
    assert stats.bytes_per_token == stats.bytes / stats.tokens


def test_pre_tokenization_rules():
    from tokenizers import Regex, pre_tokenizers

    from codelm.tokenizer.pretokenize import CODE_PATTERN

    split = pre_tokenizers.Split(Regex(CODE_PATTERN), behavior="isolated")
    text = 'class A_b:\n    def f(self, x=12):\n\n        return x  # ok\n\tz = "é"\r\n'
    pieces = [p for p, _ in split.pre_tokenize_str(text)]
    assert pieces == [
        "class", " A_b", ":\n    ",  # end of line + newline + next indentation: one piece
        "def", " f", "(", "self", ", ", "x", "=",
        "1", "2",  # digits one by one
        "):\n\n        ",
        "return", " x", " ", " # ", "ok",
        "\n\t",  # newline + tab indentation
        "z", " = ", '"', "é", '"', "\r\n",
    ]
    assert "".join(pieces) == text


def test_digits_are_single_tokens(tokenizer):
    ids = tokenizer("90210", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["9", "0", "2", "1", "0"]


def test_offsets_tile_the_text(tokenizer):
    text = "def add(a, b):\n    return a + b  # sum\n"
    enc = tokenizer(text, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    assert offsets[0][0] == 0 and offsets[-1][1] == len(text)
    assert all(prev[1] == cur[0] for prev, cur in itertools.pairwise(offsets))
    pieces = [text[s:e] for s, e in offsets]
    assert "".join(pieces) == text
    # a token never mixes identifier characters with punctuation or newlines
    word_pieces = [p for p in pieces if any(c.isalpha() for c in p)]
    assert word_pieces and all(re.fullmatch(r" ?[A-Za-z_]+", p) for p in word_pieces)


def test_save_load_with_auto_tokenizer(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tokenizer, tmp_path / "tok")
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert config["clean_up_tokenization_spaces"] is False
    plain = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    text = "x = 1  # note .\n"
    assert plain(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert plain.decode(plain(text)["input_ids"]) == text
    assert plain.convert_tokens_to_ids("<extra_id_99>") == 116
    assert load_tokenizer(tmp_path / "tok").get_vocab() == tokenizer.get_vocab()


def test_training_is_deterministic_and_code_aware_compresses_better(stdlib_split, tokenizer):
    train, held = stdlib_split
    again = train_tokenizer(train, 1000)
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    plain = train_tokenizer(train, 1000, code_aware=False)
    docs = [(str(i), t) for i, t in enumerate(held)]
    ours, gpt2 = encode_stats(tokenizer, docs), encode_stats(plain, docs)
    assert ours.bytes_per_token > gpt2.bytes_per_token
    assert gpt2.roundtrip_failures == 0


def test_errors():
    with pytest.raises(ConfigError, match="at least 373"):
        train_tokenizer(["x"], 300)


def test_load_rejects_non_tokenizer_dir(tmp_path):
    with pytest.raises(InputError, match=r"no tokenizer\.json"):
        load_tokenizer(tmp_path)


def test_load_strict_rejects_foreign_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "<pad>": 2}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel()
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>").save_pretrained(str(tmp_path))
    with pytest.raises(InputError, match=r"has '<\|endoftext\|>' at id None, expected 0"):
        load_tokenizer(tmp_path)
    assert load_tokenizer(tmp_path, strict=False).pad_token_id == 2
