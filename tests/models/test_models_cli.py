from __future__ import annotations

import json

from codelm.cli.main import main
from codelm.models import ModelConfig, parameter_count

# Exact counts at the stated default vocabulary (32768); they pin the presets.
PRESET_PARAMS = {
    "decoder-tiny": 4_981_888,
    "decoder-small": 31_466_880,
    "decoder-base": 125_854_464,
    "decoder-350m": 343_729_152,
    "decoder-1b": 1_020_348_416,
    "encoder-tiny": 4_801_792,
    "encoder-small": 30_321_920,
    "encoder-base": 136_120_832,
    "encoder-350m": 377_841_664,
    "encoder-1b": 1_029_585_920,
    "encdec-tiny": 5_179_136,
    "encdec-small": 29_106_816,
    "encdec-base": 124_281_600,
    "encdec-350m": 358_017_024,
    "encdec-1b": 1_041_355_776,
}


def test_models_lists_every_preset_with_exact_counts(capsys):
    assert main(["models", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["vocab_size"] == 32768
    rows = {r["name"]: r for r in result["presets"]}
    assert {name: r["parameters"] for name, r in rows.items()} == PRESET_PARAMS
    small = rows["decoder-small"]
    assert small["fp32_gib"] == round(31_466_880 * 4 / 2**30, 4)
    assert small["bf16_gib"] == round(31_466_880 * 2 / 2**30, 4)
    assert small["embedding_parameters"] == 32768 * 384  # tied: counted once
    assert rows["decoder-1b"]["embedding_parameters"] == 2 * 32768 * 2048  # untied
    assert all(r["description"] for r in rows.values())


def test_models_detail_with_overrides(capsys):
    assert main(["models", "decoder-tiny", "--set", "num_layers=2", "--vocab-size", "1000", "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["parameters"] == parameter_count(ModelConfig(preset="decoder-tiny", num_layers=2), 1000)
    assert detail["config"]["num_layers"] == 2 and detail["load_with"] == "AutoModelForCausalLM"
    assert main(["models", "--family", "encdec"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["preset", "params"] and len(table) == 6
    assert table[1].split()[:2] == ["encdec-tiny", "5,179,136"]


def test_models_errors_exit_2(capsys):
    assert main(["models", "--family", "rnn"]) == 2
    assert "known: decoder, encoder, encdec" in capsys.readouterr().err
    assert main(["models", "decoder-huge"]) == 2
    assert "unknown preset 'decoder-huge'" in capsys.readouterr().err
    assert main(["models", "--set", "num_layers=2"]) == 2
