"""Compiled integrators of the mode equations (SPEC §4), generic over the generated kernels.

State of one parameter point: ``Y`` of shape (3, M) with rows

  0  S_m    online amplitudes
  1  S_t,m  target amplitudes (used when an EMA target network is on: tau > 0 and the rule has one;
            otherwise S_t = S)
  2  C_m    the predictor's running correlation estimate (used when the predictor lags: rho > 0;
            otherwise lambda comes from the current s_m)

Schemes (each a small class declaring its order; the Runge-Kutta ones are coefficient tables driven
by one generic stepper):

  map     the expected-gradient-descent map, step for step comparable with training:
              C <- rho C + (1 - rho) s(S)       (lagging predictor; lambda = lambda(C))
              S <- S + eta (G(S, S_t, lambda) - gamma S)
              S_t <- tau S_t + (1 - tau) S
          (order 1 as an approximation of the ODE, exact for the map itself)
  rk4     classical Runge-Kutta of order 4, fixed step dt = eta / substeps, on the ODE
              dS/dt = G - gamma S,  dS_t/dt = kappa (S - S_t),  dC/dt = kappa_rho (s - C),
              t = eta * step,  kappa = (1 - tau) / eta,  kappa_rho = (1 - rho) / eta
  dopri5  Dormand-Prince 5(4), embedded error estimate, PI step-size controller (rtol, atol),
          frames by the method's 4th-order continuous extension (dense output) or, with
          ``dense=False``, by stepping exactly onto every frame time (strided saving).

G_m comes from the rule's generated ``drift`` kernel (Euclidean closed form / cosine mean-field) or
from the exact cosine closure (:mod:`dynamics.exact`, quadrature of the generated
``exact_integrand``); s_m and lambda_m from the generated ``eigenvalues`` kernel.  Nothing here is
specific to a rule: per rule, a small module is generated from the template below into the kernel
cache, next to the rule's kernel module, and compiled with ``numba.njit(cache=True)``.  Every
parameter is a run-time array, so a sweep never recompiles.

Batched calls take B points x M modes, parameters ``P`` of shape (B, NPAR) (columns ``PARAM_NAMES``),
and run in parallel over points: the compiled drivers release the GIL (``nogil``) and :func:`run`
hands contiguous blocks of points to one thread per core.  (A ``prange`` driver computes the same
thing but its parfor lowering recompiles the whole call tree: measured +10 s of first-call compile per
rule and scheme on the 2-core development machine, for no run-time gain.)  Each point is integrated
by the same serial code whatever block it sits in, so batched results equal one-at-a-time results
bit for bit.  The map has two paths.  Points without a lagging predictor, normalisation or the exact
closure (the usual case) go through ``_map_fast``: blocks of MAP_FAST_BLOCK points x M modes stepped by
ONE branch-free loop per step over all their elements (SIMD across points and modes), generated from
the kernel module's elementwise drift and lambda expressions, with lambda = b^alpha carried along the
trajectory by ratio updates (:func:`dynamics.fastmath.pow_ratio_step`, <= 1 ulp each) and recomputed
in full every MAP_RESYNC steps (``map_resync=1``: the full power every step, and then the result is
``_map_block``'s bit for bit -- tests/test_map_fast.py).  The other points go through ``_map_block``
(groups of up to MAP_BLOCK points; the power of all of them as one vectorised loop,
:func:`dynamics.fastmath.pow_rows`, the same operations per element as the eigenvalues kernel's
``pow_inplace``).  Neither path lets a point's result depend on the others in its block.
Status codes (``STATUS``) are set inside the compiled loop; exceptions only happen at the Python
boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction as F

import numpy as np

from isodyn.dynamics.codegen import kernels, load_module, store_source

PARAM_NAMES = ("lr", "sigma1", "sigma2", "weight_decay", "ema", "alpha", "eps", "normalize", "beta", "rho",
               "s_bound")
NPAR = len(PARAM_NAMES)
PIDX = {n: i for i, n in enumerate(PARAM_NAMES)}

# status codes set inside the compiled loops
OK, DIVERGED, STEP_UNDERFLOW, MAX_STEPS = 0, 1, 2, 3
STATUS = {OK: "ok", DIVERGED: "diverged", STEP_UNDERFLOW: "step size underflow", MAX_STEPS: "too many steps"}


# --- schemes ---------------------------------------------------------------------------------------


def _table(rows):
    n = len(rows)
    A = np.zeros((n, n))
    for i, r in enumerate(rows):
        A[i, : len(r)] = [float(F(x)) for x in r]
    return A


@dataclass(frozen=True)
class Scheme:
    """An integration scheme: name, order, and (Runge-Kutta) its Butcher table.

    A (s, s) stage matrix, b (s,) weights, c (s,) nodes, e (s,) error weights (b - b_hat; adaptive only).
    """

    name: str
    order: int
    code: int
    A: np.ndarray
    b: np.ndarray
    c: np.ndarray
    e: np.ndarray
    adaptive: bool = False


MAP = Scheme("map", 1, 0, np.zeros((1, 1)), np.ones(1), np.zeros(1), np.zeros(1))

RK4 = Scheme("rk4", 4, 1, _table([[], ["1/2"], [0, "1/2"], [0, 0, 1]]),
             np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]), np.array([0, 0.5, 0.5, 1.0]), np.zeros(4))

_DP_A = _table([
    [],
    ["1/5"],
    ["3/40", "9/40"],
    ["44/45", "-56/15", "32/9"],
    ["19372/6561", "-25360/2187", "64448/6561", "-212/729"],
    ["9017/3168", "-355/33", "46732/5247", "49/176", "-5103/18656"],
    ["35/384", 0, "500/1113", "125/192", "-2187/6784", "11/84"],
])
DOPRI5 = Scheme(
    "dopri5", 5, 2, _DP_A, _DP_A[6].copy(),
    np.array([float(F(x)) for x in (0, "1/5", "3/10", "4/5", "8/9", 1, 1)]),
    np.array([float(F(x)) for x in ("71/57600", 0, "-71/16695", "71/1920", "-17253/339200", "22/525", "-1/40")]),
    adaptive=True,
)
# Hairer & Wanner's continuous extension of DOPRI5 (dense output, order 4)
DOPRI5_DENSE = np.array([float(F(x)) for x in ("-12715105075/11282082432", 0, "87487479700/32700410799",
                                                "-10690763975/1880347072", "701980252875/199316789632",
                                                "-1453857185/822651844", "69997945/29380423")])

SCHEMES = {s.name: s for s in (MAP, RK4, DOPRI5)}

# points the map steps together (their power lambda = base^alpha in one vectorised pass; _map_block)
MAP_BLOCK = 16
# points of the fused elementwise map (_map_fast): 32 x 10 modes x ~17 per-element arrays fit in L1
MAP_FAST_BLOCK = 32
# steps between full powers in _map_fast (lambda by fastmath.pow_ratio_step in between); 0: _map_block only
MAP_RESYNC = 32


# --- the per-rule compiled module ---------------------------------------------------------------------

_TEMPLATE = '''"""Generated by dynamics.integrators for {kname} - do not edit."""
import math

import numpy as np
from numba import njit

from isodyn.dynamics.codegen.fastmath import (RATIO_TERMS, RATIO_YMAX, binomial_coeffs, borrow, keep_alive, pow_elementwise,
                               pow_ratio_anchor, pow_ratio_step, pow_ratio_update, pow_rows, pow_scalar)

from {kname} import drift as _drift
from {kname} import eigenvalues as _eigenvalues
{exact_import}

HAS_TARGET = {has_target}
HAS_EXACT = {has_exact}
VECTOR_POW = {vector_pow}  # the eigenvalues kernel's lambda is base^alpha by fastmath.pow_inplace
OK, DIVERGED, STEP_UNDERFLOW, MAX_STEPS = 0, 1, 2, 3

# The step loops run in ONE compiled function per point.  Their pieces (a step of the map, a Runge-Kutta
# step, a right-hand side, the forces, saving a frame) are source macros expanded into the loops when
# this module is generated (dynamics.integrators.MACROS), not called functions: a numba call that passes
# arrays on to another call increfs and decrefs them (atomic NRT operations, measured ~60% of a map step)
# and numba's own inlining does the same for its argument variables.  So inside the loops nothing but
# the leaf kernels (eigenvalues, drift) and small leaf helpers is called, every array is a row view
# made once per point or indexed explicitly, and nothing is allocated.  Rows of a state Y (3, M):
# S = Y[0], St = Y[1] when the EMA target is on (else S again), C = Y[2].  Work rows (one (5, M) array
# per point): G drift, lam, s (eigenvalue scratch), Sc (amplitudes of C), aux.


@njit(cache=True)
def amplitude(s, sigma1):
    """Inverse of the eigenvalues kernel's s(S) = (1 + sigma1^2) S^2 (checked by a round-trip test)."""
    return math.sqrt(max(s, 0.0) / (1.0 + sigma1 * sigma1))


