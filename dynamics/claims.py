"""Statistics that decide the claims of the reproduction report (SPEC §6), as pure NumPy functions.

figures/ runs the dynamics through the public API, passes the numbers here, and plots and words the result:
the thresholds a figure judges a statistic by are its criteria, written in its report row; how the statistic
is computed (and, for the noise test, what its two hypotheses predict) is written here, once.  Outcome
thresholds (dead, vanished, diverged, converged, recruited) are :mod:`isodyn.dynamics.measures`'.

=======  ==========================================================================================
claim 1  end states of sampled runs: :func:`tail_statistics` (mean and fluctuation over the last steps),
         :func:`min_neighbour_ratio` (how distinct a set of scales is), :func:`cloud_shape` (probe clouds)
claim 3  noise or drift: :func:`log_change`, :func:`rms`, :func:`noise_or_drift` (:class:`NoiseTest`),
         :func:`max_relative_change` (the mode equations' motion)
claim 4  recruitment laws: :func:`fit_slope`, :func:`loglog_slope`, :func:`log_slope`
claim 5  time to isotropy: :func:`first_step_at`, :func:`sooner`
claim 6  weight-decay survival: :func:`threshold_agreement`
claim 7  a failing case explained by sampling: :func:`shrink_test` (:class:`Shrink`, :data:`EXPLAIN_FACTOR`)
=======  ==========================================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# --- claim 3: is a spectrum's motion sampling noise or a drift? ---------------------------------------------


def log_change(s_start, s_end) -> np.ndarray:
    """ln(s_end / s_start) per mode (any shape)."""
    return np.log(np.asarray(s_end, dtype=float) / np.asarray(s_start, dtype=float))


def rms(x) -> float:
    """Root mean square over every entry of x (e.g. log-changes of K runs x M modes)."""
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=float)))))


def max_relative_change(s_start, s_end) -> float:
    """max_m |s_end / s_start - 1|: how far the (noise-free) mode equations moved the spectrum."""
    return float(np.max(np.abs(np.asarray(s_end, dtype=float) / np.asarray(s_start, dtype=float) - 1)))


@dataclass(frozen=True)
class NoiseTest:
    """The noise-or-drift test of :func:`noise_or_drift`: RMS log-changes of the two sets of runs, their ratio
    b / a, what sampling noise and a drift predict for it, and the decision window [lo, hi]."""

    rms_a: float
    rms_b: float
    ratio: float
    noise: float
    drift: float
    lo: float
    hi: float

    @property
    def passed(self) -> bool:
        """The motion is sampling noise: the ratio lies in [lo, hi]."""
        return self.lo <= self.ratio <= self.hi


def noise_or_drift(changes_a, changes_b, n_factor: float = 16.0, t_factor: float = 4.0) -> NoiseTest:
    """Is the motion of a spectrum in sampled training sampling noise or a drift (SPEC §6 claim 3)?

    ``changes_a``: ln(s_T / s_0) of runs with n samples a step and T steps (any shape, e.g. seeds x modes);
    ``changes_b``: the same for runs with n / n_factor samples and T / t_factor steps.  Sampling noise moves
    ln s like sqrt(T / n): the RMS ratio b / a is sqrt(n_factor / t_factor) (2 for 16 and 4); a drift moves it
    like T: 1 / t_factor (0.25).  The window around the noise prediction reaches the log-midpoint towards the
    drift prediction and as far on the other side: [noise / q, noise * q], q = sqrt(noise / drift).
    """
    a, b = rms(changes_a), rms(changes_b)
    noise, drift = math.sqrt(n_factor / t_factor), 1.0 / t_factor
    q = math.sqrt(noise / drift)
    return NoiseTest(a, b, b / a if a > 0 else math.inf, noise, drift, noise / q, noise * q)


# --- claim 4: recruitment laws --------------------------------------------------------------------------------


def fit_slope(x, y) -> float:
    """Least-squares slope of y against x over the pairs where both are finite."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def loglog_slope(lam0, t) -> float:
    """Fitted slope of ln t against ln lambda_0: -1 for t ~ 1/lambda_0, ~0 for t ~ ln(1/lambda_0)."""
    return fit_slope(np.log(lam0), np.log(t))


