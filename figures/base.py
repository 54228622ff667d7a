"""The contract between figure modules, the report and ``isodyn reproduce`` (issue 5).

Each figure module in figures/ defines

    NAME = "eigenvalue_dynamics"            # file stem and --only name
    TITLE = "Eigenvalue dynamics (paper)"   # for the report
    def make(ctx: Context) -> FigureResult  # runs the dynamics API, plots, saves PNG + PDF

and its FigureResult carries the numbers it measured and the claims (SPEC §6) those numbers
decide.  Verdicts are computed from the numbers by an explicit criterion - never typed in.
Figure modules call the dynamics API and plot; they hold no mathematics of their own.
"""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class FigureResult:
    """What a figure module returns: files written, caption, measured numbers, claims decided."""

    name: str
    title: str
    files: list[Path]
    caption: str
    numbers: dict = field(default_factory=dict)
    claims: list[ClaimResult] = field(default_factory=list)


def verdict_from(passed: int, total: int) -> str:
    """reproduced if every check passed, not reproduced if none did, partly otherwise."""
    if total <= 0:
        raise ValueError("a verdict needs at least one check")
    return "reproduced" if passed == total else ("not reproduced" if passed == 0 else "partly")
