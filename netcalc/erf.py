"""The effective receptive field (netcalc erf), after Luo et al., "Understanding the Effective
Receptive Field in Deep Convolutional Neural Networks" (NeurIPS 2016).

The theoretical field of an output unit is every input pixel its value can depend on (netcalc's
rf, contract §5). The effective field is how much each pixel actually matters: the magnitude of
the input gradient d y[unit] / d x through the real network. We measure it with the reference
executor's own forward and backward pass:

* the unit is the central position of the layer's output (index (n − 1) // 2 per spatial axis);
  its value is summed over the layer's channels, so the gradient seed is 1 at that position in
  every channel and 0 elsewhere;
* each of `samples` passes draws its own seeded random weights (each layer type's own
  initialisation, N(0, 1/fan_in)) and its own N(0, 1) input, with real max pooling, activations
  and batchnorm (inference mode);
* the map is |d y / d x| summed over input channels, averaged over the samples.

Numbers, per spatial axis (in input pixels): the theoretical field [lo, hi] of the unit; the
fraction of the gradient mass inside it (1 up to rounding: a pixel outside the field cannot
influence the unit); and radius50 / radius95, the smallest half-width r around the theoretical
field's centre whose window [centre − r, centre + r] holds 50 % / 95 % of the mass of that axis's
profile (the map summed over the other axes). r is a whole or half pixel distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from netcalc.analysis import Analysis, LayerResult
from netcalc.errors import SpecError, did_you_mean

SHARES = {"radius50": 0.5, "radius95": 0.95}


@dataclass
class ERF:
    layer: str
    unit: list[int]              # the output position (spatial index per axis)
    lo: list[int]                # the theoretical field of the unit, per axis (may pass the border)
    hi: list[int]
    magnitude: object            # numpy array over the input's spatial dims, averaged over samples
    samples: int
    seed: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.magnitude.shape)

    @property
    def centre(self) -> list[Fraction]:
        return [Fraction(lo + hi, 2) for lo, hi in zip(self.lo, self.hi)]

    @property
    def total(self) -> float:
        return float(self.magnitude.sum())

    @property
    def mass_inside(self) -> float | None:
        if self.total == 0:
            return None
        window = tuple(slice(max(lo, 0), max(hi + 1, 0)) for lo, hi in zip(self.lo, self.hi))
        return float(self.magnitude[window].sum()) / self.total

    def profile(self, axis: int):
        """The map summed over every other axis."""
        others = tuple(a for a in range(self.magnitude.ndim) if a != axis)
        return self.magnitude.sum(axis=others)

    def radius(self, share: float) -> list[Fraction] | None:
        if self.total == 0:
            return None
        return [radius_holding(self.profile(a), self.centre[a], share) for a in range(self.magnitude.ndim)]

    def to_dict(self) -> dict:
        from netcalc.report import number

        out = {"layer": self.layer, "unit": list(self.unit), "input": list(self.input_shape),
               "samples": self.samples, "seed": self.seed,
               "theoretical": {"lo": list(self.lo), "hi": list(self.hi),
                               "centre": [number(c) for c in self.centre]},
               "mass_inside": self.mass_inside}
        for key, share in SHARES.items():
            radii = self.radius(share)
            out[key] = None if radii is None else [number(r) for r in radii]
        return out


def radius_holding(profile, centre: Fraction, share: float) -> Fraction:
    """The smallest r such that the pixels i with |i − centre| ≤ r hold `share` of the profile's
    mass. Candidates are the pixels' own distances to the centre (whole or half pixels)."""
    import numpy as np

    profile = np.asarray(profile, dtype=np.float64)
    distances = [abs(Fraction(i) - centre) for i in range(len(profile))]
    order = sorted(range(len(profile)), key=lambda i: distances[i])
    need = share * profile.sum() * (1 - 1e-12)
    held = 0.0
    for k, i in enumerate(order):
        held += profile[i]
        tie = k + 1 < len(order) and distances[order[k + 1]] == distances[i]
        if held >= need and not tie:
            return distances[i]
    return distances[order[-1]]


def choose_layer(analysis: Analysis, name: str | None) -> LayerResult:
    """The named layer (full dotted name, or an entry name such as a block instance, meaning its
    last layer), or by default the last layer whose output still has more than one position (the
    last feature map before a global pooling)."""
    layers = analysis.layers
    if name is None:
        spatial = [layer for layer in layers if layer.rf is not None]
        if not spatial:
            raise SpecError(f"{analysis.graph.spec.path}: erf needs a layer with spatial dims, but the "
                            f"network input {list(analysis.graph.input_shape)} is flat")
        wide = [layer for layer in spatial if any(n > 1 for n in layer.output[1:])]
        return (wide or spatial)[-1]
    names = [layer.name for layer in layers]
    full = name if name in names else analysis.graph.spec.outputs.get(name, name)
    if full not in names:
        raise SpecError(f"{analysis.graph.spec.path}: no layer named '{name}'{did_you_mean(name, names)}")
    layer = analysis.layer(full)
    if layer.rf is None:
        raise SpecError(f"{analysis.graph.spec.path}: layer '{full}' has no spatial dims (output "
                        f"{list(layer.output)}); erf needs a layer whose output has them")
    return layer


