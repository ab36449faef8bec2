"""Units, in one place: amounts with suffixes (`25M`, `512MB`, `1GiB`), exact fractions as text
and as JSON numbers, readable sizes, decimal answers compared with exact values, and the
defaults that several modules share.

Amount syntax (contract §1), the same for `limits:`, `expect:` counts and `--max-memory`:
a non-negative decimal number, optional spaces, then an optional suffix, case-sensitive:

    K M G T          powers of 1000         (25M = 25 000 000)
    KB MB GB TB      powers of 1024         (512MB = 512 · 1024²)
    KiB MiB GiB TiB  powers of 1024 (IEC)   (1GiB = 1024³)
    B                bytes (byte amounts only: for counts B would read as "billion")

The value must come out a whole number: `1.5K` is 1500, `1.5` and `0.0001K` are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# ---- defaults shared by several modules ----

DEFAULT_WORKSPACE_BYTES = 256 * 2**20  # executor: the largest im2col tile / temporary per layer
FALLBACK_MEMORY_LIMIT = 4 * 2**30  # --max-memory when MemAvailable is unknown (else half of it)

# ---- amounts with suffixes ----

DECIMAL_SUFFIXES = {"K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
BINARY_SUFFIXES = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4,
                   "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
BYTE_SUFFIX = {"B": 1}
_AMOUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
EXAMPLES = "25M, 4.1G, 512MB, 1GiB or 1000"


class UnitError(ValueError):
    """An amount that does not parse; the message says what is allowed."""


def suffixes(of_bytes: bool) -> dict[str, int]:
    return {**DECIMAL_SUFFIXES, **BINARY_SUFFIXES, **(BYTE_SUFFIX if of_bytes else {})}


def parse_amount(value, of_bytes: bool = False) -> int:
    """`25M` → 25_000_000, `4.1G` → 4_100_000_000, `512MB` → 536_870_912, `1GiB` → 1_073_741_824,
    `1000` → 1000 (a YAML int or float is taken as written). of_bytes also allows `B`."""
    allowed = suffixes(of_bytes)
    if isinstance(value, bool) or value is None:
        raise UnitError(f"must be a number such as {EXAMPLES}, got {value!r}")
    if isinstance(value, int):
        amount = Fraction(value)
    elif isinstance(value, float):
        amount = Fraction(repr(value))
    else:
        match = _AMOUNT.fullmatch(value) if isinstance(value, str) else None
        if match is None or (match.group(2) and match.group(2) not in allowed):
            hint = " (B is for bytes; for a billion write G)" if match and match.group(2) == "B" else ""
            raise UnitError(f"must be a number such as {EXAMPLES} (suffixes: {', '.join(allowed)}), "
                            f"got {value!r}{hint}")
        digits, suffix = match.groups()
        amount = Fraction(digits) * allowed.get(suffix, 1)
    if amount < 0 or amount.denominator != 1:
        raise UnitError(f"must be a whole number ≥ 0, got {value!r} = {fraction_text(amount)}")
    return int(amount)


def parse_bytes(text) -> int:
    """A byte size for --max-memory, in the same syntax as `limits: {activations: …}`."""
    try:
        return parse_amount(text, of_bytes=True)
    except UnitError as exc:
        raise UnitError(f"not a memory size: {text!r}: {exc}") from None


# ---- exact numbers as text and JSON ----

def fraction_text(value) -> str:
    """3 → '3', 12/13 → '12/13', None → '-'."""
    if value is None:
        return "-"
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def json_number(value):
    """An exact value as a JSON number: an int when whole, else the nearest float (rf jump, start)."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def human(n: int | None) -> str:
    """25557032 → '25.56 M', 4089184256 → '4.09 G'; small numbers stay exact."""
    if n is None:
        return "-"
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


# ---- answers written as decimals ----

_DECIMAL = re.compile(r"\s*[+-]?(\d*)\.(\d+)\s*")


@dataclass(frozen=True)
class Answer:
    """A stated rf size or jump: its exact value and, for a decimal, its number of decimals."""

    value: Fraction
    decimals: int | None = None  # None: exact (an int, or a fraction 'p/q')

    def matches(self, exact) -> bool:
        """An exact answer must equal the value. A decimal answer with n decimals matches when the
        value rounded to n decimals is the answer, or when the answer reads as the same float as
        the value (netcalc's JSON prints a float's shortest repr, which is not always the
        correctly rounded decimal of the exact value).
        For 12/13 = 0.923076…: 0.9, 0.92, 0.923, 0.9231 and 0.9230769230769231 match; 0.93,
        0.924 and '0.9230' (quoted, so YAML keeps its zero) do not."""
        exact = Fraction(exact)
        if self.decimals is None:
            return self.value == exact
        return Fraction(round(exact, self.decimals)) == self.value or float(self.value) == float(exact)

    def __str__(self) -> str:
        if self.decimals is None:
            return fraction_text(self.value)
        scaled = abs(self.value) * 10**self.decimals  # a whole number: the digits as written
        whole, frac = divmod(int(scaled), 10**self.decimals)
        return f"{'-' if self.value < 0 else ''}{whole}.{frac:0{self.decimals}d}"

    def to_json(self):
        return json_number(self.value) if self.decimals is None else float(self.value)


def parse_answer(value) -> Answer:
    """An answer (rf size or jump) as written: an int, a fraction 'p/q', or a decimal. A YAML
    float counts the decimals of its shortest repr, which is how netcalc's own JSON prints it
    (0.9230769230769231 has 16; YAML drops trailing zeros, so quote '0.9230' to keep them).
    Raises ValueError (or ZeroDivisionError for '1/0')."""
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    if isinstance(value, float):
        text = repr(value)
        match = _DECIMAL.fullmatch(text)
        return Answer(Fraction(text), len(match.group(2)) if match else None)
    if isinstance(value, int):
        return Answer(Fraction(value))
    if isinstance(value, str):
        match = _DECIMAL.fullmatch(value)
        return Answer(Fraction(value), len(match.group(2)) if match else None)
    raise ValueError(value)
