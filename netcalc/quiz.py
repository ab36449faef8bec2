"""Seeded exercises for teachers (netcalc quiz, contract §10).

An exercise is a valid spec whose comments ask for numbers of some layers (Q1, Q2, …) and an
answer key in the `check --answers` format. The key is netcalc's own analysis of the spec, so
`check EX --answers KEY` passes, and a student's answers file is graded by `check` (which shows
the worked formula, from explain, under every wrong answer).

Level 1: output shapes and params of conv/pool chains. Level 2: MACs and FLOPs, grouped and
depthwise convs, with and without bias. Level 3: receptive fields (size and jump) with dilation,
transposed convs and branches that merge.

The same (seed, level, index) always gives the same bytes: every choice comes from a
random.Random seeded with a string (deterministic across runs and Python hash seeds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from netcalc.errors import SpecError

LEVELS = (1, 2, 3)
ASKED = {1: ("output", "params"), 2: ("params", "macs", "flops"), 3: ("output", "rf")}
WHAT = {"output": "output shape", "params": "params", "macs": "MACs", "flops": "FLOPs",
        "rf": "receptive field (size and jump)"}
MIN_SIZE = 3  # keep every spatial size at least this big
MAX_TRIES = 50


@dataclass
class Entry:
    """One spec entry: its type, parameters, optional explicit name and inputs, and whether it
    carries a question."""

    type: str
    params: dict | None = None
    name: str | None = None
    inputs: list[str] | None = None
    ask: bool = False
    tiny_ok: bool = False  # a global pooling may bring the spatial size below MIN_SIZE

    def yaml(self) -> str:
        body = self.type
        if self.params:
            body = f"{self.type}: {{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in self.params.items()) + "}"
        if self.name is None and self.inputs is None:
            return f"- {body}"
        if not self.params:
            body = f"{self.type}:"
        parts = [f"- {body}"]
        if self.name is not None:
            parts.append(f"  name: {self.name}")
        if self.inputs is not None:
            parts.append(f"  from: {self.inputs[0] if len(self.inputs) == 1 else '[' + ', '.join(self.inputs) + ']'}")
        return "\n".join(parts)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"'{value.numerator}/{value.denominator}'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return str(value)


@dataclass
class Exercise:
    seed: int
    level: int
    index: int
    count: int
    input_shape: list[int]
    entries: list[Entry]

    @property
    def name(self) -> str:
        return f"quiz-l{self.level}-s{self.seed}" + (f"-{self.index}" if self.count > 1 else "")

    def body(self) -> str:
        return "\n".join(e.yaml() for e in self.entries)

    def spec_text(self, questions: list[tuple[int, str, tuple[str, ...]]] | None = None) -> str:
        """The spec; with `questions` (entry index, layer name, metrics) the Q comments go above
        the asked entries and the header explains the answers file."""
        lines = [f"# netcalc quiz: level {self.level}, seed {self.seed}"
                 + (f", exercise {self.index} of {self.count}" if self.count > 1 else "")]
        asked = {}
        if questions:
            lines += ["# Work out by hand the numbers each Q comment asks for. Write them in an answers file,",
                      "# one line per layer, in this form, then grade it with",
                      "#   netcalc check THIS_FILE --answers YOUR_ANSWERS.yaml",
                      "# (shapes are channels first, one sample, no batch dim; MACs and FLOPs follow",
                      "# netcalc's counting conventions; an rf jump may be a fraction such as '1/2'):"]
            for number, (index, layer, metrics) in enumerate(questions, 1):
                asked[index] = (number, layer, metrics)
                lines.append(f"#   {layer}: {{{', '.join(_template(m) for m in metrics)}}}")
        lines += [f"name: {self.name}", f"input: [{', '.join(map(str, self.input_shape))}]", "layers:"]
        for index, entry in enumerate(self.entries):
            if index in asked:
                number, layer, metrics = asked[index]
                lines.append(f"  # Q{number} ({layer}): {', '.join(WHAT[m] for m in metrics)}?")
            lines += [f"  {line}" for line in entry.yaml().splitlines()]
        return "\n".join(lines) + "\n"


def _template(metric: str) -> str:
    return {"output": "output: [C, H, W]", "rf": "rf: {size: …, jump: …}"}.get(metric, f"{metric}: …")


# ---- generation ----

def _analyse(ex: Exercise):
    from netcalc.analysis import analyze_graph
    from netcalc.graph import build_graph
    from netcalc.spec import load_spec_text

    return analyze_graph(build_graph(load_spec_text(ex.spec_text(), f"{ex.name}.yaml")))


def _fits(ex: Exercise) -> bool:
    """The spec so far is valid and no spatial size has fallen below MIN_SIZE (until a global
    pooling ends the spatial part)."""
    try:
        analysis = _analyse(ex)
    except SpecError:
        return False
    for entry, layer in zip(ex.entries, analysis.layers):
        if entry.tiny_ok:
            return True
        if min(layer.output[1:], default=MIN_SIZE) < MIN_SIZE:
            return False
    return True


def _extend(ex: Exercise, rng: random.Random, make) -> bool:
    """Append the entries `make(rng)` returns, retrying other random choices until they fit."""
    for _ in range(MAX_TRIES):
        new = make(rng)
        ex.entries += new
        if _fits(ex):
            return True
        del ex.entries[-len(new):]
    return False


def _conv(rng, ask=True, **fixed) -> Entry:
    k = rng.choice((1, 3, 3, 5, 7))
    params = {"out": rng.choice((8, 16, 32, 64)), "kernel": k, "stride": rng.choice((1, 1, 2)),
              "padding": rng.randint(0, k // 2)}
    params.update(fixed)
    return Entry("conv", params, ask=ask)


def _pool(rng, ask=True) -> Entry:
    kind = rng.choice(("maxpool", "maxpool", "avgpool"))
    k = rng.choice((2, 3))
    params = {"kernel": k}
    if k == 3:
        params.update(stride=2, padding=rng.randint(0, 1))
    return Entry(kind, params, ask=ask)


def _level1(ex: Exercise, rng: random.Random) -> None:
    ex.input_shape = [rng.choice((1, 3)), *[rng.choice((28, 32, 64, 96, 224))] * 2]
    for _ in range(rng.randint(3, 5)):
        if ex.entries and ex.entries[-1].type == "conv" and rng.random() < 0.5:
            _extend(ex, rng, lambda r: [Entry("relu"), _pool(r)])
        else:
            _extend(ex, rng, lambda r: [_conv(r)])


def _grouped(rng) -> list[Entry]:
    # the previous layer's channels are unknown here: groups that divide every width offered
    groups = rng.choice((2, 4))
    k = rng.choice((1, 3))
    return [Entry("conv", {"out": rng.choice((16, 32, 64)), "kernel": k, "padding": k // 2,
                           "groups": groups, "bias": rng.random() < 0.5}, ask=True)]


def _depthwise(rng) -> list[Entry]:
    params = {"kernel": 3, "stride": rng.choice((1, 2)), "padding": 1}
    if rng.random() < 0.4:
        params["multiplier"] = 2
    if rng.random() < 0.5:
        params["bias"] = False
    return [Entry("depthwise", params, ask=True)]


def _level2(ex: Exercise, rng: random.Random) -> None:
    ex.input_shape = [rng.choice((3, 4, 8)), *[rng.choice((16, 28, 32, 56))] * 2]
    _extend(ex, rng, lambda r: [_conv(r, out=r.choice((16, 32)), bias=r.random() < 0.5)])
    for _ in range(rng.randint(2, 3)):
        maker = rng.choice((_grouped, _depthwise, _grouped, _depthwise,
                            lambda r: [Entry("batchnorm"), Entry("relu"), _pool(r)]))
        _extend(ex, rng, maker)
    _extend(ex, rng, lambda r: [Entry("global_avgpool", tiny_ok=True), Entry("flatten"),
                                Entry("linear", {"out": r.choice((10, 100)), "bias": r.random() < 0.7}, ask=True)])


def _level3(ex: Exercise, rng: random.Random) -> None:
    ex.input_shape = [rng.choice((1, 3)), *[rng.choice((32, 48, 64))] * 2]
    _extend(ex, rng, lambda r: [_conv(r, stride=2, kernel=r.choice((3, 5, 7)))])
    _extend(ex, rng, lambda r: [Entry("relu", name="stem")])
    d = rng.choice((2, 3))
    width = rng.choice((16, 32))
    merge = rng.choice(("add", "concat"))
    _extend(ex, rng, lambda r: [
        Entry("conv", {"out": width, "kernel": 3, "padding": 1}, name="a", inputs=["stem"], ask=True),
        Entry("conv", {"out": width, "kernel": 3, "padding": d, "dilation": d}, name="b", inputs=["stem"], ask=True),
        Entry(merge, None, name="merge", inputs=["a", "b"], ask=True)])
    if rng.random() < 0.5:
        _extend(ex, rng, lambda r: [Entry("maxpool", {"kernel": 2}, ask=True)])
    _extend(ex, rng, lambda r: [Entry("conv_transpose", r.choice((
        {"out": 8, "kernel": 2, "stride": 2},
        {"out": 8, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1},
        {"out": 8, "kernel": 4, "stride": 2, "padding": 1})), ask=True)])
    _extend(ex, rng, lambda r: [Entry("conv", {"out": 1, "kernel": 3, "padding": 1}, ask=True)])


GENERATORS = {1: _level1, 2: _level2, 3: _level3}


def generate(seed: int, level: int, index: int = 1, count: int = 1, avoid: set[str] = frozenset()) -> Exercise:
    """Exercise `index` of a set generated from `seed`; retries (deterministically) until its
    layers differ from every body in `avoid`."""
    if level not in LEVELS:
        raise SpecError(f"--level must be 1, 2 or 3, got {level}")
    for attempt in range(1000):
        rng = random.Random(f"netcalc-quiz:{seed}:{level}:{index}:{attempt}")
        ex = Exercise(seed, level, index, count, [], [])
        GENERATORS[level](ex, rng)
        if ex.body() not in avoid and _fits(ex):
            return ex
    raise SpecError(f"could not find a new exercise for seed {seed}, level {level}")  # pragma: no cover


# ---- the exercise file and its key ----

def _rf_answer(layer) -> str:
    size, jump = layer.rf.size, layer.rf.jump
    size_text = str(size[0]) if len(set(size)) == 1 else _scalar(list(size))
    jump_text = _scalar(jump[0]) if len(set(jump)) == 1 else _scalar(list(jump))
    return f"rf: {{size: {size_text}, jump: {jump_text}}}"


def render(ex: Exercise) -> tuple[str, str]:
    """(exercise spec text, answer key text)."""
    analysis = _analyse(ex)
    entry_layers = [d.name for d in analysis.graph.spec.layers]  # one primitive layer per entry here
    questions = [(i, entry_layers[i], ASKED[ex.level]) for i, e in enumerate(ex.entries) if e.ask]
    if ex.level == 2:  # pooling has no params or MACs to ask about; its FLOPs remain a question
        questions = [(i, name, metrics if ex.entries[i].type not in ("maxpool", "avgpool") else ("flops",))
                     for i, name, metrics in questions]
    key = [f"# answer key: netcalc quiz --seed {ex.seed} --level {ex.level}"
           + (f" (exercise {ex.index} of {ex.count})" if ex.count > 1 else "")]
    for _, name, metrics in questions:
        layer = analysis.layer(name)
        values = []
        for metric in metrics:
            if metric == "output":
                values.append(f"output: {_scalar(list(layer.output))}")
            elif metric == "rf":
                values.append(_rf_answer(layer))
            else:
                values.append(f"{metric}: {getattr(layer, metric)}")
        key.append(f"{name}: {{{', '.join(values)}}}")
    return ex.spec_text(questions), "\n".join(key) + "\n"


def quiz_set(seed: int, level: int, count: int = 1) -> list[tuple[str, str]]:
    """`count` distinct exercises (spec text, key text); exercise 1 is the one-exercise quiz of
    that seed only when count is 1 (the header names its place in the set)."""
    if count < 1:
        raise SpecError(f"--count must be ≥ 1, got {count}")
    bodies: set[str] = set()
    out = []
    for index in range(1, count + 1):
        ex = generate(seed, level, index, count, bodies)
        bodies.add(ex.body())
        out.append(render(ex))
    return out


def numbered(path: str, index: int, count: int) -> str:
    """ex.yaml → ex-03.yaml for exercise 3 of a set (the path itself when count is 1)."""
    if count == 1:
        return path
    stem, dot, suffix = path.rpartition(".")
    if not dot or "/" in suffix:
        stem, suffix = path, ""
    width = len(str(count))
    return f"{stem}-{index:0{width}d}" + (f".{suffix}" if suffix else "")
