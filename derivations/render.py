"""Render a rule's derivation for a slide: Markdown (with $$ math) or LaTeX (SPEC §3-4).

Everything shown is produced from the same sympy objects the generated kernels use.
Frozen (stop-gradient) quantities are shown with an overline.
"""

from __future__ import annotations

import sympy as sp

from . import analysis
from .invariants import Vec, invariants_in, key_of
from .losses import gradients, per_sample_loss
from .modes import ExactClosure, exact_closure, mode_drift, predictor_eigenvalue
from .rules import Rule


def _vec_name(base: str) -> str:
    v = "z_{" + base[1] + "}"
    return r"\overline{" + v + "}" if base.endswith("~") else v


def _power(c) -> str:
    return "" if c == 0 else ("W_P " if c == 1 else "W_P^{" + sp.latex(c) + "} ")


def _display(expr):
    """Replace invariant and sum symbols by readable LaTeX symbols."""
    sub = {}
    for q in invariants_in(expr):
        k = key_of(q)
        sub[q] = sp.Symbol(r"\langle " + _vec_name(k.x) + ", " + _power(k.c) + _vec_name(k.y) + r"\rangle")
    for sym in expr.free_symbols:
        n = sym.name
        if n.startswith(("E[", "T[")):
            pair, _, c = n[2:-1].partition("^")
            x, y = pair[:2], pair[2:]
            inner = (
                r"\langle "
                + _vec_name(x)
                + ", "
                + _power(sp.sympify(c.strip("{}")) if c else 0)
                + _vec_name(y)
                + r"\rangle"
            )
            sub[sym] = sp.Symbol((r"\mathbb{E}" if n[0] == "E" else r"\mathbb{E}_{t,u}") + inner)
    return expr.xreplace(sub)


def _tex(expr) -> str:
    return sp.latex(_display(sp.sympify(expr)))


def _vec_tex(v: Vec) -> str:
    if not v.terms:
        return "0"
    parts = []
    for c, p, b in v.terms:
        c = sp.simplify(c)
        coef = _tex(c)
        if c == 1:
            coef = ""
        elif c == -1:
            coef = "-"
        elif isinstance(c, sp.Add):
            coef = r"\left(" + coef + r"\right)"
        parts.append(coef + " " + _power(p) + _vec_name(b))
    return " + ".join(parts).replace("+ -", "- ")


def _eq(lhs: str, rhs: str) -> str:
    return lhs + " = " + rhs


class _Doc:
    def __init__(self, fmt: str):
        self.fmt, self.lines = fmt, []

    def h(self, text: str, level: int = 2):
        if self.fmt == "markdown":
            self.lines += ["#" * level + " " + text, ""]
        else:
            self.lines += [("\\section*{" if level <= 2 else "\\subsection*{") + text + "}", ""]

    def p(self, text: str):
        self.lines += [text, ""]

    def math(self, *eqs: str):
        for e in eqs:
            if self.fmt == "markdown":
                self.lines += ["$$", e, "$$", ""]
            else:
                self.lines += ["\\begin{equation*}", e, "\\end{equation*}", ""]

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def derivation(rule: Rule, closure: str = "exact", fmt: str = "markdown") -> str:
    """The full derivation of ``rule`` as Markdown or LaTeX text: the loss and its gradients (SPEC §3), the
    expected mode map and its ODE (SPEC §4), fixed points and stability, weak-mode asymptotics."""
    if fmt not in ("markdown", "latex"):
        raise ValueError(f"format must be markdown or latex, got {fmt!r}")
    d = _Doc(fmt)
    use_exact = rule.metric == "cosine" and closure == "exact"
    _header(d, rule)
    _gradients(d, rule)
    _mode_map(d, rule, closure, use_exact)
    _continuous_time(d, rule, closure)
    _fixed_points(d, rule, use_exact)
    _weak_mode_asymptotics(d, rule)
    if rule.trainable:
        _trainable_predictor(d, rule, closure)
    return d.text()