def log_slope(lam0, t) -> float:
    """Fitted slope dt / d ln(1/lambda_0): the coefficient of a logarithmic law t ~ a ln(1/lambda_0) + b."""
    return fit_slope(np.log(1 / np.asarray(lam0, dtype=float)), t)


# --- claim 5: time to isotropy ---------------------------------------------------------------------------------


def first_step_at(x, step, level) -> np.ndarray:
    """(...) the first saved step (``step`` (T,)) at which x (..., T) reaches ``level`` (x >= level); NaN if
    never (e.g. x = the isotropy min lambda / max lambda of every saved frame)."""
    hit = np.asarray(x) >= level
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(-1), np.asarray(step)[first], np.nan).astype(float)


def sooner(t_a, t_b) -> np.ndarray:
    """(...) bool: a reaches it (finite) and sooner than b, or b never does (NaN)."""
    t_a, t_b = np.asarray(t_a, dtype=float), np.asarray(t_b, dtype=float)
    return np.isfinite(t_a) & (~np.isfinite(t_b) | (t_a < t_b))


# --- claim 6: a survival threshold against simulated outcomes ---------------------------------------------------


def threshold_agreement(alive, gamma, gamma_c, margin: float) -> float:
    """Fraction of the points farther than ``margin`` (relative) from the threshold gamma_c at which the
    simulated outcome ``alive`` is the theory's (alive iff gamma < gamma_c); arrays broadcast together."""
    alive = np.asarray(alive, dtype=bool)
    gamma, gamma_c = np.broadcast_arrays(np.asarray(gamma, dtype=float), np.asarray(gamma_c, dtype=float))
    theory_alive = gamma < gamma_c
    clear = np.abs(gamma / gamma_c - 1) > margin
    return float(np.mean(alive[clear] == theory_alive[clear]))


# --- claim 1: end states ------------------------------------------------------------------------------------------


def tail_statistics(s, tail: float) -> tuple[np.ndarray, float]:
    """(mean s_m over the last ``tail`` fraction of the frames s (T, M), relative std of the mean eigenvalue
    there): an end state and how much its overall scale still fluctuates."""
    s = np.asarray(s, dtype=float)
    i = s.shape[0] - 1
    s = s[max(0, int(i * (1 - tail))): i + 1]
    scale = s.mean(axis=1)
    return s.mean(axis=0), float(scale.std() / scale.mean())


def min_neighbour_ratio(x) -> float:
    """The smallest ratio of neighbours of the sorted values x: how distinct a set of (positive) scales is."""
    srt = np.sort(np.asarray(x, dtype=float))
    return float(np.min(srt[1:] / srt[:-1]))


def cloud_shape(Z) -> tuple[float, float]:
    """(RMS norm, sigma_min^2 / sigma_max^2) of a (K, d) cloud of representations (its singular values)."""
    Z = np.asarray(Z, dtype=float)
    size = float(np.sqrt(np.mean(np.sum(Z * Z, axis=1))))
    sv = np.linalg.svd(Z, compute_uv=False)
    return size, float((sv[-1] / sv[0]) ** 2) if sv[0] > 0 else 0.0


# --- claim 8: a trained predictor (Tian et al.) ---------------------------------------------------------------


def relative_drift(x) -> float:
    """max |x(t) - x(0)| / |x(0)| over trajectories x (..., T): how far a conserved quantity moved."""
    x = np.asarray(x, dtype=float)
    return float(np.max(np.abs(x - x[..., :1]) / np.abs(x[..., :1])))


def decay_error(x, t, rate: float) -> float:
    """max |x(t) - x(0) exp(-rate t)| / |x(0)| over trajectories x (..., T) at times t (T,)."""
    x = np.asarray(x, dtype=float)
    return float(np.max(np.abs(x - x[..., :1] * np.exp(-rate * np.asarray(t))) / np.abs(x[..., :1])))


