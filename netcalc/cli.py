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


def piped_width() -> int:
    return int(os.environ.get("COLUMNS", 200))


def make_console(stderr: bool = False):
    """A rich console: no colour when not a terminal or when NO_COLOR is set; a fixed, wide
    width when piped so tables do not wrap."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    width = None if tty else piped_width()
    return Console(file=stream, no_color=not tty or "NO_COLOR" in os.environ,
                   width=width, highlight=False, soft_wrap=False)


def format_option(*choices: str, default: str = "table"):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format: a rich table for people, the rest for scripts.")


# ---- batch, precision and memory options (contract §9), shared by analyze, check and verify ----

def memory_options(batch_help: str = "Batch size of the memory and batch-wide figures (default: the spec's "
                                     "batch:, else 1)."):
    """--batch, --dtype and --optimizer; None when not given, so the spec's top-level keys apply."""
    from netcalc.precision import DTYPES, OPTIMIZERS

    def decorate(command):
        command = click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None,
                               help="Optimizer state in the training figure (default: the spec's optimizer:, "
                                    "else adam).")(command)
        command = click.option("--dtype", type=click.Choice(DTYPES), default=None,
                               help="Precision of the memory figures; 16-bit training is mixed precision "
                                    "(default: the spec's dtype:, else float32).")(command)
        return click.option("--batch", type=click.IntRange(min=1), default=None, help=batch_help)(command)

    return decorate
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
@format_option("table", "json", "csv", "markdown", "html")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Write the report to FILE instead of stdout (any format but table).")
@input_shape_option
@memory_options()
@reports_errors
def analyze(spec, fmt, output, batch, dtype, optimizer):
    """Per-layer output shape, params, MACs, FLOPs, receptive field and CPR, with totals, where
    params and MACs sit by layer kind, and the memory inference and a training step need.

    --format html -o report.html writes one self-contained page (sortable table, charts, diagram)."""
    import gc

    from netcalc.analysis import analyze_file
    from netcalc import report

    # A short-lived process that builds one large object graph: the cyclic collector would scan it
    # again and again as it grows (half the time of a 10,000-layer spec); nothing here is cyclic
    # garbage, reference counting frees it all.
    gc.disable()
    analysis = analyze_file(spec, batch, dtype, optimizer)
    leave_for_exit(analysis)
    analysis.memory  # noqa: B018  (computed up front so its warnings are printed below)
    for warning in analysis.warnings:
        click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
    if fmt == "table":
        if output is not None:
            raise UserError("-o needs a file format: --format json, csv, markdown or html")
        # piped: the same table drawn without rich (a tenth of the time), when it fits the width
        plain = None if sys.stdout.isatty() else report.plain_table(analysis, piped_width())
        if plain is not None:
            click.echo(plain, nl=False)
        else:
            report.render_table(analysis, make_console())
    else:
        text = _html_report(analysis) if fmt == "html" else report.render_text(analysis, fmt)
        _write_output(text.encode(), output)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--answers", type=click.Path(dir_okay=False),
              help="A separate YAML file mapping layer names to expected values (and optionally limits:); "
                   "needs exactly one SPEC.")
@format_option("table", "json", "github")
@memory_options("Batch size the memory budgets are checked at (default: the spec's batch:, else 1).")
def check(specs, answers, fmt, batch, dtype, optimizer):
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
    outcomes = []
    for outcome in checking.check_specs(specs, answers, batch, dtype, optimizer):
        outcomes.append(outcome)
        spec, result = outcome.spec, outcome.result
        if outcome.error is not None:
            if fmt == "github":
                click.echo(checking.error_annotation(outcome.error))
            click.echo(f"netcalc: error: {outcome.error}", err=True)
            continue
        for warning in result.analysis.warnings:
            click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
        if fmt == "github":
            click.echo(checking.render_github(result), nl=False)
            click.echo(f"{spec}: {checking.render_plain_summary(result)}", err=True)
        elif fmt == "table":
            checking.render_table(result, make_console())
    report = checking.json_report(outcomes) if fmt == "json" else None
    if report is not None:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    sys.exit(int(checking.worst_exit(outcomes)))


def _memory_limit(text):
    from netcalc.executor import default_memory_limit
    from netcalc.units import UnitError, parse_bytes

    if text is None:
        return default_memory_limit()
    try:
        return parse_bytes(text)
    except UnitError as exc:
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
@memory_options("Batch size of the random input (default 1) and of the memory figures (default: the spec's "
                "batch:, else 1).")
@click.option("--rf", "check_rf", is_flag=True, help="Also measure every receptive field from the backward pass.")
@click.option("--memory", "check_memory", is_flag=True,
              help="Also measure the executor's real peak (tracemalloc) against netcalc's float32 inference peak.")