def _header(d: _Doc, rule: Rule) -> None:
    d.h(f"isodyn derivation: {rule.name}", 1)
    d.p(
        f"Metric **{rule.metric}**, variant **{rule.variant}**"
        + (f", IsoLoss-family exponent beta = {rule.beta:g} (kept symbolic)" if rule.beta is not None else "")
        + ". Predictor $W_P = U \\operatorname{diag}(\\lambda) U^T$ with "
        + "$"
        + sp.latex(predictor_eigenvalue(rule.normalize))
        + "$"
        + (" (no predictor: $W_P = I$)" if not rule.has_predictor else "")
        + ". Overlines mark stop-gradient (frozen) quantities; "
        + r"$\langle x, W_P^c y\rangle = \sum_k \lambda_k^c x_k y_k$."
    )


def _gradients(d: _Doc, rule: Rule) -> None:
    """Sections 1-3: the per-sample loss, its gradients, and their eigenbasis components."""
    g = gradients(rule)
    d.h("1. Per-sample loss (SPEC §3)")
    d.math(_eq(r"\ell", _tex(per_sample_loss(rule))))
    d.h("2. Gradients (derived by the chain rule through the invariants)")
    d.math(_eq(r"\nabla_{z_1}\ell", _vec_tex(g.online)), _eq(r"\nabla_{z_2}\ell", _vec_tex(g.target)))
    d.h("3. In the predictor's eigenbasis (mode m)")
    d.math(
        _eq(r"g_m = \partial\ell/\partial z_{1,m}", _tex(g.online_m)),
        _eq(r"h_m = \partial\ell/\partial z_{2,m}", _tex(g.target_m)),
    )


def _mode_map(d: _Doc, rule: Rule, closure: str, use_exact: bool) -> None:
    """Section 4: the expected mode drift G_m (closed form or a closure) and one step of the expected map."""
    d.h("4. Expected mode map of the linear network (SPEC §4)")
    d.p(
        r"With $z_{1,k} = S_k a_k$, $z_{2,k} = S_{t,k} b_k$, $(a_k, b_k)$ Gaussian with covariance "
        r"$\Sigma = \begin{pmatrix}1+\sigma_1^2 & 1\\ 1 & 1+\sigma_2^2\end{pmatrix}$, independent across modes: "
        r"$G_m = -\mathbb{E}[g_m a_m] - \mathbb{E}[h_m b_m]$."
        + ("" if rule.has_target_network else r" Here the target branch is the online network: $S_t = S$.")
    )
    if rule.metric == "euclidean":
        md = mode_drift(rule)
        d.math(_eq("G_m", _tex(md.drift)))
    elif use_exact:
        _render_exact(d, exact_closure(rule))
    else:
        md = mode_drift(rule, "mean-field")
        d.p("Mean-field closure: every invariant is replaced by its expectation (a sum over modes):")
        d.math(*[_eq(_tex(ms.symbol), r"\sum_k " + _tex(_modek(ms.summand))) for ms in md.sums])
        d.math(_eq("G_m", _tex(md.drift)))
    emap = analysis.expected_map(rule, closure)
    d.p(r"One step of expected gradient descent (learning rate $\eta$, weight decay $\gamma$, EMA $\tau$):")
    d.math(*[_eq(sp.latex(k) + "'", sp.latex(v)) for k, v in emap.items()])


def _continuous_time(d: _Doc, rule: Rule, closure: str) -> None:
    """Section 5: the ODE, t = eta step."""
    d.h("5. Continuous-time limit", 2)
    d.p(r"$t = \eta\,\mathrm{step}$, $\kappa = (1-\tau)/\eta$:")
    d.math(
        *[
            _eq(r"\frac{d" + sp.latex(k) + "}{dt}", sp.latex(v))
            for k, v in analysis.ode(rule, closure).items()
        ]
    )


