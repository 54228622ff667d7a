"""Eigenvalue dynamics of the 15->10 network (SPEC §5; paper's toy figure), linear and ReLU.

Rows Euclidean / cosine; columns no-stopgrad, no-predictor, standard, iso, wrong-stopgrad.  Each panel:
the eigenvalues s_m of the predictor's correlation (log scale) against steps in sampled training
(thick coloured lines, weak -> strong modes), and for linear networks the mode equations of SPEC §4
from the sampled run's initial eigenvalues (thin black dashed lines).

Claims decided (SPEC §6): 1 (standard and iso keep every mode; Euclidean ends at lambda = 1, cosine
isotropic), 2 (no-stopgrad and wrong-stopgrad collapse), 3 (linear only: Euclidean no-predictor has no
drift beyond the sampling noise).  ReLU no-predictor is measured and shown but decides no claim
(SPEC §6 claim 3 is a statement about linear networks).
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from isodyn.dynamics import claims as C

from . import _paper as P
from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import mode_colors, plt, save, style

NAME = "eigenvalue_dynamics"
TITLE = "Eigenvalue dynamics, linear 15→10 network (paper)"
NAME_RELU = "eigenvalue_dynamics_relu"
TITLE_RELU = "Eigenvalue dynamics, ReLU 15→10 network (paper)"
YLIM = (1e-4, 1e2)
MAX_POINTS = 600  # points drawn per line
NO_DRIFT = 1e-9  # claim 3: max|s_T/s_0 - 1| of the mode equations that counts as no expected drift


def _plan(metric: str, variant: str, net: str, sz: P.Sizes) -> dict:
    """Steps and samples of the sampled run and of the mode equations for one panel."""
    r = P.rule(metric, variant)
    no_pred = variant == "no-predictor"
    if net == "relu":
        steps = sz.eig_relu_steps_no_predictor if no_pred else sz.steps
        samples = sz.eig_relu_samples_no_predictor if no_pred else sz.eig_samples_relu
        return dict(rule=r, steps=steps, samples=samples, mode_steps=None, scheme=None)
    samples = P.samples_used(r, net, sz.eig_samples_cosine)
    if metric == "euclidean":
        steps = sz.eig_steps_no_predictor if no_pred else sz.steps
        return dict(rule=r, steps=steps, samples=samples, mode_steps=steps, scheme="map")
    if no_pred:  # 100,000 sampled cosine steps do not fit the budget: sampled 1,500, mode equations (ODE) all
        return dict(rule=r, steps=sz.steps, samples=samples, mode_steps=sz.eig_steps_no_predictor, scheme="dopri5")
    if variant == "wrong-stopgrad" and not sz.stiff_overlays:
        return dict(rule=r, steps=sz.steps, samples=samples, mode_steps=None, scheme=None)
    return dict(rule=r, steps=sz.steps, samples=samples, mode_steps=sz.steps, scheme=sz.cosine_scheme)


def _run_panel(plan: dict, net: str, W0, seed: int, sz: P.Sizes) -> dict:
    r = plan["rule"]
    t0 = time.perf_counter()
    run = P.sampled(r, net, W0, plan["steps"], plan["samples"], seed)
    out = dict(plan, run=run, seed=seed, seconds_sampled=time.perf_counter() - t0, modes=None, cont=None, long=None)
    if plan["mode_steps"] is None:
        return out
    t0 = time.perf_counter()
    stride = max(1, plan["mode_steps"] // 2000)
    tr = P.modes(r, run.s[0], plan["mode_steps"], sz, stride=stride, scheme=plan["scheme"])
    out["modes"] = tr
    if r.metric == "euclidean" and bool(tr.measures["diverged"]):
        # Euclidean wrong-stopgrad: a mode's drift involves only its own eigenvalue (SPEC §4), so the
        # modes that were shrinking when the strong ones diverged are continued alone.
        weak = tr.s_final < tr.s0
        rest = plan["mode_steps"] - int(tr.final_step)
        if weak.any() and rest > 0:
            out["cont"] = (int(tr.final_step), np.flatnonzero(weak), P.modes(r, tr.s_final[weak], rest, sz))
    if r.metric == "euclidean" and r.variant == "no-stopgrad":
        # every mode dies, but the one nearest lambda = 1 only slowly: continue the mode equations
        out["long"] = P.modes(r, run.s[0], P.PAPER_STEPS_NO_PREDICTOR, sz, stride=1000)
    out["seconds_modes"] = time.perf_counter() - t0
    return out


NOISE_SEEDS = 4
NOISE_N_FACTOR, NOISE_T_FACTOR = 16, 4  # the second set of the noise check: n / 16 samples, T / 4 steps


def _noise_check(W0, seed: int, sz: P.Sizes) -> dict:
    """Claim 3: is the Euclidean no-predictor spectrum's motion sampling noise or a drift?

    NOISE_SEEDS runs with (n, T) and NOISE_SEEDS with (n/16, T/4) (moments sampler, n = 50,000); the test of
    their log-changes ln(s_T / s_0) is :func:`dynamics.claims.noise_or_drift`.  Returns the two settings and
    the test.
    """
    r = P.rule("euclidean", "no-predictor")
    T, n = sz.noise_steps, P.PAPER_SAMPLES
    sets = {"a": (T, n), "b": (T // NOISE_T_FACTOR, n // NOISE_N_FACTOR)}
    changes = {}
    for key, (steps, samples) in sets.items():
        runs = [P.train_moments(r, W0, steps, samples, seed + (0 if key == "a" else 50) + i)
                for i in range(NOISE_SEEDS)]
        changes[key] = [C.log_change(run.s[0], run.s[run.last_index]) for run in runs]
    return dict(sets=sets, test=C.noise_or_drift(changes["a"], changes["b"], NOISE_N_FACTOR, NOISE_T_FACTOR))


# --- claims --------------------------------------------------------------------------------


def _claims(panels: dict, net: str, noise: dict | None, figname: str) -> tuple[list[ClaimResult], dict]:
    """Claims 1 and 2 (both networks) and 3 (linear only) from the panels; (claims, numbers)."""
    nums: dict = {}
    claims = [_claim1(panels, net, figname, nums), _claim2(panels, net, figname, nums)]
    c3 = _claim3(panels, net, noise, figname, nums)
    return claims + ([c3] if c3 is not None else []), nums


def _claim1(panels: dict, net: str, figname: str, nums: dict) -> ClaimResult:
    """Standard and iso keep every mode; Euclidean ends at s = 1, cosine isotropic (linear networks)."""
    checks, passed, parts = 0, 0, []
    for metric in P.METRICS:
        for variant in ("standard", "iso"):
            run = panels[(metric, variant)]["run"]
            s_end, _ = P.end_state(run)
            n_dead = int(P.dead(s_end, run.s[0]).sum())
            ok = not run.diverged and n_dead == 0
            if metric == "euclidean":
                dev = float(np.max(np.abs(s_end - 1)))
                ok &= dev <= P.LAMBDA_TOL
                parts.append(f"{metric} {variant}: max|s−1| = {P.fmt(dev, 2)}, dead {n_dead}/{len(s_end)}")
                nums[f"{metric}/{variant}/max_abs_s_minus_1"] = dev
            else:
                iso = P.isotropy(s_end)
                ok &= iso >= P.ISOTROPIC
                parts.append(f"{metric} {variant}: s_min/s_max = {iso:.3f} at scale s̄ = {P.fmt(s_end.mean())}, "
                             f"dead {n_dead}/{len(s_end)}")
                nums[f"{metric}/{variant}/isotropy"] = iso
            if net == "relu":  # judged: no collapse only (see the criterion)
                ok = not run.diverged and n_dead == 0
            checks += 1
            passed += bool(ok)
    if net == "linear":
        crit = (f"each of Euclidean/cosine × standard/iso: not diverged, no dead mode (s ≤ {P.ms.DEAD:g}·max s0), "
                f"and Euclidean max|s_m − 1| ≤ {P.LAMBDA_TOL:g} (the 1% recruitment band; λ_m = s_m at α = 1) or "
                f"cosine s_min/s_max ≥ {P.ISOTROPIC:g}; {passed}/{checks} passed")
    else:
        crit = (f"each of Euclidean/cosine × standard/iso: not diverged and no dead mode (s ≤ {P.ms.DEAD:g}·max s0). "
                f"The end state (λ = 1, isotropy) is not judged here: in the ReLU network the weakest mode is still "
                f"being recruited at 1,500 steps (the numbers show it); fixed_points_relu judges it on converged "
                f"runs; {passed}/{checks} passed")
    return ClaimResult(
        1, "With stop-gradient and predictor neither metric collapses; Euclidean converges to λ_m = 1 (σ1 = 0), "
           "cosine to an isotropic spectrum.",
        f"{'linear' if net == 'linear' else 'ReLU'} 15→10, end of sampled training: " + "; ".join(parts) + ".",
        verdict_from(passed, checks), crit, figname)


def _claim2(panels: dict, net: str, figname: str, nums: dict) -> ClaimResult:
    """No-stopgrad collapses (Euclidean: every mode; cosine: dimensionally); wrong-stopgrad splits."""
    results = [_no_stopgrad_euclidean(panels, nums)]
    results += [_collapse_cosine(panels, variant, nums) for variant in ("no-stopgrad", "wrong-stopgrad")]
    results.append(_wrong_stopgrad_euclidean(panels, nums))
    passed, checks = sum(ok for ok, _ in results), len(results)
    crit = ("Euclidean no-stopgrad: every mode shrinks in sampled training"
            + (f" and every mode is dead (s ≤ {P.ms.DEAD:g}·max s0) in the mode equations at 100,000 steps"
               if net == "linear" else "") +
            f"; cosine no-stopgrad and wrong-stopgrad: at least half the modes vanished (s_m ≤ {P.ms.VANISHED:g}·max "
            f"s at the end: the noise floor of sampled training keeps them above the {P.ms.DEAD:g} of the mode "
            "equations), at least one survivor, the strongest mode grew; Euclidean wrong-stopgrad: the run diverges "
            "with growing and shrinking modes"
            + (", and the shrinking modes, continued alone in the mode equations, end dead" if net == "linear" else "")
            + f"; {passed}/{checks} passed")
    return ClaimResult(
        2, "Without stop-gradient both metrics collapse (Euclidean: every mode dies; cosine: all but a few modes "
           "vanish); with the stop-gradient on the wrong side weak modes collapse and strong ones diverge.",
        f"{'linear' if net == 'linear' else 'ReLU'} 15→10: " + "; ".join(t for _, t in results) + ".",
        verdict_from(passed, checks), crit, figname)


def _no_stopgrad_euclidean(panels: dict, nums: dict) -> tuple[bool, str]:
    p = panels[("euclidean", "no-stopgrad")]
    run = p["run"]
    s_end, _ = P.end_state(run)
    s0 = run.s[0]
    ok = bool(np.all(s_end < s0)) and not run.diverged
    txt = f"Euclidean no-stopgrad: {int((s_end < s0).sum())}/{len(s0)} modes shrank (end max s = " \
          f"{P.fmt(s_end.max())}; after {run.steps} steps {int(P.dead(s_end, s0).sum())}/{len(s0)} dead " \
          f"(≤ {P.ms.DEAD:g}·max s0), {int(P.ms.vanished(s_end).sum())}/{len(s0)} vanished " \
          f"(≤ {P.ms.VANISHED:g}·max s))"
    if p["long"] is not None:
        long_dead = int(p["long"].measures["n_dead"])
        ok &= long_dead == len(s0)
        txt += f", mode equations at {p['long'].steps:,} steps: {long_dead}/{len(s0)} dead"
        nums["euclidean/no-stopgrad/dead_at_100k_modes"] = long_dead
    nums["euclidean/no-stopgrad/s_final"] = s_end.tolist()
    return bool(ok), txt


def _collapse_cosine(panels: dict, variant: str, nums: dict) -> tuple[bool, str]:
    run = panels[("cosine", variant)]["run"]
    s_end, _ = P.end_state(run)
    s0 = run.s[0]
    d = P.ms.vanished(s_end)
    alive = ~d
    top = int(np.argmax(s_end))
    grew = bool(s_end[top] > s0[top])  # the survivors "may grow": at least the strongest does
    ok = (not run.diverged) and d.sum() >= len(s0) / 2 and alive.any() and grew
    nums[f"cosine/{variant}/n_vanished"] = int(d.sum())
    return bool(ok), (f"cosine {variant}: {int(d.sum())}/{len(s0)} vanished (largest of them "
                      f"{P.fmt(s_end[d].max() / s_end.max() if d.any() else float('nan'), 2)} of the strongest), "
                      f"survivors s = {P.fmt_list(s_end[alive])} (from {P.fmt_list(s0[alive])})")


def _wrong_stopgrad_euclidean(panels: dict, nums: dict) -> tuple[bool, str]:
    p = panels[("euclidean", "wrong-stopgrad")]
    run = p["run"]
    s_last, s0 = run.s[run.last_index], run.s[0]
    grew, shrank = s_last > s0, s_last < s0
    ok = run.diverged and grew.any() and shrank.any()
    txt = ("Euclidean wrong-stopgrad: " + (f"diverged at step {run.diverged_step}; " if run.diverged else
                                           "did not diverge; ") +
           f"{int(grew.sum())} growing mode(s) (s0 = {P.fmt_list(s0[grew])}), {int(shrank.sum())} shrinking")
    if p["cont"] is not None:
        k, idx, tr = p["cont"]
        n_dead_w = int(P.dead(tr.s_final, s0).sum())
        ok &= n_dead_w == len(idx)
        txt += f"; mode equations continued to step {k + tr.steps:,}: {n_dead_w}/{len(idx)} shrinking modes dead"
        nums["euclidean/wrong-stopgrad/weak_dead_continued"] = n_dead_w
    nums["euclidean/wrong-stopgrad/diverged_step"] = run.diverged_step
    return bool(ok), txt


def _claim3(panels: dict, net: str, noise: dict | None, figname: str, nums: dict) -> ClaimResult | None:
    """No predictor, linear networks: no drift in the mode equations, only sampling noise in training."""
    p = panels[("euclidean", "no-predictor")]
    run = p["run"]
    a = C.rms(C.log_change(run.s[0], run.s[run.last_index]))
    nums["euclidean/no-predictor/rms_log_change"] = a
    if net != "linear":
        return None
    tr = p["modes"]
    drift = C.max_relative_change(tr.s0, tr.s_final)
    test = noise["test"]
    (Ta, na), (Tb, nb) = noise["sets"]["a"], noise["sets"]["b"]
    ok1, ok2 = drift <= NO_DRIFT, test.passed
    nums.update({"euclidean/no-predictor/mode_eq_max_rel_change": drift,
                 "euclidean/no-predictor/noise_rms_a": test.rms_a, "euclidean/no-predictor/noise_rms_b": test.rms_b,
                 "euclidean/no-predictor/noise_ratio": test.ratio})
    return ClaimResult(
        3, "Without a predictor there is no variance regularisation: Euclidean with σ1 = 0 has zero expected "
           "drift.",
        f"linear 15→10, Euclidean no-predictor: mode equations after {tr.steps:,} steps max|s_T/s_0 − 1| = "
        f"{P.fmt(drift, 2)}; the sampled run of the figure (n = {P.PAPER_SAMPLES:,}, {run.steps:,} steps) moved "
        f"ln(s_T/s_0) by {P.fmt(a)} RMS over modes; noise check ({NOISE_SEEDS} seeds each): "
        f"(n = {na:,}, T = {Ta:,}) RMS {P.fmt(test.rms_a)}, (n = {nb:,}, T = {Tb:,}) RMS {P.fmt(test.rms_b)}, "
        f"ratio {test.ratio:.2f} (sampling noise ∝ √(T/n) predicts {test.noise:g}, a drift ∝ T predicts "
        f"{test.drift:g}).",
        verdict_from(int(ok1) + int(ok2), 2),
        f"no expected drift: max|s_T/s_0 − 1| ≤ {NO_DRIFT:g} in the mode equations; the sampled motion is noise: "
        f"the ratio of RMS log-changes (n/{NOISE_N_FACTOR}, T/{NOISE_T_FACTOR}) / (n, T) lies in "
        f"[{test.lo:.2f}, {test.hi:.2f}] (log-midpoints between noise, {test.noise:g}, and drift, {test.drift:g}; "
        f"the ratio's measured spread over {NOISE_SEEDS} seeds is ±0.3); {int(ok1) + int(ok2)}/2 passed",
        figname)


# --- drawing -------------------------------------------------------------------------------


def _thin(x, y):
    k = max(1, len(x) // MAX_POINTS)
    return x[::k], y[::k]


def _kfmt(v, _pos):
    return f"{v / 1000:g}k" if abs(v) >= 10_000 else f"{v:g}"


def _draw_panel(ax, p: dict, colors, n_vanished: int):
    run = p["run"]
    i = run.last_index
    steps = np.arange(i + 1)
    M = run.s.shape[1]
    with np.errstate(invalid="ignore"):
        for m in range(M):
            x, y = _thin(steps, run.s[: i + 1, m])
            ax.plot(x, y, color=colors[m], lw=1.6, alpha=0.85, solid_capstyle="round")
    tr = p["modes"]
    if tr is not None:
        for m in range(M):
            ok = np.isfinite(tr.s[:, m])
            ax.plot(tr.step[ok], tr.s[ok, m], color="k", lw=0.7, ls=(0, (3, 2)))
        if p["cont"] is not None:
            k, idx, tc = p["cont"]
            for j in range(len(idx)):
                ax.plot(k + tc.step, tc.s[:, j], color="k", lw=0.7, ls=(0, (3, 2)))
    if run.diverged:
        grew = run.s[i] > run.s[0]
        for m in np.flatnonzero(grew):
            ax.plot([i], [YLIM[1] * 0.8], marker="x", color=colors[m], ms=6, mew=1.6, clip_on=False)
        ax.text(0.97, 0.97, f"diverged at step {run.diverged_step}", transform=ax.transAxes, ha="right", va="top",
                fontsize=7)
    else:
        d = n_vanished  # numbers[f"{metric}/{variant}/n_vanished"]: the caption's and the claims' count
        if d:
            ax.text(0.97, 0.05, f"{d}/{M} modes vanished", transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.5))
    last = max(p["steps"], p["mode_steps"] or 0)
    if p["steps"] < last / 10:  # the sampled run covers only the start of a long mode-equation axis
        ax.text(0.97, 0.97, f"sampled: steps 0–{p['steps']:,}", transform=ax.transAxes, ha="right", va="top",
                fontsize=7, bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.5))
    ax.set_xlim(0, last)
    ax.set_yscale("log")
    ax.set_ylim(*YLIM)
    ax.yaxis.set_major_locator(LogLocator(numticks=4))
    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_kfmt))


def _draw(panels: dict, net: str, figstem, sz: P.Sizes, nums: dict):
    with style():
        fig, axes = plt.subplots(2, 5, figsize=(11.0, 4.9), sharey=True)
        M = panels[("euclidean", "standard")]["run"].s.shape[1]
        colors = mode_colors(M)
        for i, metric in enumerate(P.METRICS):
            for j, variant in enumerate(P.VARIANTS):
                ax = axes[i, j]
                _draw_panel(ax, panels[(metric, variant)], colors, nums[f"{metric}/{variant}/n_vanished"])
                if i == 0:
                    ax.set_title(P.VARIANT_LABELS[variant], fontsize=9)
                if i == 1:
                    ax.set_xlabel("training step")
            ylab = "eigenvalue $s_m$" if net == "linear" else r"eigenvalue $s_m$ of $WW^{\top}$"
            axes[i, 0].set_ylabel(f"{P.METRIC_LABELS[metric]}\n{ylab}")
        handles = [Line2D([], [], color=colors[M // 2], lw=1.6, label="sampled training (colour: weak → strong mode)")]
        if net == "linear":
            handles.append(Line2D([], [], color="k", lw=0.7, ls=(0, (3, 2)), label="mode equations (SPEC §4)"))
        handles.append(Line2D([], [], color="0.3", marker="x", lw=0, mew=1.6, label="diverged"))
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), bbox_to_anchor=(0.5, 1.04))
        fig.tight_layout(rect=(0, 0, 1, 0.98))
        return save(fig, figstem)


def _panel_numbers(panels: dict) -> dict:
    """Per panel: steps, samples, mode-equation steps, vanished / dead / grown counts at the end, the step a
    diverged run stopped (measures' thresholds); the caption, the panel labels and the claims use these."""
    nums: dict = {"thresholds": {"vanished": P.ms.VANISHED, "dead": P.ms.DEAD}}
    for (metric, variant), p in panels.items():
        run, k = p["run"], f"{metric}/{variant}"
        s_end, _ = P.end_state(run)
        s0 = run.s[0]
        nums.update({f"{k}/steps": int(p["steps"]), f"{k}/samples": int(p["samples"]),
                     f"{k}/n_vanished": int(P.ms.vanished(s_end).sum()), f"{k}/n_dead": int(P.dead(s_end, s0).sum()),
                     f"{k}/n_grew": int((s_end > s0).sum()), f"{k}/n_shrank": int((s_end < s0).sum()),
                     f"{k}/diverged_step": int(run.diverged_step) if run.diverged else None})
        if p["mode_steps"] is not None:
            nums[f"{k}/mode_steps"] = int(p["mode_steps"])
        if p["cont"] is not None:
            kk, idx, tr = p["cont"]
            nums[f"{k}/continued_modes"] = int(len(idx))
            nums[f"{k}/continued_to_step"] = int(kk + tr.steps)
    nums["M"] = int(panels[("euclidean", "standard")]["run"].s.shape[1])
    return nums


def _caption(panels: dict, net: str, sz: P.Sizes, nums: dict) -> tuple[str, list]:
    word = "linear" if net == "linear" else "ReLU"
    parts = [f"Eigenvalues s_m (log scale) of the {word} 15→10 network against training steps: rows Euclidean and "
             f"cosine loss, columns the five variants; ", *P.settings_parts(nums), ", ", *P.lr_parts(nums), ". "]
    if net == "linear":
        parts += ["Thick lines: sampled training; Euclidean rules use the moments sampler (the exact distribution of "
                  "the ", fact("n = {n}", n="euclidean/standard/samples"), "-sample second moments, cost independent "
                  "of n), cosine rules draw ", fact("n = {n}", n="cosine/standard/samples"),
                  " inputs a step in float32. Thin dashed lines: the mode equations of SPEC §4 from the sampled run's "
                  "initial eigenvalues (Euclidean closed form; cosine exact closure, "
                  f"{'step map' if sz.cosine_scheme == 'map' else 'ODE (dopri5, t = η·step)'}). ",
                  fact("No-predictor: Euclidean sampled and mode equations for {n} steps; ",
                       n="euclidean/no-predictor/steps"),
                  fact("cosine sampled for {n} steps and the mode equations (exact closure, ODE with dopri5, "
                       "t = η·step) for {m} steps. ", n="cosine/no-predictor/steps",
                       m="cosine/no-predictor/mode_steps")]
        if "cosine/wrong-stopgrad/mode_steps" not in nums:
            parts.append("Cosine wrong-stopgrad: sampled training only (its mode equations are stiff). ")
    else:
        parts += ["Sampled training only (ReLU networks have no exact mode equations), ",
                  fact("n = {n}", n="euclidean/standard/samples"), " inputs a step in float32; ",
                  fact("no-predictor runs {t} steps with n = {n}", t="euclidean/no-predictor/steps",
                       n="euclidean/no-predictor/samples"),
                  ". s_m are the eigenvalues of W Wᵀ, from which the predictor is built. "]
    k = "euclidean/wrong-stopgrad"
    if nums[f"{k}/diverged_step"] is not None:
        parts.append(fact("Euclidean wrong-stopgrad: {g} of {M} modes grew and the run diverged at step {t} (×)",
                          g=f"{k}/n_grew", M="M", t=f"{k}/diverged_step"))
        if f"{k}/continued_modes" in nums:
            parts.append(fact("; its {w} shrinking modes are continued alone by the mode equations to step {t} (a "
                              "Euclidean mode's drift involves only its own eigenvalue)", w=f"{k}/continued_modes",
                              t=f"{k}/continued_to_step"))
        parts.append(". ")
    else:
        parts.append(fact("Euclidean wrong-stopgrad did not diverge: {g} of {M} modes grew, {h} shrank. ",
                          g=f"{k}/n_grew", M="M", h=f"{k}/n_shrank"))
    parts += ["Panel labels: modes at or below ", fact("{v}", v=("thresholds", "vanished")),
              " times the strongest at the end (vanished), or the step a diverged run stopped. "]
    vanished = [(m, v) for m in P.METRICS for v in P.VARIANTS
                if nums[f"{m}/{v}/diverged_step"] is None and nums[f"{m}/{v}/n_vanished"]]
    if vanished:
        parts.append("At the end: ")
        for i, (m, v) in enumerate(vanished):
            parts += ["; " if i else "", fact(f"{P.METRIC_LABELS[m]} {v} {{n}}/{{M}} vanished, {{k}}/{{M}} dead",
                                              n=f"{m}/{v}/n_vanished", M="M", k=f"{m}/{v}/n_dead")]
        parts += [" (dead: at or below ", fact("{d}", d=("thresholds", "dead")), "·max s0). "]
    if sz.quick:
        parts.append("Quick run: fewer samples a step and fewer no-predictor steps than the full run.")
    return compose(parts, nums)


def make(ctx: Context, net: str = "linear") -> FigureResult:
    """Run the 10 panels (sampled training + mode equations), draw, decide claims 1-3."""
    sz = P.sizes(ctx.quick)
    name = NAME if net == "linear" else NAME_RELU
    title = TITLE if net == "linear" else TITLE_RELU
    W0 = P.weights(P.EIG_DIMS, P.INIT_SCALE, ctx.seed)
    panels, seeds = {}, {"W0": ctx.seed}
    t_all = time.perf_counter()
    k = 0
    for metric in P.METRICS:
        for variant in P.VARIANTS:
            k += 1
            seed = ctx.seed + k
            seeds[f"{metric}/{variant}"] = seed
            ctx.progress(f"{name}: {metric} {variant}")
            panels[(metric, variant)] = _run_panel(_plan(metric, variant, net, sz), net, W0, seed, sz)
    noise = None
    if net == "linear":
        ctx.progress(f"{name}: noise check")
        seeds["noise_check"] = ctx.seed + 100
        noise = _noise_check(W0, ctx.seed + 100, sz)
    claims, nums = _claims(panels, net, noise, name)
    nums.update(_panel_numbers(panels))
    nums["settings"] = P.settings_numbers([p["rule"] for p in panels.values()])
    ctx.progress(f"{name}: drawing")
    files = _draw(panels, net, ctx.figdir / name, sz, nums)
    nums.update(seeds=seeds, sizes=sz.as_dict(), seconds=time.perf_counter() - t_all,
                s0=panels[("euclidean", "standard")]["run"].s[0].tolist())
    for (metric, variant), p in panels.items():
        s_end, lam_end = P.end_state(p["run"])
        nums[f"{metric}/{variant}/s_final"] = s_end.tolist()
        nums[f"{metric}/{variant}/seconds_sampled"] = round(p["seconds_sampled"], 2)
        if p["modes"] is not None:
            nums[f"{metric}/{variant}/mode_eq_s_final"] = p["modes"].s_final.tolist()
    caption, facts = _caption(panels, net, sz, nums)
    return FigureResult(name, title, files, caption, nums, claims, facts=facts)


#: the two figures this module makes (name -> (title, make))
ENTRIES = {NAME: (TITLE, partial(make, net="linear")), NAME_RELU: (TITLE_RELU, partial(make, net="relu"))}
