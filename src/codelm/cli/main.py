"""The `codelm` command.

Command groups live one per module in `codelm.cli`; each module exposes
`register(app)`. Modules import heavy libraries (torch, transformers) inside
their command functions so `codelm --help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import typer

from codelm import __version__
from codelm.errors import CodelmError

# codelm draws its own progress bars (on stderr, off under --quiet/--json);
# the Hugging Face libraries' per-file bars would interleave with them.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Modules that add commands, in `--help` order. A group is listed here only
# once its feature works.
COMMAND_MODULES = [
    "codelm.cli.presets",
    "codelm.cli.config",
    "codelm.cli.data",
    "codelm.cli.tokenizer",
    "codelm.cli.models",
    "codelm.cli.train",
    "codelm.cli.analyze",
    "codelm.cli.eval",
    "codelm.cli.generate",
    "codelm.cli.serve",
    "codelm.cli.objectives",
    "codelm.cli.quickstart",
]

app = typer.Typer(
    name="codelm",
    help="Build code language models end to end: data, tokenizer, models, training, serving, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"codelm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """codelm: build, train, serve and evaluate code language models."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors exit 2 with one line; bugs keep their traceback.

    Typer's standalone mode handles usage errors (exit 2), `--help` and Ctrl-C;
    a `CodelmError` raised by a command propagates to here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="codelm")
    except CodelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
