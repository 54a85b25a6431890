"""Library generation: equality with transformers, sampling, stops, FIM, logprobs, speed options."""

from __future__ import annotations

import json

import pytest
import torch

from codelm.errors import ConfigError, InputError
from codelm.inference import GenerationConfig, load_generator
from codelm.inference.fim import build_infill
from codelm.inference.kv import left_pad, right_pad
from codelm.inference.sampling import warp_logits
from codelm.inference.stops import TextTracker, held_back, special_token_ids
from codelm.tokenizer.special import EOS_ID, SPECIAL_IDS, sentinel_id

PROMPTS = ["for i in", "import", "class Point:\n    def", "x"]


def _ours_with_stop_token(c):
    """Our ids plus the EOS transformers keeps in the sequence."""
    return c.token_ids + ([EOS_ID] if c.finish_reason == "stop" else [])


def _plain_text(gen, ids):
    specials = special_token_ids(gen.tokenizer)
    return gen.tokenizer.decode([t for t in ids if t not in specials])


@pytest.mark.parametrize("which", ["decoder", "encdec"])
def test_greedy_equals_transformers_generate_token_for_token(which, request):
    gen = request.getfixturevalue(which)
    ours = gen.generate(PROMPTS, GenerationConfig(max_new_tokens=24))
    ids = [gen.encode(p) for p in PROMPTS]
    if which == "decoder":
        x, mask = left_pad(ids, gen.tokenizer.pad_token_id, "cpu")
        ref = gen.model.generate(
            input_ids=x, attention_mask=mask, max_new_tokens=24, do_sample=False
        )[:, x.size(1) :]
    else:
        x, mask = right_pad(ids, gen.tokenizer.pad_token_id, "cpu")
        ref = gen.model.generate(
            input_ids=x, attention_mask=mask, max_new_tokens=24, do_sample=False
        )[:, 1:]
    for (c,), row in zip(ours, ref.tolist(), strict=True):
        mine = _ours_with_stop_token(c)
        assert mine == row[: len(mine)]
        assert all(
            t == gen.tokenizer.pad_token_id for t in row[len(mine) :]
        )  # transformers pads after EOS
        assert c.text == _plain_text(gen, c.token_ids)  # special tokens never in the text
    if which == "decoder":  # the trained decoder recites its snippets
        assert (
            ours[0][0].text == " range(10):\n    print(i)\n" and ours[0][0].finish_reason == "stop"
        )
        assert ours[1][0].text == " os\nprint(os.getcwd())\n"


@pytest.mark.parametrize("which", ["decoder", "encdec"])
def test_beam_search_equals_transformers(which, request):
    gen = request.getfixturevalue(which)
    prompts = PROMPTS[:3]
    ours = gen.generate(prompts, GenerationConfig(max_new_tokens=10, num_beams=3, n=2))
    ids = [gen.encode(p) for p in prompts]
    pad = left_pad if which == "decoder" else right_pad
    x, mask = pad(ids, gen.tokenizer.pad_token_id, "cpu")
    ref = gen.model.generate(
        input_ids=x,
        attention_mask=mask,
        max_new_tokens=10,
        num_beams=3,
        num_return_sequences=2,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    start = x.size(1) if which == "decoder" else 1
    seqs = ref.sequences[:, start:].tolist()
    flat = [c for per in ours for c in per]
    assert len(flat) == len(seqs) == 6
    for c, seq, score in zip(flat, seqs, ref.sequences_scores.tolist(), strict=True):
        mine = _ours_with_stop_token(c)
        assert mine == seq[: len(mine)]
        assert c.score == pytest.approx(score, abs=1e-4)


def test_batched_prompts_match_one_by_one(decoder):
    cfg = GenerationConfig(max_new_tokens=16)
    together = decoder.generate(PROMPTS, cfg)
    alone = [decoder.generate([p], cfg)[0] for p in PROMPTS]
    assert [c[0].token_ids for c in together] == [c[0].token_ids for c in alone]


def test_more_prompts_than_batch_rows(decoder_dir):
    gen = load_generator(decoder_dir, max_batch_size=2)
    cfg = GenerationConfig(max_new_tokens=8, n=2, temperature=0.9, seed=5)
    small = gen.generate(PROMPTS, cfg)  # 8 rows through a 2-row batch
    assert [len(per) for per in small] == [2, 2, 2, 2]
    big = load_generator(decoder_dir).generate(PROMPTS, cfg)
    assert [[c.token_ids for c in per] for per in small] == [
        [c.token_ids for c in per] for per in big
    ]


def test_sampling_is_seeded(decoder):
    cfg = GenerationConfig(max_new_tokens=12, temperature=5.0, top_k=100, top_p=0.99, n=3, seed=11)
    a = decoder.generate(PROMPTS[:2], cfg)
    b = decoder.generate(PROMPTS[:2], cfg)
    c = decoder.generate(PROMPTS[:2], cfg.model_copy(update={"seed": 12}))
    ids = lambda r: [[x.token_ids for x in per] for per in r]  # noqa: E731
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)
    assert len({tuple(x.token_ids) for x in a[0]}) > 1  # the n samples differ from each other


