"""Quadrature grid and accuracy control of the exact cosine closure (SPEC §4).

G_m = int_0^inf int_0^inf exact_integrand_m(t, u) dt du, with the integrand generated from
derivations/ (``kernels(rule).exact_integrand``).  With t = e^x, u = e^y the integrand in (x, y) is
t u exact_integrand: it decays like a power of t (u) for small t (u), i.e. exponentially in x (y), and
fast for large t, u.  We use the trapezoid rule in (x, y) on a truncated grid, centred at the scales
x0 = -ln sum lam^2 S^2 (of 1/|p|^2) and y0 = -ln sum S_t^2 (of 1/|z2|^2), with the nodes stretched in
the tails by the smooth map x = x0 + w sinh(v), v on a uniform grid of step hx / w: near the centre
the spacing is hx, in the slowly decaying tails it grows geometrically, so the truncated range
[x0 + lo, x0 + hi] costs few nodes.  The trapezoid rule in v is spectrally accurate for these
integrands (analytic in a strip); the error is controlled by hx and by the range.

The compiled quadrature is ``exact_drift`` of the generated integrator module (cost nx * ny * M
integrand terms: linear in M per grid node).  Accuracy control: :func:`closure_error` compares a
grid against a refined one (hx / 2 and the range widened), :func:`calibrate` refines until the
stated tolerance is met; :mod:`isodyn.dynamics.modes.simulation` checks the initial and the final state of every
exact-closure run and refines and reruns when the check fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

DEFAULT_TOL = 1e-8


@dataclass(frozen=True)
class ExactGrid:
    """Trapezoid nodes in x = ln t (and y = ln u): spacing hx at the centre, range [lo, hi] about it."""

    hx: float = 0.5
    lo: float = -46.0
    hi: float = 26.0
    w: float = 6.0

    def nodes(self):
        """(offsets (n,), weights (n,)): x = w sinh(v), weights w cosh(v) dv (same for y)."""
        hv = self.hx / self.w
        nlo = int(math.ceil(math.asinh(-self.lo / self.w) / hv))
        nhi = int(math.ceil(math.asinh(self.hi / self.w) / hv))
        v = np.arange(-nlo, nhi + 1) * hv
        return self.w * np.sinh(v), self.w * np.cosh(v) * hv

    def refined(self) -> ExactGrid:
        """The comparison grid: half the spacing, the range widened by 12 below and 8 above."""
        return replace(self, hx=self.hx / 2, lo=self.lo - 12.0, hi=self.hi + 8.0)

    def finer(self) -> ExactGrid:
        """The next grid of the accuracy control."""
        return replace(self, hx=self.hx * 0.75, lo=self.lo - 6.0, hi=self.hi + 4.0)

    @property
    def size(self) -> int:
        return len(self.nodes()[0]) ** 2

    def as_dict(self) -> dict:
        return {"hx": self.hx, "lo": self.lo, "hi": self.hi, "w": self.w, "nodes": self.size}


def quadrature_np(k, grid: ExactGrid, S, St, lam, sigma1, sigma2, beta, chunk: int = 8):
    """(G (M,), L1 (M,)): the grid's trapezoid sum of the NumPy twin ``exact_integrand_np`` and the
    same sum of its absolute value (the scale against which a near-zero G is judged)."""
    x, wx = grid.nodes()
    y, wy = grid.nodes()
    x0 = -math.log(max(float(np.sum(lam**2 * S**2)), 1e-300))
    y0 = -math.log(max(float(np.sum(St**2)), 1e-300))
    tu = np.exp(y0 + y)
    G = np.zeros(S.shape)
    L1 = np.zeros(S.shape)
    for i in range(0, len(x), chunk):
        t = np.exp(x0 + x[i:i + chunk])
        T, U = np.meshgrid(t, tu, indexing="ij")
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = k.exact_integrand_np(T, U, S, St, lam, sigma1, sigma2, beta)
        f = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)  # underflowed tails far out: 0
        w = (wx[i:i + chunk, None] * wy[None, :]) * T * U
        G += np.einsum("ij,ijm->m", w, f)
        L1 += np.einsum("ij,ijm->m", w, np.abs(f))
    return G, L1


def relative_difference(G, G_ref, L1_ref) -> float:
    """max_m |G - G_ref| / max_m |G_ref|; near a fixed point (max |G_ref| < 1e-3 max L1) the scale is
    max L1 / 1e3 instead, so a cancelling drift of order zero does not inflate the figure."""
    scale = max(float(np.max(np.abs(G_ref))), 1e-3 * float(np.max(L1_ref)), 1e-300)
    return float(np.max(np.abs(G - G_ref))) / scale


def closure_error(k, grid: ExactGrid, S, St, lam, sigma1, sigma2, beta) -> float:
    """Relative error of ``grid`` against its refined grid at one state (see relative_difference)."""
    G, _ = quadrature_np(k, grid, S, St, lam, sigma1, sigma2, beta)
    Gr, L1 = quadrature_np(k, grid.refined(), S, St, lam, sigma1, sigma2, beta)
    return relative_difference(G, Gr, L1)


def closure_error_compiled(mod, grid: ExactGrid, S, St, lam, sigma1, sigma2, beta) -> float:
    """closure_error with the compiled quadrature ``mod.exact_drift`` of a generated integrator module."""
    M = S.shape[0]
    out = {}
    for key, g, absolute in (("G", grid, False), ("Gr", grid.refined(), False), ("L1", grid.refined(), True)):
        x, wx = g.nodes()
        v = np.empty(M)
        mod.exact_drift(S, St, lam, sigma1, sigma2, beta, x, wx, x, wx, v, np.empty(M), absolute)
        out[key] = v
    return relative_difference(out["G"], out["Gr"], out["L1"])
