"""isodyn.dynamics.network - sampled Siamese-network training (linear, ReLU; NumPy, CuPy), per-sample
gradients and the validation of the mode equations against training (SPEC §2-4)."""

from .gradients import representation_gradient, target_gradient
from .trainer import NetworkConfig, NetworkRun, NetworkTrainer, init_weights, train

__all__ = ["NetworkConfig", "NetworkRun", "NetworkTrainer", "init_weights", "representation_gradient",
           "target_gradient", "train"]
