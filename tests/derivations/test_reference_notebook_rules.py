"""The reference notebook's update rules as formulas, and exactly how they differ from the gradient (issue 11.6)."""

from __future__ import annotations

import pytest
import sympy as sp

from isodyn.derivations import Rule
from isodyn.derivations.invariants import Vec, dot, norm
from isodyn.derivations.losses import dl_dp, gradients, vectors
from isodyn.derivations.reference_notebook import (
    SETTINGS,
    Branch,
    departs,
    gradient_branches,
    has_notebook_update,
    notebook_branches,
    notebook_target_cosine,
)


def _same(u: Vec, v: Vec) -> bool:
    return sp.simplify(u.component() - v.component()) == 0


@pytest.mark.parametrize("metric,variant", sorted(SETTINGS))
def test_linear_notebook_update_is_the_gradient_except_cosine_no_stopgrad(metric, variant):
    """With f = identity the derivative mask is 1, so W_P^power (f' ⊙ v) = W_P^power v: compare the resulting vector
    and input branch by branch with the gradient."""
    rule = Rule(metric, variant)
    nb, gr = notebook_branches(rule, "linear"), gradient_branches(rule)
    assert departs(rule, "linear") == ((metric, variant) == ("cosine", "no-stopgrad"))
    if departs(rule, "linear"):
        return
    assert len(nb) == len(gr)
    for a, b in zip(nb, gr):
        assert a.inputs == b.inputs and _same(a.vector.weighted(a.power), b.vector.weighted(b.power))


def test_relu_euclidean_predictor_transpose_comes_after_the_derivative():
    """(a) the notebook's online branch is W_P (f'(u1) ⊙ e), e = dl/dp = p - z2; the gradient's is f'(u1) ⊙ (W_P e):
    the same vector W_P e once the mask is dropped, the mask on the other side of W_P."""
    rule = Rule("euclidean", "standard")
    (nb,), (gr,) = notebook_branches(rule, "relu"), gradient_branches(rule)
    z1, z2, p = vectors(rule)
    assert _same(nb.vector, p - z2) and nb.power == 1 and nb.derivative == "u1" and nb.inputs == "x1"
    assert _same(gr.vector, (p - z2).weighted(1)) and gr.power == 0 and gr.derivative == "u1"
    assert departs(rule, "relu")


def test_the_two_orders_differ_for_a_non_diagonal_predictor_and_agree_without_the_mask():
    """Explicit 2x2: W_P^T (e ⊙ d) - (W_P^T e) ⊙ d for a mask d; zero for d = (1, 1) or a diagonal W_P."""
    a, b, c, e1, e2, d1, d2 = sp.symbols("a b c e1 e2 d1 d2", real=True)
    Wp, e, d = sp.Matrix([[a, b], [b, c]]), sp.Matrix([e1, e2]), sp.Matrix([d1, d2])
    diff = Wp.T * e.multiply_elementwise(d) - (Wp.T * e).multiply_elementwise(d)
    assert sp.simplify(diff - sp.Matrix([b * e2 * (d2 - d1), b * e1 * (d1 - d2)])) == sp.zeros(2, 1)
    assert diff.subs({d1: 1, d2: 1}) == sp.zeros(2, 1) and diff.subs(b, 0) == sp.zeros(2, 1)
    assert diff.subs({d1: 1, d2: 0, b: 1, e1: 1, e2: 1}) != sp.zeros(2, 1)


def test_relu_euclidean_no_stopgrad_and_no_predictor():
    nosg = Rule("euclidean", "no-stopgrad")
    on, tg = notebook_branches(nosg, "relu")
    assert on.power == 1 and _same(on.vector, dl_dp(nosg))
    assert tg.derivative == "u1" and tg.inputs == "x2" and _same(tg.vector, gradients(nosg).target)
    (gr_tg,) = [b for b in gradient_branches(nosg) if b.inputs == "x2"]
    assert gr_tg.derivative == "u2"  # the gradient masks the target branch by its own pre-activation
    nopred = Rule("euclidean", "no-predictor")
    (b,) = notebook_branches(nopred, "relu")
    assert b.derivative is None and _same(b.vector, gradients(nopred).online)


