"""isodyn.dynamics.network - sampled Siamese-network training (linear, ReLU; NumPy, CuPy), per-sample
gradients, a trained full-matrix predictor (SPEC §7) and the validation of the mode equations against training
(SPEC §2-4, §7)."""

from .config import NetworkConfig
from .gradients import representation_gradient, target_gradient
from .predictor import TrainedPredictorGradients, random_predictor
from .run import NetworkRun, summary
from .trainer import NetworkTrainer, init_weights, train

__all__ = ["NetworkConfig", "NetworkRun", "NetworkTrainer", "TrainedPredictorGradients", "init_weights",
           "random_predictor", "representation_gradient", "summary", "target_gradient", "train"]
