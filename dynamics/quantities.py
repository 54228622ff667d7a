"""One vocabulary for the quantities isodyn writes: the name (the JSON summary's), a long name and units
(CF conventions: "1" for a dimensionless number or a count), and for flags their values and meanings.
Every netCDF writer (modes.trajectory, sweep.run, network.io) labels its variables from here, so a quantity is
described once wherever it is stored."""

from __future__ import annotations

from isodyn.dynamics.measures import OUTCOMES

#: global attribute of every netCDF file isodyn writes
CONVENTIONS = "CF-1.10"

_BOOL = {"flag_values": [0, 1], "flag_meanings": "false true"}

#: name -> attributes (long_name, units, and flag_values / flag_meanings for flags)
QUANTITIES: dict[str, dict] = {
    "step": {"long_name": "training step (expected-GD map step; ODE time = lr * step)", "units": "1"},
    "time": {"long_name": "ODE time t = lr * step", "units": "1"},
    "mode": {"long_name": "mode index m (in the order of s0)", "units": "1"},
    "point": {"long_name": "parameter point index", "units": "1"},
    "s": {"long_name": "eigenvalue s_m = (1 + sigma1^2) S_m^2 of the online correlation", "units": "1"},
    "lam": {"long_name": "predictor eigenvalue lambda_m the dynamics sees", "units": "1"},
    "s0": {"long_name": "initial eigenvalue s_m", "units": "1"},
    "lam0": {"long_name": "initial predictor eigenvalue lambda_m", "units": "1"},
    "s_final": {"long_name": "eigenvalue s_m of the last finite state", "units": "1"},
    "lam_final": {"long_name": "predictor eigenvalue lambda_m of the last finite state", "units": "1"},
    "status": {"long_name": "integration status", "units": "1", "flag_values": [0, 1, 2, 3],
               "flag_meanings": "ok diverged step_size_underflow too_many_steps"},
    "diverged_step": {"long_name": "step at which the run diverged (-1: none)", "units": "1"},
    "final_step": {"long_name": "last step with a finite state within the bound", "units": "1"},
    "rhs_evaluations": {"long_name": "right-hand-side (drift) evaluations", "units": "1"},
    "dead": {"long_name": "mode dead at the end (s_m <= DEAD max s0)", "units": "1", **_BOOL},
    "n_dead": {"long_name": "number of dead modes (dimensional collapse when 0 < n_dead < M)", "units": "1"},
    "collapsed": {"long_name": "every mode dead", "units": "1", **_BOOL},
    "diverged": {"long_name": "diverged (non-finite or beyond the bound)", "units": "1", **_BOOL},
    "converged": {"long_name": "every live mode at rest at the end (a live mode required)", "units": "1", **_BOOL},
    "rate": {"long_name": "relative rate |dS_m/dt| / |S_m| at the last state", "units": "1"},
    "recruit_steps": {"long_name": "for a mode that rose (s_m(end) >= 2 s_m(0), alive): the first saved step "
                                   "within 1% of its final value; -1 for the others and diverged runs",
                      "units": "1"},
    "effective_rank": {"long_name": "participation ratio (sum s)^2 / sum s^2 at the end", "units": "1"},
    "isotropy": {"long_name": "min lambda / max lambda at the end", "units": "1"},
    "closure_error": {"long_name": "exact closure: relative quadrature error at the initial and final state",
                      "units": "1"},
    "W": {"long_name": "final online weights W (out x in)", "units": "1"},
    "Wt": {"long_name": "final target weights W_t (out x in)", "units": "1"},
    "probes": {"long_name": "probe inputs' representations W x_probe", "units": "1"},
    "alignment": {"long_name": "eigenspace alignment ||[C, W_P]|| / (||C|| ||W_P||) of the trained predictor",
                  "units": "1"},
    "asymmetry": {"long_name": "asymmetry ||W_P - W_P^T|| / ||W_P|| of the trained predictor", "units": "1"},
    "eigvec_alignment": {"long_name": "|u_m^T W_P u_m| / ||W_P u_m|| of the trained predictor along the "
                                      "correlation's eigenvectors u_m", "units": "1"},
    "Wp": {"long_name": "final trained predictor W_P (mode x mode)", "units": "1"},
    "Wp_history": {"long_name": "trained predictor W_P at each saved step", "units": "1"},
    "mode_col": {"long_name": "column index of W_P", "units": "1"},
    "out": {"long_name": "output unit index", "units": "1"},
    "in": {"long_name": "input unit index", "units": "1"},
    "probe": {"long_name": "probe index", "units": "1"},
    "outcome": {"long_name": "outcome of the run", "units": "1", "flag_values": list(range(len(OUTCOMES))),
                "flag_meanings": " ".join(OUTCOMES)},
}

#: parameters (the library keywords) -> long name; written as param_<name> variables or attributes
PARAMETERS = {
    "lr": "learning rate eta", "sigma1": "online view noise sigma1", "sigma2": "target view noise sigma2",
    "weight_decay": "weight decay gamma", "ema": "target EMA momentum tau", "alpha": "predictor exponent alpha",
    "eps": "predictor offset epsilon", "normalize": "predictor normalised by max s (1/0)",
    "beta": "IsoLoss-family exponent beta", "rho": "predictor lag rho", "s_bound": "divergence bound on s",
    "predictor_lr_ratio": "trained predictor's learning-rate ratio alpha_p",
    "predictor_weight_decay": "trained predictor's weight decay gamma_p",
}


def attributes(name: str) -> dict:
    """The CF attributes of quantity ``name`` (a parameter variable ``param_<p>``: its long name, units "1")."""
    if name in QUANTITIES:
        return dict(QUANTITIES[name])
    if name.startswith("param_") and name[6:] in PARAMETERS:
        return {"long_name": PARAMETERS[name[6:]], "units": "1"}
    raise KeyError(f"no description of the quantity {name!r} (add it to dynamics/quantities.py)")


def label(ds) -> None:
    """Give every data variable and coordinate of the xarray Dataset ``ds`` its attributes (in place)."""
    for name in list(ds.data_vars) + list(ds.coords):
        ds[name].attrs.update(attributes(str(name)))
    ds.attrs.setdefault("Conventions", CONVENTIONS)


def command() -> str:
    """The command line that made a file (CF's ``history``); the Python API says so."""
    import shlex
    import sys

    return "isodyn " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "isodyn (Python API)"


def stamp(ds, title: str) -> None:
    """The global attributes every isodyn netCDF file carries (in place): Conventions, title, source (isodyn and
    its version), history (the command)."""
    import isodyn

    ds.attrs.update(Conventions=CONVENTIONS, title=title, source=f"isodyn {isodyn.__version__}", history=command())
