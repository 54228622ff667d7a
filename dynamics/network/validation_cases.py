"""What a validation case is and how its runs are compared with the mode equations (SPEC §4, §6 claim 7, §7):
the cases of the matrix (:class:`Case`, :func:`matrix`), their initial weights and budgets, the result of a case
(:class:`CaseResult`), the matched modes, and the tolerance rule (:func:`compare`, :func:`z_bound`; stated in
:mod:`.validation`'s docstring).  :mod:`.validation` runs the plain cases and the matrix, :mod:`.validation_trained`
the trained predictor's cases; both build on this module.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from isodyn.derivations import Rule

MODES = (2, 5, 10, 50)
IN_DIM = {2: 6, 5: 10, 10: 15, 50: 60}  # 6 -> 2 and 15 -> 10 are the paper's networks (SPEC §5)
CHECKPOINTS = 20  # compared frames after step 0, evenly spaced over the horizon
FAMILY_ERROR = 1e-3
GROWTH_BOUND = 10.0
LARGE_M = 10  # above it only the plain cases run
EMA_TAU = 0.9
S0_RANGE = (0.03, 3.0)  # initial squared singular values S0^2 (s0 = (1 + sigma1^2) S0^2)
SIGMA1 = 0.3
SIGMA2 = 0.1
EUCLIDEAN_SAMPLES = 50_000
TRAINED_MAX_M = 10  # trained-predictor cases up to this M
FALL_DONE = 0.999  # unaligned start: compared from the first step by which 99.9% of the alignment's fall is done
SETTINGS = ("plain", "ema", "sigma1", "trained", "unaligned")
DEFAULT_SETTINGS = ("plain", "ema", "sigma1")


@dataclass(frozen=True)
class Case:
    """One cell of the matrix.  ``lr`` is the paper's for the rule (SPEC §5)."""

    metric: str
    variant: str
    M: int
    N: int
    ema: float
    sigma1: float
    samples: int
    steps: int
    lr: float
    predictor: str = "closed-form"
    start: str = "aligned"  # a trained predictor's W_P(0): "aligned" (closed-form) or "random" (unaligned)

    @property
    def rule(self) -> Rule:
        return Rule(self.metric, self.variant, predictor=self.predictor)

    @property
    def trained(self) -> bool:
        return self.predictor == "trainable"

    @property
    def sampler(self) -> str:
        return "moments" if self.metric == "euclidean" else "inputs"

    @property
    def setting(self) -> str:
        parts = []
        if self.trained:
            parts.append("trained predictor" + (", random start" if self.start == "random" else ""))
        if self.ema:
            parts.append(f"EMA {self.ema:g}")
        if self.sigma1:
            parts.append(f"sigma1 {self.sigma1:g}")
        return ", ".join(parts) or "plain"

    @property
    def label(self) -> str:
        return f"{self.metric}/{self.variant} M={self.M} ({self.setting})"


