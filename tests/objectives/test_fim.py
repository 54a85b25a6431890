from __future__ import annotations

import itertools

import pytest
import torch

from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, Segment, lm_loss, make_rng, stable_hash
from codelm.objectives.fim import cut_points, split_pieces
from codelm.objectives.text import decode

PRE, MID, SUF, PAD, EOS = 5, 6, 7, 8, 0  # ids fixed by SPECIAL_TOKENS


def reassemble(tok, ids: list[int]) -> str:
    """The document a FIM sample came from: PSM → P + M + S, SPM → (P M) + S."""
    assert ids[-1] == EOS and ids[0] == PRE
    body = ids[1:-1]
    if body[0] == SUF:  # SPM: <pre><suf> S <mid> P M
        mid = body.index(MID)
        return decode(tok, body[mid + 1:]) + decode(tok, body[1:mid])
    suf, mid = body.index(SUF), body.index(MID)  # PSM: <pre> P <suf> S <mid> M
    return decode(tok, body[:suf]) + decode(tok, body[mid + 1:]) + decode(tok, body[suf + 1:mid])


@pytest.mark.parametrize(("fim_rate", "spm_rate", "n"), [(0.5, 0.5, 12_000), (0.9, 0.2, 3_000)])
def test_fim_and_spm_rates_on_stdlib_snippets(tokenizer, snippets, fim_rate, spm_rate, n):
    fim = build_objective({"name": "fim", "fim_rate": fim_rate, "spm_rate": spm_rate}, tokenizer, "decoder", 64)
    salt = stable_hash("fim")
    modes = []
    for i, doc in enumerate(snippets[:n]):
        mode, ids = fim.rearrange(doc["content"], make_rng(0, salt, 0, i))
        modes.append(mode)
        if mode != "none":  # every sample reassembles to its document
            assert reassemble(tokenizer, [*ids, EOS]) == doc["content"]
    rate = sum(m != "none" for m in modes) / n
    spm_share = modes.count("spm") / sum(m != "none" for m in modes)
    assert abs(rate - fim_rate) <= 0.02
    assert abs(spm_share - spm_rate) <= 0.02


def test_encode_uses_the_document_rng_and_appends_eos(tokenizer, snippets):
    fim = build_objective({"name": "fim", "fim_rate": 1.0, "spm_rate": 0.0}, tokenizer, "decoder", 64)
    doc = snippets[3]
    segment = next(fim.encode(doc, make_rng(1, 2, 3)))
    mode, ids = fim.rearrange(doc["content"], make_rng(1, 2, 3))
    assert mode == "psm" and segment.ids == [*ids, EOS]
    assert segment.ids.count(PRE) == segment.ids.count(SUF) == segment.ids.count(MID) == 1


def _after_first(rng):
    rng.random()  # the FIM / no-FIM draw comes first
    return rng


def test_spm_layout_is_the_starcoder_variant(char_tokenizer):
    tok = char_tokenizer
    fim = build_objective({"name": "fim", "fim_rate": 1.0, "spm_rate": 1.0}, tok, "decoder", 64)
    text = "abcdefgh"
    lo, hi = cut_points(len(text), _after_first(make_rng(5)))
    mode, ids = fim.rearrange(text, make_rng(5))
    assert mode == "spm"
    # <fim_prefix><fim_suffix> S <fim_middle> P M
    assert ids == [PRE, SUF, *chars(text[hi:]), MID, *chars(text[:lo]), *chars(text[lo:hi])]


def test_psm_layout(char_tokenizer):
    fim = build_objective({"name": "fim", "fim_rate": 1.0, "spm_rate": 0.0}, char_tokenizer, "decoder", 64)
    text = "abcdefgh"
    lo, hi = cut_points(len(text), _after_first(make_rng(9)))
    assert (lo, hi) != (0, 0)
    mode, ids = fim.rearrange(text, make_rng(9))
    assert mode == "psm"
    assert ids == [PRE, *chars(text[:lo]), SUF, *chars(text[hi:]), MID, *chars(text[lo:hi])]


