"""Outcome thresholds and measures of mode trajectories and of sampled training, in one place (SPEC §6).

The mode equations (``simulate_batch``, and through it the sweep) and sampled training (``network.trainer``)
decide dead / collapsed / diverged / recruited by the same definitions, and the figures take theirs from here:

* dead mode: s_m <= DEAD * max_k s_k(0) at the end; ``collapsed``: every mode dead (the JSON field
  ``collapsed`` of ``isodyn simulate`` and ``isodyn train``); ``n_dead`` the number (dimensional collapse:
  some but not all modes dead);
* vanished mode (sampled training's dimensional collapse): s_m <= VANISHED * max_k s_k at the same time.
  Sampled training has a noise floor: the sampling noise of the strong modes refills the weak directions at
  a level ~ eta^2 / n of the strongest (about 1e-4 at n = 1,000), so a weak mode of a sampled run that the
  mode equations kill stalls far above DEAD (made for the noise-free mode equations); three decades below
  the strongest mode is within reach.  Figures judge dimensional collapse of sampled runs by it;
* diverged: a non-finite value or s_m > BOUND * max(1, max_k s_k(0)) (the mode equations detect it inside
  the compiled loop, sampled training after each step; both stop there and record the step);
* converged: not diverged, some mode alive, and every live mode's relative rate |dS_m/dt| / |S_m| < CONV
  at the end (a point with every mode dead is collapsed, not converged);
* outcome: one of OUTCOMES per point (:func:`outcome`; the sweep's ``outcome`` variable and the
  robustness figure); ``intact``: not diverged and no mode dead;
* recruitment step of a mode: for a mode that rose -- its eigenvalue grew at least RISE-fold, i.e.
  ln(s_m(end) / s_m(0)) >= ln RISE, and it is alive -- the first saved step whose s_m is within RECRUIT (1%)
  of its final value; none (-1) for modes that barely moved, shrank or died, and for diverged points;
* effective rank: the participation ratio (sum s)^2 / sum s^2 at the end;
* isotropy: min lambda / max lambda at the end.

All functions take NumPy arrays with any leading batch shape ``...``; ``s`` and ``lam`` are saved
eigenvalue frames (..., T, M), ``s0`` the initial eigenvalues (..., M).
"""

from __future__ import annotations

import numpy as np

DEAD = 1e-8
VANISHED = 1e-3
BOUND = 1e8
#: the largest initial eigenvalue a run accepts (its divergence bound, BOUND times it, must stay finite)
MAX_S0 = 1e300
CONV = 1e-4
RECRUIT = 0.01
#: a mode is recruited only if its eigenvalue grew at least this many times (a weak mode rising to its place)
RISE = 2.0

#: outcome codes (index = code): the sweep's ``outcome`` variable, the robustness figure, figures/style colours
OUTCOMES = ("converged", "collapsed", "diverged", "other", "partial")
OUTCOME_TEXT = ("0 converged, 1 collapsed, 2 diverged, 3 other, "
                "4 partial (converged with some modes dead: dimensional collapse)")


def divergence_bound(s0, bound: float = BOUND):
    """s above which a point counts as diverged: BOUND * max(1, max_k s_k(0)); shape (...)."""
    with np.errstate(over="ignore"):  # an overflow is the caller's to refuse (simulate: s0 above MAX_S0)
        return bound * np.maximum(1.0, np.max(s0, axis=-1))


def beyond_bound(s, bound) -> bool:
    """Has a state left the bound: some s_m non-finite or above ``bound`` (sampled training, each step)."""
    s = np.asarray(s, dtype=float)
    return not (np.all(np.isfinite(s)) and np.all(s <= bound))


def dead_modes(s_final, s0, dead: float = DEAD):
    """(..., M) bool: s_m(end) <= dead * max_k s_k(0)."""
    return s_final <= dead * np.max(s0, axis=-1, keepdims=True)


def collapsed(s_final, s0, dead: float = DEAD):
    """(...) bool: every mode dead."""
    return np.all(dead_modes(s_final, s0, dead), axis=-1)


def n_dead(s_final, s0, dead: float = DEAD):
    """(...) int: how many modes died (dimensional collapse when 0 < n_dead < M)."""
    return np.sum(dead_modes(s_final, s0, dead), axis=-1)


def vanished(s, level: float = VANISHED):
    """(..., M) bool: modes at or below ``level`` times the largest mode of the same state s (..., M)."""
    s = np.asarray(s, dtype=float)
    return s <= level * s.max(axis=-1, keepdims=True)


def effective_rank(s):
    """Participation ratio (sum s)^2 / sum s^2 over the last axis."""
    s = np.asarray(s, dtype=float)
    den = np.sum(s * s, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.sum(s, axis=-1) ** 2 / np.where(den > 0, den, 1.0), 0.0)


def isotropy(lam):
    """min lambda / max lambda over the last axis (1 = isotropic predictor)."""
    lam = np.asarray(lam, dtype=float)
    mx = np.max(lam, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, np.min(lam, axis=-1) / np.where(mx > 0, mx, 1.0), 0.0)


