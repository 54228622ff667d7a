"""Sweep specifications: a TOML file naming rules and parameter axes, checked before any work.

A spec has four tables (every key optional except at least one axis)::

    [run]                       # how each point is integrated (isodyn.dynamics.modes.simulation.simulate_batch)
    scheme = "map"              # map (expected-GD map of SPEC §4) | rk4 | dopri5 (the ODE, t = lr * step)
    steps = 10000               # steps of the map (ODE schemes: end time lr * steps)
    closure = "exact"           # cosine rules only: exact (default) | mean-field
    recruit_stride = 10         # recruitment steps are resolved to this many steps (default: steps / 1000)
    substeps = 1                # rk4: dt = lr / substeps
    rtol = 1e-8                 # dopri5 tolerances (atol too)
    exact_tol = 1e-8            # exact closure: quadrature accuracy (checked at every point)
    chunk_size = 256            # points per compiled call (default: automatic)

    [fixed]                     # parameters held fixed (attributes of the result)
    metric = "euclidean"
    modes = 10

    [axes]                      # one dimension of the result per key, in file order
    variant = ["standard", "iso"]                  # a list of values
    lr = { logspace = [1e-3, 1e-1, 9] }            # 9 log-spaced values from 1e-3 to 1e-1
    weight_decay = { linspace = [0.0, 0.5, 11] }   # 11 evenly spaced values

    [keep]
    trajectories = false        # also keep s_m(step) every `stride` steps
    stride = 100

Parameters (``[fixed]`` or ``[axes]``): the rule (``metric``, ``variant``, ``beta``, ``alpha``,
``eps``, ``normalize``), training (``lr``, ``weight_decay``, ``ema``, ``rho`` (predictor lag),
``sigma_online``, ``sigma_target``) and the initial spectrum (``modes`` M, ``s0_lo``/``s0_hi`` its range,
``s0_family`` ``logspace`` (deterministic) or ``random`` (log-uniform, drawn per point from
``seed`` and the point's index, so results do not depend on chunking or worker), or a fixed
explicit ``s0 = [..]``).  ``lr`` defaults to the paper's learning rate of each rule (SPEC §5).

Every problem raises :class:`~isodyn.derivations.checks.InputError` (``SpecError`` is the same class) naming
the key (``axes.lr``) and what it accepts; the values are checked by the checkers of
:mod:`isodyn.derivations.checks`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isodyn.derivations import CLOSURES, METRICS, PREDICTORS, VARIANTS, Rule
from isodyn.derivations.checks import PARAMETERS, SEED, Choice, Flag, InputError, Integer, Real, spec_key
from isodyn.dynamics.modes.schemes import SCHEME_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECRUIT_FRAMES = 1000  # default recruitment resolution: steps / RECRUIT_FRAMES (rounded up)
S0_FAMILIES = ("logspace", "random")
MAX_POINTS = 100_000_000
MAX_BYTES = 8 * 2**30  # merged dataset size limit (trajectories)


#: kept for one release: a spec's error is the one input error of the package, ``flag`` the dotted key
#: (``axes.lr[0]``; readable as ``.key`` too)
SpecError = InputError

#: parameters that may be fixed or swept (spec keys, derivations.checks.spec_key), with their checker (the model's
#: domains from derivations.checks.PARAMETERS) and default (None: derived)
PARAMS = {
    "metric": (Choice(METRICS), "euclidean"),
    "variant": (Choice(VARIANTS), "standard"),
    "beta": (PARAMETERS["beta"], None),  # IsoLoss family: variants standard, iso, no-stopgrad (the rule checks)
    "alpha": (PARAMETERS["alpha"], 1.0),
    "eps": (PARAMETERS["eps"], 0.0),
    "normalize": (Flag(), False),
    "predictor": (Choice(PREDICTORS), "closed-form"),
    "predictor_lr_ratio": (PARAMETERS["predictor_lr_ratio"], None),  # trainable only; default 1
    "predictor_weight_decay": (PARAMETERS["predictor_weight_decay"], None),  # trainable only; default weight_decay
    "lr": (PARAMETERS["lr"], None),
    "weight_decay": (PARAMETERS["weight_decay"], 0.0),
    "ema": (PARAMETERS["ema"], 0.0),
    "rho": (PARAMETERS["rho"], 0.0),
    "sigma_online": (PARAMETERS["sigma1"], 0.0),
    "sigma_target": (PARAMETERS["sigma2"], 0.1),
    "modes": (Integer(lo=1, hi=4096), 10),
    "s0_lo": (Real(lo=0.0, lo_open=True), 1e-3),
    "s0_hi": (Real(lo=0.0, lo_open=True), 1.0),
    "s0_family": (Choice(S0_FAMILIES), "logspace"),
    "seed": (SEED, 0),
}
#: parameters fixing the compiled call's structure: points of one chunk share them
STRUCTURAL = ("metric", "variant", "beta_family", "modes", "normalize", "predictor")
#: parameters of the trained predictor only (SPEC §7)
TRAINED = ("predictor_lr_ratio", "predictor_weight_decay")
RUN = {
    "scheme": (Choice(SCHEME_NAMES), "map"),
    "steps": (Integer("an integer in [1, 10**9]", lo=1, hi=10**9), 1500),
    "closure": (Choice(CLOSURES), None),
    "chunk_size": (Integer("an integer in [1, 10**6]", lo=1, hi=10**6), None),
    "recruit_stride": (Integer("an integer in [1, run.steps]", lo=1), None),
    "substeps": (Integer("an integer >= 1 (rk4)", lo=1), 1),
    "rtol": (Real("a real > 0 (dopri5)", lo=0.0, lo_open=True), 1e-8),
    "atol": (Real("a real >= 0 (dopri5)", lo=0.0), 1e-12),
    "exact_tol": (Real("a real in (0, 1e-2] (exact closure)", lo=0.0, lo_open=True, hi=1e-2), 1e-8),
}
KEEP = {
    "trajectories": (Flag(), False),
    "stride": (Integer(lo=1), 1),
}
TABLES = ("run", "fixed", "axes", "keep")
_AXIS_FORMS = (
    "a non-empty list of distinct values, { linspace = [start, stop, num] } or "
    "{ logspace = [start, stop, num] } (start, stop > 0) with num >= 1"
)


@dataclass(frozen=True)
class Axis:
    """One swept parameter: ``name`` and its coordinate values (floats, ints, bools or strings)."""

    name: str
    values: tuple

    def __len__(self):
        return len(self.values)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: axes (outer to inner), fixed parameters, run options, what to keep.

    Points are numbered in C order over the axes (the last axis varies fastest).
    """

    axes: tuple
    fixed: dict
    run: dict
    keep: dict
    source: str = ""
    name: str = "sweep"
    _rules: dict = field(default_factory=dict, compare=False, repr=False)

    # --- shape ----------------------------------------------------------------------
    @property
    def structural(self) -> tuple:
        """Per axis: does it fix the compiled call's structure (STRUCTURAL; the axis ``beta`` stands for
        beta_family)?"""
        return tuple({"beta": "beta_family"}.get(a.name, a.name) in STRUCTURAL for a in self.axes)

    @property
    def shape(self) -> tuple:
        return tuple(len(a) for a in self.axes)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.axes else 1

    @property
    def axis_names(self) -> tuple:
        return tuple(a.name for a in self.axes)

    @property
    def max_modes(self) -> int:
        return int(max(self.values_of("modes")))

    def values_of(self, name) -> tuple:
        """The values a parameter takes over the sweep (one for a fixed parameter)."""
        for a in self.axes:
            if a.name == name:
                return a.values
        return (self.fixed[name],)

    # --- points ---------------------------------------------------------------------
    def point(self, index: int) -> dict:
        """All parameters of point ``index`` (fixed ones, then this point's axis values)."""
        p = dict(self.fixed)
        if self.axes:
            for a, k in zip(self.axes, np.unravel_index(int(index), self.shape)):
                p[a.name] = a.values[int(k)]
        return p

    def rule(self, point: dict) -> Rule:
        key = (point["metric"], point["variant"], point.get("beta"), point["alpha"], point["eps"], point["normalize"],
               point["predictor"])
        if key not in self._rules:
            self._rules[key] = Rule(*key[:2], beta=key[2], alpha=key[3], eps=key[4], normalize=key[5],
                                    predictor=key[6])
        return self._rules[key]

    def structural_key(self, point: dict) -> tuple:
        return (point["metric"], point["variant"], point.get("beta") is not None, point["modes"], point["normalize"],
                point["predictor"])

    def lr(self, point: dict) -> float:
        """The point's learning rate; the paper's for its rule when not given (SPEC §5)."""
        if point.get("lr") is not None:
            return float(point["lr"])
        from isodyn.dynamics.paper import paper_lr

        return paper_lr(self.rule(point))

    def initial_spectrum(self, index: int, point: dict) -> np.ndarray:
        """s_m at step 0, ascending, shape (modes,) float64 (SPEC §4: s = (1+σ1²) S²)."""
        if "s0" in self.fixed:
            return np.sort(np.asarray(self.fixed["s0"], dtype=np.float64))
        m, lo, hi = point["modes"], point["s0_lo"], point["s0_hi"]
        if point["s0_family"] == "logspace":
            return np.geomspace(lo, hi, m) if m > 1 else np.array([math.sqrt(lo * hi)])
        rng = np.random.default_rng(np.random.SeedSequence([point["seed"], int(index)]))
        return np.sort(np.exp(rng.uniform(math.log(lo), math.log(hi), m)))

    # --- identity ---------------------------------------------------------------------
    def canonical(self) -> dict:
        return {
            "axes": [[a.name, list(a.values)] for a in self.axes],
            "fixed": self.fixed,
            "run": self.run,
            "keep": self.keep,
        }

    @property
    def digest(self) -> str:
        """Hash of everything that determines the results (not the file's comments or layout)."""
        text = json.dumps(self.canonical(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def attributes(self) -> dict:
        """Fixed parameters and run options as netCDF-safe attributes (no None, no bool)."""
        out = {}
        for k, v in {**self.fixed, **{f"run_{k}": v for k, v in self.run.items()},
                     **{f"keep_{k}": v for k, v in self.keep.items()}}.items():
            if v is None:
                continue
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, (list, tuple)):
                v = np.asarray(v, dtype=np.float64)
            out[k] = v
        return out


# --- parsing ------------------------------------------------------------------------------


def _axis_values(key: str, raw, check) -> tuple:
    if isinstance(raw, dict):
        if len(raw) != 1 or next(iter(raw)) not in ("linspace", "logspace"):
            raise InputError(key, raw, _AXIS_FORMS)
        kind, args = next(iter(raw.items()))
        if not (isinstance(args, list) and len(args) == 3):
            raise InputError(key, raw, _AXIS_FORMS)
        start, stop, num = args
        for x in (start, stop):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise InputError(key, raw, _AXIS_FORMS)
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise InputError(key, raw, _AXIS_FORMS, "empty or malformed axis")
        if kind == "logspace":
            if start <= 0 or stop <= 0:
                raise InputError(key, raw, _AXIS_FORMS)
            vals = np.geomspace(start, stop, num)
        else:
            vals = np.linspace(start, stop, num)
        raw = [float(v) for v in vals]
    if not isinstance(raw, list):
        raise InputError(key, raw, _AXIS_FORMS)
    if not raw:
        raise InputError(key, raw, _AXIS_FORMS, "empty axis")
    vals = tuple(check(f"{key}[{i}]", v) for i, v in enumerate(raw))
    if len(set(vals)) != len(vals):
        raise InputError(key, raw, _AXIS_FORMS, "repeated values in")
    return vals


def _table(doc: dict, name: str, vocab: dict) -> dict:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise InputError(name, t, "a table [" + name + "]")
    for k in t:
        if k not in vocab:
            raise InputError(f"{name}.{k}", k, f"keys of [{name}]: " + ", ".join(vocab), "unknown key")
    return t


def parse_spec(text: str, source: str = "<spec>") -> SweepSpec:
    """Parse and check a TOML spec; raises InputError (a TOML error too)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # the parser's message, its line and column kept whole
        first = str(e).splitlines()[0]
        where = re.search(r"\(at (line \d+, column \d+)\)", first)
        message = first[: where.start()].strip() if where else first
        raise InputError(f"toml ({where.group(1)})" if where else "toml", message.lower(), "a valid TOML document",
                         "not TOML:") from None
    for k in doc:
        if k not in TABLES:
            raise InputError(k, k, "tables " + ", ".join(f"[{t}]" for t in TABLES), "unknown key")

    run_raw = _table(doc, "run", RUN)
    keep_raw = _table(doc, "keep", KEEP)
    fixed_raw = _table(doc, "fixed", {**PARAMS, "s0": None})
    axes_raw = _table(doc, "axes", PARAMS)

    run = {k: (chk(f"run.{k}", run_raw[k]) if k in run_raw else d) for k, (chk, d) in RUN.items()}
    keep = {k: (chk(f"keep.{k}", keep_raw[k]) if k in keep_raw else d) for k, (chk, d) in KEEP.items()}

    axes = []
    for k, raw in axes_raw.items():
        if k in fixed_raw:
            raise InputError(f"axes.{k}", k, "a parameter either in [fixed] or in [axes], not both", "repeated key")
        axes.append(Axis(k, _axis_values(f"axes.{k}", raw, PARAMS[k][0])))
    if not axes:
        raise InputError("axes", {}, "at least one parameter axis in [axes], e.g. lr = [0.01, 0.1]", "no axes in")

    fixed = {}
    for k, (chk, default) in PARAMS.items():
        if k in fixed_raw:
            fixed[k] = chk(f"fixed.{k}", fixed_raw[k])
        elif k not in axes_raw:
            fixed[k] = default
    if "s0" in fixed_raw:
        s0 = fixed_raw["s0"]
        acc = "a non-empty list of reals > 0 (the initial eigenvalues s_m)"
        if not isinstance(s0, list) or not s0:
            raise InputError("fixed.s0", s0, acc)
        chk = PARAMS["s0_lo"][0]
        fixed["s0"] = [chk(f"fixed.s0[{i}]", v) for i, v in enumerate(s0)]
        clash = [k for k in ("modes", "s0_lo", "s0_hi", "s0_family") if k in fixed_raw or k in axes_raw]
        if clash:
            raise InputError(f"fixed.{clash[0]}", clash[0], "either fixed.s0 or modes/s0_lo/s0_hi/s0_family",
                            "conflicts with fixed.s0:")
        fixed["modes"] = len(fixed["s0"])

    spec = SweepSpec(tuple(axes), fixed, run, keep, source=source, name=Path(source).stem or "sweep")
    _check_combinations(spec, axes_raw, fixed_raw)
    return spec


def _where(name, axes_raw) -> str:
    return f"axes.{name}" if name in axes_raw else f"fixed.{name}"


def _check_combinations(spec: SweepSpec, axes_raw, fixed_raw) -> None:
    """Cross-key checks over every combination of the rule axes (cheap: rules only)."""
    if spec.n_points > MAX_POINTS:
        raise InputError("axes", spec.n_points, f"at most {MAX_POINTS} points", "too many points:")
    names = ("metric", "variant", "beta", "alpha", "eps", "normalize", "predictor")
    grids = [spec.values_of(n) for n in names]
    for combo in np.ndindex(*[len(g) for g in grids]):
        p = {n: g[i] for n, g, i in zip(names, grids, combo)}
        try:
            Rule(p["metric"], p["variant"], beta=p["beta"], alpha=p["alpha"], eps=p["eps"], normalize=p["normalize"],
                 predictor=p["predictor"])
        except InputError as e:  # the rule names its keyword; the spec its key
            raise e.at(_where(spec_key(e.flag), axes_raw)) from None
    if "trainable" not in spec.values_of("predictor"):
        for name in TRAINED:
            if name in axes_raw or name in fixed_raw:
                raise InputError(_where(name, axes_raw), name, "only with predictor = trainable", "invalid key")
    metrics = set(spec.values_of("metric"))
    if spec.run["closure"] is not None and "cosine" not in metrics:
        raise InputError("run.closure", spec.run["closure"], "only with metric = cosine", "invalid value")
    if spec.run["recruit_stride"] is not None and spec.run["recruit_stride"] > spec.run["steps"]:
        raise InputError("run.recruit_stride", spec.run["recruit_stride"],
                        f"an integer in [1, run.steps = {spec.run['steps']}]")
    if "s0" not in spec.fixed:
        for lo in spec.values_of("s0_lo"):
            for hi in spec.values_of("s0_hi"):
                if lo > hi:
                    raise InputError(_where("s0_hi", axes_raw), hi, f"a real >= s0_lo ({lo:g})")
    stride = spec.keep["stride"]
    if spec.keep["trajectories"]:
        if stride > spec.run["steps"]:
            raise InputError("keep.stride", stride, f"an integer in [1, run.steps = {spec.run['steps']}]")
        n_save = spec.run["steps"] // stride + 1
        nbytes = spec.n_points * spec.max_modes * n_save * 8 * 2
        if nbytes > MAX_BYTES:
            raise InputError("keep.stride", stride, f"a stride keeping the trajectories under {MAX_BYTES // 2**30} GiB "
                            f"(now {nbytes / 2**30:.1f} GiB)")


def load_spec(path) -> SweepSpec:
    """Read and check a spec file; an unreadable file is an InputError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError("SPEC", str(path), "a readable TOML file", f"cannot read ({e.__class__.__name__})") from None
    return parse_spec(text, source=str(path))
