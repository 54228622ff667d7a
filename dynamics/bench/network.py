"""Benchmark rows of issue 4: one training step of the paper's 15->10 linear network, n = 50,000.

Each row is timed against a plain implementation in the same run (draw the inputs and both
views, eigendecompose the weight correlation, apply the per-sample gradient from
``isodyn.dynamics.network.gradients``, all in NumPy).  The plain step is timed with NumPy's default BLAS
threads and with one thread; a row's speed-up is against the faster of the two.

    python -m isodyn.dynamics.bench.network [--rows inputs,moments,cupy] [--steps K] [--json FILE]

Registered as the ``isodyn bench`` groups ``network`` and ``network-cupy`` (:func:`bench_rows`,
:func:`bench_rows_cupy`); rows in the registry's format (value = ms per step).

Trained predictor (issue 13, :func:`trained_rows`): the sampled step with a trained full-matrix predictor W_P
against the closed-form step of the same network, sampler, backend and dtype, the two timed alternately
(side by side) ``reps`` times; ratio = the median of closed-form ms / trained ms over the pairs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

from isodyn.derivations import Rule
from isodyn.dynamics.network.gradients import representation_gradient
from isodyn.dynamics.network.trainer import NetworkConfig, NetworkTrainer, init_weights

N, M, n = 15, 10, 50_000
GOALS = {"inputs": 3.0, "moments": 100.0, "cupy": 20.0, "trained": 1 / 1.5}


def plain_step(W, rng, rule, lr=0.01, s1=0.0, s2=0.1):
    """The reference: what a direct NumPy implementation of one step does."""
    x = rng.standard_normal((n, N))
    x1 = x + s1 * rng.standard_normal((n, N))
    x2 = x + s2 * rng.standard_normal((n, N))
    z1, z2 = x1 @ W.T, x2 @ W.T
    s, U = np.linalg.eigh((1 + s1**2) * W @ W.T)
    Wp = U @ np.diag(np.clip(s, 0, None) ** rule.alpha) @ U.T
    g = representation_gradient(rule, z1=z1, z2=z2, Wp=Wp)
    return W - lr * (g.T @ x1) / n


def _median_ms(step, reps, sync=None):
    step(), step()  # warm-up (compilation, caches)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def plain_ms(rule, reps):
    W = init_weights(M, N, 0.25, 0)
    rng = np.random.default_rng(0)
    default = _median_ms(lambda: plain_step(W, rng, rule), reps)
    with threadpool_limits(1, user_api="blas"):
        one = _median_ms(lambda: plain_step(W, rng, rule), reps)
    return default, one


def trainer_ms(rule, reps, sampler="inputs", dtype="float64", backend="numpy", grad_impl="auto"):
    cfg = NetworkConfig(rule, in_dim=N, out_dim=M, samples=n, lr=0.01, sampler=sampler, dtype=dtype)
    tr = NetworkTrainer(cfg, init_weights(M, N, 0.25, 0), seed=0, backend=backend, grad_impl=grad_impl)
    if tr.bk.name == "cupy":
        sync = tr.xp.cuda.Stream.null.synchronize
        return _median_ms(tr.step, reps, sync), tr.grad_impl
    with threadpool_limits(1, user_api="blas"):
        return _median_ms(tr.step, reps), tr.grad_impl


def rows(which=("inputs", "moments"), reps: int = 15, metrics=("euclidean", "cosine")) -> list[dict]:
    """Rows in the ``isodyn bench`` registry format (isodyn.dynamics.bench.registry): value = ms per step, baseline
    the plain NumPy step, ratio = baseline ms / our ms (medians of ``reps`` timed steps each).

    A requested CuPy row where CuPy is not usable is one row with ``skipped: true``, value null and
    the reason in the note -- a result, not a crash."""
    from isodyn.dynamics.network.backends import cupy_status

    out = []
    cupy_ok, cupy_why = cupy_status() if "cupy" in which else (False, "")
    for metric in metrics:
        rule = Rule(metric, "standard")
        base_default, base_one = plain_ms(rule, reps)
        base = min(base_default, base_one)

        def row(name, ms, goal, notes="", metric=metric, base=base, bd=base_default, bo=base_one):
            out.append({"name": f"train 15->10 n=50000 {metric}/standard: {name}", "value": round(ms, 3),
                        "unit": "ms/step", "baseline": "plain NumPy step (faster of default / one BLAS thread)",
                        "baseline_value": round(base, 3), "ratio": round(base / ms, 2), "runs": reps,
                        "goal": f">= {goal:g}x", "note": notes,
                        "baseline_ms_default_threads": round(bd, 3), "baseline_ms_one_thread": round(bo, 3)})

        if "inputs" in which:
            for dt in ("float64", "float32"):
                ms, impl = trainer_ms(rule, reps, dtype=dt)
                row(f"inputs sampler, numpy {dt}", ms, GOALS["inputs"], f"grad={impl}")
        if "moments" in which and metric == "euclidean":
            ms, _ = trainer_ms(rule, 10 * reps, sampler="moments")
            row("moments sampler, numpy float64", ms, GOALS["moments"], "cost independent of n")
        if "cupy" in which and not cupy_ok:
            out.append({"name": f"train 15->10 n=50000 {metric}/standard: inputs sampler, cupy", "value": None,
                        "unit": "ms/step", "baseline": "plain NumPy step", "baseline_value": round(base, 3),
                        "ratio": None, "runs": 0, "goal": f">= {GOALS['cupy']:g}x", "skipped": True,
                        "note": f"skipped: CuPy not usable here ({cupy_why})"})
        elif "cupy" in which:
            for dt in ("float64", "float32"):
                for impl in ("xp", "elementwise", "fuse"):
                    ms, _ = trainer_ms(rule, 10 * reps, dtype=dt, backend="cupy", grad_impl=impl)
                    row(f"inputs sampler, cupy {dt}, grad={impl}", ms, GOALS["cupy"], "vs the CPU plain step")
    return out


def _pair(rule, sampler, dtype, backend, grad_impl):
    """(closed-form trainer, trained trainer, sync) on the same 15 -> 10 network, n = 50,000."""
    W0 = init_weights(M, N, 0.25, 0)
    kw = dict(in_dim=N, out_dim=M, samples=n, lr=0.01 if rule.metric == "euclidean" else 0.1, sampler=sampler,
              dtype=dtype)
    closed = NetworkTrainer(NetworkConfig(rule, **kw), W0, seed=0, backend=backend, grad_impl=grad_impl)
    trained = NetworkTrainer(NetworkConfig(rule.with_(predictor="trainable"), **kw), W0, seed=0, backend=backend,
                             grad_impl=grad_impl)
    sync = trained.xp.cuda.Stream.null.synchronize if trained.bk.name == "cupy" else None
    return closed, trained, sync


def _side_by_side(a, b, reps, sync=None):
    """Median ms of a.step and b.step, timed alternately, and the median ratio a / b over the pairs."""
    def once(tr):
        t0 = time.perf_counter()
        tr.step()
        if sync is not None:
            sync()
        return time.perf_counter() - t0

    for _ in range(2):  # warm-up (compilation, caches)
        once(a), once(b)
    ta, tb = [], []
    for _ in range(reps):
        ta.append(once(a))
        tb.append(once(b))
    return (1e3 * statistics.median(ta), 1e3 * statistics.median(tb),
            statistics.median([x / y for x, y in zip(ta, tb)]))


def trained_rows(reps: int = 15, metrics=("euclidean", "cosine"), cupy: bool = False) -> list[dict]:
    """The trained predictor's step against the closed-form step (module docstring): numpy float64 (inputs
    sampler, and the moments sampler for Euclidean), or with ``cupy`` the CuPy float32 step (elementwise)."""
    out = []
    for metric in metrics:
        rule = Rule(metric, "standard")
        if cupy:
            variants = [("inputs", "float32", "cupy", "auto")]
        else:
            variants = [("inputs", "float64", "numpy", "auto")] + (
                [("moments", "float64", "numpy", "auto")] if metric == "euclidean" else [])
        for sampler, dtype, backend, impl in variants:
            closed, trained, sync = _pair(rule, sampler, dtype, backend, impl)
            with threadpool_limits(1, user_api="blas") if backend == "numpy" else nullcontext():
                c_ms, t_ms, ratio = _side_by_side(closed, trained, reps * (10 if sampler == "moments" else 1), sync)
            out.append({"name": f"train 15->10 n=50000 {metric}/standard: trained predictor vs closed-form, "
                                f"{sampler} sampler, {backend} {dtype}",
                        "value": round(t_ms, 3), "unit": "ms/step", "baseline": "closed-form predictor step, same "
                        "network, timed alternately", "baseline_value": round(c_ms, 3), "ratio": round(ratio, 3),
                        "runs": reps * (10 if sampler == "moments" else 1), "goal": ">= 0.67x (within 1.5x)",
                        "note": f"grad={trained.grad_impl}; records alignment, spectrum, asymmetry every step"})
    return out


def bench_rows(quick: bool = False) -> list[dict]:
    """``isodyn bench`` group ``network``: inputs and moments samplers, both metrics (quick: Euclidean,
    3 timed steps)."""
    if quick:
        return rows(("inputs", "moments"), reps=3, metrics=("euclidean",)) + trained_rows(3, ("euclidean",))
    return rows(("inputs", "moments"), reps=15) + trained_rows(15)


def bench_rows_cupy(quick: bool = False) -> list[dict]:
    """``isodyn bench`` group ``network-cupy``: the CuPy rows, or one skipped row per metric without CuPy."""
    from isodyn.dynamics.network.backends import cupy_status

    trained = cupy_status()[0]  # without CuPy the skipped rows of rows() say so
    if quick:
        return rows(("cupy",), reps=3, metrics=("euclidean",)) + (trained_rows(3, ("euclidean",), cupy=True)
                                                                  if trained else [])
    return rows(("cupy",), reps=15) + (trained_rows(15, cupy=True) if trained else [])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m isodyn.dynamics.bench.network")
    ap.add_argument("--rows", default="inputs,moments")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--metrics", default="euclidean,cosine")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    a = ap.parse_args(argv)
    rs = rows(tuple(a.rows.split(",")), a.reps, tuple(a.metrics.split(",")))
    for r in rs:
        if r.get("skipped"):
            print(f"{r['name']:<75} {r['note']}")
            continue
        print(f"{r['name']:<75} {r['value']:9.3f} ms  plain {r['baseline_value']:8.2f} ms  "
              f"x{r['ratio']:<7} goal {r['goal']}  {r['note']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rs, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