def central_unit(layer: LayerResult) -> list[int]:
    """The central output position; if its field is empty on some axis (a transposed conv's
    inserted zeros), the nearest position along that axis whose field is not."""
    unit = []
    for field, n in zip(layer.rf.fields, layer.output[1:]):
        centre = (n - 1) // 2
        candidates = sorted(range(n), key=lambda o: (abs(o - centre), o))
        unit.append(next((o for o in candidates if field.bounds(o) is not None), centre))
    return unit


def measure(analysis: Analysis, layer_name: str | None = None, samples: int = 8, seed: int = 0,
            memory_limit: int | None = None, on_sample=None) -> ERF:
    """The effective receptive field of the central unit of a layer (see the module docstring)."""
    import numpy as np

    from netcalc.executor import Executor, check_memory, default_memory_limit

    layer = choose_layer(analysis, layer_name)
    graph = analysis.graph
    unit = central_unit(layer)
    bounds = [field.bounds(o) for field, o in zip(layer.rf.fields, unit)]
    if any(b is None for b in bounds):
        raise SpecError(f"{graph.spec.path}: layer '{layer.name}' has no output position that reads any input")
    check_memory(graph, 1, 4, default_memory_limit() if memory_limit is None else memory_limit, keep_all=True)
    total = np.zeros(graph.input_shape[1:], dtype=np.float64)
    for s in range(samples):
        weight_seed, input_seed = np.random.SeedSequence([seed, s]).generate_state(2)
        executor = Executor(graph, seed=int(weight_seed))
        x = executor.random_input(1, seed=int(input_seed))
        fwd = executor.forward(x, keep=True, _caches=True)
        grad_seed = np.zeros_like(fwd.outputs[layer.name])
        grad_seed[(0, slice(None), *unit)] = 1
        grads = executor.backward(x, fwd, layer.name, grad_seed, weight_grads=False)
        total += np.abs(grads.input[0].astype(np.float64)).sum(axis=0)
        if on_sample is not None:
            on_sample(s)
    return ERF(layer.name, unit, [b[0] for b in bounds], [b[1] for b in bounds], total / samples, samples, seed)


