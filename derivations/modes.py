"""Expected mode dynamics of linear Siamese networks (SPEC §4).

For W = U diag(S) V^T, W_t = U diag(S_t) V^T and Gaussian inputs the eigen-coordinates
are z1_k = S_k a_k, z2_k = S_t,k b_k with (a_k, b_k) ~ N(0, Sigma),
Sigma = [[1+sigma1^2, 1], [1, 1+sigma2^2]], independent across modes.  Projecting the
weight gradient on mode m gives the expected descent direction

    G_m = -E[g_m a_m] - E[h_m b_m],   g = dl/dz1, h = dl/dz2 (from derivations.losses)

For the Euclidean metric the expectation is closed form.  For the cosine metric the
norms couple the modes; two closures are offered:

* mean-field: every invariant Q is replaced by its expectation (a mode sum);
* exact: negative powers of the norms are written as Laplace integrals over (t, u);
  for fixed (t, u) the Gaussian weight factorises over modes (tilted covariances
  K_k = (Sigma^-1 + D_k)^-1, normalisers Z_k = det(I + Sigma D_k)^-1/2), so the
  integrand is a product over modes times tilted moments - see :class:`ExactClosure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from . import gaussian
from .invariants import beta, component, invariant, invariants_in, key_of, lam
from .losses import gradients, predictor_gradient
from .rules import Rule

# --- symbols -------------------------------------------------------------------------
S, St = (
    sp.Symbol("S_m", positive=True),
    sp.Symbol("S_{t,m}", positive=True),
)  # online / target amplitudes of mode m
a, b = sp.symbols("a_m b_m", real=True)  # standardised Gaussian coordinates of mode m
sigma1, sigma2 = sp.symbols("sigma_1 sigma_2", nonnegative=True)
gamma = sp.Symbol("gamma", nonnegative=True)  # weight decay
tau = sp.Symbol("tau", nonnegative=True)  # EMA momentum
eta = sp.Symbol("eta", positive=True)  # learning rate
kappa = sp.Symbol("kappa", positive=True)  # (1 - tau) / eta
rho = sp.Symbol("rho", nonnegative=True)  # predictor lag: C <- rho C + (1 - rho) s
C = sp.Symbol("C_m", nonnegative=True)  # the lagging predictor's running estimate of s_m
alpha = sp.Symbol("alpha", nonnegative=True)
eps = sp.Symbol("epsilon", nonnegative=True)
s = sp.Symbol("s_m", positive=True)  # eigenvalue of the online correlation
s_max = sp.Symbol("s_max", positive=True)
t, u = sp.symbols("t u", positive=True)  # Laplace variables of the exact closure

SIGMA = sp.Matrix([[1 + sigma1**2, 1], [1, 1 + sigma2**2]])

# Run-time parameters of every generated kernel, in this order.
PARAMS = (sigma1, sigma2, beta)


def correlation_eigenvalue(S_=S) -> sp.Expr:
    """s_m = (1 + sigma1^2) S_m^2: eigenvalue of C = E[z1 z1^T] (SPEC §2)."""
    return (1 + sigma1**2) * S_**2


def amplitude(s_=s) -> sp.Expr:
    """S_m = sqrt(s_m / (1 + sigma1^2)): the amplitude whose correlation eigenvalue is s_m (the inverse of
    :func:`correlation_eigenvalue` on S_m >= 0).  Kept as one square root of the ratio (unevaluated: sympy
    would split it into two roots, a different floating-point operation)."""
    return sp.Pow(s_ / (1 + sigma1**2), sp.Rational(1, 2), evaluate=False)


def predictor_eigenvalue(normalize: bool) -> sp.Expr:
    """lambda_m = (s_m + eps)^alpha, or (s_m / s_max + eps)^alpha (SPEC §2)."""
    return ((s / s_max if normalize else s) + eps) ** alpha


# --- mode sums -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeSum:
    """symbol = sum_k summand(mode k); summand is written in the mode-m symbols."""

    symbol: sp.Symbol
    summand: sp.Expr


def _weights(key, St_):
    """(weight w_k, the pair (x, y) of Gaussian coordinates) for Q(x, y; c)."""
    x, y = key.live_pair
    amp = {"z1": S, "z2": St_}
    coord = {"z1": "a", "z2": "b"}
    return lam**key.c * amp[x] * amp[y], coord[x] + coord[y]


def _second_moment(pair: str, kaa, kab, kbb):
    return {"aa": kaa, "ab": kab, "bb": kbb, "ba": kab}[pair]


def _sum_symbol(prefix: str, key) -> sp.Symbol:
    x, y = key.live_pair
    c = "" if key.c == 0 else "^{" + sp.latex(key.c) + "}"
    return sp.Symbol(prefix + "[" + x + y + c + "]", real=True)


# --- expected maps ----------------------------------------------------------------------


#: what an expected drift is of: the encoder's amplitude S_m (G_m, SPEC §4) or a trainable predictor's
#: eigenvalue lambda_m (H_m, SPEC §7)
DRIFTS_OF = ("encoder", "predictor")


def _integrand(rule: Rule, quantity: str = "encoder"):
    """The per-sample quantity whose expectation is the drift, with z1_m = S_m a_m, z2_m = S_t,m b_m:
    encoder  -g_m a_m - h_m b_m  (g = dl/dz1, h = dl/dz2; G_m = its expectation);
    predictor  -dl/dlambda_m = -(dl/dp)_m z1_m of the predictor's loss (H_m)."""
    St_ = St if rule.has_target_network else S
    sub = {component("z1"): S * a, component("z2"): St_ * b}
    if quantity == "predictor":
        integrand = -predictor_gradient(rule).xreplace(sub)
    elif quantity == "encoder":
        g = gradients(rule)
        integrand = -(g.online.component().xreplace(sub) * a) - (g.target.component().xreplace(sub) * b)
    else:
        raise ValueError(f"quantity {quantity!r}; accepted: {DRIFTS_OF}")
    if not rule.has_predictor:
        integrand = integrand.xreplace({lam: sp.Integer(1)})
    return sp.expand(integrand), St_


