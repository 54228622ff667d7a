"""The reproduction report: report.md and a self-contained report.html (issue 5; SPEC §6).

Input: the :class:`figures.base.FigureResult` of every figure that ran, the figures that failed, and
facts about the run (``RunInfo``).  Output, written atomically into the output folder:

* one table row per claim of SPEC §6 and §7 (all nine, always): what the paper states, what isodyn measured
  (every figure's numbers), the verdict, the criterion and the figures.  Several results for one claim
  merge into one verdict: reproduced if all are, not reproduced if none are, partly otherwise; a claim
  no figure checked is shown as "not checked" - no verdict is ever typed in here;
* every figure with its caption (embedded as base64 PNG in the HTML, linked in the Markdown);
* "How this was made": command, quick/full, seeds, timings, versions, machine.
"""

from __future__ import annotations

import base64
import html
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from isodyn.dynamics.files import atomic_write

from .base import VERDICTS, ClaimResult, FigureResult

NOT_CHECKED = "not checked"

#: SPEC §6, what the paper states (the claim list the report must check)
CLAIMS = {
    1: "Stop-gradient + predictor: no collapse under either metric; Euclidean converges to λ_m = 1 (with σ1 = 0); "
       "cosine to an isotropic spectrum whose scale depends on the initial condition.",
    2: "No stop-gradient: collapse under both metrics — under the Euclidean loss every mode dies; the cosine loss is "
       "scale-free, so there it is dimensional collapse: all but a few modes vanish while the survivors may grow. "
       "Wrong-side stop-gradient: weak modes collapse and strong ones diverge.",
    3: "No predictor: no variance regularisation (Euclidean with σ1 = 0 has zero expected drift).",
    4: "Learning-rate multiplier: recruitment time of a weak mode grows like 1/λ0 under the standard losses and like "
       "log(1/λ0) under IsoLoss.",
    5: "IsoLoss reaches the isotropic spectrum sooner than the standard loss, for both metrics.",
    6: "Robustness: the range of weight decay, learning rate and initial spectrum over which the dynamics neither "
       "collapse nor diverge, with and without EMA, is larger for IsoLoss.",
    7: "Linear-network training (sampled) agrees with the mode equations; for cosine the exact closure agrees and the "
       "mean-field closure's error is quantified.",
    8: "Trained predictor (BYOL; Tian, Chen & Ganguli 2021): the invariant S² − λ²/α_p, the fixed points λ*± and the "
       "collapse threshold γ > τ²/(4(1+σ1²)), in the mode equations and in sampled training; the eigenspaces of C and "
       "W_P align in sampled training.",
    9: "Closed-form (DirectPred) against trained (BYOL) predictor, standard against IsoLoss: which recruits weak modes "
       "sooner and which survives weight decay without EMA — measured, whatever the answer.",
}

QUICK_NOTE = ("Quick run (`--quick`): fewer samples a step, fewer steps for the long runs and cheaper mode-equation "
              "schemes than the full run; each caption says what it used. Verdicts of a quick run are indicative; "
              "run without `--quick` for the report of record.")


@dataclass
class FigureTiming:
    """Wall seconds of a figure and the CPU seconds of the process that made it (robust to a busy machine)."""

    name: str
    seconds: float
    ok: bool
    error: str = ""
    cpu_seconds: float = float("nan")


@dataclass
class RunInfo:
    """Facts about the run for "How this was made"."""

    command: str
    quick: bool
    seed: int
    jobs: int
    seconds: float
    timings: list[FigureTiming] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # figure modules that could not be imported
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


@dataclass
class ClaimRow:
    claim: int
    paper: str
    verdict: str
    results: list[ClaimResult]


def merge_verdicts(verdicts: list[str]) -> str:
    """reproduced if all are, not reproduced if none are, partly otherwise; 'not checked' for none."""
    if not verdicts:
        return NOT_CHECKED
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"unknown verdict {v!r}")
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    if all(v == "not reproduced" for v in verdicts):
        return "not reproduced"
    return "partly"