@format_option("table", "json")
@click.option("--max-memory", default=None, metavar="SIZE", help=MAX_MEMORY_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random input and weights.")
@click.option("--probe", type=click.Choice(["support", "float"]), default="support", show_default=True,
              help="With --rf: support (backward-only 0/1 propagation, fast) or float (the executor's float32 "
                   "backward at full channels, the reference).")
@input_shape_option
@reports_errors
def verify(spec, batch, dtype, optimizer, check_rf, check_memory, fmt, max_memory, seed, probe):
    """Run the NumPy reference executor and check every layer's real output shape (and, with
    --rf, its receptive field) against the calculation. Exit 0 all agree, 1 a mismatch."""
    import json

    from netcalc import verification
    from netcalc.analysis import analyze_file

    analysis = analyze_file(spec, batch, dtype, optimizer)
    analysis.memory  # noqa: B018  (computed up front so its warnings are printed below)
    for warning in analysis.warnings:
        click.echo(f"netcalc: warning: {spec}: {warning}", err=True)
    limit = _memory_limit(max_memory)
    steps = len(analysis.layers) * (2 if check_rf else 1) + (len(analysis.layers) if check_memory else 0)
    with _progress(steps, "verify") as tick:
        # the executor runs at --batch (default 1, whatever the spec's batch: says for its budgets)
        result = verification.verify(analysis, batch=batch or 1, seed=seed, memory_limit=limit,
                                     check_rf=check_rf, on_layer=tick, check_memory=check_memory,
                                     probe=probe)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        verification.render_table(result, make_console())
    sys.exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


@cli.command()
@click.argument("spec")
@click.option("--layer", "layer_name", metavar="NAME", help="Explain only this layer (full dotted name).")
@input_shape_option
@memory_options()
@reports_errors
def explain(spec, layer_name, batch, dtype, optimizer):
    """The worked formulas behind every number: output size (with the floor/ceil), params, MACs,
    FLOPs, the receptive field derived top-down beside the exact bottom-up values, and the
    layer's memory (its output, what it keeps for backward in training)."""
    from netcalc import explain as explaining
    from netcalc.analysis import analyze_file
    from netcalc.errors import did_you_mean

    analysis = analyze_file(spec, batch, dtype, optimizer)
    if layer_name is not None:
        found = analysis.resolve_name(layer_name)
        if found is None:
            names = [layer.name for layer in analysis.layers]
            raise UserError(f"{spec}: no layer named '{layer_name}'{did_you_mean(layer_name, names)}")
        layer_name = found
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
    from netcalc import running
    from netcalc.graph import build_graph
    from netcalc.loading import load_network

    graph = build_graph(load_network(spec))
    outputs = running.run(graph, input_path, weights_path, dtype, _memory_limit(max_memory), seed,
                          progress=lambda total: _progress(total, "run"))
    running.save_outputs(save_path, outputs)
    click.echo(f"saved {len(outputs)} layer outputs to {save_path}")


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
        sys.exit(int(ExitCode.INTERNAL))


# What the console script leaves for os._exit to drop (see leave_for_exit); None when commands
# run inside another process (tests, click's runner), where everything is freed as usual.
_left_for_exit: list | None = None


def leave_for_exit(result) -> None:
    """Keep a large result (an analysis) alive until the console script ends the process: freeing
    a 10,000-layer analysis object by object when the command returns took 60 ms for nothing."""
    if _left_for_exit is not None:
        _left_for_exit.append(result)


def console_main():
    """The `netcalc` console script and `python -m netcalc`: main(), then the process ends."""
    global _left_for_exit
    _left_for_exit = []
    try:
        main()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code) -> None:
    """Flush and end the process without tearing down its objects one by one: the command is
    done, and freeing a large analysis (a 10,000-layer spec's) took a tenth of a second for
    nothing (mypy ends the same way). Only the console script ends like this: code that calls
    main() or `cli` in its own process (tests, click's runner) gets SystemExit as usual."""
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): Python prints it and exits 1
        click.echo(code, err=True)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe (netcalc … | head): nothing more can be said
        pass
    os._exit(code)


# ---- review and teaching: diff, solve, quiz (issue 14; logic in diff.py, solve.py, quiz.py) ----

@cli.command("diff")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@format_option("table", "json", "markdown")
@click.option("--fail-over", "fail_over", type=click.FloatRange(min=0), default=None, metavar="PERCENT",
              help="Exit 1 when a total (params, MACs, FLOPs, activations) grows by more than PERCENT %.")
