"""Sampled linear training against the mode equations: the validation matrix of ``isodyn validate``.

(issue 4, item 5; SPEC §4 and §6 claim 7.)  A *case* is one rule (metric x variant), one size
M -> N, one setting of the target EMA tau and of the online noise sigma1.  For each case:

1. W0 = init_weights(M, N, c, seed) with c = 1/4 scaled by sqrt(15 / N) for N > 15, so the initial
   spectrum has the spread of the paper's 15 -> 10 network (SPEC §5) at every M;
2. K seeds of sampled training (:func:`dynamics.network.train`; Euclidean rules with the moments
   sampler, exact in distribution and free per sample, at the paper's n = 50,000; cosine rules with
   the inputs sampler at a smaller n, chosen to fit the time budget);
3. the expected-GD map (:func:`dynamics.simulate.simulate`, ``scheme='map'``; cosine with the exact
   closure, and again with the mean-field closure) from the same s0 = (1 + sigma1^2) S0^2.

Modes are matched through the *initial* singular vectors: the amplitude of mode m in a run is
A_m(t) = u0_m^T W(t) v0_m and s_m = (1 + sigma1^2) A_m^2 (the expected update leaves U, V fixed,
SPEC §4).  Sorting eigenvalues instead would bias the comparison wherever the spectrum is
degenerate (order statistics of noisy, nearly equal values), e.g. an isotropic cosine spectrum.

Tolerance rule (stated in the table): at C checkpoints t and every mode m take the seed mean
mean_k s_m(t) and the seed-to-seed standard deviation sd_m(t).  The sampling error of a single run
at this n is sigma_n = max_{t,m} sd_m(t); that of the seed mean is SE = sigma_n / sqrt(K).  The
case passes iff

    max_{t,m} |mean_k s_m(t) - s_m^map(t)|  <=  z * SE,   z = Phi^-1(1 - 0.001 / (2 C M)),

a two-sided normal bound with Bonferroni over the C*M compared values at family error 1e-3 (the
largest spread bounds every point's spread, so the bound is conservative pointwise).  Divergent
rules are compared up to the last checkpoint at which the map and every run stay below
GROWTH_BOUND * max(1, max s0): past that, finite-time blow-up makes s a function of the blow-up
time, which no expectation describes.

Cosine and the noise-driven scale growth: the cosine loss is scale-free, so its sampled gradient is
orthogonal to W and every step grows |W|^2 by eta^2 |g - E g|^2 on average -- an O(eta^2 T / n)
drift of the overall scale that the expected map does not contain (the map only has the O(eta^2)
term of the mean gradient).  It is reported per case (``scale_drift``: the relative change of
sum_m s_m in training minus the map's, over the horizon) next to the tolerance, and the horizon
and n are chosen so that it stays below it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from isodyn.derivations import Rule
from isodyn.dynamics.claims import EXPLAIN_FACTOR, shrink_test
from isodyn.dynamics.modes.simulation import simulate
from isodyn.dynamics.network.trainer import NetworkConfig, correlation_eigenvalues, train

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
    from scipy.optimize import linear_sum_assignment

    out = np.full(W.shape[:2], np.nan)
    for t in range(W.shape[0]):
        if not np.all(np.isfinite(W[t])):
            continue
        U, S, _ = np.linalg.svd(W[t], full_matrices=False)
        rows, cols = linear_sum_assignment(-(U0.T @ U) ** 2)  # rows: initial modes, cols: current ones
        out[t, rows] = S[cols]
    return out


def run_case(case: Case, K: int = 4, seed: int = 0, mean_field: bool = True, explain: bool = True) -> CaseResult:
    """Train K seeds and run the map(s) for one case; compare (module docstring).

    A failing cosine case whose overall scale drifts (the scale test fails) is run again with 4 n
    samples: if its deviation in units of its tolerance falls by at least EXPLAIN_FACTOR
    (:func:`dynamics.claims.shrink_test`), it is a sampling effect that vanishes as n grows (the
    O(eta^2 T / n) scale growth), not an error of the mode equations (which would not depend on n, and
    so grow in units of the tolerance, which shrinks with n); the case is then marked ``explained``.
    """
    if case.trained:
        return run_trained_case(case, K, seed, explain)
    t0 = time.perf_counter()
    rule = case.rule
    W0 = initial_weights(case.M, case.N, seed)
    U0, S0, _ = np.linalg.svd(W0, full_matrices=False)
    s0 = correlation_eigenvalues(rule, S0, case.sigma1)
    bound = GROWTH_BOUND * max(1.0, float(s0.max()))
    kw = dict(lr=case.lr, sigma1=case.sigma1, sigma2=SIGMA2, ema=case.ema, scheme="map")
    # the map first: its horizon (below the growth bound) is the training horizon
    ex = simulate(rule, s0, closure="exact", steps=case.steps, **kw)
    within = np.all(np.isfinite(ex.s) & (ex.s <= bound), axis=-1)
    steps = case.steps if within.all() else max(int(ex.step[np.argmin(within) - 1]), 1)
    stride = max(1, steps // CHECKPOINTS)
    check = np.unique(np.append(np.arange(0, steps + 1, stride), steps))
    exact = ex.s[check]
    mf = None
    if mean_field and case.metric == "cosine":
        mf = simulate(rule, s0, closure="mean-field", steps=steps, **kw).s[check]
    cfg = NetworkConfig(rule, in_dim=case.N, out_dim=case.M, samples=case.samples, sigma1=case.sigma1,
                        sigma2=SIGMA2, lr=case.lr, ema=case.ema, sampler=case.sampler)
    seeds = [seed * 1000 + 1 + k for k in range(K)]
    runs = np.full((K, check.size, case.M), np.nan)
    eye = np.eye(case.N)
    for k, sd in enumerate(seeds):
        r = train(cfg, W0=W0, steps=steps, seed=sd, probes=eye)  # probes = I: W(t)^T every step
        runs[k] = correlation_eigenvalues(rule, matched_singular_values(r.probes[check].transpose(0, 2, 1), U0),
                                          case.sigma1)
    ok = np.all(np.isfinite(runs) & (runs <= bound), axis=(0, 2)) & np.all(np.isfinite(exact) & (exact <= bound), -1)
    last = int(np.argmin(ok)) - 1 if not ok.all() else check.size - 1
    notes = []
    if last < check.size - 1:
        notes.append(f"compared up to step {check[max(last, 0)]}: growth beyond {GROWTH_BOUND:g} x max(1, s0) "
                     "(finite-time blow-up / divergence)")
    sel = slice(1, last + 1)
    if last < 1:
        notes.append("no checkpoint after step 0 within the growth bound")
        cmp = Comparison(0.0, 0.0, 0.0, z_bound(1, case.M))
    else:
        cmp = compare(runs[:, sel], exact[sel])
    status = "pass" if (cmp.passed and last >= 1) else "FAIL"
    mf_dev = mf_rel = drift = shape = trace = None
    if mf is not None and last >= 1:
        mf_dev = float(np.max(np.abs(runs[:, sel].mean(0) - mf[sel])))
        mf_rel = float(np.max(np.abs(mf[sel] - exact[sel])) / np.max(np.abs(exact[sel])))
    if case.metric == "cosine" and last >= 1:
        # the scale-free loss: split s into its overall scale (sum_m s_m) and its shape s_m / sum_k s_k
        tot, tot_ref = runs[:, sel].sum(-1, keepdims=True), exact[sel].sum(-1, keepdims=True)
        trace = compare(tot, tot_ref)
        shape = compare(runs[:, sel] / tot, exact[sel] / tot_ref)
        drift = float(tot[:, -1, 0].mean() / runs[:, 0].sum(-1).mean() - tot_ref[-1, 0] / exact[0].sum())
    ratio_4n = shrink = None
    if explain and status == "FAIL" and trace is not None and not trace.passed:
        big = run_case(replace(case, samples=4 * case.samples), K, seed, mean_field=False, explain=False)
        test = shrink_test(cmp.ratio, big.ratio)
        ratio_4n, shrink = test.ratio_4n, test.factor
        if test.explained:
            status = "explained"
        notes.append(f"scale drift {drift:+.1%} over the horizon (scale test ratio {trace.ratio:.2f}); with 4 n = "
                     f"{4 * case.samples} samples max abs ds = {big.max_dev:.2e}; in tolerance units "
                     f"{test.ratio_n:.2f} -> {test.ratio_4n:.2f}, shrink factor {test.factor:.2f} (explained iff "
                     f">= {EXPLAIN_FACTOR:g}): " + ("a sampling effect vanishing with n -- the cosine loss is "
                     "scale-free, each sampled step adds eta^2 tr Var(g) to |W|^2, absent from the expected map "
                     "and largest at small M, where |p|^-2 is heavy-tailed" if test.explained
                     else "not explained by sampling"))
    return CaseResult(case, seeds, check, runs, exact, mf, int(check[max(last, 0)]), cmp.max_dev, cmp.sigma_n,
                      cmp.se(K), cmp.z, cmp.tol, status == "pass", status, mf_dev, mf_rel, drift,
                      None if shape is None else shape.ratio, None if trace is None else trace.ratio,
                      time.perf_counter() - t0, notes, ratio_4n=ratio_4n, shrink=shrink)


def _horizon(ex, steps: int, bound: float) -> int:
    within = np.all(np.isfinite(ex.s) & (ex.s <= bound), axis=-1)
    return steps if within.all() else max(int(ex.step[np.argmin(within) - 1]), 1)


def _checkpoints(steps: int) -> np.ndarray:
    stride = max(1, steps // CHECKPOINTS)
    return np.unique(np.append(np.arange(0, steps + 1, stride), steps))


def run_trained_case(case: Case, K: int = 4, seed: int = 0, explain: bool = True) -> CaseResult:
    """A trained predictor's case (SPEC §7): K seeds of sampled training against the map with the predictor state
    (``simulate(rule, s0, lam0=...)``, cosine: exact closure); both s_m and lambda_m are compared by the tolerance
    rule (the case passes iff both do).  lambda_m(t) = u_m(t)^T W_P(t) u_m(t) in the matched singular basis
    (:func:`matched_modes`).

    aligned start: W_P(0) = the closed-form predictor at W0, the map from (s0, its lambda); compared from step 0.
    random start: W_P(0) = :func:`predictor.random_predictor` of the closed-form spectrum (the same for every seed,
    so the seed spread is sampling noise only).  The seed-mean alignment ||[C, W_P]|| / (||C|| ||W_P||) falls; the
    comparison starts at the first step t_a by which FALL_DONE of its fall (start to end) is done: modes are
    matched through each seed's singular vectors at t_a, the map starts from the seed means of s_m(t_a),
    lambda_m(t_a).  The alignment at 0, t_a and the end is in ``alignment``.

    A failing cosine case whose overall scale fails its own test is run again at 4 n, as in :func:`run_case`.
    """
    from isodyn.dynamics.network.predictor import random_predictor
    from isodyn.dynamics.network.trainer import NetworkTrainer

    t0 = time.perf_counter()
    rule, M = case.rule, case.M
    W0 = initial_weights(M, case.N, seed)
    U0, S0, _ = np.linalg.svd(W0, full_matrices=False)
    s0 = correlation_eigenvalues(rule, S0, case.sigma1)
    bound = GROWTH_BOUND * max(1.0, float(s0.max()))
    kw = dict(lr=case.lr, sigma1=case.sigma1, sigma2=SIGMA2, ema=case.ema, scheme="map", closure="exact")
    cfg = NetworkConfig(rule, in_dim=case.N, out_dim=M, samples=case.samples, sigma1=case.sigma1, sigma2=SIGMA2,
                        lr=case.lr, ema=case.ema, sampler=case.sampler)
    Wp0 = None
    if case.start == "random":
        _, lam_cf, _ = NetworkTrainer(cfg, W0).predictor(*NetworkTrainer(cfg, W0).weights_source())
        Wp0 = random_predictor(lam_cf, [seed, M, case.N])
    seeds = [seed * 1000 + 1 + k for k in range(K)]
    notes = []
    if case.start == "aligned":  # the map first: its horizon (below the growth bound) is the training horizon
        ex = simulate(rule, s0, steps=case.steps, **kw)
        steps = _horizon(ex, case.steps, bound)
    else:
        steps = case.steps
    eye = np.eye(case.N)
    hist = []
    for sd in seeds:
        r = train(cfg, W0=W0, steps=steps, seed=sd, probes=eye, Wp0=Wp0, keep_predictor=True)
        hist.append((r.probes.transpose(0, 2, 1), r.Wp_history, r.alignment))
    align = np.array([h[2] for h in hist])
    info = None
    if case.start == "aligned":
        start = 0
        U_ref = [U0] * K
        check = _checkpoints(steps)
        exact, lam_exact = ex.s[check], ex.lam[check]
    else:
        a = np.nanmean(align, 0)
        fall = a[0] - a[-1]
        start = int(np.argmax(a - a[-1] <= (1 - FALL_DONE) * fall)) if fall > 0 else steps
        info = {"start": float(a[0]), "compared_from_step": start, "at_compare": float(a[start]),
                "final": float(a[-1]), "fall": float(a[0] / a[start]) if a[start] > 0 else math.inf,
                "fall_final": float(a[0] / a[-1]) if a[-1] > 0 else math.inf}
        if fall <= 0:
            notes.append("the alignment did not fall")
        U_ref = [np.linalg.svd(h[0][start], full_matrices=False)[0] for h in hist]
    S_l, L_l = [], []
    sel_steps = _checkpoints(steps - start) + start if case.start == "random" else check
    for k, (W, Wp, _) in enumerate(hist):
        S, lam = matched_modes(W[sel_steps], U_ref[k], Wp[sel_steps])
        S_l.append(correlation_eigenvalues(rule, S, case.sigma1))
        L_l.append(lam)
    runs, runs_l = np.array(S_l), np.array(L_l)
    if case.start == "random":
        s_a, lam_a = np.nanmean(runs[:, 0], 0), np.nanmean(runs_l[:, 0], 0)
        if steps - start < 1 or not (np.all(np.isfinite(s_a)) and np.all(s_a > 0)):
            notes.append("nothing left to compare after the alignment fell")
            exact = lam_exact = np.full(runs.shape[1:], np.nan)
        elif not np.all(lam_a >= 0):
            notes.append(f"a predictor eigenvalue is negative at step {start} ({lam_a.min():.3g}): outside the mode "
                         "equations' domain (lambda >= 0); not compared")
            exact = lam_exact = np.full(runs.shape[1:], np.nan)
        else:
            ex = simulate(rule, s_a, lam0=lam_a, steps=steps - start, **kw)
            exact, lam_exact = ex.s[sel_steps - start], ex.lam[sel_steps - start]
        notes.append(f"alignment {info['start']:.3g} at step 0 -> {info['at_compare']:.3g} at step {start} "
                     f"({info['fall']:.1f} x lower; {FALL_DONE:.1%} of its fall) -> {info['final']:.3g} at step "
                     f"{steps}; compared from step {start}, the map started from the seed means there")
    ok = (np.all(np.isfinite(runs) & (runs <= bound), axis=(0, 2)) & np.all(np.isfinite(exact) & (exact <= bound), -1)
          & np.all(np.isfinite(runs_l), axis=(0, 2)) & np.all(np.isfinite(lam_exact), -1))
    last = int(np.argmin(ok)) - 1 if not ok.all() else sel_steps.size - 1
    if last < sel_steps.size - 1:
        notes.append(f"compared up to step {sel_steps[max(last, 0)]}: growth beyond {GROWTH_BOUND:g} x max(1, s0) "
                     "(finite-time blow-up / divergence)")
    sel = slice(1, last + 1)
    if last < 1:
        notes.append("no checkpoint after the start within the growth bound")
        cmp = cmp_l = Comparison(0.0, 0.0, 0.0, z_bound(1, M))
    else:
        cmp, cmp_l = compare(runs[:, sel], exact[sel]), compare(runs_l[:, sel], lam_exact[sel])
    status = "pass" if (cmp.passed and cmp_l.passed and last >= 1 and "the alignment did not fall" not in notes) \
        else "FAIL"
    drift = trace = ratio_4n = shrink = None
    if case.metric == "cosine" and last >= 1:
        tot, tot_ref = runs[:, sel].sum(-1, keepdims=True), exact[sel].sum(-1, keepdims=True)
        trace = compare(tot, tot_ref)
        drift = float(tot[:, -1, 0].mean() / runs[:, 0].sum(-1).mean() - tot_ref[-1, 0] / exact[0].sum())
    if explain and status == "FAIL" and trace is not None and not trace.passed:
        # as run_case: at 4 n the failing deviations must fall by EXPLAIN_FACTOR (a sampling effect)
        big = run_trained_case(replace(case, samples=4 * case.samples), K, seed, explain=False)
        # every failing comparison (s, lambda) must shrink in units of its tolerance (dynamics.claims.shrink_test)
        tests = [shrink_test(c.ratio, r4) for c, r4 in ((cmp, big.ratio), (cmp_l, big.lam_ratio)) if not c.passed]
        test = min(tests, key=lambda t: t.factor) if tests else shrink_test(cmp.ratio, big.ratio)
        ratio_4n, shrink = test.ratio_4n, test.factor
        # a random start's deviation can also come from its residual misalignment, which does not fall with n:
        # there the 4 n run must not do worse in units of its own (smaller) tolerance either
        worse = case.start == "random" and max(big.ratio, big.lam_ratio) > max(cmp.ratio, cmp_l.ratio)
        if all(t.explained for t in tests) and not worse:
            status = "explained"
        notes.append(f"scale drift {drift:+.1%} (scale test ratio {trace.ratio:.2f}); with 4 n = {4 * case.samples} "
                     f"samples max abs ds = {big.max_dev:.2e} (ratio {big.ratio:.2f}), max abs dlambda = "
                     f"{big.lam_max_dev:.2e} (ratio {big.lam_ratio:.2f}); failing deviations in tolerance units "
                     + ", ".join(f"{t.ratio_n:.2f} -> {t.ratio_4n:.2f} (shrink {t.factor:.2f})" for t in tests)
                     + f", explained iff each >= {EXPLAIN_FACTOR:g}: "
                     + ("a sampling effect vanishing with n" if status == "explained"
                        else "not explained by sampling"))
    return CaseResult(case, seeds, sel_steps, runs, exact, None, int(sel_steps[max(last, 0)]), cmp.max_dev,
                      cmp.sigma_n, cmp.se(K), cmp.z, cmp.tol, status == "pass", status, scale_drift=drift,
                      scale_ratio=None if trace is None else trace.ratio, seconds=time.perf_counter() - t0,
                      notes=notes, lam_train=runs_l, lam_exact=lam_exact, lam_max_dev=cmp_l.max_dev,
                      lam_sigma_n=cmp_l.sigma_n, lam_tol=cmp_l.tol, alignment=info, ratio_4n=ratio_4n, shrink=shrink)


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


def validate(metrics=("euclidean", "cosine"), variants=None, modes=MODES, quick: bool = False, K: int = 4,
             seed: int = 0, jobs: int = 1, progress=None) -> list[CaseResult]:
    """Sampled linear training against the mode equations (``isodyn validate``): the cases of :func:`matrix`,
    K seeds each, run by :func:`run_matrix`; one :class:`CaseResult` (pass/fail and the numbers) per case."""
    return run_matrix(matrix(metrics, variants, modes, quick), K=K, seed=seed, progress=progress, jobs=jobs)


def run_matrix(cases, K: int = 4, seed: int = 0, progress=None, jobs: int = 1) -> list[CaseResult]:
    """Run every case (in ``jobs`` processes when > 1); progress(label) after each."""
    if jobs <= 1:
        out = []
        for c in cases:
            out.append(run_case(c, K, seed))
            if progress is not None:
                progress(c.label)
        return out
    from concurrent.futures import ProcessPoolExecutor

    # heaviest first, so the pool's tail is short
    order = sorted(range(len(cases)), key=lambda i: -cost(cases[i]))
    res: list = [None] * len(cases)
    import multiprocessing as mp

    # fresh interpreters (not fork: numba's thread pool does not survive a fork well), one BLAS/numba
    # thread each so the workers do not oversubscribe the cores
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init) as ex:
        futs = {ex.submit(run_case, cases[i], K, seed): i for i in order}
        from concurrent.futures import as_completed

        for f in as_completed(futs):
            i = futs[f]
            res[i] = f.result()
            if progress is not None:
                progress(cases[i].label)
    return res


def _worker_init():
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    import numba

    numba.set_num_threads(1)


def cost(case: Case) -> float:
    """Rough relative cost of a case (for ordering work)."""
    per = 1.0 + (case.M * case.N * case.samples / 2e5 if case.sampler == "inputs" else case.M * case.N / 200)
    return per * case.steps


def mean_field_table(results) -> list[dict]:
    """Rows of the mean-field table: cosine cases, the closure's deviation from the exact closure and from
    training (in tolerance units), by M."""
    rows = []
    for r in results:
        if r.mean_field is None or r.mf_max_dev is None:
            continue
        rows.append({"case": r.case.label, "M": r.case.M, "variant": r.case.variant, "setting": r.case.setting,
                     "exact_ratio": r.ratio, "mf_ratio": r.mf_max_dev / r.tol if r.tol > 0 else math.inf,
                     "mf_rel": r.mf_rel, "mf_passed": bool(r.mf_max_dev <= r.tol)})
    return rows


def mean_field_error_by_M(results) -> dict:
    """M -> the largest relative deviation of the mean-field closure from the exact closure (``mf_rel``) over the
    cosine cases of that M, ascending in M (SPEC §6 claim 7: the mean-field error as a function of M)."""
    by_M: dict = {}
    for M, e in sorted((r.case.M, r.mf_rel) for r in results if r.mf_rel is not None):
        by_M[M] = max(by_M.get(M, 0.0), e)
    return by_M


def mean_field_ratio_by_M(results) -> dict:
    """M -> the largest deviation of the mean-field closure from the training seed mean, in units of the case's
    tolerance, over the cases of that M that have one (the M of :func:`mean_field_error_by_M`)."""
    return {M: max(r.mf_max_dev / r.tol for r in results if r.case.M == M and r.mf_max_dev is not None)
            for M in mean_field_error_by_M(results)}


RULE_TEXT = ("pass iff max_{t,m} |mean_k s_m(t) - s_m^map(t)| <= z * sigma_n / sqrt(K), sigma_n = max_{t,m} "
             "sd_k s_m(t) (the seed-to-seed spread of one run at this n), z = Phi^-1(1 - 1e-3 / (2 C M)) "
             "(Bonferroni over C checkpoints x M modes, family error 1e-3); modes matched through W0's "
             "singular vectors")
TRAINED_RULE_TEXT = ("a trained predictor (SPEC §7): lambda_m = u_m^T W_P u_m (u_m the matched singular vector) "
                     "against the map's lambda by the same rule (lambda ratio); both must pass; a random start is "
                     f"compared from the first step by which {FALL_DONE:.1%} of the seed-mean alignment's fall (step 0 "
                     "to the end) "
                     "is done, the map started there from the seed means")


def format_table(results, K: int) -> str:
    """The two tables as Markdown."""
    rule_text = RULE_TEXT + ("; " + TRAINED_RULE_TEXT if any(r.case.trained for r in results) else "")
    lines = [f"## Sampled training vs the mode map (K = {K} seeds)", "", "Rule: " + rule_text + ".", "",
             "| case | n | steps | max abs ds | sigma_n | tol | ratio | lambda ratio | scale drift | result |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        c = r.case
        drift = "" if r.scale_drift is None else f"{r.scale_drift:+.1e}"
        lam = "" if r.lam_ratio is None else f"{r.lam_ratio:.2f}"
        res = r.status + (" *" if r.notes else "")
        lines.append(f"| {c.label} | {c.samples} | {r.horizon} | {r.max_dev:.2e} | {r.sigma_n:.2e} | {r.tol:.2e} | "
                     f"{r.ratio:.2f} | {lam} | {drift} | {res} |")
    notes = [(r.case.label, n) for r in results for n in r.notes]
    if notes:
        lines += [""] + [f"* {lab}: {n}" for lab, n in notes]
    npass = sum(r.passed for r in results)
    nexp = sum(r.status == "explained" for r in results)
    lines += ["", f"{npass} of {len(results)} cases pass; {nexp} fail but are explained (*: the note says how); "
              f"{len(results) - npass - nexp} fail unexplained."]
    mft = mean_field_table(results)
    if mft:
        lines += ["", "## Cosine: mean-field closure against M", "",
                  "ratio = max abs deviation from the training seed mean / the case's tolerance; "
                  "rel = max |s_mf - s_exact| / max s_exact over the horizon.", "",
                  "| case | M | exact: ratio | mean-field: ratio | mean-field: rel | mean-field within tol |",
                  "|---|---:|---:|---:|---:|---|"]
        for row in sorted(mft, key=lambda d: (d["variant"], d["setting"], d["M"])):
            lines.append(f"| {row['case']} | {row['M']} | {row['exact_ratio']:.2f} | {row['mf_ratio']:.2f} | "
                         f"{row['mf_rel']:.2e} | {'yes' if row['mf_passed'] else 'no'} |")
    return "\n".join(lines) + "\n"


def to_json(results, K: int, seed: int, seconds: float) -> dict:
    rule = RULE_TEXT + ("; " + TRAINED_RULE_TEXT if any(r.case.trained for r in results) else "")
    return {"K": K, "seed": seed, "rule": rule, "family_error": FAMILY_ERROR, "checkpoints": CHECKPOINTS,
            "growth_bound": GROWTH_BOUND, "cases": [r.as_dict() for r in results],
            "mean_field": mean_field_table(results), "passed": sum(r.passed for r in results),
            "total": len(results), "seconds": round(seconds, 2)}
