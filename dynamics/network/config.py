"""The configuration of a sampled run (SPEC §2-5, §7): :class:`NetworkConfig`, every option checked on creation.

Everything a sampled run depends on besides W0, the probes and the seed; the trainer (:mod:`.trainer`) runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from isodyn.derivations import Rule
from isodyn.derivations.checks import PARAMETERS, Choice, Flag, InputError, Integer
from isodyn.dynamics.network.predictor import INITS
from isodyn.dynamics.network.reference_notebook import check_update

NETS = ("linear", "relu")
SOURCES = ("weights", "representations")
SAMPLERS = ("inputs", "moments")
DTYPES = ("float64", "float32")
PREDICTOR_INITS = INITS
#: the NetworkConfig fields of a trained predictor (SPEC §7)
TRAINED_OPTIONS = ("predictor_lr_ratio", "predictor_weight_decay", "predictor_init", "predictor_symmetric")
_FLAG = Flag()


@dataclass(frozen=True)
class NetworkConfig:
    """Everything a sampled run depends on besides W0, the probes and the seed."""

    rule: Rule
    net: str = "linear"
    in_dim: int = 15
    out_dim: int = 10
    samples: int = 50_000
    sigma1: float = 0.0
    sigma2: float = 0.1
    lr: float = 0.01
    weight_decay: float = 0.0
    ema: float = 0.0
    predictor_source: str = "weights"
    rho: float = 0.3
    sampler: str = "inputs"
    dtype: str = "float64"
    predictor_lr_ratio: float | None = None
    predictor_weight_decay: float | None = None
    predictor_init: str = "closed-form"
    predictor_symmetric: bool = False
    #: 'gradient' (the loss's exact gradient) or 'reference-notebook' (the paper's reference notebook's update,
    #: :mod:`.reference_notebook`; it departs from the gradient for ReLU Euclidean rules and cosine no-stopgrad)
    update: str = "gradient"

    def __post_init__(self):
        """Check every field (derivations.checks: InputError naming the field)."""
        for name, val, ok in (("net", self.net, NETS), ("predictor_source", self.predictor_source, SOURCES),
                              ("sampler", self.sampler, SAMPLERS), ("dtype", self.dtype, DTYPES)):
            Choice(ok)(name, val)
        for name in ("in_dim", "samples"):
            Integer(lo=1)(name, getattr(self, name))
        Integer(accepted="an integer in [1, in_dim]", lo=1, hi=self.in_dim)("out_dim", self.out_dim)
        for name in ("sigma1", "sigma2", "lr", "weight_decay", "ema", "rho"):
            PARAMETERS[name](name, getattr(self, name))
        if self.ema and not self.rule.has_target_network:
            raise InputError("ema", self.ema, f"0 for variant {self.rule.variant} (no target network: W_t = W)")
        if self.sampler == "moments" and (self.net != "linear" or self.rule.metric != "euclidean"):
            raise InputError("sampler", self.sampler, "moments only with net linear and metric euclidean")
        self._check_predictor()
        bad = check_update(self.update, self.rule, self.ema, self.predictor_source, self.sampler)
        if bad is not None:
            raise InputError(*bad)

    def _check_predictor(self):
        """The trained predictor's options (SPEC §7): refused for the closed-form predictor unless at their
        defaults; alpha_p > 0, gamma_p >= 0; the IsoLoss family only with a symmetric W_P."""
        given = {"predictor_lr_ratio": self.predictor_lr_ratio, "predictor_weight_decay": self.predictor_weight_decay,
                 "predictor_init": None if self.predictor_init == "closed-form" else self.predictor_init,
                 "predictor_symmetric": None if self.predictor_symmetric is False else self.predictor_symmetric}
        if not self.rule.trainable:
            for name, v in given.items():
                if v is not None:
                    raise InputError(name, v, "omit it for predictor closed-form (only with predictor trainable)")
            return
        for name in ("predictor_lr_ratio", "predictor_weight_decay"):
            if given[name] is not None:
                object.__setattr__(self, name, PARAMETERS[name](name, given[name]))
        Choice(PREDICTOR_INITS)("predictor_init", self.predictor_init)
        object.__setattr__(self, "predictor_symmetric", _FLAG("predictor_symmetric", self.predictor_symmetric))
        if self.rule.beta is not None and not self.predictor_symmetric:
            raise InputError("predictor_symmetric", self.predictor_symmetric,
                             "true with beta (the IsoLoss family's W_P^beta needs a symmetric trained predictor)")

    @property
    def alpha_p(self) -> float:
        """A trained predictor's learning-rate ratio alpha_p (default 1)."""
        return 1.0 if self.predictor_lr_ratio is None else float(self.predictor_lr_ratio)

    @property
    def gamma_p(self) -> float:
        """A trained predictor's weight decay gamma_p (default: the encoder's weight decay)."""
        return float(self.weight_decay if self.predictor_weight_decay is None else self.predictor_weight_decay)

    def as_dict(self) -> dict:
        """Every parameter (the rule's too); a trained predictor's options only when it is trained, resolved
        (alpha_p, gamma_p), so closed-form runs report exactly what they did before."""
        d = asdict(self)
        d.pop("rule")
        for name in TRAINED_OPTIONS:
            d.pop(name)
        if self.rule.trainable:
            d.update(predictor_lr_ratio=self.alpha_p, predictor_weight_decay=self.gamma_p,
                     predictor_init=self.predictor_init, predictor_symmetric=self.predictor_symmetric)
        return {**self.rule.as_dict(), **d}