@njit(cache=True)
def exact_drift(S, St, lam, sigma1, sigma2, beta, qx, qwx, qy, qwy, out, tmp, absolute):
    """Exact cosine closure G_m: trapezoid in (x, y) = (ln t, ln u) on nodes centred at the scales.

    qx, qwx (nx,): node offsets and weights in x (the weights include the node map's Jacobian);
    qy, qwy (ny,) likewise in y.  The grid is centred at x0 = -ln sum lam^2 S^2 (the scale of 1/|p|^2)
    and y0 = -ln sum S_t^2 (the scale of 1/|z2|^2).  Cost: nx * ny * M integrand evaluations.
    With ``absolute`` the sum of |integrand| (the L1 scale of the accuracy check) instead.
    """
    M = S.shape[0]
    a = 0.0
    c = 0.0
    for k in range(M):
        a += lam[k] * lam[k] * S[k] * S[k]
        c += St[k] * St[k]
    x0 = -math.log(max(a, 1e-300))
    y0 = -math.log(max(c, 1e-300))
    for k in range(M):
        out[k] = 0.0
{exact_body}


@njit(cache=True)
def _bounded(S, p):
    """False when some S_m is not finite or s_m exceeds the bound p[10] (|S_m| > amplitude(bound))."""
    Sb = amplitude(p[10], p[1])
    ok = True
    for k in range(S.shape[0]):
        if not abs(S[k]) <= Sb:
            ok = False
    return ok


@njit(cache=True)
def _copy(src, dst):
    """dst[:, :] = src (3, M) by explicit loops."""
    for r in range(src.shape[0]):
        for k in range(src.shape[1]):
            dst[r, k] = src[r, k]


@njit(cache=True)
def save(Y, p, lag, exact, qx, qwx, qy, qwy, wk, s_row, lam_row):
    """s_m and the lambda_m the dynamics sees (from C when the predictor lags) at state Y; wk (5, M)."""
    _eigenvalues(Y[0], p[1], p[5], p[6], p[7] > 0.5, s_row, lam_row)
    if lag:
        for k in range(Y.shape[1]):
            wk[3, k] = amplitude(Y[2, k], p[1])
        _eigenvalues(wk[3], p[1], p[5], p[6], p[7] > 0.5, wk[2], lam_row)


@njit(cache=True)
def save_all(Y, P, s_out, lam_out):
    """save() for every point: s and lambda at the states Y (B, 3, M) with parameters P (B, NPAR) into
    s_out, lam_out (B, M) (one compiled loop instead of B calls from Python)."""
    M = Y.shape[2]
    wk = np.empty((5, M))
    qx = np.zeros(1)
    for i in range(Y.shape[0]):
        save(Y[i], P[i], P[i, 9] > 0.0, False, qx, qx, qx, qx, wk, s_out[i], lam_out[i])


@njit(cache=True)
def initial_state(s0, p):
    """Y (3, M) from the initial eigenvalues: S = S_t = amplitude(s0), C = s0."""
    M = s0.shape[0]
    Y = np.empty((3, M))
    for k in range(M):
        Y[0, k] = amplitude(s0[k], p[1])
        Y[1, k] = Y[0, k]
        Y[2, k] = s0[k]
    return Y


@njit(cache=True)
def end_rate(Y, p, ema, lag, exact, qx, qwx, qy, qwy, wk, rate):
    """|dS_m/dt| / |S_m| at state Y (the convergence measure); wk (5, M) work space."""
    M = Y.shape[1]
    dY = np.empty((1, 3, M))
    G, lam, s, Sc, aux = wk[0], wk[1], wk[2], wk[3], wk[4]
    @state_rows(Y, S, St, C)
    @rhs(S, St, C, dY, 0)
    for k in range(Y.shape[1]):
        rate[k] = abs(dY[0, 0, k]) / abs(Y[0, k]) if Y[0, k] != 0.0 else 0.0


@njit(cache=True)
def _fixed_one(s0, p, scheme, steps, stride, substeps, A, b, qx, qwx, qy, qwy, exact,
               s_out, lam_out, Ylast, rate):
    """One point with fixed-step RK (the map: _map_block); returns (status, event step, last good step, nrhs)."""
    Y = initial_state(s0, p)
    M = Y.shape[1]
    ema = HAS_TARGET and p[4] > 0.0
    lag = p[9] > 0.0
    nst = b.shape[0]
    wk = np.empty((5, M))
    K = np.empty((nst, 3, M))
    Ys = np.empty((3, M))
    Yn = np.empty((3, M))
    G, lam, s, Sc, aux = wk[0], wk[1], wk[2], wk[3], wk[4]
    @state_rows(Y, S, St, C)
    @state_rows(Ys, sS, sSt, sC)
    @save_frame(S, C, 0)
    _copy(Y, Ylast)
    status = OK
    event = -1
    last = 0
    nrhs = 0
    h = p[0] / substeps
    fr = 1
    T = s_out.shape[0]
    for step in range(1, steps + 1):
        for _ in range(substeps):
            @rk_step(False)
            _copy(Yn, Y)
        nrhs += substeps * nst
        if _bounded(S, p):
            _copy(Y, Ylast)
            last = step
        else:
            status = DIVERGED
            event = step
            break
        if step % stride == 0 or step == steps:
            if fr < T:
                @save_frame(S, C, fr)
                fr += 1
    @nan_frames(s_out, lam_out, fr)
    end_rate(Ylast, p, ema, lag, exact, qx, qwx, qy, qwy, wk, rate)
    return status, event, last, nrhs