def initial_weights(M: int, N: int, seed: int) -> np.ndarray:
    """W0 = U0 diag(S0) V0^T (M, N): random orthonormal U0 (M, M), V0 (N, M) from ``seed``; S0^2 log-spaced
    over S0_RANGE (the spread of the paper's random 15 -> 10 start, SPEC §5, at every M)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, M, N]))
    U, _ = np.linalg.qr(rng.standard_normal((M, M)))
    V, _ = np.linalg.qr(rng.standard_normal((N, M)))
    S = np.sqrt(np.geomspace(S0_RANGE[0], S0_RANGE[1], M))[::-1]
    return (U * S) @ V.T


def cosine_budget(M: int, quick: bool) -> tuple[int, int]:
    """(n, steps) of cosine cases: sampled training costs ~ n M N a step, so larger M gets fewer steps."""
    if quick:
        return {2: (2000, 80), 5: (1000, 150)}.get(M, (1000, 60))
    return {2: (4000, 150), 5: (2000, 400), 10: (1500, 600)}.get(M, (1000, 100))


def euclidean_steps(M: int, quick: bool) -> int:
    if quick:
        return 300
    return 1500 if M <= 10 else 400


def matrix(metrics=("euclidean", "cosine"), variants=None, modes=MODES, quick: bool = False,
           settings=("plain", "ema", "sigma1")) -> list[Case]:
    """The validation matrix: every metric x variant x M, plain; and, for M <= LARGE_M only (cost), EMA on
    for rules with a target network and sigma1 > 0 for standard and iso.  A trained predictor (SPEC §7), for
    M <= TRAINED_MAX_M: setting "trained" (W_P(0) the closed-form predictor, aligned; every variant with a
    predictor) and "unaligned" (W_P(0) random, standard and iso); neither is in the default settings."""
    from isodyn.derivations import VARIANTS
    from isodyn.dynamics.paper import paper_lr

    variants = VARIANTS if variants is None else variants
    cases = []
    for metric in metrics:
        for M in modes:
            N = IN_DIM.get(M, M + max(4, M // 5))
            if metric == "euclidean":
                n = EUCLIDEAN_SAMPLES
            for variant in variants:
                rule = Rule(metric, variant)
                lr = paper_lr(rule)
                if metric == "euclidean":
                    steps = euclidean_steps(M, quick)
                else:
                    n, steps = cosine_budget(M, quick)
                base = dict(metric=metric, variant=variant, M=M, N=N, samples=n, steps=steps, lr=lr)
                if "plain" in settings:
                    cases.append(Case(ema=0.0, sigma1=0.0, **base))
                if M > LARGE_M:
                    continue
                if "ema" in settings and rule.has_target_network:
                    cases.append(Case(ema=EMA_TAU, sigma1=0.0, **base))
                if "sigma1" in settings and variant in ("standard", "iso"):
                    cases.append(Case(ema=0.0, sigma1=SIGMA1, **base))
                if M > TRAINED_MAX_M or not rule.has_predictor:
                    continue
                if "trained" in settings:
                    cases.append(Case(ema=0.0, sigma1=0.0, predictor="trainable", **base))
                if "unaligned" in settings and variant in ("standard", "iso"):
                    cases.append(Case(ema=0.0, sigma1=0.0, predictor="trainable", start="random",
                                      **{**base, "steps": unaligned_steps(metric, M, base["steps"], quick)}))
    return cases


def unaligned_steps(metric: str, M: int, steps: int, quick: bool) -> int:
    """A random start first aligns, then is compared: a longer horizon than the aligned case's."""
    if metric == "euclidean":
        return 1000 if quick else 4000
    return 2 * steps if quick else steps + 300


@dataclass
class CaseResult:
    """Numbers of one case.  Arrays: step (C+1,), train (K, C+1, M), exact / mean_field (C+1, M)."""

    case: Case
    seeds: list
    step: np.ndarray
    train: np.ndarray
    exact: np.ndarray
    mean_field: np.ndarray | None
    horizon: int
    max_dev: float
    sigma_n: float
    se: float
    z: float
    tol: float
    passed: bool
    status: str
    mf_max_dev: float | None = None
    mf_rel: float | None = None
    scale_drift: float | None = None
    shape_ratio: float | None = None
    scale_ratio: float | None = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    # a trained predictor (SPEC §7): its eigenvalues lambda_m(t) = u_m(t)^T W_P(t) u_m(t) against the map's lambda
    lam_train: np.ndarray | None = None
    lam_exact: np.ndarray | None = None
    lam_max_dev: float | None = None
    lam_sigma_n: float | None = None
    lam_tol: float | None = None
    # a random start: the seed-mean eigenspace alignment at step 0, where the comparison starts, at the end
    alignment: dict | None = None
    # a failing case run again at 4 n (claim 7, dynamics.claims.shrink_test): its deviation in tolerance units there
    # and the shrink factor ratio / ratio_4n
    ratio_4n: float | None = None
    shrink: float | None = None

    @property
    def ratio(self) -> float:
        return self.max_dev / self.tol if self.tol > 0 else (0.0 if self.max_dev == 0 else math.inf)

    @property
    def lam_ratio(self) -> float | None:
        if self.lam_max_dev is None:
            return None
        return self.lam_max_dev / self.lam_tol if self.lam_tol > 0 else (0.0 if self.lam_max_dev == 0 else math.inf)

    def as_dict(self) -> dict:
        d = {k: v for k, v in asdict(self.case).items()}
        d.update(case=self.case.label, setting=self.case.setting, seeds=list(self.seeds), horizon=self.horizon,
                 max_dev=self.max_dev, sigma_n=self.sigma_n, se=self.se, z=self.z, tol=self.tol,
                 ratio=self.ratio, passed=bool(self.passed), status=self.status, shape_ratio=self.shape_ratio,
                 scale_ratio=self.scale_ratio, mf_max_dev=self.mf_max_dev, mf_rel=self.mf_rel,
                 mf_ratio=None if self.mf_max_dev is None else self.mf_max_dev / self.tol,
                 scale_drift=self.scale_drift, seconds=round(self.seconds, 3), notes=list(self.notes),
                 ratio_4n=self.ratio_4n, shrink=self.shrink)
        if self.case.trained:
            d.update(lam_max_dev=self.lam_max_dev, lam_sigma_n=self.lam_sigma_n, lam_tol=self.lam_tol,
                     lam_ratio=self.lam_ratio, alignment=self.alignment)
        return d