def claim_rows(results: list[FigureResult]) -> list[ClaimRow]:
    """One row per claim (SPEC §6 and §7: 1-9), every figure's ClaimResults merged."""
    by_claim: dict[int, list[ClaimResult]] = {k: [] for k in CLAIMS}
    for fr in results:
        for c in fr.claims:
            if c.claim not in by_claim:
                raise ValueError(f"{fr.name}: claim {c.claim} is not a SPEC §6 claim (1-{len(CLAIMS)})")
            by_claim[c.claim].append(c if c.figure else _with_figure(c, fr.name))
    return [ClaimRow(k, CLAIMS[k], merge_verdicts([c.verdict for c in cs]), cs) for k, cs in by_claim.items()]


def _with_figure(c: ClaimResult, name: str) -> ClaimResult:
    return ClaimResult(c.claim, c.paper, c.measured, c.verdict, c.criterion, name)


# --- facts --------------------------------------------------------------------------------


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("isodyn", "numpy", "scipy", "numba", "sympy", "matplotlib", "xarray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        if rev.returncode == 0:
            out["git"] = rev.stdout.strip() + (" (modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def load() -> str:
    import os

    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> str:
    import os

    return f"{platform.platform()}, {os.cpu_count()} CPUs"


# --- Markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _measured_md(row: ClaimRow) -> str:
    if not row.results:
        return "— (no figure checked this claim in this run)"
    return "<br>".join(f"**{c.figure}** ({c.verdict}): {_md_cell(c.measured)}" for c in row.results)


def _criterion_md(row: ClaimRow) -> str:
    if not row.results:
        return "—"
    return "<br>".join(f"**{c.figure}**: {_md_cell(c.criterion)}" for c in row.results)


def _figs_md(row: ClaimRow) -> str:
    names = list(dict.fromkeys(c.figure for c in row.results))
    return ", ".join(f"[{n}](#{n})" for n in names) if names else "—"


def markdown(results: list[FigureResult], info: RunInfo) -> str:
    rows = claim_rows(results)
    L = ["# isodyn reproduction report", "",
         "Halvagal, Laborieux & Zenke, *Implicit variance regularization in non-contrastive SSL* (NeurIPS 2023): "
         "each claim of SPEC §6 with what isodyn measured and a verdict computed from the numbers by the criterion "
         "written next to it.", ""]
    if info.quick:
        L += [f"> {QUICK_NOTE}", ""]
    L += ["## Claims", "", "| # | The paper states | isodyn measured | Verdict | Criterion | Figures |",
          "|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r.claim} | {_md_cell(r.paper)} | {_measured_md(r)} | **{r.verdict}** | {_criterion_md(r)} | "
                 f"{_figs_md(r)} |")
    L += ["", "Verdicts: each figure decides its claims by the criterion shown (reproduced: every check passed; not "
          "reproduced: none did; partly: some did). Several figures' verdicts for one claim merge the same way; "
          f"\"{NOT_CHECKED}\" means no figure of this run decided the claim.", ""]
    L += ["## Figures", ""]
    for fr in results:
        png = next((f for f in fr.files if Path(f).suffix == ".png"), None)
        pdf = next((f for f in fr.files if Path(f).suffix == ".pdf"), None)
        shown = _shown_image(fr)
        L += [f'<a id="{fr.name}"></a>', "", f"### {fr.title}", ""]
        if shown is not None:
            L += [f"![{fr.name}](figures/{Path(shown).name})", ""]
        L += [fr.caption, ""]
        if pdf is not None:
            L += [f"Files: [PNG](figures/{Path(png).name}), [PDF](figures/{Path(pdf).name})." if png else "", ""]
        movies = [f for f in fr.files if Path(f).suffix in ANIMATIONS]
        if movies:
            L += ["Files: " + ", ".join(f"[{Path(f).suffix[1:].upper()}](figures/{Path(f).name})" for f in movies)
                  + ".", ""]
    failed = [t for t in info.timings if not t.ok]
    if failed or info.skipped:
        L += ["## Figures that did not run", ""]
        L += [f"- **{t.name}**: {t.error}" for t in failed]
        L += [f"- {s}" for s in info.skipped]
        L.append("")
    L += how_made_md(results, info)
    return "\n".join(L) + "\n"


def how_made_md(results: list[FigureResult], info: RunInfo) -> list[str]:
    L = ["## How this was made", "",
         f"- Command: `{info.command}`",
         f"- Started: {info.started}; total wall time {info.seconds:.1f} s on {machine()} (load average at "
         f"the end {load()}); {info.jobs} figure{'s' if info.jobs > 1 else ''} at a time. CPU s: the CPU time of the "
         f"process that made the figure (wall time grows when the machine is busy, CPU time hardly).",
         f"- Mode: {'quick (`--quick`)' if info.quick else 'full'}.",
         f"- Seeds: base seed {info.seed}; every figure derives its seeds from it deterministically (listed below); "
         f"the same command gives the same numbers.",
         "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".", "",
         "| Figure | Wall s | CPU s | Seeds |", "|---|---|---|---|"]
    seeds = {fr.name: fr.numbers.get("seeds") for fr in results}
    for t in info.timings:
        s = seeds.get(t.name)
        s_txt = ", ".join(f"{k}: {v}" for k, v in s.items()) if isinstance(s, dict) else (str(s) if s else "—")
        name = t.name + ("" if t.ok else " (failed)")
        L.append(f"| {name} | {t.seconds:.1f} | {t.cpu_seconds:.1f} | {_md_cell(s_txt)} |")
    L.append("")
    return L


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;width:100%;font-size:0.86em}th,td{border:1px solid #ccc;padding:0.4em;
vertical-align:top;text-align:left}th{background:#f3f3f3}
.v{font-weight:bold;white-space:nowrap;padding:0.1em 0.4em;border-radius:3px}
.v-reproduced{background:#d6efe6;color:#00573f}.v-partly{background:#fbe9cc;color:#7a4a00}
.v-not-reproduced{background:#f8d8cc;color:#8a2b00}.v-not-checked{background:#e6e6e6;color:#444}
.sub{margin:0 0 0.5em 0}figure{margin:1.5em 0}img{max-width:100%}figcaption{font-size:0.9em;color:#333}
.note{background:#fff8e5;border-left:4px solid #e69f00;padding:0.5em 1em}code{background:#f4f4f4;padding:0 0.2em}
"""


def _v(verdict: str) -> str:
    return f'<span class="v v-{verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


#: animation files a figure may carry (the GIF is shown where there is no PNG; the report links each)
ANIMATIONS = (".gif", ".mp4")
_MIME = {".png": "image/png", ".gif": "image/gif"}


def _shown_image(fr: FigureResult):
    """The file the report shows for a figure: its PNG, else its GIF animation (None: neither)."""
    for suffix in (".png", ".gif"):
        hit = next((f for f in fr.files if Path(f).suffix == suffix), None)
        if hit is not None:
            return hit
    return None


def _png_data(path) -> str | None:
    """A data URI of a PNG (or GIF) file, for the self-contained HTML."""
    p = Path(path)
    if not p.exists():
        return None
    return f"data:{_MIME.get(p.suffix, 'image/png')};base64," + base64.b64encode(p.read_bytes()).decode("ascii")


def html_report(results: list[FigureResult], info: RunInfo) -> str:
    e = html.escape
    rows = claim_rows(results)
    H = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>isodyn reproduction report</title>",
         f"<style>{_CSS}</style></head><body>", "<h1>isodyn reproduction report</h1>",
         "<p>Halvagal, Laborieux &amp; Zenke, <i>Implicit variance regularization in non-contrastive SSL</i> "
         "(NeurIPS 2023): each claim of SPEC §6 with what isodyn measured and a verdict computed from the numbers by "
         "the criterion written next to it.</p>"]
    if info.quick:
        H.append(f'<p class="note">{e(QUICK_NOTE)}</p>')
    H += ["<h2>Claims</h2>", "<table><tr><th>#</th><th>The paper states</th><th>isodyn measured</th><th>Verdict</th>"
          "<th>Criterion</th><th>Figures</th></tr>"]
    for r in rows:
        if r.results:
            meas = "".join(f'<p class="sub"><b>{e(c.figure)}</b> {_v(c.verdict)}: {e(c.measured)}</p>'
                           for c in r.results)
            crit = "".join(f'<p class="sub"><b>{e(c.figure)}</b>: {e(c.criterion)}</p>' for c in r.results)
            names = list(dict.fromkeys(c.figure for c in r.results))
            figs = ", ".join(f'<a href="#{e(n)}">{e(n)}</a>' for n in names)
        else:
            meas, crit, figs = "— (no figure checked this claim in this run)", "—", "—"
        H.append(f"<tr><td>{r.claim}</td><td>{e(r.paper)}</td><td>{meas}</td><td>{_v(r.verdict)}</td>"
                 f"<td>{crit}</td><td>{figs}</td></tr>")
    H += ["</table>", f"<p>Verdicts: each figure decides its claims by the criterion shown (reproduced: every check "
          f"passed; not reproduced: none did; partly: some did). Several figures' verdicts for one claim merge the "
          f"same way; “{NOT_CHECKED}” means no figure of this run decided the claim.</p>", "<h2>Figures</h2>"]
    for fr in results:
        shown = _shown_image(fr)
        data = _png_data(shown) if shown is not None else None
        H.append(f'<figure id="{e(fr.name)}"><h3>{e(fr.title)}</h3>')
        if data:
            H.append(f'<img src="{data}" alt="{e(fr.name)}">')
        movies = [f for f in fr.files if Path(f).suffix in ANIMATIONS]
        if movies:
            H.append("<p>Files: " + ", ".join(f'<a href="figures/{e(Path(f).name)}">{e(Path(f).suffix[1:].upper())}</a>'
                                              for f in movies) + ".</p>")
        H.append(f"<figcaption>{e(fr.caption)}</figcaption></figure>")
    failed = [t for t in info.timings if not t.ok]
    if failed or info.skipped:
        H.append("<h2>Figures that did not run</h2><ul>")
        H += [f"<li><b>{e(t.name)}</b>: {e(t.error)}</li>" for t in failed]
        H += [f"<li>{e(s)}</li>" for s in info.skipped]
        H.append("</ul>")
    H.append(_md_block_to_html(how_made_md(results, info)))
    H.append("</body></html>")
    return "\n".join(H) + "\n"


def _md_block_to_html(lines: list[str]) -> str:
    """The small Markdown subset of how_made_md (heading, bullets, one table, `code`) as HTML."""
    import re

    def inline(t):
        return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(t))

    out, in_list, in_table = [], False, False
    for line in lines:
        if line.startswith("## "):
            out.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(line[2:])}</li>")
        elif line.startswith("|"):
            if in_list:
                out.append("</ul>")
                in_list = False
            cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
            if set(line) <= set("|-"):
                continue
            tag = "td" if in_table else "th"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<{tag}>{inline(c)}</{tag}>" for c in cells) + "</tr>")
        elif not line.strip():
            if in_list:
                out.append("</ul>")
                in_list = False
            if in_table:
                out.append("</table>")
                in_table = False
    if in_list:
        out.append("</ul>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)


def write(out: Path, results: list[FigureResult], info: RunInfo) -> tuple[Path, Path]:
    """Write out/report.md and out/report.html atomically; returns their paths."""
    out = Path(out)
    md, ht = out / "report.md", out / "report.html"
    atomic_write(md, markdown(results, info).encode("utf-8"))
    atomic_write(ht, html_report(results, info).encode("utf-8"))
    return md, ht
