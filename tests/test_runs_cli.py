from __future__ import annotations

import json
import os
import subprocess
import sys

from codelm import __version__
from codelm.cli.main import main
from codelm.config import Section
from codelm.errors import ConfigError, MissingDependencyError, require
from codelm.registry import Registry
from codelm.runs import RunDir


class Tiny(Section):
    x: int = 1


def test_run_dir_files(tmp_path):
    run = RunDir.create(tmp_path, "r1")
    run.save_config(Tiny(x=3))
    run.log("metric", step=1, loss=2.5)
    run.log("metric", step=2, loss=2.0)
    run.log("note", text="hi")
    (run.path / "log.jsonl").open("a").write('{"cut short')  # a killed writer
    run.write_summary("# done")
    assert (run.path / "config.yaml").read_text() == "x: 3\n"
    assert [(r["step"], r["loss"]) for r in run.read_log("metric")] == [(1, 2.5), (2, 2.0)]
    assert (run.path / "summary.md").read_text() == "# done\n"
    generated = RunDir.create(tmp_path, prefix="train")
    assert generated.path.name.startswith("train-") and generated.path.is_dir()


def test_registry_unknown_lists_known():
    reg: Registry[int] = Registry("objective")
    reg.add("fim", 1)
    reg.add("clm", 2)
    assert reg.get("fim") == 1 and reg.names() == ["clm", "fim"]
    try:
        reg.get("flm", key="objectives.0.name")
    except ConfigError as err:
        assert str(err) == "objectives.0.name: unknown objective 'flm'; known: clm, fim"
    else:
        raise AssertionError("expected ConfigError")


def test_require_explains_extra():
    try:
        require("codelm_no_such_module", "gpu", "Serving with vLLM")
    except MissingDependencyError as err:
        assert str(err).startswith(
            "Serving with vLLM needs the 'codelm_no_such_module' package: pip install 'codelm[gpu]'"
        )
    else:
        raise AssertionError("expected MissingDependencyError")


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"codelm {__version__}\n"
    assert main(["presets", "--help"]) == 0
    assert "one-line descriptions" in capsys.readouterr().out


def test_presets_json_lists_every_shipped_preset(capsys):
    from codelm.presets import PRESET_ROOT

    assert main(["presets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    shipped = sorted(f"{p.parent.name}/{p.stem}" for p in PRESET_ROOT.glob("*/*.yaml"))
    assert [r["name"] for r in rows] == shipped
    assert all(r["description"] for r in rows)


def test_usage_error_exits_2_and_console_script_works():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    bad = subprocess.run([sys.executable, "-m", "codelm", "presets", "--no-such-flag"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "No such option" in bad.stderr
    ok = subprocess.run([sys.executable, "-m", "codelm", "--version"], capture_output=True, text=True, env=env)
    assert (ok.returncode, ok.stdout) == (0, f"codelm {__version__}\n")
