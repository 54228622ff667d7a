"""Representation trajectories of 20 probe inputs in the 6->2 network (SPEC §5), linear and ReLU.

Rows Euclidean / cosine; columns no-stopgrad, no-predictor, standard, iso, wrong-stopgrad.  Each panel
shows the path of every probe's representation f(W p) in the plane over 1,500 steps of sampled training
(start: open circle, end: filled dot).  Probes: the 20 largest-norm of 5,000 draws x ~ N(0, I_6).

Claims decided (SPEC §6), from the RMS norm of the probes' representations and the eigenvalues s_m
of W W^T at the start and the end: 1 (standard and iso: the representation keeps its size and both
modes), 2 (no-stopgrad Euclidean shrinks to the origin; wrong-stopgrad: Euclidean diverges or shrinks,
cosine loses its weaker mode).  Cosine no-stopgrad is shown but not judged (M = 2).
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from matplotlib.lines import Line2D

from isodyn.dynamics import claims as C

from . import _paper as P
from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import RULE_COLORS, plt, save, style

NAME = "probe_trajectories"
TITLE = "Representation trajectories of 20 probes, linear 6→2 network (paper)"
NAME_RELU = "probe_trajectories_relu"
TITLE_RELU = "Representation trajectories of 20 probes, ReLU 6→2 network (paper)"
SHRUNK = 0.1  # Euclidean no-stopgrad: the cloud's RMS norm falls below this fraction of its start
KEPT = 0.1  # standard / iso: the cloud's RMS norm stays above this fraction of its start
MAX_POINTS = 300
DIVERGED_FRAME = 3.0  # a diverged run's frame: this many times the start's extent (the paths leave it)


def _cloud(Z) -> tuple[float, float]:
    """(RMS norm, sigma_2^2 / sigma_1^2) of a (K, 2) cloud of representations (dynamics.claims.cloud_shape)."""
    return C.cloud_shape(Z)


def seeds_for(ctx: Context) -> dict:
    """Seeds of the 6->2 figures (shared with fig_fixed_points: its W0 runs are these standard runs)."""
    out = {"W0": ctx.seed, "probes": ctx.seed + 2}
    for k, (metric, variant) in enumerate((m, v) for m in P.METRICS for v in P.VARIANTS):
        out[f"{metric}/{variant}"] = ctx.seed + 10 + k
    return out


def _ratio(run) -> tuple[float, float]:
    """s_min / s_max of W W^T (the predictor's eigenvalues' source) at the start and the end."""
    return P.isotropy(run.s[0]), P.isotropy(run.s[run.last_index])


def _claims(runs: dict, net: str, figname: str) -> tuple[list[ClaimResult], dict]:
    nums, word = {}, ("linear" if net == "linear" else "ReLU")
    stats = {}
    for key, run in runs.items():
        i = run.last_index
        (r0, a0), (r1, a1) = _cloud(run.probes[0]), _cloud(run.probes[i])
        q0, q1 = _ratio(run)
        stats[key] = (r0, r1, q0, q1, run)
        k = "/".join(key)
        nums.update({f"{k}/rms_start_end": [r0, r1], f"{k}/cloud_sv2_ratio_start_end": [a0, a1],
                     f"{k}/smin_over_smax_start_end": [q0, q1], f"{k}/rms_start": r0, f"{k}/rms_end": r1,
                     f"{k}/s_start": run.s[0].tolist(), f"{k}/s_final": run.s[i].tolist(),
                     f"{k}/outcome": P.outcome_word(run),
                     f"{k}/diverged_step": int(run.diverged_step) if run.diverged else None,
                     f"{k}/frame_over_start": _frame(run)[1]})
    parts, passed, checks = [], 0, 0
    for metric in P.METRICS:
        for variant in ("standard", "iso"):
            r0, r1, q0, q1, run = stats[(metric, variant)]
            ok = (not run.diverged) and r1 >= KEPT * r0 and q1 > P.ms.VANISHED
            parts.append(f"{metric} {variant}: RMS norm {P.fmt(r0)} → {P.fmt(r1)}, s_min/s_max {P.fmt(q0)} → "
                         f"{P.fmt(q1)}")
            checks += 1
            passed += bool(ok)
    c1 = ClaimResult(
        1, "With stop-gradient and predictor the representation does not collapse.",
        f"{word} 6→2, start → end of the 20 probes' representations (RMS norm) and of the eigenvalues of W Wᵀ: "
        + "; ".join(parts) + ".",
        verdict_from(passed, checks),
        f"standard and iso, both metrics: not diverged, RMS norm of the probes' representations at the end ≥ "
        f"{KEPT:g}× its start and s_min/s_max > {P.ms.VANISHED:g} (both modes kept); {passed}/{checks} passed",
        figname)
    parts, passed, checks = [], 0, 0
    r0, r1, q0, q1, run = stats[("euclidean", "no-stopgrad")]
    ok = (not run.diverged) and r1 <= SHRUNK * r0
    parts.append(f"Euclidean no-stopgrad: RMS norm {P.fmt(r0)} → {P.fmt(r1)}")
    passed += bool(ok)
    checks += 1
    r0, r1, q0, q1, run = stats[("euclidean", "wrong-stopgrad")]
    ok = run.diverged or r1 <= SHRUNK * r0
    parts.append("Euclidean wrong-stopgrad: " + (f"diverged at step {run.diverged_step}" if run.diverged else
                                                 f"RMS norm {P.fmt(r0)} → {P.fmt(r1)}"))
    passed += bool(ok)
    checks += 1
    r0, r1, q0, q1, run = stats[("cosine", "wrong-stopgrad")]
    ok = (not run.diverged) and q1 <= P.ms.VANISHED
    parts.append(f"cosine wrong-stopgrad: s_min/s_max {P.fmt(q0)} → {P.fmt(q1)}")
    passed += bool(ok)
    checks += 1
    r0, r1, q0, q1, _ = stats[("cosine", "no-stopgrad")]
    parts.append(f"(not judged: cosine no-stopgrad s_min/s_max {P.fmt(q0)} → {P.fmt(q1)})")
    c2 = ClaimResult(
        2, "Without stop-gradient the representation collapses (Euclidean: every mode dies); with the "
           "stop-gradient on the wrong side weak modes collapse and strong ones diverge.",
        f"{word} 6→2, start → end: " + "; ".join(parts) + ".",
        verdict_from(passed, checks),
        f"Euclidean no-stopgrad: RMS norm of the probes' representations at the end ≤ {SHRUNK:g}× its start; "
        f"Euclidean wrong-stopgrad: the run diverges or the RMS norm falls ≤ {SHRUNK:g}× its start (which of the two "
        f"depends on whether a mode starts above the divergence threshold); cosine wrong-stopgrad: the weaker mode "
        f"vanishes, s_min/s_max ≤ {P.ms.VANISHED:g} (eigenvalues of W Wᵀ: for ReLU the probe cloud stays "
        f"two-dimensional even when W has rank one, so the cloud's shape does not measure it). Cosine no-stopgrad is "
        f"not judged here: with M = 2, 'all but a few modes vanish' does not constrain anything (the 15→10 figure "
        f"judges it); {passed}/{checks} passed",
        figname)
    return [c1, c2], nums


def _frame(run) -> tuple[float, float]:
    """(half-width of a panel's frame, that over the start's extent max|f(W0 p)|): a diverged run's frame is
    DIVERGED_FRAME times the start's extent, any other frame holds every point of the paths."""
    Z = run.probes[: run.last_index + 1]
    r0 = float(np.max(np.abs(Z[0])))
    lim = DIVERGED_FRAME * r0 if run.diverged else 1.08 * float(np.max(np.abs(Z)))
    return lim, lim / r0