def test_top_k_1_and_tiny_top_p_are_greedy(decoder):
    greedy = decoder.generate(PROMPTS, GenerationConfig(max_new_tokens=12))
    k1 = decoder.generate(
        PROMPTS, GenerationConfig(max_new_tokens=12, temperature=1.0, top_k=1, seed=3)
    )
    p0 = decoder.generate(
        PROMPTS, GenerationConfig(max_new_tokens=12, temperature=1.0, top_p=1e-6, seed=3)
    )
    assert (
        [c[0].token_ids for c in greedy]
        == [c[0].token_ids for c in k1]
        == [c[0].token_ids for c in p0]
    )


def test_warp_logits_top_k_top_p():
    logits = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 10.0]])
    out = warp_logits(
        logits, torch.tensor([1.0, 2.0]), torch.tensor([2, 0]), torch.tensor([1.0, 0.5])
    )
    inf = float("-inf")
    assert out[0].tolist() == [inf, inf, 3.0, 4.0]
    assert out[1].tolist() == [
        inf,
        inf,
        inf,
        5.0,
    ]  # temperature 2, then nucleus 0.5 keeps only the top token
    # top_p keeps the smallest set whose mass reaches p: probabilities .5 .3 .2 with p=.7 keep two
    probs = torch.tensor([[0.5, 0.3, 0.2]])
    out = warp_logits(probs.log(), torch.tensor([1.0]), torch.tensor([0]), torch.tensor([0.7]))
    assert torch.isinf(out).tolist() == [[False, False, True]]


def test_logprobs_are_the_model_distribution(decoder):
    cfg = GenerationConfig(max_new_tokens=6, logprobs=3, ignore_eos=True)
    [[c]] = decoder.generate(["for i in"], cfg)
    prompt = decoder.encode("for i in")
    x = torch.tensor([prompt + c.token_ids])
    with torch.no_grad():
        logp = torch.log_softmax(decoder.model(input_ids=x).logits[0].float(), dim=-1)
    for t, (tok, lp, top) in enumerate(zip(c.token_ids, c.logprobs, c.top_logprobs, strict=True)):
        row = logp[len(prompt) - 1 + t]
        assert lp == pytest.approx(row[tok].item(), abs=1e-4)
        values, ids = row.topk(3)
        assert list(top) == ids.tolist()
        assert list(top.values()) == pytest.approx(values.tolist(), abs=1e-4)


def test_stop_strings_cut_before_the_earliest(decoder):
    base = GenerationConfig(max_new_tokens=30)
    [[full]] = decoder.generate(["for i in"], base)
    assert full.text == " range(10):\n    print(i)\n"
    [[c]] = decoder.generate(["for i in"], base.model_copy(update={"stop": ["print"]}))
    assert (c.text, c.finish_reason, c.stop_kind) == (" range(10):\n    ", "stop", "string")
    [[c]] = decoder.generate(["for i in"], base.model_copy(update={"stop": ["\n", "(", "zzz"]}))
    assert c.text == " range"
    # a stop string spanning several tokens
    [[c]] = decoder.generate(["for i in"], base.model_copy(update={"stop": ["):\n    pr"]}))
    assert c.text == " range(10"


def test_stop_token_ids_and_length(decoder):
    [[full]] = decoder.generate(["for i in"], GenerationConfig(max_new_tokens=30))
    second = full.token_ids[1]
    [[c]] = decoder.generate(
        ["for i in"], GenerationConfig(max_new_tokens=30, stop_token_ids=[second])
    )
    assert c.token_ids == full.token_ids[:1] and (c.finish_reason, c.stop_kind) == ("stop", "token")
    [[c]] = decoder.generate(["for i in"], GenerationConfig(max_new_tokens=3))
    assert c.token_ids == full.token_ids[:3] and c.finish_reason == "length"
    [[c]] = decoder.generate(
        ["for i in"], GenerationConfig(max_new_tokens=len(full.token_ids) + 5, ignore_eos=True)
    )
    assert (
        len(c.token_ids) == len(full.token_ids) + 5 and c.token_ids[len(full.token_ids)] == EOS_ID
    )


