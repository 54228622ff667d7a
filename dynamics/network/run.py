"""A finished sampled run and its JSON summary (ARCHITECTURE.md; SPEC §2-4, §7): what
:class:`.trainer.NetworkTrainer` returns and what ``isodyn train`` writes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from isodyn.dynamics import measures as ms
from isodyn.dynamics.network.config import NetworkConfig


@dataclass
class NetworkRun:
    """A finished run.  Index t of the histories is the state before step t; index steps is final.

    s, lam      (steps + 1, M) eigenvalues of the predictor's correlation and of the predictor (a trained one:
                of its symmetric part, ascending)
    probes      (steps + 1, K, M) representations f(W p) of the probe inputs, or None
    W, Wt       final weights (M, N), NumPy
    diverged_step   the first state index beyond the divergence bound of dynamics.measures or non-finite
                (None: the run did not diverge); the histories hold NaN after it

    A trained predictor (SPEC §7; None for the closed-form one), by dynamics.measures:
    alignment         (steps + 1,) eigenspace alignment ||[C, W_P]||_F / (||C||_F ||W_P||_F), C the correlation
                      the closed-form predictor would use (0: aligned)
    eigvec_alignment  (steps + 1, M) |u_j(C) . u_j(sym W_P)|, matched by eigenvalue order (ascending)
    asymmetry         (steps + 1,) ||W_P - W_P^T||_F / ||W_P||_F
    Wp                final predictor (M, M); Wp_history (steps + 1, M, M) when the trainer keeps it
    """

    config: NetworkConfig
    seed: int
    s: np.ndarray
    lam: np.ndarray
    probes: np.ndarray | None
    W: np.ndarray
    Wt: np.ndarray
    steps: int
    diverged: bool
    diverged_step: int | None
    seconds: float
    backend: str
    grad_impl: str
    extra: dict = field(default_factory=dict)
    alignment: np.ndarray | None = None
    eigvec_alignment: np.ndarray | None = None
    asymmetry: np.ndarray | None = None
    Wp: np.ndarray | None = None
    Wp_history: np.ndarray | None = None

    @property
    def trained_predictor(self) -> bool:
        return self.alignment is not None

    @property
    def last_index(self) -> int:
        """Index of the last state within the divergence bound (the end unless the run diverged; then the state
        before ``diverged_step``, the first one beyond the bound or non-finite), as ``simulate`` keeps it."""
        return max(int(self.diverged_step) - 1, 0) if self.diverged else int(self.steps)


def summary(run: NetworkRun, extra_params: dict | None = None) -> dict:
    """The JSON summary of ARCHITECTURE.md (s_final and lam_final ascending).

    collapsed, n_dead and recruit_steps by :mod:`dynamics.measures`, as ``isodyn simulate`` has them: a mode is
    dead when its final s_m <= DEAD * max s at step 0, collapsed = every mode dead; recruit_steps per mode
    (ascending eigenvalues), the first step within 1% of its final value, None if never, dead or diverged.
    A trained predictor (SPEC §7) adds, at the same state as s_final: ``alignment_final`` (the eigenspace
    alignment), ``eigvec_alignment_final`` (per eigenvector, ascending) and ``asymmetry_final``; its
    ``lam_final`` is the trained predictor's spectrum.
    """
    last = run.last_index
    s_final, lam_final = run.s[last], run.lam[last]
    order = np.argsort(s_final)
    finite = bool(np.all(np.isfinite(s_final)))
    dead = ms.dead_modes(s_final, run.s[0]) if finite else np.zeros(s_final.shape, dtype=bool)
    rec = ms.recruit_steps(run.s[: last + 1], np.arange(last + 1), dead=dead | run.diverged | (not finite))
    out = {
        "s_final": [_num(x) for x in s_final[order]],
        "lam_final": [_num(x) for x in np.sort(lam_final)],
        "steps": int(run.steps),
        "collapsed": bool(finite and np.all(dead)),
        "n_dead": int(dead.sum()),
        "diverged": bool(run.diverged),
        "diverged_step": run.diverged_step,
        "recruit_steps": [None if r < 0 else int(r) for r in rec],
        "seconds": round(run.seconds, 4),
        "backend": run.backend,
        "grad_impl": run.grad_impl,
        "parameters": {**run.config.as_dict(), "seed": run.seed, **(extra_params or {})},
    }
    if run.trained_predictor:
        out.update(alignment_final=_num(run.alignment[last]),
                   eigvec_alignment_final=[_num(x) for x in run.eigvec_alignment[last]],
                   asymmetry_final=_num(run.asymmetry[last]))
    return out


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None
