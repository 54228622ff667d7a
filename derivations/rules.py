"""Learning rules as data (SPEC §3).

A :class:`Rule` names a metric, a variant and the predictor options; everything
downstream (derivations, generated kernels, simulators, the CLI) takes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

METRICS = ("euclidean", "cosine")
VARIANTS = ("standard", "iso", "no-stopgrad", "wrong-stopgrad", "no-predictor")
# variants whose online branch carries the predictor multiplier W_P^beta
BETA_VARIANTS = ("standard", "iso", "no-stopgrad")


class RuleError(ValueError):
    """A rule option is unknown or out of range.

    ``flag`` names the command-line flag, ``accepted`` what it accepts.
    """

    def __init__(self, flag: str, value, accepted: str):
        self.flag, self.value, self.accepted = flag, value, accepted
        super().__init__(f"{flag}: invalid value {value!r}; accepted: {accepted}")


def _finite(flag: str, value, accepted: str, *, lo=None, lo_open=False, hi=None, hi_open=False):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RuleError(flag, value, accepted) from None
    if not math.isfinite(x):
        raise RuleError(flag, value, accepted)
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise RuleError(flag, value, accepted)
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise RuleError(flag, value, accepted)
    return x


@dataclass(frozen=True)
class Rule:
    """One learning rule of SPEC §3.

    metric     'euclidean' | 'cosine'
    variant    'standard' | 'iso' | 'no-stopgrad' | 'wrong-stopgrad' | 'no-predictor'
    beta       IsoLoss-family exponent: the online gradient is W_P^beta dl/dp.
               None means the variant's own (standard 1, iso 0, no-stopgrad 1).
    alpha, eps, normalize   predictor lambda_m = (s_m + eps)^alpha, or
               (s_m / max s + eps)^alpha when normalize (SPEC §2).
    """

    metric: str = "euclidean"
    variant: str = "standard"
    beta: float | None = None
    alpha: float = 1.0
    eps: float = 0.0
    normalize: bool = False

    def __post_init__(self):
        if self.metric not in METRICS:
            raise RuleError("--metric", self.metric, "{" + ",".join(METRICS) + "}")
        if self.variant not in VARIANTS:
            raise RuleError("--variant", self.variant, "{" + ",".join(VARIANTS) + "}")
        if self.beta is not None:
            if self.variant not in BETA_VARIANTS:
                raise RuleError(
                    "--beta",
                    self.beta,
                    "a finite real, only with --variant " + "/".join(BETA_VARIANTS),
                )
            object.__setattr__(self, "beta", _finite("--beta", self.beta, "a finite real"))
        object.__setattr__(self, "alpha", _finite("--alpha", self.alpha, "a real >= 0", lo=0.0))
        object.__setattr__(self, "eps", _finite("--eps", self.eps, "a real >= 0", lo=0.0))
        object.__setattr__(self, "normalize", bool(self.normalize))

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
        }
