"""Checkpoints: plain HF directories, atomic, pruned, best tracked, early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from codelm.objectives import build_objective
from codelm.train import train
from codelm.train.checkpoint import latest_checkpoint, list_checkpoints, prune, remove_stale
from codelm.train.data import CorpusSource, validation_batches
from codelm.train.loop import VALIDATION_SEED_SALT


def _steps(run: Path) -> list[int]:
    return [c.step for c in list_checkpoints(run / "checkpoints")]


def test_checkpoint_loads_with_plain_auto_classes_and_holds_the_trained_weights(make_cfg):
    cfg = make_cfg("plain", loop={"max_steps": 4, "micro_batch_size": 4, "num_threads": 1}, eval={"every": 0, "batches": 2})
    result = train(cfg)
    run = Path(result.run_dir)
    model = AutoModelForCausalLM.from_pretrained(str(run / "last")).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(run / "last"))
    assert tokenizer.convert_tokens_to_ids("<fim_middle>") == 6
    # Recompute the final validation loss with nothing but transformers + the objective.
    clm = build_objective({"name": "clm"}, tokenizer, "decoder", 32)
    batches = validation_batches([clm], CorpusSource(cfg.data.corpus, "validation"), batches=2, batch_size=4,
                                 seed=cfg.seed ^ VALIDATION_SEED_SALT, shuffle_buffer=cfg.data.shuffle_buffer)["clm"]
    with torch.no_grad():
        outs = [clm.loss(model, b) for b in batches]
    loss = sum(o.loss_sum.item() for o in outs) / sum(o.num_targets.item() for o in outs)
    assert abs(loss - result.val_loss) < 1e-6
    state = json.loads((run / "last" / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["world_size"] == 1
    for name in ("config.json", "model.safetensors", "tokenizer.json", "training_state/optimizer.bin",
                 "training_state/random_states_0.pkl", "training_state/data_rank0.pkl"):
        assert (run / "last" / name).is_file(), name
    assert not (run / "last" / "training_state" / "model.safetensors").exists()  # weights saved once
    for name in ("config.yaml", "log.jsonl", "summary.md", "loss.png", "result.json"):
        assert (run / name).is_file(), name


@pytest.mark.timeout(120)
def test_compiled_model_saves_unprefixed_weights(tiny_assets, tmp_path):
    from accelerate import Accelerator
    from transformers import LlamaConfig, LlamaForCausalLM

    from codelm.tokenizer import load_tokenizer
    from codelm.train.checkpoint import install_accelerate_hooks, save_checkpoint

    acc = Accelerator(cpu=True)
    install_accelerate_hooks(acc)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=2))
    compiled = torch.compile(acc.prepare(model), backend="eager")  # as the trainer wraps it
    path = save_checkpoint(acc, compiled, load_tokenizer(tiny_assets["tokenizer"]), tmp_path, 1, {}, {}, {})
    keys = set(load_file(str(path / "model.safetensors")))
    assert "model.embed_tokens.weight" in keys
    assert not any("_orig_mod" in k or k.startswith("module.") for k in keys)
    loaded = AutoModelForCausalLM.from_pretrained(str(path))
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_keep_last_k_prunes_periodic_checkpoints(make_cfg):
    cfg = make_cfg("prune", loop={"max_steps": 8, "num_threads": 1}, checkpoint={"every": 2, "keep_last": 2, "save_best": False},
                   eval={"every": 0, "at_start": False}, logging={"plots": False})
    run = Path(train(cfg).run_dir)
    assert _steps(run) == [6, 8]
    assert (run / "last").resolve().name == "step-000008"


def test_early_stopping_keeps_the_best_checkpoint(make_cfg):
    # A learning rate this small cannot improve validation loss by min_delta:
    # the first evaluation after step 0 stays best, patience 2 stops at step 6.
    cfg = make_cfg(
        "early",
        optim={"lr": 1e-12},
        loop={"max_steps": 50, "num_threads": 1},
        eval={"every": 2, "batches": 1, "early_stopping_patience": 2, "min_delta": 0.01},
        checkpoint={"every": 0, "keep_last": 1, "save_best": True},
        logging={"plots": False},
    )
    result = train(cfg)
    run = Path(result.run_dir)
    assert result.stop_reason == "early_stopping" and result.step == 6
    assert result.best_step == 2
    assert _steps(run) == [2, 6]
    assert (run / "best").resolve().name == "step-000002"
    assert result.best_checkpoint == str(run / "checkpoints" / "step-000002")


def test_incomplete_and_temporary_directories_are_never_resumed(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (3, 6):
        (root / f"step-{step:06d}").mkdir(parents=True)
        (root / f"step-{step:06d}" / "trainer_state.json").write_text("{}")
    (root / "step-000009").mkdir()  # no trainer_state.json: not complete
    (root / ".tmp-step-000012").mkdir()  # killed while saving
    (root / ".trash-step-000001").mkdir()  # killed while pruning
    assert latest_checkpoint(root).step == 6
    remove_stale(root)
    assert sorted(p.name for p in root.iterdir()) == ["step-000003", "step-000006", "step-000009"]
    assert prune(root, keep_last=1, protected={3}) == []  # 3 is protected, 6 is the newest
    (root / "step-000010").mkdir()
    (root / "step-000010" / "trainer_state.json").write_text("{}")
    assert prune(root, keep_last=1, protected={3}) == [6]
    assert [c.step for c in list_checkpoints(root)] == [3, 10]


def test_resume_refuses_a_changed_batch_and_a_fresh_start_refuses_an_existing_run(make_cfg):
    from codelm.errors import ConfigError

    cfg = make_cfg("fixed", loop={"max_steps": 2, "num_threads": 1}, eval={"every": 0, "at_start": False}, logging={"plots": False})
    train(cfg)
    with pytest.raises(ConfigError, match="already has checkpoints; pass --resume"):
        train(cfg)
    changed = cfg.model_copy(update={"loop": cfg.loop.model_copy(update={"micro_batch_size": 3})})
    with pytest.raises(ConfigError, match=r"'loop.micro_batch_size' differs from the run's saved config"):
        train(changed, resume=True)
    longer = cfg.model_copy(update={"loop": cfg.loop.model_copy(update={"max_steps": 3})})
    assert train(longer, resume=True).step == 3  # extending a run is allowed


def test_continue_pretraining_from_a_checkpoint_directory(make_cfg):
    first = train(make_cfg("first", loop={"max_steps": 3, "num_threads": 1}, eval={"every": 0, "batches": 2},
                           logging={"plots": False}))
    cfg = make_cfg("second", loop={"max_steps": 2, "num_threads": 1}, eval={"every": 0, "batches": 2},
                   logging={"plots": False}, model={"path": first.last_checkpoint})
    cfg = cfg.model_copy(update={"tokenizer": None})  # defaults to the checkpoint's own tokenizer
    second = train(cfg)
    assert second.initial_val_loss == pytest.approx(first.val_loss, abs=1e-6)  # it starts where the first ended
    assert second.val_loss < second.initial_val_loss
