"""A rule's kernel module: derivations/ sympy expressions -> numba kernels and NumPy/CuPy twins.

One module per rule structure (metric, variant, IsoLoss family), rendered from
``templates/kernels.py.j2``, written atomically into the kernel cache (:mod:`.cache`) and imported
from there, so numba's ``cache=True`` persists the machine code next to it.

Generated functions (parameters are run-time arguments; nothing is regenerated when alpha, sigma or
beta change):

  invariants(xp, Z1, Z2, lam, beta)        -> tuple of (n, 1) arrays, the Q's of the gradients
  grad_online(xp, Z1, Z2, lam, beta, Q)    -> (n, M) dl/dz1 in the predictor eigenbasis
  grad_target(xp, Z1, Z2, lam, beta, Q)    -> (n, M) dl/dz2
  sample_gradients(Z1, Z2, lam, beta, g_on, g_tg)   numba: the same three in one loop over the samples,
                                         written into g_on, g_tg (n, M) (float32 or float64; sums in float64)
  eigenvalues(S, sigma1, alpha, eps, normalize, s_out, lam_out)   numba: s_m and lambda_m from S_m (imported
                                         from the shared module of templates/eigenvalues.py.j2)
  drift(S, St, lam, sigma1, sigma2, beta, out)        numba: G_m, Euclidean closed form or cosine mean-field
  drift_np(S, St, lam, sigma1, sigma2, beta)           NumPy twin, arrays (..., M)
  exact_integrand(t, u, S, St, lam, sigma1, sigma2, beta, out)   numba, cosine only:
                                         out[m] = prod_k Z_k * integrand_m at (t, u)
  exact_integrand_np(t, u, S, St, lam, sigma1, sigma2, beta)  NumPy twin, t, u broadcast (...,) -> (..., M)

and, as source text for the integrator generator (:mod:`.integrators`, which needs no sympy):
LAMBDA_ELEMENTWISE, AMPLITUDE, DRIFT_ELEMENTWISE, MAP_STEP, ODE_STEP, LAG_STEP, LAG_ODE, KAPPA.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .cache import fastmath_hash, indexed_modules, load_module, module_file, record_module, store_source
from .printing import cse_lines, hoist_point_terms, mode_symbols, printer
from .templating import render

_LOADED: dict = {}
_ELEMENT = ("S_k", "St_k", "lam_k")  # the per-mode names of the generated loops; the rest is per point


def _uses(lines, name: str) -> bool:
    return any(re.search(rf"\b{name}\b", ln) for ln in lines)


def _loads(lines) -> list[str]:
    """The element loads "S_k = S[k]" ... that ``lines`` use (only those: no unused locals)."""
    return [f"{n}_k = {n}[k]" for n in ("S", "St", "lam") if _uses(lines, f"{n}_k")]


def _np_loads(lines) -> list[str]:
    """The NumPy twins' loads of the same names (St broadcast against S)."""
    arrays = {"S_k": "S", "St_k": "St + 0 * S", "lam_k": "lam"}
    return [f"{n} = {a}" for n, a in arrays.items() if _uses(lines, n)]


def _mentions(ctx, text: str) -> bool:
    """Does any string in the (nested) template context contain ``text``?"""
    if isinstance(ctx, str):
        return text in ctx
    if isinstance(ctx, dict):
        return any(_mentions(v, text) for v in ctx.values())
    if isinstance(ctx, (list, tuple)):
        return any(_mentions(v, text) for v in ctx)
    return False


