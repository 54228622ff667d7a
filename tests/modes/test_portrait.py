"""The two-mode phase portrait (issue 12 item 4; SPEC §4): its field, nullclines and fixed points."""

from __future__ import annotations

import numpy as np
import pytest

from isodyn.derivations import InputError, Rule
from isodyn.dynamics.modes import portrait as P
from isodyn.dynamics.modes.exact import ExactGrid
from isodyn.dynamics.modes.simulation import simulate

RULES = [Rule(m, v) for m in ("euclidean", "cosine") for v in ("standard", "iso")]
IDS = [r.name for r in RULES]
SETTINGS = [{}, {"weight_decay": 0.1, "sigma2": 0.3}]


def _fd_jacobian(rule, params, s1, s2, h=1e-6):
    """Central differences of two_mode_field in (s1, s2), relative step h."""
    J = np.empty((2, 2))
    for j, (d1, d2) in enumerate(((s1 * h, 0.0), (0.0, s2 * h))):
        fp = np.array(P.two_mode_field(rule, params, s1 + d1, s2 + d2))
        fm = np.array(P.two_mode_field(rule, params, s1 - d1, s2 - d2))
        J[:, j] = (fp - fm) / (2 * (d1 + d2))
    return J


@pytest.mark.parametrize("params", SETTINGS)
@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_field_vanishes_at_the_fixed_points(rule, params):
    pts = [q for q in P.portrait_fixed_points(rule, params) if q.s1 > 0 and q.s2 > 0]
    if rule.metric == "cosine" and params.get("weight_decay"):
        assert pts == []  # weight decay shrinks an isotropic spectrum: no line of fixed points
        d1, d2 = P.two_mode_field(rule, params, 0.5, 0.5)
        assert d1 < 0 and d2 < 0
        return
    assert pts
    for q in pts:
        d = np.array(P.two_mode_field(rule, params, q.s1, q.s2))
        scale = np.abs(P.two_mode_field(rule, params, 2 * q.s1, q.s2)[0]) + 1.0
        assert np.all(np.abs(d) <= 1e-12 * scale), (q, d)


def test_fixed_points_are_analysis_roots():
    """Euclidean standard at gamma = 0.1: lambda* = (1 +- sqrt(1 - 4 gamma)) / 2 (SPEC §4) for each mode, or 0."""
    pts = P.portrait_fixed_points(Rule("euclidean", "standard"), {"weight_decay": 0.1})
    roots = [0.0, (1 - np.sqrt(0.6)) / 2, (1 + np.sqrt(0.6)) / 2]
    np.testing.assert_allclose(sorted((q.s1, q.s2) for q in pts), sorted((a, b) for a in roots for b in roots),
                               rtol=1e-12, atol=1e-15)
    words = {(round(q.s1, 6), round(q.s2, 6)): q.stability for q in pts}
    hi, lo = round(roots[2], 6), round(roots[1], 6)
    assert words[(hi, hi)] == "stable" and words[(lo, lo)] == "unstable" and words[(lo, hi)] == "saddle"
    assert words[(0.0, 0.0)] == "stable"  # rate(0) - gamma = -gamma < 0


@pytest.mark.parametrize("rule", RULES, ids=IDS)
@pytest.mark.parametrize("s0", [(0.02, 0.5), (0.3, 2.0)])
def test_field_is_simulates_first_map_step(rule, s0):
    """The map moves S by eta dS/dt, so (s(1) - s(0)) / eta = ds/dt + c eta (dS/dt)^2 with s = c S^2."""
    params = {"sigma1": 0.2, "sigma2": 0.1, "weight_decay": 0.05}
    for lr in (1e-3, 1e-4):
        tr = simulate(rule, list(s0), lr=lr, steps=1, scheme="map", closure="mean-field", **params)
        fd = (tr.s[1] - tr.s[0]) / lr
        d = np.array(P.two_mode_field(rule, params, *s0))
        c = 1 + params["sigma1"] ** 2
        dS = d / (2 * c * np.sqrt(np.array(s0) / c))  # ds/dS = 2 c S
        tol = 1.5 * c * lr * dS**2 + 1e-9 * np.abs(d) + 1e-12
        assert np.all(np.abs(fd - d) <= tol), (lr, fd, d, tol)


