from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from codelm.errors import ConfigError
from codelm.models import FAMILIES, ModelConfig, build_model, count_parameters, parameter_count

VOCAB = 512
HEADS = ("lm", "sequence_classification", "token_classification", "embedding")


def tiny(family: str, **kw) -> ModelConfig:
    return ModelConfig(preset=f"{family}-tiny", hidden_size=64, num_layers=2, **kw)


def inputs(family: str, head: str) -> dict[str, torch.Tensor]:
    # Row 2 is right-padded; both rows end in exactly one <|endoftext|> (T5's classifier pools there).
    ids = torch.tensor([[200, 201, 202, 203, 204, 0], [300, 301, 302, 303, 0, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    batch = {"input_ids": ids, "attention_mask": mask}
    if family == "encdec" and head == "lm":
        batch["decoder_input_ids"] = torch.tensor([[1, 200, 201], [1, 300, 301]])
    return batch


def output(model, batch) -> torch.Tensor:
    with torch.no_grad():
        out = model(**batch)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


RELOAD = textwrap.dedent(
    """
    import json, sys
    import torch, transformers
    plan = json.load(open(sys.argv[1]))
    batches = torch.load(sys.argv[2])
    result = {}
    for key, item in plan.items():
        model = getattr(transformers, item["auto"]).from_pretrained(item["dir"]).eval()
        with torch.no_grad():
            out = model(**batches[key])
        result[key] = out.logits if hasattr(out, "logits") else out.last_hidden_state
        result[key + ":class"] = type(model).__name__
    result["codelm_imported"] = any(m == "codelm" or m.startswith("codelm.") for m in sys.modules)
    torch.save(result, sys.argv[3])
    """
)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_save_and_reload_with_plain_auto_classes_in_fresh_process(tmp_path):
    plan, batches, expected, classes = {}, {}, {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # same reduction order as the single-threaded child: exact comparison
    try:
        _build_and_save(tmp_path, plan, batches, expected, classes)
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    torch.save(batches, tmp_path / "batches.pt")
    subprocess.run(
        [sys.executable, "-c", RELOAD, str(tmp_path / "plan.json"), str(tmp_path / "batches.pt"), str(tmp_path / "out.pt")],
        check=True,
        timeout=150,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # tiny models: threads only contend on shared CI cores
    )
    got = torch.load(tmp_path / "out.pt")
    assert got["codelm_imported"] is False
    for key, want in expected.items():
        assert got[key + ":class"] == classes[key]
        assert got[key].shape == want.shape
        assert (got[key] - want).abs().max().item() <= 1e-6, (key, (got[key] - want).abs().max().item())


def _build_and_save(tmp_path, plan, batches, expected, classes) -> None:
    for family in ("decoder", "encoder", "encdec"):
        spec = FAMILIES.get(family)
        for head in HEADS:
            key = f"{family}/{head}"
            model = build_model(tiny(family), VOCAB, head=head, num_labels=3, seed=7)
            out_dir = tmp_path / family / head
            model.save_pretrained(str(out_dir))
            plan[key] = {"dir": str(out_dir), "auto": spec.auto_classes[head]}
            batches[key] = inputs(family, head)
            expected[key] = output(model, batches[key])
            classes[key] = spec.classes[head]


def test_configs_carry_special_ids(tmp_path):
    for family in ("decoder", "encoder", "encdec"):
        model = build_model(tiny(family), VOCAB)
        model.save_pretrained(str(tmp_path / family))
        cfg = json.loads((tmp_path / family / "config.json").read_text())
        assert (cfg["eos_token_id"], cfg["pad_token_id"], cfg["mask_token_id"]) == (0, 1, 2), family
        assert (cfg["cls_token_id"], cfg["sep_token_id"]) == (3, 4)
        assert cfg["vocab_size"] == VOCAB
    t5 = json.loads((tmp_path / "encdec" / "config.json").read_text())
    assert t5["decoder_start_token_id"] == 1 and t5["architectures"] == ["T5ForConditionalGeneration"]
    gen = json.loads((tmp_path / "encdec" / "generation_config.json").read_text())
    assert (gen["decoder_start_token_id"], gen["eos_token_id"], gen["pad_token_id"]) == (1, 0, 1)
    gen = json.loads((tmp_path / "decoder" / "generation_config.json").read_text())
    assert (gen["bos_token_id"], gen["eos_token_id"], gen["pad_token_id"]) == (0, 0, 1)


def test_generate_runs_for_generative_families():
    prompt = torch.tensor([[200, 201, 202]])
    dec = build_model(tiny("decoder"), VOCAB, seed=1)
    out = dec.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, 7) and torch.equal(out[:, :3], prompt)
    t5 = build_model(tiny("encdec"), VOCAB, seed=1)
    out = t5.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, 5) and out[0, 0].item() == 1  # starts from decoder_start = <pad>


def test_seeded_init_and_global_rng_untouched():
    state = torch.get_rng_state()
    a = build_model(tiny("decoder"), VOCAB, seed=3).state_dict()
    b = build_model(tiny("decoder"), VOCAB, seed=3).state_dict()
    c = build_model(tiny("decoder"), VOCAB, seed=4).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.self_attn.q_proj.weight"], c["model.layers.0.self_attn.q_proj.weight"])


def test_decoder_scaled_residual_init():
    cfg = ModelConfig(preset="decoder-tiny", hidden_size=128, num_layers=8, num_heads=4, num_kv_heads=4)
    model = build_model(cfg, VOCAB, seed=0)
    layer = model.model.layers[3]
    residual_std = 0.02 / (2 * 8) ** 0.5  # GPT-2: 0.02/sqrt(2·n_layer) = 0.005
    for weight in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
        assert abs(weight.std().item() - residual_std) / residual_std < 0.05
    for weight in (layer.self_attn.q_proj.weight, layer.mlp.up_proj.weight):
        assert abs(weight.std().item() - 0.02) / 0.02 < 0.05
    assert torch.equal(model.model.norm.weight, torch.ones(128))


def test_gqa_mqa_and_tying():
    mqa = build_model(tiny("decoder", num_kv_heads=1), VOCAB)
    attn = mqa.model.layers[0].self_attn
    assert attn.k_proj.out_features == 16 and attn.q_proj.out_features == 64  # 1 kv head of 16 vs 4 query heads
    assert output(mqa, inputs("decoder", "lm")).shape == (2, 6, VOCAB)
    tied = build_model(tiny("decoder"), VOCAB)
    untied = build_model(tiny("decoder", tie_word_embeddings=False), VOCAB)
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight
    assert count_parameters(untied) - count_parameters(tied) == VOCAB * 64


def test_parameter_count_matches_real_build():
    for family in ("decoder", "encoder", "encdec"):
        for head in HEADS:
            real = count_parameters(build_model(tiny(family), VOCAB, head=head, num_labels=3))
            assert parameter_count(tiny(family), VOCAB, head=head, num_labels=3) == real, (family, head)


def test_padded_vocab():
    model = build_model(tiny("decoder", pad_vocab_to_multiple_of=64), 500)
    assert model.config.vocab_size == 512 and model.model.embed_tokens.num_embeddings == 512


def test_resolve_defaults_and_overrides():
    r = ModelConfig(preset="decoder-small", num_layers=3).resolve()
    assert (r.family, r.hidden_size, r.num_layers, r.num_heads, r.num_kv_heads) == ("decoder", 384, 3, 6, 2)
    assert (r.head_dim, r.intermediate_size, r.tie_word_embeddings, r.pooling) == (64, 1024, True, "last")
    e = ModelConfig(family="encoder", hidden_size=96, num_layers=3, num_heads=4).resolve()
    assert (e.intermediate_size, e.local_attention, e.global_attn_every_n_layers, e.pooling) == (192, 128, 3, "mean")
    t = ModelConfig(preset="encdec-tiny").resolve()
    assert (t.num_decoder_layers, t.head_dim, t.relative_attention_num_buckets) == (2, 32, 32)
    assert r.resolve() == r  # idempotent


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "set model.preset"),
        ({"preset": "encoder-tiny", "num_kv_heads": 2}, "num_kv_heads does not apply to the encoder family"),
        ({"preset": "decoder-tiny", "num_kv_heads": 3}, "multiple of model.num_kv_heads 3"),
        ({"preset": "encdec-tiny", "tie_word_embeddings": False}, "always ties"),
        ({"preset": "encoder-tiny", "num_heads": 5}, "multiple of model.num_heads 5"),
        ({"family": "decoder", "hidden_size": 64}, "model.num_layers is required"),
        ({"preset": "decoder-huge"}, "unknown preset 'decoder-huge'"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs).resolve()


def test_unknown_head():
    with pytest.raises(ConfigError, match="unknown head 'qa'"):
        build_model(tiny("decoder"), VOCAB, head="qa")
