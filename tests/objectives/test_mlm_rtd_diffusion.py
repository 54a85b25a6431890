from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from codelm.objectives import ExampleStream, build_objective
from codelm.objectives.base import IGNORE_INDEX, Packer, make_rng, reduce_metrics
from codelm.objectives.diffusion import diffusion_generate, infill_template
from codelm.objectives.masking import identifier_units, select_positions
from codelm.objectives.text import decode
from codelm.tokenizer.special import NUM_SPECIAL

MASK = 2


def test_mlm_80_10_10_on_stdlib(tokenizer, snippets, source_of):
    mlm = build_objective({"name": "mlm"}, tokenizer, "encoder", seq_len=512)
    plain = build_objective({"name": "clm"}, tokenizer, "decoder", seq_len=512)
    docs = snippets[:3000]
    masked = list(itertools.islice(ExampleStream(mlm, source_of(docs), 0), 250))
    originals = list(itertools.islice(ExampleStream(plain, source_of(docs), 0), 250))
    chosen = shown_mask = shown_random = shown_same = candidates = 0
    for ex, orig in zip(masked, originals, strict=True):
        ids, labels, raw = np.array(ex["input_ids"]), np.array(ex["labels"]), np.array(orig["input_ids"])
        sel = labels != IGNORE_INDEX
        assert (labels[sel] == raw[sel]).all()
        assert (raw[sel] >= NUM_SPECIAL).all()  # special tokens are never chosen
        assert (ids[~sel] == raw[~sel]).all()
        chosen += sel.sum()
        candidates += (raw >= NUM_SPECIAL).sum()
        shown_mask += (ids[sel] == MASK).sum()
        shown_same += (ids[sel] == raw[sel]).sum()
        shown_random += ((ids[sel] != MASK) & (ids[sel] != raw[sel])).sum()
        assert (ids[sel][ids[sel] != MASK] >= NUM_SPECIAL).all()  # random tokens are ordinary ones
    assert chosen > 15_000
    assert abs(chosen / candidates - 0.15) <= 0.005
    # a random token equal to the original counts as "same" (1/900 of the random ones)
    assert abs(shown_mask / chosen - 0.8) <= 0.01
    assert abs(shown_random / chosen - 0.1) <= 0.01
    assert abs(shown_same / chosen - 0.1) <= 0.01


def test_whole_identifier_masking_masks_every_subtoken(tokenizer, snippets):
    mlm = build_objective({"name": "mlm", "whole_identifier": True}, tokenizer, "encoder", seq_len=256)
    packer = Packer(mlm.window_len())
    windows = []
    for i, doc in enumerate(snippets[:400]):
        windows.extend(packer.add(next(mlm.encode(doc, make_rng(0, i)))))
    multi = whole = chosen_total = candidates = 0
    for w, window in enumerate(windows):
        ex = mlm.finish(window, make_rng(1, w))
        labels = np.array(ex["labels"])
        units = mlm.window_units(window)
        for unit in np.unique(units[units >= 0]):
            positions = np.flatnonzero(units == unit)
            picked = labels[positions] != IGNORE_INDEX
            assert picked.all() or not picked.any()  # all sub-tokens together, or none
            if len(positions) > 1:
                multi += 1
                whole += picked.all()
        chosen_total += (labels != IGNORE_INDEX).sum()
        candidates += (np.array(window.ids) >= NUM_SPECIAL).sum()
    assert multi > 500 and whole > 50  # many identifiers span several tokens, and some were masked
    assert abs(chosen_total / candidates - 0.15) <= 0.01


def test_identifier_units_cover_identifier_tokens(tokenizer):
    text = "def max_len(items):\n    longest_item = 0\n    return longest_item\n"
    ids, units = identifier_units(tokenizer, text, "python")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert ids == enc["input_ids"]
    pieces: dict[int, str] = {}
    for (start, end), unit in zip(enc["offset_mapping"], units, strict=True):
        if unit >= 0:
            pieces[unit] = pieces.get(unit, "") + text[start:end]
    names = sorted(p.strip() for p in pieces.values())
    assert names == ["items", "longest_item", "longest_item", "max_len"]
    # a language without a grammar falls back to token masking
    assert set(identifier_units(tokenizer, "plain words", "markdown")[1]) == {-1}


def test_unit_selection_never_overshoots_the_budget():
    candidates = np.ones(20, dtype=bool)
    units = np.array([0] * 6 + [1] * 6 + [-1] * 8)
    for seed in range(50):
        chosen = select_positions(candidates, units, 0.15, make_rng(seed))  # budget 3
        assert chosen.sum() <= 3
        assert not chosen[:12].any()  # a 6-token unit never fits a budget of 3


def test_mlm_config_errors(tokenizer):
    from codelm.errors import ConfigError

    with pytest.raises(ConfigError, match="mask_token_rate \\+ random_token_rate must be at most 1"):
        build_objective({"name": "mlm", "mask_token_rate": 0.9, "random_token_rate": 0.2}, tokenizer, "encoder", 64)
    with pytest.raises(ConfigError, match="does not fit the decoder family; it supports: encoder"):
        build_objective({"name": "mlm"}, tokenizer, "decoder", 64)


