"""Input checks: one error type and one set of checkers for every place that takes user input.

Rules (:class:`~isodyn.derivations.rules.Rule`), the command line (``dynamics/cli/common.py``: the argparse
types ``real``, ``integer``, ``real_list``), ``simulate`` / ``simulate_batch`` (``dynamics/modes/simulation.py``)
and sweep specs (``dynamics/sweep/spec.py``) all check their input with the checkers below and raise
:class:`InputError`, whose message is one line::

    FLAG: invalid value VALUE; accepted: ACCEPTED

(VALUE is the repr of what was given, cut to 60 characters; another word than "invalid value" where the
problem is not the value, e.g. "unknown key".)

Convention for ``flag``: the name of the input **where the user wrote it**.  The library raises with the
Python keyword name (``sigma1``, ``weight_decay``, ``metric``); the command line reports the flag
(``--sigma-online``) and a sweep spec its dotted key (``axes.sigma_online[0]``).  The translation between
the three spellings is ONE table, :data:`SPELLINGS` (names not in it are spelled ``--name-with-dashes`` on
the command line and ``name`` in a spec): :func:`cli_flag` and :func:`spec_key` read it, and
:meth:`InputError.at` re-labels an error for the layer that reports it.  ``accepted`` texts are written in
the library's words (``variant``, not ``--variant``), so they read the same in every layer.

The checkers do the range logic once: :class:`Real` (a finite real in a range, open or closed at either
end; also for text from the command line and, elementwise, for NumPy arrays of per-point parameters),
:class:`Integer`, :class:`Choice` and :class:`Flag` (a bool).  Each is called as ``checker(flag, value)``
and returns the checked value; ``accepted`` is written from the range when not given.  The domains of the
model's parameters (alpha, eps, beta, lr, weight_decay, ema, rho, sigma1, sigma2) are written once, in
:data:`PARAMETERS`, for the rule, the command line, simulate and sweep specs alike.

Plain Python: nothing here imports sympy, and NumPy only inside :meth:`Real.array`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

#: library keyword -> (command-line flag, sweep-spec key), where they are not the default spellings
#: ``"--" + name.replace("_", "-")`` and ``name``
SPELLINGS = {
    "sigma1": ("--sigma-online", "sigma_online"),
    "sigma2": ("--sigma-target", "sigma_target"),
}
SHOWN = 60  # characters of a value's repr in a message


def cli_flag(name: str) -> str:
    """The command-line flag of the library keyword ``name`` (``sigma1`` -> ``--sigma-online``)."""
    return SPELLINGS[name][0] if name in SPELLINGS else "--" + name.replace("_", "-")


def spec_key(name: str) -> str:
    """The sweep-spec key of the library keyword ``name`` (``sigma1`` -> ``sigma_online``)."""
    return SPELLINGS[name][1] if name in SPELLINGS else name


def shown(value) -> str:
    """repr(value) (of a NumPy scalar: of its Python value), cut to SHOWN characters."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


class InputError(ValueError):
    """Bad input: ``flag`` names it (module docstring: the convention), ``value`` is what was given,
    ``accepted`` what would be; ``what`` says what is wrong (default "invalid value").

    The one-line message is ``"{flag}: {detail}"``; :attr:`detail` is the part after the flag (what the
    command line prints after ``argument --flag:``).
    """

    def __init__(self, flag: str, value, accepted: str, what: str = "invalid value"):
        self.flag, self.value, self.accepted, self.what = flag, value, accepted, what
        super().__init__(f"{flag}: {self.detail}")

    @property
    def detail(self) -> str:
        return f"{self.what} {shown(self.value)}; accepted: {self.accepted}"

    @property
    def key(self) -> str:
        """The name sweep specs used for ``flag`` (``SpecError.key``; kept for one release)."""
        return self.flag

    def at(self, flag: str) -> InputError:
        """The same error under another spelling of its flag (the command line's, a spec key)."""
        return InputError(flag, self.value, self.accepted, self.what)

    def __reduce__(self):  # pickles whole (Dask workers send exceptions back)
        return (InputError, (self.flag, self.value, self.accepted, self.what))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_bool(value) -> bool:
    t = type(value)
    return t is bool or (t.__module__ == "numpy" and t.__name__ in ("bool", "bool_"))  # numpy.bool_, unimported


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Real:
    """A finite real in [lo, hi] (either end open or absent).  ``accepted`` defaults to the range in words
    ("a real >= 0", "a real in [0, 1)", "a finite real")."""

    accepted: str | None = None
    lo: float | None = None
    lo_open: bool = False
    hi: float | None = None
    hi_open: bool = False

    @property
    def text(self) -> str:
        if self.accepted is not None:
            return self.accepted
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None:
            return f"a real in {'(' if self.lo_open else '['}{_num(lo)}, {_num(hi)}{')' if self.hi_open else ']'}"
        if lo is not None:
            return f"a real {'>' if self.lo_open else '>='} {_num(lo)}"
        if hi is not None:
            return f"a real {'<' if self.hi_open else '<='} {_num(hi)}"
        return "a finite real"

    def inside(self, x):
        """x (a finite float, or a float array) within the range; elementwise for arrays."""
        ok = True
        if self.lo is not None:
            ok = ok & ((x > self.lo) if self.lo_open else (x >= self.lo))
        if self.hi is not None:
            ok = ok & ((x < self.hi) if self.hi_open else (x <= self.hi))
        return ok

    def __call__(self, flag: str, value) -> float:
        """A real number (int or float, NumPy scalars too; not a bool, not a string) -> float."""
        if not _is_real(value) or not math.isfinite(float(value)) or not self.inside(float(value)):
            raise InputError(flag, value, self.text)
        return float(value)

    def parse(self, flag: str, text: str) -> float:
        """Command-line text -> float; the error shows the text as given."""
        try:
            x = float(text)
        except (TypeError, ValueError):
            raise InputError(flag, text, self.text) from None
        if not math.isfinite(x) or not self.inside(x):
            raise InputError(flag, text, self.text)
        return x

    def array(self, flag: str, value):
        """A scalar or an array of per-point values -> float ndarray (same shape); the error shows the first
        value outside the range."""
        import numpy as np

        try:
            v = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise InputError(flag, value, self.text) from None
        finite = np.isfinite(v)
        ok = finite & self.inside(np.where(finite, v, 0.0))
        if not ok.all():
            raise InputError(flag, float(v[~ok].flat[0]) if v.ndim else float(v), self.text)
        return v


