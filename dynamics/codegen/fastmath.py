"""A SIMD-vectorisable power x**y for numba loops (the predictor eigenvalues lambda = (s + eps)^alpha).

numba compiles ``x ** y`` to a scalar call of libm's pow (~25-30 ns; this llvmlite has no SVML), and a
call in a loop body stops LLVM from vectorising it.  :func:`pow_inplace` computes ``a[k] = a[k] ** y``
for a whole array in one loop with no calls and no branches in its body (selects only), so LLVM turns
it into AVX-512 / AVX2 code; exact fast paths for y in {0, 0.5, 1, 2}.

Method (all operations IEEE double, fused multiply-add through ``llvm.fma``; no fast-math flags):

* ``x = m 2^e`` by exponent/mantissa bit extraction, m in [sqrt(1/2), sqrt(2)) (subnormals pre-scaled
  by 2^54);
* ``ln m = 2 atanh(t) = 2t + t^3 Q(t^2)``, ``t = (m - 1)/(m + 1)`` as a double-double (|t| <= 0.1716,
  Q: the atanh series, 10 terms, truncation <= 2.2e-19);
* ``w = y (e + ln m / ln 2)`` as a double-double ``W_hi + W_lo`` (error-free products by FMA), so the
  exponent's absolute error stays ~1e-18 even where |w| ~ 3000;
* ``2^w = 2^n 2^f``, n = round(W_hi), f = W_hi - n in [-1/2, 1/2]; ``2^f = 1 + f q(f)`` with q the
  Taylor series of (2^f - 1)/f (13 terms, truncation <= 4.1e-18); W_lo enters as 2^f (1 + W_lo ln 2);
* the scale 2^n is applied as two exactly representable powers of two, so gradual underflow rounds
  once and overflow gives inf.

Accuracy (tests/test_fastmath.py, against math.pow): relative error <= 2.2e-16 (about 1 ulp) for
finite positive x in [1e-300, 1e300] and y in (0, 3]; subnormal results have the absolute error of
one subnormal ulp.  Special values follow math.pow (0, inf, nan, negative bases with integer y,
y outside [-2^20, 2^20] or nan -> a scalar math.pow loop).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# --- intrinsics: bit casts and fused multiply-add (vectorisable, no calls after lowering) -----------


@intrinsic
def as_int64(typingctx, x):
    """The IEEE bits of a float64 as int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def as_float64(typingctx, i):
    """The float64 with IEEE bits ``i`` (int64)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma.f64: vfmadd on FMA hardware)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def fdiv(typingctx, a, b):
    """a / b, IEEE (no zero check whatever the caller's error model: a vectorisable division)."""
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fdiv(args[0], args[1])

    return sig, codegen


BLOCK = 16


@intrinsic
def _stack_block(typingctx):
    """Pointer to BLOCK float64 on the calling function's stack (an alloca in its entry block)."""
    sig = types.CPointer(types.float64)()

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, ir.DoubleType(), size=BLOCK)

    return sig, codegen


# --- constants (tests/test_fastmath.py recomputes them with mpmath) ---------------------------------