def test_context_length_is_enforced(decoder):
    long_prompt = "x" * 300  # the tiny decoder has 256 positions
    with pytest.raises(InputError, match="context of 256 tokens"):
        decoder.generate([long_prompt], GenerationConfig(max_new_tokens=4))
    ids = decoder.encode("for i in")
    too_many = 256 - len(ids) + 1
    with pytest.raises(InputError, match=f"has {len(ids)} tokens and max_new_tokens is {too_many}"):
        decoder.generate(["for i in"], GenerationConfig(max_new_tokens=too_many))
    [[c]] = decoder.generate(
        ["for i in"], GenerationConfig(max_new_tokens=too_many - 1, ignore_eos=True)
    )
    assert len(c.token_ids) == too_many - 1 and c.finish_reason == "length"


def test_infill_psm_with_checkpoint_fim_tokens(decoder):
    [c] = decoder.infill("for i in range(10):\n    ", "\n")
    assert c.text == "print(i)" and c.finish_reason == "stop"
    many = decoder.infill_batch([("import os\n", "\n"), ("def add(a, b):\n    ", "\n")])
    assert [per[0].text for per in many] == ["print(os.getcwd())", "return a + b"]
    # a client-templated FIM prompt gives the same middle (FIM tokens read as special tokens)
    [[t]] = decoder.generate(["<fim_prefix>for i in range(10):\n    <fim_suffix>\n<fim_middle>"])
    assert t.token_ids == c.token_ids


def test_fim_prompt_layouts(tokenizer):
    def enc(s):
        return tokenizer(s, add_special_tokens=False)["input_ids"]

    fp, fs, fm = (SPECIAL_IDS[t] for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    P, S = enc("def f(x):\n    "), enc("\nprint(f(2))\n")
    psm = build_infill(tokenizer, "def f(x):\n    ", "\nprint(f(2))\n", "psm")
    assert psm.input_ids == [fp, *P, fs, *S, fm]
    spm = build_infill(tokenizer, "def f(x):\n    ", "\nprint(f(2))\n", "spm")
    assert spm.input_ids == [fp, fs, *S, fm, *P]
    assert (
        SPECIAL_IDS["<fim_pad>"] in psm.stop_token_ids
        and SPECIAL_IDS["<file_sep>"] in psm.stop_token_ids
    )
    t5 = build_infill(tokenizer, "def f(x):\n    ", "\nprint(f(2))\n", "auto", kind="encdec")
    assert t5.input_ids == [*P, sentinel_id(0), *S, EOS_ID]
    assert t5.decoder_prefix == [sentinel_id(0)] and t5.stop_token_ids == [sentinel_id(1)]
    repo = build_infill(tokenizer, "a", "b", "psm", extra=[("util.py", "x = 1")])
    sep = SPECIAL_IDS["<file_sep>"]
    assert repo.input_ids == [sep, *enc("util.py\nx = 1"), sep, fp, *enc("a"), fs, *enc("b"), fm]
    with pytest.raises(InputError, match="unknown infill mode"):
        build_infill(tokenizer, "a", "b", "msp")


def test_encdec_sentinel_infill_forces_the_sentinel(encdec):
    [c] = encdec.infill("def f(x):\n    ", "\n", GenerationConfig(max_new_tokens=8))
    req = encdec.prompts.infill_request("def f(x):\n    ", "\n", GenerationConfig(max_new_tokens=8))
    x = torch.tensor([req.prompt_ids])
    dec = torch.tensor([[encdec.tokenizer.pad_token_id, sentinel_id(0)]])
    ref = encdec.model.generate(
        input_ids=x,
        decoder_input_ids=dec,
        max_new_tokens=8,
        do_sample=False,
        eos_token_id=[EOS_ID, sentinel_id(1)],
    )
    mine = c.token_ids + (
        [ref[0, 2 + len(c.token_ids)].item()] if c.finish_reason == "stop" else []
    )
    assert ref[0, 2 : 2 + len(mine)].tolist() == mine


def test_text_tracker_holds_back_stop_prefixes(tokenizer):
    specials = special_token_ids(tokenizer)
    ids = tokenizer("x = 1\ndef f", add_special_tokens=False)["input_ids"]
    tracker = TextTracker(tokenizer, specials, ["\ndef"], incremental=True)
    released = []
    for i in ids:
        released.append(tracker.push(i))
        if tracker.stopped:
            break
    released.append(tracker.finish())
    assert "".join(released) == tracker.text == "x = 1"
    assert all(
        "\n" not in piece for piece in released
    )  # "\n" was held until "def" showed it is a stop
    assert held_back("x = 1\nde", ["\ndef"]) == 3 and held_back("abc", ["zz"]) == 0


def test_text_tracker_utf8_and_special_tokens(tokenizer):
    specials = special_token_ids(tokenizer)
    text = "é中🙂 ok"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    noisy = [ids[0], SPECIAL_IDS["<fim_middle>"], *ids[1:4], EOS_ID, *ids[4:]]
    tracker = TextTracker(tokenizer, specials, [], incremental=True)
    pieces = [tracker.push(i) for i in noisy] + [tracker.finish()]
    assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)
    fast = TextTracker(tokenizer, specials, [], incremental=False)
    assert [fast.push(i) for i in noisy] == [""] * len(noisy) and fast.finish() == text