def z_bound(C: int, M: int, family_error: float = FAMILY_ERROR) -> float:
    """Phi^-1(1 - family_error / (2 C M)): the two-sided Bonferroni normal quantile."""
    from scipy.stats import norm

    return float(norm.isf(family_error / (2 * C * M)))


def matched_modes(W, U0, Wp=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(S, lam): the singular values of W (T, M, N) matched to U0 as :func:`matched_singular_values` does, and,
    given a trained predictor's history Wp (T, M, M), lam_m = u_m^T W_P u_m with u_m the matched left singular
    vector (for a W_P aligned with W, its eigenvalue of mode m); NaN where W or W_P is not finite."""
    from scipy.optimize import linear_sum_assignment

    S_out = np.full(W.shape[:2], np.nan)
    lam = None if Wp is None else np.full(W.shape[:2], np.nan)
    for t in range(W.shape[0]):
        if not np.all(np.isfinite(W[t])):
            continue
        U, S, _ = np.linalg.svd(W[t], full_matrices=False)
        rows, cols = linear_sum_assignment(-(U0.T @ U) ** 2)  # rows: initial modes, cols: current ones
        S_out[t, rows] = S[cols]
        if Wp is not None and np.all(np.isfinite(Wp[t])):
            u = U[:, cols]
            lam[t, rows] = np.einsum("im,ij,jm->m", u, Wp[t], u)
    return S_out, lam


def matched_singular_values(W, U0) -> np.ndarray:
    """Singular values of W (T, M, N), mode m being the one whose left singular vector overlaps most with
    U0[:, m] (an assignment maximising the summed squared overlaps); (T, M).  NaN where W is not finite.

    Singular values are invariant under the rotations of U and V that sampling noise drives (the
    expected update leaves them fixed, nothing restores them); matching through the initial singular
    vectors keeps each mode's identity where sorting would mix nearly equal modes.
    """
    return matched_modes(W, U0)[0]


@dataclass(frozen=True)
class Comparison:
    """max_{t,m} |seed mean - reference|, sigma_n = max_{t,m} seed sd, SE = sigma_n / sqrt(K), tol = z SE."""

    max_dev: float
    sigma_n: float
    tol: float
    z: float

    def se(self, K: int) -> float:
        return self.sigma_n / math.sqrt(K)

    @property
    def passed(self) -> bool:
        return self.max_dev <= self.tol

    @property
    def ratio(self) -> float:
        return self.max_dev / self.tol if self.tol > 0 else (0.0 if self.max_dev == 0 else math.inf)


def compare(runs: np.ndarray, ref: np.ndarray, family_error: float = FAMILY_ERROR) -> Comparison:
    """The tolerance rule (module docstring) for runs (K, C, M) against ref (C, M)."""
    K, C, M = runs.shape
    z = z_bound(C, M, family_error)
    sigma_n = float(np.max(runs.std(0, ddof=1)))
    max_dev = float(np.max(np.abs(runs.mean(0) - ref)))
    return Comparison(max_dev, sigma_n, z * sigma_n / math.sqrt(K), z)


def compared_window(ok, steps, notes: list, after: str) -> tuple[int, slice]:
    """(last, sel): the last checkpoint index up to which every run and the map stay within the growth bound
    (``ok`` (C,) per checkpoint ``steps``), and the compared checkpoints after the start; the reason is added
    to ``notes`` when the comparison stops early (``after`` names the start: "step 0", "the start")."""
    last = int(np.argmin(ok)) - 1 if not ok.all() else steps.size - 1
    if last < steps.size - 1:
        notes.append(f"compared up to step {steps[max(last, 0)]}: growth beyond {GROWTH_BOUND:g} x max(1, s0) "
                     "(finite-time blow-up / divergence)")
    if last < 1:
        notes.append(f"no checkpoint after {after} within the growth bound")
    return last, slice(1, last + 1)