# q(f) = (2^f - 1) / f = sum_{k=1}^{13} ln2^k / k! f^(k-1)
E1 = 0.6931471805599453
E2 = 0.24022650695910072
E3 = 0.05550410866482158
E4 = 0.009618129107628477
E5 = 0.0013333558146428443
E6 = 0.0001540353039338161
E7 = 1.5252733804059841e-05
E8 = 1.321548679014431e-06
E9 = 1.01780860092397e-07
E10 = 7.054911620801123e-09
E11 = 4.4455382718708116e-10
E12 = 2.5678435993488206e-11
E13 = 1.3691488853904128e-12
# Q(z) = sum_{k=0}^{9} 2 / (2k + 3) z^k  (ln m = 2t + t^3 Q(t^2))
L0 = 0.6666666666666666
L1 = 0.4
L2 = 0.2857142857142857
L3 = 0.2222222222222222
L4 = 0.18181818181818182
L5 = 0.15384615384615385
L6 = 0.13333333333333333
L7 = 0.11764705882352941
L8 = 0.10526315789473684
L9 = 0.09523809523809523
INVLN2_HI = 1.4426950408889634  # 1/ln 2 = INVLN2_HI + INVLN2_LO
INVLN2_LO = 2.0355273740931033e-17
LN2 = 0.6931471805599453
SQRT2_BITS = 0x3FF6A09E667F3BCD  # bits of sqrt(2)
MANT = 0x000FFFFFFFFFFFFF
ONE_BITS = 0x3FF0000000000000
HALF_BITS = 0x3FE0000000000000
ROUND = 6755399441055744.0  # 1.5 * 2^52: (w + ROUND) - ROUND rounds |w| < 2^51 to nearest
TWO54 = 18014398509481984.0
TINY = 2.2250738585072014e-308  # smallest normal
Y_MAX = 1048576.0  # |y| <= 2^20 keeps |w| < 2^31: no overflow of the reduction


@njit(inline="always")
def _pow_pos(x, y, zval, ival):
    """x^y for x >= 0 or nan (no sign handling); zval, ival: the results for x = 0 and x = inf."""
    small = x < TINY
    xs = x * TWO54 if small else x
    bits = as_int64(xs)
    e = ((bits >> 52) & 0x7FF) - (1077 if small else 1023)
    mb = (bits & MANT) | ONE_BITS
    big = mb > SQRT2_BITS
    m = as_float64((bits & MANT) | HALF_BITS) if big else as_float64(mb)
    ef = float(e + 1 if big else e)
    # t = (m - 1)/(m + 1) as t_hi + t_lo; m - 1, den_hi - 1 and the den_lo difference are exact
    num = m - 1.0
    den = m + 1.0
    den_lo = m - (den - 1.0)
    rcp = 1.0 / den
    t = num * rcp
    # the residual needs only ~2^-40 relative accuracy (t_lo is ~2^-52 t)
    t_lo = (fma(-t, den, num) - t * den_lo) * rcp
    z = t * t
    # Q by Estrin's scheme (short dependency chain; t^3 Q <= 0.0035 so its rounding is ~1e-18)
    z2 = z * z
    z4 = z2 * z2
    Q = fma(fma(fma(L9, z, L8), z4, fma(fma(L7, z, L6), z2, fma(L5, z, L4))), z4,
            fma(fma(L3, z, L2), z2, fma(L1, z, L0)))
    tail = fma(t * z, Q, 2.0 * t_lo)
    # ln m = lh + ll (fast two-sum; |2t| >= |tail|)
    lh = 2.0 * t + tail
    ll = tail - (lh - 2.0 * t)
    # log2 m = ph + pl
    ph = lh * INVLN2_HI
    pl = fma(lh, INVLN2_HI, -ph) + fma(lh, INVLN2_LO, ll * INVLN2_HI)
    # w = y e + y log2 m = A + B (two-products), then W = A + B as W_hi + W_lo (two-sum)
    ah = y * ef
    al = fma(y, ef, -ah)
    bh = y * ph
    bl = fma(y, ph, -bh) + y * pl
    wh = ah + bh
    bb = wh - ah
    wl = ((ah - (wh - bb)) + (bh - bb)) + (al + bl)
    # 2^w = 2^n 2^f
    wc = wh if wh > -2040.0 else -2040.0
    wc = wc if wc < 2040.0 else 2040.0
    sh = wc + ROUND
    nf = sh - ROUND
    n = as_int64(sh) - as_int64(ROUND)
    f = wc - nf
    # q = E1 + f (E2 + f (E3 + f R(f))): Horner where rounding matters, R (E4..E13) by Estrin
    f2 = f * f
    f4 = f2 * f2
    R = fma(fma(E13, f, E12), f4 * f4,
            fma(fma(fma(E11, f, E10), f2, fma(E9, f, E8)), f4, fma(fma(E7, f, E6), f2, fma(E5, f, E4))))
    q = fma(fma(fma(R, f, E3), f, E2), f, E1)
    u = f * q
    T = fma(f, q, (wl * LN2) * (1.0 + u))
    p = 1.0 + T
    n1 = n >> 1
    n2 = n - n1
    res = (p * as_float64((n1 + 1023) << 52)) * as_float64((n2 + 1023) << 52)
    res = zval if x == 0.0 else res
    res = ival if x == math.inf else res
    return x if x != x else res