@dataclass(frozen=True)
class Integer:
    """An integer in [lo, hi] (either end absent).  ``accepted`` defaults to the range in words."""

    accepted: str | None = None
    lo: int | None = 1
    hi: int | None = None

    @property
    def text(self) -> str:
        if self.accepted is not None:
            return self.accepted
        if self.lo is not None and self.hi is not None:
            return f"an integer in [{self.lo}, {self.hi}]"
        if self.lo is not None:
            return f"an integer >= {self.lo}"
        if self.hi is not None:
            return f"an integer <= {self.hi}"
        return "an integer"

    def inside(self, x: int) -> bool:
        return (self.lo is None or x >= self.lo) and (self.hi is None or x <= self.hi)

    def __call__(self, flag: str, value) -> int:
        """An integer (int or a NumPy integer; not a bool, not a float) -> int."""
        if _is_bool(value) or not isinstance(value, numbers.Integral) or not self.inside(int(value)):
            raise InputError(flag, value, self.text)
        return int(value)

    def parse(self, flag: str, text: str) -> int:
        """Command-line text -> int; the error shows the text as given."""
        try:
            x = int(text)
        except (TypeError, ValueError):
            raise InputError(flag, text, self.text) from None
        if not self.inside(x):
            raise InputError(flag, text, self.text)
        return x


@dataclass(frozen=True)
class Choice:
    """One of ``choices`` (strings)."""

    choices: tuple
    accepted: str | None = None

    @property
    def text(self) -> str:
        return self.accepted if self.accepted is not None else "one of " + ", ".join(self.choices)

    def __call__(self, flag: str, value) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise InputError(flag, value, self.text)
        return value

    parse = __call__


@dataclass(frozen=True)
class Flag:
    """A bool (Python or NumPy; not 0/1)."""

    accepted: str = "true or false"

    @property
    def text(self) -> str:
        return self.accepted

    def __call__(self, flag: str, value) -> bool:
        if not _is_bool(value):
            raise InputError(flag, value, self.text)
        return bool(value)


#: the largest seed: the command line's --seed and a sweep spec's seed (a seed plus a run's index stays an int64,
#: which netCDF attributes and every random stream of NumPy and CuPy take)
SEED_MAX = 2**32 - 1
SEED = Integer(lo=0, hi=SEED_MAX)

#: The domain of every model and training parameter (SPEC §2-4), by library keyword: the one table the rule,
#: the command line, simulate / simulate_batch and sweep specs check these parameters against.
PARAMETERS = {
    "alpha": Real(lo=0.0),  # predictor exponent
    "eps": Real(lo=0.0),  # predictor offset
    "beta": Real(),  # IsoLoss-family exponent
    "lr": Real(lo=0.0, lo_open=True),  # eta
    "weight_decay": Real(lo=0.0),  # gamma
    "ema": Real(lo=0.0, hi=1.0, hi_open=True),  # tau (0: no EMA)
    "rho": Real(lo=0.0, hi=1.0, hi_open=True),  # predictor lag / running-correlation rate
    "sigma1": Real(lo=0.0),  # online view noise
    "sigma2": Real(lo=0.0),  # target view noise
    "predictor_lr_ratio": Real(lo=0.0, lo_open=True),  # alpha_p: a trained predictor's learning-rate ratio
    "predictor_weight_decay": Real(lo=0.0),  # gamma_p: a trained predictor's weight decay
}
