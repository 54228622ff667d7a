"""`isodyn derive` for a slide (issue 11 item 4, issue 12's Beamer deck): every rule's LaTeX document compiles with
pdflatex, a few Beamer decks do, fragments compile inside a host document, Markdown is GitHub math, numbers given
on the command line are substituted (fixed points, stability in words, recruitment times), a fixed point that is
not real is said so, and the cache keys on everything that changes the text."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest

from isodyn.derivations import METRICS, VARIANTS, Rule
from isodyn.derivations.render import PACKAGES, derivation
from isodyn.dynamics.cli import main

RULES = [(m, v) for m in METRICS for v in VARIANTS]
NUMBERS = {"alpha": 0.5, "eps": 0.0, "sigma1": 0.0, "sigma2": 0.1, "weight_decay": 0.1, "ema": 0.9, "lr": 0.01}


@cache
def _doc(metric, variant, fmt, predictor="closed-form", numbers=False, fragment=False, closure="exact"):
    rule = Rule(metric, variant, predictor=predictor)
    nums = dict(NUMBERS) if numbers else None
    return derivation(rule, closure, fmt, numbers=nums, given=("alpha", "weight_decay") if numbers else (),
                      fragment=fragment)


@pytest.fixture(scope="module")
def pdflatex():
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended "
                    "texlive-pictures lmodern; CI's setup installs it)")
    return exe


def _compile(exe, folder, name, text):
    (folder / f"{name}.tex").write_text(text)
    r = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", f"{name}.tex"],
                       cwd=folder, capture_output=True, text=True, timeout=120)
    log = r.stdout
    errors = [ln for ln in log.splitlines() if ln.startswith("!")]
    return r.returncode, errors, (folder / f"{name}.pdf").exists()


def _compile_all(exe, folder, docs: dict):
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_compile, exe, folder, name, text) for name, text in docs.items()}
        return {name: f.result() for name, f in futures.items()}


def _host(fragment: str, cls: str) -> str:
    return ("\\documentclass{" + cls + "}\n\\usepackage{" + ",".join(PACKAGES) + "}\n\\begin{document}\n" + fragment
            + "\\end{document}\n")


def test_every_rule_compiles_as_latex_and_some_as_beamer(pdflatex, tmp_path):
    docs = {f"latex-{m}-{v}": _doc(m, v, "latex") for m, v in RULES}
    docs["latex-cosine-standard-meanfield"] = _doc("cosine", "standard", "latex", closure="mean-field")
    docs["latex-trainable"] = _doc("euclidean", "standard", "latex", predictor="trainable", numbers=True)
    docs["latex-trainable-cosine"] = _doc("cosine", "iso", "latex", predictor="trainable")
    docs["latex-numbers"] = _doc("euclidean", "standard", "latex", numbers=True)
    docs["latex-numbers-cosine"] = _doc("cosine", "wrong-stopgrad", "latex", numbers=True)
    docs["latex-fragment"] = _host(_doc("euclidean", "iso", "latex", numbers=True, fragment=True), "article")
    docs["beamer-euclidean-standard"] = _doc("euclidean", "standard", "beamer", numbers=True)
    docs["beamer-cosine-iso"] = _doc("cosine", "iso", "beamer")
    docs["beamer-no-stopgrad-trainable"] = _doc("euclidean", "no-stopgrad", "beamer", predictor="trainable")
    docs["beamer-fragment"] = _host(_doc("cosine", "standard", "beamer", fragment=True), "beamer")
    results = _compile_all(pdflatex, tmp_path, docs)
    failed = {n: r for n, r in results.items() if r[0] != 0 or r[1] or not r[2]}
    assert not failed, failed


@pytest.mark.parametrize("metric,variant", RULES)
def test_latex_is_a_document_without_markdown(metric, variant):
    text = _doc(metric, variant, "latex")
    assert text.startswith("\\documentclass") and "\\usepackage{amsmath" in text and "amssymb" in text
    assert "\\begin{document}" in text and text.rstrip().endswith("\\end{document}")
    prose = re.sub(r"\\begin\{equation\*\}.*?\\end\{equation\*\}", "", text, flags=re.S)
    prose = re.sub(r"\$[^$]*\$", "", prose)
    assert "**" not in prose and not re.search(r"^#", prose, re.M) and "$$" not in text
    assert not re.search(r"(?<!\\)_", prose), [ln for ln in prose.splitlines() if re.search(r"(?<!\\)_", ln)]
    for heading in ("Per-sample loss", "Gradients", "Eigenbasis form", "Expected mode map", "Continuous-time limit",
                    "Fixed points and stability", "Weak-mode asymptotics"):
        assert re.search(r"\\section\*\{[0-9. ]*" + re.escape(heading), text), heading  # a heading of its own


def test_fragment_is_the_body_in_every_format():
    for fmt in ("latex", "beamer", "markdown"):
        whole, body = _doc("euclidean", "standard", fmt), _doc("euclidean", "standard", fmt, fragment=True)
        assert "\\documentclass" not in body and "\\begin{document}" not in body and "\\usepackage" not in body
        assert len(body) < len(whole)
    assert not _doc("euclidean", "standard", "markdown", fragment=True).startswith("# ")
    frames = _doc("cosine", "iso", "beamer", fragment=True)
    assert frames.count("\\begin{frame}") == frames.count("\\end{frame}") >= 8


def test_beamer_has_one_frame_per_step():
    deck = _doc("euclidean", "standard", "beamer", predictor="trainable")
    titles = re.findall(r"\\begin\{frame\}\[allowframebreaks\]\{([^}]*)\}", deck)
    assert [t.split(".")[0] for t in titles[1:]] == [str(i) for i in range(1, 9)], titles
    assert deck.count("\\begin{frame}") == deck.count("\\end{frame}")


@pytest.mark.parametrize("metric,variant", RULES)
def test_markdown_is_github_math(metric, variant):
    text = _doc(metric, variant, "markdown", predictor="trainable" if variant == "standard" else "closed-form")
    lines = text.splitlines()
    display = [i for i, ln in enumerate(lines) if ln.strip() == "$$"]
    assert len(display) % 2 == 0 and display
    for ln in lines:
        if "$$" in ln:
            assert ln == "$$", ln  # display math opens and closes on lines of its own
    inside = set()
    for a, b in zip(display[::2], display[1::2]):
        inside.update(range(a, b + 1))
    for i, ln in enumerate(lines):
        if i not in inside:
            assert ln.count("$") % 2 == 0, ln  # inline math balanced on its line
            for m in re.findall(r"\$([^$]*)\$", ln):
                assert m and not m[0].isspace() and not m[-1].isspace(), m  # GitHub wants $x$, not $ x $
                assert "\\\\" not in m and "\\|" not in m, m  # markdown would eat these inline
    for bad in ("\\(", "\\[", "\\begin{equation", "\\section", "\\textbf"):
        assert bad not in text
    assert sum(ln.startswith("## ") for ln in lines) >= 7


def test_isoloss_is_compact():
    for metric in METRICS:
        text = _doc(metric, "iso", "markdown")
        loss = text.split("## 1.")[1].split("## 2.")[0]
        assert loss.count("\\operatorname{sg}") <= 4 and "langle" not in loss, loss
    assert "\\left\\lVert z_{1} - \\operatorname{sg}\\left(z_{2} + z_{1} - p\\right) \\right\\rVert^{2}" in _doc(
        "euclidean", "iso", "latex")


# --- numbers from the command line ------------------------------------------------------------------------


@pytest.fixture()
def derive(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ISODYN_CACHE", str(tmp_path / "cache"))

    def run(*args):
        rc = main(["derive", *args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def _section(text, n):
    return text.split(f"## {n}.")[1].split("\n## ")[0]


def test_numbers_change_the_text(derive):
    base = derive()[1]
    texts = {}
    for args in (["--alpha", "1e6"], ["--eps", "0.3"], ["--alpha", "0.5", "--weight-decay", "0.1"],
                 ["--alpha", "0.5"]):
        rc, out, err = derive(*args)
        assert rc == 0, err
        assert out != base
        texts[" ".join(args)] = out
    assert len(set(texts.values())) == len(texts)
    # gamma = 0.1: lambda(1 - lambda) = gamma, lambda*+- = (1 +- sqrt(1 - 4 gamma)) / 2, s* = lambda*^(1/alpha)
    fp = _section(texts["--alpha 0.5 --weight-decay 0.1"], 6)
    plus, minus = (1 + math.sqrt(0.6)) / 2, (1 - math.sqrt(0.6)) / 2
    assert f"\\lambda^* = {plus:.4g}$, $s^* = {plus ** 2:.4g}$: **stable**" in fp
    assert f"\\lambda^* = {minus:.4g}$, $s^* = {minus ** 2:.4g}$: **unstable**" in fp
    head = texts["--alpha 0.5 --weight-decay 0.1"].split("## 1.")[0]
    assert "$\\gamma = 0.1$ (given" in head and "$\\epsilon = 0$ (default" in head and "$\\eta = 0.01$ (default" in head
    # eps = 0.3, alpha = 1: s* = lambda* - eps = 0.7 at lambda* = 1
    assert "$s^* = 0.7$: **stable**" in _section(texts["--eps 0.3"], 6)
    # the recruitment time ~ 1/(2 alpha lambda0): 5e-6 at alpha = 1e6, lambda0 = 0.1
    assert "5.0 \\cdot 10^{-6}" in _section(texts["--alpha 1e6"], 7)
    assert "T \\approx 10.0" in _section(texts["--alpha 0.5"], 7)  # 1/(2 * 0.5 * 0.1)


def test_without_numbers_nothing_is_substituted(derive):
    out = derive("--variant", "iso")[1]
    assert "At the numbers" not in out and "(default" not in out


def test_alpha_zero_is_refused_in_one_line(derive):
    rc, out, err = derive("--alpha", "0")
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("isodyn: error: argument --alpha:") and "> 0" in lines[0]


def test_saddle_with_ema(derive):
    rc, out, _ = derive("--weight-decay", "0.1", "--ema", "0.9")
    fp = _section(out, 6)
    assert rc == 0 and "**saddle**" in fp and "**stable**" in fp and "eigenvalues of $J$" in fp


@pytest.mark.parametrize("numbers", [(), ("--sigma-target", "0.2")])
def test_a_fixed_point_that_is_not_real_is_said_so(derive, numbers):
    rc, out, _ = derive("--variant", "no-stopgrad", *numbers)
    fp = _section(out, 6)
    assert rc == 0 and "no real fixed point" in fp
    assert not re.search(r"\\lambda\^\* = [^$]*(\bi\b|\\sqrt\{-)", fp), fp  # never a complex number
    assert "\\lambda^* =" not in fp.replace("double root $\\lambda^* = 1", "")
    if numbers:  # D = 4 - 4 (1 + sigma2^2) = -0.16
        assert "discriminant in $\\lambda$ is $-0.16 < 0$" in fp


def test_trainable_predictor_numbers(derive):
    rc, out, _ = derive("--predictor", "trainable", "--weight-decay", "0.1")
    tp = _section(out, 8)
    assert rc == 0 and "$\\gamma_c = 0.25$" in tp
    assert f"\\lambda^*_+ = {(1 + math.sqrt(0.6)) / 2:.4g}$: **stable**" in tp and "**unstable**" in tp
    rc, out, _ = derive("--predictor", "trainable", "--weight-decay", "0.3")
    assert "no real fixed point: the weight decay $\\gamma = 0.3$ exceeds $\\gamma_c = 0.25$" in _section(out, 8)


def test_cosine_line_in_words(derive):
    assert "**marginal line, attracting" in _section(derive("--metric", "cosine", "--alpha", "2")[1], 6)
    assert "**marginal line, repelling" in _section(
        derive("--metric", "cosine", "--variant", "wrong-stopgrad", "--alpha", "2")[1], 6)


def test_cache_keys_on_numbers_format_and_fragment(derive, tmp_path):
    seen = {}
    for args in ([], ["--alpha", "0.5"], ["--alpha", "2"], ["--format", "latex"], ["--format", "latex", "--fragment"],
                 ["--format", "beamer"], ["--alpha", "1"]):
        first = derive(*args)[1]
        assert derive(*args)[1] == first  # from the cache
        seen[" ".join(args)] = first
    assert len(set(seen.values())) == len(seen)  # --alpha 1 (given) shows numbers; the default does not
    assert len(list((tmp_path / "cache" / "derive").glob("*.json"))) == len(seen)
