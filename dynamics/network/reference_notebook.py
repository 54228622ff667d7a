"""The reference notebook's setting and its update rules on the trainer (issue 11.6; derivations.reference_notebook).

The paper's reference code (fmi-basel/implicit-var-reg, notebooks/toy_networks.ipynb) runs its toy networks as

    random_seed = 2;  torch.manual_seed(random_seed);  W = torch.randn(out_dim, in_dim) / 4      (float32)
    next_W: X1 = randn(in_dim, 50000), X2 = X1 + 0.1 randn  (sigma1 = 0, sigma2 = 0.1, fresh every step)
            W_P from eig(W W^T) with |eigenvalue|^alpha, alpha = 1
    run_sim(..., num_steps=1500): 1,500 recorded states, i.e. 1,499 updates

Those are the constants below.  :func:`notebook_w0` draws the notebook's W0 exactly as PyTorch's CPU generator
does (``torch.manual_seed(2); torch.randn(10, 15) / 4``, re-implemented here without PyTorch: MT19937 seeded
with the seed, 24-bit uniforms, Box-Muller in blocks of 16 with the last block redrawn; see :func:`torch_randn`),
so ``isodyn train --settings reference-notebook`` starts from the notebook's own W0.  The inputs of each step are
this package's own stream (they are fresh draws; only their distribution is the notebook's).

:class:`NotebookGradient` evaluates the notebook's update (derivations.reference_notebook.notebook_branches) in
place of the gradient; it is used only for rules whose notebook update departs from the gradient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from isodyn.derivations import Rule

if TYPE_CHECKING:
    from isodyn.derivations.reference_notebook import Branch

# sympy and the symbolic rules are imported where they are used (a warm-cache process imports no sympy)

#: ``random_seed`` of the notebook (torch.manual_seed before W0 is drawn)
SEED = 2
#: W0 = torch.randn(out_dim, in_dim) / 4: entries N(0, 1/16)
W0_DIVISOR = 4
#: the eigenvalue-dynamics network (Figure 2 of the paper): in_dim, out_dim
IN_DIM, OUT_DIM = 15, 10
#: fresh inputs a step (next_W: torch.randn((in_dim, 50000)))
SAMPLES = 50_000
#: X2 = X1 + sigma_aug * randn: the online view is the input itself
SIGMA1, SIGMA2 = 0.0, 0.1
#: predictor exponent (W_P = U |D|^alpha U^T)
ALPHA = 1.0
#: run_sim(num_steps=1500) records 1,500 states: 1,499 updates
STEPS = 1499
#: learning rates of the eigenvalue-dynamics panels (SPEC §5): Euclidean standard, no-stopgrad, iso
LR_EUCLIDEAN, LR_COSINE = 0.01, 0.1

UPDATES = ("gradient", "reference-notebook")


def torch_randn(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """``torch.manual_seed(seed); torch.randn(*shape)`` on the CPU, float32 (numel >= 16).

    PyTorch's CPU generator is MT19937 seeded by init_genrand(seed) (the same as NumPy's legacy RandomState(seed));
    a float uniform is (u32 & (2^24 - 1)) * 2^-24; ``normal_`` on a contiguous float tensor of >= 16 elements
    (ATen normal_fill) draws all uniforms first, transforms each block of 16 by Box-Muller (u1 = 1 - d[j],
    u2 = d[j + 8], j < 8: d[j] = r cos(2 pi u2), d[j + 8] = r sin(2 pi u2), r = sqrt(-2 log u1)), and when
    16 does not divide the size redraws the last 16 uniforms and transforms them again.
    """
    n = int(np.prod(shape))
    if n < 16:
        raise ValueError("torch_randn re-implements the vectorised path (numel >= 16) only")
    rs = np.random.RandomState(seed)

    def uniforms(k):
        raw = rs.randint(0, 2**32, size=k, dtype=np.uint64).astype(np.uint32)  # one raw 32-bit output each
        return ((raw & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)

    def fill16(d):
        u1, u2 = np.float32(1) - d[:8], d[8:]
        r = np.sqrt(np.float32(-2) * np.log(u1))
        th = np.float32(2.0 * np.pi) * u2
        return np.concatenate([r * np.cos(th), r * np.sin(th)]).astype(np.float32)

    data = uniforms(n)
    for i in range(0, n - 15, 16):
        data[i:i + 16] = fill16(data[i:i + 16])
    if n % 16:
        data[n - 16:] = fill16(uniforms(16))
    return data.reshape(shape)


def notebook_w0(out_dim: int = OUT_DIM, in_dim: int = IN_DIM, seed: int = SEED) -> np.ndarray:
    """The notebook's W0: ``torch.manual_seed(2); torch.randn(out_dim, in_dim) / 4`` (float32 values, as float64)."""
    return (torch_randn(seed, (out_dim, in_dim)) / np.float32(W0_DIVISOR)).astype(np.float64)