def render_text(erf: ERF) -> str:
    from netcalc.layers.base import axis_names

    names = axis_names(len(erf.unit))
    per_axis = lambda values: ", ".join(f"{n} {_num(v)}" for n, v in zip(names, values))  # noqa: E731
    inside = erf.mass_inside
    lines = [f"effective receptive field of {erf.layer}, unit {erf.unit} ({erf.samples} samples, seed {erf.seed})",
             "  theoretical field: " + ", ".join(f"{n} [{lo}, {hi}]" for n, lo, hi in zip(names, erf.lo, erf.hi))
             + " (size " + "×".join(str(hi - lo + 1) for lo, hi in zip(erf.lo, erf.hi)) + ")",
             "  gradient mass inside it: " + ("n/a (the gradient is zero)" if inside is None else f"{inside:.4%}")]
    for key, share in SHARES.items():
        radii = erf.radius(share)
        if radii is not None:
            lines.append(f"  radius holding {share:.0%} of the mass: {per_axis(radii)} (input pixels, "
                         f"around the centre {per_axis(erf.centre)})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The picture
# ---------------------------------------------------------------------------

def render_png(erf: ERF, path: str, title: str) -> None:
    """A heatmap (2-D; 3-D: the central depth slice) or a line plot (1-D) of the gradient
    magnitude, with the theoretical field and the 50 % / 95 % windows drawn on it."""
    from netcalc.optional import pyplot

    plt = pyplot("erf -o FILE")
    ndim = erf.magnitude.ndim
    radii = {key: erf.radius(share) for key, share in SHARES.items()}
    inside = erf.mass_inside
    subtitle = (f"unit {erf.unit} · {erf.samples} samples · mass inside the theoretical field "
                + ("n/a (zero gradient)" if inside is None else f"{inside:.1%}"))
    if ndim == 1:
        fig = _plot_line(plt, erf, radii)
    else:
        fig = _plot_map(plt, erf, radii)
    fig.suptitle(f"{title}\n{subtitle}", fontsize=10)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise SpecError(f"{path}: cannot write the picture: {exc}") from None
    finally:
        plt.close(fig)


_STYLE = {"theoretical": dict(color="#00c8ff", lw=1.6, ls="-"),
          "radius50": dict(color="#3ee0a0", lw=1.3, ls="--"),
          "radius95": dict(color="#ffd000", lw=1.2, ls="--")}


def _plot_line(plt, erf: ERF, radii):
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    n = erf.magnitude.shape[0]
    ax.fill_between(np.arange(n), erf.magnitude, color="#5b3c88", alpha=0.35, step="mid")
    ax.plot(np.arange(n), erf.magnitude, color="#5b3c88", lw=1, drawstyle="steps-mid", label="|∂y/∂x|")
    ax.axvspan(erf.lo[0] - 0.5, erf.hi[0] + 0.5, color=_STYLE["theoretical"]["color"], alpha=0.12,
               label=f"theoretical field [{erf.lo[0]}, {erf.hi[0]}]")
    c = float(erf.centre[0])
    for key in SHARES:
        if radii[key] is not None:
            r = float(radii[key][0])
            style = dict(_STYLE[key], color="#d08000" if key == "radius95" else "#333333")
            ax.axvline(c - r - 0.5, **style, label=f"{key[-2:]} % of the mass: ±{_num(radii[key][0])}")
            ax.axvline(c + r + 0.5, **style)
    ax.set_xlim(*_view(erf.lo[0], erf.hi[0], n))
    ax.set_xlabel("input position")
    ax.set_ylabel("mean |gradient|")
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    return fig


def _plot_map(plt, erf: ERF, radii):
    from matplotlib.patches import Rectangle

    image = erf.magnitude
    lo, hi, centre = list(erf.lo), list(erf.hi), [float(c) for c in erf.centre]
    rad = {key: None if r is None else [float(v) for v in r] for key, r in radii.items()}
    depth = None
    if image.ndim == 3:  # the central depth slice through the field's centre
        depth = min(max(int(centre[0]), 0), image.shape[0] - 1)
        image = image[depth]
        lo, hi, centre = lo[1:], hi[1:], centre[1:]
        rad = {key: None if r is None else r[1:] for key, r in rad.items()}
    h, w = image.shape
    fig, ax = plt.subplots(figsize=(7.2, 7.0), layout="constrained")
    ax.set_facecolor("#d8d8d8")  # outside the input (padding)
    peak = image.max() or 1.0
    shown = ax.imshow(image / peak, cmap="magma", origin="upper", extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                      interpolation="nearest", vmin=0, vmax=1)
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, color="#555555", lw=0.8, label=f"input {h}×{w}"))
    ax.add_patch(Rectangle((lo[1] - 0.5, lo[0] - 0.5), hi[1] - lo[1] + 1, hi[0] - lo[0] + 1, fill=False,
                           **_STYLE["theoretical"],
                           label=f"theoretical field {hi[0] - lo[0] + 1}×{hi[1] - lo[1] + 1}"))
    for key in SHARES:
        r = rad[key]
        if r is None:
            continue
        ax.add_patch(Rectangle((centre[1] - r[1] - 0.5, centre[0] - r[0] - 0.5), 2 * r[1] + 1, 2 * r[0] + 1,
                               fill=False, **_STYLE[key],
                               label=f"{key[-2:]} % of the mass: ±{_num(r[0])} × ±{_num(r[1])}"))
    y0, y1 = _view(lo[0], hi[0], h)
    x0, x1 = _view(lo[1], hi[1], w)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    if depth is not None:
        ax.set_title(f"the input's depth slice D = {depth} through the field's centre", fontsize=9)
    ax.set_xlabel("input column (W)")
    ax.set_ylabel("input row (H)")
    legend = fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    legend.get_frame().set_facecolor("#f4f4f4")
    fig.colorbar(shown, ax=ax, shrink=0.8, label="mean |∂y/∂x| (relative to its peak)")
    return fig


def _view(lo: int, hi: int, n: int) -> tuple[float, float]:
    """The span to show along one axis (pixel edges): the input and the field together, or,
    when the input is much longer than the field, the field with a fifth of its size around it."""
    size = hi - lo + 1
    if n <= 3 * size:
        a, b = min(-0.5, lo - 0.5), max(n - 0.5, hi + 0.5)
    else:
        a, b = max(-0.5, lo - 0.5 - 0.2 * size), min(n - 0.5, hi + 0.5 + 0.2 * size)
    pad = 0.02 * (b - a)
    return a - pad, b + pad


def _num(value) -> str:
    value = Fraction(value)
    return str(int(value)) if value.denominator == 1 else f"{float(value):g}"
