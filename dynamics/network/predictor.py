"""A trained full-matrix predictor W_P (M, M) in sampled training (SPEC §7; BYOL, Tian, Chen & Ganguli 2021).

Per-sample gradients of a rule whose predictor is a general (not necessarily symmetric) matrix, composed from
generated kernels only (nothing is typed here; the metric is rotation invariant, so the kernels of a rule
without a predictor, evaluated at lambda = 1, are the metric's gradients in any orthonormal basis):

* dl/dp at p = W_P z1: ``grad_online`` of ``Rule(metric, "no-predictor")`` at (Z1, Z2) = (p, z2) - the metric's
  d metric(p, SG(z2)) / dp;
* the predictor's gradient dL/dW_P = mean_i (dl/dp)_i z1_i^T of the loss it descends
  (``derivations.losses.predictor_loss``): the metric's standard loss for standard, iso and the IsoLoss family
  (z1 held fixed), metric(p, z2) for no-stopgrad - both have this dl/dp; none for wrong-stopgrad (p stopped);
* the encoder's online gradient (by ``Rule.multiplier``): W_P^T dl/dp (multiplier 1: standard, no-stopgrad),
  dl/dp (multiplier 0: iso, the transpose removed, SPEC §3), none (wrong-stopgrad); the IsoLoss family
  W_P^beta dl/dp needs a symmetric W_P and is the rule's own ``grad_online`` in W_P's eigenbasis (its
  eigenvalues as lambda), as for a closed-form predictor;
* the target gradient (no-stopgrad, wrong-stopgrad): the rule's own ``grad_target`` at (Z1, Z2) = (p, z2)
  with lambda = 1, i.e. d metric(p, z2) / dz2 (the family: in W_P's eigenbasis, as above).

Initial predictors (``INITS``): ``closed-form`` U diag(lambda) U^T from the correlation the closed-form predictor
would use (aligned); ``identity`` I; ``random`` Q diag(lambda) Q^T with the closed-form spectrum lambda in
Haar-random eigenvectors Q (symmetric, unaligned; its own random stream of the seed, :func:`random_predictor`).
"""

from __future__ import annotations

import numpy as np

from isodyn.derivations import Rule
from isodyn.dynamics.codegen import kernels
from isodyn.dynamics.network.workspace import Workspace, out

INITS = ("closed-form", "identity", "random")


def route(rule: Rule) -> str:
    """How the online gradient passes the predictor: 'transpose' (W_P^T dl/dp), 'identity' (dl/dp),
    'eigenbasis' (the IsoLoss family's W_P^beta dl/dp by the rule's kernels; W_P symmetric) or 'none'."""
    if rule.beta is not None:
        return "eigenbasis"
    m = rule.multiplier
    if m is None:
        return "none"
    return "transpose" if m == 1 else "identity"


