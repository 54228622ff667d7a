"""The explorer's state: its controls (one ``param`` object, the URL's query string), their check, the run
they ask for, its result and the equivalent ``isodyn simulate`` command line.

Every value is checked by :mod:`isodyn.derivations.checks` (directly, or by :class:`isodyn.Rule` and
:func:`isodyn.simulate`), so bad input is one :class:`~isodyn.derivations.checks.InputError` naming the control
by its command-line flag; the page shows it and keeps the last good views.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass

import numpy as np
import param

from isodyn.derivations import METRICS, PREDICTORS, VARIANTS, InputError, Rule
from isodyn.derivations.checks import PARAMETERS, Integer, Real, cli_flag
from isodyn.dynamics.modes import log_spaced, simulate
from isodyn.dynamics.modes.theory import closed_form_lambda, growth_rates
from isodyn.dynamics.paper import paper_lr

#: the explorer's size limits (a redraw must stay interactive)
MAX_STEPS, MAX_MODES, MAX_FRAMES = 20_000, 64, 2_000
_STEPS, _MODES = Integer(lo=1, hi=MAX_STEPS), Integer(lo=1, hi=MAX_MODES)
_POSITIVE = Real("a positive finite real", lo=0.0, lo_open=True)
GRID = 200  # points of the growth-rate curve

#: control -> the simulate flag it stands for (the URL keeps the controls' own names)
FLAGS = {"metric": "--metric", "variant": "--variant", "beta": "--beta", "alpha": "--alpha", "eps": "--eps",
         "predictor": "--predictor", "predictor_lr_ratio": "--predictor-lr-ratio",
         "predictor_weight_decay": "--predictor-weight-decay", "sigma1": "--sigma-online",
         "sigma2": "--sigma-target", "weight_decay": "--weight-decay", "ema": "--ema", "lr": "--lr",
         "steps": "--steps", "modes": "--modes", "s0_range": "--s0-range", "s0_values": "--s0",
         "closure": "--closure", "scheme": "--scheme"}


class Controls(param.Parameterized):
    """Every control of the explorer; blank texts mean the default named in the label."""

    metric = param.Selector(objects=list(METRICS), default="euclidean")
    variant = param.Selector(objects=list(VARIANTS), default="standard")
    beta = param.String(default="", doc="IsoLoss exponent (blank: the variant's)")
    alpha = param.Number(default=1.0, softbounds=(0.0, 3.0), step=0.05)
    eps = param.Number(default=0.0, softbounds=(0.0, 0.5), step=0.01)
    normalize = param.Boolean(default=False)
    predictor = param.Selector(objects=list(PREDICTORS), default="closed-form")
    predictor_lr_ratio = param.Number(default=1.0, softbounds=(0.01, 10.0), step=0.1)
    predictor_weight_decay = param.String(default="", doc="gamma_p (blank: the weight decay)")
    sigma1 = param.Number(default=0.0, softbounds=(0.0, 2.0), step=0.01)
    sigma2 = param.Number(default=0.1, softbounds=(0.0, 2.0), step=0.01)
    weight_decay = param.Number(default=0.0, softbounds=(0.0, 1.0), step=0.005)
    ema = param.Number(default=0.0, softbounds=(0.0, 0.999), step=0.01)
    lr = param.String(default="", doc="learning rate (blank: the paper's)")
    steps = param.Integer(default=1500, softbounds=(1, MAX_STEPS))
    spectrum = param.Selector(objects=["range", "values"], default="range")
    modes = param.Integer(default=10, softbounds=(1, MAX_MODES))
    s0_range = param.String(default="0.001,1")
    s0_values = param.String(default="0.001,0.01,0.1,1")
    closure = param.Selector(objects=["exact", "mean-field"], default="mean-field")
    scheme = param.Selector(objects=["map", "rk4", "dopri5"], default="map")

    def values(self) -> dict:
        return {k: getattr(self, k) for k in FLAGS} | {"normalize": self.normalize, "spectrum": self.spectrum}


@dataclass(frozen=True)
class Request:
    """A checked run: the rule, the initial spectrum (M,), simulate's keyword arguments."""

    rule: Rule
    s0: np.ndarray
    kw: dict

    @property
    def closure(self) -> str:
        return self.kw["closure"] if self.rule.metric == "cosine" else "mean-field"


