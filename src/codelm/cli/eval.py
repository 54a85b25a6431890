"""`codelm eval ...`: evaluation commands; `exec` runs one program in the sandbox.

The group is shared: other evaluation commands (run, samples, metric, tasks)
are added to `eval_app` by their own modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from codelm.cli.common import JsonOpt, Output, QuietOpt, SetOpt

eval_app = typer.Typer(
    name="eval",
    help="Evaluate code models: run programs in the sandbox, generate samples, score them.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Exit codes of `codelm eval exec`: the program's outcome, so scripts can branch on it.
EXIT_PASSED, EXIT_PROGRAM_FAILED, EXIT_SANDBOX_ERROR = 0, 1, 3


@eval_app.command("exec")
def exec_cmd(
    file: Annotated[Path, typer.Argument(help="Program to run ('-' reads it from stdin).", show_default=False)],
    lang: Annotated[str | None, typer.Option("--lang", help="python, javascript, c, cpp, java (default: from the extension, else python).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Wall-clock limit in seconds [default: 10].")] = None,
    memory_mb: Annotated[int | None, typer.Option("--memory-mb", help="Memory limit in MiB [default: 1024].")] = None,
    stdin: Annotated[Path | None, typer.Option("--stdin", help="File fed to the program's standard input.")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="auto, bwrap, unshare or rlimit.")] = None,
    allow_unsafe: Annotated[bool, typer.Option("--allow-unsafe", help="Permit the rlimit tier (no isolation).")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Sandbox config YAML (keys of SandboxConfig).")] = None,
    set_: SetOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run FILE once in the sandbox and report how it ended.

    The program's stdout and stderr are passed through (or, with --json, one
    document {"status", "exit_code", "signal", "stdout", "stderr", "seconds",
    "tier"} is printed). Exit code: 0 passed, 1 the program failed in any way,
    3 the sandbox itself failed.
    """
    from rich.markup import escape

    from codelm.config import resolve_config
    from codelm.errors import InputError
    from codelm.eval.sandbox import Sandbox, SandboxConfig
    from codelm.eval.sandbox.languages import get_language, language_for_file

    out = Output(json_out, quiet)
    if str(file) == "-":
        code = sys.stdin.read()
    elif not file.is_file():
        raise InputError(f"program file '{file}' does not exist; pass the path of a source file")
    else:
        code = file.read_text(encoding="utf-8", errors="surrogateescape")
    data = None
    if stdin is not None:
        if not stdin.is_file():
            raise InputError(f"--stdin file '{stdin}' does not exist")
        data = stdin.read_text(encoding="utf-8", errors="surrogateescape")
    overrides = list(set_ or [])
    if timeout is not None:
        overrides.append(f"limits.timeout_s={timeout}")
    if memory_mb is not None:
        overrides.append(f"limits.memory_mb={memory_mb}")
    if tier is not None:
        overrides.append(f"tier={tier}")
    if allow_unsafe:
        overrides.append("allow_unsafe=true")
    overrides.append("workers=1")
    cfg = resolve_config(SandboxConfig, config, overrides)
    language = get_language(lang or language_for_file(str(file))).name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Sandbox(cfg) as sandbox:
            result = sandbox.run(code, language, stdin=data)
    for w in caught:
        out.warn(str(w.message))
    if out.json_mode:
        out.result(result.to_json())
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        if result.stderr:
            sys.stderr.write(result.stderr)
        where = f"exit {result.exit_code}" if result.exit_code is not None else (
            f"signal {result.signal}" if result.signal is not None else "no exit status")
        extra = f", {result.error_type}" if result.error_type else ""
        note = f" - {result.detail}" if result.detail else ""
        out.info(escape(f"{result.status} ({where}{extra}) in {result.seconds:.3f} s [{result.tier}]{note}"))
    if result.status == "passed":
        code_out = EXIT_PASSED
    elif result.status == "sandbox_error":
        code_out = EXIT_SANDBOX_ERROR
    else:
        code_out = EXIT_PROGRAM_FAILED
    raise typer.Exit(code_out)


def register(app: typer.Typer) -> None:
    # The harness commands (run, samples, metric, tasks) live in their own module
    # and join this group when present.
    if importlib.util.find_spec("codelm.cli.eval_commands") is not None:
        importlib.import_module("codelm.cli.eval_commands").register_commands(eval_app)
    app.add_typer(eval_app, name="eval")
