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


def _parse_input_shape(ctx, param, value):
    if value is None:
        return None
    try:
        shape = tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not 1 <= len(shape) <= 4 or min(shape) < 1:
        raise UserError(f"--input-shape {value!r}: expected 1 to 4 positive integers, channels first, e.g. 3,224,224")
    return shape


def input_shape_option(command):
    """`--input-shape C,H,W` for an ONNX model whose input dims are symbolic (netcalc.loading)."""

    @click.option("--input-shape", "input_shape", default=None, metavar="C,H,W", callback=_parse_input_shape,
                  help="For an ONNX model with symbolic input dims: the input size without the batch.")
    @functools.wraps(command)
    def wrapper(*args, input_shape=None, **kwargs):
        from netcalc.loading import INPUT_SHAPE

        token = INPUT_SHAPE.set(input_shape)
        try:
            return command(*args, **kwargs)
        finally:
            INPUT_SHAPE.reset(token)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netcalc")
def cli():
    """Exact shapes, parameters, MACs, FLOPs and receptive fields for CNN specs."""


@cli.command()
@click.argument("spec")
@format_option("table", "json", "csv", "markdown")
@input_shape_option
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


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--answers", type=click.Path(dir_okay=False),
              help="A separate YAML file mapping layer names to expected values (and optionally limits:); "
                   "needs exactly one SPEC.")
@format_option("table", "json", "github")
def check(specs, answers, fmt):
    """Check the spec's expect: answers and limits: budgets.

    Exit 0 when everything holds, 1 when something fails, 2 for a bad spec or answers file
    (with several SPECs, the worst of them). --format github prints GitHub Actions annotations
    (::error file=…,line=…::…) on the exact line of each failing expectation or limit, and
    nothing else on stdout.
    """
    import json

    from netcalc import check as checking

    if answers is not None and len(specs) != 1:
        raise UserError("--answers needs exactly one SPEC")
    worst, reports = ExitCode.OK, []
    for spec in specs:
        try:
            result = checking.check_file(spec, answers)
        except SpecError as exc:
            if fmt == "github":
                message = exc.message if exc.layer is None else f"layer '{exc.layer}': {exc.message}"
                click.echo(checking.github_annotation(message, exc.loc))
            click.echo(f"netcalc: error: {exc}", err=True)
            reports.append({"spec": spec, "ok": False, "error": str(exc)})
            worst = max(worst, exc.exit_code)
            continue
        except RecursionError:
            click.echo(f"netcalc: error: {spec}: the spec nests too deeply to analyse", err=True)
            worst = ExitCode.BAD_INPUT
            continue
        for warning in result.analysis.warnings:
            click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
        if not result.ok:
            worst = max(worst, ExitCode.FAILED)
        if fmt == "json":
            reports.append(dict(spec=spec, **result.to_dict()))
        elif fmt == "github":
            click.echo(checking.render_github(result), nl=False)
            click.echo(f"{spec}: {checking.render_plain_summary(result)}", err=True)
        else:
            checking.render_table(result, make_console())
    if fmt == "json":
        if len(specs) == 1 and "error" not in reports[0]:
            click.echo(json.dumps(reports[0], indent=2, ensure_ascii=False))
        elif reports:
            click.echo(json.dumps({"ok": worst == ExitCode.OK, "specs": reports}, indent=2, ensure_ascii=False))
    sys.exit(int(worst))


def _memory_limit(text):
    from netcalc.executor import default_memory_limit, parse_bytes

    if text is None:
        return default_memory_limit()
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


MAX_MEMORY_HELP = "Refuse (exit 2) before allocating when the estimated peak exceeds this (default: half of MemAvailable)."


