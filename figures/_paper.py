"""Shared settings and run helpers of the paper's theory figures (SPEC §5), linear and ReLU.

Used by fig_eigenvalue_dynamics, fig_probe_trajectories and fig_fixed_points.  Nothing here computes
dynamics: runs go through the public API (``isodyn.dynamics.network.train`` for sampled training,
``isodyn.dynamics.modes.simulation.simulate`` for the mode equations); the thresholds that decide dead and vanished
modes (``ms.DEAD``, ``ms.VANISHED``: sampled training's noise floor) come from :mod:`isodyn.dynamics.measures`.

Sizes (``sizes(quick)``): the full run keeps the paper's settings where they fit the time budget of
``isodyn reproduce`` (< 10 min for every figure on a 2-core machine) and says where it does not; the
quick run uses fewer samples and steps.  Every choice is recorded in the figure's numbers and caption.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from isodyn.derivations import Rule
from isodyn.dynamics import measures as ms
from isodyn.dynamics.modes.simulation import simulate
from isodyn.dynamics.network.trainer import NetworkConfig, init_weights, train
from isodyn.dynamics.paper import paper_lr

#: SPEC §5 toy settings
SIGMA1, SIGMA2, ALPHA = 0.0, 0.1, 1.0
EIG_DIMS = (15, 10)  # N -> M of the eigenvalue-dynamics figure
TWO_DIMS = (6, 2)  # N -> M of the probe-trajectory and fixed-point figures
INIT_SCALE = 0.25  # W0 entries N(0, 1/16)
FRESH_SCALE = 0.5  # the fresh draw of the fixed-point figure: entries N(0, 1/4)
PAPER_SAMPLES = 50_000
PAPER_STEPS = 1500
PAPER_STEPS_NO_PREDICTOR = 100_000
N_PROBES, PROBE_POOL = 20, 5000

VARIANTS = ("no-stopgrad", "no-predictor", "standard", "iso", "wrong-stopgrad")
METRICS = ("euclidean", "cosine")
VARIANT_LABELS = {"no-stopgrad": "no stop-gradient", "no-predictor": "no predictor", "standard": "standard",
                  "iso": "IsoLoss", "wrong-stopgrad": "wrong-side stop-gradient"}
METRIC_LABELS = {"euclidean": "Euclidean", "cosine": "cosine"}

#: isotropy (lambda_min / lambda_max) an end state needs to count as isotropic
ISOTROPIC = 0.95
#: |lambda - 1| an end state of the Euclidean rules needs to count as converged to lambda = 1
#: (the 1% band of isodyn.dynamics.measures.RECRUIT)
LAMBDA_TOL = ms.RECRUIT


@dataclass(frozen=True)
class Sizes:
    """Samples a step and steps of every run of the paper figures (full or quick)."""

    quick: bool
    steps: int  # 1,500 in both (the paper's)
    eig_samples_cosine: int  # 15->10 sampled (inputs) training, cosine rules
    eig_samples_relu: int  # 15->10 ReLU, both metrics
    eig_steps_no_predictor: int  # Euclidean no-predictor (moments sampler and mode equations)
    eig_relu_steps_no_predictor: int  # ReLU no-predictor: sampled only (no mode equations for ReLU)
    eig_relu_samples_no_predictor: int  # ... with this many samples a step
    two_samples: int  # 6->2 linear (cosine; Euclidean uses the moments sampler at the paper's n)
    two_samples_relu: int  # 6->2 ReLU
    noise_steps: int  # claim 3 noise check: T of the (n, T) runs (and T/4 of the (n/16, T/4) runs)
    cosine_scheme: str  # mode equations of the cosine rules: 'map' (full) or 'dopri5' (quick)
    cosine_rtol: float  # dopri5 tolerance of the cosine mode equations
    stiff_overlays: bool  # draw the cosine wrong-stopgrad mode equations (stiff: ~7 s on 2 cores)

    def as_dict(self) -> dict:
        return asdict(self)


FULL = Sizes(False, PAPER_STEPS, eig_samples_cosine=20_000, eig_samples_relu=10_000,
             eig_steps_no_predictor=PAPER_STEPS_NO_PREDICTOR, eig_relu_steps_no_predictor=10_000,
             eig_relu_samples_no_predictor=2_000,
             two_samples=20_000, two_samples_relu=20_000, noise_steps=4000, cosine_scheme="map",
             cosine_rtol=1e-7, stiff_overlays=True)
QUICK = Sizes(True, PAPER_STEPS, eig_samples_cosine=500, eig_samples_relu=500, eig_steps_no_predictor=5_000,
              eig_relu_steps_no_predictor=PAPER_STEPS, eig_relu_samples_no_predictor=500, two_samples=1_000,
              two_samples_relu=1_000, noise_steps=2000, cosine_scheme="dopri5", cosine_rtol=1e-4,
              stiff_overlays=False)


def sizes(quick: bool) -> Sizes:
    return QUICK if quick else FULL


def rule(metric: str, variant: str) -> Rule:
    return Rule(metric, variant, alpha=ALPHA)


def lr(r: Rule) -> float:
    """SPEC §5 learning rate of the rule."""
    return paper_lr(r)


def weights(dims, scale: float, seed: int) -> np.ndarray:
    """W0 (M, N) with entries N(0, scale^2) from ``seed`` (isodyn.dynamics.network.init_weights)."""
    N, M = dims
    return init_weights(M, N, scale, seed)


def uses_moments(r: Rule, net: str) -> bool:
    """Linear Euclidean rules: the moments sampler (exact in distribution, cost independent of n)."""
    return net == "linear" and r.metric == "euclidean"


_RUNS: dict = {}  # memo of sampled runs within one process (the 6->2 figures share their W0 runs)


def _digest(a) -> str:
    import hashlib

    return "" if a is None else hashlib.sha1(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


def sampled(r: Rule, net: str, W0: np.ndarray, steps: int, samples: int, seed: int, probes=None):
    """Sampled training with the SPEC §5 settings -> isodyn.dynamics.network.NetworkRun.

    Linear Euclidean rules use the moments sampler at the paper's n = 50,000 (its cost does not depend
    on n); every other run draws ``samples`` inputs a step in float32.  Runs are deterministic in their
    arguments and remembered: a run recorded with probes serves a later request without probes.
    """
    key = (r.name, r.alpha, net, _digest(W0), steps, samples, seed)
    hit = _RUNS.get(key)
    if hit is not None and (probes is None or hit[0] == _digest(probes)):
        return hit[1]
    run = _train(r, net, W0, steps, samples, seed, probes)
    _RUNS[key] = (_digest(probes), run)
    return run


def clear_memo() -> None:
    _RUNS.clear()


def _train(r: Rule, net: str, W0: np.ndarray, steps: int, samples: int, seed: int, probes=None):
    moments = uses_moments(r, net)
    cfg = NetworkConfig(r, net=net, in_dim=W0.shape[1], out_dim=W0.shape[0],
                        samples=PAPER_SAMPLES if moments else samples, sigma1=SIGMA1, sigma2=SIGMA2, lr=lr(r),
                        predictor_source="weights", sampler="moments" if moments else "inputs",
                        dtype="float64" if moments else "float32")
    return train(cfg, W0=W0, steps=steps, seed=seed, probes=probes)


def train_moments(r: Rule, W0: np.ndarray, steps: int, samples: int, seed: int):
    """Linear Euclidean sampled training with the moments sampler at any n (SPEC §5 otherwise)."""
    cfg = NetworkConfig(r, net="linear", in_dim=W0.shape[1], out_dim=W0.shape[0], samples=samples, sigma1=SIGMA1,
                        sigma2=SIGMA2, lr=lr(r), predictor_source="weights", sampler="moments")
    return train(cfg, W0=W0, steps=steps, seed=seed)


def samples_used(r: Rule, net: str, samples: int) -> int:
    return PAPER_SAMPLES if uses_moments(r, net) else samples


def modes(r: Rule, s0, steps: int, sz: Sizes, stride: int = 1, scheme: str | None = None):
    """Mode equations (SPEC §4) from eigenvalues s0 -> isodyn.dynamics.modes.trajectory.Trajectory.

    Euclidean: the expected-GD map; cosine: the exact closure, by the map (full) or the ODE with dopri5
    (quick; t = eta * step), saved every ``stride`` steps.
    """
    if scheme is None:
        scheme = sz.cosine_scheme if r.metric == "cosine" else "map"
    kw = dict(rtol=sz.cosine_rtol, atol=1e-12) if scheme == "dopri5" else {}
    return simulate(r, np.asarray(s0, dtype=float), lr=lr(r), steps=steps, sigma1=SIGMA1, sigma2=SIGMA2,
                    scheme=scheme, closure="exact", stride=stride, **kw)


def probe_inputs(N: int, seed: int) -> np.ndarray:
    """The 20 largest-norm of 5,000 draws x ~ N(0, I_N) (SPEC §5), (20, N)."""
    x = np.random.default_rng(seed).standard_normal((PROBE_POOL, N))
    keep = np.argsort(np.linalg.norm(x, axis=1))[-N_PROBES:]
    return x[keep]


def end_state(run):
    """(s, lambda) at the last finite state of a NetworkRun."""
    i = run.last_index
    return run.s[i], run.lam[i]


def dead(s_end, s0) -> np.ndarray:
    """(M,) bool: dead modes by isodyn.dynamics.measures (s <= DEAD * max s0)."""
    return ms.dead_modes(np.asarray(s_end), np.asarray(s0))


def isotropy(lam) -> float:
    return float(ms.isotropy(np.asarray(lam)))


def fmt(x: float, digits: int = 3) -> str:
    """A number for the report: fixed for moderate values, scientific otherwise."""
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{max(digits - 1, 1)}e}"


def fmt_list(xs, digits: int = 3) -> str:
    return "[" + ", ".join(fmt(x, digits) for x in xs) + "]"


# --- caption facts (figures.base: every number of a caption is a field of a Fact) ------------------------


def settings_numbers(rules) -> dict:
    """The SPEC §5 settings a caption states, as numbers: {"W0_sd", "alpha", "sigma1", "sigma2", "lr": {rule: eta}}."""
    return {"W0_sd": INIT_SCALE, "fresh_sd": FRESH_SCALE, "alpha": ALPHA, "sigma1": SIGMA1, "sigma2": SIGMA2,
            "lr": {f"{r.metric}/{r.variant}": float(lr(r)) for r in rules}}


def settings_parts(nums: dict) -> list:
    """Caption parts 'W0 entries N(0, 0.25²), α = 1, σ1 = 0, σ2 = 0.1, predictor from W Wᵀ' from
    nums["settings"] (:func:`settings_numbers`)."""
    from .base import fact

    S = "settings"
    return ["W0 entries N(0, ", fact("{sd}", sd=(S, "W0_sd")), "²), ",
            fact("α = {a}, σ1 = {s1}, σ2 = {s2}", a=(S, "alpha"), s1=(S, "sigma1"), s2=(S, "sigma2")),
            ", predictor from W Wᵀ"]


def lr_parts(nums: dict) -> list:
    """Caption parts 'η = 0.01 (Euclidean standard, iso) and 0.1 (cosine standard, ...)': the learning rates of
    nums["settings"]["lr"] grouped by value."""
    from .base import fact

    groups: dict = {}
    for key, v in nums["settings"]["lr"].items():
        groups.setdefault(v, []).append(key)
    every = {m: {k for k in nums["settings"]["lr"] if k.startswith(m + "/")} for m in METRICS}
    parts = ["η = "]
    for i, keys in enumerate(groups.values()):
        if i:
            parts.append(" and " if i == len(groups) - 1 else ", ")
        names = []
        for m in METRICS:
            mine = [k for k in keys if k.startswith(m + "/")]
            if mine and set(mine) == every[m] and len(mine) > 1:
                names.append(f"every {METRIC_LABELS[m]} rule")
            elif mine:
                names.append(f"{METRIC_LABELS[m]} " + ", ".join(k.split("/", 1)[1] for k in mine))
        parts += [fact("{eta}", eta=("settings", "lr", keys[0])), " (" + "; ".join(names) + ")"]
    return parts


def outcome_word(run) -> str:
    """A sampled run's end by the thresholds of isodyn.dynamics.measures: 'diverged', 'collapsed' (every mode dead,
    s <= DEAD * max s0), 'lost k of M modes' (some dead), 'kept every mode, k of M vanished (...)' (none dead, some at
    or below VANISHED of the strongest) or 'kept every mode'."""
    if run.diverged:
        return "diverged"
    s_end, s0 = end_state(run)[0], run.s[0]
    nd, M = int(dead(s_end, s0).sum()), len(s0)
    if nd == M:
        return "collapsed"
    if nd:
        return f"lost {nd} of {M} modes"
    nv = int(ms.vanished(s_end).sum())
    return f"kept every mode, {nv} of {M} vanished (at or below {ms.VANISHED:g} of the strongest)" if nv else \
        "kept every mode"
