from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from codelm.config import (
    CONFIG_KINDS,
    Section,
    deep_merge,
    dump_config,
    parse_overrides,
    resolve_config,
)
from codelm.errors import ConfigError


class Optim(Section):
    lr: float = 1e-3
    warmup: int = Field(default=10, ge=0)


class TrainCfg(Section):
    name: str = "run"
    steps: int = 100
    optim: Optim = Optim()
    tags: list[str] = []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_parse_overrides_nests_and_keeps_scalars_as_text():
    assert parse_overrides(["optim.lr=1e-4", "steps=5", "tags=[a, b]"]) == {
        "optim": {"lr": "1e-4"},
        "steps": "5",
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_parse_overrides_rejects_malformed(bad):
    with pytest.raises(ConfigError, match=r"must look like a\.b\.c=value"):
        parse_overrides([bad])


def test_deep_merge_overrides_leaves_and_replaces_lists():
    assert deep_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {
        "a": {"b": 1, "c": 3},
        "l": [2],
    }


def test_precedence_preset_file_set(tmp_path, monkeypatch):
    import codelm.presets as presets

    root = tmp_path / "presets"
    (root / "train").mkdir(parents=True)
    (root / "train" / "base.yaml").write_text("description: test\nsteps: 1\nname: from-preset\noptim: {lr: 0.5, warmup: 3}\n")
    monkeypatch.setattr(presets, "PRESET_ROOT", root)
    path = write(tmp_path, "preset: train/base\nsteps: 2\noptim: {lr: 0.25}\n")
    cfg = resolve_config(TrainCfg, path, ["optim.lr=0.125"])
    assert (cfg.name, cfg.steps, cfg.optim.lr, cfg.optim.warmup) == ("from-preset", 2, 0.125, 3)


def test_unknown_key_names_dotted_key_source_and_known_keys(tmp_path):
    path = write(tmp_path, "optim: {lrr: 1}\n")
    with pytest.raises(ConfigError) as err:
        resolve_config(TrainCfg, path)
    assert str(err.value) == (
        f"unknown config key 'optim.lrr' (from '{path}'); known keys here: lr, warmup"
    )


def test_wrong_type_names_key_and_expected_type(tmp_path):
    with pytest.raises(ConfigError) as err:
        resolve_config(TrainCfg, None, ["steps=many"])
    message = str(err.value)
    assert message.startswith("config key 'steps' (from --set) = 'many' is invalid: expected int: ")
    assert "valid integer" in message


def test_range_violation_names_key(tmp_path):
    path = write(tmp_path, "optim:\n  warmup: -1\n")
    with pytest.raises(ConfigError, match=r"config key 'optim.warmup' .* = -1 is invalid: expected int: Input should be greater than or equal to 0"):
        resolve_config(TrainCfg, path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(TrainCfg, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        resolve_config(TrainCfg, write(tmp_path, "a: 1\nb: [\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_config(TrainCfg, write(tmp_path, "- 1\n"))


def test_dump_round_trips(tmp_path):
    cfg = resolve_config(TrainCfg, None, ["tags=[x]", "optim.lr=0.01"])
    again = resolve_config(TrainCfg, write(tmp_path, dump_config(cfg)))
    assert again == cfg


def test_cli_config_command_exit_codes(tmp_path, monkeypatch, capsys):
    import json

    from codelm.cli.main import main

    monkeypatch.setitem(CONFIG_KINDS, "test-train", f"{__name__}:TrainCfg")
    path = write(tmp_path, "steps: 7\n")
    assert main(["config", "test-train", str(path), "--set", "optim.lr=0.5", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"name": "run", "steps": 7, "optim": {"lr": 0.5, "warmup": 10}, "tags": []}

    assert main(["config", "test-train", str(write(tmp_path, "bogus: 1\n"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown config key 'bogus'" in err

    assert main(["config", "nope-kind"]) == 2
    assert "unknown config kind 'nope-kind'" in capsys.readouterr().err