@njit(cache=True, inline="always", error_model="numpy")
def _pow_general(a, y):
    """a[k] = a[k] ** y for 0 < |y| <= 2^20: one branch-free (vectorised) loop."""
    zval = 0.0 if y > 0.0 else math.inf
    ival = math.inf if y > 0.0 else 0.0
    yint = math.floor(y) == y
    yodd = yint and math.floor(0.5 * y) != 0.5 * y
    # negative sign bit: finite x < 0 -> +-|x|^y for integer y, else nan; -inf and -0 -> +-ival, +-zval
    negval = math.nan
    if yint:
        negval = -1.0 if yodd else 1.0
    ninf = -ival if yodd else ival
    nzero = -zval if yodd else zval
    # blocks of BLOCK through a stack buffer: the compute loop has a constant trip count (no scalar
    # remainder; for small n, e.g. 10 modes, its vector iterations are independent and overlap)
    buf = carray(_stack_block(), BLOCK)
    n = a.shape[0]
    for b0 in range(0, n, BLOCK):
        m = n - b0 if n - b0 < BLOCK else BLOCK
        for j in range(m):
            buf[j] = a[b0 + j]
        for j in range(m, BLOCK):
            buf[j] = 1.0
        for j in range(BLOCK):
            x = buf[j]
            ax = abs(x)
            r = _pow_pos(ax, y, zval, ival)
            s = r * negval
            s = ninf if x == -math.inf else s
            s = nzero if x == 0.0 else s
            buf[j] = s if as_int64(x) < 0 else r
        for j in range(m):
            a[b0 + j] = buf[j]


@njit(cache=True, inline="always", error_model="numpy")
def pow_inplace(a, y):
    """a[k] = a[k] ** y for every k (math.pow's values, general y to about 1 ulp; module docstring).

    a: (n,) float64, modified in place; y: float.  Exact for y in {0, 0.5, 1, 2}.
    inline="always" (with _pow_general): a numba caller compiles these loops into its own body, so no
    array is passed through a call (no NRT reference counting); compile the caller with
    error_model="numpy" or the division in _pow_pos gets a zero check that stops vectorisation.
    """
    n = a.shape[0]
    if y == 1.0:
        return
    if y == 2.0:
        for k in range(n):
            a[k] = a[k] * a[k]
    elif y == 0.0:
        for k in range(n):
            a[k] = 1.0
    elif y == 0.5:
        neg = 0
        for k in range(n):
            neg += 1 if a[k] < 0.0 else 0
        if neg == 0:
            for k in range(n):
                a[k] = math.sqrt(a[k]) + 0.0  # + 0.0: pow(-0, 0.5) = +0
        else:
            for k in range(n):
                a[k] = math.pow(a[k], y)
    elif abs(y) <= Y_MAX:
        _pow_general(a, y)
    else:
        for k in range(n):
            a[k] = math.pow(a[k], y)