@dataclass(frozen=True)
class ModeDrift:
    """G_m (expected descent direction of mode m; or H_m, a trainable predictor's) with the mode sums it needs.

    drift  sympy expression in S_m, S_t,m, lambda_m, sigma1, sigma2, beta and the sums' symbols
    sums   ModeSum reductions over modes (empty for the Euclidean metric)
    """

    rule_key: tuple
    closure: str
    drift: sp.Expr
    sums: tuple = field(default_factory=tuple)
    quantity: str = "encoder"


@cache
def _mode_drift(key: tuple, closure: str, quantity: str = "encoder") -> ModeDrift:
    rule = Rule.from_structural_key(key)
    integrand, St_ = _integrand(rule, quantity)
    invs = invariants_in(integrand)
    sums = []
    if invs:
        if closure != "mean-field":
            raise ValueError("closed-form expectation needs --closure mean-field for this rule")
        sub = {}
        for q in invs:
            k = key_of(q)
            w, pair = _weights(k, St_)
            summand = w * _second_moment(pair, *SIGMA_ENTRIES)
            sym = _sum_symbol("E", k)
            sums.append(ModeSum(sym, summand))
            sub[q] = sym
        integrand = integrand.xreplace(sub)
    drift = gaussian.expectation(integrand, a, b, *SIGMA_ENTRIES)
    return ModeDrift(key, closure if invs else "closed-form", sp.simplify(drift), tuple(sums), quantity)


SIGMA_ENTRIES = (1 + sigma1**2, sp.Integer(1), 1 + sigma2**2)


def mode_drift(rule: Rule, closure: str = "mean-field", quantity: str = "encoder") -> ModeDrift:
    """Expected G_m for the Euclidean metric (closed form) or the cosine mean-field closure; with
    ``quantity="predictor"`` a trainable predictor's H_m = -E[dl/dlambda_m] (SPEC §7)."""
    if rule.metric == "euclidean":
        closure = "closed-form"
    return _mode_drift(rule.structural_key, closure, quantity)


def predictor_drift(rule: Rule, closure: str = "mean-field") -> ModeDrift:
    """H_m, the expected descent direction of a trainable predictor's eigenvalue lambda_m (SPEC §7):
    Euclidean closed form, cosine mean-field (the exact closure: :func:`exact_closure` with
    quantity="predictor")."""
    return mode_drift(rule, closure, "predictor")


# --- exact closure ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExactTerm:
    """One term coef * a_m^i b_m^j * T * ||p||^-r * ||z2||^-q of -g_m a_m - h_m b_m."""

    coef: sp.Expr
    i: int
    j: int
    numerator: object  # InvariantKey or None
    r: int
    q: int


@dataclass(frozen=True)
class ExactClosure:
    """The exact Gaussian-expectation closure of SPEC §4, symbolically.

    G_m = iint_0^inf dt du  exp(sum_k log_z) * integrand_m,    where
      A, B       per-mode weights of ||p||^2 = sum A_k a_k^2 and ||z2||^2 = sum B_k b_k^2
      det        det(I + Sigma D_m), D_m = diag(2 t A_m, 2 u B_m), in the symbols A_m, B_m
      K          tilted covariance (Sigma^-1 + D_m)^-1 entries (K_aa, K_ab, K_bb) in A_m, B_m
      integrand_K  per-mode integrand in the symbols K_aa, K_ab, K_bb and the tilted sums, with the
                 Laplace weights t^(r/2-1) u^(q/2-1) / (Gamma(r/2) Gamma(q/2)) included
      sums_K     tilted sums  sum_k w_k E_k[x y]  (ModeSum; summands in mode symbols and K entries)
    and, fully substituted for code generation (mode symbols, t, u, sigma's only):
      log_z = -1/2 log det,  integrand,  sums
    """

    rule_key: tuple
    terms: tuple
    A: sp.Expr
    B: sp.Expr
    det: sp.Expr
    K: tuple
    integrand_K: sp.Expr
    sums_K: tuple
    log_z: sp.Expr
    integrand: sp.Expr
    sums: tuple


