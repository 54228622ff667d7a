"""Reference settings and random-instance helpers shared by the tests (SPEC §3-5).

* ``PAPER_EIGEN`` / ``PAPER_TWO_NEURON``: the paper's 15->10 and 6->2 toy settings (SPEC §5).
* ``RULES``: every metric x variant, plus the IsoLoss family at beta = 0.5 for the variants
  that carry the predictor multiplier (standard, iso, no-stopgrad).
* ``random_spd``, ``random_orthogonal``, ``random_network``: random symmetric positive-definite
  predictors and linear networks W = U diag(S) V^T with distinct singular values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isodyn.derivations import BETA_VARIANTS, METRICS, VARIANTS, Rule

FAMILY_BETA = 0.5

# --- the paper's toy settings (SPEC §5) -------------------------------------------------------

#: learning rates of SPEC §5 by (metric, variant); cosine rules all use 0.1
PAPER_LR = {
    ("euclidean", "standard"): 0.01,
    ("euclidean", "no-stopgrad"): 0.01,
    ("euclidean", "iso"): 0.01,
    ("euclidean", "no-predictor"): 0.1,
    **{("cosine", v): 0.1 for v in VARIANTS},
}

#: eigenvalue dynamics: 15 -> 10 linear network (SPEC §5)
PAPER_EIGEN = dict(
    in_dim=15, out_dim=10, init_scale=0.25, alpha=1.0, sigma1=0.0, sigma2=0.1,
    samples=50_000, steps=1500, steps_no_predictor=100_000, predictor_source="weights",
)

#: representation trajectories and two-neuron fixed points: 6 -> 2 network (SPEC §5)
PAPER_TWO_NEURON = dict(
    in_dim=6, out_dim=2, init_scale=0.25, alpha=1.0, sigma1=0.0, sigma2=0.1,
    samples=50_000, steps=1500, probes=20, probe_pool=5000, fresh_init_scale=0.5,
    predictor_source="weights",
)


def paper_lr(rule: Rule) -> float:
    """SPEC §5 learning rate of a rule (the family takes its variant's)."""
    return PAPER_LR.get((rule.metric, rule.variant), 0.01)


# --- rule lists -------------------------------------------------------------------------------

RULES = tuple(
    [Rule(m, v) for m in METRICS for v in VARIANTS]
    + [Rule(m, v, beta=FAMILY_BETA) for m in METRICS for v in BETA_VARIANTS]
)
EUCLIDEAN_RULES = tuple(r for r in RULES if r.metric == "euclidean")
COSINE_RULES = tuple(r for r in RULES if r.metric == "cosine")


def rule_id(rule: Rule) -> str:
    """A pytest id such as 'cosine/iso' or 'euclidean/standard/beta=0.5'."""
    return rule.name


def beta_arg(rule: Rule) -> float:
    """The run-time beta of the generated kernels (SPEC §3): the rule's beta, or 0.0 if unused."""
    return 0.0 if rule.beta is None else float(rule.beta)


# --- random instances ---------------------------------------------------------------------------


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-random orthogonal (n, n) matrix (QR with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def random_spd(rng: np.random.Generator, M: int, lo: float = 0.2, hi: float = 3.0) -> np.ndarray:
    """A random symmetric positive-definite (M, M) predictor with eigenvalues in [lo, hi]."""
    Q = random_orthogonal(rng, M)
    lam = rng.uniform(lo, hi, size=M)
    return (Q * lam) @ Q.T


def matrix_power_spd(Wp: np.ndarray, power: float) -> np.ndarray:
    """W_P^power of a symmetric positive-definite matrix via its eigendecomposition."""
    lam, Q = np.linalg.eigh((Wp + Wp.T) / 2)
    return (Q * lam**power) @ Q.T


def distinct_values(rng: np.random.Generator, M: int, lo: float, hi: float, gap: float = 0.15) -> np.ndarray:
    """M values in [lo, hi], descending, any two at least ``gap`` (relative) apart."""
    while True:
        v = np.sort(np.exp(rng.uniform(np.log(lo), np.log(hi), size=M)))[::-1]
        if M < 2 or np.min(v[:-1] / v[1:]) > 1 + gap:
            return v


@dataclass(frozen=True)
class LinearNetwork:
    """W = U diag(S) V^T (M x N) and a target W_t = U diag(St) V^T sharing its singular vectors.

    U (M, M), V (N, M) orthonormal columns, V_perp (N, N - M) its complement.
    """

    U: np.ndarray
    S: np.ndarray
    St: np.ndarray
    V: np.ndarray
    V_perp: np.ndarray

    @property
    def W(self) -> np.ndarray:
        return (self.U * self.S) @ self.V.T

    @property
    def Wt(self) -> np.ndarray:
        return (self.U * self.St) @ self.V.T


def random_network(rng: np.random.Generator, M: int, N: int, *, lo=0.5, hi=1.6, distinct_target=True):
    """A random linear network with distinct singular values S in [lo, hi] (descending).

    With ``distinct_target`` the target amplitudes St differ from S (a target network, S_t != S);
    otherwise St = S.
    """
    U = random_orthogonal(rng, M)
    Q = random_orthogonal(rng, N)
    V, V_perp = Q[:, :M], Q[:, M:]
    S = distinct_values(rng, M, lo, hi)
    St = S * rng.uniform(0.6, 1.3, size=M) if distinct_target else S.copy()
    return LinearNetwork(U, S, St, V, V_perp)


# --- mode parameters and the exact cosine closure by quadrature (SPEC §4) -----------------------


def mode_arguments(rule: Rule, S: np.ndarray, St: np.ndarray, sigma1: float, alpha: float):
    """(St, lam) as the generated kernels take them for ``rule``.

    St is replaced by S for rules without a target network (no-stopgrad, wrong-stopgrad);
    lam_m = s_m^alpha with s_m = (1 + sigma1^2) S_m^2, or all ones without a predictor.
    """
    St_eff = St if rule.has_target_network else S
    lam = ((1 + sigma1**2) * S**2) ** alpha if rule.has_predictor else np.ones_like(S)
    return St_eff, lam


def exact_drift(k, S, St, lam, sigma1, sigma2, beta, *, h=0.3, below=70.0, above=30.0, chunk=64, integrand=None):
    """G_m = iint_0^inf exact_integrand(t, u) dt du, trapezoid rule in (log t, log u).

    With t = e^x, u = e^y the integrand t u f(t, u) is smooth and decays exponentially in
    x, y at both ends (like e^{x/2} for t -> 0, like a power of t^{-1} for t -> inf), so the
    trapezoid rule converges spectrally.  The grid is centred on x0 = -log E||p||^2,
    y0 = -log E||z2||^2 and spans [x0 - below, x0 + above] (same in y).  The ``h``/span
    defaults are checked against a finer, wider grid in test_exact_closure.py.

    k  the generated kernel module; S, St, lam arrays (M,); returns (M,).  ``integrand``: another of its NumPy
    integrands (default k.exact_integrand_np; k.exact_predictor_integrand_np gives a trained predictor's H_m).
    """
    integrand = k.exact_integrand_np if integrand is None else integrand
    P2 = (1 + sigma1**2) * np.sum(lam**2 * S**2)
    Z2 = (1 + sigma2**2) * np.sum(St**2)
    x = -np.log(P2) + np.arange(-below, above + h / 2, h)
    y = -np.log(Z2) + np.arange(-below, above + h / 2, h)
    t, u = np.exp(x), np.exp(y)
    wx, wy = np.full(x.size, h), np.full(y.size, h)
    wx[[0, -1]] = wy[[0, -1]] = h / 2
    total = np.zeros(S.shape)
    for i in range(0, x.size, chunk):
        T, Uu = np.meshgrid(t[i:i + chunk], u, indexing="ij")
        f = integrand(T, Uu, S, St, lam, sigma1, sigma2, beta)
        w = wx[i:i + chunk, None] * wy[None, :] * T * Uu
        total += np.einsum("ij,ijm->m", w, f)
    return total
