"""Symbolic vectors in the predictor's eigenbasis, described by their invariants (SPEC §3-4).

Every loss of SPEC §3 depends on the representations only through inner products
of predictor-weighted vectors, Q(x, y; c) = sum_k lambda_k^c x_k y_k with
x, y in {z1, z2}.  A vector is a finite sum  sum_i coef_i * W_P^{c_i} base_i  with
scalar (possibly invariant-valued) coefficients.  The gradient of a scalar with
respect to z1 (or z2) is again such a vector, obtained by the chain rule through
the invariants - this is what makes a new rule "a new loss expression and nothing
else".

Stop-gradient: every base vector and invariant has a *frozen* twin (a trailing
``~``).  ``sg(expr)`` replaces live symbols by frozen ones; differentiation sees
only live symbols; ``unfreeze`` identifies the twins again afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

BASES = ("z1", "z2")

lam = sp.Symbol("lambda_m", positive=True)  # predictor eigenvalue of mode m
beta = sp.Symbol("beta", real=True)  # IsoLoss-family exponent (run time)


@cache
def component(base: str) -> sp.Symbol:
    """The m-th eigen-coordinate of a base vector, e.g. z1_m or its frozen twin z1~_m."""
    name = {"z1": "z_{1,m}", "z2": "z_{2,m}"}[base.rstrip("~")]
    return sp.Symbol(name + ("~" if base.endswith("~") else ""), real=True)


@dataclass(frozen=True)
class InvariantKey:
    """Q(x, y; c) = sum_k lambda_k^c x_k y_k; x <= y in canonical order."""

    x: str
    y: str
    c: sp.Expr

    @property
    def frozen(self) -> bool:
        return self.x.endswith("~") and self.y.endswith("~")

    @property
    def live_pair(self) -> tuple[str, str]:
        return self.x.rstrip("~"), self.y.rstrip("~")

    @property
    def diagonal(self) -> bool:
        a, b = self.live_pair
        return a == b


_REGISTRY: dict[sp.Symbol, InvariantKey] = {}


def _latex_power(c) -> str:
    return "" if c == 0 else (r"\Lambda " if c == 1 else r"\Lambda^{" + sp.latex(c) + "} ")


@cache
def _invariant(x: str, y: str, c: sp.Expr) -> sp.Symbol:
    # frozen twins keep a "~" on the frozen side, so every key has its own name
    vx, vy = "z_{" + x[1:] + "}", "z_{" + y[1:] + "}"
    name = r"\langle " + vx + ", " + _latex_power(c) + vy + r"\rangle"
    sym = sp.Symbol(name, positive=True) if x.rstrip("~") == y.rstrip("~") else sp.Symbol(name, real=True)
    _REGISTRY[sym] = InvariantKey(x, y, c)
    return sym


def invariant(x: str, y: str, c) -> sp.Symbol:
    """The symbol for Q(x, y; c), canonicalised (x, y sorted)."""
    c = sp.sympify(c)
    x, y = sorted((x, y))
    return _invariant(x, y, c)


def key_of(sym: sp.Symbol) -> InvariantKey | None:
    return _REGISTRY.get(sym)


def invariants_in(expr) -> list[sp.Symbol]:
    return sorted((s for s in sp.sympify(expr).free_symbols if s in _REGISTRY), key=str)


# --- vectors -----------------------------------------------------------------


@dataclass(frozen=True)
class Vec:
    """sum_i coef_i * W_P^{power_i} base_i; terms is a tuple of (coef, power, base)."""

    terms: tuple

    @staticmethod
    def base(name: str, power=0) -> Vec:
        return Vec(((sp.Integer(1), sp.sympify(power), name),))

    def __add__(self, other: Vec) -> Vec:
        return Vec(self.terms + other.terms).simplified()

    def __sub__(self, other: Vec) -> Vec:
        return self + (-1) * other

    def __rmul__(self, scalar) -> Vec:
        s = sp.sympify(scalar)
        return Vec(tuple((s * c, p, b) for c, p, b in self.terms))

    __mul__ = __rmul__

    def __neg__(self):
        return (-1) * self

    def weighted(self, power) -> Vec:
        """W_P^power applied to this vector."""
        return Vec(tuple((c, p + power, b) for c, p, b in self.terms))

    def simplified(self) -> Vec:
        acc: dict = {}
        for c, p, b in self.terms:
            k = (sp.simplify(p), b)
            acc[k] = acc.get(k, 0) + c
        return Vec(tuple((c, p, b) for (p, b), c in acc.items() if c != 0))

    def component(self, lam_m=lam) -> sp.Expr:
        """The m-th eigen-coordinate: sum coef * lambda_m^power * base_m."""
        return sp.Add(*[c * lam_m**p * component(b) for c, p, b in self.terms])

    def map_coefs(self, f) -> Vec:
        return Vec(tuple((f(c), p, b) for c, p, b in self.terms))

    def map_bases(self, f) -> Vec:
        return Vec(tuple((c, p, f(b)) for c, p, b in self.terms))


def dot(u: Vec, v: Vec) -> sp.Expr:
    """u . v in terms of invariants."""
    return sp.Add(*[cu * cv * invariant(bu, bv, pu + pv) for cu, pu, bu in u.terms for cv, pv, bv in v.terms])


def norm(u: Vec) -> sp.Expr:
    return sp.sqrt(dot(u, u))


# --- stop-gradient -------------------------------------------------------------


def _freeze_name(b: str) -> str:
    return b if b.endswith("~") else b + "~"


def _thaw_name(b: str) -> str:
    return b.rstrip("~")


def _rename_map(f) -> dict:
    m = {}
    for sym, k in list(_REGISTRY.items()):
        m[sym] = invariant(f(k.x), f(k.y), k.c)
    for b in BASES:
        m[component(b)] = component(f(b))
        m[component(b + "~")] = component(f(b + "~"))
    return m


def sg(obj):
    """Stop-gradient of a scalar expression or a Vec."""
    if isinstance(obj, Vec):
        return obj.map_coefs(sg).map_bases(_freeze_name)
    expr = sp.sympify(obj)
    return expr.xreplace({s: t for s, t in _rename_map(_freeze_name).items() if s in expr.free_symbols})


def unfreeze(obj):
    """Identify frozen twins with live symbols (after differentiation)."""
    if isinstance(obj, Vec):
        return obj.map_coefs(unfreeze).map_bases(_thaw_name).simplified()
    expr = sp.sympify(obj)
    return expr.xreplace({s: t for s, t in _rename_map(_thaw_name).items() if s in expr.free_symbols})


# --- differentiation -----------------------------------------------------------


def grad(scalar, wrt: str) -> Vec:
    """Gradient of ``scalar`` with respect to the live vector ``wrt`` ('z1' or 'z2'), as a Vec.

    Chain rule through the invariants: dQ(x,x;c)/dx = 2 W^c x, dQ(x,y;c)/dx = W^c y.
    Frozen symbols are constants.  The result is unfrozen.
    """
    scalar = sp.sympify(scalar)
    terms = []
    for sym in invariants_in(scalar):
        k = key_of(sym)
        if k.frozen:
            continue
        d = sp.diff(scalar, sym)
        if d == 0:
            continue
        if k.x == wrt and k.y == wrt:
            terms.append((2 * d, k.c, wrt))
        elif k.x == wrt:
            terms.append((d, k.c, k.y))
        elif k.y == wrt:
            terms.append((d, k.c, k.x))
    return unfreeze(Vec(tuple(terms)).map_coefs(sp.simplify))


def grad_lambda(scalar) -> sp.Expr:
    """d scalar / d lambda_m: the m-th diagonal entry, in the predictor's eigenbasis, of the gradient with
    respect to a symmetric predictor W_P = U diag(lambda) U^T aligned with the representation (SPEC §7).

    Chain rule through the invariants: dQ(x, y; c)/dlambda_m = c lambda_m^(c-1) x_m y_m.  The predictor
    acts on z1 (p = W_P z1), so only invariants with a live z1 side depend on it; frozen symbols (under a
    stop-gradient, p = SG(W_P z1) included) are constants.  The result is unfrozen.
    """
    scalar = sp.sympify(scalar)
    out = sp.Integer(0)
    for sym in invariants_in(scalar):
        k = key_of(sym)
        if k.c == 0 or "z1" not in (k.x, k.y):
            continue
        d = sp.diff(scalar, sym)
        if d != 0:
            out += d * k.c * lam ** (k.c - 1) * component(k.x) * component(k.y)
    return unfreeze(sp.simplify(out))
