"""isodyn - why non-contrastive self-supervised learning does not collapse, mode by mode.

The public API (SPEC.md sections in brackets)::

    import isodyn
    rule = isodyn.Rule("euclidean", "iso", alpha=1.0)             # a learning rule (§3)
    tr = isodyn.simulate(rule, [1e-3, 1e-2, 1e-1, 1.0])            # its mode equations (§4) -> Trajectory
    batch = isodyn.simulate_batch(rule, s0, lr=[0.01, 0.1])        # many parameter points in one call
    run = isodyn.train(isodyn.NetworkConfig(rule), steps=1500)     # sampled network training (§2-4)
    g = isodyn.representation_gradient(rule, Z1, Z2, Wp)           # per-sample dl/dz1 (§3)
    isodyn.validate(...)                                           # sampled training vs the mode equations
    isodyn.run_sweep(isodyn.load_spec("spec.toml"), "out.nc")      # parameter-space sweeps
    isodyn.reproduce("isodyn-output", quick=True)                  # every figure and the report (§5-6)
    isodyn.derivation(rule)                                        # the derivation as Markdown / LaTeX
    except isodyn.InputError as e: e.flag, e.value, e.accepted     # every bad input (rules, simulate, specs)

Names are loaded on first use, so ``import isodyn`` is cheap; the subpackages are
``isodyn.derivations`` (sympy; the only place a formula is written), ``isodyn.dynamics`` (code
generation, integrators, networks, sweeps, benchmarks, the command line) and ``isodyn.figures``
(plots and the report).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isodyn")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: public name -> module that defines it
_API = {
    "Rule": "isodyn.derivations.rules",
    "InputError": "isodyn.derivations.checks",
    "derivation": "isodyn.derivations.render",
    "simulate": "isodyn.dynamics.modes.simulation",
    "simulate_batch": "isodyn.dynamics.modes.simulation",
    "Trajectory": "isodyn.dynamics.modes.trajectory",
    "ExactGrid": "isodyn.dynamics.modes.exact",
    "representation_gradient": "isodyn.dynamics.network.gradients",
    "target_gradient": "isodyn.dynamics.network.gradients",
    "NetworkConfig": "isodyn.dynamics.network.trainer",
    "NetworkRun": "isodyn.dynamics.network.run",
    "NetworkTrainer": "isodyn.dynamics.network.trainer",
    "train": "isodyn.dynamics.network.trainer",
    "init_weights": "isodyn.dynamics.network.trainer",
    "validate": "isodyn.dynamics.network.validation",
    "SweepSpec": "isodyn.dynamics.sweep.spec",
    "load_spec": "isodyn.dynamics.sweep.spec",
    "parse_spec": "isodyn.dynamics.sweep.spec",
    "run_sweep": "isodyn.dynamics.sweep.run",
    "reproduce": "isodyn.figures.reproduce",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        obj = getattr(import_module(_API[name]), "run" if name == "reproduce" else name)
        globals()[name] = obj
        return obj
    raise AttributeError(f"module 'isodyn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
