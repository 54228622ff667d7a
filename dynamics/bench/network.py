"""Benchmark rows of issue 4: one training step of the paper's 15->10 linear network, n = 50,000.

Each row is timed against a plain implementation in the same run (draw the inputs and both
views, eigendecompose the weight correlation, apply the per-sample gradient from
``isodyn.dynamics.network.gradients``, all in NumPy), alternately: round by round the plain step with
NumPy's default BLAS threads, with one thread, then ours (:func:`against_plain`); a round's speed-up is
against the faster of the two plain steps, and a row's is the median over its rounds.

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


def _timed(step, one_thread: bool, sync=None) -> float:
    """Seconds of one call of ``step`` (with BLAS limited to one thread where asked; the limit's own cost is not
    timed)."""
    with threadpool_limits(1, user_api="blas") if one_thread else nullcontext():
        t0 = time.perf_counter()
        step()
        if sync is not None:
            sync()
        return time.perf_counter() - t0


def against_plain(rule, ours, reps: int, per_round: int = 1, sync=None, ours_one_thread: bool = True) -> dict:
    """Time ``ours`` side by side with the plain step: each of ``reps`` rounds times the plain step once with
    NumPy's default BLAS threads and once with one, then ``ours`` ``per_round`` times, so a change of the shared
    machine's speed falls on both alike.  Medians (ms): 'ours', 'plain' (per round the faster plain variant),
    'default', 'one'; 'ratio' the median over the rounds of plain / (that round's median of ours)."""
    W = init_weights(M, N, 0.25, 0)
    rng = np.random.default_rng(0)

    def plain():
        plain_step(W, rng, rule)

    for _ in range(2):  # warm-up (compilation, caches)
        _timed(plain, False), _timed(plain, True), _timed(ours, ours_one_thread, sync)
    default, one, mine, best, ratios = [], [], [], [], []
    for _ in range(reps):
        default.append(_timed(plain, False))
        one.append(_timed(plain, True))
        ours_round = [_timed(ours, ours_one_thread, sync) for _ in range(per_round)]
        mine += ours_round
        best.append(min(default[-1], one[-1]))
        ratios.append(best[-1] / statistics.median(ours_round))
    med = statistics.median
    return {"ours": 1e3 * med(mine), "plain": 1e3 * med(best), "default": 1e3 * med(default), "one": 1e3 * med(one),
            "ratio": med(ratios)}


def _trainer(rule, sampler="inputs", dtype="float64", backend="numpy", grad_impl="auto"):
    cfg = NetworkConfig(rule, in_dim=N, out_dim=M, samples=n, lr=0.01, sampler=sampler, dtype=dtype)
    return NetworkTrainer(cfg, init_weights(M, N, 0.25, 0), seed=0, backend=backend, grad_impl=grad_impl)


def rows(which=("inputs", "moments"), reps: int = 15, metrics=("euclidean", "cosine")) -> list[dict]:
    """Rows in the ``isodyn bench`` registry format (isodyn.dynamics.bench.registry): value = ms per step, baseline
    the plain NumPy step timed alternately with it (:func:`against_plain`; ``reps`` rounds), ratio = the median
    over the rounds of plain ms / our ms.

    A requested CuPy row where CuPy is not usable is one row with ``skipped: true``, value null and
    the reason in the note -- a result, not a crash."""
    from isodyn.dynamics.network.backends import cupy_status

    out = []
    cupy_ok, cupy_why = cupy_status() if "cupy" in which else (False, "")
    for metric in metrics:
        rule = Rule(metric, "standard")

        def row(name, t, goal, notes="", metric=metric, runs=reps):
            out.append({"name": f"train 15->10 n=50000 {metric}/standard: {name}", "value": round(t["ours"], 3),
                        "unit": "ms/step", "baseline": "plain NumPy step (faster of default / one BLAS thread), "
                        "timed alternately", "baseline_value": round(t["plain"], 3), "ratio": round(t["ratio"], 2),
                        "runs": runs, "goal": f">= {goal:g}x", "note": notes,
                        "baseline_ms_default_threads": round(t["default"], 3),
                        "baseline_ms_one_thread": round(t["one"], 3)})

        if "inputs" in which:
            for dt in ("float64", "float32"):
                tr = _trainer(rule, dtype=dt)
                row(f"inputs sampler, numpy {dt}", against_plain(rule, tr.step, reps), GOALS["inputs"],
                    f"grad={tr.grad_impl}")
        if "moments" in which and metric == "euclidean":
            tr = _trainer(rule, sampler="moments")
            row("moments sampler, numpy float64", against_plain(rule, tr.step, reps, per_round=10), GOALS["moments"],
                "cost independent of n", runs=10 * reps)
        if "cupy" in which and not cupy_ok:
            out.append({"name": f"train 15->10 n=50000 {metric}/standard: inputs sampler, cupy", "value": None,
                        "unit": "ms/step", "baseline": "plain NumPy step", "baseline_value": None,
                        "ratio": None, "runs": 0, "goal": f">= {GOALS['cupy']:g}x", "skipped": True,
                        "note": f"skipped: CuPy not usable here ({cupy_why})"})
        elif "cupy" in which:
            for dt in ("float64", "float32"):
                for impl in ("xp", "elementwise", "fuse"):
                    tr = _trainer(rule, dtype=dt, backend="cupy", grad_impl=impl)
                    sync = tr.xp.cuda.Stream.null.synchronize
                    row(f"inputs sampler, cupy {dt}, grad={impl}",
                        against_plain(rule, tr.step, reps, per_round=10, sync=sync, ours_one_thread=False),
                        GOALS["cupy"], "vs the CPU plain step", runs=10 * reps)
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
