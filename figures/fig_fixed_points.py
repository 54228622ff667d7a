"""Two-neuron fixed points: Euclidean versus cosine from three starts (SPEC §5), linear and ReLU.

The 6->2 network (standard rule, the paper's settings) from W0 (entries N(0, 1/16)), 2 W0 and a fresh
draw with entries N(0, 1/4).  Left: Euclidean loss, right: cosine loss; both predictor eigenvalues
lambda_m against steps (sampled training, coloured by start) with the mode equations of SPEC §4 (thin
black, linear networks only).  Euclidean ends at lambda = 1 from every start; cosine ends isotropic at a
scale set by the start (a line of fixed points).

Claim decided (SPEC §6): 1.  The W0 runs are the standard runs of fig_probe_trajectories (same W0, seed
and samples), shared within one process.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from isodyn.dynamics import claims as C

from . import _paper as P
from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .fig_probe_trajectories import seeds_for
from .style import OKABE_ITO, plt, save, style

NAME = "fixed_points"
TITLE = "Two-neuron fixed points, linear 6→2 network (paper)"
NAME_RELU = "fixed_points_relu"
TITLE_RELU = "Two-neuron fixed points, ReLU 6→2 network (paper)"
START_COLORS = (OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2])
DISTINCT = 1.1  # cosine: neighbouring end scales of the three starts differ by at least 10%
TAIL = 0.1  # the last 10% of the steps measure the end state's fluctuation


def _starts(ctx: Context) -> dict:
    seeds = seeds_for(ctx)
    W0 = P.weights(P.TWO_DIMS, P.INIT_SCALE, seeds["W0"])
    fresh = P.weights(P.TWO_DIMS, P.FRESH_SCALE, ctx.seed + 3)
    return {"W0": (W0, seeds["W0"]), "2·W0": (2 * W0, ctx.seed + 4), "fresh N(0, 1/4)": (fresh, ctx.seed + 3)}


def _train_seed(ctx: Context, metric: str, start: str) -> int:
    """The W0 start reuses the probe figure's standard run (same seed); the others get their own."""
    if start == "W0":
        return seeds_for(ctx)[f"{metric}/standard"]
    return ctx.seed + (30 if start == "2·W0" else 40) + P.METRICS.index(metric)


def _tail(run) -> tuple[np.ndarray, float]:
    """(mean s over the last TAIL of the run (M,), relative std of the mean eigenvalue there)."""
    return C.tail_statistics(run.s[: run.last_index + 1], TAIL)


def _claims(runs: dict, net: str, figname: str):
    nums, word = {}, ("linear" if net == "linear" else "ReLU")
    parts, passed, checks = [], 0, 0
    for start, run in runs["euclidean"].items():
        s_end, _ = P.end_state(run)
        dev = float(np.max(np.abs(s_end - 1)))
        ok = (not run.diverged) and dev <= P.LAMBDA_TOL
        parts.append(f"Euclidean from {start}: s = λ {P.fmt_list(run.s[0])} → {P.fmt_list(s_end, 4)}")
        nums[f"euclidean/{start}/s_final"] = s_end.tolist()
        nums[f"euclidean/{start}/max_abs_s_minus_1"] = dev
        nums[f"euclidean/{start}/at_one"] = bool(ok)
        passed += bool(ok)
        checks += 1
    scales, flucts = [], []
    for start, run in runs["cosine"].items():
        s_end, _ = P.end_state(run)
        iso = P.isotropy(s_end)
        tail_mean, fluct = _tail(run)
        ok = (not run.diverged) and iso >= P.ISOTROPIC
        scales.append(float(tail_mean.mean()))
        flucts.append(fluct)
        parts.append(f"cosine from {start}: s = λ {P.fmt_list(run.s[0])} → {P.fmt_list(s_end, 4)} "
                     f"(min/max = {iso:.3f})")
        nums[f"cosine/{start}/s_final"] = s_end.tolist()
        nums[f"cosine/{start}/isotropy"] = iso
        nums[f"cosine/{start}/isotropic"] = bool(ok)
        passed += bool(ok)
        checks += 1
    sep = C.min_neighbour_ratio(scales)
    ok = sep >= DISTINCT
    parts.append(f"cosine end scales {P.fmt_list(scales)} (mean s over the last {TAIL:.0%} of the steps), smallest "
                 f"ratio of neighbours {sep:.2f}, the scales' own relative fluctuation ≤ {P.fmt(max(flucts), 2)}")
    nums["cosine/end_scales"] = scales
    nums["cosine/scale_separation"] = sep
    nums["cosine/scales_distinct"] = bool(ok)
    n_e, n_c = sum(nums[f"euclidean/{st}/at_one"] for st in runs["euclidean"]), \
        sum(nums[f"cosine/{st}/isotropic"] for st in runs["cosine"])
    nums.update({"euclidean/at_one_text": _count_text(n_e, len(runs["euclidean"]), "ends at λ = 1"),
                 "cosine/isotropic_text": _count_text(n_c, len(runs["cosine"]), "ends isotropic"),
                 "cosine/scales_text": "the end scales differ between starts" if ok else "the end scales do not "
                 "separate", "tolerances": {"lambda": P.LAMBDA_TOL, "isotropic": P.ISOTROPIC, "distinct": DISTINCT}})
    passed += bool(ok)
    checks += 1
    c1 = ClaimResult(
        1, "Euclidean converges to λ_m = 1 (σ1 = 0); cosine to an isotropic spectrum whose scale depends on the "
           "initial condition.",
        f"{word} 6→2, standard rule, three starts: " + "; ".join(parts) + ".",
        verdict_from(passed, checks),
        f"judged on the eigenvalues s_m of the representation (λ_m = s_m at α = 1; a rule that fixed λ without "
        f"moving s would not pass): Euclidean, each start: not diverged and max|s_m − 1| ≤ {P.LAMBDA_TOL:g} at the "
        f"end; cosine, each start: s_min/s_max ≥ {P.ISOTROPIC:g}; and the three cosine end scales differ: sorted, "
        f"each ≥ {DISTINCT:g}× the previous (far above their fluctuation); {passed}/{checks} passed",
        figname)
    return [c1], nums