def test_rtd_generator_is_small_and_joint(tokenizer, snippets, make_model, source_of):
    rtd = build_objective({"name": "rtd"}, tokenizer, "encoder", seq_len=64)
    model = make_model("encoder", len(tokenizer))
    with pytest.raises(TypeError, match="call auxiliary_modules\\(model\\)"):
        rtd.auxiliary_modules()
    aux = rtd.auxiliary_modules(model)
    assert set(aux) == {"generator", "rtd_head"}
    assert aux["generator"].config.hidden_size == 8  # a quarter of 32
    assert rtd.auxiliary_modules() is aux
    examples = list(itertools.islice(ExampleStream(rtd, source_of(snippets), 0), 4))
    for ex in examples:
        masked = np.array(ex["labels"]) != IGNORE_INDEX
        assert (np.array(ex["input_ids"])[masked] == MASK).all()  # ELECTRA: every chosen token masked
    batch = rtd.collate(examples)
    out = rtd.loss(model, batch)
    out.loss_sum.backward()
    assert out.num_targets.item() == 4 * 64
    assert aux["generator"].get_input_embeddings().weight.grad is not None
    assert aux["rtd_head"].out.weight.grad is not None
    assert model.get_input_embeddings().weight.grad is not None
    metrics = reduce_metrics([out.metrics])
    chosen_share = (batch["labels"] != IGNORE_INDEX).float().mean().item()
    assert 0 < metrics["replaced_share"] <= chosen_share  # a sample equal to the original is not "replaced"
    # the total is the generator's mean plus λ times the discriminator's, per token
    expected = metrics["generator_loss"] + 50 * metrics["discriminator_loss"]
    got = out.loss_sum.item() / out.num_targets.item()
    assert abs(got - expected) / expected < 0.02  # equal up to masked count vs 15% of tokens


def test_diffusion_masks_at_level_t_and_weights_by_one_over_t(tokenizer, snippets, make_model, source_of):
    diff = build_objective({"name": "diffusion"}, tokenizer, "encoder", seq_len=256)
    examples = list(itertools.islice(ExampleStream(diff, source_of(snippets), 0), 400))
    ts = np.array([ex["t"] for ex in examples])
    fractions = np.array([np.mean(np.array(ex["labels"]) != IGNORE_INDEX) for ex in examples])
    assert abs(ts.mean() - 0.5) < 0.04 and ts.min() >= 1e-3
    assert np.corrcoef(ts, fractions)[0, 1] > 0.98
    assert np.abs(fractions - ts).mean() < 0.05
    model = make_model("encoder", len(tokenizer))
    batch = diff.collate(examples[:4])
    out = diff.loss(model, batch)
    logits = model(input_ids=batch["input_ids"]).logits
    manual = 0.0
    for b in range(4):
        sel = batch["labels"][b] != IGNORE_INDEX
        ce = torch.nn.functional.cross_entropy(logits[b][sel], batch["labels"][b][sel], reduction="sum")
        manual += ce.item() / examples[b]["t"]
    assert abs(out.loss_sum.item() - manual) < 1e-3 * manual
    assert out.num_targets.item() == 4 * 256


@pytest.mark.slow
def test_diffusion_sampler_recovers_a_memorised_sequence(tokenizer):
    """Train a tiny encoder on one snippet, then generate it from all masks in K steps.

    A BERT (absolute positions): from a canvas of identical `<mask>` tokens a
    RoPE-only encoder has nothing that tells positions apart.
    """
    from transformers import BertConfig, BertForMaskedLM

    from codelm.objectives.base import Segment

    text = "def add(a, b):\n    return a + b\n"
    ids = [3, *tokenizer(text, add_special_tokens=False)["input_ids"]]  # <cls> + code
    diff = build_objective({"name": "diffusion"}, tokenizer, "encoder", seq_len=len(ids))
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, pad_token_id=1))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    window = Segment(list(ids), extra={"doc_ids": [0] * len(ids)})
    for step in range(80):
        out = diff.loss(model, diff.collate([diff.finish(window, make_rng(step, i)) for i in range(16)]))
        (out.loss_sum / out.num_targets).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    steps = 4
    canvas = [3] + [MASK] * (len(ids) - 1)
    generated, per_step = diffusion_generate(model, canvas, MASK, steps=steps)
    n = len(ids) - 1
    assert per_step == [int(np.ceil(n * (k + 1) / steps)) - int(np.ceil(n * k / steps)) for k in range(steps)]
    assert generated == ids
    assert decode(tokenizer, generated[1:]) == text
    # infilling: prefix and suffix stay, the middle is generated
    template = infill_template(ids[:5], 3, ids[8:], MASK)
    filled, per_step = diffusion_generate(model, template, MASK, steps=3)
    assert per_step == [1, 1, 1] and filled == ids
    # sampling at a temperature is reproducible from its seed
    a, _ = diffusion_generate(model, canvas, MASK, steps=steps, temperature=1.0, seed=7)
    b, _ = diffusion_generate(model, canvas, MASK, steps=steps, temperature=1.0, seed=7)
    assert a == b and MASK not in a
