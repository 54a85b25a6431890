"""Every (objective, family) pair trains: finite losses that fall over 50 steps of a tiny model.

Smoke tests, not timings: hidden 32, one layer, seq_len 64, batch 4, on
standard-library snippets. The loss compared is the objective's own
Σ loss / Σ targets on the first training batch, before and after the 50
steps (comparing per-step losses of different batches is too noisy for
some objectives: diffusion's 1/t weighting, RTD's sampled replacements).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from codelm.objectives import MixtureStream, build_objective, build_objectives, reduce_metrics

PAIRS = [
    ({"name": "clm", "document_masking": True}, "decoder"),
    ({"name": "fim", "level": "context"}, "decoder"),
    ({"name": "mlm", "whole_identifier": True}, "encoder"),
    ({"name": "rtd"}, "encoder"),
    ({"name": "span"}, "encdec"),
    ({"name": "span", "prefix_lm": True}, "decoder"),
    ({"name": "ul2"}, "encdec"),
    ({"name": "ul2"}, "decoder"),
    ({"name": "identifier", "task": "tagging"}, "encoder"),
    ({"name": "identifier", "task": "tagging"}, "encdec"),
    ({"name": "identifier", "task": "masked"}, "encdec"),
    ({"name": "identifier", "task": "masked"}, "decoder"),
    ({"name": "contrastive"}, "encoder"),
    ({"name": "contrastive"}, "decoder"),
    ({"name": "contrastive"}, "encdec"),
    ({"name": "dataflow"}, "encoder"),
    ({"name": "diffusion"}, "encoder"),
]
STEPS, BATCH, SEQ_LEN = 50, 4, 64


def evaluate(objective, model, batch) -> float:
    """Loss on a fixed batch (the RTD generator's samples seeded too)."""
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = objective.loss(model, batch)
    model.train()
    return (out.loss_sum / out.num_targets).item()


def train(objective, model, batches) -> list[float]:
    aux = objective.auxiliary_modules(model)
    params = list(model.parameters()) + [p for m in aux.values() for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=5e-3)
    model.train()
    losses = []
    for batch in batches:
        out = objective.loss(model, batch)
        loss = out.loss_sum / out.num_targets
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(("spec", "family"), PAIRS, ids=[f"{s['name']}-{s.get('task', s.get('level', ''))}-{f}".replace("--", "-") for s, f in PAIRS])
def test_fifty_steps_reduce_the_loss(spec, family, tokenizer, snippets, make_model, source_of):
    from codelm.objectives import ExampleStream

    objective = build_objective(spec, tokenizer, family, SEQ_LEN)
    dropout = {"dropout": 0.1} if spec["name"] == "contrastive" else {}
    model = make_model(family, len(tokenizer), **dropout)
    stream = iter(ExampleStream(objective, source_of(snippets[::3]), seed=0))
    batches = [objective.collate(list(itertools.islice(stream, BATCH))) for _ in range(STEPS)]
    objective.auxiliary_modules(model)
    before = evaluate(objective, model, batches[0])
    losses = train(objective, model, batches)
    after = evaluate(objective, model, batches[0])
    assert all(math.isfinite(x) for x in [*losses, before, after])
    assert after < before, (spec, family, before, after)


def test_mixture_trains_per_step_objectives_and_reports_each(tokenizer, snippets, make_model, source_of):
    objectives, weights = build_objectives(
        [{"name": "clm", "weight": 0.5}, {"name": "fim", "weight": 0.3}, {"name": "ul2", "weight": 0.2}],
        tokenizer, "decoder", SEQ_LEN,
    )
    mix = MixtureStream(objectives, weights, source_of(snippets[::3]), seed=0)
    model = make_model("decoder", len(tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    per_objective: dict[str, list[float]] = {o.name: [] for o in objectives}
    for step in range(60):
        objective = mix.choose(step)
        examples = mix.take(objective.name, 2 * BATCH)  # two micro-batches of one step
        outs = [objective.loss(model, objective.collate(examples[i:i + BATCH])) for i in (0, BATCH)]
        total = sum(o.num_targets for o in outs)
        loss = sum(o.loss_sum for o in outs) / total
        loss.backward()
        opt.step()
        opt.zero_grad()
        per_objective[objective.name].append(loss.item())
        reduce_metrics([o.metrics for o in outs])
    shares = {k: len(v) / 60 for k, v in per_objective.items()}
    assert all(len(v) >= 5 for v in per_objective.values()), shares
    for name, values in per_objective.items():
        assert all(math.isfinite(x) for x in values)
        assert sum(values[-3:]) / 3 < sum(values[:3]) / 3, name
