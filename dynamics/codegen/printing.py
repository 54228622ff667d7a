"""Printing sympy expressions as Python source for the generated modules (no numerics here).

``printer('math')`` prints scalar code for numba (``math.*``), ``printer('xp')`` array code generic over
NumPy and CuPy (``xp.*``).  :func:`cse_lines` names shared subexpressions once; :func:`hoist_point_terms`
separates what is the same for every mode of a point from what varies per mode.
"""

from __future__ import annotations


def printer(kind: str):
    """A function expr -> source text: 'math' (scalar, numba), 'math-sqrt' (the same with half-integer powers
    x**(p/2), |p| < 8, as products with one math.sqrt: a square root is several times cheaper than pow; the
    per-sample gradient loops) or 'xp' (arrays, NumPy/CuPy)."""
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.pycode import PythonCodePrinter

    if kind == "xp":
        p = NumPyPrinter({"fully_qualified_modules": True})
        return lambda e: p.doprint(e).replace("numpy.", "xp.")
    if kind == "math-sqrt":
        p = _sqrt_power_printer_class()({"fully_qualified_modules": True})
        return lambda e: p.doprint(e)
    p = PythonCodePrinter({"fully_qualified_modules": True})
    return lambda e: p.doprint(e)


def _sqrt_power_printer_class():  # built on use: sympy is imported lazily in this module
    from sympy.printing.precedence import PRECEDENCE
    from sympy.printing.pycode import PythonCodePrinter

    class SqrtPowerPrinter(PythonCodePrinter):
        """x**(p/2) = x**k sqrt(x) (k = (|p| - 1) / 2), and its reciprocal for p < 0; parenthesised, so the
        surrounding product or quotient keeps its meaning."""

        def _print_Pow(self, expr, rational=False):
            b, e = expr.args
            if e.is_Rational and e.q == 2 and 1 < abs(e.p) < 8:
                base = self.parenthesize(b, PRECEDENCE["Mul"] + 1)
                term = "*".join([base] * ((abs(e.p) - 1) // 2) + [f"math.sqrt({self._print(b)})"])
                return f"({term})" if e.p > 0 else f"(1/({term}))"
            return super()._print_Pow(expr, rational)

    return SqrtPowerPrinter


def cse_lines(exprs, kind: str, prefix: str) -> tuple[list[str], list[str]]:
    """Assignments computing ``exprs`` with shared subexpressions named once (``prefix``0, ``prefix``1, ...):
    returns (lines "name = expr", the final expressions), unindented."""
    import sympy as sp

    pr = printer(kind)
    reps, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols(prefix), optimizations="basic")
    return [f"{sym} = {pr(val)}" for sym, val in reps], [pr(e) for e in reduced]


def mode_symbols() -> dict:
    """derivations' per-mode symbols -> the names the generated loops use (S_k, St_k, lam_k, ...)."""
    import sympy as sp

    from isodyn.derivations.invariants import beta, lam
    from isodyn.derivations.modes import S, St, sigma1, sigma2, t, u

    names = {S: "S_k", St: "St_k", lam: "lam_k", sigma1: "sigma1", sigma2: "sigma2", beta: "beta", t: "t", u: "u"}
    return {k: sp.Symbol(v) for k, v in names.items()}


def hoist_point_terms(expr, element_symbols, prefix: str = "P"):
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
