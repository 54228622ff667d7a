"""isodyn.dynamics.modes - the mode equations of linear networks (SPEC §4): schemes, drivers, the exact
cosine closure, ``simulate`` / ``simulate_batch``, trajectories and theory curves."""

from .exact import ExactGrid
from .simulation import log_spaced, simulate, simulate_batch
from .trajectory import Trajectory

__all__ = ["ExactGrid", "Trajectory", "log_spaced", "simulate", "simulate_batch"]