MAP_BLOCK = {map_block}


@njit(cache=True)
def _map_block(ids, s0, P, steps, stride, qx, qwx, qy, qwy, exact, s_out, lam_out, Ylast, rate, info):
    """The map for the points ``ids`` (at most MAP_BLOCK) stepped together (arguments as run_fixed).

    Per step: the bases of lambda = base^alpha of every live point into one block, the power over the
    whole block in one vectorised pass (fastmath.pow_rows, per-row exponent, the same bits as the
    eigenvalues kernel's pow_inplace per point), then per point the drift and the update exactly as in
    the one-point map.  A point stops at its divergence; the others go on.  The states live in Yb
    (nb, 3, M); a point is copied into the shared rows S, St, C (and its parameters into p) by explicit
    loops, so the step loop makes no array views (each would cost NRT reference counting).
    """
    nb = ids.shape[0]
    M = s0.shape[1]
    npar = P.shape[1]
    Yb = np.empty((nb, 3, M))
    wk = np.empty((5, M))
    Ys = np.empty((3, M))
    p = np.empty(npar)
    base = np.empty(nb * M)
    pw = np.empty(nb * M)
    yb = np.ones(nb)
    alive = np.ones(nb, dtype=np.bool_)
    frb = np.ones(nb, dtype=np.int64)
    T = s_out.shape[1]
    G, lam, s, Sc, aux = wk[0], wk[1], wk[2], wk[3], wk[4]
    S, St, C = Ys[0], Ys[1], Ys[2]
    for j in range(nb):
        i = ids[j]
        Y0 = initial_state(s0[i], P[i])
        _copy(Y0, Yb[j])
        _copy(Y0, Ylast[i])
        save(Y0, P[i], P[i, 9] > 0.0, exact, qx, qwx, qy, qwy, wk, s_out[i, 0], lam_out[i, 0])
        yb[j] = P[i, 5] if VECTOR_POW else 1.0
        info[i, 0] = OK
        info[i, 1] = -1
        info[i, 2] = 0
        info[i, 3] = 0
    nalive = nb
    for step in range(1, steps + 1):
        if nalive == 0:
            break
        for j in range(nb):
            if not alive[j]:
                continue
            i = ids[j]
            for c in range(npar):
                p[c] = P[i, c]
            lag = p[9] > 0.0
            a1 = 1.0 if VECTOR_POW else p[5]
            for k in range(M):
                S[k] = Yb[j, 0, k]
            if lag:
                for k in range(M):
                    C[k] = Yb[j, 2, k]
                _eigenvalues(S, p[1], a1, p[6], p[7] > 0.5, s, aux)
                for k in range(M):
                    C[k] = p[9] * C[k] + (1.0 - p[9]) * s[k]
                for k in range(M):
                    Yb[j, 2, k] = C[k]
                for k in range(M):
                    Sc[k] = amplitude(C[k], p[1])
                _eigenvalues(Sc, p[1], a1, p[6], p[7] > 0.5, s, lam)
            else:
                _eigenvalues(S, p[1], a1, p[6], p[7] > 0.5, s, lam)
            o = j * M
            for k in range(M):
                base[o + k] = lam[k]
        if VECTOR_POW:
            pow_rows(base, yb, M, pw)
        for j in range(nb):
            if not alive[j]:
                continue
            i = ids[j]
            for c in range(npar):
                p[c] = P[i, c]
            ema = HAS_TARGET and p[4] > 0.0
            o = j * M
            for k in range(M):
                lam[k] = base[o + k]
                S[k] = Yb[j, 0, k]
                St[k] = Yb[j, 1, k] if ema else S[k]
            @drift(S, St)
            for k in range(M):
                S[k] = {update_block}
            if ema:
                for k in range(M):
                    St[k] = {ema_block}
                for k in range(M):
                    Yb[j, 1, k] = St[k]
            for k in range(M):
                Yb[j, 0, k] = S[k]
            info[i, 3] += 1
            if _bounded(S, p):
                for r in range(3):
                    for k in range(M):
                        Ylast[i, r, k] = Yb[j, r, k]
                info[i, 2] = step
            else:
                info[i, 0] = DIVERGED
                info[i, 1] = step
                alive[j] = False
                yb[j] = 1.0  # its row of the block is skipped by pow_rows from now on
                nalive -= 1
                continue
            if step % stride == 0 or step == steps:
                fr = frb[j]
                if fr < T:
                    save(Yb[j], P[i], p[9] > 0.0, exact, qx, qwx, qy, qwy, wk, s_out[i, fr], lam_out[i, fr])
                    frb[j] = fr + 1
    for j in range(nb):
        i = ids[j]
        @nan_frames(s_out[i], lam_out[i], frb[j])
        end_rate(Ylast[i], P[i], HAS_TARGET and P[i, 4] > 0.0, P[i, 9] > 0.0, exact, qx, qwx, qy, qwy, wk,
                 rate[i])


MAP_FAST_BLOCK = 32
HAS_FAST_MAP = {has_fast_map}


