"""Drivers of the compiled mode-equation integrators (SPEC §4): one generated module per rule, batched runs.

Per rule, :func:`compiled` generates the integrator module (isodyn.dynamics.codegen.integrators, from the
rule's kernel module and templates/integrators.py.j2) and compiles it with ``numba.njit(cache=True)``;
the schemes (:mod:`.schemes`) are data passed at run time, and so is every parameter (P of shape
(B, NPAR), columns PARAM_NAMES), so a sweep never recompiles.  Nothing here is specific to a rule.

:func:`run` integrates B points x M modes in parallel over points: the compiled drivers release the
GIL (``nogil``) and contiguous blocks of points go to one thread per core.  (A ``prange`` driver computes
the same thing but its parfor lowering recompiles the whole call tree: measured +10 s of first-call
compile per rule and scheme on a 2-core machine, for no run-time gain.)  Each point is integrated by the
same serial code whatever block it sits in, so batched results equal one-at-a-time results bit for bit.

The map has two paths.  Points without a lagging predictor, normalisation or the exact closure (the
usual case) go through ``_map_fast``: blocks of MAP_FAST_BLOCK points x M modes stepped by ONE
branch-free loop per step over all their elements (SIMD across points and modes), with lambda = b^alpha
carried along the trajectory by ratio updates (fastmath.pow_ratio_step, <= 1 ulp each) and recomputed in
full every MAP_RESYNC steps (``map_resync=1``: every step, and then the result is ``_map_block``'s bit for
bit).  The other points go through ``_map_block`` (groups of up to MAP_BLOCK points; their powers in one
vectorised loop, fastmath.pow_rows).  Neither path lets a point's result depend on the others in its
block.  How these paths came about, with the measurements: docs/performance.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isodyn.dynamics.codegen.integrators import integrator_module

from .schemes import (  # noqa: F401  (the names callers use as integrators.X)
    DIVERGED,
    DOPRI5,
    MAP,
    MAP_BLOCK,
    MAP_FAST_BLOCK,
    MAP_RESYNC,
    MAX_STEPS,
    NPAR,
    OK,
    PARAM_NAMES,
    PI_CONTROLLER,
    PIDX,
    RK4,
    SCHEMES,
    STATUS,
    STEP_UNDERFLOW,
    Scheme,
)

_MODULES: dict = {}


def compiled(rule):
    """The compiled integrator module for ``rule`` (generated once into the kernel cache)."""
    key = (rule.structural_key, rule.has_target_network)
    if key not in _MODULES:
        _MODULES[key] = integrator_module(rule, controller=PI_CONTROLLER, map_block=MAP_BLOCK,
                                          map_fast_block=MAP_FAST_BLOCK)
    return _MODULES[key]


def n_threads() -> int:
    """Worker threads for batched runs: NUMBA_NUM_THREADS (numba's default: the CPU count)."""
    import numba

    return max(1, int(numba.config.NUMBA_NUM_THREADS))


@dataclass
class RawRun:
    """Arrays of one batched compiled run (B points, T frames, M modes)."""

    s: np.ndarray  # (B, T, M) eigenvalue frames (NaN after a divergence)
    lam: np.ndarray  # (B, T, M) predictor eigenvalues the dynamics sees
    Y: np.ndarray  # (B, NROWS, M) last finite state (rows: codegen.integrators.state_rows)
    rate: np.ndarray  # (B, M) |dS/dt| / |S| at that state
    info: np.ndarray  # (B, 4) status, event step, last good step, right-hand-side evaluations


def frame_steps(steps: int, stride: int) -> np.ndarray:
    """The saved steps: 0, stride, 2 stride, ..., and steps."""
    st = np.arange(0, steps + 1, stride)
    return st if st[-1] == steps else np.append(st, steps)


def run(rule, scheme: Scheme, s0, P, steps: int, *, lam0=None, stride: int = 1, substeps: int = 1,
        exact: bool = False, grid=None, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 10**7,
        dense: bool = True, threads: int | None = None, map_resync: int = MAP_RESYNC, fused: bool = True) -> RawRun:
    """Integrate B points from eigenvalues s0 (B, M) with parameters P (B, NPAR) (no validation here); lam0
    (B, M): a trained predictor's initial eigenvalues (default: the closed-form predictor's at s0).  ``fused``:
    the map takes its fused paths where they apply (False: every point on the one-point map; tests)."""
    from concurrent.futures import ThreadPoolExecutor

    mod = compiled(rule)
    s0 = np.ascontiguousarray(s0, dtype=np.float64)
    P = np.ascontiguousarray(P, dtype=np.float64)
    B, M = s0.shape
    if lam0 is None:
        lam0 = np.empty((B, M))
        mod.closed_form_lambda(s0, P, lam0)
    lam0 = np.ascontiguousarray(np.broadcast_to(lam0, (B, M)), dtype=np.float64)
    T = len(frame_steps(steps, stride))
    out = RawRun(np.empty((B, T, M)), np.empty((B, T, M)), np.empty((B, mod.NROWS, M)), np.empty((B, M)),
                 np.empty((B, 4), dtype=np.int64))
    if exact:
        qx, qwx = grid.nodes()
    else:
        qx = qwx = np.zeros(1)
    qy, qwy = qx, qwx

    # the map's paths: the fused elementwise ones (_map_fast; _map_fast_trained with a trained predictor) where
    # they apply, the one-point one (_map_block) else
    fast = np.zeros(B, dtype=bool)
    trained = np.zeros(B, dtype=bool)
    if scheme is MAP and not exact and fused:
        plain = (P[:, PIDX["rho"]] <= 0.0) & (P[:, PIDX["normalize"]] <= 0.5)
        is_trained = P[:, PIDX["trainable"]] > 0.5
        if map_resync > 0 and mod.HAS_FAST_MAP:
            fast = plain & ~is_trained
        if mod.HAS_TRAINABLE:
            trained = plain & is_trained

    def block(i0, i1):
        if scheme.adaptive:
            mod.run_dopri5(i0, i1, s0, lam0, P, steps, stride, scheme.A, scheme.b, scheme.e, scheme.d, rtol, atol,
                           max_steps, dense, qx, qwx, qy, qwy, exact, out.s, out.lam, out.Y, out.rate, out.info)
            return
        ids = np.arange(i0, i1, dtype=np.int64)
        if fast[i0:i1].any():
            mod.run_map_fast(ids[fast[i0:i1]], s0, lam0, P, steps, stride, map_resync, out.s, out.lam, out.Y, out.rate,
                             out.info)
        if trained[i0:i1].any():
            mod.run_map_fast_trained(ids[trained[i0:i1]], s0, lam0, P, steps, stride, out.s, out.lam, out.Y,
                                     out.rate, out.info)
        rest = ~(fast[i0:i1] | trained[i0:i1])
        if rest.any():
            mod.run_fixed(ids[rest], s0, lam0, P, scheme.code, steps, stride, substeps, scheme.A, scheme.b,
                          qx, qwx, qy, qwy, exact, out.s, out.lam, out.Y, out.rate, out.info)

    nt = min(threads or n_threads(), B)
    if nt <= 1:
        block(0, B)
    else:
        # compile (or load) in this thread first, then blocks of points on nt threads
        block(0, 1)
        nchunks = min(B - 1, 8 * nt)
        if (fast | trained).all():
            # the fused map's blocks want mod.MAP_FAST_BLOCK points: no more chunks than fill them
            nchunks = min(nchunks, max(nt, (B - 1) // mod.MAP_FAST_BLOCK))
        cuts = np.unique(np.linspace(1, B, nchunks + 1).astype(int))
        with ThreadPoolExecutor(nt) as ex:
            list(ex.map(block, cuts[:-1], cuts[1:]))
    return out
