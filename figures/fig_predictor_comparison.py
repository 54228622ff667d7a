"""Closed-form (DirectPred) against trained (BYOL) predictor, standard against IsoLoss; claim 9 (SPEC §7).

All from the mode equations (``simulate_batch``; sigma1 = 0, sigma2 = 0.1, alpha = 1; a trained predictor starts
at the closed-form predictor's eigenvalues, alpha_p = 1, gamma_p = gamma).
(a) Recruitment time of a weak mode at lambda_0 next to a mode at s = 1 (expected-GD map, eta = LR; cosine with
    the mean-field closure): first step within 1 % of the final value (``measures['recruit_steps']``) times eta.
(b) Weight decay without EMA: the fraction of M = 10 modes (log-spaced s0 in [1e-3, 1]) alive at the end of a
    long ODE run (dopri5), against gamma.
(c) Robustness of the trained predictor over alpha_p x gamma, EMA off and on: the fraction of intact points
    (``measures.intact``: not diverged, no mode dead) of the expected-GD map, standard against IsoLoss.
The claim states the measured answers; its criterion checks that the run decided them.
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import claims as C
from isodyn.dynamics import measures as ms

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import OKABE_ITO, plt, save, style

NAME = "predictor_comparison"
TITLE = "Closed-form against trained predictor, standard against IsoLoss"
LR = 0.05
M = 10
EMA = 0.9
COMBOS = (("closed-form", "standard"), ("closed-form", "iso"), ("trainable", "standard"), ("trainable", "iso"))
STYLE = {("closed-form", "standard"): (OKABE_ITO[0], "-"), ("closed-form", "iso"): (OKABE_ITO[3], "-"),
         ("trainable", "standard"): (OKABE_ITO[0], "--"), ("trainable", "iso"): (OKABE_ITO[3], "--")}


def _rule(metric, predictor, variant):
    from isodyn.derivations import Rule

    return Rule(metric, variant, predictor=predictor)


def _label(predictor, variant):
    return f"{'trained' if predictor == 'trainable' else 'closed-form'} {variant}"


def recruitment(metric, predictor, variant, lam0, steps):
    """(B,) recruitment time (eta * step; NaN if never) of the weak mode at each lambda_0."""
    from isodyn.dynamics import simulate_batch

    s0 = np.stack([lam0, np.ones_like(lam0)], axis=1)
    tr = simulate_batch(_rule(metric, predictor, variant), s0, lr=LR, steps=steps, stride=max(1, steps // 4000),
                        closure="mean-field")
    rec = np.asarray(tr.measures["recruit_steps"])[:, 0].astype(float)
    rec[rec < 0] = np.nan
    return rec * LR


def survival(predictor, variant, gammas, t_end):
    """(G,) fraction of the M modes alive at t_end under weight decay gamma (Euclidean, no EMA, dopri5)."""
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.simulation import log_spaced

    s0 = np.broadcast_to(log_spaced(M, 1e-3, 1.0), (len(gammas), M))
    tr = simulate_batch(_rule("euclidean", predictor, variant), s0, lr=1.0, steps=int(t_end), weight_decay=gammas,
                        scheme="dopri5", stride=int(t_end), dense=False)
    return 1.0 - np.asarray(tr.measures["n_dead"]) / M


def robustness(variant, ratios, gammas, ema, steps):
    """(A, G) intact fraction of the trained predictor's map over alpha_p x gamma (Euclidean)."""
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.simulation import log_spaced

    A, G = np.meshgrid(ratios, gammas, indexing="ij")
    s0 = np.broadcast_to(log_spaced(M, 1e-3, 1.0), (A.size, M))
    tr = simulate_batch(_rule("euclidean", "trainable", variant), s0, lr=LR, steps=steps, weight_decay=G.ravel(),
                        predictor_lr_ratio=A.ravel(), ema=ema, stride=steps)
    m = tr.measures
    return ms.intact(m["diverged"], m["n_dead"]).reshape(A.shape)


