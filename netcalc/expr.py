"""Block arguments in parameter values: a tiny, safe integer expression language (never `eval`).

Grammar (integers only, Python's meaning for every operator):

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '//') unary)*
    unary := '-' unary | atom
    atom  := INT | NAME | '(' expr ')'

NAME is a block argument; its value must be an integer. `/` is refused (layer sizes are whole
numbers: write `//`).
"""

from __future__ import annotations

import re

from netcalc.errors import did_you_mean

MAX_EXPR_CHARS = 200
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*()])|(\S))")
OPERATOR_CHARS = set("+-*/()")


class ExprError(ValueError):
    """A bad expression; the caller adds the file, line and block."""


def looks_like_expression(text: str) -> bool:
    """A string is an expression when it uses an operator or parenthesis (plain words such as
    `same` or `max` stay literal strings)."""
    return any(c in OPERATOR_CHARS for c in text)


def tokenize(text: str) -> list[tuple[str, object]]:
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        number, name, op, other = m.groups()
        if other is not None:
            hint = " (use // for integer division)" if other == "/" else ""
            raise ExprError(f"unexpected character '{other}'{hint}")
        if number is not None:
            tokens.append(("int", int(number)))
        elif name is not None:
            tokens.append(("name", name))
        else:
            tokens.append(("op", op))
        pos = m.end()
    return tokens


def evaluate(text: str, args: dict) -> int:
    """The integer value of `text` with block arguments `args`; raises ExprError."""
    parser = _Parser(tokenize(text), args)
    value = parser.expr(0)
    if parser.pos != len(parser.tokens):
        raise ExprError(f"unexpected '{parser.tokens[parser.pos][1]}'")
    return value


class _Parser:
    MAX_DEPTH = 50

    def __init__(self, tokens, args):
        self.tokens, self.args, self.pos = tokens, args, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", None)

    def take_op(self, *ops) -> str | None:
        kind, value = self.peek()
        if kind == "op" and value in ops:
            self.pos += 1
            return value
        return None

    def expr(self, depth: int) -> int:
        if depth > self.MAX_DEPTH:
            raise ExprError("expression nests too deeply")
        value = self.term(depth)
        while (op := self.take_op("+", "-")) is not None:
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> int:
        value = self.unary(depth)
        while (op := self.take_op("*", "//")) is not None:
            rhs = self.unary(depth)
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ExprError("division by zero")
            else:
                value //= rhs
        return value

    def unary(self, depth: int) -> int:
        if self.take_op("-") is not None:
            if depth > self.MAX_DEPTH:
                raise ExprError("expression nests too deeply")
            return -self.unary(depth + 1)
        return self.atom(depth)

    def atom(self, depth: int) -> int:
        kind, value = self.peek()
        if kind == "int":
            self.pos += 1
            return value
        if kind == "name":
            self.pos += 1
            if value not in self.args:
                raise ExprError(f"unknown argument '{value}'{did_you_mean(value, self.args)}")
            arg = self.args[value]
            if not isinstance(arg, int) or isinstance(arg, bool):
                raise ExprError(f"argument '{value}' is {arg!r}, not an integer")
            return arg
        if self.take_op("(") is not None:
            inner = self.expr(depth + 1)
            if self.take_op(")") is None:
                raise ExprError("missing ')'")
            return inner
        shown = "the end" if kind == "end" else f"'{value}'"
        raise ExprError(f"expected a number, an argument or '(' but found {shown}")
