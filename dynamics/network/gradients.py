"""Per-sample representation gradients of every rule (SPEC §3), from the generated kernels.

The kernels are written in the predictor's eigenbasis; these functions rotate in and
out.  NumPy arrays in -> NumPy out; CuPy arrays in -> CuPy out.
"""

from __future__ import annotations

from isodyn.derivations import Rule
from isodyn.dynamics.codegen import kernels


def array_module(x):
    """numpy, or cupy for CuPy arrays (without importing CuPy otherwise)."""
    mod = type(x).__module__.split(".")[0]
    if mod == "cupy":
        import cupy

        return cupy
    import numpy

    return numpy


def _rotate(rule: Rule, z1, z2, Wp):
    xp = array_module(z1)
    z1, z2 = xp.asarray(z1), xp.asarray(z2)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (n, M); got {z1.shape} and {z2.shape}")
    M = z1.shape[1]
    if not rule.has_predictor:  # W_P = I
        return xp, z1, z2, xp.ones(M, dtype=z1.dtype), None
    Wp = xp.asarray(Wp, dtype=z1.dtype)
    if Wp.shape != (M, M):
        raise ValueError(f"Wp must be ({M}, {M}); got {Wp.shape}")
    lam, U = xp.linalg.eigh((Wp + Wp.T) / 2)
    return xp, z1 @ U, z2 @ U, lam, U


def _gradient(which: str, metric, variant, z1, z2, Wp, beta):
    rule = metric if isinstance(metric, Rule) else Rule(metric, variant, beta=beta)
    k = kernels(rule)
    xp, Z1, Z2, lam, U = _rotate(rule, z1, z2, Wp)
    b = 0.0 if rule.beta is None else rule.beta
    Q = k.invariants(xp, Z1, Z2, lam, b)
    G = getattr(k, which)(xp, Z1, Z2, lam, b, Q)
    return G if U is None else G @ U.T


def representation_gradient(metric, variant=None, z1=None, z2=None, Wp=None, beta=None):
    """dl/dz1 for n samples (rows): array (n, M).

    metric, variant  rule names (or a Rule as ``metric``); beta the IsoLoss-family exponent
    z1, z2           online and (stop-gradient) target representations, (n, M)
    Wp               the symmetric predictor (M, M); ignored for no-predictor (W_P = I)
    """
    return _gradient("grad_online", metric, variant, z1, z2, Wp, beta)


def target_gradient(metric, variant=None, z1=None, z2=None, Wp=None, beta=None):
    """dl/dz2 for n samples: (n, M); zero for rules whose target branch is stopped."""
    return _gradient("grad_target", metric, variant, z1, z2, Wp, beta)