def _draw_panel(ax, run, color, relu: bool):
    i = run.last_index
    Z = run.probes[: i + 1]  # (T, K, 2)
    k = max(1, len(Z) // MAX_POINTS)
    path = np.concatenate([Z[::k], Z[-1:]])
    for j in range(Z.shape[1]):
        ax.plot(path[:, j, 0], path[:, j, 1], color=color, lw=0.8, alpha=0.55)
    ax.plot(Z[0, :, 0], Z[0, :, 1], "o", ms=3.2, mfc="white", mec="0.45", mew=0.8, lw=0)
    ax.plot(Z[-1, :, 0], Z[-1, :, 1], "o", ms=3.6, color=color, mec="k", mew=0.4, lw=0)
    lim, _ = _frame(run)
    if run.diverged:  # the paths leave the frame
        ax.text(0.97, 0.97, f"diverged at step {run.diverged_step}", transform=ax.transAxes, ha="right",
                va="top", fontsize=7, bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.5))
    lo = -0.06 * lim if relu else -lim  # ReLU representations lie in the positive quadrant
    ax.set_xlim(lo, lim)
    ax.set_ylim(lo, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)
    ax.locator_params(nbins=3)


def _draw(runs: dict, net: str, figstem):
    with style():
        fig, axes = plt.subplots(2, 5, figsize=(11.0, 4.9))
        for i, metric in enumerate(P.METRICS):
            for j, variant in enumerate(P.VARIANTS):
                ax = axes[i, j]
                _draw_panel(ax, runs[(metric, variant)], RULE_COLORS[variant], net == "relu")
                if i == 0:
                    ax.set_title(P.VARIANT_LABELS[variant], fontsize=9)
                if i == 1:
                    ax.set_xlabel("$z_1$")
                if j == 0:
                    ax.set_ylabel(f"{P.METRIC_LABELS[metric]}\n$z_2$")
        handles = [Line2D([], [], color="0.3", lw=0.8, label="probe path over 1,500 steps"),
                   Line2D([], [], marker="o", ms=4, mfc="white", mec="0.45", lw=0, label="start"),
                   Line2D([], [], marker="o", ms=4, color="0.3", mec="k", lw=0, label="end")]
        fig.legend(handles=handles, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 1.04))
        fig.tight_layout(rect=(0, 0, 1, 0.98))
        return save(fig, figstem)