@input_shape_option  # issue 10: ONNX models with symbolic input dims (both sides)
@reports_errors
def diff_command(old, new, fmt, fail_over):
    """Layer-by-layer and total differences between two specs (OLD may be git:REV:path).

    Layers match by name, then renamed ones by position and type. Exit 0, or 1 with
    --fail-over when a total grows by more than PERCENT."""
    import json

    from netcalc import diff as diffing

    result = diffing.diff(old, new)
    for side, analysis in ((old, result.old), (new, result.new)):
        for warning in analysis.warnings:
            click.echo(f"netcalc: warning: {side}: {warning}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(diffing.render_markdown(result), nl=False)
    else:
        diffing.render_table(result, make_console())
    grown = result.grown_over(fail_over) if fail_over is not None else []
    for metric in grown:
        total = result.totals[metric]
        click.echo(f"netcalc: {diffing.LABELS[metric]} grew by {diffing.percent_text(total)} "
                   f"({total.old:,} → {total.new:,}), more than --fail-over {fail_over:g} %", err=True)
    sys.exit(int(ExitCode.FAILED if grown else ExitCode.OK))


@cli.command()
@click.option("--layer", metavar="TYPE", help="One-layer question: conv, maxpool, avgpool or conv_transpose.")
@click.option("--in", "n_in", metavar="N", help="Input size along one axis (with --rf: the square input, default 224).")
@click.option("--out", "n_out", metavar="M", help="Wanted output size along that axis (one-layer question).")
@click.option("--kernel", metavar="A..B", help="Kernel sizes to try (default 1..11).")
@click.option("--stride", metavar="A..B", help="Strides to try (default 1..4).")
@click.option("--padding", metavar="A..B", help="Symmetric paddings to try (default 0..kernel−1).")
@click.option("--dilation", metavar="A..B", help="Dilations to try (default 1).")
@click.option("--output-padding", "output_padding", metavar="A..B",
              help="conv_transpose output paddings to try (default all valid: 0..max(stride, dilation)−1).")
@click.option("--ceil-mode", "ceil_mode", is_flag=True, help="The pooling layer uses ceil_mode.")
@click.option("--rf", "rf_size", metavar="R", help="Stack question: the receptive field to reach.")
@click.option("--total-stride", "total_stride", metavar="S", help="Stack question: the total stride to reach.")
@click.option("--menu", default="conv3,conv3s2", show_default=True,
              help="Stack layers: conv<k>[s<stride>][d<dilation>][p<pad>], maxpool<k>… or avgpool<k>…, comma-separated.")
@click.option("--max-layers", "max_layers", default="4", show_default=True, metavar="N", help="Longest chain tried.")
@click.option("--channels", default="3", show_default=True, metavar="C", help="Input channels (stack ranking).")
@click.option("--widths", default="64", show_default=True, metavar="W,…",
              help="Output channels of the 1st, 2nd, … conv of a chain; the last repeats.")
@click.option("--rank", type=click.Choice(["params", "macs"]), default="params", show_default=True)
@click.option("--top", default="10", show_default=True, metavar="K", help="Chains shown (table).")
@format_option("table", "json")
@reports_errors
def solve(layer, n_in, n_out, kernel, stride, padding, dilation, output_padding, ceil_mode, rf_size, total_stride,
          menu, max_layers, channels, widths, rank, top, fmt):
    """Inverse questions: which kernel/stride/padding/dilation map one size to another
    (--layer … --in N --out M), or which chains from a menu reach a receptive field and total
    stride (--rf R [--total-stride S]). Exit 0 found, 1 none (with the nearest reachable), 2 bad question."""
    import json

    from netcalc import solve as solving

    if layer is not None:
        question = solving.layer_question(layer, n_in, n_out, kernel, stride, padding, dilation, output_padding,
                                          ceil_mode, rf_size, total_stride)
        answer = solving.solve_layer(question)
        found = bool(answer.solutions)
        text = json.dumps(answer.to_dict(), indent=2) if fmt == "json" else solving.render_layer_text(answer)
    else:
        question, shown = solving.stack_question(rf_size, total_stride, menu, max_layers, n_in, channels, widths,
                                                 rank, top, n_out)
        answer = solving.solve_stack(question)
        found = bool(answer.stacks)
        text = json.dumps(answer.to_dict(), indent=2) if fmt == "json" else solving.render_stack_text(answer, shown)
    click.echo(text.rstrip("\n"))
    sys.exit(int(ExitCode.OK if found else ExitCode.FAILED))


@cli.command()
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed always gives the same exercise.")
@click.option("--level", type=click.Choice(["1", "2", "3"]), default="1", show_default=True,
              help="1 shapes and params; 2 MACs, FLOPs, grouped/depthwise convs; 3 receptive fields, "
                   "transposed convs, branches.")
@click.option("--count", type=click.IntRange(min=1, max=1000), default=1, show_default=True,
              help="How many distinct exercises (files numbered ex-01.yaml, …).")
@click.option("-o", "--output", default="-", show_default=True, metavar="EX.yaml",
              help="Where to write the exercise (- for stdout).")
@click.option("--key", default=None, metavar="KEY.yaml", help="Where to write the answer key (check --answers format).")
@reports_errors
def quiz(seed, level, count, output, key):
    """Seeded exercises: a spec whose comments ask for numbers, and its answer key, which
    `netcalc check EX.yaml --answers KEY.yaml` passes; grade a student's file the same way."""
    from netcalc import quiz as quizzing

    if count > 1 and output == "-":
        raise UserError("--count above 1 needs -o EX.yaml (the exercises are numbered EX-01.yaml, …)")
    for index, (spec_text, key_text) in enumerate(quizzing.quiz_set(seed, int(level), count), 1):
        targets = [(quizzing.numbered(output, index, count), spec_text)]
        if key is not None:
            targets.append((quizzing.numbered(key, index, count), key_text))
        for path, text in targets:
            if path == "-":
                click.echo(text, nl=False)
                continue
            try:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None
            if output != "-":
                click.echo(f"wrote {path}")


# ---------------------------------------------------------------------------
# Pictures: draw, erf, analyze --format html (issue 13). Logic in netcalc/draw.py,
# netcalc/erf.py and netcalc/html_report.py; matplotlib and Graphviz are imported/run only here.
# ---------------------------------------------------------------------------

def _write_output(data: bytes, output: str | None) -> None:
    """Bytes to a file (one-line error when it cannot be written), or to stdout."""
    if output is None:
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:
            click.echo(data.decode(), nl=False)
        else:
            sys.stdout.flush()
            stream.write(data)
            stream.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None


def _html_report(analysis) -> str:
    from netcalc import html_report

    return html_report.build(analysis)


@cli.command()
@click.argument("spec")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="net.svg, net.png (laid out by Graphviz's dot), net.dot or net.mmd (Mermaid); "
                   "default: DOT on stdout.")