@njit(cache=True, error_model="numpy")
def _map_fast(ids, s0, P, steps, stride, resync, qx, qwx, qy, qwy, s_out, lam_out, Ylast, rate, info):
    """The map for the points ``ids`` (at most MAP_FAST_BLOCK; no lagging predictor, no normalisation,
    no exact closure) as one fused elementwise loop per step over the (points x modes) block.

    Element e = j M + k holds mode k of point ids[j]; every parameter the step needs is spread per
    element so the step is one branch-free loop (SIMD across points and modes).  Per step and element:
    G from the generated drift expression (mode sums first, per point, for cosine), the update
    S <- S + eta (G - gamma S), S_t <- tau S_t + (1 - tau) S (tau = 0 without an EMA target: S_t = S
    exactly), the divergence test, and lambda for the next step: from the new base b = BASE(CORR(S))
    as lambda (b_new / b_old)^alpha by fastmath.pow_ratio_step (elements out of its range, and every
    ``resync`` steps all of them, by the full power, fastmath.pow_elementwise / pow_scalar, bit for bit
    the eigenvalues kernel's).  With resync = 1 this is the one-point map (_map_block) bit for bit; in general lambda
    carries at most resync - 1 ratio updates (<= 1 ulp each).  Frames, Ylast, rate, info as run_fixed.
    """
    nb = ids.shape[0]
    M = s0.shape[1]
    n = nb * M
    # the state and the next state in rows c0 and c1 = 1 - c0 of SS (S) and ST (S_t), alternating per
    # step (swapping two array variables instead would cost reference counting every step)
    SS = np.empty((2, n))
    ST = np.empty((2, n))
    b = np.empty(n)
    lam = np.empty(n)
    Q = np.empty(({nq}, n))
    PQ = np.empty(({npq}, n))
    w = np.empty(n)
    fx = np.zeros(n, dtype=np.bool_)
    lr = np.empty(n)
    wd = np.empty(n)
    tau = np.empty(n)
    al = np.empty(n)
    gen = np.empty(n, dtype=np.bool_)  # alpha not 1 or 2, stored: 5% faster than comparing in the loop
    ep = np.empty(n)
    s1 = np.empty(n)
    s2 = np.empty(n)
    be = np.empty(n)
    Sb = np.empty(n)
    alive = np.ones(nb, dtype=np.bool_)
    frb = np.ones(nb, dtype=np.int64)
    wk = np.empty((5, M))
    T = s_out.shape[1]
    for j in range(nb):
        i = ids[j]
        p = P[i]
        Y0 = initial_state(s0[i], p)
        _copy(Y0, Ylast[i])
        save(Y0, p, False, False, qx, qwx, qy, qwy, wk, s_out[i, 0], lam_out[i, 0])
        info[i, 0] = OK
        info[i, 1] = -1
        info[i, 2] = 0
        info[i, 3] = 0
        a = p[5] if VECTOR_POW else 1.0
        g = not (a == 1.0 or a == 2.0)  # else exactly b or b^2 (pow_inplace's paths)
        bound = amplitude(p[10], p[1])
{fast_init}
        for k in range(M):
            e = j * M + k
            SS[0, e] = Y0[0, k]
            ST[0, e] = Y0[1, k]
            lr[e] = p[0]
            wd[e] = p[3]
            tau[e] = p[4] if (HAS_TARGET and p[4] > 0.0) else 0.0
            al[e] = a
            gen[e] = g
            ep[e] = p[6]
            s1[e] = p[1]
            s2[e] = p[2]
            be[e] = p[8]
            Sb[e] = bound
            S_k = SS[0, e]
            eps = ep[e]
            s_k = {corr}  # its C<i> from fast_init
            b[e] = {base}
    c0 = 0
    for step in range(1, steps + 1):
        c1 = 1 - c0
        if (step - 1) % resync == 0:
            # the full power, per element exactly as the eigenvalues kernel's pow_inplace
            pow_elementwise(b, al, lam)
        nbad = 0
        nfix = 0
{fast_loop}
        if nfix > 0:
            for e in range(n):
                if fx[e]:
                    lam[e] = pow_scalar(b[e], al[e])
        if nbad > 0:
            for j in range(nb):
                if not alive[j]:
                    continue
                ok = True
                for k in range(M):
                    if not abs(SS[c1, j * M + k]) <= Sb[j * M + k]:
                        ok = False
                if ok:
                    continue
                i = ids[j]
                alive[j] = False
                info[i, 0] = DIVERGED
                info[i, 1] = step
                info[i, 2] = step - 1
                info[i, 3] = step
                for k in range(M):
                    e = j * M + k
                    Ylast[i, 0, k] = SS[c0, e]
                    if tau[e] > 0.0:
                        Ylast[i, 1, k] = ST[c0, e]
                    # park the point: a finite state that the loop keeps as it is (eta = 0, lambda = 1)
                    SS[c1, e] = 1.0
                    ST[c1, e] = 1.0
                    b[e] = 1.0
                    lam[e] = 1.0
                    lr[e] = 0.0
                    tau[e] = 0.0
                    al[e] = 1.0
                    gen[e] = False
                    Sb[e] = math.inf
        c0 = c1
        if step % stride == 0 or step == steps:
            # a frame: s = CORR(S) and lambda = b^alpha in full, for the whole block at once (the values
            # save() / the eigenvalues kernel give, bit for bit: the same expressions, the same power)
            pow_elementwise(b, al, w)
            for j in range(nb):
                if not alive[j]:
                    continue
                fr = frb[j]
                if fr < T:
                    i = ids[j]
                    for k in range(M):
                        e = j * M + k
                        S_k = SS[c0, e]
{frame_corr}
                        s_out[i, fr, k] = {corr}
                        lam_out[i, fr, k] = w[e]
                    frb[j] = fr + 1
    for j in range(nb):
        i = ids[j]
        if alive[j]:
            info[i, 2] = steps
            info[i, 3] = steps
            for k in range(M):
                Ylast[i, 0, k] = SS[c0, j * M + k]
                if tau[j * M + k] > 0.0:  # else row 1 keeps the initial S_t (as _map_block)
                    Ylast[i, 1, k] = ST[c0, j * M + k]
        @nan_frames(s_out[i], lam_out[i], frb[j])
        end_rate(Ylast[i], P[i], HAS_TARGET and P[i, 4] > 0.0, False, False, qx, qwx, qy, qwy, wk, rate[i])


@njit(nogil=True, cache=True)
def run_map_fast(ids, s0, P, steps, stride, resync, qx, qwx, qy, qwy, s_out, lam_out, Ylast, rate, info):
    """The map for the points ``ids`` (int64; no lagging predictor, no normalisation, no exact closure) by
    _map_fast in blocks of MAP_FAST_BLOCK (arguments as run_fixed).  A separate entry point from
    run_fixed, so a run that needs only one of the two map paths compiles only that one."""
    n = ids.shape[0]
    for j0 in range(0, n, MAP_FAST_BLOCK):
        _map_fast(ids[j0:min(j0 + MAP_FAST_BLOCK, n)], s0, P, steps, stride, resync, qx, qwx, qy, qwy,
                  s_out, lam_out, Ylast, rate, info)


@njit(nogil=True, cache=True)
def run_fixed(ids, s0, P, scheme, steps, stride, substeps, A, b, qx, qwx, qy, qwy, exact,
              s_out, lam_out, Ylast, rate, info):
    """Batched map (the one-point path, _map_block) / RK for the points ``ids`` (int64): s0 (B, M) initial
    eigenvalues, P (B, NPAR) parameters; s_out, lam_out (B, T, M) frames at steps 0, stride, 2 stride,
    ..., steps (NaN after a divergence); Ylast (B, 3, M) last finite state; rate (B, M) |dS/dt| / |S|
    there; info (B, 4) int64: status, event step (-1: none), last good step, right-hand-side evaluations."""
    n = ids.shape[0]
    if scheme == 0:
        for j0 in range(0, n, MAP_BLOCK):
            _map_block(ids[j0:min(j0 + MAP_BLOCK, n)], s0, P, steps, stride, qx, qwx, qy, qwy, exact,
                       s_out, lam_out, Ylast, rate, info)
        return
    for i in ids:
        st, ev, la, nr = _fixed_one(s0[i], P[i], scheme, steps, stride, substeps, A, b, qx, qwx, qy, qwy,
                                    exact, s_out[i], lam_out[i], Ylast[i], rate[i])
        info[i, 0] = st
        info[i, 1] = ev
        info[i, 2] = la
        info[i, 3] = nr


