"""A rule's integrator module: the compiled drivers of the mode equations, rendered from templates/.

The module is generated from the rule's kernel module (:mod:`.kernels`; only its printed recipes, so no
sympy is needed) and ``templates/integrators.py.j2`` (+ integrator_macros.j2, integrator_map.py.j2,
integrator_dopri.py.j2), stored in the kernel cache under a hash of its source and compiled with
``numba.njit(cache=True)``.  This module owns the generated code's interface: the parameter columns
(:data:`PARAM_NAMES`), the state rows (:func:`state_rows`), the status codes (:data:`STATUS_CODES`).  The
schemes' tableaux and the step-size controller are data the caller passes
(:mod:`isodyn.dynamics.modes.schemes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cache import load_module, store_source
from .kernels import kernels
from .templating import render

#: columns of the parameter array P (B, NPAR) of every driver, in this order; the generated module names
#: them as upper-case constants (LR, SIGMA1, ...)
PARAM_NAMES = ("lr", "sigma1", "sigma2", "weight_decay", "ema", "alpha", "eps", "normalize", "beta", "rho",
               "s_bound", "trainable", "predictor_lr_ratio", "predictor_weight_decay")
#: status codes set inside the compiled loops (exceptions happen only at the Python boundary)
STATUS_CODES = {"OK": 0, "DIVERGED": 1, "STEP_UNDERFLOW": 2, "MAX_STEPS": 3}


def _names(expr: str, **names) -> str:
    """``expr`` (generated source) with its whole-word names replaced: _names("S + eta*G", eta="p[LR]")."""
    return re.sub(r"\b\w+\b", lambda w: names.get(w.group(0), w.group(0)), expr)


def _uses(lines, name: str) -> bool:
    return any(re.search(rf"\b{name}\b", ln) for ln in lines)


@dataclass(frozen=True)
class StateRow:
    """One per-mode state of the integrators: row ``const`` of a state Y (NROWS, M).

    active    when the row evolves: "True", or the driver's flag ("ema", "lag", "trainable"); an inactive row
              keeps its initial value (the ODE's right-hand side would be zero there)
    framed    the saved frames (s and lambda) need it
    ode       names (S, St, C, L, G, H, s) -> the row's dY/dt (printed from derivations.analysis), in the driver's
              variables
    prelude   names -> lines the row's dY/dt needs first (rates, s of the current state)
    """

    name: str
    doc: str
    active: str
    framed: bool
    ode: object = field(repr=False)
    prelude: object = field(repr=False)

    @property
    def const(self) -> str:
        return "ROW_" + self.name.upper()


def state_rows(k, trainable: bool = True) -> tuple[StateRow, ...]:
    """The state table for kernel module ``k``: S (online amplitudes), S_t (the EMA target's), C (the lagging
    predictor's running estimate of s), L (a trained predictor's eigenvalues; only where the rule has a
    predictor, ``trainable``).  A new per-mode state is one more row here (with its map update in
    integrator_map.py.j2)."""
    ode_s, ode_st = k.ODE_STEP  # derivations.analysis.ode_step
    rows = (
        StateRow("S", "S_m, online amplitudes", "True", True,
                 ode=lambda S, St, C, L, G, H, s: _names(ode_s, S=S, G=G, gamma="p[WEIGHT_DECAY]"),
                 prelude=lambda S, p, s, aux: []),
        StateRow("St", "S_t,m, target amplitudes (with an EMA target: tau > 0; else S_t = S)", "ema", False,
                 ode=lambda S, St, C, L, G, H, s: _names(ode_st, S=S, St=St, kappa="kap"),
                 prelude=lambda S, p, s, aux: ["kap = " + _names(k.KAPPA, tau=f"{p}[EMA]", eta=f"{p}[LR]")]),
        StateRow("C", "C_m, the lagging predictor's estimate of s_m (rho > 0; else lambda from the current s)",
                 "lag", True,
                 ode=lambda S, St, C, L, G, H, s: _names(k.LAG_ODE, kappa="kr", s=s, C=C),
                 prelude=lambda S, p, s, aux: [
                     f"_eigenvalues({S}, {p}[SIGMA1], 1.0, {p}[EPS], {p}[NORMALIZE] > 0.5, {s}, {aux})",
                     "kr = " + _names(k.KAPPA, tau=f"{p}[RHO]", eta=f"{p}[LR]")]),
        StateRow("L", "lambda_m, a trained predictor's eigenvalues (trainable; else lambda from s or C)",
                 "trainable", True,
                 ode=lambda S, St, C, L, G, H, s: _names(k.PREDICTOR_ODE, H=H, lam=L, alpha_p="p[PREDICTOR_LR_RATIO]",
                                                         gamma_p="p[PREDICTOR_WEIGHT_DECAY]"),
                 prelude=lambda S, p, s, aux: []),
    )
    return rows if trainable else rows[:3]


_PARAMS = (("sigma1", "s1", "p[SIGMA1]"), ("sigma2", "s2", "p[SIGMA2]"), ("beta", "be", "p[BETA]"))
_LOADS = {name: f"{name} = {arr}[e]" for name, arr, _ in _PARAMS}


def _element(name: str, value: str, note: str = "", bool_: bool = False) -> dict:
    return {"name": name, "value": value, "bool": bool_, "note": note}


def _prefixed(recipe, prefix: str):
    """An elementwise drift recipe (codegen.kernels: sum lines, sum finals, point lines, drift lines, final) with
    its own names R<i>, P<i>, x<i>, y<i> prefixed, so two recipes can share one loop."""
    if not prefix:
        return recipe

    def ren(txt):
        return re.sub(r"\b([RPxy]\d+)\b", lambda m: prefix + m.group(1), txt)

    sum_lines, sum_finals, point_lines, drift_lines, final = recipe
    return (tuple(map(ren, sum_lines)), tuple(map(ren, sum_finals)), tuple(map(ren, point_lines)),
            tuple(map(ren, drift_lines)), ren(final))


def _fused_drifts(recipes, corr_lines, lam_load: str) -> dict:
    """The pieces of a fused map loop that evaluate the elementwise drift ``recipes`` ((recipe, prefix) per
    expected drift, its names prefixed apart; sums come back as (name, expression) pairs) per element.

    Per-point terms that depend on the parameters only (P<i> of a drift without mode sums, C<i> of s(S), e.g.
    1 + sigma1^2) are computed once per point and spread over the point's elements (rows of PQ): the same values
    as computing them every step, so the same bits.  With mode sums (cosine), a first pass per step and point
    computes the sums R<i> and the terms that depend on them and spreads those the drifts need (rows of Q), so
    the main pass is one flat loop over all elements either way (a loop per point over its M modes would
    vectorise only M // 8 of them)."""

    def refs(txt):
        return set(re.findall(r"\b\w*[RPC]\d+\b", txt))

    sum_lines, sum_finals, fixed, moving, mode_lines, used = [], [], [], [], [], set()
    for rec, prefix in recipes:
        s_lines, s_finals, point_lines, drift_lines, final = rec
        sum_lines += s_lines
        sum_finals += [(f"{prefix}R{i}", f) for i, f in enumerate(s_finals)]
        fix = [ln for ln in point_lines if not any(re.fullmatch(r"\w*R\d+", n) for n in refs(ln.split("=", 1)[1]))]
        fixed += fix
        moving += [ln for ln in point_lines if ln not in fix]
        mode_lines.append((list(drift_lines), final))
        used |= refs(" ".join(drift_lines) + " " + final)
    pq_names = [ln.split("=")[0].strip() for ln in fixed + list(corr_lines)]
    q_names = [n for n in sorted(used) if n not in pq_names] if sum_finals else []
    return {"sum_lines": sum_lines, "sum_finals": sum_finals, "fixed": fixed, "moving": moving,
            "mode_lines": mode_lines, "pq_names": pq_names, "q_names": q_names, "lam_load": lam_load}


def _fused_common(parts: dict, step_lines: list, init_lines: list, per_element: list) -> dict:
    """The loads and per-element arrays of a fused map loop around :func:`_fused_drifts`'s pieces."""
    sum_src = parts["sum_lines"] + [f for _, f in parts["sum_finals"]]
    pre_lines = sum_src + parts["moving"]
    for name, arr, col in _PARAMS:
        if _uses(pre_lines + step_lines + [" ".join(parts["q_names"])], name):
            per_element.append(_element(arr, col))
    head = ["S_k = SS[c0, e]", "St_k = ST[c0, e]", parts["lam_load"]]
    head += [_LOADS[n] for n, _, _ in _PARAMS if _uses(step_lines, n)]
    head += [f"{n} = PQ[{c}, e]" for c, n in enumerate(parts["pq_names"]) if _uses(step_lines, n)]
    head += [f"{n} = Q[{c}, e]" for c, n in enumerate(parts["q_names"])]
    return {
        "init": [f"{n} = {col}" for n, _, col in _PARAMS if _uses(init_lines, n)] + init_lines,
        "per_element": per_element, "pq_names": parts["pq_names"], "q_names": parts["q_names"], "head": head,
        "sums": parts["sum_finals"], "sum_lines": parts["sum_lines"],
        "sum_loads": [ln for ln in ("S_k = SS[c0, e]", "St_k = ST[c0, e]", parts["lam_load"])
                      if _uses(sum_src, ln.split()[0])] + [_LOADS[n] for n, _, _ in _PARAMS if _uses(sum_src, n)],
        "moving": parts["moving"], "moving_loads": [_LOADS[n] for n, _, _ in _PARAMS if _uses(parts["moving"], n)],
    }


def _fused_map(k) -> dict:
    """The generated pieces of the fused elementwise map of the closed-form predictor (integrator_map.py.j2,
    ``_map_fast``): the drift G (:func:`_fused_drifts`), the update, and lambda = BASE(CORR(S))^alpha of the new
    state by ratio updates."""
    corr, base, _, corr_lines = k.LAMBDA_ELEMENTWISE
    upd, ema = k.MAP_STEP  # derivations.analysis.map_step, printed
    parts = _fused_drifts([(k.DRIFT_ELEMENTWISE, "")], corr_lines, "lam_k = lam[e]")
    (drift_lines, drift_final), = parts["mode_lines"]
    update = _names(upd, S="S_k", G="G", eta="lr[e]", gamma="wd[e]")
    ema_line = _names(ema, tau="te", St="St_k", S_new="xn")
    step_lines = drift_lines + [drift_final, update, ema_line, corr, base]
    per_element = [_element("lr", "p[LR]"), _element("wd", "p[WEIGHT_DECAY]"),
                   _element("tau", "p[EMA] if (HAS_TARGET and p[EMA] > 0.0) else 0.0"), _element("al", "a"),
                   _element("gen", "g", "alpha not 1 or 2, stored: 5% faster than comparing in the loop", True),
                   _element("Sb", "bound")]
    if _uses([base], "eps"):
        per_element.insert(4, _element("ep", "p[EPS]"))
    out = _fused_common(parts, step_lines, parts["fixed"] + list(corr_lines), per_element)
    out.update(drift_lines=drift_lines, drift_final=drift_final, update_line=update, ema_line=ema_line, corr=corr,
               base=base, base_uses_s=_uses([base], "s_k"),
               base_loads=["eps = ep[e]"] if _uses([base], "eps") else [],
               corr_loads=[f"{n} = PQ[{parts['pq_names'].index(n)}, e]"
                           for n in (ln.split("=")[0].strip() for ln in corr_lines)])
    return out


def _fused_map_trained(k) -> dict:
    """The generated pieces of the fused map with a trained predictor (integrator_map_trained.py.j2): the drifts
    G and H (the predictor's, names prefixed ``h``) from the state (S, S_t, lambda), and the Jacobi update of
    all three (derivations.analysis.map_step, predictor_step) -- no powers."""
    corr, _, _, corr_lines = k.LAMBDA_ELEMENTWISE
    upd, ema = k.MAP_STEP
    parts = _fused_drifts([(k.DRIFT_ELEMENTWISE, ""), (_prefixed(k.PREDICTOR_ELEMENTWISE, "h"), "h")], corr_lines,
                          "lam_k = LL[c0, e]")
    (g_lines, g_final), (h_lines, h_final) = parts["mode_lines"]
    update = _names(upd, S="S_k", G="G", eta="lr[e]", gamma="wd[e]")
    ema_line = _names(ema, tau="te", St="St_k", S_new="xn")
    predictor = _names(k.PREDICTOR_STEP, H="H", lam="lam_k", eta="lr[e]", alpha_p="ap[e]", gamma_p="gp[e]")
    step_lines = g_lines + h_lines + [g_final, h_final, update, ema_line, predictor]
    per_element = [_element("lr", "p[LR]"), _element("wd", "p[WEIGHT_DECAY]"),
                   _element("tau", "p[EMA] if (HAS_TARGET and p[EMA] > 0.0) else 0.0"),
                   _element("ap", "p[PREDICTOR_LR_RATIO]"), _element("gp", "p[PREDICTOR_WEIGHT_DECAY]"),
                   _element("Sb", "bound")]
    out = _fused_common(parts, step_lines, parts["fixed"] + list(corr_lines), per_element)
    out.update(drift_lines=g_lines, drift_final=g_final, predictor_lines=h_lines, predictor_final=h_final,
               update_line=update, ema_line=ema_line, predictor_line=predictor, corr=corr,
               corr_loads=[f"{n} = PQ[{parts['pq_names'].index(n)}, e]"
                           for n in (ln.split("=")[0].strip() for ln in corr_lines)])
    return out


def integrator_source(rule, *, controller: dict, map_block: int, map_fast_block: int) -> str:
    """The integrator module's source for ``rule`` (imports its kernel module by name).

    controller: the PI step-size controller's named constants (modes.schemes.PI_CONTROLLER); map_block,
    map_fast_block: points the one-point map and the fused map step together.
    """
    k = kernels(rule)
    vector_pow = k.LAMBDA_ELEMENTWISE[2]
    map_update = _names(k.MAP_STEP[0], S="S[k]", G="G[k]", eta="p[LR]", gamma="p[WEIGHT_DECAY]")
    # the expected drifts the drivers evaluate: G_m, and a trained predictor's H_m
    drift_kernels = [{"kernel": "_drift", "exact": "exact_drift", "integrand": "_exact_integrand", "out": "G",
                      "of": "G_m"}]
    if rule.has_predictor:
        drift_kernels.append({"kernel": "_predictor_drift", "exact": "exact_predictor_drift",
                              "integrand": "_exact_predictor_integrand", "out": "H", "of": "H_m"})
    return render(
        "integrators.py.j2", kname=k.__name__, rule_name=rule.name, has_target=rule.has_target_network,
        has_exact=rule.metric == "cosine", has_trainable=rule.has_predictor, drift_kernels=drift_kernels,
        map_predictor=_names(k.PREDICTOR_STEP, H="H[k]", lam="lam[k]", eta="p[LR]", alpha_p="p[PREDICTOR_LR_RATIO]",
                             gamma_p="p[PREDICTOR_WEIGHT_DECAY]"),
        vector_pow=vector_pow, has_fast_map=vector_pow or not rule.has_predictor,
        params=PARAM_NAMES, rows=state_rows(k, rule.has_predictor), status=STATUS_CODES, map_block=map_block,
        map_fast_block=map_fast_block,
        controller={name: repr(float(v)) for name, v in controller.items()},
        amplitude=_names(k.AMPLITUDE, s_k="max(s, 0.0)"), map_update=map_update,
        map_ema=_names(k.MAP_STEP[1], tau="p[EMA]", St="St[k]", S_new="S[k]"),
        map_lag=_names(k.LAG_STEP, C="C[k]", rho="p[RHO]", s="s[k]"), fast=_fused_map(k),
        trained=_fused_map_trained(k) if rule.has_predictor else None)


def integrator_module(rule, **options):
    """The integrator module for ``rule``, generated into the kernel cache (once) and imported
    (options: as :func:`integrator_source`)."""
    return load_module(store_source(integrator_source(rule, **options), "i_"), "isodyn_integrators_")
