"""Counting rules as small formula objects: one definition per rule.

A layer type states each metric (params, buffers, MACs, FLOPs) once, as an expression built from
symbols that read a node (`Sym`, `Dims`), numbers, `+ − ·`, exact ratios and optional terms. The
same object

* renders itself symbolically (`rule()`: the README conventions table, `netcalc layers`, the
  schema; `rule(node)` with the node's optional terms resolved),
* renders with the node's numbers substituted (`worked(node)`: `netcalc explain`),
* evaluates to the value (`value(node)`: the analysis).

So the three can never disagree. `Metric` adds the explain layout: line templates that place
the pieces (`{rule}`, `{worked}`, `{value}`, and named parts such as `{n.worked}`) in prose.

    >>> PARAMS = C_OUT * Ratio(C_IN, G) * KERNEL + Opt(BIAS, C_OUT, "bias")
    >>> PARAMS.rule()                       # 'C_out·(C_in/g)·Πk (+ C_out bias)'
    >>> PARAMS.worked(node)                 # '64·(3/1)·7·7 + 64'
    >>> PARAMS.value(node)                  # 9472
"""

from __future__ import annotations

from math import prod

SUM, PRODUCT, ATOM = 1, 2, 3


def dot(values) -> str:
    """[64, 112, 112] → '64·112·112' (a product written out)."""
    return "·".join(str(v) for v in values) or "1"


def lift(value) -> "Expr":
    return value if isinstance(value, Expr) else Num(value)


class Expr:
    prec = ATOM

    def rule(self, node=None) -> str:
        """Symbolic text; with a node, optional terms are resolved (kept or dropped)."""
        raise NotImplementedError

    def worked(self, node) -> str:
        """The expression with the node's numbers substituted."""
        raise NotImplementedError

    def value(self, node):
        raise NotImplementedError

    def lets(self) -> list["Let"]:
        """Named intermediate results used inside, outermost first."""
        return []

    def __add__(self, other):
        return Sum(_terms(self) + [(1, lift(other))])

    def __radd__(self, other):
        return Sum([(1, lift(other))] + _terms(self))

    def __sub__(self, other):
        return Sum(_terms(self) + [(-1, lift(other))])

    def __rsub__(self, other):
        return Sum([(1, lift(other)), (-1, self)])

    def __mul__(self, other):
        return Mul(_factors(self) + _factors(lift(other)))

    def __rmul__(self, other):
        return Mul(_factors(lift(other)) + _factors(self))


def _terms(expr) -> list:
    return list(expr.terms) if isinstance(expr, Sum) else [(1, expr)]


def _factors(expr) -> list:
    return list(expr.factors) if isinstance(expr, Mul) and expr.sep == "·" else [expr]


def _wrap(text: str, inner: Expr, outer_prec: int) -> str:
    return f"({text})" if inner.prec < outer_prec else text


class Num(Expr):
    def __init__(self, number):
        self.number = number

    def rule(self, node=None):
        return str(self.number)

    def worked(self, node):
        return str(self.number)

    def value(self, node):
        return self.number


ZERO = Num(0)


class Sym(Expr):
    """A named quantity of the node, e.g. Sym("C_in", lambda n: n.in_shape[0])."""

    def __init__(self, name: str, get):
        self.name, self.get = name, get

    def rule(self, node=None):
        return self.name

    def worked(self, node):
        return str(self.get(node))

    def value(self, node):
        return self.get(node)


class Dims(Sym):
    """A product over a tuple of the node (a kernel, spatial sizes): written out as 7·7."""

    @property
    def prec(self):
        return PRODUCT

    def worked(self, node):
        return dot(self.get(node))

    def value(self, node):
        return prod(self.get(node))


class Ratio(Expr):
    """An exact integer ratio, always written in parentheses: (C_in/g)."""

    def __init__(self, num, den):
        self.num, self.den = lift(num), lift(den)

    def rule(self, node=None):
        return f"({self.num.rule(node)}/{self.den.rule(node)})"

    def worked(self, node):
        return f"({self.num.worked(node)}/{self.den.worked(node)})"

    def value(self, node):
        return self.num.value(node) // self.den.value(node)

    def lets(self):
        return self.num.lets() + self.den.lets()


class Opt(Expr):
    """A term present only when `when(node)` holds (a bias): `(+ C_out bias)` in the rule."""

    def __init__(self, when, term, note: str = ""):
        self.when, self.term, self.note = when, lift(term), note

    def present(self, node) -> bool:
        return bool(self.when(node))

    def rule(self, node=None):
        return self.term.rule(node)

    def worked(self, node):
        return self.term.worked(node)

    def value(self, node):
        return self.term.value(node) if self.present(node) else 0

    def lets(self):
        return self.term.lets()


class Sum(Expr):
    prec = SUM

    def __init__(self, terms):
        self.terms = terms

    def _render(self, node, how) -> str:
        text = ""
        for sign, term in self.terms:
            if isinstance(term, Opt):
                if node is None:  # the generic rule: say when the term is there
                    text += f" (+ {term.term.rule()}{' ' + term.note if term.note else ''})"
                    continue
                if not term.present(node):
                    continue
            part = term.rule(node) if how == "rule" else term.worked(node)
            if sign < 0 and term.prec <= SUM:
                part = f"({part})"
            text += part if not text else (" + " if sign > 0 else " − ") + part
        return text

    def rule(self, node=None):
        return self._render(node, "rule")

    def worked(self, node):
        return self._render(node, "worked")

    def value(self, node):
        total = 0
        for sign, term in self.terms:  # a loop, not a generator: evaluated for every layer
            total += sign * term.value(node)
        return total

    def lets(self):
        return [let for _, term in self.terms for let in term.lets()]


