"""Validation figure: sampled linear training (points) against the mode equations (lines); claim 7.

Runs :mod:`isodyn.dynamics.network.validation` (sampled training with K seeds vs the expected-GD map; cosine with the
exact closure, the mean-field closure dashed) and plots, per metric (rows) and M (columns), the
eigenvalues s_m against steps for the standard loss; the last column shows every case's largest
deviation in units of its tolerance, and the mean-field closure's, against M.
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import claims as C

from .base import ClaimResult, Context, FigureResult, compose, fact, verdict_from
from .style import OKABE_ITO, mode_colors, plt, save, style

NAME = "validation"
TITLE = "Sampled training vs the mode equations (validation)"
MAX_LINES = 6  # modes drawn per panel (evenly spread over the spectrum)


def _pick(M: int) -> np.ndarray:
    return np.unique(np.linspace(0, M - 1, min(M, MAX_LINES)).round().astype(int))


def plot_validation(results, stem) -> list:
    """The figure for a list of :class:`isodyn.dynamics.network.validation.CaseResult`; writes stem.png / stem.pdf."""
    metrics = [m for m in ("euclidean", "cosine") if any(r.case.metric == m for r in results)]
    shown = {}
    for r in results:  # the standard loss without EMA / noise, else the first case of that metric and M
        key = (r.case.metric, r.case.M)
        pref = (r.case.variant == "standard") + (r.case.setting == "plain")
        if key not in shown or pref > shown[key][0]:
            shown[key] = (pref, r)
    Ms = sorted({M for (_, M) in shown})
    with style():
        fig, axes = plt.subplots(len(metrics), len(Ms) + 1, figsize=(2.3 * (len(Ms) + 1) + 0.6, 2.3 * len(metrics)),
                                 squeeze=False, constrained_layout=True)
        for i, metric in enumerate(metrics):
            for j, M in enumerate(Ms):
                ax = axes[i, j]
                if (metric, M) not in shown:
                    ax.set_axis_off()
                    continue
                r = shown[(metric, M)][1]
                modes = _pick(M)
                cols = mode_colors(len(modes))
                mean, sd = np.nanmean(r.train, 0), np.nanstd(r.train, 0, ddof=1)
                for c, m in zip(cols, modes):
                    ax.plot(r.step, r.exact[:, m], color=c, lw=1.0)
                    if r.mean_field is not None:
                        ax.plot(r.step, r.mean_field[:, m], color=c, lw=0.8, ls="--")
                    ax.errorbar(r.step, mean[:, m], yerr=sd[:, m], fmt="o", ms=2.2, color=c, elinewidth=0.6,
                                capsize=0)
                ax.set_yscale("log")
                ax.set_title(f"{metric} {r.case.variant}, M = {M}" + ("" if r.case.setting == "plain"
                                                                       else f" ({r.case.setting})")
                             + f"\n{r.status}: max|Δs| = {r.ratio:.2f} tol", fontsize=8)
                ax.set_xlabel("step")
                if j == 0:
                    ax.set_ylabel(r"eigenvalue $s_m$")
            ax = axes[i, -1]
            rs = [r for r in results if r.case.metric == metric]
            x = np.array([r.case.M for r in rs], dtype=float)
            jit = np.exp(np.linspace(-0.08, 0.08, len(rs))) if len(rs) > 1 else np.ones(1)
            ax.scatter(x * jit, [max(r.ratio, 1e-3) for r in rs], s=9, color=OKABE_ITO[0])
            mf = [r for r in rs if r.mf_max_dev is not None and r.tol > 0]
            if mf:
                ax.scatter([r.case.M for r in mf], [r.mf_max_dev / r.tol for r in mf], s=12, marker="x",
                           color=OKABE_ITO[3])
            ax.axhline(1.0, color="k", lw=0.7, ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(Ms)
            ax.set_xticklabels([str(M) for M in Ms])
            ax.minorticks_off()
            ax.set_xlabel("modes M")
            ax.set_ylabel(r"max $|\Delta s|$ / tolerance")
            ax.set_title(f"{metric}: every case\n(1 = tolerance)", fontsize=8)
        handles = [plt.Line2D([], [], color="k", lw=1.0, label="mode map"),
                   plt.Line2D([], [], color="k", marker="o", ls="", ms=3, label="training (seed mean ± sd)")]
        handles.append(plt.Line2D([], [], color=OKABE_ITO[0], marker="o", ls="", ms=3,
                                  label="case: closed form / exact closure"))
        if "cosine" in metrics:
            handles.insert(1, plt.Line2D([], [], color="k", lw=0.8, ls="--", label="mean-field map"))
            handles.append(plt.Line2D([], [], color=OKABE_ITO[3], marker="x", ls="", ms=4,
                                      label="case: mean-field closure"))
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        return save(fig, stem)


def make(ctx: Context) -> FigureResult:
    from isodyn.dynamics.network import validation as V

    quick = ctx.quick
    modes = (2, 5, 10) if quick else (2, 5, 10, 50)
    K = 4 if quick else 6
    cases = V.matrix(("euclidean", "cosine"), ("standard", "iso"), modes, quick, ("plain",))
    ctx.progress(f"validation: {len(cases)} cases, K = {K} seeds")
    results = V.run_matrix(cases, K=K, seed=ctx.seed, jobs=1)
    files = plot_validation(results, ctx.figdir / NAME)
    eu = [r for r in results if r.case.metric == "euclidean"]
    co = [r for r in results if r.case.metric == "cosine"]
    by_M = V.mean_field_error_by_M(co)
    checks = {
        "euclidean": all(r.status == "pass" for r in eu),
        "cosine": all(r.status in ("pass", "explained") for r in co),
        "mean_field": len(by_M) >= 2 and by_M[max(by_M)] < by_M[min(by_M)],
    }
    numbers = {
        "K": K, "cases": len(results), "passed": sum(r.passed for r in results),
        "explained": sum(r.status == "explained" for r in results),
        "max_ratio_euclidean": max(r.ratio for r in eu), "max_ratio_cosine": max(r.ratio for r in co),
        "mean_field_rel_error_by_M": by_M,
        "mean_field_ratio_by_M": V.mean_field_ratio_by_M(co),
        "rule": V.RULE_TEXT,
    }
    # claim 7: every failing case run again at 4 n, its deviation in tolerance units at n and 4 n and the shrink
    # factor (dynamics.claims.shrink_test decides "explained")
    rerun = [r for r in results if r.ratio_4n is not None]
    numbers["failing_cases"] = [{"case": r.case.label, "ratio_n": r.ratio, "ratio_4n": r.ratio_4n,
                                 "shrink": r.shrink, "explained": r.status == "explained"} for r in rerun]
    numbers["unexplained_failures"] = [r.case.label for r in results if r.status == "FAIL"]
    numbers["explain_factor"] = C.EXPLAIN_FACTOR
    numbers["rerun_factor"] = 4  # validation.run_case reruns a failing case with 4 n samples
    expl = [r.case.label for r in co if r.status == "explained"]
    measured = (f"Euclidean: {sum(r.passed for r in eu)}/{len(eu)} cases within tolerance (largest deviation "
                f"{numbers['max_ratio_euclidean']:.2f} x tol); cosine, exact closure: {sum(r.passed for r in co)}/"
                f"{len(co)} pass" + (f", {len(expl)} explained by the O(eta^2/n) scale drift ({'; '.join(expl)})"
                                     if expl else "")
                + "; failing cases at n -> 4 n samples (deviation in tolerance units, shrink factor): "
                + ("; ".join(f"{f['case']}: {f['ratio_n']:.2f} -> {f['ratio_4n']:.2f} tol, shrink {f['shrink']:.2f}"
                             f" ({'explained' if f['explained'] else 'not explained'})"
                             for f in numbers["failing_cases"]) or "none")
                + (f"; failing, unexplained: {'; '.join(numbers['unexplained_failures'])}"
                   if numbers["unexplained_failures"] else "")
                + "; mean-field closure max relative deviation from the exact closure by M: "
                + ", ".join(f"M={M}: {e:.2f}" for M, e in sorted(by_M.items())))
    claim = ClaimResult(
        7, "Linear-network training (sampled) agrees with the mode equations; for cosine the exact closure "
        "agrees and the mean-field closure's error is quantified.", measured,
        verdict_from(sum(checks.values()), len(checks)),
        "three checks: every Euclidean case passes (" + V.RULE_TEXT + "); every cosine case passes against "
        "the exact closure or, failing, is explained by sampling: its deviation in units of its tolerance shrinks "
        f">= {C.EXPLAIN_FACTOR:g}x when n is quadrupled (ratio at n / ratio at 4 n; the tolerance itself halves at "
        "4 n, so an error of the mode equations grows in these units); the mean-field closure's relative deviation is "
        "smaller at the largest M than at the smallest",
        NAME)
    numbers.update(euclidean_samples=V.EUCLIDEAN_SAMPLES, s0_range=list(V.S0_RANGE), modes=list(modes),
                   n_failing=len(rerun), n_unexplained=len(numbers["unexplained_failures"]))
    parts = ["Sampled linear training (points: mean ± sd of ", fact("{K} seeds", K="K"),
             "; Euclidean: moments sampler, ",
             fact("n = {n}", n="euclidean_samples"), ", exact in distribution; cosine: inputs sampler) against the "
             "expected-GD map (lines; cosine: exact closure solid, mean-field dashed), standard loss, log-spaced "
             "initial spectrum ", fact("s0 in {r}", r="s0_range"), ", ", fact("M in {m}", m="modes"),
             ". Right: every case's largest deviation in units of its tolerance. ",
             fact("{p} of {c} cases pass, {e} fail but are explained by sampling, {u} fail unexplained", p="passed",
                  c="cases", e="explained", u="n_unexplained")]
    if rerun:
        parts += ["; the failing cases at n and ", fact("{k} n", k="rerun_factor"), " samples (deviation in tolerance "
                  "units, shrink factor; explained iff at least "]
        parts += [fact("{f}", f="explain_factor"), "): "]
        for i in range(len(numbers["failing_cases"])):
            parts += ["; " if i else "", fact("{c}: {a} → {b} tol, shrink {s}", c=("failing_cases", i, "case"),
                                              a=("failing_cases", i, "ratio_n"), b=("failing_cases", i, "ratio_4n"),
                                              s=("failing_cases", i, "shrink"))]
    parts.append("." + (" Quick mode: fewer steps, samples and seeds." if quick else ""))
    caption, facts = compose(parts, numbers)
    return FigureResult(NAME, TITLE, files, caption, numbers, [claim], facts=facts)
