"""Maps, ODEs, fixed points, stability and weak-mode asymptotics of the mode equations (SPEC §4).

All results are sympy objects; ``G`` is the drift of :func:`derivations.modes.mode_drift`
(Euclidean closed form, cosine mean-field) or, for the exact cosine closure, the symbol
``G_m`` standing for the (t, u) integral of :func:`derivations.modes.exact_closure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from .invariants import beta, lam
from .modes import C, S, St, alpha, eps, eta, gamma, kappa, mode_drift, predictor_drift, rho, s, sigma1, sigma2, tau
from .rules import Rule

G_sym = sp.Symbol("G_m", real=True)
lam0 = sp.Symbol("lambda_0", positive=True)  # initial predictor eigenvalue of a weak mode
s0, s1 = sp.Symbol("s_0", positive=True), sp.Symbol("s_1", positive=True)
lam_star = sp.Symbol("lambda^*", positive=True)
Lbar, Sbar = sp.Symbol(r"\bar{\lambda}", positive=True), sp.Symbol(r"\bar{S}", positive=True)


def _rule(key):
    return Rule.from_structural_key(key)


def drift_expr(rule: Rule, closure: str = "mean-field") -> sp.Expr:
    """G_m: closed form (Euclidean), mean-field (cosine), or the symbol G_m (exact closure)."""
    if rule.metric == "cosine" and closure == "exact":
        return G_sym
    return mode_drift(rule, "mean-field").drift


def map_step(G, S_new):
    """The two lines of one expected-GD step (SPEC §4) for a drift G: (S', S_t') with
    S' = S + eta (G - gamma S) and S_t' = tau S_t + (1 - tau) S_new (S_new: S' or a symbol for it).
    The compiled maps print these (dynamics.codegen MAP_STEP)."""
    return S + eta * (G - gamma * S), tau * St + (1 - tau) * S_new


def expected_map(rule: Rule, closure: str = "mean-field") -> dict:
    """One expected-gradient-descent step: {S_m: S_m', S_t,m: S_t,m'} (S_t absent without a target net).

    S' = S + eta (G - gamma S);  S_t' = tau S_t + (1 - tau) S'  (:func:`map_step`).
    """
    S_new, _ = map_step(drift_expr(rule, closure), S)
    out = {S: S_new}
    if rule.has_target_network:
        out[St] = map_step(drift_expr(rule, closure), S_new)[1]
    return out


def ode_step(G):
    """The ODE's right-hand sides for a drift G: (dS/dt, dS_t/dt) = (G - gamma S, kappa (S - S_t)).
    The compiled Runge-Kutta schemes print these (dynamics.codegen ODE_STEP)."""
    return G - gamma * S, kappa * (S - St)


def ode(rule: Rule, closure: str = "mean-field") -> dict:
    """Continuous-time limit (t = eta * step, kappa = (1 - tau)/eta): {S_m: dS/dt, S_t,m: dS_t/dt}."""
    dS, dSt = ode_step(drift_expr(rule, closure))
    out = {S: dS}
    if rule.has_target_network:
        out[St] = dSt
    return out


def ema_rate(momentum=tau):
    """kappa = (1 - momentum) / eta: the rate of the continuous-time limit of x <- momentum x + (1 - momentum) y
    (t = eta * step), i.e. dx/dt = kappa (y - x).  For the EMA target (momentum tau) and the predictor lag (rho)."""
    return (1 - momentum) / eta


def lag_step(s_new):
    """The lagging predictor's update: C' = rho C + (1 - rho) s (s of the current state; lambda = lambda(C')).
    The compiled map prints this (dynamics.codegen LAG_STEP)."""
    return rho * C + (1 - rho) * s_new


def lag_ode(s_):
    """The lag's continuous-time limit dC/dt = kappa (s - C), kappa = ema_rate(rho) (codegen LAG_ODE)."""
    return kappa * (s_ - C)


def growth_rate(rule: Rule) -> sp.Expr:
    """G_m / S_m on the diagonal S_t = S: the per-mode rate in (1/S) dS/dt = rate - gamma."""
    G = mode_drift(rule, "mean-field").drift.xreplace({St: S})
    return sp.simplify(G / S)


@dataclass(frozen=True)
class FixedPoint:
    """A family of fixed points of the mode ODE.

    condition   equation the predictor eigenvalue(s) satisfy
    lam         lambda* (closed form when sympy finds one, else None)
    s           s* = lambda*^(1/alpha) - eps (unnormalised predictor)
    jacobian    linearisation (1x1 in s without EMA; 2x2 in (S, S_t) with EMA)
    eigenvalues its eigenvalues, as expressions
    note        one line for the reader (prose with inline $...$ math)
    """

    condition: sp.Basic
    lam: sp.Expr | None
    s: sp.Expr | None
    jacobian: sp.Matrix
    eigenvalues: tuple
    note: str


s_star = sp.Symbol("s^*", positive=True)


@cache
def _euclidean_fixed_points(key) -> tuple:
    rule = _rule(key)
    rate = growth_rate(rule)  # a function of lambda only
    cond = sp.Eq(rate, gamma)
    if not rule.has_predictor:
        sols = [None]
    else:
        try:
            sols = [x for x in sp.solve(cond, lam) if x != 0] or [None]
        except (NotImplementedError, ValueError):
            sols = [None]
    G = mode_drift(rule).drift
    # dlambda/dS = 2 alpha lambda s / ((s + eps) S) for lambda = ((1+sigma1^2) S^2 + eps)^alpha
    dlam_dS = 2 * alpha * lam * s / ((s + eps) * S) if rule.has_predictor else 0
    dG_dS = sp.diff(G, S) + sp.diff(G, lam) * dlam_dS
    on_diag = {St: S}
    out = []
    for ls in sols:
        at = {lam: lam_star, s: s_star}
        if rule.has_target_network:
            J = sp.Matrix([[dG_dS - gamma, sp.diff(G, St)], [kappa, -kappa]])
            note = (
                r"2x2 Jacobian in $(S, S_t)$ with the target EMA, $\kappa = (1-\tau)/\eta$, at $\lambda = \lambda^*$, "
                r"$s = s^*$"
            )
        else:
            J = sp.Matrix([[dG_dS - gamma]])
            note = r"Jacobian of $dS/dt$ ($S_t = S$) at $\lambda = \lambda^*$, $s = s^*$"
        J = J.xreplace(on_diag).xreplace(at).applyfunc(sp.simplify)
        if rule.has_predictor:
            # on the fixed point rate(lambda*) = gamma: eliminate gamma
            J = J.applyfunc(lambda e: sp.simplify(e.xreplace({gamma: rate.xreplace({lam: lam_star})})))
        eig = tuple(sp.simplify(e) for e in J.eigenvals(multiple=True))
        s_val = None if ls is None else sp.simplify(ls ** (1 / alpha) - eps)
        out.append(FixedPoint(cond, ls, s_val, J, eig, note))
    return tuple(out)


def isotropic_jacobian(rule: Rule, M: int = 3):
    """Cosine mean-field: Jacobian of dS/dt at the isotropic point S_k = bar S (sigma1 = 0, S_t = S,
    eps = 0, lambda = s^alpha, no weight decay), for M explicit modes.  Returns (J, eigenvalues)."""
    d = mode_drift(rule, "mean-field")
    Ss = sp.symbols(f"S_1:{M + 1}", positive=True)
    sub = {sigma1: 0}
    lams = [(x**2) ** alpha for x in Ss]
    sums = {}
    for ms in d.sums:
        sums[ms.symbol] = sp.Add(
            *[ms.summand.xreplace({S: x, St: x, lam: lk, **sub}) for x, lk in zip(Ss, lams)]
        )
    F = [d.drift.xreplace({St: S}).xreplace({S: x, lam: lk, **sub}).xreplace(sums) for x, lk in zip(Ss, lams)]
    J = sp.Matrix(F).jacobian(Ss).xreplace({x: Sbar for x in Ss})
    J = J.applyfunc(sp.simplify)
    return J, tuple(sp.simplify(e) for e in J.eigenvals(multiple=True))


def isotropic_residual(rule: Rule, M) -> sp.Expr:
    """G_m at an isotropic spectrum (all lambda_k = bar lambda, S_k = S_t,k = bar S), M modes: 0 iff a fixed line."""
    d = mode_drift(rule, "mean-field")
    sums = {ms.symbol: M * ms.summand.xreplace({S: Sbar, St: Sbar, lam: Lbar}) for ms in d.sums}
    return sp.simplify(d.drift.xreplace({S: Sbar, St: Sbar, lam: Lbar}).xreplace(sums))


def fixed_points(rule: Rule) -> tuple:
    """Non-trivial fixed points of one mode's ODE with their linearisation.

    Euclidean: modes decouple; rate(lambda*) = gamma (e.g. lambda* = 1/(1+sigma1^2) at gamma = 0).
    Cosine (mean-field): every isotropic spectrum is a fixed point (a line of them, any scale);
    the linearisation for M = 3 explicit modes has one zero eigenvalue along the line.
    """
    if rule.metric == "euclidean":
        return _euclidean_fixed_points(rule.structural_key)
    res = isotropic_residual(rule, sp.Symbol("M", positive=True, integer=True))
    J, eig = isotropic_jacobian(rule, 3)
    cond = sp.Eq(sp.Symbol(r"G_m|_{\lambda_k = \bar{\lambda},\, S_k = S_{t,k} = \bar{S}}"), res)
    return (
        FixedPoint(
            cond,
            Lbar,
            None,
            J,
            eig,
            r"isotropic spectra (all $\lambda_k$ equal, any scale); Jacobian for $M = 3$, $\sigma_1 = 0$",
        ),
    )


@dataclass(frozen=True)
class Asymptotics:
    """Weak-mode recruitment (sigma1 = 0, S_t = S, gamma = 0, eps = 0, lambda = s^alpha).

    rate_leading  leading term of (1/S) dS/dt as lambda -> 0:  C lambda^beta
    ds_dt         leading ODE for s:  2 C s^(1 + alpha beta)
    time          time from s_0 to s_1 under the leading ODE (exact)
    leading       its leading behaviour as lambda_0 -> 0
    """

    rate_leading: sp.Expr
    ds_dt: sp.Expr
    time: sp.Expr
    leading: sp.Expr


@cache
def _asymptotics(key) -> Asymptotics:
    rule = _rule(key)
    mult = beta if rule.beta is not None else sp.nsimplify(rule.multiplier)
    rate = growth_rate(rule).xreplace({sigma1: 0})
    C = sp.simplify(sp.limit(sp.simplify(rate / lam**mult), lam, 0))
    rate_lead = C * lam**mult
    ds_dt = 2 * C * s ** (1 + alpha * mult)
    if mult == 0:
        T = sp.log(s1 / s0) / (2 * C)
        lead = sp.log(1 / lam0) / (2 * C * alpha)
    else:
        T = sp.simplify(sp.integrate(1 / ds_dt, (s, s0, s1), conds="none"))
        lead = 1 / (2 * C * alpha * mult * lam0**mult)
    return Asymptotics(rate_lead, ds_dt, T, lead)


def weak_mode_asymptotics(rule: Rule) -> Asymptotics:
    """Recruitment time of a weak mode: ~ 1/(2 C alpha beta lambda_0^beta), or ln(1/lambda_0)/(2 C alpha) at beta=0."""
    if rule.variant in ("no-stopgrad", "wrong-stopgrad", "no-predictor"):
        raise ValueError(
            f"{rule.name}: no weak-mode recruitment law (no predictor multiplier, or no stable "
            "non-trivial fixed point)"
        )
    return _asymptotics(rule.structural_key)


# --- the trainable predictor (SPEC §7; Tian, Chen & Ganguli 2021) -------------------------------------

alpha_p = sp.Symbol("alpha_p", positive=True)  # the predictor's learning-rate ratio
gamma_p = sp.Symbol("gamma_p", nonnegative=True)  # the predictor's weight decay
H_sym = sp.Symbol("H_m", real=True)
ema_ratio = sp.Symbol("r", positive=True)  # S_t / S on the EMA target's fixed line (SPEC §7 calls it tau)


def predictor_step(H):
    """One expected-GD step of a trainable predictor's eigenvalue: lambda' = lambda + eta (alpha_p H - gamma_p
    lambda) (SPEC §7).  The compiled maps print this (dynamics.codegen PREDICTOR_STEP)."""
    return lam + eta * (alpha_p * H - gamma_p * lam)


def predictor_ode(H):
    """Its continuous-time limit d lambda/dt = alpha_p H - gamma_p lambda (codegen PREDICTOR_ODE)."""
    return alpha_p * H - gamma_p * lam


def trainable_ode(rule: Rule, closure: str = "mean-field") -> dict:
    """The ODE with a trainable predictor: {S_m: G - gamma S, S_t,m: kappa (S - S_t), lambda_m: alpha_p H -
    gamma_p lambda}, lambda now a state (S_t absent without a target network)."""
    out = ode(rule, closure)
    H = H_sym if (rule.metric == "cosine" and closure == "exact") else predictor_drift(rule, closure).drift
    out[lam] = predictor_ode(H)
    return out


@dataclass(frozen=True)
class TrainableTheory:
    """Tian et al.'s analysis of the Euclidean loss with a trainable predictor, derived (SPEC §7).

    invariant       S^2 - lambda^2 / alpha_p
    invariant_rate  its d/dt at sigma1 = 0, S_t = S (no EMA), gamma_p = gamma: -2 gamma invariant
    reduced_flow    d lambda/dt on the parabola S^2 = lambda^2 / alpha_p with S_t = r S (r: ema_ratio)
    fixed_points    (lambda*+, lambda*-), the non-zero roots of reduced_flow
    stability       d reduced_flow / d lambda at each (negative: stable)
    threshold       the weight decay above which no non-zero fixed point exists (every mode collapses)
    """

    invariant: sp.Expr
    invariant_rate: sp.Expr
    reduced_flow: sp.Expr
    fixed_points: tuple
    stability: tuple
    threshold: sp.Expr


@cache
def _trainable_theory(key) -> TrainableTheory:
    rule = _rule(key)
    G = mode_drift(rule).drift
    H = predictor_drift(rule).drift
    inv = S**2 - lam**2 / alpha_p
    plain = {sigma1: 0, St: S, gamma_p: gamma}
    rate = sp.simplify(sp.diff(inv, S) * (G - gamma * S).xreplace(plain)
                       + sp.diff(inv, lam) * predictor_ode(H).xreplace(plain))
    # on the parabola S^2 = lambda^2 / alpha_p with S_t = r S (H is a polynomial in S, S_t)
    on_parabola = sp.expand(predictor_ode(H).xreplace({St: ema_ratio * S, gamma_p: gamma}))
    flow = sp.factor(on_parabola.subs(S**2, lam**2 / alpha_p))
    roots = sp.solve(sp.cancel(flow / lam), lam)
    # order (lambda*+, lambda*-) at a point where both are real
    probe = {ema_ratio: 1, gamma: sp.Rational(1, 10), sigma1: 0}
    plus, minus = sorted(roots, key=lambda r: -float(r.subs(probe)))
    dflow = sp.diff(flow, lam)
    stability = tuple(sp.simplify(dflow.subs(lam, r)) for r in (plus, minus))
    threshold = sp.solve(sp.Eq(sp.discriminant(sp.cancel(flow / lam), lam), 0), gamma)[0]
    return TrainableTheory(inv, rate, flow, (plus, minus), stability, sp.simplify(threshold))


def trainable_theory(rule: Rule) -> TrainableTheory:
    """Invariant, fixed points and collapse threshold of the Euclidean standard loss with a trainable
    predictor (SPEC §7; Tian et al.'s Theorem 1 and the fixed points under weight decay)."""
    if rule.metric != "euclidean" or rule.variant != "standard" or rule.beta is not None:
        raise ValueError(f"{rule.name}: the invariant and the fixed points of SPEC §7 are those of the Euclidean "
                         "standard loss")
    return _trainable_theory(rule.structural_key)


# --- the analysis at numbers (isodyn derive with --alpha, --weight-decay, ...) -------------------------------

#: library keyword of a number a user can give -> its symbol in the mode equations
NUMBER_SYMBOLS = {"alpha": alpha, "eps": eps, "beta": beta, "sigma1": sigma1, "sigma2": sigma2,
                  "weight_decay": gamma, "ema": tau, "lr": eta}


def substitution(values: dict) -> dict:
    """{symbol: number} for the library keywords in ``values`` (NUMBER_SYMBOLS), with kappa = (1 - tau)/eta
    when both tau and eta are given."""
    sub = {NUMBER_SYMBOLS[k]: sp.Float(v) for k, v in values.items() if k in NUMBER_SYMBOLS and v is not None}
    if tau in sub and eta in sub:
        sub[kappa] = ema_rate().xreplace(sub)
    return sub


def stability_in_words(eigenvalues, line: bool = False, tol: float = 1e-10) -> str:
    """'stable' (every eigenvalue's real part < 0), 'unstable' (all > 0), 'saddle' (both signs) or 'marginal' (a
    zero real part, none positive); with ``line`` one zero eigenvalue runs along a line of fixed points:
    'marginal line' plus whether the other directions attract or repel."""
    re = [complex(e).real for e in eigenvalues]
    scale = max([1.0] + [abs(x) for x in re])
    if line:
        zeros = [i for i, x in enumerate(re) if abs(x) <= tol * scale]
        if zeros:
            re = re[: zeros[0]] + re[zeros[0] + 1:]
    neg = any(x < -tol * scale for x in re)
    pos = any(x > tol * scale for x in re)
    if line:
        if not re or not (neg or pos):
            return "marginal line (every direction marginal at linear order)"
        return "marginal line, " + ("saddle-like off the line" if neg and pos else
                                    "attracting (stable off the line)" if neg else "repelling (unstable off the line)")
    if neg and pos:
        return "saddle"
    if pos:
        return "unstable"
    if len([x for x in re if x < -tol * scale]) < len(re):
        return "marginal"
    return "stable"


@dataclass(frozen=True)
class FixedPointAt:
    """One fixed point of :func:`fixed_points` at numbers.

    exists       a real non-trivial fixed point (lambda* > 0, s* > 0) at these numbers
    lam, s       lambda*, s* (floats; None where there is none)
    eigenvalues  of the linearisation at the numbers (sympy numbers; for the cosine line in S-bar)
    stability    :func:`stability_in_words` ('' where it does not exist)
    reason       why there is no fixed point (exists False), in words with the numbers
    reduced      the linearisation used: 'S_t = S' (no EMA: J_11 + J_12) or 'full'
    """

    exists: bool
    lam: float | None
    s: float | None
    eigenvalues: tuple
    stability: str
    reason: str = ""
    reduced: str = "full"


def _num(x) -> complex:
    return complex(sp.N(x))


def _g(x: float) -> str:
    return f"{x:.4g}"


def fixed_points_at(rule: Rule, values: dict) -> tuple:
    """:func:`fixed_points` of ``rule`` at the numbers ``values`` (library keywords: alpha, eps, sigma1, sigma2,
    weight_decay, ema, lr, beta), each with its stability in words, or why it does not exist at these numbers
    (not real, lambda* = 0, s* <= 0).  Symbolic substitution and evaluation only."""
    sub = substitution(values)
    fps = fixed_points(rule)
    if rule.metric == "cosine":
        fp = fps[0]
        eig = tuple(sp.simplify(e.xreplace(sub)) for e in fp.eigenvalues)
        at_one = [_num(e.xreplace({Sbar: 1})) for e in eig]  # signs do not depend on the scale S-bar > 0
        return (FixedPointAt(True, None, None, eig, stability_in_words(at_one, line=True)),)
    cond = fps[0].condition
    f = sp.expand((cond.lhs - cond.rhs).xreplace(sub))
    no_ema = rule.has_target_network and float(sub.get(tau, 0)) == 0
    out = []
    for fp in fps:
        if fp.lam is None:  # no predictor: the condition does not involve lambda
            val = _num(f).real
            if abs(val) > 1e-12:
                out.append(FixedPointAt(False, None, None, (), "", (
                    f"on the diagonal $S_t = S$ the drift is ${_g(val)}\\,S_m$, never zero for $S_m > 0$, so every "
                    "mode "
                    + ("decays to 0" if val < 0 else "grows without bound"))))
                continue
            lamv = sv = None
        else:
            lamc = _num(fp.lam.xreplace(sub))
            if abs(lamc.imag) > 1e-12 * max(1.0, abs(lamc)):
                disc = sp.discriminant(f, lam) if sp.Poly(f, lam).degree() == 2 else None
                why = "the fixed-point condition has no real root"
                if disc is not None:
                    why += f" (its discriminant in $\\lambda$ is ${_g(_num(disc).real)} < 0$)"
                out.append(FixedPointAt(False, None, None, (), "", why))
                continue
            lamv = lamc.real
            if lamv <= 1e-12:
                out.append(FixedPointAt(False, lamv, None, (), "", f"$\\lambda^* = {_g(lamv)}$ is the collapsed mode "
                                        "($S = 0$), not a non-trivial fixed point"))
                continue
            sv = _num(fp.s.xreplace(sub)).real
            if sv <= 1e-12:
                out.append(FixedPointAt(False, lamv, sv, (), "", (
                    f"$s^* = (\\lambda^*)^{{1/\\alpha}} - \\epsilon = {_g(sv)} \\le 0$: "
                    f"$\\lambda^* = {_g(lamv)}$ is below what the predictor reaches for $s > 0$, so there is "
                    "no such fixed point")))
                continue
        J = fp.jacobian
        if lamv is not None:
            J = J.xreplace({lam_star: sp.Float(lamv), s_star: sp.Float(sv)})
        J = J.xreplace(sub)
        if J.shape == (2, 2) and no_ema:
            eig, reduced = (sp.N(J[0, 0] + J[0, 1]),), "S_t = S"
        else:
            eig, reduced = tuple(sp.N(e) for e in J.eigenvals(multiple=True)), "full"
        out.append(FixedPointAt(True, lamv, sv, eig, stability_in_words([_num(e) for e in eig]), "", reduced))
    return tuple(out)


@dataclass(frozen=True)
class TrainableAt:
    """:func:`trainable_theory` at numbers (S_t = S at a fixed point, so r = 1): lambda*+- with their
    stability, or why they are not real; the collapse threshold gamma_c."""

    points: tuple  # ((label, FixedPointAt), ...)
    threshold: float


def trainable_at(rule: Rule, values: dict) -> TrainableAt:
    th = trainable_theory(rule)
    sub = {**substitution(values), ema_ratio: sp.Integer(1)}
    thr = _num(th.threshold.xreplace(sub)).real
    pts = []
    for label, r, d in zip(("+", "-"), th.fixed_points, th.stability):
        v = _num(r.xreplace(sub))
        if abs(v.imag) > 1e-12 * max(1.0, abs(v)):
            pts.append((label, FixedPointAt(False, None, None, (), "", (
                f"the weight decay $\\gamma = {_g(float(sub[gamma]))}$ exceeds $\\gamma_c = {_g(thr)}$: every mode "
                "collapses"))))
        elif v.real <= 1e-12:
            pts.append((label, FixedPointAt(False, v.real, None, (), "",
                                            f"$\\lambda^* = {_g(v.real)}$: the collapsed mode")))
        else:
            e = sp.N(d.xreplace(sub))
            pts.append((label, FixedPointAt(True, v.real, None, (e,), stability_in_words([_num(e)]))))
    return TrainableAt(tuple(pts), thr)


def recruitment_at(rule: Rule, values: dict, lam0s=(1e-1, 1e-2, 1e-3)) -> tuple:
    """The weak-mode recruitment law (:func:`weak_mode_asymptotics`) at numbers: (law with the numbers
    substituted, ((lambda_0, T), ...)); T is an expression where the law keeps mode sums (cosine)."""
    a = weak_mode_asymptotics(rule)
    sub = substitution(values)
    law = _four_digits(a.leading.xreplace(sub))
    return law, tuple((x, _four_digits(law.xreplace({lam0: sp.Float(x)}))) for x in lam0s)


def _four_digits(e):
    """e with its numerical coefficient to 4 significant digits (the symbolic rest kept exact: sqrt stays sqrt)."""
    e = sp.sympify(e)
    if e.is_number:
        return sp.N(e, 4)
    c, rest = e.as_coeff_Mul()
    return sp.Mul(sp.N(c, 4), rest.xreplace({x: sp.N(x, 4) for x in rest.atoms(sp.Float)}))
