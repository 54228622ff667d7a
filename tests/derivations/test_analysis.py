"""Fixed points, Jacobians and weak-mode asymptotics of derivations.analysis against the
generated kernels: numerical root finding, finite-difference Jacobians, ODE integration."""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from isodyn.derivations import Rule
from isodyn.derivations import analysis as an
from isodyn.derivations.invariants import beta as beta_sym
from isodyn.derivations.modes import S, St, alpha, eps, gamma, kappa, sigma1, sigma2, tau
from isodyn.dynamics.codegen import kernels

PAR = dict(s1=0.3, s2=0.2, gam=0.08, a=0.7, e=0.05, kap=3.0)
SUBS = {
    sigma1: PAR["s1"],
    sigma2: PAR["s2"],
    gamma: PAR["gam"],
    alpha: PAR["a"],
    eps: PAR["e"],
    kappa: PAR["kap"],
    beta_sym: 0.5,
}


def _field(rule, S, St):
    """(dS/dt, dS_t/dt) of one mode from the generated kernels (M = 1)."""
    k = kernels(rule)
    s_, lam = np.empty(1), np.empty(1)
    k.eigenvalues(np.array([S]), PAR["s1"], PAR["a"], PAR["e"], False, s_, lam)
    out = np.empty(1)
    b = 0.5 if rule.beta is not None else 0.0
    k.drift(
        np.array([S]), np.array([St if rule.has_target_network else S]), lam, PAR["s1"], PAR["s2"], b, out
    )
    f1 = out[0] - PAR["gam"] * S
    return np.array([f1, PAR["kap"] * (S - St)]) if rule.has_target_network else np.array([f1])


EUCLID = [
    Rule("euclidean", "standard"),
    Rule("euclidean", "iso"),
    Rule("euclidean", "wrong-stopgrad"),
    Rule("euclidean", "standard", beta=0.5),
]


@pytest.mark.parametrize("rule", EUCLID, ids=lambda r: r.name)
def test_euclidean_fixed_points_match_root_finding_and_fd_jacobian(rule):
    fps = an.fixed_points(rule)
    # numerical roots of dS/dt on the diagonal S_t = S, scanning S
    grid = np.geomspace(1e-3, 3.0, 4000)
    vals = np.array([_field(rule, x, x)[0] for x in grid])
    roots = [
        brentq(lambda x: _field(rule, x, x)[0], grid[i], grid[i + 1])
        for i in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]
    ]
    assert roots, "no numerical fixed point found"
    checked = 0
    for S_star in roots:
        s_star = (1 + PAR["s1"] ** 2) * S_star**2
        lam_star = (s_star + PAR["e"]) ** PAR["a"]
        match = None
        for fp in fps:
            if fp.lam is not None:
                val = complex(fp.lam.subs(SUBS).evalf())
                if abs(val.imag) < 1e-12 and abs(val.real - lam_star) < 1e-8:
                    match = fp
            else:  # no closed form (beta symbolic): the condition must hold at the root
                res = float((fp.condition.lhs - fp.condition.rhs).subs(SUBS).subs(an.lam, lam_star))
                if abs(res) < 1e-9:
                    match = fp
        assert match is not None, f"root lambda*={lam_star} not among the symbolic fixed points"
        # finite-difference Jacobian of the generated vector field
        x0 = np.array([S_star, S_star])[: len(_field(rule, S_star, S_star))]
        h = 1e-6
        Jfd = np.column_stack(
            [
                (_field(rule, *(x0 + h * e)) - _field(rule, *(x0 - h * e))) / (2 * h)
                if len(x0) == 2
                else (_field(rule, x0[0] + h, x0[0] + h) - _field(rule, x0[0] - h, x0[0] - h)) / (2 * h)
                for e in np.eye(len(x0))
            ]
        )
        J = np.array(
            match.jacobian.subs(SUBS).subs({an.lam_star: lam_star, an.s_star: s_star}).evalf(), dtype=float
        )
        np.testing.assert_allclose(J, Jfd, rtol=1e-6, atol=1e-8)
        eig_sym = np.sort_complex(
            np.array(
                [
                    complex(e.subs(SUBS).subs({an.lam_star: lam_star, an.s_star: s_star}).evalf())
                    for e in match.eigenvalues
                ]
            )
        )
        np.testing.assert_allclose(
            eig_sym, np.sort_complex(np.linalg.eigvals(Jfd).astype(complex)), rtol=1e-5, atol=1e-8
        )
        checked += 1
    assert checked == len(roots)


def test_iso_fixed_point_closed_form():
    (fp,) = an.fixed_points(Rule("euclidean", "iso"))
    assert sp.simplify(fp.lam - (1 - gamma) / (1 + sigma1**2)) == 0


