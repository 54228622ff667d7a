"""The contract between figure modules, the report and ``isodyn reproduce`` (issue 5).

Each figure module in figures/ defines

    NAME = "eigenvalue_dynamics"            # file stem and --only name
    TITLE = "Eigenvalue dynamics (paper)"   # for the report
    def make(ctx: Context) -> FigureResult  # runs the dynamics API, plots, saves PNG + PDF

and its FigureResult carries the numbers it measured and the claims (SPEC §6) those numbers
decide.  Verdicts are computed from the numbers by an explicit criterion - never typed in.
Figure modules call the dynamics API and plot; they hold no mathematics of their own.

Captions are made of facts (issue 11 item 5)
--------------------------------------------
A caption states only what its run measured or used, and a test checks every statement against
numbers.json (tests/figures/test_captions.py).  So a caption is not written as one f-string: it is a
list of parts, plain text and :class:`Fact` objects, joined by :func:`compose`::

    nums["euclidean/wrong-stopgrad/outcome"] = outcome_word(...)      # measured, into the numbers first
    caption, facts = compose([
        "Representations over ", fact("{steps} steps", steps="steps"), " of sampled training. ",
        fact("Euclidean wrong-stopgrad {o}.", o="euclidean/wrong-stopgrad/outcome"),
    ], nums)
    return FigureResult(name, title, files, caption, nums, claims, facts=facts)

* A Fact is a ``str.format`` template whose named fields are keys of the figure's numbers
  (``fact(template, field=key)``; a key is a flat string, or a tuple/list path into nested dicts).
  Every value is rendered by :func:`show` (ints with thousands separators, floats to 3 significant
  digits, lists in brackets, strings as they are), so the test renders the same text from numbers.json.
* Every number and every qualitative word about the run's outcome (collapsed / diverged, how many modes
  vanished, a frame's extent) is a field of a Fact, its value put into the numbers by the same code that
  measured it, with the thresholds of :mod:`isodyn.dynamics.measures` (dead, vanished, diverged) and the
  claim criteria of :mod:`isodyn.dynamics.claims` - never a new threshold for a caption.  A statement that
  holds only for some outcomes is added only when the numbers say so (e.g. "its frame shows {x}x the
  start's extent" only for a diverged run, x the extent the drawing used, recorded in the numbers).
* The plain text between facts holds no digit except the notation of :data:`NOTATION` (SPEC §4, 6→2,
  σ1, ...): the test removes every rendered fact and those patterns and finds no digit left.
* Panel annotations drawn into a figure (e.g. "8/10 modes vanished") use the same numbers keys as the
  caption and the claims, so the picture, the caption and the claim table cannot disagree.

numbers.json records, per figure, ``caption`` and ``caption_facts`` (template and fields of each fact).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("reproduced", "partly", "not reproduced")


@dataclass
class Context:
    """Where and how to make a figure.

    out       output folder (figures go to out / 'figures')
    quick     fewer steps/samples (the report says so)
    seed      base seed; a figure derives its own seeds from it deterministically
    progress  callable(str): a figure calls it as each of its runs or stages begins (one simulation, one training,
              one batch of cases); each call advances ``isodyn reproduce``'s bar by one run
    """

    out: Path
    quick: bool = False
    seed: int = 0
    progress: Callable[[str], None] = lambda msg: None

    @property
    def figdir(self) -> Path:
        return Path(self.out) / "figures"


@dataclass
class ClaimResult:
    """One claim of SPEC §6 as checked by one figure.

    claim      1..7 (SPEC §6 numbering)
    paper      what the paper states (one sentence)
    measured   what isodyn measured, with numbers
    verdict    one of VERDICTS, computed by ``criterion`` from the numbers
    criterion  the explicit rule, in words, that produced the verdict
    """

    claim: int
    paper: str
    measured: str
    verdict: str
    criterion: str
    figure: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


#: notation a caption's plain text may contain digits in (regular expressions; module docstring)
NOTATION = (r"\b2·W0\b", r"\bW0\b", r"fresh N\(0, 1/4\)",  # names of the fixed-point figure's starts
            r"λ = 1\b", r"s_m − 1\|",  # the Euclidean fixed point, λ = 1 (SPEC §6 claim 1)
            r"SPEC §\d+", r"\d+→\d+", r"[σλαγτ]_?\d\b", r"[σλαγτ]\d", r"_\{?\d+\}?", r"I_\d+", r"\^\{?-?\d\}?",
            r"log\(1/", r"1/λ", r"\\ln\(1/", r"\\propto 1/", r"ln\(1/", r"W_\d", r"[zxps]\d\b", r"float\d\d",
            r"dopri5", r"N\(0, ")


@dataclass(frozen=True)
class Fact:
    """One statement of a caption: ``template`` (str.format, named fields) and ``keys`` {field: numbers key}."""

    template: str
    keys: dict

    def values(self, numbers: dict) -> dict:
        return {f: lookup(numbers, k) for f, k in self.keys.items()}

    def render(self, numbers: dict) -> str:
        return self.template.format(**{f: show(v) for f, v in self.values(numbers).items()})

    def as_dict(self) -> dict:
        return {"template": self.template, "keys": {f: (list(k) if isinstance(k, tuple) else k)
                                                    for f, k in self.keys.items()}}


def fact(template: str, **keys) -> Fact:
    """A :class:`Fact`: ``fact("{n}/{M} modes vanished", n="cosine/no-stopgrad/n_vanished", M="M")``."""
    return Fact(template, dict(keys))


def lookup(numbers: dict, key):
    """numbers[key] for a flat key, or the nested value along a tuple/list path; KeyError if absent."""
    if isinstance(key, (tuple, list)):
        v = numbers
        for k in key:
            v = v[k]
        return v
    return numbers[key]


def show(v) -> str:
    """How a caption shows a value: int 1,500; float to 3 significant digits (4.08e-07); list [a, b]; str as is."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == int(v) and abs(v) < 1e6:
            return f"{int(v):,}"
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return str(v)


def compose(parts: Sequence, numbers: dict) -> tuple[str, list[Fact]]:
    """(caption, facts): the parts (str or :class:`Fact`) joined, each fact rendered from ``numbers``."""
    text, facts = [], []
    for p in parts:
        if isinstance(p, Fact):
            text.append(p.render(numbers))
            facts.append(p)
        elif p:
            text.append(str(p))
    return "".join(text), facts


def stray_digits(caption: str, facts: list[Fact], numbers: dict) -> list[str]:
    """Digits of ``caption`` outside its rendered facts, and of the facts' templates outside their fields, that are
    not :data:`NOTATION` (should be none: every number of a caption is a field)."""
    rest = caption
    for f in sorted(facts, key=lambda f: -len(f.render(numbers))):
        rest = rest.replace(f.render(numbers), " ")
    rest += " " + " ".join(re.sub(r"\{[^{}]*\}", " ", f.template) for f in facts)  # a template's own text too
    for pat in NOTATION:
        rest = re.sub(pat, " ", rest)
    return re.findall(r"\S*\d\S*", rest)


@dataclass
class FigureResult:
    """What a figure module returns: files written, caption, measured numbers, claims decided."""

    name: str
    title: str
    files: list[Path]
    caption: str
    numbers: dict = field(default_factory=dict)
    claims: list[ClaimResult] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)  # the caption's facts (module docstring)


def verdict_from(passed: int, total: int) -> str:
    """reproduced if every check passed, not reproduced if none did, partly otherwise."""
    if total <= 0:
        raise ValueError("a verdict needs at least one check")
    return "reproduced" if passed == total else ("not reproduced" if passed == 0 else "partly")