def _count_text(k: int, n: int, what: str) -> str:
    """'ends at λ = 1 from every start' / '... from 2 of 3 starts' / '... from no start' (a caption fact's value)."""
    return f"{what} from " + ("every start" if k == n else "no start" if k == 0 else f"{k} of {n} starts")


def _caption(net: str, sz: P.Sizes, nums: dict, starts: list, linear_modes: bool) -> tuple[str, list]:
    parts = ["Both eigenvalues s_m = λ_m (", fact("α = {a}", a=("settings", "alpha")), "; log scale; solid the larger, "
             f"dashed the smaller) of the {'linear' if net == 'linear' else 'ReLU'} 6→2 network under the standard "
             "rule, from three starts: W0 (entries N(0, ", fact("{sd}", sd=("settings", "W0_sd")), "²)), 2·W0 and a "
             "fresh draw with entries N(0, ", fact("{sd}", sd=("settings", "fresh_sd")), "²); ",
             fact("σ1 = {s1}, σ2 = {s2}", s1=("settings", "sigma1"), s2=("settings", "sigma2")),
             ", predictor from W Wᵀ, ", *P.lr_parts(nums), ", ", fact("{t} steps", t="steps"), ". "]
    if net == "linear":
        parts += ["Sampled training: Euclidean by the moments sampler at ", fact("n = {n}", n="euclidean_samples"),
                  ", cosine with ", fact("n = {n}", n="samples"), " inputs a step in float32"]
    else:
        parts += ["Sampled training with ", fact("n = {n}", n="samples"), " inputs a step in float32"]
    if linear_modes:
        parts.append("; thin black: the mode equations of SPEC §4 from the same initial eigenvalues (cosine: exact "
                     f"closure, {'step map' if sz.cosine_scheme == 'map' else 'ODE by dopri5'})")
    parts += [". Measured: Euclidean ", fact("{w}", w="euclidean/at_one_text"), " (dotted line: λ = 1) ",
              fact("(max|s_m − 1| " + ", ".join(f"{{d{i}}} from {st}" for i, st in enumerate(starts))
                   + "; tolerance {tol})", tol=("tolerances", "lambda"),
                   **{f"d{i}": f"euclidean/{st}/max_abs_s_minus_1" for i, st in enumerate(starts)})]
    parts += ["; cosine ", fact("{w}", w="cosine/isotropic_text"), " ",
              fact("(s_min/s_max " + ", ".join(f"{{q{i}}}" for i in range(len(starts))) + "; at least {iso})",
                   iso=("tolerances", "isotropic"),
                   **{f"q{i}": f"cosine/{st}/isotropy" for i, st in enumerate(starts)}),
              " and ", fact("{w}", w="cosine/scales_text"), " ",
              fact("(mean s over the last steps {sc}, smallest ratio of neighbours {r}; distinct: at least {d})",
                   sc="cosine/end_scales", r="cosine/scale_separation", d=("tolerances", "distinct")), "."]
    if linear_modes:
        parts += [" Sampled cosine end scale over the mode equations': ",
                  fact(", ".join(f"{{r{i}}} from {st}" for i, st in enumerate(starts)),
                       **{f"r{i}": f"cosine/{st}/scale_over_modes" for i, st in enumerate(starts)}), "."]
    if sz.quick:
        parts.append(" Quick run: fewer samples a step.")
    return compose(parts, nums)