@njit(cache=True, inline="always")
def _err_norm(Y, Yn, E, h, rtol, atol, ema, lag):
    """RMS over the active rows of h E / (atol + rtol max(|Y|, |Yn|)) (the error test: <= 1)."""
    M = Y.shape[1]
    acc = 0.0
    n = 0
    for r in range(3):
        if (r == 1 and not ema) or (r == 2 and not lag):
            continue
        for k in range(M):
            sc = atol + rtol * max(abs(Y[r, k]), abs(Yn[r, k]))
            v = h * E[r, k] / sc
            acc += v * v
            n += 1
    return math.sqrt(acc / n)


@njit(cache=True)
def _dopri_one(s0, p, steps, stride, A, b, c, e, d, rtol, atol, max_steps, dense, qx, qwx, qy, qwy,
               exact, s_out, lam_out, Ylast, rate):
    """One point from t = 0 to lr * steps (run_dopri5); returns (status, event step, last good step, nrhs).

    Only the active rows of the state are stepped (S; S_t with the EMA target; C with the lagging
    predictor): the others keep their initial values, as the ODE's zero right-hand side would.  The
    powers lambda = base^alpha: in full at the step's first and last stage (the last is the next step's
    first, FSAL), at the five inner stages from the step's first by the binomial series
    (fastmath.pow_ratio_update; in full where a base moved by more than RATIO_DMAX), when the kernel's
    power is pow_inplace and 0 < alpha <= RATIO_YMAX is not one of its exact cases.
    """
    # owned arrays (kept alive to the end) and views of them without reference counting (fastmath.borrow)
    Y_ = initial_state(s0, p)
    M = Y_.shape[1]
    nst = 7
    wk_ = np.empty((5, M))
    K_ = np.empty((nst, 3, M))
    Ys_ = np.empty((3, M))
    Yn_ = np.empty((3, M))
    E_ = np.empty((3, M))
    Yf_ = np.empty((3, M))
    hA_ = np.empty((nst, nst))
    pw_ = np.empty((4, M))
    cb_ = np.empty(RATIO_TERMS)
    Y, wk, K, Ys, Yn, E, Yf, hA = borrow(Y_), borrow(wk_), borrow(K_), borrow(Ys_), borrow(Yn_), borrow(E_), \
        borrow(Yf_), borrow(hA_)
    pw, cb, p = borrow(pw_), borrow(cb_), borrow(p)
    ema = HAS_TARGET and p[4] > 0.0
    lag = p[9] > 0.0
    G, lam, s, Sc, aux = wk[0], wk[1], wk[2], wk[3], wk[4]
    @state_rows(Y, S, St, C)
    @state_rows(Ys, sS, sSt, sC)
    fS = Yf[0]
    fC = Yf[2]
    nS = Yn[0]
    nC = Yn[2]
    # the powers of the inner stages from the step's first (module docstring of dynamics.fastmath)
    alpha = p[5]
    ratio = VECTOR_POW and alpha > 0.0 and alpha <= RATIO_YMAX and not (alpha == 1.0 or alpha == 2.0
                                                                        or alpha == 0.5)
    b0, l0, bN, lN = pw[0], pw[1], pw[2], pw[3]
    binomial_coeffs(alpha, cb)
    @save_frame(S, C, 0)
    lr = p[0]
    t_end = lr * steps
    T = s_out.shape[0]
    fr = 1
    t_next = min(lr * stride * fr, t_end) if T > 1 else t_end + 1.0

    @rhs5(S, St, C, K, 0)
    if ratio:
        pow_ratio_anchor(bN, lN, b0, l0)
    nrhs = 1
    # initial step (Hairer & Wanner, II.4)
    d0 = 0.0
    d1 = 0.0
    for r in range(3):
        if (r == 1 and not ema) or (r == 2 and not lag):
            continue
        for k in range(M):
            sc = atol + rtol * abs(Y[r, k])
            d0 += (Y[r, k] / sc) ** 2
            d1 += (K[0, r, k] / sc) ** 2
    h0 = 1e-6 if (d0 < 1e-10 or d1 < 1e-10) else 0.01 * math.sqrt(d0 / d1)
    h = min(h0, t_end)
    t = 0.0
    status = OK
    event = -1
    err_old = 1e-4
    naccept = 0
    rejected = False
    hmin = 1e-14 * max(1.0, t_end)
    while t < t_end:
        if naccept >= max_steps:
            status = MAX_STEPS
            break
        if h < hmin:
            status = STEP_UNDERFLOW
            break
        if t + h > t_end:
            h = t_end - t
        if not dense and T > 1 and t + h > t_next:
            h = t_next - t
        for i in range(1, nst):
            for j in range(i):
                hA[i, j] = h * A[i, j]
        hb6 = h * b[6]
        # stages 1..6 (K[0] = f(Y), FSAL); the stage sums in the order of rk_step, so the same bits
        for i in range(1, nst):
            for r in range(3):
                if (r == 1 and not ema) or (r == 2 and not lag):
                    continue
                for k in range(M):
                    Ys[r, k] = Y[r, k]
                for j in range(i):
                    aij = hA[i, j]
                    for k in range(M):
                        Ys[r, k] += aij * K[j, r, k]
            @rhs5(sS, sSt, sC, K, i)
        nrhs += nst - 1
        # Yn = Y + h sum b_i K_i (the last stage's state plus h b_6 K_6); error estimate sum e_i K_i
        finite = True
        for r in range(3):
            if (r == 1 and not ema) or (r == 2 and not lag):
                continue
            for k in range(M):
                Yn[r, k] = Ys[r, k] + hb6 * K[6, r, k]
                E[r, k] = 0.0 + e[0] * K[0, r, k]
            for j in range(1, nst):
                ej = e[j]
                for k in range(M):
                    E[r, k] += ej * K[j, r, k]
            for k in range(M):
                if not math.isfinite(Yn[r, k]):
                    finite = False
        err = _err_norm(Y, Yn, E, h, rtol, atol, ema, lag) if finite else 1e300
        if err <= 1.0:
            t_new = t + h
            # frames passed by this step
            while fr < T and t_next <= t_new * (1.0 + 1e-13):
                if dense:
                    th = (t_next - t) / h
                    for r in range(0, 3, 2):
                        if r == 2 and not lag:
                            continue
                        for k in range(M):
                            y0 = Y[r, k]
                            ydiff = Yn[r, k] - y0
                            bspl = h * K[0, r, k] - ydiff
                            r5 = 0.0
                            for j in range(nst):
                                r5 += d[j] * K[j, r, k]
                            r5 *= h
                            Yf[r, k] = y0 + th * (ydiff + (1.0 - th) * (bspl + th * (
                                ydiff - h * K[6, r, k] - bspl + (1.0 - th) * r5)))
                    @save_frame(fS, fC, fr)
                else:
                    @save_frame(nS, nC, fr)
                fr += 1
                t_next = min(lr * stride * fr, t_end)
            naccept += 1
            if not _bounded(nS, p):
                status = DIVERGED
                event = int(math.ceil(t_new / lr - 1e-9))
                break
            for r in range(3):
                if (r == 1 and not ema) or (r == 2 and not lag):
                    continue
                for k in range(M):
                    Y[r, k] = Yn[r, k]
                    K[0, r, k] = K[6, r, k]
            if ratio:
                pow_ratio_anchor(bN, lN, b0, l0)
            t = t_new
            # PI controller (Gustafsson; beta = 0.4 / 5)
            fac = 0.9 * max(err, 1e-10) ** (-0.7 / 5.0) * err_old ** (0.4 / 5.0)
            fac = min(5.0 if rejected else 10.0, max(0.2, fac))
            err_old = max(err, 1e-4)
            h = h * fac
            rejected = False
        else:
            fac = max(0.2, 0.9 * err ** (-1.0 / 5.0)) if finite else 0.1
            h = h * fac
            rejected = True
    # Y: the last accepted bounded state, reached at t
    _copy(Y_, Ylast)
    keep_alive(K_)
    keep_alive(Ys_)
    keep_alive(Yn_)
    keep_alive(E_)
    keep_alive(Yf_)
    keep_alive(hA_)
    keep_alive(pw_)
    keep_alive(cb_)
    last = int(math.floor(t / lr + 1e-9))
    if status == OK and t >= t_end:
        last = steps
    @nan_frames(s_out, lam_out, fr)
    end_rate(Ylast, p, ema, lag, exact, qx, qwx, qy, qwy, wk_, rate)
    return status, event, last, nrhs


