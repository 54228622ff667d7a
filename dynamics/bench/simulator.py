"""The mode-simulator rows of ``isodyn bench`` (group ``simulator``), each measured side by side with its
baseline, ``runs`` times:

* dopri5, 10,000 Euclidean standard points, M = 10, random spectra and alpha, rtol 1e-8, t = 15:
  seconds per point against scipy.integrate.solve_ivp (RK45, Python right-hand side from the same
  generated kernels, same rtol / atol / end time) on a subset of the same points;
* the map over the same points x 10,000 steps: mode-steps per second against the same map
  vectorised in NumPy over the whole batch (the NumPy run is timed over fewer steps; its cost is
  linear in the steps);
* the map with a trained predictor (lambda a state, SPEC §7) against the closed-form predictor's map on the
  same points, per mode-step (goal: within 1.5x of the closed-form map's cost);
* the exact cosine closure: right-hand sides per second at M = 10 and M = 100 against the NumPy twin
  on the same grid, and a 1,500-step map trajectory at M = 10 against the 1 s goal.
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def _points(B: int, M: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    s0 = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), (B, M)))
    alpha = rng.uniform(0.5, 1.5, B)
    return s0, alpha


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# --- row 1: dopri5 vs solve_ivp ------------------------------------------------------------------


def _solve_ivp_point(k, s0, alpha, t_end, rtol, atol, sigma2):
    from scipy.integrate import solve_ivp

    M = s0.size
    s, lam = np.empty(M), np.empty(M)

    def f(t, S):
        k.eigenvalues(S, 0.0, alpha, 0.0, False, s, lam)
        return k.drift_np(S, S, lam, 0.0, sigma2, 0.0)

    r = solve_ivp(f, (0.0, t_end), np.sqrt(s0), method="RK45", rtol=rtol, atol=atol)
    return r.y[:, -1], r.nfev


def rows_dopri5(quick: bool = False) -> list[dict]:
    from isodyn.derivations.rules import Rule
    from isodyn.dynamics.codegen import kernels
    from isodyn.dynamics.modes.simulation import simulate_batch

    B = 1000 if quick else 10_000
    sub = 5 if quick else 20
    runs = 3 if quick else 5
    lr, steps, rtol, atol, sigma2 = 0.01, 1500, 1e-8, 1e-10, 0.1
    rule = Rule("euclidean", "standard")
    s0, alpha = _points(B)
    k = kernels(rule)
    kw = dict(lr=lr, steps=steps, sigma2=sigma2, alpha=alpha, scheme="dopri5", rtol=rtol, atol=atol,
              stride=steps)
    simulate_batch(rule, s0[:2], **{**kw, "alpha": alpha[:2]})  # compile / load
    ours, base, agree, nfev_b, nfev_o = [], [], [], [], []
    for r in range(runs):
        dt, tr = _timed(lambda: simulate_batch(rule, s0, **kw))
        ours.append(dt / B)
        idx = np.arange(r * sub, (r + 1) * sub) % B
        t0 = time.perf_counter()
        res = [_solve_ivp_point(k, s0[i], alpha[i], lr * steps, rtol, atol, sigma2) for i in idx]
        base.append((time.perf_counter() - t0) / sub)
        S_b = np.array([x[0] for x in res])
        nfev_b += [x[1] for x in res]
        nfev_o += list(tr.rhs_evaluations[idx])
        agree.append(float(np.max(np.abs(tr.s_final[idx] - S_b**2) / S_b**2)))
    ratios = [b / o for b, o in zip(base, ours)]
    return [{
        "name": f"dopri5 batched, {B} points euclidean/standard M=10, rtol 1e-8",
        "value": statistics.median(ours) * 1e6, "unit": "us/point",
        "baseline": f"scipy solve_ivp RK45, Python RHS, {sub} of the points a run",
        "baseline_value": statistics.median(base) * 1e6, "ratio": statistics.median(ratios), "goal": ">= 100x",
        "goal_ratio": 100.0,
        "runs": runs, "note": f"rhs calls/point: ours {int(np.median(nfev_o))}, solve_ivp {int(np.median(nfev_b))}; "
                               f"max rel. difference of s_final {max(agree):.1e}",
    }]


# --- row 2: batched map vs NumPy ------------------------------------------------------------------


def _numpy_map(k, s0, alpha, lr, steps, sigma2):
    """The expected-GD map over the whole batch in NumPy (lambda = s^alpha from s = S^2, sigma1 = 0)."""
    S = np.sqrt(s0)
    a = alpha[:, None]
    for _ in range(steps):
        lam = (S * S) ** a
        S = S + lr * k.drift_np(S, S, lam, 0.0, sigma2, 0.0)
    return S


def rows_map(quick: bool = False) -> list[dict]:
    """Batched map (integrators._map_fast) against the NumPy map over the whole batch.

    Arithmetic limit (estimate, for the note): one mode-step of the fused loop is ~30 multiply-class
    double operations (drift 3, update 2, EMA 2, base 2, the ratio update of lambda 17 FMA + 3; plus a
    division and ~8 additions/compares); the 16-element loop body compiles to 207 AVX-512 instructions
    with 30 FMA/multiply per 8 elements.  On this Zen 5 core (2 FMA pipes x 8 lanes, 2.6 GHz nominal)
    that bounds one core at ~1.4e9 mode-steps/s, ~2.8e9 on the two; the rest of the body (loads,
    64-bit constant addresses numba's code model needs, compares) keeps it at ~55% of that.
    """
    from isodyn.derivations.rules import Rule
    from isodyn.dynamics.codegen import kernels
    from isodyn.dynamics.modes import integrators as I
    from isodyn.dynamics.modes.simulation import simulate_batch

    B = 1000 if quick else 10_000
    steps = 1000 if quick else 10_000
    np_steps = 50 if quick else 200
    runs = 3
    lr, sigma2, M = 0.01, 0.1, 10
    rule = Rule("euclidean", "standard")
    k = kernels(rule)
    s0, alpha = _points(B)
    kw = dict(lr=lr, sigma2=sigma2, alpha=alpha, scheme="map", stride=steps)
    simulate_batch(rule, s0[:2], steps=2, **{**kw, "alpha": alpha[:2], "stride": 1})
    ours, base = [], []
    for _ in range(runs):
        dt, tr = _timed(lambda: simulate_batch(rule, s0, steps=steps, **kw))
        ours.append(B * steps * M / dt)
        db, S_np = _timed(lambda: _numpy_map(k, s0, alpha, lr, np_steps, sigma2))
        base.append(B * np_steps * M / db)
    check = simulate_batch(rule, s0[:50], steps=np_steps, **{**kw, "alpha": alpha[:50], "stride": np_steps})
    diff = float(np.max(np.abs(check.s_final - S_np[:50] ** 2) / S_np[:50] ** 2))
    ratios = [o / b for o, b in zip(ours, base)]
    return [{
        "name": f"map batched, {B} points x {steps} steps euclidean/standard M=10",
        "value": statistics.median(ours), "unit": "mode-steps/s",
        "baseline": f"NumPy map vectorised over the batch ({np_steps} steps a run)",
        "baseline_value": statistics.median(base), "ratio": statistics.median(ratios), "goal": ">= 5x",
        "goal_ratio": 5.0,
        "runs": runs, "note": f"fused elementwise map, lambda in full every {I.MAP_RESYNC} steps; agreement "
                              f"with NumPy after {np_steps} steps: max rel. difference {diff:.1e}",
    }]


def rows_map_trained(quick: bool = False) -> list[dict]:
    """The map with a trained predictor (integrators._map_fast_trained: the state S, S_t, lambda, the drifts G
    and H, no powers) against the closed-form predictor's map (_map_fast) on the same points, both metrics'
    Euclidean standard rule, side by side."""
    from isodyn.derivations.rules import Rule
    from isodyn.dynamics.modes.simulation import simulate_batch

    B = 1000 if quick else 10_000
    steps = 1000 if quick else 10_000
    runs = 3
    M = 10
    s0, alpha = _points(B)
    closed, trained = Rule("euclidean", "standard"), Rule("euclidean", "standard", predictor="trainable")
    kw = dict(lr=0.01, sigma2=0.1, alpha=alpha, scheme="map", stride=steps)
    rng = np.random.default_rng(1)
    ratio_p = rng.uniform(0.5, 2.0, B)
    for rule, extra in ((closed, {}), (trained, {"predictor_lr_ratio": ratio_p[:2]})):
        simulate_batch(rule, s0[:2], steps=2, **{**kw, "alpha": alpha[:2], "stride": 1}, **extra)
    ours, base = [], []
    for _ in range(runs):
        dt, _ = _timed(lambda: simulate_batch(trained, s0, steps=steps, predictor_lr_ratio=ratio_p, **kw))
        ours.append(B * steps * M / dt)
        db, _ = _timed(lambda: simulate_batch(closed, s0, steps=steps, **kw))
        base.append(B * steps * M / db)
    return [{
        "name": f"map with a trained predictor, {B} points x {steps} steps euclidean/standard M=10",
        "value": statistics.median(ours), "unit": "mode-steps/s",
        "baseline": "the closed-form predictor's map on the same points",
        "baseline_value": statistics.median(base), "ratio": statistics.median([o / b for o, b in zip(ours, base)]),
        "goal": ">= 0.67x (cost per mode-step within 1.5x)", "goal_ratio": 1 / 1.5, "runs": runs,
        "note": "fused elementwise map with lambda as a state (G and H, no powers), random alpha_p",
    }]


# --- row 3: exact cosine closure --------------------------------------------------------------------


def rows_exact(quick: bool = False) -> list[dict]:
    from isodyn.derivations.rules import Rule
    from isodyn.dynamics.codegen import kernels
    from isodyn.dynamics.modes import integrators as I
    from isodyn.dynamics.modes.exact import ExactGrid, quadrature_np
    from isodyn.dynamics.modes.simulation import simulate

    rule = Rule("cosine", "standard")
    mod = I.compiled(rule)
    k = kernels(rule)
    grid = ExactGrid()
    x, wx = grid.nodes()
    out = []
    runs = 3 if quick else 5
    for M in (10, 100):
        S = np.sqrt(np.logspace(-3, 0, M))
        lam = S**2
        G, tmp = np.empty(M), np.empty(M)
        mod.exact_drift(S, S, lam, 0.0, 0.1, 0.0, x, wx, x, wx, G, tmp, False)
        n = 20 if M == 10 else 4
        ours, base = [], []
        for _ in range(runs):
            dt, _ = _timed(lambda S=S, lam=lam, G=G, tmp=tmp, n=n: [
                mod.exact_drift(S, S, lam, 0.0, 0.1, 0.0, x, wx, x, wx, G, tmp, False) for _ in range(n)])
            ours.append(n / dt)
            db, _ = _timed(lambda S=S, lam=lam: quadrature_np(k, grid, S, S, lam, 0.0, 0.1, 0.0, chunk=16))
            base.append(1 / db)
        out.append({
            "name": f"exact cosine closure, right-hand sides, M={M} ({grid.size} nodes)",
            "value": statistics.median(ours), "unit": "rhs/s",
            "baseline": "NumPy twin (exact_integrand_np) on the same grid",
            "baseline_value": statistics.median(base),
            "ratio": statistics.median([o / b for o, b in zip(ours, base)]), "goal": "cost linear in M",
            "runs": runs, "note": f"{statistics.median(ours) * grid.size * M / 1e6:.1f} M integrand terms/s",
        })
    s0 = np.logspace(-3, 0, 10)
    simulate(rule, s0, lr=0.1, steps=2)
    times, errs = [], []
    for _ in range(runs):
        dt, tr = _timed(lambda: simulate(rule, s0, lr=0.1, steps=1500, sigma2=0.1))
        times.append(dt)
        errs.append(tr.extra["closure_rel_error"])
    out.append({
        "name": "exact cosine closure, 1500-step map trajectory, M=10 (accuracy checks included)",
        "value": statistics.median(times), "unit": "s", "baseline": "goal 1 s", "baseline_value": 1.0,
        "ratio": 1.0 / statistics.median(times), "goal": "< 1 s", "goal_ratio": 1.0, "runs": runs,
        "note": f"stated quadrature error {max(errs):.1e} (tolerance 1e-8)",
    })
    return out


def rows_simulator(quick: bool = False) -> list[dict]:
    """Every row of this module."""
    return rows_dopri5(quick) + rows_map(quick) + rows_map_trained(quick) + rows_exact(quick)


