from __future__ import annotations

import itertools

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from codelm.errors import ConfigError
from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, Packer, Segment, lm_loss
from codelm.objectives.clm import document_attention
from codelm.tokenizer.special import SPECIAL_TOKENS


@pytest.fixture(scope="module")
def word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer: one id per word, so expected ids are easy to write."""
    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    vocab.update({w: len(SPECIAL_TOKENS) + i for i, w in enumerate(words)})
    vocab["[UNK]"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="<pad>")


A = len(SPECIAL_TOKENS)  # id of "a"
EOS = 0


def docs_source(texts):
    def source(epoch, start):
        for text in texts[start:]:
            yield {"content": text}

    return source


def test_packer_cuts_windows_and_tracks_documents():
    packer = Packer(4)
    out = list(packer.add(Segment([1, 2, 3]))) + list(packer.add(Segment([4, 5, 6, 7, 8])))
    assert [w.ids for w in out] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert [w.extra["doc_ids"] for w in out] == [[0, 0, 0, 1], [0, 0, 0, 0]]
    assert packer.ids == []


def test_clm_stream_packs_with_eos_and_repeats_epochs(word_tokenizer):
    clm = build_objective({"name": "clm"}, word_tokenizer, "decoder", seq_len=4)
    stream = ExampleStream(clm, docs_source(["a b", "c d e"]), seed=0)
    first = [ex["input_ids"] for ex in itertools.islice(stream, 3)]
    # epoch 0: a b EOS c | d e EOS + epoch 1: a | b EOS c d
    assert first == [[A, A + 1, EOS, A + 2], [A + 3, A + 4, EOS, A], [A + 1, EOS, A + 2, A + 3]]


def test_stream_resume_is_exact(word_tokenizer):
    texts = ["a b c", "d", "e f g h a", "b c"]
    clm = build_objective({"name": "clm"}, word_tokenizer, "decoder", seq_len=3)
    full = [ex["input_ids"] for ex in itertools.islice(ExampleStream(clm, docs_source(texts), 1), 9)]
    stream = ExampleStream(clm, docs_source(texts), 1)
    head = [ex["input_ids"] for ex in itertools.islice(stream, 4)]
    state = stream.state_dict()
    resumed = ExampleStream(clm, docs_source(texts), 1)
    resumed.load_state_dict(state)
    tail = [ex["input_ids"] for ex in itertools.islice(resumed, 5)]
    assert head + tail == full


def test_empty_corpus_is_a_config_error(word_tokenizer):
    clm = build_objective({"name": "clm"}, word_tokenizer, "decoder", seq_len=4)
    with pytest.raises(ConfigError, match="found nothing to train on"):
        next(iter(ExampleStream(clm, docs_source([]), 0)))


def test_unknown_objective_and_wrong_family(word_tokenizer):
    with pytest.raises(ConfigError, match=r"objective.name: unknown objective 'clmm'; known: .*clm"):
        build_objective({"name": "clmm"}, word_tokenizer, "decoder", 4)
    with pytest.raises(ConfigError, match="does not fit the encoder family; it supports: decoder"):
        build_objective({"name": "clm"}, word_tokenizer, "encoder", 4)
    with pytest.raises(ConfigError, match="unknown config key 'document_mask'"):
        build_objective({"name": "clm", "document_mask": True}, word_tokenizer, "decoder", 4)


def test_document_attention_mask_and_positions():
    mask, pos = document_attention(torch.tensor([[0, 0, 1, 1, 1]]))
    assert pos.tolist() == [[0, 1, 0, 1, 2]]
    assert mask[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 1, 1, 1],
    ]


def test_document_masking_equals_separate_documents(word_tokenizer):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=A + 9, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, pad_token_id=1)
    model = LlamaForCausalLM(cfg).eval()
    clm = build_objective({"name": "clm", "document_masking": True}, word_tokenizer, "decoder", seq_len=6)
    example = next(iter(ExampleStream(clm, docs_source(["a b", "c d e"]), 0)))
    batch = clm.collate([example])
    packed = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"]).logits
    alone = model(input_ids=torch.tensor([[A + 2, A + 3, A + 4]])).logits
    assert torch.allclose(packed[0, 3:], alone[0], atol=1e-5)


def test_lm_loss_sum_and_count_match_hf_mean(word_tokenizer):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=A + 9, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, pad_token_id=1)
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.tensor([[A, A + 1, A + 2, EOS], [A + 3, A + 4, 1, 1]])
    labels = ids.masked_fill(ids == 1, IGNORE_INDEX)
    batch = {"input_ids": ids, "attention_mask": (ids != 1).long(), "labels": labels}
    out = lm_loss(model, batch, "decoder")
    assert out.num_targets.item() == 4  # 3 targets in row 0, 1 in row 1
    hf = model(**batch).loss
    assert torch.allclose(out.loss_sum / out.num_targets, hf, atol=1e-6)
