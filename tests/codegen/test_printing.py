"""The 'math-sqrt' printer (codegen.printing): half-integer powers as products with one square root."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from isodyn.dynamics.codegen.printing import printer

x, y, z = sp.symbols("x y z", positive=True)
HALF = [sp.Rational(p, 2) for p in (-7, -5, -3, -1, 1, 3, 5, 7)]


@pytest.mark.parametrize("e", HALF, ids=str)
@pytest.mark.parametrize("form", ["alone", "quotient", "product", "sum base", "nested"])
def test_half_integer_powers_print_with_a_square_root_and_keep_their_value(e, form):
    expr = {"alone": x**e, "quotient": z / x**e, "product": 2 * y * x**e, "sum base": z / (x + y) ** e,
            "nested": (z * x**e + y) ** sp.Rational(3, 2)}[form]
    text = printer("math-sqrt")(expr)
    if abs(e.p) > 1:
        assert "**" not in text.replace("**2", ""), text
    values = {"x": 1.7, "y": 0.45, "z": 0.9}
    got = eval(text, {"math": math}, values)  # noqa: S307 - our own printed expression
    ref = float(expr.subs({x: 1.7, y: 0.45, z: 0.9}))
    assert got == pytest.approx(ref, rel=8 * 2.0**-52), text


def test_other_powers_print_as_the_math_printer_does():
    for expr in (x**2, x ** sp.Rational(1, 3), x**y, x ** sp.Rational(9, 2)):
        assert printer("math-sqrt")(expr) == printer("math")(expr)
