"""User-facing errors and the documented exit codes."""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Exit codes, fixed by the contract (§2); README 'Exit codes and errors' lists them."""

    OK = 0
    FAILED = 1  # a check, expectation or verification did not hold
    BAD_INPUT = 2  # bad spec, bad weights, or a run that would not fit in memory
    INTERNAL = 3  # a bug in netcalc (one line on stderr; NETCALC_DEBUG=1 shows the traceback)


@dataclass(frozen=True)
class Loc:
    """A place in a spec file; line and column are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class SpecError(Exception):
    """A problem with the user's input, reported as one line: `file:line:col: layer X: message`."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, loc: Loc | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.layer = layer

    def located(self, loc: Loc | None = None, layer: str | None = None) -> "SpecError":
        """Fill in the place and layer where the raiser did not know them."""
        if self.loc is None and loc is not None:
            self.loc = loc
        if self.layer is None and layer is not None:
            self.layer = layer
        return self

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        layer = f"layer '{self.layer}': " if self.layer else ""
        return f"{where}{layer}{self.message}"


def did_you_mean(word: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
