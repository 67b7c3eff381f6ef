"""The ``hccfusion`` command. Each sub-command group lives in its own module and imports the
library inside its functions, so that ``hccfusion --help`` stays instant."""

from __future__ import annotations

import importlib
import sys

import typer

from hccfusion import __version__

app = typer.Typer(
    name="hccfusion",
    help="From case report forms to multimodal survival models for a uHCC cohort study.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: (group name, module): every module defines ``app`` (a Typer) or ``command`` (a function).
SUBCOMMANDS: list[tuple[str, str]] = [
    ("crf", "hccfusion.cli.crf"),
    ("cohort", "hccfusion.cli.cohort"),
    ("deid", "hccfusion.cli.deid"),
    ("simulate", "hccfusion.cli.simulate"),
    ("endpoints", "hccfusion.cli.endpoints"),
    ("report", "hccfusion.cli.report"),
    ("demo", "hccfusion.cli.demo"),
    ("features", "hccfusion.cli.features"),
    ("train", "hccfusion.cli.train"),
    ("predict", "hccfusion.cli.predict"),
    ("evaluate", "hccfusion.cli.evaluate"),
    ("mechanism", "hccfusion.cli.mechanism"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hccfusion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """hccfusion: validate, ingest, freeze, analyse and share the study's data."""


def _register() -> None:
    for name, module_name in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        else:
            app.command(name=name)(module.command)


_register()


def main() -> None:
    """Entry point: user mistakes print one line (exit 1 bad data, 2 bad usage), no traceback."""
    from hccfusion.errors import DataError, UsageError

    try:
        rv = app(standalone_mode=False)
    except UsageError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(2)
    except DataError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Typer's own parsing errors (unknown command, missing argument, --help on no args)
        # carry show() and exit_code; anything else is a bug and keeps its traceback.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
