"""isodyn.dynamics - numbers: generated kernels, integrators, network simulators, CLI."""

from isodyn.dynamics.codegen import kernels
from isodyn.dynamics.modes.simulation import simulate, simulate_batch
from isodyn.dynamics.modes.trajectory import Trajectory
from isodyn.dynamics.network.gradients import representation_gradient, target_gradient

__all__ = ["Trajectory", "kernels", "representation_gradient", "simulate", "simulate_batch", "target_gradient"]
