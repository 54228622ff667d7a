"""The integration schemes of the mode equations as data (SPEC §4): Butcher tableaux, error weights,
the continuous extension and the step-size controller; one generic stage loop runs them all
(codegen/templates/integrator_macros.j2, ``rk_step``).

  map     the expected-gradient-descent map, step for step comparable with training:
              C <- rho C + (1 - rho) s(S)       (lagging predictor; lambda = lambda(C))
              S <- S + eta (G(S, S_t, lambda) - gamma S)
              S_t <- tau S_t + (1 - tau) S
          (order 1 as an approximation of the ODE, exact for the map itself)
  rk4     classical Runge-Kutta of order 4, fixed step dt = eta / substeps, on the ODE
              dS/dt = G - gamma S,  dS_t/dt = kappa (S - S_t),  dC/dt = kappa_rho (s - C),
              t = eta * step,  kappa = (1 - tau) / eta,  kappa_rho = (1 - rho) / eta
  dopri5  Dormand-Prince 5(4): the same stage loop, the embedded error estimate (error weights e = b - b_hat),
          first-same-as-last stages, the PI step-size controller below, frames by the method's 4th-order
          continuous extension (dense output) or, with ``dense=False``, by stepping exactly onto every frame
          time (strided saving).

Every line of those equations is printed from derivations/ (analysis.map_step, ode_step, lag_step,
lag_ode, ema_rate) into the generated modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction as F

import numpy as np

from isodyn.dynamics.codegen.integrators import PARAM_NAMES, STATUS_CODES


def _table(rows):
    n = len(rows)
    A = np.zeros((n, n))
    for i, r in enumerate(rows):
        A[i, : len(r)] = [float(F(x)) for x in r]
    return A


def _vector(xs):
    return np.array([float(F(x)) for x in xs])


@dataclass(frozen=True)
class Scheme:
    """An integration scheme: name, order and (Runge-Kutta) its tableau.

    A (s, s) stage matrix, b (s,) weights, c (s,) nodes; adaptive schemes add e (s,) error weights
    (b - b_hat), d (s,) the continuous extension's coefficients, and ``fsal`` (A's last row is b: the last
    stage is the next step's first).
    """

    name: str
    order: int
    code: int
    A: np.ndarray
    b: np.ndarray
    c: np.ndarray
    e: np.ndarray = field(default_factory=lambda: np.zeros(1))
    d: np.ndarray = field(default_factory=lambda: np.zeros(1))
    adaptive: bool = False
    fsal: bool = False


MAP = Scheme("map", 1, 0, np.zeros((1, 1)), np.ones(1), np.zeros(1))

RK4 = Scheme("rk4", 4, 1, _table([[], ["1/2"], [0, "1/2"], [0, 0, 1]]), _vector(["1/6", "1/3", "1/3", "1/6"]),
             _vector([0, "1/2", "1/2", 1]))

_DP_A = _table([
    [],
    ["1/5"],
    ["3/40", "9/40"],
    ["44/45", "-56/15", "32/9"],
    ["19372/6561", "-25360/2187", "64448/6561", "-212/729"],
    ["9017/3168", "-355/33", "46732/5247", "49/176", "-5103/18656"],
    ["35/384", 0, "500/1113", "125/192", "-2187/6784", "11/84"],
])
DOPRI5 = Scheme(
    "dopri5", 5, 2, _DP_A, _DP_A[6].copy(), _vector([0, "1/5", "3/10", "4/5", "8/9", 1, 1]),
    e=_vector(["71/57600", 0, "-71/16695", "71/1920", "-17253/339200", "22/525", "-1/40"]),
    # Hairer & Wanner's continuous extension of DOPRI5 (dense output, order 4)
    d=_vector(["-12715105075/11282082432", 0, "87487479700/32700410799", "-10690763975/1880347072",
               "701980252875/199316789632", "-1453857185/822651844", "69997945/29380423"]),
    adaptive=True, fsal=True,
)

SCHEMES = {s.name: s for s in (MAP, RK4, DOPRI5)}
#: their names, in that order (the choices of --scheme and of a sweep spec's scheme)
SCHEME_NAMES = tuple(SCHEMES)

#: the PI step-size controller of the adaptive scheme (Gustafsson; Hairer & Wanner II.4), for order 5:
#: h <- h * min(MAX, max(MIN, SAFETY err^-ALPHA err_old^BETA)) after an accepted step (MAX_AFTER_REJECT
#: right after a rejection), h <- h * max(MIN, SAFETY err^(-1/ORDER)) after a rejected one (NONFINITE when
#: the step was not finite); err is floored at ERR_FLOOR, err_old at ERR_OLD_FLOOR (also its start value)
PI_CONTROLLER = {
    "PI_SAFETY": 0.9,
    "PI_ORDER": 5.0,
    "PI_ALPHA": 0.7 / 5.0,
    "PI_BETA": 0.4 / 5.0,
    "PI_MIN": 0.2,
    "PI_MAX": 10.0,
    "PI_MAX_AFTER_REJECT": 5.0,
    "PI_NONFINITE": 0.1,
    "PI_ERR_FLOOR": 1e-10,
    "PI_ERR_OLD_FLOOR": 1e-4,
}

NPAR = len(PARAM_NAMES)
PIDX = {n: i for i, n in enumerate(PARAM_NAMES)}
OK, DIVERGED, STEP_UNDERFLOW, MAX_STEPS = (STATUS_CODES[k] for k in ("OK", "DIVERGED", "STEP_UNDERFLOW", "MAX_STEPS"))
#: status code -> the word the JSON summary uses
STATUS = {OK: "ok", DIVERGED: "diverged", STEP_UNDERFLOW: "step size underflow", MAX_STEPS: "too many steps"}

#: points the one-point map steps together (their power lambda = base^alpha in one vectorised pass)
MAP_BLOCK = 16
#: points of the fused elementwise map: 32 x 10 modes x ~17 per-element arrays fit in L1 (16 and 24 measured
#: slower, 64 the same)
MAP_FAST_BLOCK = 32
#: steps between full powers in the fused map (lambda by fastmath.pow_ratio_step in between)
MAP_RESYNC = 32
