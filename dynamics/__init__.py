"""isodyn.dynamics - numbers: generated kernels, integrators, network simulators, CLI."""

from .codegen import kernels
from .gradients import representation_gradient, target_gradient

__all__ = ["kernels", "representation_gradient", "target_gradient"]
