"""Moments of a zero-mean bivariate Gaussian (a, b) with covariance [[Kaa, Kab], [Kab, Kbb]].

Used for the expected mode maps (SPEC §4): E[a^i b^j] as an exact polynomial in
the covariance entries, obtained by differentiating the moment generating function.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

_s, _t = sp.symbols("s t")
Kaa, Kab, Kbb = sp.symbols("K_aa K_ab K_bb", real=True)


@cache
def _moment(i: int, j: int) -> sp.Expr:
    mgf = sp.exp((Kaa * _s**2 + 2 * Kab * _s * _t + Kbb * _t**2) / 2)
    return sp.expand(sp.diff(mgf, _s, i, _t, j).subs({_s: 0, _t: 0}))


def moment(i: int, j: int, kaa=Kaa, kab=Kab, kbb=Kbb) -> sp.Expr:
    """E[a^i b^j] for the covariance (kaa, kab, kbb)."""
    return _moment(i, j).xreplace({Kaa: kaa, Kab: kab, Kbb: kbb})


def expectation(poly: sp.Expr, a: sp.Symbol, b: sp.Symbol, kaa=Kaa, kab=Kab, kbb=Kbb) -> sp.Expr:
    """E[poly(a, b)] for a polynomial in a, b (other symbols are constants)."""
    p = sp.Poly(sp.expand(poly), a, b)
    return sp.Add(*[c * moment(i, j, kaa, kab, kbb) for (i, j), c in p.terms()])
