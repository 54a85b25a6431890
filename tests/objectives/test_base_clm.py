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


REPO_NAME, FILE_SEP = 10, 9


def test_repo_level_packing_layout(word_tokenizer):
    clm = build_objective({"name": "clm", "repo_level": True}, word_tokenizer, "decoder", seq_len=64)
    rows = [{"repo": "a", "path": "b", "content": "c d"}, {"repo": "a", "path": "e", "content": "f"},
            {"repo": "g", "path": "h", "content": "a"}]
    stream = ExampleStream(clm, docs_source_rows(rows), seed=0)
    repos = list(stream.source(0, 0))
    assert [r["repo"] for r in repos] == ["a", "g"]
    ids = next(clm.encode(repos[0], None)).ids
    # <repo_name>a<file_sep>b\nc d<file_sep>e\nf<|endoftext|>  (the word tokenizer drops whitespace)
    assert ids == [REPO_NAME, A, FILE_SEP, A + 1, A + 2, A + 3, FILE_SEP, A + 4, A + 5, EOS]
    assert list(stream.source(0, 1)) == repos[1:]  # resume by repository index


def test_repo_level_splits_huge_repositories(word_tokenizer):
    from codelm.objectives.clm import group_by_repo

    rows = [{"repo": "r", "path": str(i), "content": "a b c d"} for i in range(5)]
    groups = list(group_by_repo(docs_source_rows(rows), max_chars=15)(0, 0))
    assert [len(g["files"]) for g in groups] == [2, 2, 1]
    assert all(g["repo"] == "r" for g in groups)


def docs_source_rows(rows):
    def source(epoch, start):
        yield from rows[start:]

    return source


def test_packer_push_and_cut_of_varying_lengths():
    packer = Packer(4)
    packer.push(Segment([1, 2, 3]))
    packer.push(Segment([4, 5]))
    assert len(packer) == 5
    first = packer.cut(2)
    assert first.ids == [1, 2] and first.extra["doc_ids"] == [0, 0]
    second = packer.cut(3)
    assert second.ids == [3, 4, 5] and second.extra["doc_ids"] == [0, 1, 1]


def test_reduce_metrics_divides_summed_pairs():
    from codelm.objectives.base import add_metric, reduce_metrics

    a, b = {}, {}
    add_metric(a, "acc", torch.tensor(3.0), 4)
    add_metric(b, "acc", torch.tensor(1.0), 4)
    assert reduce_metrics([a, b]) == {"acc": 0.5}


def test_mixture_stream_is_deterministic_exact_on_resume_and_names_are_unique(word_tokenizer):
    from codelm.objectives import MixtureStream, build_objectives

    specs = [{"name": "clm", "weight": 3}, {"name": "clm", "label": "clm_masked", "document_masking": True, "weight": 1}]
    objectives, weights = build_objectives(specs, word_tokenizer, "decoder", 3)
    assert [o.name for o in objectives] == ["clm", "clm_masked"] and weights == [3, 1]
    texts = ["a b c", "d e", "f g h a b"]
    mix = MixtureStream(objectives, weights, docs_source(texts), seed=5)
    assert [mix.choose(s).name for s in range(20)] == [mix.choose(s).name for s in range(20)]
    shares = mix.shares(4000)
    assert abs(shares["clm"] - 0.75) < 0.03
    full = [ex["input_ids"] for s in range(6) for ex in mix.take(mix.choose(s).name, 2)]
    again = MixtureStream(objectives, weights, docs_source(texts), seed=5)
    head = [ex["input_ids"] for s in range(3) for ex in again.take(again.choose(s).name, 2)]
    resumed = MixtureStream(objectives, weights, docs_source(texts), seed=5)
    resumed.load_state_dict(again.state_dict())
    tail = [ex["input_ids"] for s in range(3, 6) for ex in resumed.take(resumed.choose(s).name, 2)]
    assert head + tail == full
    with pytest.raises(ConfigError, match="listed twice; give each entry a distinct `label`"):
        build_objectives([{"name": "clm"}, {"name": "clm"}], word_tokenizer, "decoder", 3)
    with pytest.raises(ConfigError, match=r"objectives.1.name: unknown objective 'clmm'"):
        build_objectives([{"name": "clm"}, {"name": "clmm"}], word_tokenizer, "decoder", 3)


def test_shuffle_buffer_mixes_windows_and_resumes_exactly(word_tokenizer):
    texts = [" ".join("abcdefgh"[(i + j) % 8] for j in range(30)) for i in range(6)]
    clm = build_objective({"name": "clm"}, word_tokenizer, "decoder", seq_len=4)
    ordered = [ex["input_ids"] for ex in itertools.islice(ExampleStream(clm, docs_source(texts), 3), 40)]
    stream = ExampleStream(clm, docs_source(texts), 3, shuffle_buffer=16)
    shuffled = [ex["input_ids"] for ex in itertools.islice(stream, 40)]
    assert shuffled != ordered[: len(shuffled)]
    # windows of later documents are drawn among the first 16
    assert any(w in [ex for ex in ordered[30:40]] for w in shuffled[:16])
    # resume at every position, including mid-draw (pool above the buffer size)
    full = [ex["input_ids"] for ex in itertools.islice(ExampleStream(clm, docs_source(texts), 3, 16), 70)]
    for cut in range(0, 50, 3):
        stream = ExampleStream(clm, docs_source(texts), 3, shuffle_buffer=16)
        head = [ex["input_ids"] for ex in itertools.islice(stream, cut)]
        resumed = ExampleStream(clm, docs_source(texts), 3, shuffle_buffer=16)
        resumed.load_state_dict(stream.state_dict())
        assert head + [ex["input_ids"] for ex in itertools.islice(resumed, 70 - cut)] == full, cut
