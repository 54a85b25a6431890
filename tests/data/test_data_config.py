"""DataConfig: shorthands, one-line errors, presets, `codelm config data`."""

from __future__ import annotations

import pytest

from codelm.cli.main import main
from codelm.config import config_class, resolve_config
from codelm.data.config import DataConfig
from codelm.errors import ConfigError


def test_defaults_follow_the_reference_recipe():
    cfg = DataConfig()
    assert [s.kind for s in cfg.sources] == ["stdlib"]
    f, d = cfg.filters, cfg.dedup
    assert (f.max_line_length, f.max_avg_line_length, f.min_alphanum_fraction) == (1000, 100.0, 0.25)
    assert (f.data_min_chars, f.data_max_chars, f.text_max_lines, f.max_lines, f.generated_lines) == (50, 5000, 512, 100_000, 5)
    assert (d.ngram, d.num_perm, d.bands, d.rows, d.threshold) == (5, 256, 25, 10, 0.7)
    assert (cfg.decontam.ngram, cfg.decontam.humaneval) == (10, True)


def test_source_shorthands_and_kind_registration():
    assert config_class("data") is DataConfig
    cfg = DataConfig(sources="stdlib", decontam={"benchmarks": ["/x/mbpp.jsonl"]})
    assert cfg.sources[0].kind == "stdlib" and cfg.decontam.benchmarks[0].path == "/x/mbpp.jsonl"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dedup.bands=30"], r"config key .dedup. \(from --set\) = dict is invalid: .*bands × rows = 300 exceeds num_perm = 256"),
        (["filters.colour=red"], r"unknown config key 'filters.colour' \(from --set\); known keys here: max_file_bytes"),
        (["split.validation=0.6", "split.test=0.5"], r"validation \+ test must leave room for train"),
        (["sources=[{kind: git}]"], r"a 'git' source needs a path"),
    ],
)
def test_bad_values_are_one_line_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        resolve_config(DataConfig, None, overrides)
    assert "\n" not in str(info.value)


def test_presets_resolve(capsys):
    assert resolve_config(DataConfig, preset="data/smoke").sources[0].max_files == 300
    assert main(["config", "data", "--preset", "data/stdlib", "--json"]) == 0
    assert '"kind": "stdlib"' in capsys.readouterr().out
