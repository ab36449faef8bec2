"""netcalc: exact shapes, parameters, MACs, FLOPs and receptive fields for CNN specs."""

__version__ = "0.1.0"