@click.option("--format", "fmt", type=click.Choice(["dot", "mmd", "svg", "png"]), default=None,
              help="Override the format the extension of -o implies.")
@click.option("--collapse", is_flag=True, help="Fold every block instance (and composite layer, and repeat "
                                               "of plain layers) into one node.")
@click.option("--counts", is_flag=True, help="Also show params and MACs on each node.")
@input_shape_option  # issue 10: ONNX models with symbolic input dims
@reports_errors
def draw(spec, output, fmt, collapse, counts):
    """The network as a picture: one node per layer (name, type, output shape), edges from
    `from`, block instances and repeat groups as clusters."""
    from netcalc import draw as drawing
    from netcalc.analysis import analyze_file

    fmt = drawing.format_of(output, fmt)
    analysis = analyze_file(spec)
    diagram = drawing.build(analysis, collapse=collapse, counts=counts)
    data = drawing.render(diagram, fmt, f"drawing {output or fmt}")
    _write_output(data, output)
    if output is not None:
        click.echo(f"wrote {output} ({len(diagram.nodes)} nodes, {len(diagram.edges)} edges)", err=True)


@cli.command()
@click.argument("spec")
@click.option("--layer", "layer_name", metavar="NAME",
              help="The layer whose central unit to study (default: the last layer with more than one "
                   "position, i.e. the last feature map before global pooling).")
@click.option("-o", "--output", default=None, metavar="FILE.png",
              help="Draw the gradient magnitude with the theoretical field on it (needs netcalc[plot]).")
@format_option("table", "json")
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Random inputs and weight draws to average over.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the inputs and weights.")
@click.option("--max-memory", default=None, metavar="SIZE", help=MAX_MEMORY_HELP)
@input_shape_option  # issue 10: ONNX models with symbolic input dims
@reports_errors
def erf(spec, layer_name, output, fmt, samples, seed, max_memory):
    """The effective receptive field of a central unit: the magnitude of its input gradient
    through the real network (seeded random weights and inputs), the theoretical field, the mass
    inside it and the radii holding 50 % and 95 % of the gradient."""
    import json
    import types

    from netcalc import erf as erfs
    from netcalc.analysis import analyze_file

    analysis = analyze_file(spec)
    if output is not None:
        from netcalc.optional import pyplot

        pyplot("erf -o FILE")  # fail before the slow part when matplotlib is missing
    layer = erfs.choose_layer(analysis, layer_name)
    with _progress(samples, f"erf {layer.name}") as tick:
        result = erfs.measure(analysis, layer.name, samples=samples, seed=seed,
                              memory_limit=_memory_limit(max_memory),
                              on_sample=lambda s: tick(types.SimpleNamespace(name=f"sample {s + 1}")))
    if output is not None:
        erfs.render_png(result, output, f"{analysis.name}: effective receptive field of {layer.name}")
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(erfs.render_text(result), nl=False)
