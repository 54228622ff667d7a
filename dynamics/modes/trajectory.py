"""Result of a mode-dynamics run: frames, measures and every parameter (issue 3; ARCHITECTURE.md).

A :class:`Trajectory` holds one run (arrays (T, M)) or a batch (leading point axis: (B, T, M)).
``to_xarray()`` labels the arrays (dims ``point``, ``step``, ``mode``; every parameter an attribute
when it is shared, a variable along ``point`` when it varies); ``write(path)`` writes ``.nc``
(netCDF via xarray, scipy engine) or ``.npz`` atomically; ``summary()`` is the JSON summary of
the CLI contract.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isodyn.dynamics import quantities
from isodyn.dynamics.files import atomic_write


@dataclass
class Trajectory:
    """Mode trajectories of B points (``batched``) or of one point.

    rule        derivations.Rule
    params      name -> scalar or (B,) array: lr, sigma1, sigma2, weight_decay, ema, alpha, eps,
                normalize, beta, rho, s_bound (the compiled loop's parameter columns) and run options
    step        (T,) saved training steps; time = lr * step (ODE time)
    s, lam      (..., T, M) eigenvalues s_m and predictor eigenvalues lambda_m (NaN after divergence)
    s0          (..., M) initial eigenvalues
    s_final, lam_final   (..., M) last finite state's eigenvalues (the end state unless diverged)
    status      (...) int, integrators.STATUS codes; diverged_step (...) int (-1: none)
    final_step  (...) last step with a finite state within the bound
    measures    name -> array (...) or (..., M): collapsed, n_dead, dead, diverged, converged, rate,
                recruit_steps, effective_rank, isotropy
    rhs_evaluations   (...) right-hand-side (drift) evaluations

    Names are the JSON summary's (ARCHITECTURE.md), in Python, .nc and .npz alike; ``s_last``, ``lam_last``,
    ``last_step`` and ``nrhs`` (the names before) stay readable as properties for one release.
    seconds     wall time of the compiled integration
    extra       closure accuracy (grid, achieved relative error) and other run facts
    """

    rule: object
    scheme: str
    closure: str
    params: dict
    step: np.ndarray
    s: np.ndarray
    lam: np.ndarray
    s0: np.ndarray
    s_final: np.ndarray
    lam_final: np.ndarray
    status: np.ndarray
    diverged_step: np.ndarray
    final_step: np.ndarray
    measures: dict
    rhs_evaluations: np.ndarray
    seconds: float
    batched: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def time(self) -> np.ndarray:
        """ODE time lr * step: (T,) or (B, T) when lr varies across points."""
        lr = np.asarray(self.params["lr"], dtype=float)
        return lr[..., None] * self.step

    @property
    def steps(self) -> int:
        return int(self.step[-1])

    # --- the names before this release (readable for one release) ----------------------------
    @property
    def s_last(self) -> np.ndarray:
        """Old name of :attr:`s_final`."""
        return self.s_final

    @property
    def lam_last(self) -> np.ndarray:
        """Old name of :attr:`lam_final`."""
        return self.lam_final

    @property
    def last_step(self) -> np.ndarray:
        """Old name of :attr:`final_step`."""
        return self.final_step

    @property
    def nrhs(self) -> np.ndarray:
        """Old name of :attr:`rhs_evaluations`."""
        return self.rhs_evaluations

    def point(self, i: int) -> Trajectory:
        """Point i of a batch as a one-point Trajectory."""
        if not self.batched:
            raise ValueError("not a batch")

        def pick(v):
            v = np.asarray(v)
            return v[i] if v.ndim >= 1 and v.shape[0] == self.s.shape[0] else v

        params = {k: (pick(v).item() if np.ndim(pick(v)) == 0 else pick(v)) for k, v in self.params.items()}
        return Trajectory(self.rule, self.scheme, self.closure, params, self.step, self.s[i], self.lam[i],
                          self.s0[i], self.s_final[i], self.lam_final[i], self.status[i], self.diverged_step[i],
                          self.final_step[i], {k: v[i] for k, v in self.measures.items()}, self.rhs_evaluations[i],
                          self.seconds, False, dict(self.extra))

    # --- labelled arrays and files -----------------------------------------------------------

    def parameter_set(self) -> dict:
        """Every parameter (rule, dynamics, run options) as plain JSON values."""
        out = {"rule": self.rule.as_dict(), "scheme": self.scheme, "closure": self.closure}
        for k, v in self.params.items():
            v = np.asarray(v)
            out[k] = v.item() if v.ndim == 0 else v.tolist()
        return out

    def to_xarray(self):
        """xarray.Dataset: s, lam (point?, step, mode), measures, parameters as attributes/variables."""
        import xarray as xr

        pd = ("point",) if self.batched else ()
        ds = xr.Dataset(
            {
                "s": (pd + ("step", "mode"), self.s),
                "lam": (pd + ("step", "mode"), self.lam),
                "s0": (pd + ("mode",), self.s0),
                "s_final": (pd + ("mode",), self.s_final),
                "lam_final": (pd + ("mode",), self.lam_final),
                "status": (pd, np.asarray(self.status, dtype=np.int32)),
                "diverged_step": (pd, np.asarray(self.diverged_step, dtype=np.int32)),
                "final_step": (pd, np.asarray(self.final_step, dtype=np.int32)),
                "rhs_evaluations": (pd, np.asarray(self.rhs_evaluations, dtype=np.int32)),
            },
            coords={"step": np.asarray(self.step, dtype=np.int32), "mode": np.arange(self.s.shape[-1])},
        )
        if not self.batched or np.ndim(self.params["lr"]) == 0:
            ds = ds.assign_coords(time=("step", np.asarray(self.params["lr"], dtype=float) * self.step))
        for k, v in self.measures.items():
            v = np.asarray(v)
            if v.dtype == bool:
                v = v.astype(np.int8)
            elif v.dtype.kind == "i":
                v = v.astype(np.int32)
            dims = pd + (("mode",) if v.ndim > len(pd) else ())
            ds[k] = (dims, v)
        attrs = {"rule": json.dumps(self.rule.as_dict()), "metric": self.rule.metric, "variant": self.rule.variant,
                 "scheme": self.scheme, "closure": self.closure, "seconds": float(self.seconds)}
        for k, v in self.params.items():
            v = np.asarray(v)
            if v.ndim == 0:
                attrs[k] = v.item() if v.dtype.kind != "b" else int(v)
            else:
                ds["param_" + k] = (pd, v.astype(float))
        for k, v in self.extra.items():
            attrs[k] = v if isinstance(v, (int, float, str)) else json.dumps(v)
        ds.attrs.update({k: v for k, v in attrs.items() if v is not None})
        quantities.label(ds)
        quantities.stamp(ds, f"isodyn mode equations: {self.rule.name}")
        return ds

    def write(self, path) -> Path:
        """Write .nc (netCDF via xarray) or .npz, atomically; returns the path."""
        path = Path(path)
        if path.suffix == ".nc":
            data = self.to_xarray().to_netcdf(None, engine="scipy")
            atomic_write(path, bytes(data))
        elif path.suffix == ".npz":
            buf = io.BytesIO()
            arrays = {"step": self.step, "s": self.s, "lam": self.lam, "s0": self.s0, "s_final": self.s_final,
                      "lam_final": self.lam_final, "status": self.status, "diverged_step": self.diverged_step,
                      "final_step": self.final_step, "rhs_evaluations": self.rhs_evaluations}
            arrays.update({"measure_" + k: np.asarray(v) for k, v in self.measures.items()})
            arrays["parameters"] = np.array(json.dumps({**self.parameter_set(), **self.extra}))
            np.savez(buf, **arrays)
            atomic_write(path, buf.getvalue())
        else:
            raise ValueError(f"output path must end in .nc or .npz, got {path.name!r}")
        return path

    # --- JSON summary (CLI contract) ---------------------------------------------------------

    def summary(self) -> dict:
        """The JSON summary of ARCHITECTURE.md for a single run (no NaN anywhere).

        s_final, lam_final ascending (of the last finite state); recruit_steps per mode in the order of
        s0 (null: never, dead or diverged); diverged_step null unless diverged.
        """
        if self.batched:
            raise ValueError("summary() is per point; use .point(i).summary()")
        m = self.measures
        rec = [None if int(r) < 0 else int(r) for r in np.asarray(m["recruit_steps"])]
        div = bool(m["diverged"])
        out = {
            "s_final": sorted(float(x) for x in self.s_final),
            "lam_final": sorted(float(x) for x in self.lam_final),
            "steps": self.steps,
            "collapsed": bool(m["collapsed"]),
            "diverged": div,
            "diverged_step": int(self.diverged_step) if div else None,
            "recruit_steps": rec,
            "seconds": float(self.seconds),
            "s0": [float(x) for x in self.s0],
            "s_final_by_mode": [float(x) for x in self.s_final],
            "final_step": int(self.final_step),
            "n_dead": int(m["n_dead"]),
            "dead_modes": [int(i) for i in np.flatnonzero(m["dead"])],
            "converged": bool(m["converged"]),
            "effective_rank": float(m["effective_rank"]),
            "isotropy": float(m["isotropy"]),
            "status": _status_name(int(self.status)),
            "rhs_evaluations": int(self.rhs_evaluations),
            "parameters": self.parameter_set(),
        }
        out.update(self.extra)
        return out


def _status_name(code: int) -> str:
    from isodyn.dynamics.modes.integrators import STATUS

    return STATUS.get(code, str(code))

