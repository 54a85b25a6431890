"""`codelm train`: config errors exit 2 with one line naming the key and the fix."""

from __future__ import annotations

import json

import pytest
import yaml

from codelm.cli.main import main


def _write(tmp_path, make_cfg, name="cli", **sections):
    cfg = make_cfg(name, **sections).model_dump(mode="json")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["loop.max_stepz=3"], "error: unknown config key 'loop.max_stepz'"),
        (["loop.precision=fp8"], "config key 'loop.precision'"),
        (["data.corpus=/nonexistent/corpus"], "corpus directory '/nonexistent/corpus' does not exist"),
        (["loop.precision=fp16"], "loop.precision=fp16 needs a CUDA GPU"),
        (["memory.limit_gib=0.000001"], "training needs about"),
        (["objectives=[{name: mlm}]"], "objective 'mlm' does not fit the decoder family"),
        (["objectives=[{name: nope}]"], "unknown objective 'nope'"),
        (["model.num_kv_heads=3"], "must be a multiple of model.num_kv_heads"),
        (["model.path=/nonexistent/model"], "set exactly one of model.preset (or model.family), model.path or model.hf"),
    ],
)
def test_config_errors_exit_2_with_one_line(tmp_path, make_cfg, capsys, overrides, message):
    path = _write(tmp_path, make_cfg, model={"preset": "decoder-tiny", "hidden_size": 32, "num_heads": 4, "num_layers": 1})
    args = ["train", str(path), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    assert message in _error_line(capsys)


def test_resume_needs_a_run_directory(tmp_path, make_cfg, capsys):
    path = _write(tmp_path, make_cfg)
    assert main(["train", str(path), "--set", "out=null", "--resume", "--quiet"]) == 2
    assert "--resume needs the run directory" in _error_line(capsys)


def test_train_json_result_and_config_kind(tmp_path, make_cfg, capsys):
    path = _write(tmp_path, make_cfg, loop={"max_steps": 2, "num_threads": 1}, eval={"every": 0, "at_start": False},
                  logging={"plots": False})
    assert main(["config", "train", str(path), "--json"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["loop"]["max_steps"] == 2 and resolved["optim"]["betas"] == [0.9, 0.95]
    assert main(["train", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 2 and result["stop_reason"] == "max_steps"
    assert result["last_checkpoint"].endswith("checkpoints/step-000002")


def test_shipped_train_presets_and_accelerate_configs_resolve():
    from codelm.config import resolve_config
    from codelm.errors import ConfigError
    from codelm.presets import list_presets
    from codelm.train import TrainConfig
    from codelm.train.launch import accelerate_config

    names = {p.name for p in list_presets("train")}
    assert {"decoder-tiny-clm-fim", "encoder-tiny-mlm", "encdec-tiny-span", "decoder-small-clm"} <= names
    families = {}
    for name in names:
        cfg = resolve_config(TrainConfig, None, [], preset=f"train/{name}")
        families[name] = (cfg.model.architecture().resolve().family, [o["name"] for o in cfg.objectives])
    assert families["decoder-tiny-clm-fim"] == ("decoder", ["fim"])
    assert families["encoder-tiny-mlm"] == ("encoder", ["mlm"])
    assert families["encdec-tiny-span"] == ("encdec", ["span"])
    for name in ("ddp_cpu", "fsdp", "deepspeed_zero2"):
        assert yaml.safe_load(accelerate_config(name).read_text())["distributed_type"] in {"MULTI_GPU", "FSDP", "DEEPSPEED"}
    with pytest.raises(ConfigError, match="known: ddp_cpu, deepspeed_zero2, fsdp"):
        accelerate_config("nope")
