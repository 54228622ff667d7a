"""Robustness map: outcome over learning rate x weight decay, EMA off/on, two initial-spectrum scales,
standard vs IsoLoss, both metrics; claim 6.

Each panel is one ``simulate_batch`` call of the expected-GD map over the (eta, gamma) grid (M = 10
SPREAD = 1e-3  # initial eigenvalues log-spaced over scale x [SPREAD, 1]
modes log-spaced over scale * [1e-3, 1], sigma1 = 0, sigma2 = 0.1; cosine with the mean-field
closure).  Outcome per point: :func:`isodyn.dynamics.measures.outcome`, the sweep's classifier (diverged;
collapsed: every mode dead; partial: converged with some mode dead; converged: every live mode at rest;
other: still moving at the end).  The claim counts the *intact* points (:func:`isodyn.dynamics.measures.intact`:
not diverged and no mode dead, whether converged or still moving).
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import measures as ms

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .phase_diagram import cell_edges
from .style import OKABE_ITO, OUTCOME_COLORS, plt, save, style

COLORS = {**OUTCOME_COLORS, "partial": OKABE_ITO[5]}

NAME = "robustness"
TITLE = "Robustness map: learning rate x weight decay (EMA off/on, initial scale)"
OUTCOMES = ms.OUTCOMES
EMA = 0.9
SCALES = (0.1, 10.0)
M = 10
SPREAD = 1e-3  # initial eigenvalues log-spaced over scale x [SPREAD, 1]


def outcome(tr) -> tuple[np.ndarray, np.ndarray]:
    """((B,) index into OUTCOMES, (B,) intact) from the measures of a batch (isodyn.dynamics.measures)."""
    m = tr.measures
    return (ms.outcome(m["diverged"], m["collapsed"], m["converged"], m["n_dead"]),
            ms.intact(m["diverged"], m["n_dead"]))


def run(metric, variant, ema, scale, lr, wd, steps):
    from isodyn.derivations import Rule
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.simulation import log_spaced

    rule = Rule(metric, variant)
    Lr, Wd = np.meshgrid(lr, wd, indexing="ij")
    s0 = log_spaced(M, SPREAD * scale, scale)
    tr = simulate_batch(rule, s0, lr=Lr.ravel(), weight_decay=Wd.ravel(), ema=ema, steps=steps, stride=steps,
                        closure="mean-field")
    out, intact = outcome(tr)
    return out.reshape(Lr.shape), intact.reshape(Lr.shape)


def make(ctx: Context) -> FigureResult:
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    n = 7 if ctx.quick else 16
    lr = np.geomspace(1e-3, 3.0, n)
    wd = np.geomspace(1e-4, 1.0, n)
    steps = 3000 if ctx.quick else 20000
    cmap = ListedColormap([COLORS[o] for o in OUTCOMES])
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, cmap.N)
    rows = [(metric, ema) for metric in ("euclidean", "cosine") for ema in (0.0, EMA)]
    cols = [(variant, scale) for scale in SCALES for variant in ("standard", "iso")]
    frac, alive, checks, numbers = {}, {}, [], {}
    with style():
        fig, axes = plt.subplots(len(rows), len(cols), figsize=(7.2, 7.6), sharex=True, sharey=True,
                                 constrained_layout=True)
        for i, (metric, ema) in enumerate(rows):
            for j, (variant, scale) in enumerate(cols):
                ctx.progress(f"robustness: {metric} {variant} EMA={ema:g} scale={scale:g}")
                out, intact = run(metric, variant, ema, scale, lr, wd, steps)
                key = f"{metric}/{variant}/ema={ema:g}/scale={scale:g}"
                frac[key] = float(np.mean(out == OUTCOMES.index("converged")))
                alive[key] = float(np.mean(intact))
                numbers[key] = {o: float(np.mean(out == k)) for k, o in enumerate(OUTCOMES)}
                ax = axes[i, j]
                ax.pcolormesh(cell_edges(lr, log=True), cell_edges(wd, log=True), out.T, cmap=cmap, norm=norm,
                              shading="flat")
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_title(f"{variant}, s0 x {scale:g}\n{frac[key]:.0%} conv., {alive[key]:.0%} intact",
                             fontsize=7.5)
                if j == 0:
                    ax.set_ylabel(f"{metric}, " + ("EMA 0.9" if ema else "no EMA") + "\n" + r"weight decay $\gamma$")
                if i == len(rows) - 1:
                    ax.set_xlabel(r"learning rate $\eta$")
        fig.legend(handles=[Patch(color=COLORS[o], label="other (still moving)" if o == "other" else o)
                            for o in OUTCOMES], loc="outside lower center",
                   ncol=len(OUTCOMES))
        files = save(fig, ctx.figdir / NAME)
    lines = []
    for metric, ema in rows:
        for scale in SCALES:
            a = alive[f"{metric}/standard/ema={ema:g}/scale={scale:g}"]
            b = alive[f"{metric}/iso/ema={ema:g}/scale={scale:g}"]
            ca = frac[f"{metric}/standard/ema={ema:g}/scale={scale:g}"]
            cb = frac[f"{metric}/iso/ema={ema:g}/scale={scale:g}"]
            checks.append(b > a)
            lines.append(f"{metric} {'EMA' if ema else 'no EMA'} scale {scale:g}: intact {a:.0%} standard vs "
                         f"{b:.0%} iso (converged {ca:.0%} vs {cb:.0%})")
    numbers["steps"] = steps
    claim = ClaimResult(
        6, "The range of weight decay, learning rate and initial spectrum over which the dynamics neither collapse "
        "nor diverge, with and without EMA, is larger for IsoLoss.", "; ".join(lines),
        verdict_from(sum(checks), len(checks)),
        f"for each metric x EMA (off, {EMA}) x initial scale {SCALES}: the fraction of the (eta, gamma) grid that "
        f"stays intact after {steps} steps (no mode dead, not diverged: converged or still moving) is larger for "
        "IsoLoss than for the standard loss", NAME)
    numbers.update(M=M, ema=EMA, scales=list(SCALES), dead=ms.DEAD, measured="; ".join(lines), spread=[SPREAD, 1.0],
                   sigma1=0.0, sigma2=0.1)  # simulate_batch's defaults
    caption, facts = compose([
        fact("Outcome of the expected-GD map after {t} steps", t="steps"), " over learning rate x weight decay, ",
        fact("M = {M}", M="M"), " modes log-spaced over scale × ", fact("{r}", r="spread"), " (",
        fact("scales {s}", s="scales"), "), ", fact("$\\sigma_1 = {a}$, $\\sigma_2 = {b}$", a="sigma1", b="sigma2"),
        "; rows: metric and EMA (", fact("tau = {e}", e="ema"), "), columns: "
        "loss and initial scale; cosine with the mean-field closure. Converged: every live mode at rest; collapsed: "
        "every mode dead (", fact("s at or below {d}·max s0", d="dead"), "); partial: converged with some modes "
        "dead; other: still moving at the end (intact = no mode dead and not diverged). Measured: ",
        fact("{m}", m="measured"), "."], numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)