def test_cosine_no_stopgrad_target_term():
    """(b) the gradient's target branch is -(p/(|p||z2|) - (p.z2) z2/(|p||z2|^3)) with f'(u2) and x2; the notebook's
    the same with |p|^3 |z2| in the second denominator, with f'(u1) and x1."""
    rule = Rule("cosine", "no-stopgrad")
    z1, z2, p = vectors(rule)
    P, Z = norm(p), norm(z2)
    exact = -1 * (p * (1 / (P * Z)) - z2 * (dot(p, z2) / (P * Z**3)))
    assert _same(gradients(rule).target, exact)
    assert _same(notebook_target_cosine(rule), -1 * (p * (1 / (P * Z)) - z2 * (dot(p, z2) / (P**3 * Z))))
    assert not _same(notebook_target_cosine(rule), exact)
    nb = notebook_branches(rule, "linear")
    assert nb[1] == Branch(notebook_target_cosine(rule), 0, "u1", "x1")
    assert nb[0] == gradient_branches(rule)[0]  # the online branch is the gradient's


@pytest.mark.parametrize("rule", [Rule("euclidean", "wrong-stopgrad"), Rule("cosine", "standard", beta=0.5),
                                  Rule("euclidean", "standard", predictor="trainable")])
def test_rules_the_notebook_has_not(rule):
    assert not has_notebook_update(rule)
    with pytest.raises(ValueError):
        notebook_branches(rule, "relu")


def _notebook_code(metric, variant):
    """The notebook's next_W for a linear network, transcribed from its code (deltaW = -eta * sum of v x^T):
    [(vector, input)] with the vectors as dl/d-vectors; the masks are 1 for f = identity."""
    rule = Rule(metric, variant)
    z1, z2, p = vectors(rule)
    if metric == "euclidean":
        e = p - z2  # pred_error = Zp - Z2
        return {"standard": [(e.weighted(1), "x1")],  # Wp.T @ pred_error @ X1.T
                "no-stopgrad": [(e.weighted(1), "x1"), (-1 * e, "x2")],  # -(-pred_error) @ X2.T ...
                "no-predictor": [(z1 - z2, "x1")],  # (Z1 - Z2) @ X1.T
                "iso": [(e, "x1")]}[variant]  # pred_error @ X1.T
    P, Z, c = norm(p), norm(z2), dot(p, z2)
    u = z2 * (1 / (P * Z)) - p * (c / (P**3 * Z))  # the notebook adds +eta * (...) @ X1.T
    return {"standard": [(-1 * u.weighted(1), "x1")],
            "no-stopgrad": [(-1 * u.weighted(1), "x1"), (-1 * (p * (1 / (P * Z)) - z2 * (c / (P**3 * Z))), "x1")],
            "no-predictor": [(-1 * u, "x1")],  # p = z1 without a predictor
            "iso": [(-1 * u, "x1")]}[variant]


@pytest.mark.parametrize("metric,variant", sorted(SETTINGS))
def test_the_transcribed_notebook_code_against_the_gradient(metric, variant):
    """Independent of notebook_branches: the notebook's formulas (linear) equal the derived gradient branch by branch,
    except cosine no-stopgrad's target branch, which is notebook_target_cosine with x1."""
    rule = Rule(metric, variant)
    code, grad = _notebook_code(metric, variant), gradient_branches(rule)
    assert len(code) == len(grad)
    for (vec, inputs), g in zip(code, grad):
        if (metric, variant, g.inputs) == ("cosine", "no-stopgrad", "x2"):
            assert inputs == "x1" and not _same(vec, g.vector) and _same(vec, notebook_target_cosine(rule))
            continue
        assert inputs == g.inputs and _same(vec, g.vector)
