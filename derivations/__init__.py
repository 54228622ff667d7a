"""isodyn.derivations - the symbolic layer: rules, losses, gradients, mode equations (SPEC §3-4).

The only place a formula is written by hand.  Returns plain sympy objects; knows
nothing about numba, files or numerics.  ``Rule`` and ``InputError`` (the one error type for bad
input, with the checkers of :mod:`.checks`) are imported eagerly; everything
else (and sympy itself) is imported on first use, so code that only loads cached
kernels never pays for sympy.
"""

from importlib import import_module

from .checks import InputError
from .rules import BETA_VARIANTS, CLOSURES, METRICS, PREDICTORS, VARIANTS, Rule, RuleError

_LAZY = {
    "Vec": "invariants",
    "dot": "invariants",
    "grad": "invariants",
    "norm": "invariants",
    "sg": "invariants",
    "Gradients": "losses",
    "gradients": "losses",
    "per_sample_loss": "losses",
    "dl_dp": "losses",
    "compact_loss": "losses",
    "to_invariants": "losses",
    "ModeDrift": "modes",
    "ModeSum": "modes",
    "ExactClosure": "modes",
    "ExactTerm": "modes",
    "mode_drift": "modes",
    "exact_closure": "modes",
    "tilted": "modes",
    "correlation_eigenvalue": "modes",
    "predictor_eigenvalue": "modes",
    "ode": "analysis",
    "expected_map": "analysis",
    "fixed_points": "analysis",
    "FixedPoint": "analysis",
    "weak_mode_asymptotics": "analysis",
    "FixedPointAt": "analysis",
    "fixed_points_at": "analysis",
    "stability_in_words": "analysis",
    "recruitment_at": "analysis",
    "trainable_at": "analysis",
    "derivation": "render",
    "render": "render",
}

__all__ = ["BETA_VARIANTS", "CLOSURES", "METRICS", "PREDICTORS", "VARIANTS", "InputError", "Rule", "RuleError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'derivations' has no attribute {name!r}")
