"""isodyn.dynamics - numbers: generated kernels, integrators, network simulators, CLI."""

from .codegen import kernels
from .gradients import representation_gradient, target_gradient
from .simulate import simulate, simulate_batch
from .trajectory import Trajectory

__all__ = ["Trajectory", "kernels", "representation_gradient", "simulate", "simulate_batch", "target_gradient"]
