"""Weight-decay survival threshold: theory line and simulated points, standard vs IsoLoss; claims 6 (part).

Euclidean rules (the cosine rates couple the modes, so no single-mode threshold exists), sigma1 = 0,
alpha = 1, no EMA.  Theory: a mode starting at lambda_0 survives weight decay gamma iff
gamma < gamma_c(lambda_0) = sup_{lambda <= lambda_0} r(lambda), r = G/S =
``derivations.analysis.growth_rate`` (via :func:`isodyn.dynamics.modes.survival.survival_threshold`).
Simulated: the expected-GD map of one mode over a (lambda_0, gamma) grid (``simulate_batch``), the
outcome alive / dead from ``measures['dead']``.
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import claims as C

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import RULE_COLORS, plt, save, style

NAME = "weight_decay"
TITLE = "Weight-decay survival threshold: theory and simulation"
LR = 1.0  # ODE time per "step" of the adaptive integrator (dopri5): t = LR * steps
AGREE = 0.95  # fraction of grid points (away from the boundary) on the theory's side
MARGIN = 0.1  # points within 10 % of gamma_c are too close to call in a finite run


def run(variant, lam0, gamma, steps):
    from isodyn.derivations import Rule
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.survival import survival_threshold

    rule = Rule("euclidean", variant)
    L, G = np.meshgrid(lam0, gamma, indexing="ij")
    tr = simulate_batch(rule, L.reshape(-1, 1), lr=LR, steps=steps, weight_decay=G.ravel(), stride=steps,
                        scheme="dopri5", dense=False)
    alive = ~np.asarray(tr.measures["dead"])[:, 0]
    gc = survival_threshold(rule, lam0, 0.0, 0.1)
    return alive.reshape(L.shape), np.asarray(gc, dtype=float), L, G


def make(ctx: Context) -> FigureResult:
    from isodyn.derivations import Rule
    from isodyn.dynamics.modes.survival import survival_threshold

    nl, ng = (8, 8) if ctx.quick else (24, 24)
    lam0 = np.geomspace(1e-3, 2.0, nl)
    gamma = np.geomspace(1e-3, 2.0, ng)
    steps = 50000  # ODE time: a mode at gamma = 1.1 gamma_c >= 1e-3 decays below the dead threshold
    fine = np.geomspace(lam0.min(), lam0.max(), 200)
    numbers, checks, lines, area = {}, [], [], {}
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), constrained_layout=True, sharey=True)
        for ax, variant in zip(axes, ("standard", "iso")):
            ctx.progress(f"weight decay: {variant}")
            alive, gc, L, G = run(variant, lam0, gamma, steps)
            agree = C.threshold_agreement(alive, G, gc[:, None], MARGIN)
            area[variant] = float(alive.mean())
            checks.append(agree >= AGREE)
            numbers[variant] = {"agreement": agree, "alive_fraction": area[variant], "t_end": steps * LR}
            lines.append(f"{variant}: simulated outcome on the theory's side at {agree:.1%} of the grid; "
                         f"survives at {area[variant]:.0%} of the (lambda0, gamma) grid")
            c = RULE_COLORS[variant]
            ax.scatter(L[alive], G[alive], s=9, color=c, label="survives (simulated)")
            ax.scatter(L[~alive], G[~alive], s=9, facecolors="none", edgecolors="0.55", lw=0.6,
                       label="dies (simulated)")
            ax.plot(fine, survival_threshold(Rule("euclidean", variant), fine, 0.0, 0.1), color="k", lw=1.2,
                    label=r"theory $\gamma_c(\lambda_0)$")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(r"initial predictor eigenvalue $\lambda_0$")
            ax.set_title(f"Euclidean {variant}")
        axes[0].set_ylabel(r"weight decay $\gamma$")
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        files = save(fig, ctx.figdir / NAME)
    checks.append(area["iso"] > area["standard"])
    claim = ClaimResult(
        6, "The range of weight decay (learning rate, initial spectrum) over which the dynamics neither collapse "
        "nor diverge is larger for IsoLoss.",
        "; ".join(lines) + f"; surviving fraction iso/standard = {area['iso'] / max(area['standard'], 1e-12):.2f}",
        verdict_from(sum(checks), len(checks)),
        f"three checks: for each loss the simulated survival agrees with the theory threshold at >= {AGREE:.0%} "
        f"of the grid points farther than {MARGIN:.0%} from it; the surviving fraction of the grid is larger for "
        "IsoLoss", NAME)
    numbers.update(t_end=steps * LR, sigma1=0.0, sigma2=0.1, agree_needed=AGREE, margin=MARGIN,
                   standard_threshold=float(np.max(survival_threshold(Rule("euclidean", "standard"), fine, 0.0, 0.1))))
    caption, facts = compose([
        "One Euclidean mode starting at $\\lambda_0$ under weight decay $\\gamma$ (mode ODE, adaptive "
        "Dormand-Prince to ", fact("t = {t}", t="t_end"), ", ", fact("$\\sigma_1 = {a}$, $\\sigma_2$ = {b}",
                                                                      a="sigma1", b="sigma2"),
        "): filled = survives, open = dies. Line: the survival threshold "
        "$\\gamma_c(\\lambda_0) = \\sup_{\\lambda \\leq \\lambda_0} G/S$ from derivations/ (standard: every mode "
        "dies above ", fact("{g}", g="standard_threshold"), ", the largest threshold on the grid). Measured: the "
        "simulated survival agrees with the threshold at a fraction ",
        fact("{a} (standard) and {b} (IsoLoss)", a=("standard", "agreement"), b=("iso", "agreement")),
        " of the points farther than ", fact("{m}", m="margin"), " (relative) from it; surviving fraction of the grid ",
        fact("{a} (standard) and {b} (IsoLoss)", a=("standard", "alive_fraction"), b=("iso", "alive_fraction")), "."],
        numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)
