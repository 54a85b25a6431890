"""Gradient accumulation must not change the loss or the gradients (padded, variable-length data)."""

from __future__ import annotations

import random

import torch
from accelerate import Accelerator
from transformers import LlamaConfig, LlamaForCausalLM

from codelm.objectives import build_objective
from codelm.objectives.base import IGNORE_INDEX
from codelm.train import train
from codelm.train.data import count_targets
from codelm.train.loop import accumulate_gradients
from codelm.train.model import ModelView
from codelm.train.tracking import step_losses


def _variable_length_examples(n: int, vocab: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """Examples of very different lengths (3..40 tokens): padding differs a lot between micro-batches."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        ids = [rng.randrange(120, vocab) for _ in range(rng.randint(3, 40))]
        labels = [tok if rng.random() > 0.2 else IGNORE_INDEX for tok in ids]  # some targets masked
        examples.append({"input_ids": ids, "labels": labels, "doc_ids": [0] * len(ids)})
    return examples


def _grads_for(model, objective, examples, micro: int) -> tuple[float, list[torch.Tensor]]:
    acc = Accelerator(cpu=True)
    model.zero_grad(set_to_none=True)
    batches = [objective.collate(examples[i : i + micro]) for i in range(0, len(examples), micro)]
    targets = sum(count_targets(b, "decoder") for b in batches)
    params = list(model.parameters())
    loss_sum, n, _ = accumulate_gradients(acc, model, ModelView(model, model), objective, batches, targets, params)
    return float(loss_sum / n), [p.grad.clone() for p in params]


def test_accumulation_matches_one_big_batch_on_padded_data(tiny_assets):
    from codelm.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tiny_assets["tokenizer"])
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", seq_len=64)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, pad_token_id=1)
    model = LlamaForCausalLM(cfg).train()
    examples = _variable_length_examples(8, len(tokenizer))

    loss_8x1, grads_8x1 = _grads_for(model, clm, examples, micro=8)
    loss_2x4, grads_2x4 = _grads_for(model, clm, examples, micro=2)

    # The reference: mean cross-entropy over every target of the 8 examples at once.
    batch = clm.collate(examples)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    assert abs(loss_8x1 - ref.item()) < 1e-5
    assert abs(loss_2x4 - loss_8x1) < 1e-5
    for a, b in zip(grads_8x1, grads_2x4, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    # A per-micro-batch mean (what averaging each micro-batch's loss gives) is measurably different.
    per_micro = [clm.collate(examples[i : i + 2]) for i in range(0, 8, 2)]
    means = []
    for b in per_micro:
        out = clm.loss(model, b)
        means.append((out.loss_sum / out.num_targets).item())
    assert abs(sum(means) / 4 - loss_8x1) > 1e-4  # 100× the tolerance above


def test_training_runs_with_and_without_accumulation_log_the_same_losses(make_cfg):
    common = {"eval": {"every": 0, "at_start": False}, "checkpoint": {"every": 0}, "logging": {"every": 1, "plots": False}}
    one = train(make_cfg("b8", loop={"max_steps": 3, "micro_batch_size": 8, "grad_accum": 1}, **common))
    four = train(make_cfg("b2x4", loop={"max_steps": 3, "micro_batch_size": 2, "grad_accum": 4}, **common))
    a, b = step_losses(one.run_dir), step_losses(four.run_dir)
    assert sorted(a) == sorted(b) == [1, 2, 3]
    for step in a:
        assert abs(a[step] - b[step]) < 1e-5, (step, a[step], b[step])