def fixed_point_outcomes(lam_end, dead, plus, threshold_exceeded) -> tuple[float, int]:
    """Against Tian's fixed points: (the largest relative distance of a surviving start's final lambda from
    lambda*+, the number of wrong outcomes).  lam_end, dead (G, 3): starts between lambda*+-, above lambda*+ and
    below lambda*- (NaN where it does not exist) per weight decay; plus (G,) lambda*+ (NaN beyond the threshold);
    threshold_exceeded (G,) bool.  Right: the first two survive (at lambda*+) below the threshold, the third
    collapses, and every start collapses beyond it."""
    lam_end, dead, plus = np.asarray(lam_end, float), np.asarray(dead, bool), np.asarray(plus, float)
    live = np.isfinite(plus) & ~np.asarray(threshold_exceeded)
    err = float(np.nanmax(np.abs(lam_end[live, :2] / plus[live, None] - 1))) if live.any() else 0.0
    below = np.isfinite(lam_end[:, 2]) | dead[:, 2]
    wrong = int(np.sum(dead[live, :2])) + int(np.sum(~dead[live, 2] & below[live]))
    wrong += int(np.sum(~dead[np.asarray(threshold_exceeded), :2]))
    return err, wrong


def spectrum_deviation(sampled, modes) -> float:
    """max over steps and modes of |sampled - modes| / max |modes| of ascending spectra (T, M): how far sampled
    training's eigenvalues are from the mode equations'."""
    a, b = np.sort(np.asarray(sampled, float), axis=-1), np.sort(np.asarray(modes, float), axis=-1)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def fall_factor(x) -> float:
    """x(0) / x(end) of a series (e.g. the eigenspace alignment measure over training): how many times it fell."""
    x = np.asarray(x, float)
    return float(x[0] / x[-1]) if x[-1] > 0 else float("inf")


# --- claim 9: closed-form against trained predictor -----------------------------------------------------


def soonest(times: dict) -> tuple[object, bool]:
    """(the key whose times (L,) are shortest at the first entry, whether they are no later than every other
    key's at every entry): which rule recruits a weak mode soonest, and whether the ordering holds at every
    lambda_0."""
    best = min(times, key=lambda k: times[k][0])
    return best, all(bool(np.all(np.asarray(times[best]) <= np.asarray(v) + 1e-12)) for v in times.values())


def mean_over_log(x, y) -> float:
    """The mean of y over log x (trapezoid rule on the log grid x, ascending): e.g. the alive fraction averaged
    over log-spaced weight decays."""
    lx = np.log(np.asarray(x, dtype=float))
    return float(np.trapezoid(np.asarray(y, dtype=float), lx) / (lx[-1] - lx[0]))


# --- claim 7: is a failing sampled-vs-mode-equations case a sampling effect? ------------------------------------

#: a failing case is explained by sampling if its deviation in units of its tolerance falls at least this many
#: times when the samples a step are quadrupled
EXPLAIN_FACTOR = 1.5


@dataclass(frozen=True)
class Shrink:
    """A failing case's deviation in units of its tolerance (max |seed mean - map| / tol) at n samples a step
    (``ratio_n``) and at 4 n (``ratio_4n``), the shrink factor ratio_n / ratio_4n and the decision."""

    ratio_n: float
    ratio_4n: float
    factor: float
    need: float

    @property
    def explained(self) -> bool:
        """A sampling effect vanishing with n: the deviation in tolerance units shrank at least ``need``-fold."""
        return self.factor >= self.need


def shrink_test(ratio_n: float, ratio_4n: float, need: float = EXPLAIN_FACTOR) -> Shrink:
    """Claim 7: does a failing case's deviation, in units of its own tolerance, shrink when n is quadrupled?

    The tolerance z * sd / sqrt(K) itself halves at 4 n (the seed spread ~ 1/sqrt(n)), so an absolute deviation
    that halves only keeps its ratio: a deviation of the mode equations (independent of n) doubles in tolerance
    units, a sampling bias O(1/n) halves.  Explained iff ratio_n / ratio_4n >= ``need`` (a case going
    5.45 -> 7.72 tol has factor 0.71: not explained).
    """
    ratio_n, ratio_4n = float(ratio_n), float(ratio_4n)
    factor = ratio_n / ratio_4n if ratio_4n > 0 else math.inf
    return Shrink(ratio_n, ratio_4n, factor, float(need))
