"""Collapse, divergence, convergence and recruitment measures of mode trajectories (issue 3, SPEC §6).

All functions take NumPy arrays with any leading batch shape ``...``; ``s`` and ``lam`` are saved
eigenvalue frames (..., T, M), ``s0`` the initial eigenvalues (..., M).  ``simulate_batch`` applies
them to every run, and the sweep (dynamics/sweep_points.py) takes its measures from there:

* dead mode: s_m <= DEAD * max_k s_k(0); ``collapsed``: every mode dead; ``n_dead`` the number
  (dimensional collapse: some but not all modes dead);
* diverged: a non-finite amplitude or s_m > BOUND * max(1, max_k s_k(0)) (detected inside the
  compiled loop, which stops there and records the step);
* converged: not diverged, and every live mode's relative rate |dS_m/dt| / |S_m| < CONV at the end;
* recruitment step of a mode: the first saved step whose s_m is within RECRUIT (1%) of the mode's
  final value; none (-1) for dead modes and for diverged points;
* effective rank: the participation ratio (sum s)^2 / sum s^2 at the end;
* isotropy: min lambda / max lambda at the end.
"""

from __future__ import annotations

import numpy as np

DEAD = 1e-8
BOUND = 1e8
CONV = 1e-4
RECRUIT = 0.01


def divergence_bound(s0, bound: float = BOUND):
    """s above which a point counts as diverged: BOUND * max(1, max_k s_k(0)); shape (...)."""
    return bound * np.maximum(1.0, np.max(s0, axis=-1))


def dead_modes(s_final, s0, dead: float = DEAD):
    """(..., M) bool: s_m(end) <= dead * max_k s_k(0)."""
    return s_final <= dead * np.max(s0, axis=-1, keepdims=True)


def collapsed(s_final, s0, dead: float = DEAD):
    """(...) bool: every mode dead."""
    return np.all(dead_modes(s_final, s0, dead), axis=-1)


def n_dead(s_final, s0, dead: float = DEAD):
    """(...) int: how many modes died (dimensional collapse when 0 < n_dead < M)."""
    return np.sum(dead_modes(s_final, s0, dead), axis=-1)


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


def recruit_steps(s, step, s_final=None, dead=None, tol: float = RECRUIT):
    """(..., M) int: the first saved step (``step`` (T,)) with |s_m - s_m(end)| <= tol |s_m(end)|.

    ``s_final`` defaults to the last frame; modes flagged in ``dead`` (..., M) get -1, as do modes that
    never enter their band (only possible when s_final is not a saved frame).
    """
    s = np.asarray(s, dtype=float)
    if s_final is None:
        s_final = s[..., -1, :]
    within = np.abs(s - s_final[..., None, :]) <= tol * np.abs(s_final[..., None, :])
    first = np.argmax(within, axis=-2)
    out = np.where(np.any(within, axis=-2), np.asarray(step)[first], -1)
    if dead is not None:
        out = np.where(dead, -1, out)
    return out


def converged(rate, alive, diverged, conv: float = CONV):
    """(...) bool: not diverged and every live mode's relative rate |dS/dt| / |S| below conv.

    rate (..., M): |dS_m/dt| / |S_m| at the end (from the right-hand side at the final state).
    """
    ok = np.all(np.where(alive, rate < conv, True), axis=-1)
    return np.logical_and(ok, np.logical_not(diverged))
