"""Learning rules as data (SPEC §3).

A :class:`Rule` names a metric, a variant and the predictor options; everything
downstream (derivations, generated kernels, simulators, the CLI) takes one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .checks import PARAMETERS, Choice, Flag, InputError

METRICS = ("euclidean", "cosine")
VARIANTS = ("standard", "iso", "no-stopgrad", "wrong-stopgrad", "no-predictor")
# variants whose online branch carries the predictor multiplier W_P^beta
BETA_VARIANTS = ("standard", "iso", "no-stopgrad")
#: how the predictor is set: from the representation's correlation (DirectPred, the paper) or trained by gradient
#: descent (BYOL; SPEC §7)
PREDICTORS = ("closed-form", "trainable")
#: the cosine rules' two closures of the mode equations (SPEC §4): the exact Gaussian one (the default where a
#: command chooses) and the mean-field picture
CLOSURES = ("exact", "mean-field")


#: kept for one release: the rule's error is the one input error of the package
RuleError = InputError

_METRIC, _VARIANT, _PREDICTOR = Choice(METRICS), Choice(VARIANTS), Choice(PREDICTORS)
_NORMALIZE = Flag()


@dataclass(frozen=True)
class Rule:
    """One learning rule of SPEC §3.

    metric     'euclidean' | 'cosine'
    variant    'standard' | 'iso' | 'no-stopgrad' | 'wrong-stopgrad' | 'no-predictor'
    beta       IsoLoss-family exponent: the online gradient is W_P^beta dl/dp.
               None means the variant's own (standard 1, iso 0, no-stopgrad 1).
    alpha, eps, normalize   predictor lambda_m = (s_m + eps)^alpha, or
               (s_m / max s + eps)^alpha when normalize (SPEC §2).
    predictor  'closed-form' (lambda from the correlation, as above) | 'trainable' (W_P learned by gradient
               descent; its eigenvalues lambda_m are a state of the mode equations, SPEC §7; alpha, eps and
               normalize then set only its default start).  Not part of the structural key: both kinds run
               on the same generated code.
    """

    metric: str = "euclidean"
    variant: str = "standard"
    beta: float | None = None
    alpha: float = 1.0
    eps: float = 0.0
    normalize: bool = False
    predictor: str = "closed-form"

    def __post_init__(self):
        """Check every option (:mod:`.checks`; errors name the keyword: ``metric``, ``beta``, ...)."""
        _METRIC("metric", self.metric)
        _VARIANT("variant", self.variant)
        if self.beta is not None:
            if self.variant not in BETA_VARIANTS:
                raise InputError("beta", self.beta, "a finite real, only with variant " + "/".join(BETA_VARIANTS))
            object.__setattr__(self, "beta", PARAMETERS["beta"]("beta", self.beta))
        object.__setattr__(self, "alpha", PARAMETERS["alpha"]("alpha", self.alpha))
        object.__setattr__(self, "eps", PARAMETERS["eps"]("eps", self.eps))
        object.__setattr__(self, "normalize", _NORMALIZE("normalize", self.normalize))
        _PREDICTOR("predictor", self.predictor)
        if self.predictor == "trainable" and not self.has_predictor:
            raise InputError("predictor", self.predictor, f"closed-form for variant {self.variant} (no predictor)")

    @property
    def trainable(self) -> bool:
        """Is the predictor trained by gradient descent (SPEC §7)?"""
        return self.predictor == "trainable"

    # --- derived properties -------------------------------------------------
    @property
    def multiplier(self) -> float | None:
        """The exponent beta of W_P on the online gradient (None: no online gradient)."""
        if self.variant == "wrong-stopgrad":
            return None
        if self.variant == "no-predictor":
            return 0.0
        if self.beta is not None:
            return self.beta
        return 0.0 if self.variant == "iso" else 1.0

    @property
    def online_gradient(self) -> bool:
        """Does the online branch (z1) receive a gradient?"""
        return self.variant != "wrong-stopgrad"

    @property
    def target_gradient(self) -> bool:
        """Does the target branch (z2) receive a gradient?"""
        return self.variant in ("no-stopgrad", "wrong-stopgrad")

    @property
    def has_target_network(self) -> bool:
        """Is there a separate (possibly EMA) target network?  False: W_t = W."""
        return not self.target_gradient

    @property
    def has_predictor(self) -> bool:
        return self.variant != "no-predictor"

    @property
    def structural_key(self) -> tuple:
        """What the symbolic derivation depends on (alpha, eps, normalize are run-time)."""
        family = self.beta is not None
        return (self.metric, self.variant, family)

    @classmethod
    def from_structural_key(cls, key: tuple) -> Rule:
        """A rule with this structural key (beta = 0.5 stands for the family's symbolic beta)."""
        metric, variant, family = key
        return cls(metric, variant, beta=0.5 if family else None)

    @property
    def name(self) -> str:
        s = f"{self.metric}/{self.variant}"
        if self.beta is not None:
            s += f"/beta={self.beta:g}"
        if self.trainable:
            s += "/trainable"
        return s

    def with_(self, **kw) -> Rule:
        return replace(self, **kw)

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "variant": self.variant,
            "beta": self.beta,
            "multiplier": self.multiplier,
            "alpha": self.alpha,
            "eps": self.eps,
            "normalize": self.normalize,
            "predictor": self.predictor,
        }