def test_exact_closure_field_is_simulates_first_map_step():
    rule, s0, lr = Rule("cosine", "standard"), (0.05, 0.8), 1e-4
    tr = simulate(rule, list(s0), lr=lr, steps=1, scheme="map", closure="exact")
    g = tr.extra["closure_grid"]
    grid = ExactGrid(hx=g["hx"], lo=g["lo"], hi=g["hi"], w=g["w"])  # the grid simulate calibrated
    d = np.array(P.two_mode_field(rule, {}, *s0, closure="exact", grid=grid))
    mf = np.array(P.two_mode_field(rule, {}, *s0))
    fd = (tr.s[1] - tr.s[0]) / lr
    assert np.allclose(fd, d, rtol=1e-3, atol=1e-9)
    assert not np.allclose(d, mf, rtol=1e-3)  # the closures differ at M = 2 (SPEC §4)


@pytest.mark.parametrize("params", SETTINGS)
@pytest.mark.parametrize("rule", RULES[:2], ids=IDS[:2])
def test_euclidean_stability_matches_the_jacobian(rule, params):
    """At a positive point the finite-difference Jacobian of the field in s has the analysis eigenvalues (a
    fixed point's eigenvalues do not depend on the coordinates); at a zero coordinate the sign of ds/dt / s
    at s -> 0 is that of the mode's eigenvalue."""
    evs = P.fixed_point_eigenvalues(rule, params)
    words = P.portrait_fixed_points(rule, params)
    assert len(evs) == len(words) >= 4
    for (a, b, ev), q in zip(evs, words):
        assert (q.s1, q.s2) == (a, b)
        assert q.stability == P.stability_word(ev)
        if a > 0 and b > 0:
            fd = np.sort(np.linalg.eigvals(_fd_jacobian(rule, params, a, b)).real)
            np.testing.assert_allclose(fd, np.sort(ev), rtol=1e-5, atol=1e-8)
        for k, v in enumerate((a, b)):
            if v == 0:
                probe = [1e-12, 1e-12]
                probe[1 - k] = (a, b)[1 - k] or 1e-12
                rel = P.two_mode_field(rule, params, *probe)[k] / probe[k]
                if ev[k] == 0:
                    assert abs(rel) < 1e-6
                else:
                    assert np.sign(rel) == np.sign(ev[k]) and rel == pytest.approx(2 * ev[k], rel=1e-4)


@pytest.mark.parametrize("rule", RULES[2:], ids=IDS[2:])
def test_cosine_line_is_marginal_along_and_stable_across(rule):
    params = {"sigma2": 0.2}
    evs = P.fixed_point_eigenvalues(rule, params, s_range=(0.05, 2.0), n_line=3)
    assert [q.stability for q in P.portrait_fixed_points(rule, params)] == [P.LINE] * 9
    for a, b, ev in evs:
        assert a == b
        fd = np.sort(np.linalg.eigvals(_fd_jacobian(rule, params, a, b)).real)
        np.testing.assert_allclose(fd, np.sort(ev), rtol=1e-5, atol=1e-7 * np.max(np.abs(ev)))
        assert np.max(ev) == 0 and np.min(ev) < 0


def test_nullclines():
    eu = P.nullclines(Rule("euclidean", "iso"), {}, (1e-2, 10), (1e-3, 10), n=120)
    (c1,), (c2,) = eu["s1"], eu["s2"]
    assert np.allclose(c1[:, 0], 1.0, rtol=3e-3) and c1[:, 1].min() == pytest.approx(1e-3)  # s1 = s* = 1
    assert np.allclose(c2[:, 1], 1.0, rtol=3e-3)
    co = P.nullclines(Rule("cosine", "standard"), {}, (1e-2, 10), (1e-2, 10), n=80)
    for name in ("s1", "s2"):
        for c in co[name]:
            assert np.allclose(c[:, 0], c[:, 1], rtol=1e-6)  # two modes: both nullclines are the isotropic line
    # away from the nullclines the field has the sign the contours separate
    d1, _ = P.two_mode_field(Rule("euclidean", "iso"), {}, np.array([0.5, 2.0]), np.array([1.0, 1.0]))
    assert d1[0] > 0 > d1[1]


def test_bad_input():
    r = Rule("euclidean", "standard")
    with pytest.raises(InputError, match="ema"):
        P.two_mode_field(r, {"ema": 0.5}, 1.0, 1.0)
    with pytest.raises(InputError, match="lr"):
        P.portrait_fixed_points(r, {"lr": 0.1})
    with pytest.raises(InputError):
        P.two_mode_field(r, {}, -1.0, 1.0)
    with pytest.raises(InputError, match="closure"):
        P.two_mode_field(r, {}, 1.0, 1.0, closure="exactly")
    with pytest.raises(InputError, match="normalize"):
        P.portrait_fixed_points(Rule("euclidean", "standard", normalize=True), {})
