"""Data samplers for the Siamese network simulators (SPEC §2; issue 4).

Inputs x ~ N(0, I_N), views x1 = x + sigma1 xi1, x2 = x + sigma2 xi2, n fresh samples a step.

* :class:`InputsSampler` draws the inputs and returns the pre-activations
  u1 = W x1, u2 = W_t x2 (n, M) with x1 (n, N) and, for rules whose target branch gets a
  gradient, x2 (n, N).  When x2 itself is not needed, the target noise enters only through
  W_t xi2 ~ N(0, W_t W_t^T), which is drawn in M dimensions (exact in distribution); with
  sigma1 = 0 no xi1 is drawn.
* :class:`MomentsSampler` (linear networks, gradients linear in (z1, z2): the Euclidean rules)
  draws the empirical second moments C_ab = sum_i x_a,i x_b,i^T / n of the views directly:
  with y = (x, xi1, xi2) restricted to the non-zero noise terms, (x1, x2) = L y and
  sum_i y_i y_i^T ~ Wishart_d(n, I), drawn by the Bartlett decomposition at a cost
  independent of n (d = N (1 + [sigma1 > 0] + [sigma2 > 0])).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class InputBatch:
    """x1 (n, N); x2 (n, N) or None; u1 = x1 W^T, u2 = x2 W_t^T (n, M)."""

    x1: object
    x2: object
    u1: object
    u2: object


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

    def draw(self, W, Wt, Wt_factor=None) -> InputBatch:
        """W, Wt (M, N) on the backend.  Wt_factor: L (M, M) with L L^T = W_t W_t^T (else computed)."""
        n, N, rng, dt = self.n, self.N, self.rng, self.dtype
        x = rng.normal((n, N), dt)
        x1 = x + self.s1 * rng.normal((n, N), dt) if self.s1 > 0 else x
        u1 = x1 @ W.T
        if self.need_x2:
            x2 = x + self.s2 * rng.normal((n, N), dt) if self.s2 > 0 else x
            return InputBatch(x1, x2, u1, x2 @ Wt.T)
        u2 = u1 if (Wt is W and self.s1 == 0) else x @ Wt.T
        if self.s2 > 0:
            if Wt_factor is None:
                Wt_factor = self.factor(Wt)
            u2 = u2 + (self.s2 * rng.normal((n, Wt.shape[0]), dt)) @ Wt_factor.T
        return InputBatch(x1, None, u1, u2)

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