def test_stream_pieces_join_to_the_completion(decoder):
    cfg = GenerationConfig(max_new_tokens=30, stop=["print(i"])
    pieces = list(decoder.stream("for i in", cfg))
    [[c]] = decoder.generate(["for i in"], cfg)
    assert "".join(pieces) == c.text == " range(10):\n    "
    assert len(pieces) > 1
    with pytest.raises(ConfigError):
        list(decoder.stream("x", GenerationConfig(n=2)))


def test_int8_and_bf16_options(decoder_dir, decoder):
    prompts = ["for i in", "import"]
    ref = [c[0].text for c in decoder.generate(prompts, GenerationConfig(max_new_tokens=20))]
    q = load_generator(decoder_dir, quantize="int8")
    assert q.info()["quantize"] == "int8" and q.info()["dtype"] == "float32"
    assert (
        type(q.model.lm_head).__name__ == "Linear"
        and "quantized" in type(q.model.lm_head).__module__
    )
    assert [c[0].text for c in q.generate(prompts, GenerationConfig(max_new_tokens=20))] == ref
    b = load_generator(decoder_dir, dtype="bfloat16")
    assert b.info()["dtype"] == "bfloat16" and b.model.dtype == torch.bfloat16
    assert [c[0].text for c in b.generate(prompts, GenerationConfig(max_new_tokens=20))] == ref


def test_load_errors(tmp_path, decoder_dir):
    with pytest.raises(InputError, match="does not exist"):
        load_generator(tmp_path / "missing")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(InputError, match="no tokenizer"):
        load_generator(tmp_path)
    with pytest.raises(ConfigError, match="needs dtype float32"):
        load_generator(decoder_dir, quantize="int8", dtype="bfloat16")
    with pytest.raises(ConfigError, match="is invalid"):
        load_generator(decoder_dir, dtype="float8")
    with pytest.raises(ValueError, match="temperature 0"):
        GenerationConfig(num_beams=2, temperature=0.5)


def test_generate_takes_a_list(decoder):
    with pytest.raises(InputError, match="list of prompts"):
        decoder.generate("for i in")  # type: ignore[arg-type]


def test_diffusion_encoder_uses_the_objective_sampler(encoder_dir, tokenizer):
    from codelm.objectives.diffusion import diffusion_generate

    gen = load_generator(encoder_dir)
    assert gen.info()["kind"] == "encoder"
    cfg = GenerationConfig(max_new_tokens=6, diffusion_steps=3)
    [[c]] = gen.generate(["for i in"], cfg)
    prompt = gen.encode("for i in")
    mask = tokenizer.mask_token_id
    ids, per_step = diffusion_generate(gen.model, [*prompt, *[mask] * 6], mask, steps=3)
    assert c.token_ids == ids[len(prompt) :] and per_step == [2, 2, 2]
    assert c.text == tokenizer.decode(c.token_ids) and c.finish_reason == "length"
    [m] = gen.infill("def f(", "):\n", cfg)
    P, S = (tokenizer(s, add_special_tokens=False)["input_ids"] for s in ("def f(", "):\n"))
    ids, _ = diffusion_generate(gen.model, [*P, *[mask] * 6, *S], mask, steps=3)
    assert m.token_ids == ids[len(P) : len(P) + 6]