@njit(nogil=True, cache=True)
def run_dopri5(i0, i1, s0, P, steps, stride, A, b, c, e, d, rtol, atol, max_steps, dense, qx, qwx, qy, qwy, exact,
               s_out, lam_out, Ylast, rate, info):
    """Batched Dormand-Prince 5(4) from t = 0 to lr * steps, frames at t = lr * (0, stride, ..., steps)
    (arguments as run_fixed)."""
    for i in range(i0, i1):
        st, ev, la, nr = _dopri_one(s0[i], P[i], steps, stride, A, b, c, e, d, rtol, atol, max_steps, dense,
                                    qx, qwx, qy, qwy, exact, s_out[i], lam_out[i], Ylast[i], rate[i])
        info[i, 0] = st
        info[i, 1] = ev
        info[i, 2] = la
        info[i, 3] = nr
'''

_EXACT_BODY = """    nx = qx.shape[0]
    ny = qy.shape[0]
    for i in range(nx):
        t = math.exp(x0 + qx[i])
        for j in range(ny):
            u = math.exp(y0 + qy[j])
            w = qwx[i] * qwy[j] * t * u
            _exact_integrand(t, u, S, St, lam, sigma1, sigma2, beta, tmp)
            if absolute:
                for k in range(M):
                    out[k] += w * abs(tmp[k])
            else:
                for k in range(M):
                    out[k] += w * tmp[k]"""

# --- source macros expanded into the generated loops ------------------------------------------------
# A line "@name(a, b, ...)" of the template is replaced by the macro's body, indented like the line,
# with its parameters renamed to the arguments (whole words); bodies may use further macros.  Free
# names in the bodies are the driver's locals: p, ema, lag, exact, qx, qwx, qy, qwy, M, the work rows
# G, lam, s, Sc, aux, and (rk_step) Y, Ys, sS, sSt, sC, Yn, h, A, b, nst, K.

_FORCES = ("S, St, C", """\
if lag:
    for k in range(M):
        Sc[k] = amplitude(C[k], p[1])
    _eigenvalues(Sc, p[1], p[5], p[6], p[7] > 0.5, s, lam)
else:
    _eigenvalues(S, p[1], p[5], p[6], p[7] > 0.5, s, lam)
{drift}""")

# the same for dopri5's stage i (0..6): lambda by lam_at, which powers the inner stages from the step's
# first (free names also ratio, b0, l0, bN, lN, cb of _dopri_one)
_FORCES5 = ("S, St, C, i", """\
if lag:
    for k in range(M):
        Sc[k] = amplitude(C[k], p[1])
Xl = Sc if lag else S
@lam_at(Xl, i)
{drift}""")

_DRIFT = "_drift(S, St, lam, p[1], p[2], p[8], G)"
_DRIFT_EXACT = """\
if exact:
    exact_drift(S, St, lam, p[1], p[2], p[8], qx, qwx, qy, qwy, G, aux, False)
else:
    _drift(S, St, lam, p[1], p[2], p[8], G)"""

MACROS = {
    # G_m (into G) and lambda_m (into lam) at the state (S, St, C)
    "forces": _FORCES,
    # dY/dt of the ODE (module docstring) into Kd[i] (3, M); rows of inactive states get 0
    "rhs": ("S, St, C, Kd, i", """\
@forces(S, St, C)
for k in range(M):
    Kd[i, 1, k] = 0.0
    Kd[i, 2, k] = 0.0
@ode_rows(S, St, C, Kd, i)"""),
    # the active rows of dY/dt into Kd[i] (G in G): derivations.analysis.ode_step (ODE_S, ODE_St) and
    # the lagging predictor's dC/dt = kappa_rho (s - C) (s only: the eigenvalues kernel with alpha = 1)
    "ode_rows": ("S, St, C, Kd, i", """\
for k in range(M):
    Kd[i, 0, k] = ODE_S
if ema:
    kap = (1.0 - p[4]) / p[0]
    for k in range(M):
        Kd[i, 1, k] = ODE_St
if lag:
    _eigenvalues(S, p[1], 1.0, p[6], p[7] > 0.5, s, aux)
    kr = (1.0 - p[9]) / p[0]
    for k in range(M):
        Kd[i, 2, k] = kr * (s[k] - C[k])"""),
    # lambda_m into lam at amplitudes X for dopri5's stage i: in full at stages 0 and 6 (base and power
    # kept in bN, lN for the next step's anchor), else by the binomial update from the anchor
    "lam_at": ("X, i", """\
if ratio and i != 0 and i != 6:
    _eigenvalues(X, p[1], 1.0, p[6], p[7] > 0.5, s, lam)
    if pow_ratio_update(lam, b0, l0, cb) != 0:
        _eigenvalues(X, p[1], p[5], p[6], p[7] > 0.5, s, lam)
else:
    _eigenvalues(X, p[1], p[5], p[6], p[7] > 0.5, s, lam)
    if ratio:
        _eigenvalues(X, p[1], 1.0, p[6], p[7] > 0.5, aux, bN)
        for k in range(M):
            lN[k] = lam[k]"""),
    # dopri5's dY/dt at stage i into Kd[i] (3, M): the active rows only (rhs otherwise)
    "rhs5": ("S, St, C, Kd, i", """\
@forces5(S, St, C, i)
@ode_rows(S, St, C, Kd, i)"""),
    # frames fr.. of one point not reached (after a divergence or a stop) are NaN
    "nan_frames": ("s_out, lam_out, fr", """\
nan_s = s_out
nan_l = lam_out
for f in range(fr, nan_s.shape[0]):
    for k in range(nan_s.shape[1]):
        nan_s[f, k] = np.nan
        nan_l[f, k] = np.nan"""),
    # the rows of a state Y (3, M) as S, St (S itself without the EMA target), C
    "state_rows": ("Y, S, St, C", """\
S = Y[0]
St = Y[1] if ema else Y[0]
C = Y[2]"""),
    # G_m into G at (S, St) with lambda already in lam (the map: _map_block)
    "drift": ("S, St", _DRIFT),
    # generic explicit Runge-Kutta step driven by the table (A, b): Yn = Y + h sum b_i K_i; K (nst, 3, M)
    # stage derivatives (with fsal, K[0] already holds f(Y)); Ys the stage state, sS, sSt, sC its rows
    "rk_step": ("fsal", """\
for i in range(nst):
    if i == 0 and fsal:
        continue
    for r in range(3):
        if (r == 1 and not ema) or (r == 2 and not lag):
            continue
        for k in range(M):
            acc = Y[r, k]
            for j in range(i):
                acc += h * A[i, j] * K[j, r, k]
            Ys[r, k] = acc
    @rhs(sS, sSt, sC, K, i)
for r in range(3):
    for k in range(M):
        acc = Y[r, k]
        for j in range(nst):
            acc += h * b[j] * K[j, r, k]
        Yn[r, k] = acc"""),
    # s_m and the lambda_m the dynamics sees (from C when the predictor lags) into frame fr
    "save_frame": ("S, C, fr", """\
_eigenvalues(S, p[1], p[5], p[6], p[7] > 0.5, s, lam)
for k in range(M):
    s_out[fr, k] = s[k]
if lag:
    for k in range(M):
        Sc[k] = amplitude(C[k], p[1])
    _eigenvalues(Sc, p[1], p[5], p[6], p[7] > 0.5, aux, lam)
for k in range(M):
    lam_out[fr, k] = lam[k]"""),
}

_MACRO_LINE = re.compile(r"^(?P<ind> *)@(?P<name>\w+)\((?P<args>[^()]*)\)$", re.M)


def expand_macros(src: str, macros: dict) -> str:
    """Replace every macro line of ``src`` by the macro's body (recursively; see MACROS)."""

    def one(m):
        name = m.group("name")
        if name not in macros:
            return m.group(0)
        params, body = macros[name]
        params = [x.strip() for x in params.split(",")]
        args = [x.strip() for x in m.group("args").split(",")]
        if len(params) != len(args):
            raise ValueError(f"macro {name}: {len(params)} parameters, {len(args)} arguments")
        ren = dict(zip(params, args))
        body = _names(body, **ren)
        body = expand_macros(body, macros)
        return "\n".join(m.group("ind") + ln if ln else ln for ln in body.split("\n"))

    return _MACRO_LINE.sub(one, src)


def _names(expr: str, **names) -> str:
    """``expr`` (generated source) with its whole-word names replaced: _names("S + eta*G", eta="p[0]")."""
    return re.sub(r"\b\w+\b", lambda w: names.get(w.group(0), w.group(0)), expr)


def _fast_map_loop(k) -> tuple[str, str, int, int, str]:
    """The fused per-element step of ``_map_fast`` from the kernel module's elementwise expressions.

    Returns (init, loop, nq, npq, frame_corr) (frame_corr: the loads of the C<i> for a frame's s).
    Per-point terms that depend on the parameters only (P<i> of the drift
    without mode sums, C<i> of s(S), e.g. 1 + sigma1^2) are computed once per point in ``init`` and
    spread over the point's elements (rows of PQ, npq of them): the same values as computing them every
    step, so the same bits.  With mode sums (cosine), a first pass per step and point computes the sums
    R<i> and the terms that depend on them and spreads the nq of them the drift needs (rows of Q), so
    the main pass is one flat loop over all elements either way (a loop per point over its M modes
    would vectorise only M // 8 of them).
    """
    sum_lines, sum_finals, point_lines, drift_lines, drift_final = k.DRIFT_ELEMENTWISE
    corr, base, _, corr_lines = k.LAMBDA_ELEMENTWISE
    upd, ema = k.MAP_STEP  # derivations.analysis.map_step, printed
    names = lambda txt: set(re.findall(r"\b[RPC]\d+\b", txt))  # noqa: E731
    fixed = [ln for ln in point_lines if not any(n.startswith("R") for n in names(ln.split("=", 1)[1]))]
    moving = [ln for ln in point_lines if ln not in fixed]
    used = sorted(names(" ".join(drift_lines) + " " + drift_final))
    fixed_names = [ln.split("=")[0].strip() for ln in list(fixed) + list(corr_lines)]
    q_names = [n for n in used if n not in fixed_names]
    params = ["sigma1 = s1[e]", "sigma2 = s2[e]", "beta = be[e]"]
    load = ["S_k = SS[c0, e]", "St_k = ST[c0, e]", "lam_k = lam[e]"]
    init = ["sigma1 = p[1]", "sigma2 = p[2]", "beta = p[8]"] + list(fixed) + list(corr_lines)
    init += ["for k in range(M):"] + [f"    PQ[{c}, j * M + k] = {name}" for c, name in enumerate(fixed_names)]
    head = load + params + [f"{name} = PQ[{c}, e]" for c, name in enumerate(fixed_names)]
    pre = []
    if sum_finals:
        pre = ["for j in range(nb):"]
        pre += [f"    R{i} = 0.0" for i in range(len(sum_finals))]
        pre += ["    for k in range(M):", "        e = j * M + k"]
        pre += ["        " + ln for ln in load + params + list(sum_lines)]
        pre += [f"        R{i} += {f}" for i, f in enumerate(sum_finals)]
        pre += ["    e = j * M"] + ["    " + ln for ln in params + moving]
        pre += ["    for k in range(M):"] + [f"        Q[{c}, j * M + k] = {name}" for c, name in enumerate(q_names)]
        head += [f"{name} = Q[{c}, e]" for c, name in enumerate(q_names)]
    step = head + list(drift_lines) + [
        f"G = {drift_final}",
        "xn = " + _names(upd, S="S_k", G="G", eta="lr[e]", gamma="wd[e]"),
        "SS[c1, e] = xn",
        "te = tau[e]",
        "ST[c1, e] = " + _names(ema, tau="te", St="St_k", S_new="xn"),
        "nbad += 0 if abs(xn) <= Sb[e] else 1",
        # lambda of the new state: the full power's base, then the power from the ratio of the bases
        "S_k = xn",
        "eps = ep[e]",
        f"s_k = {corr}",
        f"bn = {base}",
        "bo = b[e]",
        "d = 0.0 if bn == bo else (bn - bo) / bo",
        "a = al[e]",
        "v, ok = pow_ratio_step(lam_k, d, a)",
        "g = gen[e]",
        "lam[e] = v if g else (bn if a == 1.0 else bn * bn)",
        "f = g & (not ok)",
        "fx[e] = f",
        "nfix += 1 if f else 0",
        "b[e] = bn",
    ]
    ind = " " * 8
    loop = [ind + ln for ln in pre] + [ind + "for e in range(n):"] + [ind + "    " + ln for ln in step]
    init_src = "\n".join(ind + ln for ln in init)
    corr_names = [ln.split("=")[0].strip() for ln in corr_lines]
    frame_corr = "\n".join(" " * 24 + f"{name} = PQ[{fixed_names.index(name)}, e]" for name in corr_names)
    frame_corr = frame_corr or " " * 24 + "pass"
    return init_src, "\n".join(loop), max(len(q_names), 1), max(len(fixed_names), 1), frame_corr


def integrator_source(rule) -> str:
    """The generated integrator module's source for ``rule`` (imports its kernel module by name)."""
    k = kernels(rule)
    cos = rule.metric == "cosine"
    corr, base, vector_pow, _ = k.LAMBDA_ELEMENTWISE
    fast_init, fast_loop, nq, npq, frame_corr = _fast_map_loop(k)
    src = _TEMPLATE.format(
        kname=k.__name__, has_target=rule.has_target_network, has_exact=cos,
        exact_import=f"from {k.__name__} import exact_integrand as _exact_integrand" if cos else "",
        exact_body=_EXACT_BODY if cos else "    pass",
        vector_pow=vector_pow, map_block=MAP_BLOCK, map_fast_block=MAP_FAST_BLOCK,
        has_fast_map=vector_pow or not rule.has_predictor, corr=corr, base=base, fast_loop=fast_loop, nq=nq,
        npq=npq, fast_init=fast_init, frame_corr=frame_corr,
        update_block=_names(k.MAP_STEP[0], S="S[k]", G="G[k]", eta="p[0]", gamma="p[3]"),
        ema_block=_names(k.MAP_STEP[1], tau="p[4]", St="St[k]", S_new="S[k]"),
    )
    fparams, fbody = _FORCES
    drift = _DRIFT_EXACT if cos else _DRIFT
    oparams, obody = MACROS["ode_rows"]
    ode_s, ode_st = k.ODE_STEP  # derivations.analysis.ode_step, printed
    obody = obody.replace("ODE_St", _names(ode_st, S="S[k]", St="St[k]", kappa="kap"))
    obody = obody.replace("ODE_S", _names(ode_s, S="S[k]", G="G[k]", gamma="p[3]"))
    macros = {**MACROS, "forces": (fparams, fbody.format(drift=drift)), "drift": ("S, St", drift),
              "forces5": (_FORCES5[0], _FORCES5[1].format(drift=drift)), "ode_rows": (oparams, obody)}
    return expand_macros(src, macros)


_MODULES: dict = {}


def compiled(rule):
    """The compiled integrator module for ``rule`` (generated once into the kernel cache)."""
    key = (rule.structural_key, rule.has_target_network)
    if key in _MODULES:
        return _MODULES[key]
    mod = load_module(store_source(integrator_source(rule), "i_"), "isodyn_integrators_")
    _MODULES[key] = mod
    return mod


def n_threads() -> int:
    """Worker threads for batched runs: NUMBA_NUM_THREADS (numba's default: the CPU count)."""
    import numba

    return max(1, int(numba.config.NUMBA_NUM_THREADS))


@dataclass
class RawRun:
    """Arrays of one batched compiled run (B points, T frames, M modes)."""

    s: np.ndarray  # (B, T, M) eigenvalue frames (NaN after a divergence)
    lam: np.ndarray  # (B, T, M) predictor eigenvalues the dynamics sees
    Y: np.ndarray  # (B, 3, M) last finite state (S, S_t, C)
    rate: np.ndarray  # (B, M) |dS/dt| / |S| at that state
    info: np.ndarray  # (B, 4) status, event step, last good step, right-hand-side evaluations


def frame_steps(steps: int, stride: int) -> np.ndarray:
    """The saved steps: 0, stride, 2 stride, ..., and steps."""
    st = np.arange(0, steps + 1, stride)
    return st if st[-1] == steps else np.append(st, steps)


def run(rule, scheme: Scheme, s0, P, steps: int, *, stride: int = 1, substeps: int = 1, exact: bool = False,
        grid=None, rtol: float = 1e-8, atol: float = 1e-12, max_steps: int = 10**7, dense: bool = True,
        threads: int | None = None, map_resync: int = MAP_RESYNC) -> RawRun:
    """Integrate B points from eigenvalues s0 (B, M) with parameters P (B, NPAR) (no validation here)."""
    from concurrent.futures import ThreadPoolExecutor

    mod = compiled(rule)
    s0 = np.ascontiguousarray(s0, dtype=np.float64)
    P = np.ascontiguousarray(P, dtype=np.float64)
    B, M = s0.shape
    T = len(frame_steps(steps, stride))
    out = RawRun(np.empty((B, T, M)), np.empty((B, T, M)), np.empty((B, 3, M)), np.empty((B, M)),
                 np.empty((B, 4), dtype=np.int64))
    if exact:
        qx, qwx = grid.nodes()
    else:
        qx = qwx = np.zeros(1)
    qy, qwy = qx, qwx

    # the map's two paths: the fused elementwise one (_map_fast) where it applies, the one-point one else
    fast = np.zeros(B, dtype=bool)
    if scheme is MAP and map_resync > 0 and mod.HAS_FAST_MAP and not exact:
        fast = (P[:, PIDX["rho"]] <= 0.0) & (P[:, PIDX["normalize"]] <= 0.5)

    def block(i0, i1):
        if scheme.adaptive:
            mod.run_dopri5(i0, i1, s0, P, steps, stride, scheme.A, scheme.b, scheme.c, scheme.e, DOPRI5_DENSE,
                           rtol, atol, max_steps, dense, qx, qwx, qy, qwy, exact,
                           out.s, out.lam, out.Y, out.rate, out.info)
            return
        ids = np.arange(i0, i1, dtype=np.int64)
        if fast[i0:i1].any():
            mod.run_map_fast(ids[fast[i0:i1]], s0, P, steps, stride, map_resync, qx, qwx, qy, qwy,
                             out.s, out.lam, out.Y, out.rate, out.info)
        if not fast[i0:i1].all():
            mod.run_fixed(ids[~fast[i0:i1]], s0, P, scheme.code, steps, stride, substeps, scheme.A, scheme.b,
                          qx, qwx, qy, qwy, exact, out.s, out.lam, out.Y, out.rate, out.info)

    nt = min(threads or n_threads(), B)
    if nt <= 1:
        block(0, B)
    else:
        # compile (or load) in this thread first, then blocks of points on nt threads
        block(0, 1)
        nchunks = min(B - 1, 8 * nt)
        if fast.all():
            # the fused map's blocks want MAP_FAST_BLOCK points: no more chunks than fill them
            nchunks = min(nchunks, max(nt, (B - 1) // MAP_FAST_BLOCK))
        cuts = np.unique(np.linspace(1, B, nchunks + 1).astype(int))
        with ThreadPoolExecutor(nt) as ex:
            list(ex.map(block, cuts[:-1], cuts[1:]))
    return out