def _optional(name: str, text: str):
    """A blank text (None) or the parameter ``name`` in its domain."""
    text = str(text).strip()
    return None if not text else PARAMETERS[name](name, _real(name, text))


def _real(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(name, text, "a finite real") from None


def _reals(name: str, text: str, n: int | None = None, accepted: str = "comma-separated positive reals"):
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts) or (n is not None and len(parts) != n):
        raise InputError(name, text, accepted)
    try:
        return [_POSITIVE(name, float(p)) for p in parts]
    except (ValueError, InputError):
        raise InputError(name, text, accepted) from None


def request(v: dict) -> Request:
    """The run the control values ``v`` (:meth:`Controls.values`) ask for; InputError naming the flag."""
    try:
        return _request(v)
    except InputError as e:
        raise e.at(FLAGS.get(e.flag, cli_flag(e.flag))) from None


#: the exact closure's quadrature accuracy in the explorer (relative; simulate's default is 1e-8): at 1e-6 a 1,500-step
#: M = 10 cosine trajectory moves by ~2e-8 relative (invisible on the log plot) and most grid refinements are skipped
#: (a redraw at weight decay 0.01: ~1.1 s instead of ~3.5 s); the equivalent command line carries it
EXACT_TOL = 1e-6


def _request(v: dict) -> Request:
    rule = Rule(v["metric"], v["variant"], beta=_optional("beta", v["beta"]), alpha=v["alpha"], eps=v["eps"],
                normalize=v["normalize"], predictor=v["predictor"])
    steps = _STEPS("steps", v["steps"])
    if v["spectrum"] == "values":
        s0 = np.array(_reals("s0_values", v["s0_values"]))
        _MODES("s0_values", len(s0))
    else:
        lo, hi = _reals("s0_range", v["s0_range"], 2, "two positive reals lo,hi with lo <= hi")
        if lo > hi:
            raise InputError("s0_range", v["s0_range"], "two positive reals lo,hi with lo <= hi")
        s0 = log_spaced(_MODES("modes", v["modes"]), lo, hi)
    lr = _optional("lr", v["lr"])
    kw = dict(lr=paper_lr(rule) if lr is None else lr, steps=steps, sigma1=v["sigma1"], sigma2=v["sigma2"],
              weight_decay=v["weight_decay"], ema=v["ema"], scheme=v["scheme"], closure=v["closure"],
              stride=max(1, -(-steps // MAX_FRAMES)))
    for name in ("sigma1", "sigma2", "weight_decay", "ema"):
        PARAMETERS[name](name, kw[name])
    if rule.metric == "cosine" and kw["closure"] == "exact":
        kw["exact_tol"] = EXACT_TOL
    if rule.trainable:
        kw["predictor_lr_ratio"] = PARAMETERS["predictor_lr_ratio"]("predictor_lr_ratio", v["predictor_lr_ratio"])
        gp = _optional("predictor_weight_decay", v["predictor_weight_decay"])
        if gp is not None:
            kw["predictor_weight_decay"] = gp
    return Request(rule, np.asarray(s0, dtype=float), kw)


@dataclass
class Result:
    """What the views draw: the trajectory and the growth-rate curve at its end."""

    request: Request
    step: np.ndarray  # (T,)
    s: np.ndarray  # (T, M)
    s_final: np.ndarray  # (M,) in the order of s0
    lam_final: np.ndarray
    s_grid: np.ndarray  # (GRID,)
    rate: np.ndarray  # (GRID,) growth rate G/S of the closed-form predictor at s
    rate_final: np.ndarray  # (M,) the rate of each mode at the end (its own lambda)
    summary: dict

    def export_data(self) -> dict:
        r = self.request.rule
        return dict(step=self.step, s=self.s, s_grid=self.s_grid, rate=self.rate, s_final=self.s_final,
                    rate_final=self.rate_final, gamma=self.request.kw["weight_decay"], title=r.name)


#: one run at a time in this process (numba's compilation and the kernel cache are shared by the sessions)
RUN_LOCK = threading.Lock()


def compute(req: Request) -> Result:
    """Integrate ``req`` (:func:`isodyn.simulate`) and evaluate the growth rates at its end
    (:func:`isodyn.dynamics.modes.theory.growth_rates`)."""
    with RUN_LOCK:
        tr = simulate(req.rule, req.s0, **req.kw)
    s = np.asarray(tr.s, dtype=float)
    finite = np.isfinite(tr.s_final) & (tr.s_final > 0)
    end_s = np.where(finite, tr.s_final, np.nan)
    state_s = end_s[finite] if finite.any() else req.s0
    state_lam = np.asarray(tr.lam_final, dtype=float)[finite] if finite.any() else closed_form_lambda(req.rule,
                                                                                                      req.s0)
    pos = s[np.isfinite(s) & (s > 0)]
    lo, hi = (float(pos.min()), float(pos.max())) if pos.size else (float(req.s0.min()), float(req.s0.max()))
    s_grid = np.geomspace(lo / 3, hi * 1.5, GRID)
    sig = dict(sigma1=req.kw["sigma1"], sigma2=req.kw["sigma2"])
    rate = growth_rates(req.rule, s_grid, state_s, state_lam, **sig)
    rate_final = np.full(req.s0.shape, np.nan)
    if finite.any():
        rate_final[finite] = growth_rates(req.rule, state_s, state_s, state_lam, lam=state_lam, **sig)
    return Result(req, np.asarray(tr.step, dtype=float), s, np.asarray(tr.s_final, dtype=float),
                  np.asarray(tr.lam_final, dtype=float), s_grid, rate, rate_final, tr.summary())


def command_line(v: dict) -> str:
    """The ``isodyn simulate`` command that runs what the controls ``v`` show (prints the same s_final)."""
    req = request(v)
    args = ["isodyn", "simulate", "--metric", v["metric"], "--variant", v["variant"]]
    if req.rule.beta is not None:
        args += ["--beta", repr(req.rule.beta)]
    args += ["--alpha", repr(float(v["alpha"])), "--eps", repr(float(v["eps"]))]
    if v["normalize"]:
        args.append("--normalize")
    if req.rule.trainable:
        args += ["--predictor", "trainable", "--predictor-lr-ratio", repr(req.kw["predictor_lr_ratio"])]
        if "predictor_weight_decay" in req.kw:
            args += ["--predictor-weight-decay", repr(req.kw["predictor_weight_decay"])]
    kw = req.kw
    for name in ("sigma1", "sigma2", "weight_decay", "ema", "lr", "steps"):
        args += [FLAGS[name], repr(kw[name])]
    if v["spectrum"] == "values":
        args += ["--s0", ",".join(repr(float(x)) for x in req.s0)]
    else:
        args += ["--modes", str(len(req.s0)), "--s0-range", ",".join(p.strip() for p in v["s0_range"].split(","))]
    args += ["--scheme", kw["scheme"]]
    if req.rule.metric == "cosine":
        args += ["--closure", kw["closure"]]
        if "exact_tol" in kw:
            args += ["--exact-tol", repr(kw["exact_tol"])]
    if kw["stride"] > 1:
        args += ["--stride", str(kw["stride"])]
    return shlex.join(args)


def warm_up_jobs(v: dict) -> list:
    """What compiles (or loads from the disk cache) the kernels the controls ``v`` use: [(label, job)], a 2-step
    run of their rule with each scheme and, for a cosine rule, each closure; the controls' own first."""
    req = request(v)
    closures = ("mean-field", "exact") if req.rule.metric == "cosine" else ("mean-field",)
    runs = sorted(((sc, cl) for cl in closures for sc in ("map", "rk4", "dopri5")),
                  key=lambda j: (j != (req.kw["scheme"], req.kw["closure"]), j[1] != req.kw["closure"]))

    def job(scheme, closure):
        with RUN_LOCK:
            simulate(req.rule, req.s0[:2], **{**req.kw, "steps": 2, "stride": 1, "scheme": scheme,
                                              "closure": closure})

    return [(f"{req.rule.name}, {sc}" + (f", {cl}" if len(closures) > 1 else ""),
             lambda sc=sc, cl=cl: job(sc, cl)) for sc, cl in runs]
