"""`codelm eval run|samples|metric|tasks` through the real CLI entry point."""

from __future__ import annotations

import json

import pytest

from codelm.cli.main import main
from codelm.eval.tasks import get_task


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_tasks_and_metric_listing(capsys):
    assert main(["eval", "tasks", "--json"]) == 0
    names = {t["name"] for t in _json(capsys)}
    assert {"humaneval", "mbpp", "repo-next-line", "perplexity"} <= names
    assert main(["eval", "metric", "--list", "--json"]) == 0
    assert "codebleu" in {m["name"] for m in _json(capsys)}


def test_metric_from_jsonl_files(tmp_path, capsys):
    preds, refs = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    preds.write_text(json.dumps({"text": "def add ( a , b ) :\n return a + b"}) + "\n")
    refs.write_text(json.dumps({"text": ["def sum ( first , second ) :\n return second + first"]}) + "\n")
    assert main(["eval", "metric", "codebleu", "--predictions", str(preds), "--references", str(refs),
                 "--lang", "python", "--json"]) == 0
    result = _json(capsys)
    assert result["score"] == pytest.approx(0.5537, rel=0.01)
    assert result["components"]["weighted_ngram_match"] == pytest.approx(0.1109, rel=0.01)
    assert main(["eval", "metric", "sentence-bleu", "--predictions", str(preds), "--references", str(refs),
                 "--option", "smooth_method=add-k", "--json"]) == 0
    assert _json(capsys)["components"]["smooth_method"] == "add-k"
    assert main(["eval", "metric", "bleu", "--predictions", str(preds)]) == 2
    assert "pass --references FILE" in capsys.readouterr().err
    refs.write_text('{"txt": "x"}\n')
    assert main(["eval", "metric", "bleu", "--predictions", str(preds), "--references", str(refs)]) == 2
    assert 'r.jsonl:1 has no "text" key' in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_samples_and_run_commands(tmp_path, capsys):
    problems = get_task("humaneval").problems()[:2]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p.task_id, "completion": p.canonical_solution}) + "\n"
                               for p in problems))
    ids = json.dumps([p.task_id for p in problems])
    out = tmp_path / "scored"
    code = main(["eval", "samples", str(samples), "--problems", "humaneval", "--k", "1", "--out", str(out),
                 "--set", f"task_options.ids={ids}", "--set", f"execution.cache_dir={tmp_path / 'cache'}", "--json"])
    assert code == 0
    summary = _json(capsys)
    assert summary["metrics"] == {"pass@1": 1.0} and summary["run_dir"] == str(out)
    assert {"results.jsonl", "summary.json", "report.html", "config.yaml"} <= {p.name for p in out.iterdir()}
    code = main(["eval", "run", "--task", "humaneval", "--model", "canonical", "--limit", "2", "--out",
                 str(tmp_path / "run"), "--set", f"execution.cache_dir={tmp_path / 'cache'}", "--quiet"])
    assert code == 0
    human = capsys.readouterr().out
    assert "pass@1: 1.0000" in human and "sandbox tier:" in human


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["eval", "run", "--task", "humaneval", "--out", str(tmp_path / "a")]) == 2
    assert "give --model" in capsys.readouterr().err
    assert main(["eval", "run", "--task", "humaneval", "--model", "canonical", "--n", "2", "--k", "1,10",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "pass@10 needs at least 10 samples" in err and len(err.strip().splitlines()) == 1
    assert main(["eval", "run", "--task", "mbpp", "--model", "canonical", "--out", str(tmp_path / "c")]) == 2
    assert "task_options.path" in capsys.readouterr().err


def test_shipped_eval_presets_validate():
    from codelm.config import resolve_config
    from codelm.eval.config import EvalConfig

    cfg = resolve_config(EvalConfig, None, ["generation.n=30"], "eval/humaneval-pass10")
    assert cfg.k == [1, 10] and cfg.generation.temperature == 0.8 and cfg.generation.n == 30
    assert resolve_config(EvalConfig, None, [], "eval/humaneval-pass1").generation.temperature == 0.2