def _progress(total: int, description: str):
    """A rich progress bar on stderr when it is a terminal; otherwise a silent stand-in."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext(lambda node: None)
    from rich.progress import Progress

    @contextlib.contextmanager
    def bar():
        with Progress(console=make_console(stderr=True), transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda node: progress.update(task, advance=1, description=f"{description} {node.name}")

    return bar()


@cli.command()
@click.argument("spec")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size of the random input.")
@click.option("--rf", "check_rf", is_flag=True, help="Also measure every receptive field from the backward pass.")
@format_option("table", "json")
@click.option("--max-memory", default=None, metavar="SIZE", help=MAX_MEMORY_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random input and weights.")
@input_shape_option
@reports_errors
def verify(spec, batch, check_rf, fmt, max_memory, seed):
    """Run the NumPy reference executor and check every layer's real output shape (and, with
    --rf, its receptive field) against the calculation. Exit 0 all agree, 1 a mismatch."""
    import json

    from netcalc import verification
    from netcalc.analysis import analyze_file

    analysis = analyze_file(spec)
    for warning in analysis.warnings:
        click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
    limit = _memory_limit(max_memory)
    steps = len(analysis.layers) * (2 if check_rf else 1)
    with _progress(steps, "verify") as tick:
        result = verification.verify(analysis, batch=batch, seed=seed, memory_limit=limit, check_rf=check_rf,
                                     on_layer=tick)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        verification.render_table(result, make_console())
    sys.exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


@cli.command()
@click.argument("spec")
@click.option("--layer", "layer_name", metavar="NAME", help="Explain only this layer (full dotted name).")
@input_shape_option
@reports_errors
def explain(spec, layer_name):
    """The worked formulas behind every number: output size (with the floor/ceil), params, MACs,
    FLOPs, and the receptive field derived top-down beside the exact bottom-up values."""
    from netcalc import explain as explaining
    from netcalc.analysis import analyze_file
    from netcalc.errors import did_you_mean

    analysis = analyze_file(spec)
    if layer_name is not None:
        names = [layer.name for layer in analysis.layers]
        if layer_name not in names:
            layer_name = analysis.graph.spec.outputs.get(layer_name, layer_name)
        if layer_name not in names:
            raise UserError(f"{spec}: no layer named '{layer_name}'{did_you_mean(layer_name, names)}")
    explanations = explaining.explain(analysis, layer_name)
    if sys.stdout.isatty():
        explaining.render_rich(explanations, analysis, make_console())
    else:
        click.echo(explaining.render_plain(explanations, analysis), nl=False)


@cli.command()
@click.option("--indent", type=int, default=2, show_default=True, help="JSON indentation.")
def schema(indent):
    """Print the JSON Schema (draft 2020-12) of the spec format, generated from the layer registry.

    Point your editor at it (e.g. `# yaml-language-server: $schema=netcalc.schema.json`)."""
    import json

    from netcalc.schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=indent, ensure_ascii=False))


@cli.command()
@format_option("table", "json", "plain")
def layers(fmt):
    """List every layer type with its parameters, defaults, aliases and counting rules."""
    from netcalc import schema as schemas

    rows = schemas.layer_rows()
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "plain" or not sys.stdout.isatty():
        click.echo(schemas.render_layers_plain(rows), nl=False)
    else:
        schemas.render_layers_table(rows, make_console())


@cli.command()
@click.argument("spec")
@click.option("--input", "input_path", required=True, metavar="X.npy", help="Input array, batch dim first.")
@click.option("--weights", "weights_path", default=None, metavar="W.npz",
              help="Weights in PyTorch names and layouts (default: seeded random).")
@click.option("--save", "save_path", required=True, metavar="OUT.npz", help="Where to save every layer's output.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--max-memory", default=None, metavar="SIZE", help=MAX_MEMORY_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights (without --weights).")
@input_shape_option
@reports_errors
def run(spec, input_path, weights_path, save_path, dtype, max_memory, seed):
    """Run the reference executor on a given input (and weights); save every layer's output under
    its layer name."""
    import numpy as np

    from netcalc.executor import Executor, check_memory
    from netcalc.graph import build_graph
    from netcalc.loading import load_network

    graph = build_graph(load_network(spec))
    try:
        x = np.load(input_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"{input_path}: cannot read the input array: {exc}") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise UserError(f"{input_path}: expected one numeric array saved with numpy.save (.npy)")
    weights = None
    if weights_path is not None:
        try:
            with np.load(weights_path, allow_pickle=False) as archive:
                weights = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, AttributeError) as exc:
            raise UserError(f"{weights_path}: cannot read the weights archive: {exc}") from None
    if x.ndim != len(graph.input_shape) + 1 or tuple(x.shape[1:]) != tuple(graph.input_shape):
        raise UserError(f"{input_path}: input has shape {list(x.shape)}, expected "
                        f"[N, {', '.join(map(str, graph.input_shape))}] (the batch dim first)")
    if weights is None and graph.spec.weights is not None:  # an ONNX model runs with its initializers
        weights = graph.spec.weights()
    itemsize = np.dtype(dtype).itemsize
    check_memory(graph, x.shape[0], itemsize, _memory_limit(max_memory), keep_all=True)
    executor = Executor(graph, weights, dtype=dtype, seed=seed)  # validates given weights
    with _progress(len(graph.nodes), "run") as tick:
        result = executor.forward(x, keep=True, on_layer=tick)
    try:
        np.savez(save_path, **result.outputs)
    except OSError as exc:
        raise UserError(f"{save_path}: cannot save the outputs: {exc}") from None
    click.echo(f"saved {len(result.outputs)} layer outputs to {save_path}")


# ---- ONNX interchange (contract §8): import and export; logic in netcalc/onnx ----------------------
@cli.command("import")
@click.argument("model", metavar="MODEL.onnx")
@click.option("-o", "--output", "out_path", default=None, metavar="SPEC.yaml", help="Write the spec here (default: stdout).")
@click.option("--weights-out", default=None, metavar="W.npz", help="Also save the initializers in run's weight layout.")
@input_shape_option
@reports_errors
def import_(model, out_path, weights_out):
    """Read an ONNX model and write the equivalent spec (and its weights)."""
    from netcalc.onnx.importer import import_file

    text, layers = import_file(model, out_path, weights_out)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {layers} layers to {out_path}", err=True)


@cli.command()
@click.argument("spec")
@click.option("-o", "--output", "out_path", default=None, metavar="MODEL.onnx",
              help="Where to write the model (default: the spec's name with .onnx).")
@click.option("--weights", "weights_path", default=None, metavar="W.npz",
              help="Weights in PyTorch names and layouts (default: seeded random).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset to write (13 to 21).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
@input_shape_option
@reports_errors
def export(spec, out_path, weights_path, opset, seed):
    """Write the spec as an ONNX model that onnxruntime runs: one named node per layer."""
    from netcalc.onnx.export import export_file

    out_path = out_path or os.path.splitext(os.path.basename(spec))[0] + ".onnx"
    size, layers = export_file(spec, out_path, weights_path, opset, seed)
    click.echo(f"wrote {layers} layers ({size:,} bytes) to {out_path}", err=True)


def main():
    try:
        cli(prog_name="netcalc")
    except Exception as exc:  # a bug in netcalc: still one line, but say so
        if os.environ.get("NETCALC_DEBUG"):
            raise
        click.echo(f"netcalc: internal error: {type(exc).__name__}: {exc} "
                   f"(set NETCALC_DEBUG=1 for a traceback and please report it)", err=True)
        sys.exit(3)