def recruit_steps(s, step, s_final=None, dead=None, tol: float = RECRUIT, rise: float = RISE):
    """(..., M) int: for modes that rose (s_m(end) >= rise s_m(0), the first frame), the first saved step
    (``step`` (T,)) with |s_m - s_m(end)| <= tol |s_m(end)|; -1 for the others.

    ``s_final`` defaults to the last frame; modes flagged in ``dead`` (..., M) get -1, as do modes that
    never enter their band (only possible when s_final is not a saved frame).
    """
    s = np.asarray(s, dtype=float)
    if s_final is None:
        s_final = s[..., -1, :]
    within = np.abs(s - s_final[..., None, :]) <= tol * np.abs(s_final[..., None, :])
    first = np.argmax(within, axis=-2)
    out = np.where(np.any(within, axis=-2), np.asarray(step)[first], -1)
    with np.errstate(invalid="ignore"):
        rose = s_final >= rise * s[..., 0, :]
    out = np.where(rose, out, -1)
    if dead is not None:
        out = np.where(dead, -1, out)
    return out


def converged(rate, alive, diverged, conv: float = CONV):
    """(...) bool: not diverged, some mode alive, and every live mode's relative rate |dS/dt| / |S| below conv.

    rate (..., M): |dS_m/dt| / |S_m| at the end (from the right-hand side at the final state); alive (..., M).
    """
    alive = np.asarray(alive, dtype=bool)
    ok = np.all(np.where(alive, rate < conv, True), axis=-1) & np.any(alive, axis=-1)
    return np.logical_and(ok, np.logical_not(diverged))


def intact(diverged, n_dead):
    """(...) bool: neither diverged nor any mode dead (converged or still moving with every mode alive)."""
    return np.logical_not(diverged) & (np.asarray(n_dead) == 0)


def outcome(diverged, collapsed, converged, n_dead) -> np.ndarray:
    """(...) int8 index into OUTCOMES, by precedence: diverged; else collapsed (every mode dead); else partial
    (converged with some mode dead: dimensional collapse); else converged; else other (still moving)."""
    diverged = np.asarray(diverged, dtype=bool)
    collapsed = np.asarray(collapsed, dtype=bool) & ~diverged
    conv = np.asarray(converged, dtype=bool) & ~collapsed & ~diverged
    partial = conv & (np.asarray(n_dead) > 0)
    out = np.full(diverged.shape, OUTCOMES.index("other"), dtype=np.int8)
    out[conv & ~partial] = OUTCOMES.index("converged")
    out[partial] = OUTCOMES.index("partial")
    out[collapsed] = OUTCOMES.index("collapsed")
    out[diverged] = OUTCOMES.index("diverged")
    return out


# --- a trained predictor's alignment with the correlation (SPEC §7; Tian et al.'s Theorem 3) -------------------
# C (..., M, M): the correlation a closed-form predictor would use; Wp (..., M, M): the trained predictor (any
# square matrix).  Eigenvalues and eigenvectors are those of C and of Wp's symmetric part, ascending.


def _sym(A):
    return (A + np.swapaxes(A, -1, -2)) / 2


def _fro(A):
    return np.sqrt(np.sum(A * A, axis=(-2, -1)))


def predictor_spectrum(Wp):
    """(..., M) eigenvalues of the symmetric part (Wp + Wp^T) / 2, ascending: what the mode equations' lambda is
    compared with."""
    return np.linalg.eigvalsh(_sym(np.asarray(Wp, dtype=float)))


def eigenspace_alignment(C, Wp):
    """(...) ||[C, Wp]||_F / (||C||_F ||Wp||_F): 0 when C and Wp commute (shared eigenvectors; for a symmetric
    Wp, aligned eigenspaces), at most 2 (the commutator's norm is at most 2 ||C|| ||Wp||).  NaN where C or Wp
    is zero or not finite."""
    C, Wp = np.asarray(C, dtype=float), np.asarray(Wp, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _fro(C @ Wp - Wp @ C) / (_fro(C) * _fro(Wp))


def eigenvector_alignment(C, Wp):
    """(..., M) |u_j(C) . u_j((Wp + Wp^T)/2)|, the j-th eigenvectors of both matched by eigenvalue order
    (ascending): 1 for an aligned predictor whose eigenvalues are ordered as C's, ~ 1/sqrt(M) for a random one.
    NaN where a matrix is not finite."""
    C, Wp = np.asarray(C, dtype=float), np.asarray(Wp, dtype=float)
    out = np.full(C.shape[:-1], np.nan)
    ok = np.all(np.isfinite(C), axis=(-2, -1)) & np.all(np.isfinite(Wp), axis=(-2, -1))
    if np.any(ok):
        out[ok] = eigenvector_overlap(np.linalg.eigh(_sym(C[ok]))[1], np.linalg.eigh(_sym(Wp[ok]))[1])
    return out


def eigenvector_overlap(Uc, Up):
    """(..., M) |u_j . v_j| of two eigenvector matrices (columns, ascending eigenvalues): the per-eigenvector
    alignment from eigendecompositions already at hand."""
    return np.abs(np.sum(np.asarray(Uc) * np.asarray(Up), axis=-2))


def asymmetry(Wp):
    """(...) ||Wp - Wp^T||_F / ||Wp||_F: 0 for a symmetric predictor, sqrt(2) for an antisymmetric one."""
    Wp = np.asarray(Wp, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _fro(Wp - np.swapaxes(Wp, -1, -2)) / _fro(Wp)