class TrainedPredictorGradients:
    """Per-sample gradients with a trained predictor on a backend (module docstring).

    ``__call__(z1, z2, Wp, keep=None)`` with z1, z2 (n, M) and Wp (M, M) on the backend returns
    (g, h, D): g = dl/dz1 (n, M) or None, h = dl/dz2 (n, M) or None, D = dl/dp (n, M) of the predictor's loss
    or None (wrong-stopgrad); keep (n, 1) bool zeroes the rows of samples without a defined loss.
    dL/dW_P = D^T z1 / n (:meth:`predictor_gradient`).
    """

    def __init__(self, rule: Rule, backend, impl: str = "auto", ws: Workspace | None = None):
        """ws: the caller's step workspace for the (n, M) temporaries (network.workspace), or None."""
        if not rule.has_predictor:
            raise ValueError(f"{rule.name}: no predictor to train")
        self.rule, self.bk, self.route, self.ws = rule, backend, route(rule), ws
        self.beta = 0.0 if rule.beta is None else float(rule.beta)
        self.k_dp = kernels(Rule(rule.metric, "no-predictor"))
        self.k = kernels(rule)
        # on NumPy ('auto' or 'numba') the generated per-sample loops (``sample_gradients``, both branches in one
        # pass), else the array functions on the backend
        self.loops = backend.name == "numpy" and impl in ("auto", "numba")
        if self.loops:
            self.impl = "numba"
        else:
            self._functions = {(name, which): backend.gradient_function(k, which, impl)
                               for name, k in (("dp", self.k_dp), ("rule", self.k))
                               for which in ("grad_online", "grad_target")}
            self.impl = self._functions["dp", "grad_online"].impl

    @property
    def trains_predictor(self) -> bool:
        """Does the predictor get a gradient (every variant but wrong-stopgrad, whose p is stopped)?"""
        return self.rule.online_gradient

    def eigenbasis(self, Wp):
        """(lambda, U) of the symmetric W_P on the backend (host eigh, float64), for the 'eigenbasis' route."""
        xp, dt = self.bk.xp, Wp.dtype
        Wh = self.bk.asnumpy(Wp).astype(np.float64)
        lam, U = np.linalg.eigh((Wh + Wh.T) / 2)
        return xp.asarray(lam, dtype=dt), xp.asarray(U, dtype=dt)

    def __call__(self, z1, z2, Wp, keep=None):
        if keep is not None and self.bk.name == "numpy":  # the masked rows (0/0) are replaced below
            with np.errstate(invalid="ignore", divide="ignore"):
                return self._gradients(z1, z2, Wp, keep)
        return self._gradients(z1, z2, Wp, keep)

    def _per_sample(self, kernel: str, A, B, lam, beta, online: bool, target: bool):
        """(dl/dA or None, dl/dB or None) (n, M) of kernel 'dp' (the metric's, ``k_dp``) or 'rule' (``k``) at
        (Z1, Z2) = (A, B) with eigenvalues lam: its generated loop, or its array functions."""
        k = self.k_dp if kernel == "dp" else self.k
        if self.loops:
            g, h = (np.empty_like(A) if self.ws is None else self.ws(f"{kernel}_{branch}", A.shape, A.dtype)
                    for branch in ("online", "target"))
            k.sample_gradients(A, B, lam, beta, g, h)
            return (g if online else None), (h if target else None)
        Q = k.invariants(self.bk.xp, A, B, lam, beta)
        fn = self._functions
        return (fn[kernel, "grad_online"](A, B, lam, beta, Q) if online else None,
                fn[kernel, "grad_target"](A, B, lam, beta, Q) if target else None)

    def _gradients(self, z1, z2, Wp, keep):
        xp, r = self.bk.xp, self.rule
        ones = xp.ones(z1.shape[1], dtype=z1.dtype)
        P = xp.matmul(z1, Wp.T, out=out(self.ws, "p", z1.shape, z1.dtype))  # rows p_i = W_P z1_i

        def masked(a):
            return a if keep is None else xp.where(keep, a, 0)

        D = None
        if self.trains_predictor or self.route in ("transpose", "identity"):
            D = masked(self._per_sample("dp", P, z2, ones, 0.0, True, False)[0])
        g = h = None
        if self.route == "eigenbasis":
            lam, U = self.eigenbasis(Wp)
            Z1, Z2 = z1 @ U, z2 @ U
            g, h = self._per_sample("rule", Z1, Z2, lam, self.beta, True, r.target_gradient)
            g = masked(g) @ U.T
            if h is not None:
                h = masked(h) @ U.T
        else:
            if self.route == "transpose":
                g = xp.matmul(D, Wp, out=out(self.ws, "wp_t_dp", D.shape, D.dtype))  # rows W_P^T (dl/dp)_i
            elif self.route == "identity":
                g = D
            if r.target_gradient:
                h = masked(self._per_sample("rule", P, z2, ones, self.beta, False, True)[1])
        return g, h, (D if self.trains_predictor else None)

    @staticmethod
    def predictor_gradient(D, z1):
        """dL/dW_P = mean_i (dl/dp)_i z1_i^T (M, M) from D = dl/dp (n, M)."""
        return D.T @ z1 / z1.shape[0]

    # --- the moments sampler: gradients linear in (z1, z2) -------------------------------------------------

    def coefficients(self, M: int, lam=None) -> dict:
        """Row-form coefficients (host, float64) of the gradients linear in (z1, z2) (the Euclidean rules), read
        off the same kernels and checked for linearity (ValueError if a gradient is not linear):
        'dp' (Pa, Pb) with D = P Pa + Z2 Pb; 'target' (Ta, Tb) with h = P Ta + Z2 Tb (lambda = 1); for the
        'eigenbasis' route, given W_P's eigenvalues ``lam``: 'online' (Ga, Gb) and 'target' in its eigenbasis
        (g = Z1 Ga + Z2 Gb with Z = z U, as for a closed-form predictor)."""
        out = {}
        if self.trains_predictor or self.route in ("transpose", "identity"):
            out["dp"] = linear_coefficients(self.k_dp, "grad_online", np.ones(M), 0.0)
        if self.route == "eigenbasis":
            if lam is None:
                raise ValueError("the eigenbasis route needs W_P's eigenvalues")
            out["online"] = linear_coefficients(self.k, "grad_online", lam, self.beta)
            if self.rule.target_gradient:
                out["target"] = linear_coefficients(self.k, "grad_target", lam, self.beta)
        elif self.rule.target_gradient:
            out["target"] = linear_coefficients(self.k, "grad_target", np.ones(M), self.beta)
        return out


def linear_coefficients(k, which: str, lam, beta) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) (M, M) with k.<which>(Z1, Z2) = Z1 A + Z2 B, read off at unit vectors and checked at random points
    (ValueError if the generated gradient is not linear in (z1, z2))."""
    f = getattr(k, which)
    lam = np.asarray(lam, dtype=np.float64)
    M = lam.size
    I, O = np.eye(M), np.zeros((M, M))
    A = np.broadcast_to(f(np, I, O, lam, beta, k.invariants(np, I, O, lam, beta)), (M, M)).copy()
    B = np.broadcast_to(f(np, O, I, lam, beta, k.invariants(np, O, I, lam, beta)), (M, M)).copy()
    rng = np.random.default_rng(12345)
    Z1, Z2 = rng.standard_normal((3, M)), rng.standard_normal((3, M))
    got = f(np, Z1, Z2, lam, beta, k.invariants(np, Z1, Z2, lam, beta))
    if not np.allclose(got, Z1 @ A + Z2 @ B, rtol=1e-10, atol=1e-12):
        raise ValueError(f"the moments sampler needs gradients linear in (z1, z2); {which} is not")
    return A, B


def closed_form_predictor(lam, U) -> np.ndarray:
    """U diag(lambda) U^T (M, M), float64."""
    return (U * lam) @ U.T


def random_predictor(lam, seed) -> np.ndarray:
    """Q diag(lambda) Q^T (M, M) with Q Haar-random (QR of a Gaussian matrix, signs fixed) from its own stream of
    ``seed`` (``SeedSequence(seed).spawn(2)[1]``; init_weights uses the first child): the closed-form spectrum in
    eigenvectors unrelated to the correlation's."""
    M = len(lam)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    q, r = np.linalg.qr(rng.standard_normal((M, M)))
    Q = q * np.sign(np.diag(r))
    return (Q * np.asarray(lam, dtype=np.float64)) @ Q.T
