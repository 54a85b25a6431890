from __future__ import annotations

import json

import pytest

from codelm.cli.main import main
from codelm.data.corpus import make_record, write_corpus
from codelm.errors import InputError
from codelm.tokenizer import load_tokenizer, train_tokenizer_from_corpus
from codelm.tokenizer.train import TokenizerConfig


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, stdlib_split):
    train, held = stdlib_split
    root = tmp_path_factory.mktemp("corpus")
    rec = lambda i, t: make_record("stdlib", f"f{i}.py", t, "python")  # noqa: E731
    write_corpus(
        {
            "train": [rec(i, t) for i, t in enumerate(train[:40])],
            "validation": [rec(i, t) for i, t in enumerate(held[:10])],
            "test": [rec(i, t) for i, t in enumerate(held[10:15])],
        },
        root,
        shard_size=16,
    )
    return root, train[:40], held[:15]


def test_train_from_corpus_reports_every_split(corpus, tmp_path):
    root, _, held = corpus
    tok, report = train_tokenizer_from_corpus(root, 600, tmp_path / "tok")
    assert len(tok) == 600 and report.vocab_size == 600 and report.train_documents == 40
    assert list(report.splits) == ["train", "validation", "test"]
    assert [report.splits[s]["documents"] for s in report.splits] == [40, 10, 5]
    val = report.splits["validation"]
    assert val["bytes"] == sum(len(t.encode()) for t in held[:10])
    assert report.bytes_per_token == val["bytes_per_token"] == round(val["bytes"] / val["tokens"], 4)
    assert report.roundtrip_failures == 0
    saved = json.loads((tmp_path / "tok" / "training_report.json").read_text())
    assert saved["bytes_per_token"] == report.bytes_per_token and saved["eval_split"] == "validation"
    assert load_tokenizer(tmp_path / "tok").get_vocab() == tok.get_vocab()


def test_sampled_training_is_seeded(corpus):
    root, _, _ = corpus
    cfg = TokenizerConfig(max_train_bytes=60_000, seed=3, verify_roundtrip=False)
    tok1, r1 = train_tokenizer_from_corpus(root, 500, config=cfg)
    tok2, r2 = train_tokenizer_from_corpus(root, 500, config=cfg)
    assert 0 < r1.train_documents < 40 and r1.train_documents == r2.train_documents
    assert tok1.backend_tokenizer.to_str() == tok2.backend_tokenizer.to_str()
    # round-trip checking still covers every document of every split
    assert r1.splits["train"]["documents"] == 40 and r1.splits["train"]["roundtrip_failures"] == 0


def test_missing_corpus_is_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        train_tokenizer_from_corpus(tmp_path / "nope", 500)


def test_cli_train_and_encode(corpus, tmp_path, capsys):
    root, _, _ = corpus
    out = tmp_path / "tok"
    code = main(["tokenizer", "train", "--data", str(root), "--vocab-size", "500", "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["vocab_size"] == 500 and result["roundtrip_failures"] == 0
    assert result["splits"]["validation"]["documents"] == 10
    for name in ("tokenizer.json", "tokenizer_config.json", "config.yaml", "log.jsonl", "summary.md"):
        assert (out / name).is_file(), name
    assert "vocab_size: 500" in (out / "config.yaml").read_text()
    assert "| validation | 10 |" in (out / "summary.md").read_text()

    assert main(["tokenizer", "encode", str(out), "x = 10\n", "--json"]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert "".join(p["text"] for p in enc["pieces"]) == "x = 10\n" and enc["roundtrip"] is True
    assert [p["text"] for p in enc["pieces"]][-3:-1] == ["1", "0"]


def test_cli_errors_exit_2(corpus, tmp_path, capsys):
    root, _, _ = corpus
    assert main(["tokenizer", "train", "--vocab-size", "500", "--out", str(tmp_path / "o")]) == 2
    assert "pass --data DIR" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--data", str(root), "--vocab-size", "100", "--out", str(tmp_path / "o")]) == 2
    assert "vocab_size" in capsys.readouterr().err
    assert main(["tokenizer", "encode", str(tmp_path), "x"]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err
