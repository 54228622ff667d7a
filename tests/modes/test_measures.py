"""Measures on constructed cases (issue 3): collapse, divergence, recruitment, rank, isotropy."""

from __future__ import annotations

import numpy as np

from isodyn.derivations import Rule
from isodyn.dynamics import measures as ms
from isodyn.dynamics.modes.simulation import simulate


def test_effective_rank_and_isotropy():
    assert ms.effective_rank(np.array([1.0, 1.0, 1.0, 0.0])) == 3.0
    assert np.isclose(ms.effective_rank(np.array([1.0, 1e-12])), 1.0)
    assert ms.isotropy(np.array([0.5, 1.0, 2.0])) == 0.25
    np.testing.assert_array_equal(ms.effective_rank(np.ones((2, 5))), [5.0, 5.0])


def test_recruit_steps_constructed():
    step = np.arange(6) * 10
    s = np.array([[0.1, 0.4, 1.0], [0.5, 0.9, 1.0], [0.98, 1.2, 1.2], [0.995, 0.8, 1.0], [1.02, 0.5, 1.0],
                  [1.0, 0.6, 1.0]])
    # mode 0 rose tenfold: first within 1% at row 3 (0.995); mode 1 rose 1.5-fold only and mode 2 not at all
    # (left and came back): recruitment is for modes that rose at least RISE-fold
    np.testing.assert_array_equal(ms.recruit_steps(s, step), [30, -1, -1])
    np.testing.assert_array_equal(ms.recruit_steps(s, step, rise=1.4), [30, 50, -1])
    np.testing.assert_array_equal(ms.recruit_steps(s, step, dead=np.array([True, False, False])), [-1, -1, -1])
    assert ms.RISE == 2.0


def test_dead_and_collapse_thresholds():
    s0 = np.array([0.1, 1.0])
    assert ms.collapsed(np.array([1e-9, 5e-9]), s0)
    assert not ms.collapsed(np.array([1e-9, 2e-8]), s0)
    assert ms.n_dead(np.array([1e-9, 2e-8]), s0) == 1


def test_known_collapse():
    """Euclidean no-stopgrad, sigma1 = 0: ds/dt = -2((s - 1)^2 + sigma2^2) s; weak modes die at rate ~2."""
    tr = simulate(Rule("euclidean", "no-stopgrad"), [0.01, 0.05], lr=0.1, steps=1000, stride=10)
    assert tr.measures["collapsed"] and tr.measures["n_dead"] == 2 and not tr.measures["diverged"]
    tr = simulate(Rule("euclidean", "no-stopgrad"), [0.01, 0.05], lr=0.1, steps=50)
    assert not tr.measures["collapsed"]  # not yet: the measure can say no


def test_known_divergence_step():
    """Euclidean wrong-stopgrad: S <- S + eta (s - 1 - sigma2^2) S; the step s first exceeds the bound."""
    s0, lr, s2 = np.array([0.2, 2.0]), 0.01, 0.1
    tr = simulate(Rule("euclidean", "wrong-stopgrad"), s0, lr=lr, steps=5000, sigma2=s2)
    S, k = np.sqrt(s0), 0
    while np.all(S**2 <= 1e8 * 2.0):
        S, k = S + lr * (S**2 - 1 - s2**2) * S, k + 1
    assert tr.measures["diverged"] and tr.diverged_step == k
    assert np.all(np.isnan(tr.s[k:])) and np.all(np.isfinite(tr.s[:k]))
    assert tr.final_step == k - 1 and np.all(np.isfinite(tr.s_final))
    summary = tr.summary()
    assert summary["diverged"] is True and summary["diverged_step"] == k


def test_known_recruitment_step():
    """iso map, sigma1 = 0: the first step within 1% of the final value, checked against the recursion."""
    s0, lr = np.array([1e-3, 0.3]), 0.01
    tr = simulate(Rule("euclidean", "iso"), s0, lr=lr, steps=3000)
    S = np.sqrt(s0)
    traj = [S**2]
    for _ in range(3000):
        S = S + lr * (S - S**3)
        traj.append(S**2)
    traj = np.array(traj)
    expected = [int(np.argmax(np.abs(traj[:, m] - traj[-1, m]) <= 0.01 * traj[-1, m])) for m in range(2)]
    np.testing.assert_array_equal(tr.measures["recruit_steps"], expected)
    # ODE estimate: s(t) = 0.99 at t = ln(99 (1/s0 - 1)) / 2
    t_ode = np.log(99 * (1 / s0 - 1)) / 2
    assert np.all(np.abs(np.array(expected) * lr - t_ode) < 0.05 * t_ode)


def test_convergence_measure():
    tr = simulate(Rule("euclidean", "iso"), [0.1, 0.5], lr=0.1, steps=2000)
    assert tr.measures["converged"]
    tr = simulate(Rule("euclidean", "iso"), [0.1, 0.5], lr=0.1, steps=20)
    assert not tr.measures["converged"]


def test_converged_needs_a_live_mode():
    """A point whose every mode died is collapsed, not converged (the sweep and the figures used to patch this)."""
    rate = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    alive = np.array([[False, False], [True, False], [True, True]])
    np.testing.assert_array_equal(ms.converged(rate, alive, np.zeros(3, bool)), [False, True, True])
    tr = simulate(Rule("euclidean", "no-stopgrad"), [0.01, 0.05], lr=0.1, steps=1000, stride=10)
    assert tr.measures["collapsed"] and not tr.measures["converged"]


def test_outcome_classifier_precedence():
    """diverged > collapsed > partial (converged, some dead) > converged > other (still moving, dead or not)."""
    div = np.array([1, 0, 0, 0, 0, 0], bool)
    col = np.array([1, 1, 0, 0, 0, 0], bool)
    conv = np.array([1, 0, 1, 1, 0, 0], bool)
    n_dead = np.array([3, 3, 1, 0, 0, 2])
    names = [ms.OUTCOMES[k] for k in ms.outcome(div, col, conv, n_dead)]
    assert names == ["diverged", "collapsed", "partial", "converged", "other", "other"]
    np.testing.assert_array_equal(ms.intact(div, n_dead), [False, False, False, True, True, False])


def test_vanished_and_bound():
    s = np.array([[1e-4, 2e-3, 1.0], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(ms.vanished(s), [[True, False, False], [False, False, False]])
    assert ms.VANISHED > ms.DEAD  # sampled training's noise floor keeps weak modes far above DEAD
    b = ms.divergence_bound(np.array([0.5, 2.0]))
    assert b == ms.BOUND * 2.0 and ms.divergence_bound(np.array([0.1])) == ms.BOUND
    assert not ms.beyond_bound([1.0, b], b) and ms.beyond_bound([1.0, b * 1.01], b)
    assert ms.beyond_bound([np.nan, 1.0], b) and ms.beyond_bound([np.inf], b)