def _fixed_points(d: _Doc, rule: Rule, use_exact: bool) -> None:
    """Section 6: fixed points, their Jacobians and stability conditions."""
    d.h("6. Fixed points and stability")
    if use_exact:
        d.p(
            "(shown for the mean-field closure, which shares the exact closure's fixed points on isotropic spectra)"
        )
    for fp in analysis.fixed_points(rule):
        d.p(fp.note + ".")
        d.math(sp.latex(fp.condition))
        if fp.lam is not None:
            d.math(_eq(r"\lambda^*", sp.latex(fp.lam)))
        if fp.s is not None:
            d.math(_eq(r"s^*", sp.latex(fp.s)))
        J = fp.jacobian
        d.math(_eq("J", sp.latex(J)))
        if J.shape == (2, 2):
            d.p(
                "Stable iff tr J < 0 and det J > 0; without EMA (S_t = S) the single eigenvalue is J_11 + J_12:"
            )
            d.math(
                _eq(r"\operatorname{tr} J", sp.latex(sp.simplify(J.trace()))),
                _eq(r"\det J", sp.latex(sp.factor(sp.simplify(J.det())))),
                _eq(r"J_{11} + J_{12}", sp.latex(sp.factor(sp.simplify(J[0, 0] + J[0, 1])))),
            )
        else:
            d.math(
                r"\operatorname{eig} J \in \left\{"
                + ",\\; ".join(sp.latex(e) for e in fp.eigenvalues)
                + r"\right\}"
            )


def _weak_mode_asymptotics(d: _Doc, rule: Rule) -> None:
    """Section 7: the learning-rate multiplier, as lambda_m -> 0 (or why the rule has none)."""
    d.h("7. Weak-mode asymptotics (learning-rate multiplier)")
    try:
        a = analysis.weak_mode_asymptotics(rule)
        d.p(
            r"With $\sigma_1 = 0$, $S_t = S$, $\gamma = 0$, $\epsilon = 0$, $\lambda = s^\alpha$, as $\lambda_m \to 0$:"
        )
        d.math(
            _eq(r"\frac{1}{S_m}\frac{dS_m}{dt}", _tex(a.rate_leading)),
            _eq(r"\frac{ds_m}{dt}", _tex(a.ds_dt)),
            _eq(r"T(s_0 \to s_1)", _tex(a.time)),
            r"T_{\mathrm{recruit}} \sim " + _tex(a.leading) + r"\quad (\lambda_0 \to 0)",
        )
    except ValueError as e:
        d.p(str(e))


def _modek(expr):
    """Mode-m symbols -> mode-k symbols, for sums over modes."""
    from .gaussian import Kaa, Kab, Kbb
    from .invariants import lam
    from .modes import S, St

    k = {
        S: sp.Symbol("S_k"),
        St: sp.Symbol("S_{t,k}"),
        lam: sp.Symbol("lambda_k"),
        Kaa: sp.Symbol("K_{k,aa}"),
        Kab: sp.Symbol("K_{k,ab}"),
        Kbb: sp.Symbol("K_{k,bb}"),
    }
    return expr.xreplace(k)


def _render_exact(d: _Doc, c: ExactClosure):
    from .modes import A_sym, B_sym

    d.p(
        r"Exact closure: $\|p\|^{-r} = \Gamma(r/2)^{-1}\int_0^\infty t^{r/2-1} e^{-t\|p\|^2} dt$ "
        r"(likewise $\|z_2\|^{-q}$ with $u$); for fixed $(t, u)$ the Gaussian weight factorises over modes. "
        r"Per mode, $D_m = \operatorname{diag}(2tA_m, 2uB_m)$ with"
    )
    d.math(
        _eq(sp.latex(A_sym), _tex(c.A)),
        _eq(sp.latex(B_sym), _tex(c.B)),
        _eq(r"Z_m^{-2} = \det(I + \Sigma D_m)", sp.latex(c.det)),
    )
    d.p(r"and the tilted covariance $K_m = (\Sigma^{-1} + D_m)^{-1}$:")
    d.math(*[_eq(n, sp.latex(x)) for n, x in zip(("K_{aa}", "K_{ab}", "K_{bb}"), c.K)])
    d.p(
        r"Terms of $-g_m a_m - h_m b_m$ (powers of $a_m$, $b_m$, invariant in the numerator, "
        r"$\|p\|^{-r}$, $\|z_2\|^{-q}$):"
    )
    rows = []
    for tm in c.terms:
        num = (
            ""
            if tm.numerator is None
            else (
                r"\langle "
                + _vec_name(tm.numerator.x)
                + ", "
                + _power(tm.numerator.c)
                + _vec_name(tm.numerator.y)
                + r"\rangle"
            )
        )
        rows.append(
            f"{_tex(tm.coef)}\\; a_m^{{{tm.i}}} b_m^{{{tm.j}}}\\; {num}\\; "
            f"\\|p\\|^{{-{tm.r}}} \\|z_2\\|^{{-{tm.q}}}"
        )
    d.math(*rows)
    if c.sums_K:
        d.p("Tilted sums over all modes:")
        d.math(*[_eq(_tex(ms.symbol), r"\sum_k " + _tex(_modek(ms.summand))) for ms in c.sums_K])
    d.math(
        _eq(
            "G_m",
            r"\int_0^\infty\!\!\int_0^\infty \Big(\prod_k Z_k\Big)\, \Big["
            + _tex(c.integrand_K)
            + r"\Big]\, dt\, du",
        )
    )