A_sym, B_sym = sp.Symbol("A_m", positive=True), sp.Symbol("B_m", positive=True)


def tilted(A_=A_sym, B_=B_sym):
    """(det(I + Sigma D), (K_aa, K_ab, K_bb)) of the per-mode Gaussian tilted by exp(-t A a^2 - u B b^2)."""
    D = sp.diag(2 * t * A_, 2 * u * B_)
    det = sp.collect(sp.expand((sp.eye(2) + SIGMA * D).det()), [t * u, t, u])
    K = (SIGMA.inv() + D).inv()
    return det, tuple(sp.factor(sp.simplify(x * det)) / det for x in (K[0, 0], K[0, 1], K[1, 1]))


def _split_term(term, norm_p, norm_z):
    powers = term.as_powers_dict()
    ep = powers.get(norm_p, 0)
    ez = powers.get(norm_z, 0)
    rest = term / (norm_p**ep * norm_z**ez)
    r, q = -2 * ep, -2 * ez
    if not (r.is_integer and q.is_integer and r > 0 and q > 0):
        raise NotImplementedError(f"exact closure needs negative powers of both norms, got {term}")
    numer = [x for x in invariants_in(rest)]
    if len(numer) > 1 or (numer and sp.degree(rest, numer[0]) != 1):
        raise NotImplementedError(f"exact closure handles at most one invariant in a numerator: {term}")
    num = numer[0] if numer else None
    core = rest / num if num is not None else rest
    i, j = sp.degree(core, a), sp.degree(core, b)
    coef = sp.simplify(core / (a**i * b**j))
    if coef.has(a) or coef.has(b):
        raise NotImplementedError(term)
    return ExactTerm(coef, int(i), int(j), key_of(num) if num is not None else None, int(r), int(q))


@cache
def _exact_closure(key: tuple, quantity: str = "encoder") -> ExactClosure:
    rule = Rule.from_structural_key(key)
    if rule.metric != "cosine":
        raise ValueError("the exact closure is for the cosine metric")
    integrand, St_ = _integrand(rule, quantity)
    cp = 2 if rule.has_predictor else 0
    norm_p, norm_z = invariant("z1", "z1", cp), invariant("z2", "z2", 0)
    terms = tuple(_split_term(x, norm_p, norm_z) for x in sp.Add.make_args(integrand) if x != 0)
    lam_ = lam if rule.has_predictor else sp.Integer(1)
    A_, B_ = lam_**cp * S**2, St_**2
    det, K = tilted()
    kaa, kab, kbb = gaussian.Kaa, gaussian.Kab, gaussian.Kbb
    sums, sum_of = [], {}
    total = sp.Integer(0)
    for term in terms:
        m_ij = gaussian.moment(term.i, term.j)
        if term.numerator is None:
            mom = m_ij
        else:
            w, pair = _weights(term.numerator, St_)
            w = w.xreplace({lam: lam_})
            xy = {"aa": a * a, "ab": a * b, "bb": b * b}[pair]
            if term.numerator not in sum_of:
                sym = _sum_symbol("T", term.numerator)
                sum_of[term.numerator] = sym
                sums.append(ModeSum(sym, w * _second_moment(pair, kaa, kab, kbb)))
            tsum = sum_of[term.numerator]
            # E[a_m^i b_m^j sum_k w_k x_k y_k] = E_m[a^i b^j](T - w_m E_m[xy]) + w_m E_m[a^i b^j xy]
            mom = m_ij * (tsum - w * _second_moment(pair, kaa, kab, kbb)) + w * gaussian.expectation(
                a**term.i * b**term.j * xy, a, b
            )
        laplace = (
            t ** sp.Rational(term.r - 2, 2)
            * u ** sp.Rational(term.q - 2, 2)
            / (sp.gamma(sp.Rational(term.r, 2)) * sp.gamma(sp.Rational(term.q, 2)))
        )
        total += term.coef.xreplace({lam: lam_}) * laplace * mom
    integrand_K = sp.simplify(total)
    full = {kaa: K[0], kab: K[1], kbb: K[2]}
    ab = {A_sym: A_, B_sym: B_}

    def expand(e):
        return e.xreplace(full).xreplace(ab)

    return ExactClosure(
        key,
        terms,
        A_,
        B_,
        det,
        K,
        integrand_K,
        tuple(sums),
        -sp.log(det.xreplace(ab)) / 2,
        expand(integrand_K),
        tuple(ModeSum(ms.symbol, expand(ms.summand)) for ms in sums),
    )


def exact_closure(rule: Rule, quantity: str = "encoder") -> ExactClosure:
    """The exact closure's symbolic ingredients for a cosine rule (quadrature is in dynamics/): of G_m, or with
    ``quantity="predictor"`` of a trainable predictor's H_m."""
    return _exact_closure(rule.structural_key, quantity)
