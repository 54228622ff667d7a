"""Per-sample losses of every rule and their gradients (SPEC §3).

This is the only place a loss is written.  A loss is a sympy expression in the
invariants of :mod:`derivations.invariants`; its gradients with respect to the
online representation z1 and the target representation z2 are derived by the
chain rule, never typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from .invariants import Vec, beta, dot, grad, grad_lambda, norm, sg
from .rules import Rule

half = sp.Rational(1, 2)


def euclidean(p: Vec, t: Vec) -> sp.Expr:
    """l = 1/2 ||p - t||^2."""
    return half * dot(p - t, p - t)


def cosine(p: Vec, t: Vec) -> sp.Expr:
    """l = -p.t / (||p|| ||t||)."""
    return -dot(p, t) / (norm(p) * norm(t))


METRIC_FUNCS = {"euclidean": euclidean, "cosine": cosine}


def vectors(rule: Rule) -> tuple[Vec, Vec, Vec]:
    """(z1, z2, p) with p = W_P z1 (W_P = I without a predictor)."""
    z1, z2 = Vec.base("z1"), Vec.base("z2")
    p = z1.weighted(1) if rule.has_predictor else z1
    return z1, z2, p


def dl_dp(rule: Rule) -> Vec:
    """dl/dp of the metric with the target stopped, as a vector (W_P^-1 grad_z1 of the standard loss)."""
    z1, z2, p = vectors(rule)
    g = grad(METRIC_FUNCS[rule.metric](p, sg(z2)), "z1")
    return g.weighted(-1) if rule.has_predictor else g


def iso_loss(rule: Rule) -> sp.Expr:
    """The IsoLoss surrogates of SPEC §3, written as the paper writes them."""
    z1, z2, p = vectors(rule)
    if rule.metric == "euclidean":
        r = z1 - sg(z2 + z1 - p)
        return half * dot(r, r)
    w = z1.weighted(half)
    return -dot(z1, sg(z2)) / sg(norm(p) * norm(z2)) + half * sg(
        dot(p, z2) / (norm(p) ** 3 * norm(z2))
    ) * dot(w, w)


def per_sample_loss(rule: Rule) -> sp.Expr:
    """The per-sample loss l(z1, z2) of ``rule`` in invariants (SG marks frozen symbols)."""
    metric = METRIC_FUNCS[rule.metric]
    z1, z2, p = vectors(rule)
    if rule.beta is not None:
        # IsoLoss family: l_beta = SG(W_P^beta dl/dp) . z1 (+ the target branch for no-stopgrad)
        loss = dot(sg(dl_dp(rule).weighted(beta)), z1)
        if rule.variant == "no-stopgrad":
            loss = loss + metric(sg(p), z2)
        return loss
    if rule.variant == "standard":
        return metric(p, sg(z2))
    if rule.variant == "iso":
        return iso_loss(rule)
    if rule.variant == "no-stopgrad":
        return metric(p, z2)
    if rule.variant == "wrong-stopgrad":
        return metric(sg(p), z2)
    if rule.variant == "no-predictor":
        return metric(p, sg(z2))
    raise AssertionError(rule.variant)


@dataclass(frozen=True)
class Gradients:
    """Per-sample gradients as vectors (Vec) and as eigen-coordinates (sympy expressions).

    online   d l / d z1  (zero Vec where the online branch is stopped)
    target   d l / d z2  (zero Vec where the target branch is stopped)
    """

    loss: sp.Expr
    online: Vec
    target: Vec

    @property
    def online_m(self) -> sp.Expr:
        return sp.simplify(self.online.component())

    @property
    def target_m(self) -> sp.Expr:
        return sp.simplify(self.target.component())


@cache
def _gradients(key: tuple) -> Gradients:
    rule = Rule.from_structural_key(key)
    loss = per_sample_loss(rule)
    return Gradients(loss=loss, online=grad(loss, "z1"), target=grad(loss, "z2"))


def gradients(rule: Rule) -> Gradients:
    """Differentiate ``per_sample_loss(rule)``; beta stays symbolic for the family."""
    return _gradients(rule.structural_key)


def predictor_loss(rule: Rule) -> sp.Expr:
    """The per-sample loss a trainable predictor descends (SPEC §7): the rule's own loss where p carries a
    gradient (standard, no-stopgrad); the metric's standard loss (z1 held fixed) for the IsoLoss surrogates
    and the family, which put p under the stop-gradient; wrong-stopgrad stops p, so its predictor gets no
    gradient (the loss has no live p)."""
    if not rule.has_predictor:
        raise ValueError(f"{rule.name}: no predictor to train")
    metric = METRIC_FUNCS[rule.metric]
    z1, z2, p = vectors(rule)
    if rule.variant == "no-stopgrad":
        return metric(p, z2)
    if rule.variant == "wrong-stopgrad":
        return metric(sg(p), z2)
    return metric(p, sg(z2))


@cache
def _predictor_gradient(key: tuple) -> sp.Expr:
    return grad_lambda(predictor_loss(Rule.from_structural_key(key)))


def predictor_gradient(rule: Rule) -> sp.Expr:
    """d l / d lambda_m of :func:`predictor_loss` = (dl/dp)_m z1_m: the diagonal of dl/dW_P = (dl/dp) z1^T in
    the eigenbasis of an aligned symmetric predictor (SPEC §7), in z1_m, z2_m, lambda_m and invariants."""
    return _predictor_gradient(rule.structural_key)


# --- the losses as a textbook writes them (SPEC §3) -------------------------------------------------------
# per_sample_loss is the loss in invariants (what is differentiated); compact_loss is the same loss as a
# sympy tree of vectors, norms, dot products and stop-gradients, for display.  to_invariants(compact_loss)
# equals per_sample_loss (tests/derivations check it symbolically), so what a slide shows is what is derived.


class SG(sp.Function):
    """Stop-gradient of a vector or a scalar (a vector when its argument is: non-commutative)."""

    nargs = 1

    def _latex(self, printer, exp=None):
        out = r"\operatorname{sg}\left(" + printer._print(self.args[0]) + r"\right)"
        return out if exp is None else r"\left[" + out + r"\right]^{" + exp + "}"


class Dot(sp.Function):
    """u . v of two vectors (a scalar)."""

    nargs = 2
    is_commutative = True

    def _latex(self, printer, exp=None):
        parts = [printer._print(x) for x in self.args]
        parts = [r"\left(" + t + r"\right)" if x.is_Add else t for x, t in zip(self.args, parts)]
        out = r" \cdot ".join(parts)
        return out if exp is None else r"\left(" + out + r"\right)^{" + exp + "}"


class Norm(sp.Function):
    """||v|| of a vector (a positive scalar)."""

    nargs = 1
    is_commutative = True
    is_positive = True

    def _latex(self, printer, exp=None):
        out = r"\left\lVert " + printer._print(self.args[0]) + r" \right\rVert"
        return out if exp is None else out + "^{" + exp + "}"


#: the vectors of the compact form: z1, z2, the prediction p = W_P z1 and the predictor W_P
Z1, Z2, P = (sp.Symbol(n, commutative=False) for n in ("z_1", "z_2", "p"))
WP = sp.Symbol("W_P", commutative=False)


def _compact_metric(metric: str, p, t):
    if metric == "euclidean":
        return half * Norm(sp.Add(p, -t, evaluate=False)) ** 2
    return -Dot(p, t) / (Norm(p) * Norm(t))


def _compact_dl_dp(metric: str, p):
    """dl/dp of the metric with the target stopped, as a compact vector (inside a stop-gradient)."""
    if metric == "euclidean":
        return sp.Add(p, -Z2, evaluate=False)
    return sp.Add(-Z2 / (Norm(p) * Norm(Z2)), Dot(p, Z2) * p / (Norm(p) ** 3 * Norm(Z2)), evaluate=False)


def compact_loss(rule: Rule) -> sp.Expr:
    """The per-sample loss of ``rule`` in its textbook form (SPEC §3): vectors z1, z2, p = W_P z1 (p = z1
    without a predictor), Norm, Dot and SG.  :func:`to_invariants` turns it into :func:`per_sample_loss`."""
    metric = rule.metric
    p = P if rule.has_predictor else Z1
    if rule.beta is not None:
        loss = Dot(SG(WP**beta * _compact_dl_dp(metric, p)), Z1)
        if rule.variant == "no-stopgrad":
            loss = sp.Add(loss, _compact_metric(metric, SG(p), Z2), evaluate=False)
        return loss
    if rule.variant in ("standard", "no-predictor"):
        return _compact_metric(metric, p, SG(Z2))
    if rule.variant == "no-stopgrad":
        return _compact_metric(metric, p, Z2)
    if rule.variant == "wrong-stopgrad":
        return _compact_metric(metric, SG(p), Z2)
    if rule.variant == "iso":
        if metric == "euclidean":
            return half * Norm(sp.Add(Z1, -SG(sp.Add(Z2, Z1, -P, evaluate=False)), evaluate=False)) ** 2
        return sp.Add(
            -Dot(Z1, SG(Z2)) / SG(Norm(P) * Norm(Z2)),
            half * SG(Dot(P, Z2) / (Norm(P) ** 3 * Norm(Z2))) * Norm(WP ** half * Z1) ** 2,
            evaluate=False,
        )
    raise AssertionError(rule.variant)


def _as_vec(e) -> Vec:
    z1 = Vec.base("z1")
    if e == Z1:
        return z1
    if e == Z2:
        return Vec.base("z2")
    if e == P:
        return z1.weighted(1)
    if isinstance(e, SG):
        return sg(_as_vec(e.args[0]))
    if e.is_Add:
        out = Vec(())
        for x in e.args:
            out = out + _as_vec(x)
        return out
    if e.is_Mul:
        c, nc = e.args_cnc()
        v = _as_vec(nc[-1])
        for f in reversed(nc[:-1]):
            if f == WP:
                v = v.weighted(1)
            elif f.is_Pow and f.base == WP:
                v = v.weighted(f.exp)
            else:
                raise ValueError(f"not a vector factor: {f}")
        return _as_scalar(sp.Mul(*c)) * v
    raise ValueError(f"not a vector: {e}")


def _as_scalar(e):
    if isinstance(e, Dot):
        return dot(_as_vec(e.args[0]), _as_vec(e.args[1]))
    if isinstance(e, Norm):
        return norm(_as_vec(e.args[0]))
    if isinstance(e, SG):
        return sg(_as_scalar(e.args[0]))
    if e.args:
        return e.func(*[_as_scalar(x) for x in e.args])
    return e


def to_invariants(expr) -> sp.Expr:
    """A compact loss (:func:`compact_loss`) in the invariants of :mod:`.invariants` (frozen twins for SG)."""
    return _as_scalar(expr)
