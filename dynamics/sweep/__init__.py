"""isodyn.dynamics.sweep - parameter-space exploration: TOML specs, chunk plans, local and Dask executors,
resumable storage, the merged xarray Dataset."""

from .run import run_sweep
from .spec import SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["SpecError", "SweepSpec", "load_spec", "parse_spec", "run_sweep"]