@njit(cache=True, error_model="numpy")
def pow_rows(a, y, M, w):
    """a[r M + k] = a[r M + k] ** y[r]: R rows of M values, each row exactly as ``pow_inplace(row, y[r])``.

    a: (R M,) float64 in place; y: (R,) exponents; w: (R M,) work space.  Rows with a general exponent
    (0 < |y| <= 2^20, not in {0.5, 1, 2}) go through ONE branch-free loop over all R M elements with a
    per-element exponent (the same operations per element as :func:`_pow_general`, so the same bits);
    the other rows take pow_inplace's exact / math.pow paths.  For blocks of points stepped together
    (the one-point map of the integrator modules): many short rows become one long vectorised loop.
    """
    R = y.shape[0]
    ngen = 0
    for r in range(R):
        yr = y[r]
        o = r * M
        gen = not (yr == 1.0 or yr == 2.0 or yr == 0.0 or yr == 0.5) and abs(yr) <= Y_MAX
        for k in range(M):
            w[o + k] = yr if gen else math.nan
        if gen:
            ngen += 1
        elif yr == 1.0:
            pass
        elif yr == 2.0:
            for k in range(M):
                a[o + k] = a[o + k] * a[o + k]
        elif yr == 0.0:
            for k in range(M):
                a[o + k] = 1.0
        elif yr == 0.5:
            neg = 0
            for k in range(M):
                neg += 1 if a[o + k] < 0.0 else 0
            if neg == 0:
                for k in range(M):
                    a[o + k] = math.sqrt(a[o + k]) + 0.0
            else:
                for k in range(M):
                    a[o + k] = math.pow(a[o + k], yr)
        else:
            for k in range(M):
                a[o + k] = math.pow(a[o + k], yr)
    if ngen == 0:
        return
    nbad = 0
    for j in range(R * M):
        nbad += 1 if (as_int64(a[j]) < 0 or w[j] < 0.0) else 0
    if nbad == 0:
        # general rows with y > 0 and no sign bit set (the usual case): _pow_general's result is
        # _pow_pos(x, y, 0, inf) itself (constant zval, ival: a select on y here stops vectorisation)
        for j in range(R * M):
            yj = w[j]
            x = a[j]
            r = _pow_pos(x, yj, 0.0, math.inf)
            a[j] = r if yj == yj else x
        return
    for j in range(R * M):
        yj = w[j]
        x = a[j]
        zval = 0.0 if yj > 0.0 else math.inf
        ival = math.inf if yj > 0.0 else 0.0
        yint = np.floor(yj) == yj
        yodd = yint & (np.floor(0.5 * yj) != 0.5 * yj)
        negval = (-1.0 if yodd else 1.0) if yint else math.nan
        ninf = -ival if yodd else ival
        nzero = -zval if yodd else zval
        ax = abs(x)
        r = _pow_pos(ax, yj, zval, ival)
        s = r * negval
        s = ninf if x == -math.inf else s
        s = nzero if x == 0.0 else s
        res = s if as_int64(x) < 0 else r
        a[j] = res if yj == yj else x


@njit(cache=True, error_model="numpy")
def pow_scalar(x, y):
    """x ** y exactly as :func:`pow_inplace` computes it for one element (compiled once, here)."""
    one = np.empty(1)
    one[0] = x
    pow_inplace(one, y)
    return one[0]


@njit(cache=True, error_model="numpy")
def pow_elementwise(x, y, out):
    """out[k] = x[k] ** y[k], per element exactly as :func:`pow_inplace` (x (n,), y (n,), out (n,)).

    One branch-free loop for bases >= 0 and exponents in [0, 2^20] (pow_inplace's exact paths for
    y in {0, 0.5, 1, 2} as selects, :func:`_pow_pos` otherwise), then :func:`pow_scalar` for anything
    else.  Compiled once here (cache=True), not into every caller: the map's full-power steps
    (the fused map, _map_fast of the integrator modules) call it every MAP_RESYNC steps.
    """
    n = x.shape[0]
    nodd = 0
    for k in range(n):
        b = x[k]
        a = y[k]
        r = _pow_pos(b, a, 0.0, math.inf)
        r = math.sqrt(b) + 0.0 if a == 0.5 else r
        r = b if a == 1.0 else r
        r = b * b if a == 2.0 else r
        r = 1.0 if a == 0.0 else r
        out[k] = r
        nodd += 0 if ((a >= 0.0) & (a <= Y_MAX) & (b >= 0.0)) else 1
    if nodd > 0:
        for k in range(n):
            if not ((y[k] >= 0.0) & (y[k] <= Y_MAX) & (x[k] >= 0.0)):
                out[k] = pow_scalar(x[k], y[k])


