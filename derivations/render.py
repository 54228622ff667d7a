"""Render a rule's derivation for a slide: Markdown for GitHub ($...$ and $$...$$), a LaTeX document or a
Beamer deck with one frame per step (SPEC §3-4, §7).

Everything shown is produced from the same sympy objects the generated kernels use; numbers (when given) are
substituted into them and the fixed points classified by :mod:`.analysis`.
"""

from __future__ import annotations

import sympy as sp

from . import analysis
from .invariants import Vec, invariants_in, key_of, lam
from .losses import compact_loss, gradients
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


FORMATS = ("markdown", "latex", "beamer")

#: what a LaTeX or Beamer fragment needs from the document that includes it
PACKAGES = ("amsmath", "amssymb", "graphicx")

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "^": r"\^{}",
                 "~": r"\~{}", "{": r"\{", "}": r"\}", "§": r"\S{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def _latex_text(text: str) -> str:
    """Prose with inline $...$ math and **bold** as LaTeX: special characters escaped outside math."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise ValueError(f"unbalanced $ in {text!r}")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append("$" + part + "$")
        else:
            esc = "".join(_TEXT_ESCAPES.get(ch, ch) for ch in part)
            bold = esc.split("**")
            out.append("".join(r"\textbf{" + b + "}" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


class _Doc:
    """A document in one of FORMATS: headings, prose (inline $...$ math, **bold**), display math, lists.
    ``fragment``: the body only (LaTeX: no preamble; Beamer: the frames only; Markdown: no title)."""

    def __init__(self, fmt: str, fragment: bool = False):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.fmt, self.fragment, self.lines, self.title, self.in_frame = fmt, fragment, [], "", False

    def _t(self, text: str) -> str:
        return text if self.fmt == "markdown" else _latex_text(text)

    def h(self, text: str):
        """A section: its own heading (Markdown ##, LaTeX section*, Beamer one frame, breaking over pages)."""
        if self.fmt == "markdown":
            self.lines += ["## " + text, ""]
        elif self.fmt == "latex":
            self.lines += ["\\section*{" + self._t(text) + "}", ""]
        else:
            self._close_frame()
            self.lines += ["\\begin{frame}[allowframebreaks]{" + self._t(text) + "}", "\\small", ""]
            self.in_frame = True

    def _close_frame(self):
        if self.in_frame:
            self.lines += ["\\end{frame}", ""]
            self.in_frame = False

    def p(self, text: str):
        self.lines += [self._t(text), ""]

    def items(self, texts):
        texts = list(texts)
        if not texts:
            return
        if self.fmt == "markdown":
            self.lines += ["- " + t for t in texts] + [""]
        else:
            self.lines += ["\\begin{itemize}"] + ["\\item " + self._t(t) for t in texts] + ["\\end{itemize}", ""]

    def math(self, *eqs: str):
        for e in eqs:
            if self.fmt == "markdown":
                self.lines += ["$$", e, "$$", ""]
            else:  # shrunk to the line width where it is wider
                fit = "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}"
                self.lines += ["\\begin{equation*}", fit + "{$\\displaystyle " + e + "$}", "\\end{equation*}", ""]

    def text(self) -> str:
        self._close_frame()
        body = "\n".join(self.lines).rstrip() + "\n"
        if self.fmt == "markdown":
            return body if self.fragment else "# " + self.title + "\n\n" + body
        if self.fragment:
            return "% isodyn derive fragment; the including document loads " + ", ".join(PACKAGES) + "\n" + body
        title = self._t(self.title)
        if self.fmt == "latex":
            head = ["\\documentclass[11pt]{article}", "\\usepackage[T1]{fontenc}", "\\usepackage{lmodern}",
                    "\\usepackage{" + ",".join(PACKAGES) + "}", "\\usepackage[margin=2cm]{geometry}",
                    "\\title{" + title + "}", "\\date{}", "", "\\begin{document}", "\\maketitle", ""]
        else:
            head = ["\\documentclass[aspectratio=169]{beamer}", "\\usepackage[T1]{fontenc}", "\\usepackage{lmodern}",
                    "\\usepackage{" + ",".join(PACKAGES) + "}", "\\setbeamertemplate{navigation symbols}{}",
                    "\\title{" + title + "}", "\\date{}", "", "\\begin{document}",
                    "\\begin{frame}", "\\titlepage", "\\end{frame}", ""]
        return "\n".join(head) + "\n" + body + "\n\\end{document}\n"


#: the numbers a derivation can show, by library keyword: (symbol shown, command-line flag)
NUMBER_NAMES = {"alpha": (r"\alpha", "--alpha"), "eps": (r"\epsilon", "--eps"), "beta": (r"\beta", "--beta"),
                "sigma1": (r"\sigma_1", "--sigma-online"), "sigma2": (r"\sigma_2", "--sigma-target"),
                "weight_decay": (r"\gamma", "--weight-decay"), "ema": (r"\tau", "--ema"), "lr": (r"\eta", "--lr")}


def _n(x) -> str:
    """A number for math mode, 4 significant digits (1e-05 as 1 \\cdot 10^{-5})."""
    if isinstance(x, complex):
        if abs(x.imag) <= 1e-12 * max(1.0, abs(x)):
            x = x.real
        else:
            return sp.latex(sp.N(sp.Float(x.real) + sp.I * sp.Float(x.imag), 4))
    text = f"{float(x):.4g}"
    if "e" in text:
        m, e = text.split("e")
        return m + r" \cdot 10^{" + str(int(e)) + "}"
    return text


def derivation(rule: Rule, closure: str = "exact", fmt: str = "markdown", numbers: dict | None = None,
               given=(), fragment: bool = False) -> str:
    """The full derivation of ``rule`` as Markdown, a LaTeX document or a Beamer deck (one frame per step): the
    loss in its compact form and its gradients (SPEC §3), the eigenbasis form, the expected mode map and its ODE
    (SPEC §4), fixed points and stability, weak-mode asymptotics, and with ``rule.trainable`` the trained
    predictor (SPEC §7).

    numbers   None (symbolic only) or {keyword: value} for every key of NUMBER_NAMES: then the fixed points,
              their stability in words and the recruitment times are also shown at these numbers
    given     the keywords the user gave (the others are shown as defaults)
    fragment  the body only (no preamble; Beamer: the frames only)
    """
    d = _Doc(fmt, fragment)
    use_exact = rule.metric == "cosine" and closure == "exact"
    _header(d, rule, numbers, given)
    _gradients(d, rule)
    _mode_map(d, rule, closure, use_exact)
    _continuous_time(d, rule, closure, numbers)
    _fixed_points(d, rule, use_exact, numbers)
    _weak_mode_asymptotics(d, rule, numbers)
    if rule.trainable:
        _trainable_predictor(d, rule, closure, numbers)
    return d.text()


def _header(d: _Doc, rule: Rule, numbers, given) -> None:
    d.title = f"isodyn derivation: {rule.name}"
    d.h("Rule and notation")
    d.p(
        f"Metric **{rule.metric}**, variant **{rule.variant}**"
        + (f", IsoLoss-family exponent $\\beta = {_n(rule.beta)}$ (kept symbolic"
           + (", substituted where the numbers are shown)" if numbers is not None else ")")
           if rule.beta is not None else "")
        + (", trained predictor" if rule.trainable else "")
        + ". Predictor $W_P = U \\operatorname{diag}(\\lambda) U^T$ with $\\lambda_m = "
        + sp.latex(predictor_eigenvalue(rule.normalize))
        + "$"
        + (" (no predictor: $W_P = I$)" if not rule.has_predictor else "")
        + ", prediction $p = W_P z_1$. $\\operatorname{sg}(\\cdot)$ is the stop-gradient; "
        r"$\langle x, W_P^c y\rangle = \sum_k \lambda_k^c x_k y_k$."
    )
    if numbers is not None:
        d.p("Numbers substituted below, next to the symbolic forms:")
        unused = {"ema": "unused: no separate target network"} if not rule.has_target_network else {}
        d.items(f"${NUMBER_NAMES[k][0]} = {_n(v)}$ ({'given' if k in given else 'default'}, {NUMBER_NAMES[k][1]}"
                + (f"; {unused[k]}" if k in unused else "") + ")" for k, v in numbers.items() if v is not None)


def _gradients(d: _Doc, rule: Rule) -> None:
    """Sections 1-3: the per-sample loss (compact form), its gradients, and their eigenbasis components."""
    g = gradients(rule)
    d.h("1. Per-sample loss (SPEC §3)")
    if rule.beta is not None:
        d.p(r"IsoLoss family: the online gradient is $W_P^\beta\,\partial\ell/\partial p$ of the metric's loss "
            r"($\beta = 1$ standard, $\beta = 0$ iso):")
    d.math(_eq(r"\ell", sp.latex(compact_loss(rule), order="none")))
    d.h("2. Gradients")
    d.p("Derived by the chain rule through the inner products (nothing typed by hand):")
    d.math(_eq(r"\nabla_{z_1}\ell", _vec_tex(g.online)), _eq(r"\nabla_{z_2}\ell", _vec_tex(g.target)))
    d.h("3. Eigenbasis form (mode m)")
    d.p("In the predictor's eigenbasis, component $m$:")
    d.math(
        _eq(r"g_m = \frac{\partial\ell}{\partial z_{1,m}}", _tex(g.online_m)),
        _eq(r"h_m = \frac{\partial\ell}{\partial z_{2,m}}", _tex(g.target_m)),
    )


def _mode_map(d: _Doc, rule: Rule, closure: str, use_exact: bool) -> None:
    """Section 4: the expected mode drift G_m (closed form or a closure) and one step of the expected map."""
    d.h("4. Expected mode map (SPEC §4)")
    d.p(
        r"Linear network, $z_{1,k} = S_k a_k$, $z_{2,k} = S_{t,k} b_k$, with $(a_k, b_k)$ Gaussian, independent "
        r"across modes, of covariance"
    )
    d.math(r"\Sigma = \begin{pmatrix}1+\sigma_1^2 & 1\\ 1 & 1+\sigma_2^2\end{pmatrix}")
    d.p(r"The expected descent direction of mode $m$ is $G_m = -\mathbb{E}[g_m a_m] - \mathbb{E}[h_m b_m]$."
        + ("" if rule.has_target_network else r" Here the target branch is the online network: $S_t = S$."))
    if rule.metric == "euclidean":
        md = mode_drift(rule)
        d.math(_eq("G_m", _tex(md.drift)))
    elif use_exact:
        _render_exact(d, exact_closure(rule))
    else:
        md = mode_drift(rule, "mean-field")
        d.p("Mean-field closure: every inner product is replaced by its expectation (a sum over modes):")
        d.math(*[_eq(_tex(ms.symbol), r"\sum_k " + _tex(_modek(ms.summand))) for ms in md.sums])
        d.math(_eq("G_m", _tex(md.drift)))
    emap = analysis.expected_map(rule, closure)
    d.p(r"One step of expected gradient descent (learning rate $\eta$, weight decay $\gamma$, EMA $\tau$):")
    d.math(*[_eq(sp.latex(k) + "'", sp.latex(v)) for k, v in emap.items()])


def _continuous_time(d: _Doc, rule: Rule, closure: str, numbers) -> None:
    """Section 5: the ODE, t = eta step; at the numbers when given."""
    d.h("5. Continuous-time limit (ODE)")
    d.p(r"$t = \eta\,\mathrm{step}$, $\kappa = (1-\tau)/\eta$:")
    rhs = analysis.ode(rule, closure)
    d.math(*[_eq(r"\frac{d" + sp.latex(k) + "}{dt}", sp.latex(v)) for k, v in rhs.items()])
    if numbers is not None:
        sub = analysis.substitution(numbers)
        d.p("At the numbers"
            + (", with $\\lambda_m = " + sp.latex(predictor_eigenvalue(rule.normalize).xreplace(sub)) + "$"
               if rule.has_predictor and not rule.trainable else "") + ":")
        d.math(*[_eq(r"\frac{d" + sp.latex(k) + "}{dt}", sp.latex(sp.N(v.xreplace(sub), 4))) for k, v in rhs.items()])


def _never_real(fp) -> sp.Expr | None:
    """The discriminant D of a quadratic fixed-point condition when it is <= 0 for every admissible parameter
    (the roots are then never real, except where D = 0), else None."""
    cond = fp.condition
    if not isinstance(cond, sp.Equality) or fp.lam is None:
        return None
    f = sp.expand(cond.lhs - cond.rhs)
    if not f.has(lam) or sp.Poly(f, lam).degree() != 2:
        return None
    D = sp.factor(sp.discriminant(f, lam))
    return D if D.is_nonpositive else None


def _fixed_points(d: _Doc, rule: Rule, use_exact: bool, numbers) -> None:
    """Section 6: fixed points, their Jacobians and stability conditions; at the numbers when given."""
    d.h("6. Fixed points and stability")
    if use_exact:
        d.p("(shown for the mean-field closure, which shares the exact closure's fixed points on isotropic spectra)")
    fps = analysis.fixed_points(rule)
    never = _never_real(fps[0])
    if never is not None:
        d.p("The fixed-point condition")
        d.math(sp.latex(fps[0].condition))
        zero = {x: 0 for x in never.free_symbols}
        f = sp.expand(fps[0].condition.lhs - fps[0].condition.rhs)
        lead = sp.Poly(f, lam).LC()
        at_zero = [r for r in sp.solve(f.xreplace(zero), lam) if r.is_real] if never.xreplace(zero) == 0 else []
        names = ", ".join(sp.latex(x) for x in sorted(never.free_symbols, key=str))
        d.p("is quadratic in $\\lambda_m$ with discriminant $D = " + sp.latex(never) + " \\le 0$: **no real fixed "
            "point** wherever $D < 0$"
            + (" (at $" + names.replace(", ", " = ") + " = 0$: $D = 0$, the double root $\\lambda^* = "
               + ", ".join(sp.latex(r) for r in at_zero) + "$)" if at_zero else "")
            + "."
            + (" The leading coefficient $" + sp.latex(lead) + "$ is negative, so $G_m - \\gamma S_m \\le 0$ for every "
               "$\\lambda_m$: every mode decays (collapse)." if lead.is_negative else ""))
    else:
        _symbolic_fixed_points(d, fps)
    if numbers is not None:
        _fixed_points_at(d, rule, numbers)


def _symbolic_fixed_points(d: _Doc, fps) -> None:
    """The condition once, every root (lambda*, s*), then the linearisation (shared by the roots: it is written
    in lambda*, s*)."""
    fp = fps[0]
    d.p(fp.note[0].upper() + fp.note[1:] + ". Condition:")
    d.math(sp.latex(fp.condition))
    roots = [x for x in fps if x.lam is not None]
    for i, x in enumerate(roots):
        sub = "" if len(roots) == 1 else "_{" + str(i + 1) + "}"
        d.math(_eq(r"\lambda^*" + sub, sp.latex(x.lam)))
        if x.s is not None:
            d.math(_eq(r"s^*" + sub, sp.latex(x.s)))
    f = sp.expand(fp.condition.lhs - fp.condition.rhs) if isinstance(fp.condition, sp.Equality) else None
    if roots and f is not None and f.has(lam) and sp.Poly(f, lam).degree() == 2:
        D = sp.factor(sp.discriminant(f, lam))
        if not D.is_nonnegative:
            d.p("Real only where the discriminant $D = " + sp.latex(D) + " \\ge 0$.")
    for x in fps[1:]:
        if x.jacobian != fp.jacobian:
            raise AssertionError("fixed points of one condition with different linearisations")
    J = fp.jacobian
    d.p("Linearisation" + (" at each root" if len(roots) > 1 else "") + ":")
    d.math(_eq("J", sp.latex(J)))
    if J.shape == (2, 2):
        d.p(r"Stable iff $\operatorname{tr} J < 0$ and $\det J > 0$; without EMA ($S_t = S$) the single eigenvalue "
            r"is $J_{11} + J_{12}$:")
        d.math(
            _eq(r"\operatorname{tr} J", sp.latex(sp.simplify(J.trace()))),
            _eq(r"\det J", sp.latex(sp.factor(sp.simplify(J.det())))),
            _eq(r"J_{11} + J_{12}", sp.latex(sp.factor(sp.simplify(J[0, 0] + J[0, 1])))),
        )
    else:
        d.math(r"\operatorname{eig} J \in \left\{" + ",\\; ".join(sp.latex(e) for e in fp.eigenvalues) + r"\right\}")


def _fixed_points_at(d: _Doc, rule: Rule, numbers) -> None:
    d.p("**At the numbers:**")
    rows, seen = [], set()
    for fp in analysis.fixed_points_at(rule, numbers):
        if not fp.exists:
            if fp.reason not in seen:
                seen.add(fp.reason)
                rows.append(("no real fixed point: " if "real root" in fp.reason else "no fixed point: ")
                            + fp.reason + ".")
            continue
        what = []
        if fp.lam is not None:
            what.append(f"$\\lambda^* = {_n(fp.lam)}$")
        if fp.s is not None:
            what.append(f"$s^* = {_n(fp.s)}$" + (" (in units of $\\max s$)" if rule.normalize else ""))
        where = ", ".join(what) if what else (
            r"isotropic spectra $\lambda_k = \bar{\lambda}$, any scale" if rule.metric == "cosine"
            else "every amplitude $S_m$ (zero drift)")
        eig = ", ".join(sp.latex(sp.N(e, 4)) for e in fp.eigenvalues)
        lin = (f"eigenvalue $J_{{11}} + J_{{12}} = {eig}$, no EMA: $S_t = S$" if fp.reduced == "S_t = S"
               else f"eigenvalues of $J$: ${eig}$")
        rows.append(f"{where}: **{fp.stability}** ({lin})")
    d.items(rows)
    if rule.normalize and rule.metric == "euclidean":
        d.p(r"(with the normalised predictor the linearisation above is that of $\lambda = (s + \epsilon)^\alpha$, "
            r"i.e. it holds for modes other than the largest)")
    if rule.metric == "cosine" and numbers.get("sigma1"):
        d.p(r"(the Jacobian of the line is taken at $\sigma_1 = 0$)")


def _weak_mode_asymptotics(d: _Doc, rule: Rule, numbers) -> None:
    """Section 7: the learning-rate multiplier, as lambda_m -> 0 (or why the rule has none); at the numbers."""
    d.h("7. Weak-mode asymptotics (learning-rate multiplier)")
    try:
        a = analysis.weak_mode_asymptotics(rule)
    except ValueError as e:
        why = str(e).split(": ", 1)[-1]
        d.p(why[0].upper() + why[1:] + ".")
        return
    d.p(r"With $\sigma_1 = 0$, $S_t = S$, $\gamma = 0$, $\epsilon = 0$, $\lambda = s^\alpha$, as $\lambda_m \to 0$:")
    d.math(
        _eq(r"\frac{1}{S_m}\frac{dS_m}{dt}", _tex(a.rate_leading)),
        _eq(r"\frac{ds_m}{dt}", _tex(a.ds_dt)),
        _eq(r"T(s_0 \to s_1)", _tex(a.time)),
        r"T_{\mathrm{recruit}} \sim " + _tex(a.leading) + r"\quad (\lambda_0 \to 0)",
    )
    if numbers is None:
        return
    law, times = analysis.recruitment_at(rule, numbers)
    d.p("**At the numbers:**")
    d.math(r"T_{\mathrm{recruit}} \sim " + _tex(law))
    lr = numbers.get("lr")
    rows = []
    for x, T in times:
        row = f"$\\lambda_0 = {_n(x)}$: $T \\approx {_tex(T)}$"
        if T.is_number and lr:
            steps = float(T) / lr
            row += (f", about ${_n(steps)}$ steps" if steps >= 1 else ", under one step") + f" at $\\eta = {_n(lr)}$"
        rows.append(row)
    d.items(rows)
    off = [NUMBER_NAMES[k][0] + " = " + _n(numbers[k]) for k in ("sigma1", "weight_decay", "eps") if numbers.get(k)]
    if off:
        d.p("(the law is for $\\sigma_1 = \\gamma = \\epsilon = 0$; not in it: $" + "$, $".join(off) + "$)")


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
        r"Exact closure: $\lVert p\rVert^{-r} = \Gamma(r/2)^{-1}\int_0^\infty t^{r/2-1} e^{-t\lVert p\rVert^2} dt$ "
        r"(likewise $\lVert z_2\rVert^{-q}$ with $u$); for fixed $(t, u)$ the Gaussian weight factorises over modes. "
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
        r"$\lVert p\rVert^{-r}$, $\lVert z_2\rVert^{-q}$):"
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
            f"\\lVert p\\rVert^{{-{tm.r}}} \\lVert z_2\\rVert^{{-{tm.q}}}"
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


def render(rule: Rule, closure: str = "exact", fmt: str = "markdown", **kw) -> str:
    """Alias of :func:`derivation`."""
    return derivation(rule, closure, fmt, **kw)


def _trainable_predictor(d: _Doc, rule: Rule, closure: str, numbers) -> None:
    """Section 8: a predictor trained by gradient descent (SPEC §7): its loss and gradient, the expected drift
    H_m of its eigenvalues, the ODE with lambda a state, and (Euclidean standard) Tian's invariant, fixed points
    and collapse threshold, at the numbers when given."""
    from .losses import predictor_gradient, predictor_loss
    from .modes import predictor_drift

    d.h("8. Trainable predictor (SPEC §7)")
    d.p(r"$W_P \leftarrow W_P - \eta(\alpha_p\,\partial L/\partial W_P + \gamma_p W_P)$ with "
        r"$\partial\ell/\partial W_P = (\partial\ell/\partial p)\,z_1^T$ of the loss the predictor descends "
        r"(IsoLoss surrogates and the family: the metric's standard loss, $z_1$ held fixed). Aligned with the "
        r"representation, its eigenvalues $\lambda_m$ are a per-mode state:")
    d.math(_eq(r"\ell_P", _tex(predictor_loss(rule))),
           _eq(r"\frac{\partial\ell_P}{\partial\lambda_m}", _tex(predictor_gradient(rule))))
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
    if numbers is None:
        return
    at = analysis.trainable_at(rule, numbers)
    d.p(f"**At the numbers** (a fixed point has $S_t = S$, so ${r} = 1$; $\\gamma_p = \\gamma$): "
        f"$\\gamma_c = {_n(at.threshold)}$.")
    rows, seen = [], set()
    for label, fp in at.points:
        if fp.exists:
            rows.append(f"$\\lambda^*_{label} = {_n(fp.lam)}$: **{fp.stability}** "
                        f"($f' = {sp.latex(sp.N(fp.eigenvalues[0], 4))}$)")
        elif fp.reason not in seen:
            seen.add(fp.reason)
            rows.append("no real fixed point: " + fp.reason + "." if "exceeds" in fp.reason
                        else "no fixed point: " + fp.reason + ".")
    d.items(rows)
