"""The command line: a thin layer over spec → graph → analysis → report."""

from __future__ import annotations

import functools
import os
import sys

import click

from netcalc import __version__
from netcalc.errors import ExitCode, SpecError


class UserError(click.ClickException):
    """One line on stderr and a documented exit code; never a traceback."""

    def __init__(self, message: str, exit_code: int = ExitCode.BAD_INPUT):
        super().__init__(message)
        self.exit_code = int(exit_code)

    def show(self, file=None) -> None:
        click.echo(f"netcalc: error: {self.format_message()}", err=True)


def reports_errors(command):
    """Turn SpecError (and friends) into one-line errors with the right exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpecError as exc:
            raise UserError(str(exc), exc.exit_code) from None
        except RecursionError:
            raise UserError("the spec nests too deeply to analyse") from None
        except MemoryError:
            raise UserError("out of memory") from None

    return wrapper


def make_console(stderr: bool = False):
    """A rich console: no colour when not a terminal or when NO_COLOR is set; a fixed, wide
    width when piped so tables do not wrap."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    width = None if tty else int(os.environ.get("COLUMNS", 120))
    return Console(file=stream, no_color=not tty or "NO_COLOR" in os.environ,
                   width=width, highlight=False, soft_wrap=False)


def format_option(*choices: str, default: str = "table"):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format: a rich table for people, the rest for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netcalc")
def cli():
    """Exact shapes, parameters, MACs, FLOPs and receptive fields for CNN specs."""


@cli.command()
@click.argument("spec")
@format_option("table", "json", "csv", "markdown")
@reports_errors
def analyze(spec, fmt):
    """Per-layer output shape, params, MACs, FLOPs and receptive field, with totals."""
    from netcalc.analysis import analyze_file
    from netcalc import report

    analysis = analyze_file(spec)
    for warning in analysis.warnings:
        click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
    if fmt == "table":
        report.render_table(analysis, make_console())
    else:
        click.echo(report.render_text(analysis, fmt), nl=False)


def main():
    try:
        cli(prog_name="netcalc")
    except Exception as exc:  # a bug in netcalc: still one line, but say so
        if os.environ.get("NETCALC_DEBUG"):
            raise
        click.echo(f"netcalc: internal error: {type(exc).__name__}: {exc} "
                   f"(set NETCALC_DEBUG=1 for a traceback and please report it)", err=True)
        sys.exit(3)
