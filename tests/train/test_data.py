"""The data path: cheap exact skipping, shuffling, rank slicing, and the consumed-position tag."""

from __future__ import annotations

import itertools

import pytest

from codelm.objectives import MixtureStream, build_objective
from codelm.tokenizer import load_tokenizer
from codelm.train.data import BatchProducer, CorpusSource, StepBatcher, count_tokens


def _paths(docs) -> list[str]:
    return [d["path"] for d in docs]


@pytest.mark.parametrize("shuffle", [False, True])
def test_source_start_skips_exactly(tiny_assets, shuffle):
    source = CorpusSource(tiny_assets["corpus"], "train", shuffle=shuffle, seed=3)
    full = _paths(source(0, 0))
    assert len(full) == len(source) == 120 and len(set(full)) == 120
    for start in (1, 49, 50, 51, 119):  # shards hold 50 rows: across row-group boundaries
        assert _paths(source(0, start)) == full[start:]


def test_shuffle_is_seeded_per_epoch(tiny_assets):
    a = CorpusSource(tiny_assets["corpus"], "train", shuffle=True, seed=3)
    b = CorpusSource(tiny_assets["corpus"], "train", shuffle=True, seed=3)
    plain = _paths(CorpusSource(tiny_assets["corpus"], "train")(0, 0))
    assert _paths(a(0, 0)) == _paths(b(0, 0)) != plain
    assert _paths(a(1, 0)) != _paths(a(0, 0))
    assert sorted(_paths(a(1, 0))) == sorted(plain)


def test_shard_mode_splits_positions_between_ranks(tiny_assets):
    full = _paths(CorpusSource(tiny_assets["corpus"], "train", shuffle=True, seed=1)(0, 0))
    ranks = [CorpusSource(tiny_assets["corpus"], "train", shuffle=True, seed=1, rank=r, world=2) for r in (0, 1)]
    assert [_paths(src(0, 0)) for src in ranks] == [full[0::2], full[1::2]]
    assert _paths(ranks[1](0, 7)) == full[1::2][7:]


def _mix(tiny_assets, seq_len=32):
    tokenizer = load_tokenizer(tiny_assets["tokenizer"])
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", seq_len)
    return MixtureStream([clm], [1.0], CorpusSource(tiny_assets["corpus"], "train"), seed=0)


def test_rank_slices_of_the_global_batch_rebuild_the_single_process_batch(tiny_assets):
    one = StepBatcher(_mix(tiny_assets), micro_batch_size=4, grad_accum=2, family="decoder").build(0)
    parts = [
        StepBatcher(_mix(tiny_assets), micro_batch_size=2, grad_accum=2, family="decoder", rank=r, world=2).build(0)
        for r in (0, 1)
    ]
    for m in range(2):
        rows = one.micro_batches[m]["input_ids"].tolist()
        assert parts[0].micro_batches[m]["input_ids"].tolist() + parts[1].micro_batches[m]["input_ids"].tolist() == rows
    assert one.targets == parts[0].targets + parts[1].targets == 2 * 4 * 31  # packed windows: T-1 targets each
    assert one.tokens == 2 * 4 * 32 == count_tokens(one.micro_batches[0], "decoder") * 2


def test_producer_tags_each_batch_with_the_position_after_it(tiny_assets):
    reference = StepBatcher(_mix(tiny_assets), micro_batch_size=3, grad_accum=1, family="decoder")
    expected = [reference.build(i) for i in range(4)]
    producer = BatchProducer(StepBatcher(_mix(tiny_assets), micro_batch_size=3, grad_accum=1, family="decoder"), 0, prefetch=3)
    try:
        got = [producer.get() for _ in range(4)]
    finally:
        producer.close()
    for want, have in zip(expected, got, strict=True):
        assert have.step == want.step
        assert have.state == want.state  # not the state of the prefetched batches
        assert have.micro_batches[0]["input_ids"].tolist() == want.micro_batches[0]["input_ids"].tolist()
    # Resuming from batch 1's tag continues with batch 2.
    resumed = _mix(tiny_assets)
    resumed.load_state_dict(got[1].state)
    again = StepBatcher(resumed, micro_batch_size=3, grad_accum=1, family="decoder").build(2)
    assert again.micro_batches[0]["input_ids"].tolist() == expected[2].micro_batches[0]["input_ids"].tolist()


def test_producer_reraises_errors_in_the_consumer(tiny_assets, tmp_path):
    from codelm.data.corpus import write_corpus
    from codelm.errors import ConfigError

    write_corpus({"train": []}, tmp_path / "empty")
    tokenizer = load_tokenizer(tiny_assets["tokenizer"])
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", 32)
    mix = MixtureStream([clm], [1.0], CorpusSource(tmp_path / "empty", "train"), seed=0)
    producer = BatchProducer(StepBatcher(mix, micro_batch_size=2, grad_accum=1, family="decoder"), 0, prefetch=2)
    try:
        with pytest.raises(ConfigError, match="found nothing to train on"):
            producer.get()
    finally:
        producer.close()
    assert list(itertools.islice(CorpusSource(tmp_path / "empty", "train")(0, 0), 1)) == []