def _draw(runs: dict, modes: dict, net: str, figstem):
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.3), sharey=True)
        for ax, metric in zip(axes, P.METRICS):
            for (start, run), color in zip(runs[metric].items(), START_COLORS):
                i = run.last_index
                steps = np.arange(i + 1)
                for m, ls in zip(range(run.s.shape[1]), ("--", "-")):  # ascending: smaller first
                    ax.plot(steps, run.s[: i + 1, m], color=color, lw=1.8, ls=ls, alpha=0.9)
                tr = modes.get((metric, start))
                if tr is not None:
                    for m in range(tr.s.shape[1]):
                        ax.plot(tr.step, tr.s[:, m], color="k", lw=0.6)
            if metric == "euclidean":
                ax.axhline(1.0, color="0.5", lw=0.6, ls=":", zorder=0)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(FixedLocator([0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{P.METRIC_LABELS[metric]} loss")
            ax.set_xlabel("training step")
            ax.set_xlim(0, run.steps)
        axes[0].set_ylabel(r"eigenvalues $s_m = \lambda_m$ ($\alpha = 1$)")
        handles = [Line2D([], [], color=c, lw=1.8, label=f"from {s}") for s, c in zip(runs["euclidean"], START_COLORS)]
        handles += [Line2D([], [], color="0.3", lw=1.8, label="larger eigenvalue"),
                    Line2D([], [], color="0.3", lw=1.8, ls="--", label="smaller eigenvalue")]
        if modes:
            handles.append(Line2D([], [], color="k", lw=0.6, label="mode equations"))
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.07),
                   columnspacing=1.2, handlelength=1.8)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        return save(fig, figstem)


def make(ctx: Context, net: str = "linear") -> FigureResult:
    sz = P.sizes(ctx.quick)
    name, title = (NAME, TITLE) if net == "linear" else (NAME_RELU, TITLE_RELU)
    samples = sz.two_samples if net == "linear" else sz.two_samples_relu
    t0 = time.perf_counter()
    starts = _starts(ctx)
    runs, modes, seeds = {m: {} for m in P.METRICS}, {}, {}
    for metric in P.METRICS:
        r = P.rule(metric, "standard")
        for start, (W, _) in starts.items():
            ctx.progress(f"{name}: {metric} from {start}")
            seed = _train_seed(ctx, metric, start)
            seeds[f"{metric}/{start}"] = seed
            run = P.sampled(r, net, W, sz.steps, samples, seed)
            runs[metric][start] = run
            if net == "linear":
                modes[(metric, start)] = P.modes(r, run.s[0], sz.steps, sz, stride=5)
    claims, nums = _claims(runs, net, name)
    ctx.progress(f"{name}: drawing")
    files = _draw(runs, modes, net, ctx.figdir / name)
    n_cos = P.samples_used(P.rule("cosine", "standard"), net, samples)
    nums.update(samples=n_cos, steps=sz.steps,
                euclidean_samples=P.samples_used(P.rule("euclidean", "standard"), net, samples),
                settings=P.settings_numbers([P.rule(m, "standard") for m in P.METRICS]))
    for (metric, start), tr in modes.items():
        if metric == "cosine":
            nums[f"cosine/{start}/scale_over_modes"] = float(P.end_state(runs[metric][start])[0].mean()
                                                             / tr.s_final.mean())
    caption, facts = _caption(net, sz, nums, list(starts), bool(modes))
    nums.update(seeds={**seeds, "fresh W": ctx.seed + 3}, samples=n_cos, steps=sz.steps,
                seconds=time.perf_counter() - t0)
    return FigureResult(name, title, files, caption, nums, claims, facts=facts)


ENTRIES = {NAME: (TITLE, partial(make, net="linear")), NAME_RELU: (TITLE_RELU, partial(make, net="relu"))}