def _draw_recruitment(axes, ctx: Context, lam0, steps: dict, numbers: dict) -> dict:
    """(a) recruitment time against lambda0, Euclidean and cosine: {metric: {(predictor, variant): t}}."""
    rec = {}
    for ax, metric in zip(axes, ("euclidean", "cosine")):
        rec[metric] = {}
        for predictor, variant in COMBOS:
            ctx.progress(f"predictor comparison: recruitment {metric} {predictor} {variant}")
            t = recruitment(metric, predictor, variant, lam0, steps[metric])
            rec[metric][(predictor, variant)] = t
            c, ls = STYLE[(predictor, variant)]
            ax.plot(lam0, t, "o", ls=ls, color=c, ms=4, label=_label(predictor, variant))
            numbers[f"{metric}/{predictor}/{variant}/t_recruit"] = t.tolist()
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"initial eigenvalue $\lambda_0$ of the weak mode")
        ax.set_title(f"(a) recruitment, {metric}" + (" (mean-field)" if metric == "cosine" else ""))
    axes[0].set_ylabel(r"recruitment time $t = \eta\cdot$step")
    axes[0].legend(loc="upper right")
    return rec


def _draw_survival(ax, ctx: Context, gammas, numbers: dict) -> dict:
    """(b) fraction of modes alive against weight decay, no EMA: {(predictor, variant): fraction per gamma}."""
    alive = {}
    for predictor, variant in COMBOS:
        ctx.progress(f"predictor comparison: weight decay {predictor} {variant}")
        alive[(predictor, variant)] = survival(predictor, variant, gammas, 2000 if ctx.quick else 5000)
        c, ls = STYLE[(predictor, variant)]
        ax.plot(gammas, alive[(predictor, variant)], "o", ls=ls, color=c, ms=3, label=_label(predictor, variant))
        numbers[f"{predictor}/{variant}/alive_fraction"] = alive[(predictor, variant)].tolist()
    ax.set_xscale("log")
    ax.set_xlabel(r"weight decay $\gamma$ (no EMA)")
    ax.set_ylabel("fraction of the 10 modes alive")
    ax.set_title("(b) Euclidean, survival without EMA")
    return alive


def _draw_robustness(axes, ctx: Context, ratios, grid_g, numbers: dict) -> dict:
    """(c) the trained predictor's intact fraction over alpha_p per weight decay, EMA off and on:
    {(variant, ema): intact fraction over the whole grid}."""
    intact = {}
    for ax, ema in zip(axes, (0.0, EMA)):
        for variant, c in (("standard", OKABE_ITO[0]), ("iso", OKABE_ITO[3])):
            ctx.progress(f"predictor comparison: robustness {variant} EMA {ema:g}")
            ok = robustness(variant, ratios, grid_g, ema, 4000 if ctx.quick else 10_000)
            intact[(variant, ema)] = float(ok.mean())
            ax.plot(grid_g, ok.mean(axis=0), "o-", color=c, ms=3, label=f"trained {variant}: {ok.mean():.0%} intact")
            numbers[f"robustness/{variant}/ema={ema:g}"] = ok.astype(int).tolist()
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(r"weight decay $\gamma$")
        ax.set_title(f"(c) intact over alpha_p, {'no EMA' if ema == 0 else f'EMA {ema:g}'}")
        ax.legend(loc="lower left")
    axes[0].set_ylabel(r"intact fraction over $\alpha_p \in [0.1, 10]$")
    return intact


