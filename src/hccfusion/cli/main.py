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
        app(standalone_mode=False)
    except UsageError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(2)
    except DataError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