# --- lambda along a trajectory: (b_new / b_old)^y from the ratio, by short polynomials ---------------
# Two variants of "a power near a known one": pow_ratio_step for one element of the map's fused loop
# (one step moves a base by |d| <= 2^-6; the exponent varies per element, so log1p/expm1 series in y and
# d, no per-exponent tables), and pow_ratio_update below for dopri5's stages (larger moves, |d| <= 1/8;
# one exponent per point, so a precomputed binomial series).

STEP_DMAX = 0.015625  # |d| <= 2^-6 (then b_new - b_old is exact: Sterbenz)
STEP_WMAX = 0.0625  # |y log1p(d)| <= 2^-4


@njit(inline="always")
def pow_ratio_step(v, d, y):
    """(v (1 + d)^y, ok) for one element: the power of a base that changed by the factor 1 + d.

    For the map's lambda = b^y along a trajectory: lambda_new = lambda_old (b_new / b_old)^y with
    d = (b_new - b_old) / b_old.  (1 + d)^y = 1 + E, E = expm1(y log1p(d)), both by their Taylor series
    without range reduction, by Horner's rule (fewest multiplications: the fused map loop that calls
    this is bound by the FMA ports, not by latency -- measured 6% faster than Estrin's scheme):
    log1p to d^9 (relative truncation <= |d|^9 / 10 <= 2^-57 at |d| <= 2^-6), expm1 to w^9 (relative
    truncation <= |w|^9 / 10! <= 2^-58 at |w| <= 2^-4); the product v + v E by one FMA.  Error of one
    update (tests/test_fastmath.py): <= 1 ulp against the exactly rounded b_new^y given v = b_old^y
    rounded.  ``ok`` is False outside |d| <= STEP_DMAX, |w| <= STEP_WMAX (or for nan): the caller computes
    the power afresh there.  No branches, no calls: vectorises.
    """
    L = fma(fma(fma(fma(fma(fma(fma(fma(1.0 / 9.0, d, -0.125), d, 1.0 / 7.0), d, -1.0 / 6.0), d, 0.2), d,
                        -0.25), d, 1.0 / 3.0), d, -0.5), d * d, d)
    w = y * L
    E = fma(fma(fma(fma(fma(fma(fma(fma(1.0 / 362880.0, w, 1.0 / 40320.0), w, 1.0 / 5040.0), w, 1.0 / 720.0), w,
                            1.0 / 120.0), w, 1.0 / 24.0), w, 1.0 / 6.0), w, 0.5), w * w, w)
    ok = (abs(d) <= STEP_DMAX) & (abs(w) <= STEP_WMAX)
    return fma(v, E, v), ok
# --- powers near a known one: lambda = l0 (b / b0)^y by the binomial series ----------------------------

# (1 + d)^y - 1 = d sum_{j=0}^{RATIO_TERMS-1} binom(y, j + 1) d^j for |d| <= RATIO_DMAX, 0 < y <= RATIO_YMAX:
# truncation <= 5.7e-22 (tests/test_fastmath.py recomputes it with mpmath)
RATIO_DMAX = 0.125
RATIO_TERMS = 20
RATIO_YMAX = 3.0


@njit(cache=True)
def binomial_coeffs(y, c):
    """c[j] = binom(y, j + 1) for j < c.shape[0] (the series of :func:`pow_ratio_update`); c (RATIO_TERMS,)."""
    v = y
    for j in range(c.shape[0]):
        c[j] = v
        v = v * (y - (j + 1)) / (j + 2)


