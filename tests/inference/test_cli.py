"""`codelm generate` and `codelm serve` from the command line."""

from __future__ import annotations

import json

from codelm.cli.main import main


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_generate_json(capsys, decoder_dir):
    data = _json(
        capsys, ["generate", "--model", str(decoder_dir), "--prompt", "for i in", "--json"]
    )
    [result] = data["results"]
    [c] = result["completions"]
    assert (c["text"], c["finish_reason"]) == (" range(10):\n    print(i)\n", "stop")
    assert (
        data["model"]["kind"] == "decoder"
        and data["model"]["quantize"] is None
        and data["model"]["fim"] is True
    )
    assert data["generated_tokens"] == len(c["token_ids"])


def test_generate_infill_stop_and_options(capsys, decoder_dir):
    data = _json(
        capsys,
        [
            "generate",
            "-m",
            str(decoder_dir),
            "-p",
            "for i in range(10):\n    ",
            "--suffix",
            "\n",
            "--json",
        ],
    )
    assert data["results"][0]["completions"][0]["text"] == "print(i)"
    data = _json(
        capsys,
        [
            "generate",
            "-m",
            str(decoder_dir),
            "-p",
            "for i in",
            "--stop",
            "print",
            "--stop",
            "zz",
            "--quantize",
            "int8",
            "--logprobs",
            "1",
            "--json",
        ],
    )
    c = data["results"][0]["completions"][0]
    assert c["text"] == " range(10):\n    " and len(c["logprobs"]) == len(c["token_ids"])
    assert data["model"]["quantize"] == "int8" and data["config"]["stop"] == ["print", "zz"]


def test_generate_from_files_and_plain_output(capsys, decoder_dir, tmp_path):
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text(
        json.dumps({"prompt": "import"})
        + "\n\n"
        + json.dumps({"prompt": "import os\n", "suffix": "\n"})
        + "\n"
    )
    data = _json(capsys, ["generate", "-m", str(decoder_dir), "--file", str(jsonl), "--json"])
    texts = [r["completions"][0]["text"] for r in data["results"]]
    assert texts == [" os\nprint(os.getcwd())\n", "print(os.getcwd())"]
    text_file = tmp_path / "prompt.txt"
    text_file.write_text("for i in")
    assert main(["generate", "-m", str(decoder_dir), "-f", str(text_file), "-q"]) == 0
    assert capsys.readouterr().out == " range(10):\n    print(i)\n\n"
    config = tmp_path / "gen.yaml"
    config.write_text("max_new_tokens: 3\n")
    data = _json(
        capsys, ["generate", "-m", str(decoder_dir), "-p", "for i in", "-c", str(config), "--json"]
    )
    assert (
        data["results"][0]["completions"][0]["finish_reason"] == "length"
        and data["generated_tokens"] == 3
    )
    assert main(["generate", "-m", str(decoder_dir), "-p", "for i in", "--stream", "-q"]) == 0
    assert capsys.readouterr().out == " range(10):\n    print(i)\n\n"


def test_generate_user_errors_exit_2(capsys, decoder_dir, tmp_path):
    cases = [
        (["generate", "-m", str(decoder_dir)], "exactly one of --prompt"),
        (["generate", "-m", str(tmp_path / "nope"), "-p", "x"], "does not exist"),
        (
            [
                "generate",
                "-m",
                str(decoder_dir),
                "-p",
                "x",
                "--quantize",
                "int8",
                "--dtype",
                "bfloat16",
            ],
            "needs dtype float32",
        ),
        (["generate", "-m", str(decoder_dir), "-p", "x", "--temperature", "-1"], "temperature"),
        (
            ["generate", "-m", str(decoder_dir), "-p", "x", "--set", "bogus=1"],
            "unknown config key 'bogus'",
        ),
        (
            ["generate", "-m", str(decoder_dir), "-p", "x", "--max-new-tokens", "999"],
            "context of 256 tokens",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_serve_user_errors_exit_2(capsys, decoder_dir, tmp_path):
    assert main(["serve", "--model", str(decoder_dir), "--engine", "vllm"]) == 2
    assert "needs the 'vllm' package: pip install 'codelm[gpu]'" in capsys.readouterr().err
    assert main(["serve"]) == 2
    assert "pass --model DIR" in capsys.readouterr().err
    assert main(["serve", "--model", str(decoder_dir), "--model-name", "gpt-mini"]) == 2
    assert "contains 'gpt'" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