def test_cut_points_are_uniform_over_len_plus_one():
    rng = make_rng(0)
    counts = [0] * 4  # len 3: cut points 0..3
    for _ in range(20_000):
        lo, hi = cut_points(3, rng)
        assert 0 <= lo <= hi <= 3
        counts[lo] += 1
        counts[hi] += 1
    shares = [c / 40_000 for c in counts]
    assert all(abs(s - 0.25) < 0.01 for s in shares)


def test_context_level_fim_pads_with_fim_pad_and_never_trains_on_it(tokenizer, snippets, make_model, source_of):
    seq_len = 128
    fim = build_objective({"name": "fim", "fim_rate": 1.0, "level": "context"}, tokenizer, "decoder", seq_len)
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", seq_len)
    docs = snippets[:200]
    fim_examples = list(itertools.islice(ExampleStream(fim, source_of(docs), 0), 40))
    clm_examples = list(itertools.islice(ExampleStream(clm, source_of(docs), 0), 40))
    for ex, plain in zip(fim_examples, clm_examples, strict=True):
        ids, labels = ex["input_ids"], ex["labels"]
        assert len(ids) == len(labels) == seq_len
        for i, tid in enumerate(ids):
            if tid == PAD:
                assert labels[i] == IGNORE_INDEX
        # every whole document in the window reassembles to the same text as before FIM
        pieces_fim = list(split_pieces(ids, ex["doc_ids"]))
        pieces_plain = list(split_pieces(plain["input_ids"], plain["doc_ids"]))
        for a, b in zip(pieces_fim[1:-1], pieces_plain[1:-1], strict=False):
            if a[0] == PRE and a[-1] == EOS:
                assert reassemble(tokenizer, a) == decode(tokenizer, b[:-1])
    # Re-tokenised parts are longer (three FIM tokens more), so stream windows
    # get cut. A window whose tokens re-encode shorter (spelled character by
    # character here) must be padded with <fim_pad>, which is never a target.
    text = "def function_name(argument):\n    return argument + 1\n"
    spelled = [tid for ch in text for tid in tokenizer(ch, add_special_tokens=False)["input_ids"]]
    ids = [*spelled[: seq_len - 1], EOS]
    window = Segment(ids, extra={"doc_ids": [0] * len(ids)})
    example = fim.finish(window, make_rng(0))
    assert len(example["input_ids"]) == seq_len and example["input_ids"][-1] == PAD
    pads = [i for i, t in enumerate(example["input_ids"]) if t == PAD]
    assert pads and all(example["labels"][i] == IGNORE_INDEX for i in pads)
    batch = fim.collate([example, *fim_examples[:3]])
    assert not (batch["labels"][:, 1:] == PAD).any()
    model = make_model("decoder", len(tokenizer))
    out = lm_loss(model, batch, "decoder")
    assert out.num_targets.item() == int((batch["input_ids"][:, 1:] != PAD).sum())
    assert torch.isfinite(out.loss_sum)


def test_document_level_repo_fim_rearranges_each_file(tokenizer, source_of):
    fim = build_objective({"name": "fim", "fim_rate": 1.0, "repo_level": True}, tokenizer, "decoder", 64)
    rows = [{"repo": "r", "path": "a.py", "content": "x = 1\n"}, {"repo": "r", "path": "b.py", "content": "y = 2\n"}]
    stream = ExampleStream(fim, source_of(rows), 0)
    doc = next(stream.source(0, 0))
    ids = next(fim.encode(doc, make_rng(0))).ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<repo_name>")
    assert ids.count(tokenizer.convert_tokens_to_ids("<file_sep>")) == 2
    assert ids.count(PRE) == 2 and ids[-1] == EOS


FIRST = 117  # id of "a" in the character tokenizer


def chars(text: str) -> list[int]:
    return [FIRST + "abcdefgh".index(c) for c in text]


@pytest.fixture(scope="module")
def char_tokenizer():
    """One id per character a..h, so expected ids are easy to write."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from codelm.tokenizer.special import SPECIAL_TOKENS

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    vocab.update({c: FIRST + i for i, c in enumerate("abcdefgh")})
    vocab["[UNK]"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="<pad>")
    wrapped.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    return wrapped