def notebook_lr(rule: Rule) -> float:
    """The notebook's learning rate for the eigenvalue-dynamics panels (SPEC §5)."""
    if rule.variant == "no-predictor" or rule.metric == "cosine":
        return LR_COSINE
    return LR_EUCLIDEAN


class _VecEvaluator:
    """A derivations Vec evaluated on n samples in the eigenbasis: (Z1, Z2 (n, M), lam (M,)) -> (n, M).

    The component expression (z1_m, z2_m, lambda_m and invariants Q(x, y; c) = sum_k lambda_k^c x_k y_k) is
    lambdified once; the invariants it uses are summed here."""

    def __init__(self, vec):
        import sympy as sp

        from isodyn.derivations.invariants import component, invariants_in, key_of, lam

        expr = vec.component()
        self.invs = invariants_in(expr)
        self.keys = [key_of(q) for q in self.invs]
        for k in self.keys:
            if not k.c.is_number:
                raise ValueError(f"invariant power {k.c} is not a number")
        self.f = sp.lambdify([component("z1"), component("z2"), lam, *self.invs], expr, "numpy")

    def __call__(self, Z1, Z2, lamd):
        Q = []
        for k in self.keys:
            x, y = k.live_pair
            X, Y = (Z1 if x == "z1" else Z2), (Z1 if y == "z1" else Z2)
            Q.append(((lamd ** float(k.c)) * X * Y).sum(axis=1, keepdims=True))
        return self.f(Z1, Z2, lamd, *Q) + 0 * Z1  # a constant component still has the samples' shape


class NotebookGradient:
    """dL/dW of the notebook's update (derivations.reference_notebook.notebook_branches) on a batch."""

    def __init__(self, rule: Rule, net: str, branches: tuple[Branch, ...] | None = None):
        from isodyn.derivations.reference_notebook import notebook_branches

        self.rule, self.net, self.relu = rule, net, net == "relu"
        self.branches = notebook_branches(rule, net) if branches is None else branches
        self.evals = [_VecEvaluator(b.vector) for b in self.branches]

    def __call__(self, batch, Z1, Z2, Ud, lamd, keep=None):
        """batch: InputBatch (x1, x2, u1, u2); Z1, Z2 (n, M) the representations in the eigenbasis Ud (M, M) of
        W_P = Ud diag(lamd) Ud^T; keep (n, 1) or None: samples without a defined cosine contribute nothing."""
        xp = np if type(Z1).__module__.split(".")[0] == "numpy" else __import__("cupy")
        grad = 0
        for br, ev in zip(self.branches, self.evals):
            V = ev(Z1, Z2, lamd)
            if keep is not None:
                V = xp.where(keep, V, 0)
            v = V @ Ud.T
            if self.relu and br.derivative is not None:
                v = v * ((batch.u1 if br.derivative == "u1" else batch.u2) > 0)
            if br.power:
                v = v @ ((Ud * lamd**br.power) @ Ud.T)
            X = batch.x1 if br.inputs == "x1" else batch.x2
            grad = grad + v.T @ X
        return grad / Z1.shape[0]


def check_update(update: str, rule: Rule, ema: float, predictor_source: str, sampler: str):
    """None, or (flag, value, accepted) naming why ``update`` cannot run with these options."""
    if update not in UPDATES:
        return "update", update, "one of " + ", ".join(UPDATES)
    if update == "gradient":
        return None
    from isodyn.derivations.reference_notebook import has_notebook_update

    if not has_notebook_update(rule):
        why = ("trained predictor" if rule.trainable else "IsoLoss-family beta" if rule.beta is not None
               else f"variant {rule.variant}")
        return ("update", update, f"gradient for {rule.metric}/{rule.variant} ({why}: the reference notebook has no "
                "such rule); reference-notebook with variants standard, iso, no-stopgrad, no-predictor")
    if ema:
        return "ema", ema, "0 with update reference-notebook (the notebook has no EMA target network)"
    if predictor_source != "weights":
        return ("predictor_source", predictor_source,
                "weights with update reference-notebook (the notebook's W_P is from W W^T)")
    if sampler != "inputs":
        return "sampler", sampler, "inputs with update reference-notebook"
    return None


def notebook_gradient(rule: Rule, net: str, update: str) -> NotebookGradient | None:
    """The evaluator the trainer uses: None for the gradient, or where the notebook's update is the gradient."""
    if update != "reference-notebook":
        return None
    from isodyn.derivations.reference_notebook import departs

    if not departs(rule, net):
        return None
    return NotebookGradient(rule, net)
