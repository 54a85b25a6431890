"""`codelm eval exec`."""

from __future__ import annotations

import json

import pytest

from codelm.cli.main import main

pytestmark = pytest.mark.timeout(60)

KEYS = ["status", "exit_code", "signal", "stdout", "stderr", "seconds", "tier"]


def test_exec_json(tmp_path, capsys):
    prog = tmp_path / "p.py"
    prog.write_text("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert main(["eval", "exec", str(prog), "--json", "--timeout", "2", "--memory-mb", "256"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == KEYS
    assert (doc["status"], doc["exit_code"], doc["signal"], doc["stdout"], doc["stderr"], doc["tier"]) == \
        ("passed", 0, None, "out\n", "err\n", "bwrap")


def test_exec_statuses_exit_codes_stdin_and_languages(tmp_path, capsys):
    loop = tmp_path / "loop.py"
    loop.write_text("while True:\n    pass\n")
    assert main(["eval", "exec", str(loop), "--json", "--timeout", "0.5"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "timeout"
    echo = tmp_path / "echo.js"
    echo.write_text("process.stdin.on('data', d => process.stdout.write(d.toString().toUpperCase()))")
    data = tmp_path / "in.txt"
    data.write_text("abc")
    assert main(["eval", "exec", str(echo), "--stdin", str(data)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ABC"
    assert captured.err.startswith("passed (exit 0) in ") and captured.err.rstrip().endswith("[bwrap]")
    c = tmp_path / "prog.txt"
    c.write_text('#include <stdio.h>\nint main(void) { puts("c!"); return 4; }')
    assert main(["eval", "exec", str(c), "--lang", "c", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["status"], doc["exit_code"], doc["stdout"]) == ("failed", 4, "c!\n")


def test_exec_user_errors(tmp_path, capsys):
    assert main(["eval", "exec", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    prog = tmp_path / "p.py"
    prog.write_text("pass")
    assert main(["eval", "exec", str(prog), "--lang", "cobol"]) == 2
    assert "unknown language 'cobol'" in capsys.readouterr().err
    assert main(["eval", "exec", str(prog), "--tier", "rlimit"]) == 2
    assert "allow_unsafe" in capsys.readouterr().err
