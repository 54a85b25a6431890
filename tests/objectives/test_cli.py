from __future__ import annotations

import json

from codelm.cli.main import main


def test_objectives_lists_every_objective_with_families(capsys):
    assert main(["objectives", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"clm", "fim", "mlm", "rtd", "span", "ul2", "identifier", "contrastive", "dataflow", "diffusion"}
    assert rows["span"]["families"] == ["encdec", "decoder"]
    assert rows["fim"]["families"] == ["decoder"]
    fim_params = {p["key"]: p["default"] for p in rows["fim"]["parameters"]}
    assert fim_params["fim_rate"] == 0.5 and fim_params["spm_rate"] == 0.5 and fim_params["level"] == "document"
    assert main(["objectives", "--family", "encdec", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"span", "ul2", "identifier", "contrastive"}


def test_objectives_detail_and_errors(capsys):
    assert main(["objectives", "ul2"]) == 0
    text = capsys.readouterr().out
    assert "families: encdec, decoder" in text and "denoisers" in text
    assert main(["objectives", "nope"]) == 2
    assert "unknown objective 'nope'; known: clm, contrastive" in capsys.readouterr().err
    assert main(["objectives", "--family", "gpu"]) == 2


def test_objectives_example_shows_a_decoded_fim_sample(tokenizer, tmp_path, capsys):
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    source = tmp_path / "mod.py"
    source.write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    args = ["objectives", "fim", "--example", str(source), "--tokenizer", str(tmp_path / "tok"),
            "--set", "fim_rate=1.0", "--set", "spm_rate=0.0", "--count", "1", "--json"]
    assert main(args) == 0
    shown = json.loads(capsys.readouterr().out)
    text = shown["examples"][0]["input"]
    assert text.startswith("<fim_prefix>") and "<fim_suffix>" in text and "<fim_middle>" in text
    assert shown["family"] == "decoder"
    assert main(["objectives", "span", "--example", str(source), "--tokenizer", str(tmp_path / "tok"),
                 "--family", "encoder"]) == 2
    assert "does not fit the encoder family; it supports: encdec, decoder" in capsys.readouterr().err