@njit(cache=True, error_model="numpy")
def pow_ratio_anchor(b, lam, b0, l0):
    """Store a known power for :func:`pow_ratio_update`: b0 = b where the update may start from it (0 < b
    < inf and lam = b^y a finite normal number), NaN elsewhere (the update then refuses); l0 = lam.
    All (n,) float64."""
    for k in range(b.shape[0]):
        x = b[k]
        lk = lam[k]
        good = (x > 0.0) & (x < math.inf) & (lk >= TINY) & (lk < math.inf)
        b0[k] = x if good else math.nan
        l0[k] = lk


@njit(cache=True, error_model="numpy")
def pow_ratio_update(a, b0, l0, c):
    """a[k] <- l0[k] (a[k] / b0[k])^y (= a[k]^y) from the power l0 = b0^y known nearby; returns 0 on success.

    a: (n,) bases in, powers out; b0, l0: (n,) from :func:`pow_ratio_anchor`; c (RATIO_TERMS,):
    binomial_coeffs(y), 0 < y <= RATIO_YMAX.  d = (a - b0) / b0 (a - b0 is exact for a / b0 in [1/2, 2]);
    (1 + d)^y - 1 = d q(d), q the binomial series (RATIO_TERMS terms, Estrin's scheme in fused
    multiply-adds: a dependency chain of 5 instead of 20); a = l0 + l0 d q in one more.  For |d| <=
    RATIO_DMAX the truncation is <= 5.7e-22; with l0 from pow_inplace (<= 1.07 ulp) the relative error
    against the exact a^y measured <= 2.35e-16 (as pow_inplace's own), at most 2 ulp from a fresh
    pow_inplace (tests/test_dopri_speed.py: random and real-trajectory bases).  One branch-free loop
    (vectorised).  Elements with |d| >
    RATIO_DMAX (or an invalid anchor, b0 = NaN) are counted and the count returned: then the values
    written are garbage and the caller must compute the whole row's powers in full.
    """
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
    c10, c11, c12, c13, c14, c15, c16, c17, c18, c19 = (c[10], c[11], c[12], c[13], c[14], c[15], c[16],
                                                        c[17], c[18], c[19])
    nbad = 0
    for k in range(a.shape[0]):
        x = b0[k]
        d = fdiv(a[k] - x, x)
        nbad += 0 if abs(d) <= RATIO_DMAX else 1
        d2 = d * d
        d4 = d2 * d2
        d8 = d4 * d4
        q0 = fma(fma(c3, d, c2), d2, fma(c1, d, c0))
        q1 = fma(fma(c7, d, c6), d2, fma(c5, d, c4))
        q2 = fma(fma(c11, d, c10), d2, fma(c9, d, c8))
        q3 = fma(fma(c15, d, c14), d2, fma(c13, d, c12))
        q4 = fma(fma(c19, d, c18), d2, fma(c17, d, c16))
        q = fma(fma(q4, d8, fma(q3, d4, q2)), d8, fma(q1, d4, q0))
        lk = l0[k]
        a[k] = fma(lk, q * d, lk)
    return nbad


# --- arrays without reference counting, for hot loops -------------------------------------------------


@intrinsic
def borrow(typingctx, arr):
    """A view of the array ``arr`` without its memory-info pointer: passing it to (or aliasing it in) numba
    functions does no reference counting.  numba increfs and decrefs every array argument of a call and
    every array alias with atomic operations (NRT_incref / NRT_decref); with a null memory-info pointer
    those are a test and a return.  The caller must keep ``arr`` alive (:func:`keep_alive`) while the
    view is in use: the view does not own its memory."""
    if not isinstance(arr, types.Array):
        return None
    sig = arr(arr)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = context.make_array(aryty)(context, builder, args[0])
        dst = context.make_array(aryty)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = src.shape
        dst.strides = src.strides
        return dst._getvalue()

    return sig, codegen


@intrinsic
def keep_alive(typingctx, arr):
    """No operation; a use of ``arr`` that numba keeps, so the array lives at least until this point
    (the owner of :func:`borrow`'s views)."""
    if not isinstance(arr, types.Array):
        return None
    sig = types.none(arr)

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return sig, codegen
