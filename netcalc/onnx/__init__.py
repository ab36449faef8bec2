"""ONNX interchange (contract §8).

- `reader`: an ONNX model → the same `Spec` the YAML loader builds (a sibling of netcalc.spec);
  `ops` maps single nodes, `patterns` multi-node groups, `fold` evaluates the small integer
  computations (Shape → Gather → Concat …) that feed Reshape, Resize and Pad.
- `modelfile`: reading a model file safely (size limits, external data only inside the model's
  folder, initializers read only when their values are needed).
- `writer`: a resolved graph → an ONNX model, one emit function per layer type (a sibling of
  the reporters); `importer` writes a read model back out as a YAML spec and weights.

Needs the optional `onnx` package (`pip install 'netcalc[onnx]'`); nothing outside this package
imports it, and this package is imported only by the commands that read or write ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcalc.errors import Loc, SpecError

INSTALL_HINT = "ONNX support needs the onnx package: pip install 'netcalc[onnx]'"


def require_onnx(path: str = "<onnx>"):
    """The onnx module (for writing models), or a one-line SpecError with the install hint."""
    try:
        import onnx
    except ImportError:
        raise SpecError(INSTALL_HINT, file_loc(path)) from None
    return onnx


@dataclass(frozen=True)
class NodeLoc(Loc):
    """Where an ONNX problem is: the file, and the node (its name and op type) when there is one."""

    node: str = ""

    def __str__(self) -> str:
        return f"{self.file}: {self.node}" if self.node else self.file


def file_loc(path) -> NodeLoc:
    return NodeLoc(str(path), 0, 0)