class Mul(Expr):
    prec = PRODUCT

    def __init__(self, factors, sep: str = "·", rule_sep: str | None = None):
        self.factors, self.sep = [lift(f) for f in factors], sep
        self.rule_sep = sep if rule_sep is None else rule_sep

    def rule(self, node=None):
        return self.rule_sep.join(_wrap(f.rule(node), f, PRODUCT) for f in self.factors)

    def worked(self, node):
        return self.sep.join(_wrap(f.worked(node), f, PRODUCT) for f in self.factors)

    def value(self, node):
        product = 1
        for factor in self.factors:
            product *= factor.value(node)
        return product

    def lets(self):
        return [let for f in self.factors for let in f.lets()]


class Let(Expr):
    """A named intermediate result: written by name in the enclosing rule and by value in the
    enclosing worked line; its own definition is listed after the rule."""

    def __init__(self, name: str, expr):
        self.name, self.expr = name, lift(expr)

    def rule(self, node=None):
        return self.name

    def worked(self, node):
        return str(self.value(node))

    def value(self, node):
        return self.expr.value(node)

    def lets(self):
        return [self] + self.expr.lets()


class Tagged(Expr):
    """A count with its unit, for glosses: `9 multiplies`."""

    def __init__(self, expr, tag: str):
        self.expr, self.tag = lift(expr), tag

    def rule(self, node=None):
        return f"{self.expr.rule(node)} {self.tag}"

    def worked(self, node):
        return f"{self.value(node)} {self.tag}"

    def value(self, node):
        return self.expr.value(node)

    def lets(self):
        return self.expr.lets()


class Case(Expr):
    """One of several formulas, chosen by the node: Case(lambda n: n.params["mode"],
    nearest=ZERO, linear=...)."""

    def __init__(self, key, label: str = "", **cases):
        self.key, self.label, self.cases = key, label, {k: lift(v) for k, v in cases.items()}

    def _pick(self, node):
        return self.cases[self.key(node)]

    @property
    def prec(self):
        return SUM

    def rule(self, node=None):
        if node is not None:
            return self._pick(node).rule(node)
        return "; ".join(f"{self.label}{k}: {v.rule()}" for k, v in self.cases.items())

    def worked(self, node):
        return self._pick(node).worked(node)

    def value(self, node):
        return self._pick(node).value(node)

    def lets(self):
        return [let for v in self.cases.values() for let in v.lets()]


class _Bound:
    """One part of a Metric bound to a node, for the explain templates: `{n}` is its value,
    `{n.rule}` its resolved rule, `{n.worked}` its worked form (a Let: its definition's)."""

    def __init__(self, expr: Expr, node):
        self.expr, self.node = (expr.expr if isinstance(expr, Let) else expr), node

    @property
    def rule(self) -> str:
        return self.expr.rule(self.node)

    @property
    def worked(self) -> str:
        return self.expr.worked(self.node)

    def __format__(self, spec):
        return format(self.expr.value(self.node), spec)


class Metric:
    """A metric of a layer type: its formula, an optional note for the rule text, and the
    layout of its explain lines (templates over `{rule}`, `{worked}`, `{value}` and the named
    `parts`)."""

    def __init__(self, expr, lines=("{rule} = {worked} = {value}",), note: str = "", zero: str = "",
                 **parts):
        self.expr, self.lines, self.note, self.zero = lift(expr), tuple(lines), note, zero
        self.parts = parts

    def value(self, node):
        return self.expr.value(node)

    def rule(self) -> str:
        """The generic rule text: the formula, its named intermediate results, its note."""
        text = self.expr.rule()
        seen = []
        for let in self.expr.lets():
            if let not in seen:
                seen.append(let)
        if seen:
            text += "; " + "; ".join(f"{let.name} = {let.expr.rule()}" for let in seen)
        return f"{text} {self.note}" if self.note else text

    @property
    def is_zero(self) -> bool:
        return isinstance(self.expr, Num) and self.expr.number == 0

    def explain(self, node) -> list[str]:
        if self.is_zero:
            return [self.zero or "0"]
        fields = {name: _Bound(part, node) for name, part in self.parts.items()}
        fields.update(rule=self.expr.rule(node), worked=self.expr.worked(node), value=self.value(node))
        out = []
        for line in self.lines:
            out.extend(line(node) if callable(line) else [line.format(**fields)])
        return out


NOTHING_LEARNABLE = "0 (nothing learnable)"
NO_MACS = "0 (MACs are counted for the conv family and linear only; the work is in FLOPs)"
NO_PARAMS = Metric(ZERO, zero=NOTHING_LEARNABLE)
NO_BUFFERS = Metric(ZERO)
NO_MACS_METRIC = Metric(ZERO, zero=NO_MACS)
NO_FLOPS = Metric(ZERO, zero="0")

# ---- symbols every layer type may use ----
C_IN = Sym("C_in", lambda n: n.in_shape[0])
C = Sym("C", lambda n: n.in_shape[0])
ELEMENTS = Dims("elements", lambda n: n.out_shape)
OUT_SPATIAL = Dims("Π(out spatial)", lambda n: n.spatial_out)
IN_SPATIAL = Dims("Π(in spatial)", lambda n: n.spatial_in)


def flag(name: str):
    """A boolean parameter as an Opt condition: Opt(flag("bias"), C_OUT, "bias")."""
    return lambda node: node.params[name]


def per_element(flops: int) -> Metric:
    """FLOPs of an element-wise layer: a fixed cost per output element."""
    return Metric(Num(flops) * ELEMENTS, lines=("{per} per element × elements {elements.worked} = {value}",),
                  per=Num(flops), elements=ELEMENTS)