def render(rule: Rule, closure: str = "exact", fmt: str = "markdown") -> str:
    """Alias of :func:`derivation`."""
    return derivation(rule, closure, fmt)


def _trainable_predictor(d: _Doc, rule: Rule, closure: str) -> None:
    """Section 8: a predictor trained by gradient descent (SPEC §7): its loss and gradient, the expected drift
    H_m of its eigenvalues, the ODE with lambda a state, and (Euclidean standard) Tian's invariant, fixed points
    and collapse threshold."""
    from .losses import predictor_gradient, predictor_loss
    from .modes import predictor_drift

    d.h("8. Trainable predictor (SPEC §7)")
    d.p(r"$W_P \leftarrow W_P - \eta(\alpha_p\,\partial L/\partial W_P + \gamma_p W_P)$ with "
        r"$\partial\ell/\partial W_P = (\partial\ell/\partial p)\,z_1^T$ of the loss the predictor descends "
        r"(IsoLoss surrogates and the family: the metric's standard loss, $z_1$ held fixed). Aligned with the "
        r"representation, its eigenvalues $\lambda_m$ are a per-mode state:")
    d.math(_eq(r"\ell_P", _tex(predictor_loss(rule))),
           _eq(r"\partial\ell_P/\partial\lambda_m", _tex(predictor_gradient(rule))))
    if rule.metric == "cosine" and closure == "exact":
        d.p(r"$H_m = -\mathbb{E}[\partial\ell_P/\partial\lambda_m]$ by the exact closure (as $G_m$, section 4); "
            r"its mean-field form:")
    md = predictor_drift(rule)
    if md.sums:
        d.math(*[_eq(_tex(ms.symbol), r"\sum_k " + _tex(_modek(ms.summand))) for ms in md.sums])
    d.math(_eq("H_m", _tex(md.drift)))
    d.p("The mode ODE with the predictor's eigenvalues as a state:")
    d.math(*[_eq(r"\frac{d" + sp.latex(k) + "}{dt}", sp.latex(v))
             for k, v in analysis.trainable_ode(rule, closure).items()])
    try:
        th = analysis.trainable_theory(rule)
    except ValueError:
        return
    r = sp.latex(analysis.ema_ratio)
    d.p(r"Invariant (Tian et al., Theorem 1; $\sigma_1 = 0$, $S_t = S$, $\gamma_p = \gamma$):")
    d.math(_eq(r"I", sp.latex(th.invariant)), _eq(r"\frac{dI}{dt}", sp.latex(sp.factor(th.invariant_rate))))
    d.p(rf"On the parabola $S^2 = \lambda^2/\alpha_p$ with $S_t = {r} S$:")
    d.math(_eq(r"\frac{d\lambda}{dt}", sp.latex(th.reduced_flow)),
           _eq(r"\lambda^*_+", sp.latex(th.fixed_points[0])), _eq(r"\lambda^*_-", sp.latex(th.fixed_points[1])))
    d.p(r"$\lambda^*_+$ is stable and $\lambda^*_-$ unstable (the separatrix) where they are real:")
    d.math(*[_eq(rf"f'(\lambda^*_{sgn})", sp.latex(s)) for sgn, s in zip("+-", th.stability)])
    d.p("Every mode collapses above the weight decay")
    d.math(_eq(r"\gamma_c", sp.latex(th.threshold)))
