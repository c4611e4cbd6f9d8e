"""Precision studies: a TOML grid of training runs on dask.distributed, a resumable SQLite
store, and reports (docs/sweeps.md)."""
from .spec import Cell, SpecError, SweepSpec, cell_key, load_spec, parse_spec

__all__ = ["Cell", "SpecError", "SweepSpec", "cell_key", "load_spec", "parse_spec"]