def _gradient_context(rule) -> dict:
    import sympy as sp

    from isodyn.derivations import gradients
    from isodyn.derivations.invariants import beta as beta_sym
    from isodyn.derivations.invariants import component, invariants_in, key_of, lam

    g = gradients(rule)
    on, tg = g.online.component(), g.target.component()
    if not rule.has_predictor:
        on, tg = on.xreplace({lam: 1}), tg.xreplace({lam: 1})
    invs = sorted(set(invariants_in(on)) | set(invariants_in(tg)), key=str)
    names = {component("z1"): sp.Symbol("Z1"), component("z2"): sp.Symbol("Z2"), lam: sp.Symbol("lam"),
             beta_sym: sp.Symbol("beta")}
    for i, q in enumerate(invs):
        names[q] = sp.Symbol(f"Q[{i}]")
    pr = printer("xp")
    inv = []
    for q in invs:
        k = key_of(q)
        x, y = k.live_pair
        inv.append({"c": pr(k.c.xreplace({beta_sym: sp.Symbol("beta")})), "x": repr(x), "y": repr(y)})
    functions = []
    for name, expr in (("grad_online", on), ("grad_target", tg)):
        lines, (final,) = cse_lines([sp.simplify(expr).xreplace(names)], "xp", "x")
        functions.append({"name": name, "lines": lines, "final": final})
    # the same expressions one sample and one mode at a time (numba loop of sample_gradients): Z1_k, Z2_k,
    # lam_k the elements, Q<i> the sample's invariants
    scalar = {component("z1"): sp.Symbol("Z1_k"), component("z2"): sp.Symbol("Z2_k"), lam: sp.Symbol("lam_k"),
              beta_sym: sp.Symbol("beta")}
    for i, q in enumerate(invs):
        scalar[q] = sp.Symbol(f"Q{i}")
    mpr = printer("math")
    elements = {"z1": "Z1_k", "z2": "Z2_k"}
    inv_terms = [f"lam_k ** ({mpr(key_of(q).c.xreplace({beta_sym: sp.Symbol('beta')}))}) * "
                 f"{elements[key_of(q).live_pair[0]]} * {elements[key_of(q).live_pair[1]]}" for q in invs]
    # what is the same for every mode of a sample (powers of its invariants) is computed once per sample
    element = {sp.Symbol("Z1_k"), sp.Symbol("Z2_k"), sp.Symbol("lam_k")}
    on_reps, on_mode = hoist_point_terms(sp.simplify(on).xreplace(scalar), element, "P")
    tg_reps, tg_mode = hoist_point_terms(sp.simplify(tg).xreplace(scalar), element, "T")
    spr = printer("math-sqrt")
    sample_lines = [f"{sym} = {spr(val)}" for sym, val in on_reps + tg_reps]
    lines, finals = cse_lines([on_mode, tg_mode], "math-sqrt", "y")
    def loads(text):  # only the elements ``text`` uses (no unused locals)
        return [f"{v} = {a}[i, k]" if v != "lam_k" else "lam_k = lam[k]"
                for v, a in (("lam_k", "lam"), ("Z1_k", "Z1"), ("Z2_k", "Z2")) if _uses(text, v)]

    loop = {"invariant_terms": inv_terms, "sample_lines": sample_lines, "lines": lines, "online": finals[0],
            "target": finals[1],
            "sum_loads": loads(inv_terms), "mode_loads": loads([*lines, *finals])}
    return {"invariants": inv, "functions": functions, "loop": loop}


def _predictor_context(rule) -> dict:
    import sympy as sp

    from isodyn.derivations.modes import (
        S,
        alpha,
        amplitude,
        correlation_eigenvalue,
        eps,
        predictor_eigenvalue,
        s,
        s_max,
        sigma1,
    )

    pr = printer("math")
    names = {S: sp.Symbol("S_k"), sigma1: sp.Symbol("sigma1"), alpha: sp.Symbol("alpha"), eps: sp.Symbol("eps"),
             s: sp.Symbol("s_k"), s_max: sp.Symbol("smax")}
    corr_expr = correlation_eigenvalue().xreplace(names)
    # the same with its per-point factor named (C<i>, e.g. 1 + sigma1^2), for loops that hoist it
    corr_reps, corr_elem = hoist_point_terms(corr_expr, {names[S]}, "C")
    lam_plain = predictor_eigenvalue(False).xreplace(names)
    lam_normed = predictor_eigenvalue(True).xreplace(names)
    plain, normed = pr(lam_plain), pr(lam_normed)
    a = names[alpha]
    # lambda = base^alpha: the bases in one loop, the power by fastmath.pow_inplace (one vectorised loop, no
    # libm calls; exact for alpha in {0, 1/2, 1, 2}, ~1 ulp otherwise).  pow_inplace is inline="always": its
    # loops are compiled into this kernel (no call passing arrays, so no NRT reference counting), and
    # error_model='numpy' keeps its division free of a zero check that would stop vectorisation; the one
    # division that can be by zero (s/smax) raises explicitly.
    vector_pow = all(e.is_Pow and e.exp == a and not e.base.has(a) for e in (lam_plain, lam_normed))
    if vector_pow:
        plain, normed = pr(lam_plain.base), pr(lam_normed.base)
    if not rule.has_predictor:
        plain = normed = "1.0"
        vector_pow = False
    recipe = (pr(corr_elem), plain, vector_pow, tuple(f"{sym} = {pr(val)}" for sym, val in corr_reps))
    return {"corr": pr(corr_expr), "plain": plain, "normed": normed, "vector_pow": vector_pow,
            "uses_s": _uses([plain, normed], "s_k"),
            "recipe": repr(recipe), "amplitude": repr(pr(amplitude().xreplace(names)))}


