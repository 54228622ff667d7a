"""Results of sampled network runs as labelled arrays and files (.nc via xarray, .npz); atomic writes.

Dataset layout (issue 4):  s, lam (step, mode); probes (step, probe, mode) when probes were given;
W, Wt (out, in) final weights; every parameter as an attribute (plus ``parameters_json``).  A trained predictor
(SPEC §7; issue 13) adds alignment, asymmetry (step), eigvec_alignment (step, mode), Wp (mode, mode_col) the
final predictor and, when the run kept it, Wp_history (step, mode, mode_col); lam is then its spectrum.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from isodyn.dynamics import quantities
from isodyn.dynamics.files import atomic_write

SUFFIXES = (".nc", ".npz")


def _attr(v):
    if v is None:
        return "none"
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (list, tuple)):
        return json.dumps(v)
    return v


def _predictor_arrays(run) -> dict:
    """name -> (dims, array) of a trained predictor's histories (empty for the closed-form predictor)."""
    if getattr(run, "alignment", None) is None:
        return {}
    out = {"alignment": (("step",), run.alignment), "asymmetry": (("step",), run.asymmetry),
           "eigvec_alignment": (("step", "mode"), run.eigvec_alignment), "Wp": (("mode", "mode_col"), run.Wp)}
    if run.Wp_history is not None:
        out["Wp_history"] = (("step", "mode", "mode_col"), run.Wp_history)
    return out


def to_dataset(run, summary: dict):
    """xarray.Dataset of a :class:`dynamics.network.NetworkRun` and its JSON summary."""
    import xarray as xr

    steps = np.arange(run.s.shape[0], dtype=np.int32)
    data = {"s": (("step", "mode"), run.s), "lam": (("step", "mode"), run.lam),
            "W": (("out", "in"), run.W), "Wt": (("out", "in"), run.Wt)}
    if run.probes is not None:
        data["probes"] = (("step", "probe", "mode"), run.probes)
    data.update(_predictor_arrays(run))
    ds = xr.Dataset(data, coords={"step": steps})
    params = summary["parameters"]
    ds.attrs.update({k: _attr(v) for k, v in params.items()})
    ds.attrs.update({"backend": run.backend, "grad_impl": run.grad_impl, "diverged": int(run.diverged),
                     "diverged_step": -1 if run.diverged_step is None else int(run.diverged_step),
                     "seconds": float(run.seconds), "parameters_json": json.dumps(params),
                     "summary_json": json.dumps(summary)})
    quantities.label(ds)
    quantities.stamp(ds, f"isodyn sampled training: {params.get('metric', '')}/{params.get('variant', '')}")
    return ds


def write(run, summary: dict, path) -> None:
    """Write atomically; the suffix picks the format (.nc netCDF via xarray, .npz NumPy)."""
    path = Path(path)
    if path.suffix == ".nc":
        atomic_write(path, bytes(to_dataset(run, summary).to_netcdf()))
        return
    if path.suffix != ".npz":
        raise ValueError(f"unknown suffix {path.suffix!r}; accepted: {SUFFIXES}")
    arrays = {"s": run.s, "lam": run.lam, "W": run.W, "Wt": run.Wt,
              "summary_json": np.array(json.dumps(summary))}
    if run.probes is not None:
        arrays["probes"] = run.probes
    arrays.update({k: v for k, (_, v) in _predictor_arrays(run).items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())
