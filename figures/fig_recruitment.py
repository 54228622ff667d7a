"""Recruitment time of a weak mode against its initial eigenvalue lambda_0: standard vs IsoLoss; claim 4.

Two modes (SPEC §4, sigma1 = 0, no EMA, alpha = 1 so lambda = s): a strong mode at s = 1 and a weak
one at s = lambda_0, integrated with the expected-GD map (``simulate_batch`` over lambda_0; cosine
with the mean-field closure, the paper-level picture the asymptotics are derived from).  Recruitment
time = the first step within 1 % of the mode's final value (``measures['recruit_steps']``) times
eta (ODE time).  Theory lines: ``derivations.analysis.weak_mode_asymptotics(rule).leading``
(via :func:`isodyn.dynamics.modes.theory.recruitment_leading`).  The slopes are :mod:`dynamics.claims`' (loglog_slope,
log_slope); the windows they are judged by are this figure's criteria.
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import claims as C
from isodyn.dynamics import measures as ms

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import RULE_COLORS, plt, save, style

NAME = "recruitment"
TITLE = "Learning-rate multiplier: recruitment time against the initial eigenvalue"
LR = 0.05
STANDARD_SLOPE = (-1.15, -0.85)  # fitted log-log slope of T(lambda_0) for the standard losses
ISO_SLOPE_MAX = 0.35  # |log-log slope| above which the iso law is not logarithmic
ISO_LOG_SLOPE_REL = 0.15  # dT/d ln(1/lambda_0) vs the theory's 1/(2 C alpha), relative


def run(metric: str, variant: str, lam0: np.ndarray):
    """(recruitment time t (B,), theory t (B,), trajectory) for the weak mode at each lambda_0."""
    from isodyn.derivations import Rule
    from isodyn.dynamics import simulate_batch
    from isodyn.dynamics.modes.theory import recruitment_leading

    rule = Rule(metric, variant)
    theory = recruitment_leading(rule, lam0, S=np.array([np.sqrt(lam0.min()), 1.0]),
                                 lam=np.array([lam0.min(), 1.0]))
    t_end = 4.0 * float(theory.max()) + 40.0
    steps = int(np.ceil(t_end / LR))
    stride = max(1, steps // 4000)
    s0 = np.stack([lam0, np.ones_like(lam0)], axis=1)
    tr = simulate_batch(rule, s0, lr=LR, steps=steps, stride=stride, closure="mean-field")
    rec = tr.measures["recruit_steps"][:, 0].astype(float)
    rec[rec < 0] = np.nan
    return rec * LR, theory, tr


def make(ctx: Context) -> FigureResult:
    from isodyn.derivations import Rule
    from isodyn.dynamics.modes.theory import recruitment_leading

    lam0 = np.geomspace(1e-3, 1e-1, 5 if ctx.quick else 9)
    fine = np.geomspace(lam0.min() / 1.5, lam0.max() * 1.5, 100)
    numbers, checks, lines = {}, [], []
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), constrained_layout=True, sharey=True)
        for ax, metric in zip(axes, ("euclidean", "cosine")):
            for variant in ("standard", "iso"):
                ctx.progress(f"recruitment: {metric} {variant}")
                t, theory, _ = run(metric, variant, lam0)
                th = recruitment_leading(Rule(metric, variant), fine, S=np.array([np.sqrt(lam0.min()), 1.0]),
                                         lam=np.array([lam0.min(), 1.0]))
                c = RULE_COLORS[variant]
                ax.plot(fine, th, color=c, lw=1.0, ls="--")
                ax.plot(lam0, t, "o", color=c, ms=4, label=f"{variant} (simulated)")
                ll = C.loglog_slope(lam0, t)
                key = f"{metric}/{variant}"
                numbers[key] = {"lambda0": lam0.tolist(), "t_recruit": t.tolist(), "t_theory": theory.tolist(),
                                "loglog_slope": ll}
                if variant == "standard":
                    ok = STANDARD_SLOPE[0] <= ll <= STANDARD_SLOPE[1]
                    lines.append(f"{metric} standard: log-log slope {ll:.2f}")
                else:
                    # T against ln(1/lambda_0): slope vs the theory's 1/(2 C alpha)
                    d_sim = C.log_slope(lam0, t)
                    d_th = C.log_slope(lam0, theory)
                    numbers[key].update(log_slope=d_sim, log_slope_theory=d_th)
                    ok = abs(ll) <= ISO_SLOPE_MAX and abs(d_sim / d_th - 1) <= ISO_LOG_SLOPE_REL
                    lines.append(f"{metric} iso: log-log slope {ll:.2f}; dT/dln(1/lambda0) = {d_sim:.3f} "
                                 f"(theory {d_th:.3f})")
                checks.append(bool(ok))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(r"initial eigenvalue $\lambda_0$ of the weak mode")
            ax.set_title(f"{metric}" + (" (mean-field closure)" if metric == "cosine" else ""))
        axes[0].set_ylabel(r"recruitment time $t = \eta\cdot$step")
        axes[0].plot([], [], "k--", lw=1.0, label="leading asymptotics")
        axes[0].legend(loc="upper right")
        files = save(fig, ctx.figdir / NAME)
    claim = ClaimResult(
        4, "The recruitment time of a weak mode grows like 1/lambda_0 under the standard losses and like "
        "log(1/lambda_0) under IsoLoss.", "; ".join(lines), verdict_from(sum(checks), len(checks)),
        f"per metric: the standard loss's fitted log-log slope of T(lambda_0) lies in [{STANDARD_SLOPE[0]}, "
        f"{STANDARD_SLOPE[1]}]; IsoLoss's |log-log slope| <= {ISO_SLOPE_MAX} and its slope dT/d ln(1/lambda_0) "
        f"is within {ISO_LOG_SLOPE_REL:.0%} of the leading asymptotics' (lambda_0 in [1e-3, 1e-1])", NAME)
    numbers.update(recruit_band=ms.RECRUIT, rise=ms.RISE, lr=LR, lambda0_range=[float(lam0.min()), float(lam0.max())],
                   strong=1.0, sigma1=0.0, alpha=1.0)
    caption, facts = compose([
        "Recruitment time (first step within ", fact("{b}", b="recruit_band"), " relative of the final value, for a "
        "mode that grew at least ", fact("{r}", r="rise"), "-fold; times $\\eta$) of a weak mode at $\\lambda_0$ in ",
        fact("{r}", r="lambda0_range"), " next to a mode at ", fact("$\\lambda = {s}$", s="strong"),
        "; expected-GD map, ", fact("$\\eta$ = {lr}", lr="lr"), ", ", fact("$\\sigma_1 = {s}$", s="sigma1"), ", ",
        fact("$\\alpha = {a}$", a="alpha"), "; cosine with the mean-field closure. Dashed: leading asymptotics "
        "from derivations/ ($\\propto 1/\\lambda_0$ standard, $\\propto \\ln(1/\\lambda_0)$ IsoLoss). Measured "
        "log-log slopes: ",
        fact("Euclidean standard {a}, iso {b}; cosine standard {c}, iso {d}",
             a=("euclidean/standard", "loglog_slope"), b=("euclidean/iso", "loglog_slope"),
             c=("cosine/standard", "loglog_slope"), d=("cosine/iso", "loglog_slope")), "."], numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)