def _drift_context(rule, quantity: str = "encoder") -> dict:
    """The drift kernels' pieces: G_m (encoder) or a trainable predictor's H_m (predictor)."""
    import sympy as sp

    from isodyn.derivations import mode_drift

    d = mode_drift(rule, "mean-field", quantity)
    names = mode_symbols()
    for i, ms in enumerate(d.sums):
        names[ms.symbol] = sp.Symbol(f"R{i}")
    summands = [ms.summand.xreplace(names) for ms in d.sums]
    element = {sp.Symbol(n) for n in _ELEMENT}
    point_reps, drift = hoist_point_terms(d.drift.xreplace(names), element)
    pr = printer("math")
    point_lines = [f"{sym} = {pr(val)}" for sym, val in point_reps]
    sum_lines, sum_finals = cse_lines(summands, "math", "y")
    mode_lines, (mode_final,) = cse_lines([drift], "math", "x")
    np_sum_lines, np_sum_finals = cse_lines(summands, "xp", "y")
    np_lines, (np_final,) = cse_lines([d.drift.xreplace(names)], "xp", "x")
    recipe = (tuple(sum_lines), tuple(sum_finals), tuple(point_lines), tuple(mode_lines), mode_final)
    name = "drift" if quantity == "encoder" else "predictor_drift"
    return {"name": name, "recipe_name": "DRIFT_ELEMENTWISE" if quantity == "encoder" else "PREDICTOR_ELEMENTWISE",
            "sum_loads": _loads(sum_lines + sum_finals), "sum_lines": sum_lines, "sum_finals": sum_finals,
            "point_lines": point_lines, "mode_loads": _loads(mode_lines + [mode_final]), "mode_lines": mode_lines,
            "mode_final": mode_final, "recipe": repr(recipe), "np_sum_lines": np_sum_lines,
            "np_sum_finals": np_sum_finals, "np_lines": np_lines, "np_final": np_final,
            "np_loads": _np_loads(np_sum_lines + np_sum_finals + np_lines + [np_final])}


def _exact_context(rule, quantity: str = "encoder") -> dict:
    """The exact closure's integrand kernels: of G_m (encoder) or of a trainable predictor's H_m (predictor)."""
    import sympy as sp

    from isodyn.derivations import exact_closure

    c = exact_closure(rule, quantity)
    names = mode_symbols()
    for i, ms in enumerate(c.sums):
        names[ms.symbol] = sp.Symbol(f"T{i}")
    summands = [ms.summand.xreplace(names) for ms in c.sums]
    logz = c.log_z.xreplace(names)
    integ = c.integrand.xreplace(names)
    sum_lines, (logz_final, *sum_finals) = cse_lines([logz] + summands, "math", "y")
    mode_lines, (mode_final,) = cse_lines([integ], "math", "x")
    np_sum_lines, (np_logz_final, *np_sum_finals) = cse_lines([logz] + summands, "xp", "y")
    np_lines, (np_final,) = cse_lines([integ], "xp", "x")
    return {"name": "exact_integrand" if quantity == "encoder" else "exact_predictor_integrand",
            "of": "G_m" if quantity == "encoder" else "H_m",
            "sum_loads": _loads(sum_lines + [logz_final] + sum_finals), "sum_lines": sum_lines,
            "logz_final": logz_final, "sum_finals": sum_finals, "mode_loads": _loads(mode_lines + [mode_final]),
            "mode_lines": mode_lines, "mode_final": mode_final, "np_sum_lines": np_sum_lines,
            "np_logz_final": np_logz_final, "np_sum_finals": np_sum_finals, "np_lines": np_lines,
            "np_final": np_final,
            "np_loads": _np_loads(np_sum_lines + [np_logz_final] + np_sum_finals + np_lines + [np_final])}


