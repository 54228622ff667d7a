"""The paper's reference notebook's update rules, as formulas, and where they depart from the gradient (issue 11.6).

The reference code (fmi-basel/implicit-var-reg, notebooks/toy_networks.ipynb, ``next_W``) does not differentiate
its losses; it writes each rule's weight update by hand.  For most rules that update is the gradient of the loss
of SPEC §3.  For three it is not:

(a) Euclidean with a predictor (``euc_simsiam``, ``euc_simsiam_nosg``), ReLU networks: the ReLU derivative is
    applied to the prediction error *before* the predictor's transpose,
        W_P^T (e ⊙ f'(u1))   instead of the gradient's   (W_P^T e) ⊙ f'(u1),     e = dl/dp = p - z2,
    and (no-stopgrad) the target branch is masked by the online derivative f'(u1) instead of f'(u2).
    With f = identity both coincide.
(a') Euclidean no-predictor (``euc_simsiam_nopred``), ReLU: the update (z1 - z2) x1^T has no ReLU derivative
    at all (the gradient's is ((z1 - z2) ⊙ f'(u1)) x1^T).
(b) cosine no-stopgrad (``cos_simsiam_nosg``), linear and ReLU: the target-branch term is
        p/(‖p‖‖z2‖) - (p·z2) z2/(‖p‖³‖z2‖),  masked by f'(u1) and multiplied by x1,
    where the gradient's -dl/dz2 is  p/(‖p‖‖z2‖) - (p·z2) z2/(‖p‖‖z2‖³),  masked by f'(u2) and multiplied by x2.

Every update here has the same shape as a gradient, one :class:`Branch` per branch:

    dL/dW = mean_i  [ W_P^power ( f'(u) ⊙ (U v_i) ) ] x_i^T        (a row of samples, eigenbasis vector v)

``vector`` is v in the predictor's eigenbasis (a :class:`~derivations.invariants.Vec`), ``power`` the power of
W_P applied after the derivative mask, ``derivative`` which pre-activation's f' masks it (None: no mask) and
``inputs`` which view multiplies it.  :func:`gradient_branches` writes the exact gradient in the same form
(v = dl/dz, power 0, f'(u1) with x1 for the online branch and f'(u2) with x2 for the target branch), so a test
can compare the two term by term.  The notebook's update of a rule it has and that does not depart is its
gradient (:func:`departs` is False); a rule it has not (wrong-stopgrad, the IsoLoss family with beta, a trained
predictor) has no notebook update (:func:`notebook_branches` raises).
"""

from __future__ import annotations

from dataclasses import dataclass

from .invariants import Vec, dot, norm
from .losses import dl_dp, gradients, vectors
from .rules import Rule

#: the notebook's ``setting`` names for the rules it has (metric, variant)
SETTINGS = {
    ("euclidean", "standard"): "euc_simsiam",
    ("euclidean", "no-stopgrad"): "euc_simsiam_nosg",
    ("euclidean", "no-predictor"): "euc_simsiam_nopred",
    ("euclidean", "iso"): "euc_isoloss",
    ("cosine", "standard"): "cos_simsiam",
    ("cosine", "no-stopgrad"): "cos_simsiam_nosg",
    ("cosine", "no-predictor"): "cos_simsiam_nopred",
    ("cosine", "iso"): "cos_isoloss",
}


@dataclass(frozen=True)
class Branch:
    """One term of dL/dW (module docstring): mean_i [W_P^power (f'(derivative) ⊙ U vector)] inputs^T."""

    vector: Vec
    power: int
    derivative: str | None  # 'u1' | 'u2' | None
    inputs: str  # 'x1' | 'x2'


def has_notebook_update(rule: Rule) -> bool:
    """Does the notebook have this rule (closed-form predictor, no IsoLoss-family beta)?"""
    return (rule.metric, rule.variant) in SETTINGS and rule.beta is None and not rule.trainable


def gradient_branches(rule: Rule) -> tuple[Branch, ...]:
    """The exact gradient of ``rule``'s per-sample loss (derivations.losses) as branches."""
    g = gradients(rule)
    out = []
    if g.online.terms:
        out.append(Branch(g.online, 0, "u1", "x1"))
    if g.target.terms:
        out.append(Branch(g.target, 0, "u2", "x2"))
    return tuple(out)


def notebook_target_cosine(rule: Rule) -> Vec:
    """(b): the notebook's cosine no-stopgrad target-branch vector (as a dl/d-vector, i.e. the negative of the
    term it adds): -(p/(‖p‖‖z2‖) - (p·z2) z2/(‖p‖³‖z2‖))."""
    _, z2, p = vectors(rule)
    P, Z = norm(p), norm(z2)
    return -1 * (p * (1 / (P * Z)) - z2 * (dot(p, z2) / (P**3 * Z)))


def notebook_branches(rule: Rule, net: str) -> tuple[Branch, ...]:
    """The notebook's update of ``rule`` on a ``net`` ('linear' | 'relu') network, as branches."""
    if not has_notebook_update(rule):
        raise ValueError(f"{rule.name}: the reference notebook has no update for this rule")
    relu = net == "relu"
    g = gradient_branches(rule)
    if rule.metric == "euclidean" and relu and rule.variant in ("standard", "no-stopgrad"):
        online = Branch(dl_dp(rule), 1, "u1", "x1")  # (a): W_P^T (e ⊙ f'(u1)) x1^T
        if rule.variant == "standard":
            return (online,)
        return (online, Branch(gradients(rule).target, 0, "u1", "x2"))  # (a): target masked by f'(u1)
    if rule.metric == "euclidean" and relu and rule.variant == "no-predictor":
        return (Branch(gradients(rule).online, 0, None, "x1"),)  # (a'): no ReLU derivative
    if rule.metric == "cosine" and rule.variant == "no-stopgrad":
        return (g[0], Branch(notebook_target_cosine(rule), 0, "u1", "x1"))  # (b)
    return g


def departs(rule: Rule, net: str) -> bool:
    """Does the notebook's update of ``rule`` differ from the gradient (structurally: another branch)?"""
    return has_notebook_update(rule) and notebook_branches(rule, net) != gradient_branches(rule)


def description(rule: Rule, net: str) -> str:
    """One line: what the notebook does for this rule (for captions and --help)."""
    if not has_notebook_update(rule):
        return f"{rule.name}: not in the reference notebook"
    if not departs(rule, net):
        return f"{rule.name} ({net}): the notebook's update is the gradient of the loss"
    if rule.metric == "euclidean" and rule.variant == "no-predictor":
        return "the notebook's update (z1 - z2) x1^T omits the ReLU derivative f'(u1)"
    if rule.metric == "euclidean":
        text = "the notebook applies f'(u1) before the predictor's transpose: W_P^T (e ⊙ f'(u1)) for (W_P^T e) ⊙ f'(u1)"
        return text + ("; its target branch is masked by f'(u1), not f'(u2)" if rule.variant == "no-stopgrad" else "")
    masks = " (masked by f'(u1))" if net == "relu" else ""
    return ("the notebook's target-branch term is divided by ‖p‖³‖z2‖ instead of ‖p‖‖z2‖³ and multiplied by x1"
            + masks + " instead of x2" + (" (f'(u2))" if masks else ""))
