from __future__ import annotations

import pytest
import torch

from codelm.train.config import ScheduleSection
from codelm.train.schedules import build_scheduler, lr_factor


def factors(kind: str, total: int = 10, **kw) -> list[float]:
    cfg = ScheduleSection(kind=kind, **kw)
    return [round(lr_factor(s, total, cfg), 6) for s in range(total)]


def test_warmup_is_linear_and_never_zero():
    assert factors("constant", warmup_steps=4)[:5] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_linear_and_cosine_reach_min_lr_at_the_last_step():
    assert factors("linear", total=5, warmup_steps=1, min_lr_ratio=0.0) == [1.0, 0.75, 0.5, 0.25, 0.0]
    cos = factors("cosine", total=5, warmup_steps=1, min_lr_ratio=0.1)
    assert cos == [1.0, round(0.1 + 0.9 * 0.5 * (1 + 0.7071067811865476), 6), 0.55, round(0.1 + 0.9 * 0.5 * (1 - 0.7071067811865476), 6), 0.1]


def test_wsd_holds_then_decays_over_the_final_fraction():
    assert factors("wsd", total=10, warmup_steps=2, decay_fraction=0.3, min_lr_ratio=0.1) == [
        0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.4, 0.1,
    ]


def test_lambda_scheduler_gives_each_step_its_factor():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = build_scheduler(opt, 4, ScheduleSection(kind="linear", warmup_steps=0, min_lr_ratio=0.0))
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1.5, 1.0, 0.5, 0.0])
