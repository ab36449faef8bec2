"""Optional dependencies of the picture commands (draw, erf, analyze --format html).

Each is looked up only by the command that needs it; a missing one is a one-line error (exit 2)
that names what to install, never a traceback. No other command imports these.
"""

from __future__ import annotations

import shutil

from netcalc.errors import SpecError

PLOT_HINT = "pip install 'netcalc[plot]'"


class MissingDependency(SpecError):
    """A program or package the command needs is not installed (exit 2, like bad input)."""


def pyplot(purpose: str):
    """matplotlib.pyplot on the non-interactive Agg backend (nothing opens a window)."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency(f"{purpose} needs matplotlib, which is not installed: {PLOT_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def graphviz_dot(purpose: str) -> str:
    """The path of Graphviz's `dot` program."""
    path = shutil.which("dot")
    if path is None:
        raise MissingDependency(f"{purpose} needs Graphviz's `dot` program, which is not installed: install "
                                f"the graphviz package (apt-get install graphviz, brew install graphviz, "
                                f"or conda install graphviz)")
    return path


def has_graphviz() -> bool:
    return shutil.which("dot") is not None
