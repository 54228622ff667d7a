"""Code generation: derivations/ sympy expressions -> numba kernels and NumPy/CuPy twins.

One Python module is generated per rule structure (metric, variant, IsoLoss family),
written atomically into the kernel cache and imported from there, so numba's
``cache=True`` can persist the machine code next to it.  Files are named by a hash of
the canonical expressions and the sympy/numba/numpy versions; an index keyed by the
rule and a hash of the derivations/ sources maps a rule to its module, so a second
process loads kernels without importing sympy.

Generated functions (parameters are run-time arguments; nothing is regenerated when
alpha, sigma or beta change):

  invariants(xp, Z1, Z2, lam, beta)        -> tuple of (n, 1) arrays, the Q's of the gradients
  grad_online(xp, Z1, Z2, lam, beta, Q)    -> (n, M) dl/dz1 in the predictor eigenbasis
  grad_target(xp, Z1, Z2, lam, beta, Q)    -> (n, M) dl/dz2
  eigenvalues(S, sigma1, alpha, eps, normalize, s_out, lam_out)   numba: s_m and lambda_m from S_m
  drift(S, St, lam, sigma1, sigma2, beta, out)        numba: G_m, Euclidean closed form or cosine mean-field
  drift_np(S, St, lam, sigma1, sigma2, beta)           NumPy twin, arrays (..., M)
  exact_integrand(t, u, S, St, lam, sigma1, sigma2, beta, out)   numba, cosine only:
                                         out[m] = prod_k Z_k * integrand_m at (t, u)
  exact_integrand_np(t, u, S, St, lam, sigma1, sigma2, beta)  NumPy twin, t, u broadcast (...,) -> (..., M)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from isodyn.dynamics.files import atomic_write

CODEGEN_VERSION = "1"
_LOADED: dict = {}


def cache_dir() -> Path:
    """Kernel cache: $ISODYN_CACHE, else $XDG_CACHE_HOME/isodyn, else ~/.cache/isodyn."""
    root = os.environ.get("ISODYN_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isodyn"


def _versions() -> str:
    from importlib.metadata import version

    parts = [f"{p}={version(p)}" for p in ("sympy", "numba", "numpy")]
    return ";".join(parts + [f"codegen={CODEGEN_VERSION}", f"py={sys.version_info[:2]}"])


def derivations_hash() -> str:
    """Hash of the derivations/ sources and this generator: the index is invalid when they change."""
    h = hashlib.sha256()
    import isodyn.derivations

    root = Path(isodyn.derivations.__file__).resolve().parent
    for f in sorted(root.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(Path(__file__).read_bytes())
    h.update(_fastmath_hash().encode())
    h.update(_versions().encode())
    return h.hexdigest()[:16]


# --- printing -------------------------------------------------------------------------


class _Namer:
    """Maps sympy symbols to Python identifiers in generated code."""

    def __init__(self, mapping: dict):
        self.mapping = mapping

    def __call__(self, expr):
        return expr.xreplace(self.mapping)


def _printer(kind: str):
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.pycode import PythonCodePrinter

    if kind == "xp":
        p = NumPyPrinter({"fully_qualified_modules": True})
        return lambda e: p.doprint(e).replace("numpy.", "xp.")
    p = PythonCodePrinter({"fully_qualified_modules": True})
    return lambda e: p.doprint(e)


def _cse_block(exprs, kind: str, indent: str, prefix: str):
    """Lines computing ``exprs`` with shared subexpressions named once; returns (lines, final exprs)."""
    import sympy as sp

    pr = _printer(kind)
    reps, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols(prefix), optimizations="basic")
    lines = [f"{indent}{sym} = {pr(val)}" for sym, val in reps]
    return lines, [pr(e) for e in reduced]


# --- module generation -------------------------------------------------------------------


def _gradient_source(rule) -> list[str]:
    import sympy as sp

    from isodyn.derivations import gradients
    from isodyn.derivations.invariants import beta as beta_sym
    from isodyn.derivations.invariants import component, invariants_in, key_of, lam

    g = gradients(rule)
    on, tg = g.online.component(), g.target.component()
    if not rule.has_predictor:
        on, tg = on.xreplace({lam: 1}), tg.xreplace({lam: 1})
    invs = sorted(set(invariants_in(on)) | set(invariants_in(tg)), key=str)
    names = {
        component("z1"): sp.Symbol("Z1"),
        component("z2"): sp.Symbol("Z2"),
        lam: sp.Symbol("lam"),
        beta_sym: sp.Symbol("beta"),
    }
    for i, q in enumerate(invs):
        names[q] = sp.Symbol(f"Q[{i}]")
    pr = _printer("xp")
    out = [
        "def invariants(xp, Z1, Z2, lam, beta):",
        '    """The invariants Q(x, y; c) = sum_k lam_k^c x_k y_k the gradients need, each (n, 1)."""',
        "    base = {'z1': Z1, 'z2': Z2}",
        "    return (",
    ]
    for q in invs:
        k = key_of(q)
        x, y = k.live_pair
        c = pr(k.c.xreplace({beta_sym: sp.Symbol("beta")}))
        out.append(f"        xp.sum(lam ** ({c}) * base[{x!r}] * base[{y!r}], axis=-1, keepdims=True),")
    out.append("    )")
    out.append("")
    for fname, expr in (("grad_online", on), ("grad_target", tg)):
        e = sp.simplify(expr).xreplace(names)
        lines, (final,) = _cse_block([e], "xp", "    ", "x")
        out.append(f"def {fname}(xp, Z1, Z2, lam, beta, Q):")
        out.append(f'    """{fname.replace("_", " ")} in the eigenbasis, (n, M)."""')
        out += lines
        out.append(f"    return xp.zeros_like(Z1) + ({final})")
        out.append("")
    return out


def _mode_symbols():
    import sympy as sp

    from isodyn.derivations.invariants import beta as beta_sym
    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import S, St, sigma1, sigma2, t, u

    return {
        S: sp.Symbol("S_k"),
        St: sp.Symbol("St_k"),
        lam: sp.Symbol("lam_k"),
        sigma1: sp.Symbol("sigma1"),
        sigma2: sp.Symbol("sigma2"),
        beta_sym: sp.Symbol("beta"),
        t: sp.Symbol("t"),
        u: sp.Symbol("u"),
    }


def _hoist_point_terms(expr, element_symbols, prefix: str = "P"):
    """Split ``expr`` into per-point subexpressions (free of the per-mode symbols) and the rest.

    Returns (reps, reduced): reps [(P_i, subexpression)], reduced ``expr`` with the maximal per-point
    subtrees (mode sums, sigma's, beta) replaced by P_i -- computed once per point, not once per mode.
    """
    import sympy as sp

    reps = []

    def walk(e):
        if not (e.free_symbols & element_symbols):
            if e.is_Atom:
                return e
            sym = sp.Symbol(f"{prefix}{len(reps)}")
            reps.append((sym, e))
            return sym
        if e.is_Atom:
            return e
        return e.func(*[walk(a) for a in e.args])

    return reps, walk(expr)


def _drift_source(rule) -> list[str]:
    import sympy as sp

    from isodyn.derivations import mode_drift

    d = mode_drift(rule, "mean-field")
    names = _mode_symbols()
    for i, ms in enumerate(d.sums):
        names[ms.symbol] = sp.Symbol(f"R{i}")
    summands = [ms.summand.xreplace(names) for ms in d.sums]
    element = {sp.Symbol("S_k"), sp.Symbol("St_k"), sp.Symbol("lam_k")}  # per mode; the rest is per point
    point_reps, drift = _hoist_point_terms(d.drift.xreplace(names), element)
    pr = _printer("math")
    point_lines = [f"{sym} = {pr(val)}" for sym, val in point_reps]
    out = []
    # numba version: one pass for the reductions, the per-point terms once, one pass for the modes
    out += [
        "@njit(cache=True)",
        "def drift(S, St, lam, sigma1, sigma2, beta, out):",
        '    """G_m for every mode (SPEC §4); S, St, lam, out: (M,)."""',
        "    M = S.shape[0]",
    ]
    for i in range(len(summands)):
        out.append(f"    R{i} = 0.0")
    if summands:
        out += [
            "    for k in range(M):",
            "        S_k = S[k]",
            "        St_k = St[k]",
            "        lam_k = lam[k]",
        ]
        lines, finals = _cse_block(summands, "math", "        ", "y")
        out += lines
        out += [f"        R{i} += {f}" for i, f in enumerate(finals)]
    out += ["    " + ln for ln in point_lines]
    out += ["    for k in range(M):", "        S_k = S[k]", "        St_k = St[k]", "        lam_k = lam[k]"]
    lines, (final,) = _cse_block([drift], "math", "        ", "x")
    out += lines + [f"        out[k] = {final}", ""]
    # the same expressions one mode at a time, for loops that fuse them with the update (the map's
    # elementwise path, dynamics.integrators): names S_k, St_k, lam_k, sigma1, sigma2, beta, R<i>, P<i>
    sum_lines, sum_finals = _cse_block(summands, "math", "", "y")
    drift_lines, (drift_final,) = _cse_block([drift], "math", "", "x")
    recipe = (tuple(sum_lines), tuple(sum_finals), tuple(point_lines), tuple(drift_lines), drift_final)
    out += [f"DRIFT_ELEMENTWISE = {recipe!r}", ""]
    # NumPy twin
    drift = d.drift.xreplace(names)
    out += [
        "def drift_np(S, St, lam, sigma1, sigma2, beta):",
        '    """NumPy twin of drift over arrays (..., M)."""',
        "    xp = numpy",
        "    S_k, St_k, lam_k = S, St + 0 * S, lam",
    ]
    if summands:
        lines, finals = _cse_block(summands, "xp", "    ", "y")
        out += lines
        out += [
            f"    R{i} = xp.sum(xp.broadcast_to({f}, S.shape), axis=-1, keepdims=True)"
            for i, f in enumerate(finals)
        ]
    lines, (final,) = _cse_block([drift], "xp", "    ", "x")
    out += lines + [f"    return xp.broadcast_to({final}, S.shape) + 0.0", ""]
    return out


def _exact_source(rule) -> list[str]:
    import sympy as sp

    from isodyn.derivations import exact_closure

    c = exact_closure(rule)
    names = _mode_symbols()
    for i, ms in enumerate(c.sums):
        names[ms.symbol] = sp.Symbol(f"T{i}")
    summands = [ms.summand.xreplace(names) for ms in c.sums]
    logz = c.log_z.xreplace(names)
    integ = c.integrand.xreplace(names)
    out = [
        "@njit(cache=True)",
        "def exact_integrand(t, u, S, St, lam, sigma1, sigma2, beta, out):",
        '    """out[m] = prod_k Z_k(t, u) * integrand_m(t, u) (exact cosine closure, SPEC §4); (M,)."""',
        "    M = S.shape[0]",
        "    logZ = 0.0",
    ]
    out += [f"    T{i} = 0.0" for i in range(len(summands))]
    out += ["    for k in range(M):", "        S_k = S[k]", "        St_k = St[k]", "        lam_k = lam[k]"]
    lines, finals = _cse_block([logz] + summands, "math", "        ", "y")
    out += (
        lines + [f"        logZ += {finals[0]}"] + [f"        T{i} += {f}" for i, f in enumerate(finals[1:])]
    )
    out += [
        "    Zall = math.exp(logZ)",
        "    for k in range(M):",
        "        S_k = S[k]",
        "        St_k = St[k]",
        "        lam_k = lam[k]",
    ]
    lines, (final,) = _cse_block([integ], "math", "        ", "x")
    out += lines + [f"        out[k] = Zall * ({final})", ""]
    out += [
        "def exact_integrand_np(t, u, S, St, lam, sigma1, sigma2, beta):",
        '    """NumPy twin: t, u of shape (...); S, St, lam (M,); returns (..., M)."""',
        "    xp = numpy",
        "    t = xp.asarray(t, dtype=float)[..., None]",
        "    u = xp.asarray(u, dtype=float)[..., None]",
        "    S_k, St_k, lam_k = S, St + 0 * S, lam",
    ]
    lines, finals = _cse_block([logz] + summands, "xp", "    ", "y")
    out += lines
    out.append(
        f"    logZ = xp.sum(xp.broadcast_to({finals[0]}, xp.broadcast_shapes(t.shape, S.shape)), "
        "axis=-1, keepdims=True)"
    )
    out += [
        f"    T{i} = xp.sum(xp.broadcast_to({f}, xp.broadcast_shapes(t.shape, S.shape)), axis=-1, keepdims=True)"
        for i, f in enumerate(finals[1:])
    ]
    lines, (final,) = _cse_block([integ], "xp", "    ", "x")
    out += lines + [f"    return xp.exp(logZ) * ({final})", ""]
    return out


def _predictor_source(rule) -> list[str]:
    import sympy as sp

    from isodyn.derivations.modes import (
        S,
        alpha,
        correlation_eigenvalue,
        eps,
        predictor_eigenvalue,
        s,
        s_max,
        sigma1,
    )

    pr = _printer("math")
    names = {
        S: sp.Symbol("S_k"),
        sigma1: sp.Symbol("sigma1"),
        alpha: sp.Symbol("alpha"),
        eps: sp.Symbol("eps"),
        s: sp.Symbol("s_k"),
        s_max: sp.Symbol("smax"),
    }
    corr_expr = correlation_eigenvalue().xreplace(names)
    corr = pr(corr_expr)
    # the same with its per-point factor named (C<i>, e.g. 1 + sigma1^2), for loops that hoist it
    corr_reps, corr_elem = _hoist_point_terms(corr_expr, {names[S]}, "C")
    corr_recipe = (pr(corr_elem), tuple(f"{sym} = {pr(val)}" for sym, val in corr_reps))
    lam_plain = predictor_eigenvalue(False).xreplace(names)
    lam_normed = predictor_eigenvalue(True).xreplace(names)
    plain, normed = pr(lam_plain), pr(lam_normed)
    a = names[alpha]
    # lambda = base^alpha: the bases in one loop, the power by dynamics.fastmath.pow_inplace (one
    # vectorised loop, no libm calls; exact for alpha in {0, 1/2, 1, 2}, ~1 ulp otherwise).  pow_inplace
    # is inline="always": its loops are compiled into this kernel (no call passing arrays, so no NRT
    # reference counting), and error_model='numpy' keeps its division free of a zero check that would
    # stop vectorisation; the one division that can be by zero (s/smax) raises explicitly as before.
    vector_pow = all(e.is_Pow and e.exp == a and not e.base.has(a) for e in (lam_plain, lam_normed))
    if vector_pow:
        plain, normed = pr(lam_plain.base), pr(lam_normed.base)
    if not rule.has_predictor:
        plain = normed = "1.0"
        vector_pow = False
    # elementwise recipe of lambda for loops that fuse it with the update (dynamics.integrators):
    # s_k = CORR(S_k, C<i>) with per-point lines C<i> = ...(sigma1); lambda_k = BASE(s_k, eps)^alpha
    # where the flag (vector_pow) is set, else BASE itself (no power)
    return [
        f"FASTMATH = {_fastmath_hash()!r}  # dynamics/codegen/fastmath.py: a new file name when it changes",
        f"LAMBDA_ELEMENTWISE = {(corr_recipe[0], plain, vector_pow, corr_recipe[1])!r}",
        "",
        "@njit(cache=True, error_model='numpy')",
        "def eigenvalues(S, sigma1, alpha, eps, normalize, s_out, lam_out):",
        '    """s_m = (1+sigma1^2) S_m^2 and the predictor eigenvalues lambda_m (SPEC §2); (M,)."""',
        "    M = S.shape[0]",
        "    smax = 0.0",
        "    for k in range(M):",
        "        S_k = S[k]",
        f"        s_out[k] = {corr}",
        "        if s_out[k] > smax:",
        "            smax = s_out[k]",
        "    if normalize and smax == 0.0:",
        "        raise ZeroDivisionError('eigenvalues: normalize with smax = 0 (all S_m = 0)')",
        "    for k in range(M):",
        "        s_k = s_out[k]",
        "        if normalize:",
        f"            lam_out[k] = {normed}",
        "        else:",
        f"            lam_out[k] = {plain}",
    ] + (["    pow_inplace(lam_out, alpha)"] if vector_pow else []) + [""]


def _step_source() -> list[str]:
    """MAP_STEP and ODE_STEP: derivations.analysis.map_step / ode_step printed with the names S, St, G,
    eta, gamma, tau, kappa, S_new (dynamics.integrators substitutes its own variables)."""
    import sympy as sp

    from isodyn.derivations.analysis import map_step, ode_step
    from isodyn.derivations.modes import S, St, eta, gamma, kappa, tau

    G, Sn = sp.symbols("G S_new")
    names = {x: sp.Symbol(n) for x, n in ((S, "S"), (St, "St"), (eta, "eta"), (gamma, "gamma"), (tau, "tau"),
                                          (kappa, "kappa"))}
    pr = _printer("math")
    step = tuple(pr(e.xreplace(names)) for e in map_step(G, Sn))
    rhs = tuple(pr(e.xreplace(names)) for e in ode_step(G))
    return [f"MAP_STEP = {step!r}", f"ODE_STEP = {rhs!r}", ""]


def _fastmath_hash() -> str:
    return hashlib.sha256((Path(__file__).resolve().parent / "fastmath.py").read_bytes()).hexdigest()[:16]


def generate_source(rule) -> str:
    """The generated module's full source for ``rule`` (sympy work happens here)."""
    header = [
        '"""Generated by isodyn.dynamics.codegen - do not edit."""',
        "import math",
        "import numpy",
        "from numba import njit",
        "",
        "from isodyn.dynamics.codegen.fastmath import pow_inplace",
        "",
        f"RULE = {rule.structural_key!r}",
        "",
    ]
    body = _gradient_source(rule) + _predictor_source(rule) + _drift_source(rule) + _step_source()
    if rule.metric == "cosine":
        body += _exact_source(rule)
    return "\n".join(header + body) + "\n"


def _index_path(rule) -> Path:
    key = json.dumps([list(rule.structural_key), derivations_hash()])
    return cache_dir() / "index" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")


def kernels(rule):
    """The generated module for ``rule``: from memory, the disk cache, or generated now."""
    skey = rule.structural_key
    if skey in _LOADED:
        return _LOADED[skey]
    idx = _index_path(rule)
    path = None
    if idx.exists():
        try:
            path = cache_dir() / "kernels" / json.loads(idx.read_text())["module"]
            if not path.exists():
                path = None
        except (ValueError, KeyError):
            path = None
    if path is None:
        path = store_source(generate_source(rule), "k_")
        atomic_write(idx, json.dumps({"module": path.name, "rule": list(skey)}))
    mod = load_module(path, "isodyn_kernels_")
    _LOADED[skey] = mod
    return mod


def store_source(src: str, prefix: str) -> Path:
    """Write generated source into the kernel cache under a hash of it and the tool versions."""
    digest = hashlib.sha256((src + _versions()).encode()).hexdigest()[:24]
    path = cache_dir() / "kernels" / f"{prefix}{digest}.py"
    if not path.exists():
        atomic_write(path, src)
    return path


def load_module(path: Path, prefix: str):
    """Import a generated module from its file (numba's cache=True needs a real file) as prefix + stem."""
    name = prefix + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
