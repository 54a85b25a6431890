from __future__ import annotations

import pytest
import torch

from codelm.models import ModelConfig, allowed_4d, build_model, document_mask, prefix_lm_mask

VOCAB = 400


def test_prefix_mask_pattern_exact():
    attention = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    mask = prefix_lm_mask(torch.tensor([2, 3]), attention, torch.float32)
    assert mask.shape == (2, 1, 5, 5) and mask.dtype == torch.float32
    allowed = (mask == 0).int()[:, 0].tolist()
    assert allowed[0] == [
        [1, 1, 0, 0, 0],  # prefix rows see the whole prefix...
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],  # ...the rest is causal
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
    ]
    assert allowed[1] == [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0],  # padded query rows keep their diagonal so no row is empty
        [1, 1, 1, 0, 1],
    ]
    assert mask.min().item() == torch.finfo(torch.float32).min
    assert prefix_lm_mask(torch.tensor([1]), torch.ones(1, 3), torch.bfloat16).dtype == torch.bfloat16


def test_zero_prefix_is_causal_and_documents_stay_apart():
    causal = allowed_4d(torch.ones(1, 4, dtype=torch.long))
    assert torch.equal(causal[0, 0], torch.tril(torch.ones(4, 4, dtype=torch.bool)))
    assert torch.equal(prefix_lm_mask(torch.tensor([0]), torch.ones(1, 4)) == 0, causal)
    docs = document_mask(torch.tensor([[0, 0, 1, 1, 1]]))
    assert (docs == 0).int()[0, 0].tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 1, 1, 1],
    ]
    # per-document prefixes: the second document's prefix (positions 2, 3) is bidirectional
    with_prefix = document_mask(torch.tensor([[0, 0, 1, 1, 1]]), prefix_mask=torch.tensor([[1, 0, 1, 1, 0]]).bool())
    assert (with_prefix == 0).int()[0, 0, 2].tolist() == [0, 0, 1, 1, 0]


def _logits(model, ids, mask, **kw):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, **kw).logits


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_prefix_lm_with_llama(impl):
    model = build_model(
        ModelConfig(preset="decoder-tiny", hidden_size=64, num_layers=2, attn_implementation=impl), VOCAB, seed=0
    )
    ids = torch.arange(200, 210)[None]  # T = 10
    ones = torch.ones_like(ids)
    prefix = 5
    mask = prefix_lm_mask(torch.tensor([prefix]), ones, model.dtype)
    base = _logits(model, ids, mask)

    in_prefix = ids.clone()
    in_prefix[0, 3] = 300
    delta = (_logits(model, in_prefix, mask) - base).abs().amax(-1)[0]  # [T]
    assert (delta[:3] > 1e-4).all()  # earlier prefix positions see a later prefix token

    after = ids.clone()
    after[0, 7] = 300
    delta = (_logits(model, after, mask) - base).abs().amax(-1)[0]
    assert delta[:7].max().item() == 0.0  # nothing before position 7 can see it
    assert delta[7] > 1e-4

    # the same change under a plain causal mask leaves earlier positions alone
    causal_delta = (_logits(model, in_prefix, ones) - _logits(model, ids, ones)).abs().amax(-1)[0]
    assert causal_delta[:3].max().item() == 0.0


def test_packed_documents_match_separate_runs():
    model = build_model(ModelConfig(preset="decoder-tiny", hidden_size=64, num_layers=2), VOCAB, seed=0)
    a, b = torch.arange(200, 204)[None], torch.arange(300, 306)[None]
    packed = torch.cat([a, b], dim=1)
    segments = torch.tensor([[0] * 4 + [1] * 6])
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3, 4, 5]])  # restart per document
    out = _logits(model, packed, document_mask(segments, dtype=model.dtype), position_ids=positions)
    assert (out[:, :4] - _logits(model, a, None)).abs().max().item() < 1e-5
    assert (out[:, 4:] - _logits(model, b, None)).abs().max().item() < 1e-5


def test_prefix_lm_incremental_decoding_matches_full_forward():
    """Inference recipe: prefill the prefix with the 4-D mask, then decode with the KV cache."""
    model = build_model(ModelConfig(preset="decoder-tiny", hidden_size=64, num_layers=2), VOCAB, seed=2)
    ids = torch.arange(210, 218)[None]  # T = 8, prefix of 3
    prefix = 3
    full = _logits(model, ids, prefix_lm_mask(torch.tensor([prefix]), torch.ones_like(ids), model.dtype))
    with torch.no_grad():
        out = model(
            input_ids=ids[:, :prefix],
            attention_mask=prefix_lm_mask(torch.tensor([prefix]), torch.ones(1, prefix), model.dtype),
            use_cache=True,
        )
        steps = [out.logits[:, -1]]
        for t in range(prefix, ids.shape[1] - 1):
            out = model(input_ids=ids[:, t : t + 1], cache=out.cache, use_cache=True)
            steps.append(out.logits[:, -1])
    incremental = torch.stack(steps, dim=1)  # logits at positions prefix-1 .. T-2
    assert (incremental - full[:, prefix - 1 : -1]).abs().max().item() < 1e-5