@pytest.mark.parametrize("variant", ["standard", "iso"])
def test_cosine_isotropic_line_and_jacobian(variant):
    rule = Rule("cosine", variant)
    assert an.isotropic_residual(rule, sp.Symbol("M", positive=True)) == 0
    J, eig = an.isotropic_jacobian(rule, 3)
    a_, Sb, s2 = 0.8, 0.6, 0.2
    sub = {alpha: a_, an.Sbar: Sb, sigma2: s2}
    Jn = np.array(J.subs(sub).evalf(), dtype=float)
    # FD of the generated mean-field drift at the isotropic point (sigma1 = 0, eps = 0, lambda = s^alpha)
    k = kernels(rule)

    def F(S):
        s_, lam = np.empty(3), np.empty(3)
        k.eigenvalues(S, 0.0, a_, 0.0, False, s_, lam)
        out = np.empty(3)
        k.drift(S, S, lam, 0.0, s2, 0.0, out)
        return out

    S0, h = np.full(3, Sb), 1e-6
    Jfd = np.column_stack([(F(S0 + h * e) - F(S0 - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(Jn, Jfd, rtol=1e-6, atol=1e-9)
    ev = np.sort(np.array([float(e.subs(sub)) for e in eig]))
    np.testing.assert_allclose(ev, np.sort(np.linalg.eigvalsh((Jfd + Jfd.T) / 2)), atol=1e-7)
    assert abs(ev[-1]) < 1e-12 and ev[0] < 0  # neutral along the line, stable across it


def _recruit_time(rule, s0, s1=0.25, a=1.0):
    """Time for one mode to go from s0 to s1 under the generated ODE (sigma = 0, no EMA, gamma = 0)."""
    k = kernels(rule)

    def rhs(t, y):
        S = np.array([y[0]])
        s_, lam = np.empty(1), np.empty(1)
        k.eigenvalues(S, 0.0, a, 0.0, False, s_, lam)
        out = np.empty(1)
        k.drift(S, S, lam, 0.0, 0.0, 0.0, out)
        return out

    ev = lambda t, y: y[0] ** 2 - s1  # noqa: E731
    ev.terminal = True
    sol = solve_ivp(rhs, (0, 1e9), [np.sqrt(s0)], events=ev, rtol=1e-10, atol=1e-14)
    return sol.t_events[0][0]


def test_weak_mode_asymptotics_standard_is_one_over_lambda0():
    rule = Rule("euclidean", "standard")
    a = an.weak_mode_asymptotics(rule)
    ratios = []
    for l0 in (1e-2, 1e-3, 1e-4):
        pred = float(a.leading.subs({alpha: 1, an.lam0: l0}))
        ratios.append(_recruit_time(rule, l0) / pred)
    # T = 1/(2 alpha lambda0) + O(log) : the ratio tends to 1
    assert abs(ratios[-1] - 1) < abs(ratios[0] - 1) and abs(ratios[-1] - 1) < 2e-3


def test_weak_mode_asymptotics_iso_is_log():
    rule = Rule("euclidean", "iso")
    a = an.weak_mode_asymptotics(rule)
    diffs = []
    for l0 in (1e-3, 1e-6, 1e-9):
        pred = float(a.leading.subs({alpha: 1, an.lam0: l0}))
        diffs.append(_recruit_time(rule, l0) - pred)
    # T = ln(1/lambda0)/2 + const + o(1): the offset converges
    assert abs(diffs[2] - diffs[1]) < 1e-5 and abs(diffs[1] - diffs[0]) < 1e-2


def test_expected_map_and_ode_are_consistent():
    from isodyn.derivations.modes import S, St, eta, tau

    for rule in (Rule("euclidean", "standard"), Rule("cosine", "iso")):
        m, o = an.expected_map(rule), an.ode(rule)
        assert sp.simplify((m[S] - S) / eta - o[S]) == 0
        # with kappa = (1 - tau)/eta the target map is S_t + eta kappa (S' - S_t)
        assert sp.simplify(m[St] - (St + (1 - tau) * (m[S] - St))) == 0


def test_amplitude_inverts_the_correlation_eigenvalue():
    from isodyn.derivations.modes import S, amplitude, correlation_eigenvalue, s

    assert sp.simplify(amplitude(correlation_eigenvalue(S)) - S) == 0
    assert sp.simplify(correlation_eigenvalue(amplitude(s)) - s) == 0


def test_the_lag_and_ema_limits_are_the_maps_continuous_time_limits():
    """x <- m x + (1 - m) y over one step of length eta is dx/dt = ema_rate(m) (y - x) to first order."""
    from isodyn.derivations.modes import C, eta, kappa, rho, s

    dC = an.lag_step(s) - C
    assert sp.simplify(dC / eta - an.lag_ode(s).subs(kappa, an.ema_rate(rho))) == 0
    S_new, St_new = an.map_step(sp.Symbol("G"), S)
    assert sp.simplify((St_new - St) / eta - an.ode_step(sp.Symbol("G"))[1].subs(kappa, an.ema_rate(tau))) == 0
