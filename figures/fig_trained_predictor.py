"""A trained predictor (BYOL; SPEC §7): Tian's invariant, the fixed points lambda*+- and the collapse threshold;
claim 8.

Euclidean standard loss, sigma1 = 0, the predictor's eigenvalues lambda a state of the mode equations
(``Rule(..., predictor="trainable")``, ``simulate`` with ``lam0``), dopri5 in ODE time t = lr * step.
(a) The (lambda, S^2) plane without weight decay: trajectories from several starts against the level curves
of the invariant S^2 - lambda^2 / alpha_p through them (``isodyn.dynamics.modes.theory.trained_invariant``).
(b) With weight decay gamma = gamma_p: the invariant against exp(-2 gamma t).  (c) Final lambda against
gamma for starts on the parabola S^2 = lambda^2 / alpha_p above and below the separatrix lambda*-, with and
without an EMA target, on the derived curves lambda*+- and the threshold 1/4 (``trained_fixed_points``).
(d) Sampled training of the linear 15 -> 10 network (SPEC §5 settings, the moments sampler: exact in
distribution at n = 50,000) with a trained M x M predictor started at the closed-form one, against the mode
equations, below and above the threshold.  (e) The eigenspace alignment ||[C, W_P]|| / (||C|| ||W_P||) over
sampled training from a random (unaligned) predictor, Euclidean against cosine.
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import claims as C

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import OKABE_ITO, plt, save, style

NAME = "trained_predictor"
TITLE = "Trained predictor: invariant, fixed points and collapse threshold (Tian et al.)"
LR = 0.05
RTOL = 1e-10  # dopri5 tolerance of the invariant runs
INVARIANT_TOL = 1e-6  # relative drift of the invariant allowed at gamma = 0 (10^4 x rtol over the run)
DECAY_TOL = 1e-5  # |I(t) - I(0) exp(-2 gamma t)| / |I(0)| allowed with gamma_p = gamma
FIXED_TOL = 1e-4  # relative distance of the final lambda from lambda*+
EMA = 0.9
SAMPLED_TOL = 0.02  # max |lambda_sampled - lambda_modes| / max lambda_modes (n = 50,000: noise ~ 1e-3)
FALL = 2.0  # the alignment measure falls at least this many times from a random start
GAMMA_SAMPLED = (0.0, 0.1, 0.5)  # below, below, above the threshold 1/4
COLLAPSE_STEPS = 4000  # t = 40 at lr 0.01: S^2 falls ~exp(-2 gamma t) once lambda is small


def _rule():
    from isodyn.derivations import Rule

    return Rule("euclidean", "standard", predictor="trainable")


def invariant_runs(steps: int, gamma: float, alpha_p: float = 1.0):
    """Trajectories from a few (s0, lambda0) starts (one simulate_batch call): the Trajectory and the starts."""
    from isodyn.dynamics import simulate_batch

    lam0 = np.array([0.15, 0.4, 0.8, 1.6, 0.3])
    s0 = np.array([0.05, 0.9, 0.2, 1.2, 0.02])
    tr = simulate_batch(_rule(), s0[:, None], lam0=lam0[:, None], lr=LR, steps=steps, sigma1=0.0,
                        weight_decay=gamma, predictor_lr_ratio=alpha_p, scheme="dopri5", rtol=RTOL, atol=1e-15,
                        stride=max(1, steps // 400))
    return tr, s0, lam0


def fixed_point_runs(gammas, steps: int, ema: float):
    """Final lambda for starts on the parabola above and below lambda*- (one call per EMA setting)."""
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.theory import trained_fixed_points

    plus, minus = trained_fixed_points(gammas)
    above = np.where(np.isfinite(minus), 0.5 * (minus + plus), 0.5)
    above_hi = np.where(np.isfinite(plus), 1.6 * plus, 1.2)
    below = np.where(np.isfinite(minus), 0.6 * minus, np.nan)
    lam0 = np.stack([above, above_hi, below], axis=1)  # (G, 3)
    G = len(gammas)
    ok = np.isfinite(lam0)
    lam0 = np.where(ok, lam0, 0.5)
    s0 = lam0**2  # on the parabola (alpha_p = 1, sigma1 = 0)
    tr = simulate_batch(_rule(), s0.reshape(-1, 1), lam0=lam0.reshape(-1, 1), lr=LR, steps=steps, sigma1=0.0,
                        weight_decay=np.repeat(gammas, 3), ema=ema, scheme="dopri5", stride=steps)
    lam_end = np.asarray(tr.lam_final).reshape(G, 3)
    dead = np.asarray(tr.measures["dead"]).reshape(G, 3)
    return lam0, np.where(ok, lam_end, np.nan), dead & ok, plus, minus


def _panel_invariant(ax, tr, s0, lam0, alpha_p):
    from isodyn.dynamics.modes.theory import trained_invariant

    for i, c in enumerate(OKABE_ITO[: len(s0)]):
        ax.plot(tr.lam[i, :, 0], tr.s[i, :, 0], color=c, lw=1.6)
        ax.plot(lam0[i], s0[i], "o", color=c, ms=4)
        inv0 = float(trained_invariant(np.sqrt(s0[i]), lam0[i], alpha_p))
        lam = np.linspace(0.0, 1.8, 200)
        S2 = inv0 + lam**2 / alpha_p
        ax.plot(lam[S2 > 0], S2[S2 > 0], color="k", lw=0.7, ls=(0, (3, 2)))
    ax.plot([1.0], [np.nan], color="k", lw=0.7, ls=(0, (3, 2)), label=r"$S^2 - \lambda^2/\alpha_p$ = const")
    ax.axvline(1.0, color="0.7", lw=0.6)
    ax.set_xlabel(r"predictor eigenvalue $\lambda$")
    ax.set_ylabel(r"$S^2$ (eigenvalue $s$)")
    ax.set_title(r"(a) $\gamma = 0$: trajectories on the invariant's curves")
    ax.legend(loc="upper left")


def _panel_decay(ax, tr, gamma):
    from isodyn.dynamics.modes.theory import trained_invariant

    inv = trained_invariant(np.sqrt(tr.s[:, :, 0]), tr.lam[:, :, 0])
    t = np.asarray(tr.time)
    for i, c in enumerate(OKABE_ITO[: inv.shape[0]]):
        ax.plot(t, inv[i] / inv[i, 0], color=c, lw=1.6)
    ax.plot(t, np.exp(-2 * gamma * t), color="k", lw=0.8, ls=(0, (3, 2)), label=r"$e^{-2\gamma t}$")
    ax.set_xlabel(r"time $t = \eta\cdot$step")
    ax.set_ylabel(r"$I(t) / I(0)$")
    ax.set_title(rf"(b) $\gamma = \gamma_p$ = {gamma:g}: the invariant decays")
    ax.legend(loc="upper right")


def _panel_fixed_points(ax, gammas, runs, threshold):
    from isodyn.dynamics.modes.theory import trained_fixed_points

    fine = np.linspace(0.0, 0.3, 300)
    plus, minus = trained_fixed_points(fine)
    ax.plot(fine, plus, color="k", lw=1.2, label=r"$\lambda^*_+$ (stable)")
    ax.plot(fine, minus, color="k", lw=1.0, ls=(0, (3, 2)), label=r"$\lambda^*_-$ (separatrix)")
    ax.axvline(threshold, color="0.5", lw=0.8, ls=":", label=r"threshold $\gamma_c = 1/4$")
    for (ema, (_lam0, lam_end, dead, _, _)), marker in zip(runs.items(), ("o", "s")):
        label = "no EMA" if ema == 0 else f"EMA tau = {ema:g}"
        for j, c in enumerate((OKABE_ITO[0], OKABE_ITO[2], OKABE_ITO[3])):
            y = np.where(dead[:, j], 0.0, lam_end[:, j])
            ax.plot(gammas, y, marker, ms=4 if ema == 0 else 6, mfc=c if ema == 0 else "none", mec=c, ls="none",
                    label=f"{label}: start {('between', 'above', 'below')[j]}" if j < 3 else None)
    ax.set_xlabel(r"weight decay $\gamma = \gamma_p$")
    ax.set_ylabel(r"final $\lambda$ (0: collapsed)")
    ax.set_title(r"(c) fixed points on the parabola $S^2 = \lambda^2/\alpha_p$")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _checks(inv_tr, decay_tr, gamma_decay, gammas, runs, threshold):
    """(checks [bool], measured lines [str], numbers {}) of claim 8 in the mode equations (claims statistics)."""
    from isodyn.dynamics.modes.theory import trained_invariant

    drift = C.relative_drift(trained_invariant(np.sqrt(inv_tr.s[:, :, 0]), inv_tr.lam[:, :, 0]))
    decay_err = C.decay_error(trained_invariant(np.sqrt(decay_tr.s[:, :, 0]), decay_tr.lam[:, :, 0]),
                              decay_tr.time, 2 * gamma_decay)
    fixed_err, wrong = 0.0, 0
    for _lam0, lam_end, dead, plus, _ in runs.values():
        e, w = C.fixed_point_outcomes(lam_end, dead, plus, gammas > threshold)
        fixed_err, wrong = max(fixed_err, e), wrong + w
    checks = [drift <= INVARIANT_TOL, decay_err <= DECAY_TOL, fixed_err <= FIXED_TOL, wrong == 0]
    lines = [f"invariant S^2 - lambda^2/alpha_p at gamma = 0: max relative drift {drift:.1e} (dopri5 rtol {RTOL:g})",
             f"with gamma_p = gamma = {gamma_decay:g}: max |I(t) - I(0) exp(-2 gamma t)| / |I(0)| = {decay_err:.1e}",
             f"starts above the separatrix end at lambda*+ within {fixed_err:.1e} (relative), with and without EMA",
             f"{wrong} wrong outcomes (a start below lambda*- or beyond the threshold 1/4 that survived, or one above "
             "it below the threshold that collapsed)"]
    numbers = {"invariant_drift": drift, "invariant_decay_error": decay_err, "fixed_point_error": fixed_err,
               "wrong_outcomes": wrong, "threshold": threshold, "gammas": gammas.tolist()}
    return checks, lines, numbers


def sampled_runs(steps: int, cosine_samples: int, seed: int):
    """Sampled training with a trained predictor: {gamma: (NetworkRun, Trajectory of the mode equations)} from
    the closed-form start (Euclidean, moments sampler), and {metric: NetworkRun} from a random start."""
    from isodyn import NetworkConfig, Rule, init_weights, simulate, train

    W0 = init_weights(10, 15, 0.25, seed)
    aligned = {}
    for gamma in GAMMA_SAMPLED:
        rule = Rule("euclidean", "standard", predictor="trainable")
        cfg = NetworkConfig(rule, in_dim=15, out_dim=10, samples=50_000, sigma1=0.0, sigma2=0.1, lr=0.01,
                            weight_decay=gamma, sampler="moments")
        n = steps if gamma < 0.25 else max(steps, COLLAPSE_STEPS)
        run = train(cfg, W0=W0, steps=n, seed=seed + 1)
        tr = simulate(rule, run.s[0], lam0=run.lam[0], lr=0.01, steps=n, sigma1=0.0, sigma2=0.1,
                      weight_decay=gamma)
        aligned[gamma] = (run, tr)
    unaligned = {}
    for metric in ("euclidean", "cosine"):
        rule = Rule(metric, "standard", predictor="trainable")
        kw = dict(sampler="moments") if metric == "euclidean" else dict(samples=cosine_samples, dtype="float32")
        cfg = NetworkConfig(rule, in_dim=15, out_dim=10, sigma1=0.0, sigma2=0.1,
                            lr=0.01 if metric == "euclidean" else 0.1, predictor_init="random", **kw)
        unaligned[metric] = train(cfg, W0=W0, steps=steps if metric == "euclidean" else steps // 2, seed=seed + 2)
    return aligned, unaligned


def _panel_sampled(ax, aligned):
    for (gamma, (run, tr)), c in zip(aligned.items(), OKABE_ITO):
        i = run.last_index
        ax.plot(np.arange(i + 1), np.sort(run.lam[: i + 1], axis=1), color=c, lw=1.4, alpha=0.8)
        ax.plot(tr.step, np.sort(tr.lam, axis=1), color="k", lw=0.7, ls=(0, (3, 2)))
        ax.plot([], [], color=c, lw=1.4, label=rf"$\gamma$ = {gamma:g}")
    ax.plot([], [], color="k", lw=0.7, ls=(0, (3, 2)), label="mode equations")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 2)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"predictor eigenvalues $\lambda_m$")
    ax.set_title("(d) sampled 15->10, trained predictor")
    ax.legend(loc="lower right")


def _panel_alignment(ax, unaligned):
    for (metric, run), c in zip(unaligned.items(), (OKABE_ITO[0], OKABE_ITO[3])):
        i = run.last_index
        ax.plot(np.arange(i + 1), run.alignment[: i + 1], color=c, lw=1.4, label=metric)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"$\|[C, W_P]\| / (\|C\|\,\|W_P\|)$")
    ax.set_title("(e) alignment from a random predictor")
    ax.legend(loc="upper right")


def _sampled_checks(aligned, unaligned, threshold):
    from isodyn.dynamics import measures as ms

    checks, lines = [], []
    for gamma, (run, tr) in aligned.items():
        i = run.last_index
        if gamma < threshold:
            dev = C.spectrum_deviation(run.lam[: i + 1: 10], tr.lam[: i + 1: 10])
            checks.append(dev <= SAMPLED_TOL)
            lines.append(f"gamma = {gamma:g}: sampled lambda within {dev:.2%} of the mode equations")
        else:
            gone = bool(np.all(run.s[i] <= ms.VANISHED * np.max(run.s[0])))
            checks.append(gone)
            lines.append(f"gamma = {gamma:g} > 1/4: every sampled mode {'below' if gone else 'NOT below'} "
                         f"{ms.VANISHED:g} of the largest start at the end (max s {np.max(run.s[i]):.1e})")
    for metric, run in unaligned.items():
        fall = C.fall_factor(run.alignment[: run.last_index + 1])
        checks.append(fall >= FALL)
        lines.append(f"{metric} from a random predictor: alignment measure {run.alignment[0]:.3f} -> "
                     f"{run.alignment[run.last_index]:.3f} ({fall:.1f}x lower)")
    return checks, lines


def make(ctx: Context) -> FigureResult:
    from isodyn.dynamics.modes.theory import trained_threshold

    threshold = trained_threshold()
    steps = 2000 if ctx.quick else 4000
    gammas = np.linspace(0.02, 0.3, 6 if ctx.quick else 12)
    gamma_decay = 0.05
    ctx.progress("trained predictor: invariant")
    inv_tr, s0, lam0 = invariant_runs(steps, 0.0)
    decay_tr, _, _ = invariant_runs(steps // 4, gamma_decay)
    runs = {}
    for ema in (0.0, EMA):
        ctx.progress(f"trained predictor: fixed points (EMA {ema:g})")
        runs[ema] = fixed_point_runs(gammas, 20_000 if ctx.quick else 40_000, ema)
    checks, lines, numbers = _checks(inv_tr, decay_tr, gamma_decay, gammas, runs, threshold)
    ctx.progress("trained predictor: sampled training")
    aligned, unaligned = sampled_runs(1000 if ctx.quick else 3000, 1000 if ctx.quick else 10_000, ctx.seed)
    s_checks, s_lines = _sampled_checks(aligned, unaligned, threshold)
    numbers["sampled"] = {"lines": s_lines, **{f"alignment/{m}": r.alignment[[0, r.last_index]].tolist()
                                              for m, r in unaligned.items()}}
    with style():
        fig, axes = plt.subplots(1, 5, figsize=(18.0, 3.2), constrained_layout=True)
        _panel_invariant(axes[0], inv_tr, s0, lam0, 1.0)
        _panel_decay(axes[1], decay_tr, gamma_decay)
        _panel_fixed_points(axes[2], gammas, runs, threshold)
        _panel_sampled(axes[3], aligned)
        _panel_alignment(axes[4], unaligned)
        files = save(fig, ctx.figdir / NAME)
    claim = ClaimResult(
        8, "With a trained predictor (Euclidean, sigma1 = 0): S^2 - lambda^2/alpha_p is conserved at gamma = 0 and "
        "decays as exp(-2 gamma t) with gamma_p = gamma; modes above the separatrix lambda*- converge to lambda*+, "
        "those below collapse, and every mode collapses for gamma > tau^2 / (4 (1 + sigma1^2)).",
        "mode equations: " + "; ".join(lines) + "; sampled training: " + "; ".join(s_lines),
        verdict_from(sum(checks) + sum(s_checks), len(checks) + len(s_checks)),
        f"four checks on the mode equations (dopri5): invariant drift <= {INVARIANT_TOL:g}; decay error <= "
        f"{DECAY_TOL:g}; final lambda within {FIXED_TOL:g} of lambda*+ for the starts above the separatrix; every "
        "start below it and every start beyond the threshold collapses (and none above it below the threshold); "
        f"and on sampled training: below the threshold the trained predictor's spectrum within {SAMPLED_TOL:.0%} "
        f"of the mode equations', above it every mode vanishes, and from a random predictor the alignment measure "
        f"falls at least {FALL:g}x (Euclidean and cosine)", NAME)
    cos_n = 1000 if ctx.quick else 10_000
    numbers.update(lr=LR, gamma_decay=gamma_decay, ema=EMA, cosine_samples=cos_n, euclidean_samples=50_000,
                   sigma1=0.0, alpha_p=1.0, measured="; ".join(lines + s_lines))
    caption, facts = compose([
        "Trained predictor, Euclidean standard loss, ", fact("$\\sigma_1 = {s}$, $\\alpha_p = {a}$", s="sigma1",
                                                               a="alpha_p"),
        ", mode ODE (dopri5, ", fact("t = {lr}", lr="lr"), "$\\cdot$step). (a) Without weight decay, trajectories in "
        "the $(\\lambda, S^2)$ plane (coloured, dots at the starts) with the curves $S^2 - \\lambda^2/\\alpha_p$ = "
        "const through their starts (dashed, derivations/). (b) With ", fact("$\\gamma = \\gamma_p$ = {g}",
                                                                             g="gamma_decay"),
        " the invariant against $e^{-2\\gamma t}$. (c) Final $\\lambda$ of starts on the parabola "
        "$S^2 = \\lambda^2/\\alpha_p$ between and above $\\lambda^*_\\pm$ and below $\\lambda^*_-$, with and "
        "without an EMA target (", fact("tau = {e}", e="ema"), "); curves and threshold derived. (d) Sampled "
        "training of the linear 15→10 network (moments sampler, ", fact("n = {n}", n="euclidean_samples"),
        ") with a trained predictor started at the closed-form one (coloured) against the mode equations from the "
        "same start (dashed). (e) The alignment of W_P with the correlation from a random predictor (the closed-form "
        "spectrum in random eigenvectors), Euclidean (moments sampler) and cosine (",
        fact("{n} inputs a step", n="cosine_samples"), ", float32). Measured: ", fact("{m}", m="measured"), "."],
        numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)