def _claim9(rec: dict, alive: dict, intact: dict, lam0, gammas, numbers: dict) -> tuple[ClaimResult, list[str]]:
    """Claim 9's measured lines and verdict (the run decides the comparison)."""
    lines, checks = [], []
    for metric in ("euclidean", "cosine"):
        best, consistent = C.soonest(rec[metric])
        measured = all(np.all(np.isfinite(t)) for t in rec[metric].values())
        checks += [measured, consistent]
        times = ", ".join(f"{_label(*k)} {v[0]:.3g}" for k, v in rec[metric].items())
        lines.append(f"{metric}: at lambda0 = {lam0[0]:g} recruitment times {times}; soonest: {_label(*best)}"
                     + ("" if consistent else " (not at every lambda0)"))
        numbers[f"{metric}/soonest"] = _label(*best)
    area = {k: C.mean_over_log(gammas, v) for k, v in alive.items()}
    top = max(area.values())
    best_wd = [k for k, v in area.items() if v >= top - 1e-9]
    checks.append(all(np.all(np.isfinite(v)) for v in alive.values()))
    lines.append(f"without EMA, mean alive fraction over log gamma in [{gammas[0]:g}, {gammas[-1]:g}]: "
                 + ", ".join(f"{_label(*k)} {v:.2f}" for k, v in area.items())
                 + f"; most robust: {' and '.join(_label(*k) for k in best_wd)}")
    lines.append("trained predictor, intact fraction over alpha_p x gamma: "
                 + ", ".join(f"{v} {'EMA' if e else 'no EMA'} {f:.0%}" for (v, e), f in intact.items()))
    numbers.update(most_robust=[_label(*k) for k in best_wd], alive_area={_label(*k): v for k, v in area.items()},
                   intact={f"{v}/ema={e:g}": f for (v, e), f in intact.items()})
    claim = ClaimResult(
        9, "Closed-form (DirectPred) against trained (BYOL) predictor, standard against IsoLoss: which recruits weak "
        "modes sooner and which survives weight decay without EMA.", "; ".join(lines),
        verdict_from(sum(checks), len(checks)),
        "the run decides the comparison: every combination's recruitment time measured at every lambda0 and the "
        "soonest at the weakest lambda0 is no later at any lambda0 (per metric); the surviving fraction measured on "
        "the whole weight-decay grid", NAME)
    return claim, lines


def make(ctx: Context) -> FigureResult:
    lam0 = np.geomspace(1e-3, 1e-1, 4 if ctx.quick else 7)
    gammas = np.geomspace(1e-3, 2.0, 12 if ctx.quick else 24)
    ratios = np.geomspace(0.1, 10.0, 5 if ctx.quick else 9)
    grid_g = np.geomspace(1e-3, 0.5, 5 if ctx.quick else 9)
    steps = {"euclidean": 60_000 if ctx.quick else 120_000, "cosine": 6000}
    numbers = {"lambda0": lam0.tolist(), "gammas": gammas.tolist()}
    with style():
        fig, axes = plt.subplots(1, 5, figsize=(15.0, 3.1), constrained_layout=True,
                                 gridspec_kw={"width_ratios": [1, 1, 1, 0.8, 0.8]})
        rec = _draw_recruitment(axes[:2], ctx, lam0, steps, numbers)
        alive = _draw_survival(axes[2], ctx, gammas, numbers)
        intact = _draw_robustness(axes[3:], ctx, ratios, grid_g, numbers)
        files = save(fig, ctx.figdir / NAME)
    claim, lines = _claim9(rec, alive, intact, lam0, gammas, numbers)
    numbers.update(lr=LR, M=M, alpha_p=1.0, strong=1.0, alpha_p_range=[float(np.min(ratios)), float(np.max(ratios))],
                   ema=EMA, measured="; ".join(lines))
    caption, facts = compose([
        "Closed-form (solid) against trained predictor (dashed; starts at the closed-form eigenvalues, ",
        fact("$\\alpha_p = {a}$", a="alpha_p"), ", $\\gamma_p = \\gamma$), standard (blue) against IsoLoss "
        "(vermilion), mode equations. (a) Recruitment time of a weak mode next to a mode at ",
        fact("s = {s}", s="strong"), " (map, ", fact("$\\eta$ = {lr}", lr="lr"), "; cosine mean-field). (b) Fraction "
        "of ", fact("{M}", M="M"), " log-spaced modes alive at the end of a long ODE run under weight decay, no EMA "
        "(Euclidean). (c) Trained predictor, fraction of intact points (no mode dead, not diverged) over ",
        fact("$\\alpha_p \\in {r}$", r="alpha_p_range"), " per weight decay, EMA off and on (",
        fact("tau = {e}", e="ema"), "). Measured: ", fact("{m}", m="measured"), "."], numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)