def _caption(net: str, sz: P.Sizes, nums: dict) -> tuple[str, list]:
    parts = ["Representations f(W p) of ", fact("{k} probe inputs p (the {k} largest-norm of {pool} draws", k="probes",
                                                 pool="probe_pool"),
             f" from N(0, I_6)) in the {'linear' if net == 'linear' else 'ReLU'} 6→2 network over ",
             fact("{t} steps", t="steps"), " of sampled training, every variant (columns) of both losses (rows); "
             "open circles: start, dots: end. ", *P.settings_parts(nums), ", ", *P.lr_parts(nums), ". "]
    if net == "linear":
        parts += ["Euclidean rules: the moments sampler at ", fact("n = {n}", n="euclidean_samples"),
                  "; cosine rules: ", fact("n = {n}", n="samples"), " inputs a step in float32. "]
    else:
        parts += [fact("n = {n}", n="samples"), " inputs a step in float32; ReLU representations lie in the "
                  "positive quadrant. "]
    parts.append("At the end (dead: s_m at or below ")
    parts += [fact("{d}", d=("thresholds", "dead")), "·max s0, eigenvalues of W Wᵀ): "]
    for i, k in enumerate(("euclidean/no-stopgrad", "euclidean/wrong-stopgrad", "cosine/wrong-stopgrad")):
        label = k.replace("/", " ").replace("euclidean", "Euclidean")
        parts.append("; " if i else "")
        if nums[f"{k}/diverged_step"] is not None:
            parts.append(fact(label + " {o} at step {t}; its frame shows {x}× the start's extent", o=f"{k}/outcome",
                              t=f"{k}/diverged_step", x=f"{k}/frame_over_start"))
        else:
            parts.append(fact(label + " {o}, the probes' RMS norm {r0} → {r1}", o=f"{k}/outcome", r0=f"{k}/rms_start",
                              r1=f"{k}/rms_end"))
    parts.append(".")
    if sz.quick:
        parts.append(" Quick run: fewer samples a step.")
    return compose(parts, nums)


def make(ctx: Context, net: str = "linear") -> FigureResult:
    sz = P.sizes(ctx.quick)
    name, title = (NAME, TITLE) if net == "linear" else (NAME_RELU, TITLE_RELU)
    seeds = seeds_for(ctx)
    W0 = P.weights(P.TWO_DIMS, P.INIT_SCALE, seeds["W0"])
    probes = P.probe_inputs(P.TWO_DIMS[0], seeds["probes"])
    samples = sz.two_samples if net == "linear" else sz.two_samples_relu
    t0 = time.perf_counter()
    runs = {}
    for metric in P.METRICS:
        for variant in P.VARIANTS:
            ctx.progress(f"{name}: {metric} {variant}")
            r = P.rule(metric, variant)
            runs[(metric, variant)] = P.sampled(r, net, W0, sz.steps, samples, seeds[f"{metric}/{variant}"], probes)
    claims, nums = _claims(runs, net, name)
    ctx.progress(f"{name}: drawing")
    files = _draw(runs, net, ctx.figdir / name)
    n_cos = P.samples_used(P.rule("cosine", "standard"), net, samples)
    nums.update(seeds=seeds, samples=n_cos, steps=sz.steps, seconds=time.perf_counter() - t0,
                euclidean_samples=P.samples_used(P.rule("euclidean", "standard"), net, samples),
                settings=P.settings_numbers([P.rule(m, v) for m in P.METRICS for v in P.VARIANTS]),
                probes=P.N_PROBES, probe_pool=P.PROBE_POOL, thresholds={"dead": P.ms.DEAD})
    caption, facts = _caption(net, sz, nums)
    return FigureResult(name, title, files, caption, nums, claims, facts=facts)


ENTRIES = {NAME: (TITLE, partial(make, net="linear")), NAME_RELU: (TITLE_RELU, partial(make, net="relu"))}