def _step_context() -> dict:
    """derivations.analysis' update lines (map, ODE, lag, the EMA rate) printed in the names S, St, G, C, s,
    eta, gamma, tau, kappa, rho, S_new (codegen.integrators substitutes its own variables)."""
    import sympy as sp

    from isodyn.derivations.analysis import (
        alpha_p,
        ema_rate,
        gamma_p,
        lag_ode,
        lag_step,
        map_step,
        ode_step,
        predictor_ode,
        predictor_step,
    )
    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import C, S, St, eta, gamma, kappa, rho, s, tau

    G, H, Sn = sp.symbols("G H S_new")
    names = {x: sp.Symbol(n) for x, n in ((S, "S"), (St, "St"), (eta, "eta"), (gamma, "gamma"), (tau, "tau"),
                                          (kappa, "kappa"), (C, "C"), (s, "s"), (rho, "rho"), (lam, "lam"),
                                          (alpha_p, "alpha_p"), (gamma_p, "gamma_p"))}
    pr = printer("math")

    def text(exprs):
        return repr(tuple(pr(e.xreplace(names)) for e in exprs))

    return {"map": text(map_step(G, Sn)), "ode": text(ode_step(G)), "lag": repr(pr(lag_step(s).xreplace(names))),
            "lag_ode": repr(pr(lag_ode(s).xreplace(names))), "kappa": repr(pr(ema_rate(tau).xreplace(names))),
            "predictor": repr(pr(predictor_step(H).xreplace(names))),
            "predictor_ode": repr(pr(predictor_ode(H).xreplace(names)))}


_EIGEN_PREFIX, _KERNEL_PREFIX = "e_", "k_"


def eigenvalues_source(rule) -> str:
    """The source of the module holding ``eigenvalues`` for ``rule``: the same text (and so one file, compiled
    once) for every rule whose s(S) and lambda(s) print the same."""
    predictor = _predictor_context(rule)
    uses_math = _mentions([predictor[k] for k in ("corr", "plain", "normed")], "math.")
    return render("eigenvalues.py.j2", predictor=predictor, fastmath=repr(fastmath_hash()), uses_math=uses_math)


def _module_name(prefix: str, file: str) -> str:
    return prefix + Path(file).stem


def generate_source(rule, eigen_source: str | None = None) -> str:
    """The kernel module's full source for ``rule`` (sympy work happens here); it imports ``eigenvalues`` from
    the module of :func:`eigenvalues_source`."""
    cosine, trainable = rule.metric == "cosine", rule.has_predictor
    eigen_source = eigenvalues_source(rule) if eigen_source is None else eigen_source
    ctx = dict(grad=_gradient_context(rule), predictor=_predictor_context(rule), drift=_drift_context(rule),
               predictor_drift=_drift_context(rule, "predictor") if trainable else None, steps=_step_context(),
               exact=_exact_context(rule) if cosine else None,
               exact_predictor=_exact_context(rule, "predictor") if cosine and trainable else None)
    code = [ctx["drift"][k] for k in ("sum_lines", "sum_finals", "point_lines", "mode_lines", "mode_final")]
    code.append(ctx["grad"]["loop"])  # the per-sample loop prints half-integer powers with math.sqrt
    uses_math = ctx["exact"] is not None or _mentions(code, "math.")
    return render("kernels.py.j2", rule_name=rule.name, rule_key=repr(rule.structural_key),
                  fastmath=repr(fastmath_hash()), uses_math=uses_math,
                  eigenvalues_module=_module_name(EIGEN_MODULE, module_file(eigen_source, _EIGEN_PREFIX)), **ctx)


EIGEN_MODULE, KERNEL_MODULE = "isodyn_eigenvalues_", "isodyn_kernels_"


def _load_shared(path: Path):
    name = _module_name(EIGEN_MODULE, path.name)
    return sys.modules.get(name) or load_module(path, EIGEN_MODULE)


def kernels(rule):
    """The generated module for ``rule``: from memory, the disk cache, or generated now."""
    key = rule.structural_key
    if key in _LOADED:
        return _LOADED[key]
    paths = indexed_modules(key)
    if paths is None:
        eigen = eigenvalues_source(rule)
        needs = [store_source(eigen, _EIGEN_PREFIX)]
        path = store_source(generate_source(rule, eigen), _KERNEL_PREFIX)
        record_module(key, path, needs)
        paths = [*needs, path]
    for need in paths[:-1]:
        _load_shared(need)
    mod = load_module(paths[-1], KERNEL_MODULE)
    _LOADED[key] = mod
    return mod
