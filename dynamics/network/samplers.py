"""Data samplers for the Siamese network simulators (SPEC §2; issue 4).

Inputs x ~ N(0, I_N), views x1 = x + sigma1 xi1, x2 = x + sigma2 xi2, n fresh samples a step.

* :class:`InputsSampler` draws the inputs and returns the pre-activations
  u1 = W x1, u2 = W_t x2 (n, M) with x1 (n, N) and, for rules whose target branch gets a
  gradient, x2 (n, N).  When x2 itself is not needed, the target noise enters only through
  W_t xi2 ~ N(0, W_t W_t^T), which is drawn in M dimensions (exact in distribution); with
  sigma1 = 0 no xi1 is drawn.
* Its projected draw (:class:`ProjectedBatch`; sigma1 = 0, W_t = W, x2 not needed: the paper's
  setting) draws x only where W sees it.  With W = U S V^T (V (N, r) orthonormal, r = min(M, N))
  and V_perp the rest of an orthonormal basis, x = a V^T + y V_perp^T with a = x V (n, r) and
  y (n, N - r) independent standard normals; u1 = a S U^T and u2 = (a + sigma2 eps) S U^T
  (eps (n, r)) do not involve y.  The weight gradient needs y only through g^T y (M, N - r) for
  per-sample gradients g (n, M) that are functions of (u1, u2), hence independent of y: given g,
  its columns are independent N(0, g^T g), so g^T y = L xi with L L^T = g^T g and xi
  (M, N - r) standard normal -- exact in distribution, with (n + M)(N - r) fewer normals drawn.
* :class:`MomentsSampler` (linear networks, gradients linear in (z1, z2): the Euclidean rules)
  draws the empirical second moments C_ab = sum_i x_a,i x_b,i^T / n of the views directly:
  with y = (x, xi1, xi2) restricted to the non-zero noise terms, (x1, x2) = L y and
  sum_i y_i y_i^T ~ Wishart_d(n, I), drawn by the Bartlett decomposition at a cost
  independent of n (d = N (1 + [sigma1 > 0] + [sigma2 > 0])).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isodyn.dynamics.network.workspace import Workspace, out


@dataclass
class InputBatch:
    """x1 (n, N); x2 (n, N) or None; u1 = x1 W^T, u2 = x2 W_t^T (n, M)."""

    x1: object
    x2: object
    u1: object
    u2: object

    def in_basis(self, Ud, xp, ws: Workspace | None = None):
        """(u1 Ud, u2 Ud) (n, M): the pre-activations in the orthonormal basis Ud (M, M) (on the backend xp)."""
        return (xp.matmul(self.u1, Ud, out=out(ws, "Z1", self.u1.shape)),
                xp.matmul(self.u2, Ud, out=out(ws, "Z2", self.u2.shape)))

    def online_inputs(self, g):
        """sum_i g_i x1_i^T (M, N) for per-sample gradients g (n, M) with respect to u1."""
        return g.T @ self.x1

    def target_inputs(self, h):
        """sum_i h_i x2_i^T (M, N) for h (n, M) with respect to u2."""
        return h.T @ self.x2


class ProjectedBatch(InputBatch):
    """A projected draw (module docstring), with the interface of :class:`InputBatch`: x1 = x2 = None;
    a = x V (n, r) and b = a + sigma2 eps (n, r) (b is a without target noise); u1 = a R, u2 = b R with
    R = S U^T (r, M), computed where asked for; Vt = (V, V_perp)^T (N, N); all on the backend xp.
    ``complement(shape)`` draws the standard normals xi of g^T y = L xi."""

    def __init__(self, xp, a, b, R, Vt, complement, ws: Workspace | None = None):
        self.xp, self.a, self.b, self.R, self.Vt, self.complement, self.ws = xp, a, b, R, Vt, complement, ws
        self.x1 = self.x2 = None
        self._u = {}

    def _pre_activation(self, which: str):
        if which not in self._u:
            c = self.a if which == "u1" else self.b
            self._u[which] = self.xp.matmul(c, self.R, out=out(self.ws, which, (c.shape[0], self.R.shape[1])))
        return self._u[which]

    u1 = property(lambda self: self._pre_activation("u1"))
    u2 = property(lambda self: self._pre_activation("u1" if self.b is self.a else "u2"))

    def in_basis(self, Ud, xp, ws: Workspace | None = None):
        """(u1 Ud, u2 Ud) (n, M) as (a (R Ud), b (R Ud)), without forming u1 and u2."""
        RU = self.R @ Ud
        M = RU.shape[1]
        return (xp.matmul(self.a, RU, out=out(ws, "Z1", (self.a.shape[0], M))),
                xp.matmul(self.b, RU, out=out(ws, "Z2", (self.b.shape[0], M))))

    def online_inputs(self, g):
        """sum_i g_i x_i^T (M, N): (g^T a) V^T + L xi V_perp^T, a draw of it given g (exact in distribution)."""
        xp = self.xp
        ga = g.T @ self.a
        r, N = self.a.shape[1], self.Vt.shape[0]
        if r == N:
            return ga @ self.Vt
        G = g.T @ g
        G = np.asarray(G.get() if hasattr(G, "get") else G, dtype=np.float64)
        if not np.all(np.isfinite(G)):  # a diverging run: a non-finite gradient, recorded as such by the trainer
            return xp.full((g.shape[1], N), np.nan, dtype=g.dtype)
        w, Q = np.linalg.eigh(G)
        L = xp.asarray(Q * np.sqrt(np.clip(w, 0.0, None)), dtype=g.dtype)
        return xp.concatenate([ga, L @ self.complement((g.shape[1], N - r))], axis=1) @ self.Vt

    def target_inputs(self, h):
        raise ValueError("a projected batch has no x2 (drawn only for rules without a target gradient)")


@dataclass
class Moments:
    """Empirical second moments (float64, host): C11 = <x1 x1^T>, C21 = <x2 x1^T>, C22 = <x2 x2^T>."""

    C11: np.ndarray
    C21: np.ndarray
    C22: np.ndarray


class InputsSampler:
    """Draw n inputs a step on a backend (see module docstring).

    rng         Backend.rng(seed)
    need_x2     return x2 (rules with a target gradient)
    """

    name = "inputs"

    def __init__(self, backend, rng, n: int, in_dim: int, sigma1: float, sigma2: float, dtype, need_x2: bool):
        self.xp, self.rng = backend.xp, rng
        self.n, self.N, self.s1, self.s2 = n, in_dim, float(sigma1), float(sigma2)
        self.dtype, self.need_x2 = dtype, need_x2

    def projects(self, W, Wt) -> bool:
        """Can a batch for (W, Wt) be a projected draw (sigma1 = 0, W_t = W, no x2; module docstring)?"""
        return self.s1 == 0 and Wt is W and not self.need_x2

    def draw(self, W, Wt, Wt_factor=None, ws: Workspace | None = None, projected: bool = False) -> InputBatch:
        """W, Wt (M, N) on the backend.  Wt_factor: L (M, M) with L L^T = W_t W_t^T (else computed).  ws: the
        arrays of the batch are written into this workspace (the caller's step temporaries) instead of new ones;
        the numbers are the same.  projected: a :class:`ProjectedBatch` where :meth:`projects` allows (for
        callers that need only u1, u2 and :meth:`InputBatch.online_inputs`)."""
        if projected and self.projects(W, Wt):
            return self._draw_projected(W, ws)
        n, N, M, rng, dt, xp = self.n, self.N, W.shape[0], self.rng, self.dtype, self.xp
        x = rng.normal((n, N), dt, out=out(ws, "x", (n, N)))
        x1 = self._plus_noise(x, self.s1, "x1", ws)
        u1 = xp.matmul(x1, W.T, out=out(ws, "u1", (n, M)))
        if self.need_x2:
            x2 = self._plus_noise(x, self.s2, "x2", ws)
            return InputBatch(x1, x2, u1, xp.matmul(x2, Wt.T, out=out(ws, "u2", (n, M))))
        u2 = u1 if (Wt is W and self.s1 == 0) else xp.matmul(x, Wt.T, out=out(ws, "u2", (n, M)))
        if self.s2 > 0:
            if Wt_factor is None:
                Wt_factor = self.factor(Wt)
            xi2 = rng.normal((n, M), dt, out=out(ws, "xi2", (n, M)))
            xi2 *= self.s2
            noise = xp.matmul(xi2, Wt_factor.T, out=out(ws, "u2_noise", (n, M)))
            u2 = xp.add(u2, noise, out=noise)
        return InputBatch(x1, None, u1, u2)

    def _plus_noise(self, base, scale: float, name: str, ws):
        """base + scale xi with xi standard normal of base's shape (into the workspace array ``name``); base
        itself when scale = 0 (nothing drawn)."""
        if scale == 0:
            return base
        xi = self.rng.normal(base.shape, self.dtype, out=out(ws, name, base.shape))
        xi *= scale
        return self.xp.add(base, xi, out=xi)

    def _draw_projected(self, W, ws) -> ProjectedBatch:
        n, rng, dt, xp = self.n, self.rng, self.dtype, self.xp
        Wh = (W.get() if hasattr(W, "get") else np.asarray(W)).astype(np.float64)
        try:
            U, S, Vt = np.linalg.svd(Wh, full_matrices=True)
        except np.linalg.LinAlgError:  # entries so large the SVD overflows: a diverging run, NaN from here on
            M, N = Wh.shape
            U, S, Vt = np.full((M, M), np.nan), np.full(min(M, N), np.nan), np.full((N, N), np.nan)
        r = S.size
        R = xp.asarray(S[:, None] * U[:, :r].T, dtype=dt)  # (r, M): u = a S U^T
        a = rng.normal((n, r), dt, out=out(ws, "a", (n, r)))
        b = self._plus_noise(a, self.s2, "xi2", ws)
        return ProjectedBatch(xp, a, b, R, xp.asarray(Vt, dtype=dt), lambda shape: rng.normal(shape, dt), ws)

    def factor(self, Wt, eigh=None):
        """L = U_t diag(S_t) (M, M) with L L^T = W_t W_t^T, on the backend: from a host SVD of W_t, or from
        ``eigh`` = (eigenvalues, eigenvectors) of W_t W_t^T already computed (host float64; S_t^2 the
        eigenvalues)."""
        if eigh is None:
            Wh = Wt.get() if hasattr(Wt, "get") else np.asarray(Wt)
            U, S, _ = np.linalg.svd(Wh.astype(np.float64), full_matrices=False)
        else:
            U, S = eigh[1], np.sqrt(np.clip(eigh[0], 0.0, None))
        return self.xp.asarray(U * S, dtype=self.dtype)


def bartlett_wishart(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """A draw of sum_{i<n} y_i y_i^T, y_i ~ N(0, I_d): Wishart_d(n, I), (d, d) float64.

    Bartlett: A lower triangular with A_jj = sqrt(chi2(n - j)), A_jk ~ N(0, 1) (j > k);
    the draw is A A^T.  For n < d the Wishart is singular and is drawn from the samples.
    """
    if n < d:
        Y = rng.standard_normal((n, d))
        return Y.T @ Y
    A = np.zeros((d, d))
    A[np.tril_indices(d, -1)] = rng.standard_normal(d * (d - 1) // 2)
    A[np.diag_indices(d)] = np.sqrt(rng.chisquare(n - np.arange(d)))
    return A @ A.T


class MomentsSampler:
    """Draw the views' empirical second moments directly (module docstring); host, float64."""

    name = "moments"

    def __init__(self, seed: int, n: int, in_dim: int, sigma1: float, sigma2: float):
        self.rng = np.random.default_rng(seed)
        self.n, self.N = n, in_dim
        I = np.eye(in_dim)
        blocks = [np.vstack([I, I])]  # x
        if sigma1 > 0:
            blocks.append(np.vstack([sigma1 * I, 0 * I]))
        if sigma2 > 0:
            blocks.append(np.vstack([0 * I, sigma2 * I]))
        self.L = np.hstack(blocks)  # (2N, d)

    def draw(self) -> Moments:
        N = self.N
        T = self.L @ bartlett_wishart(self.rng, self.n, self.L.shape[1]) @ self.L.T / self.n
        return Moments(T[:N, :N], T[N:, :N], T[N:, N:])
