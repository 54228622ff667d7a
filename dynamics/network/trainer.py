"""Sampled Siamese-network training, linear or ReLU, on NumPy or CuPy (SPEC §2-4; issue 4).

Online encoder W (M, N), target encoder W_t (= W, or an EMA of W with momentum tau),
z1 = f(W x1), z2 = f(W_t x2), f = identity or ReLU.  Each step:

1. the predictor W_P = U diag(lambda) U^T from the correlation C the predictor uses:
   'weights'          C = (1 + sigma1^2) W W^T (linear; exact for Gaussian inputs) or W W^T (ReLU,
                      as the paper's toy figures do): U, S_m^2 from W W^T, s_m = (1 + sigma1^2) S_m^2;
   'representations'  C <- rho C + (1 - rho) Z1^T Z1 / n (the first batch starts it): U, s from C;
   s and lambda from the generated ``kernels(rule).eigenvalues`` (derivations/, SPEC §2; no formula here);
2. per-sample gradients in the predictor eigenbasis from the generated kernels
   (``invariants`` / ``grad_online`` / ``grad_target``; nothing is typed here);
3. dL/dW = mean_i g_i x1_i^T (g through f' for ReLU) [+ mean_i h_i x2_i^T for rules whose target
   branch gets a gradient], the predictor held constant;
   W <- W - eta (dL/dW + gamma W);  W_t <- tau W_t + (1 - tau) W (rules with a target network).

With ``update='reference-notebook'`` step 3 is the paper's reference notebook's own update where it departs from
the gradient (ReLU Euclidean rules, cosine no-stopgrad; derivations.reference_notebook, evaluated by
:class:`.reference_notebook.NotebookGradient`); elsewhere the notebook's update is the gradient and step 3 is unchanged.

For linear networks the expectation of step 3 is the mode map of SPEC §4 (tests check it).
Recorded per step: s_m (ascending), lambda_m and the representations of optional probe inputs.

A trained predictor (``rule.predictor == 'trainable'``, SPEC §7; issue 13) replaces step 1 by a state: a full
(M, M) matrix W_P, started by ``predictor_init`` (closed-form | identity | random, :mod:`.predictor`) and, with
the encoder's gradient of step 3 taken through it (``predictor.TrainedPredictorGradients``: W_P^T dl/dp, dl/dp
for iso, the family's W_P^beta dl/dp for a symmetric W_P; every per-sample gradient from generated kernels),
updated in the same step from the same state:
   W_P <- W_P - eta (alpha_p mean_i (dl/dp)_i z1_i^T + gamma_p W_P)   (none of the first term for wrong-stopgrad),
   then projected onto symmetric matrices with ``predictor_symmetric``.
The correlation of step 1 is still formed: s_m, and the alignment of W_P with it, are recorded every step
(lambda_m: the spectrum of W_P's symmetric part; eigenspace and per-eigenvector alignment, asymmetry).
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

from isodyn.derivations import Rule
from isodyn.dynamics import measures as ms
from isodyn.dynamics.codegen import kernels
from isodyn.dynamics.network.backends import Backend, resolve
from isodyn.dynamics.network.config import (  # noqa: F401 - NetworkConfig and its choices, importable from here too
    DTYPES,
    NETS,
    PREDICTOR_INITS,
    SAMPLERS,
    SOURCES,
    TRAINED_OPTIONS,
    NetworkConfig,
)
from isodyn.dynamics.network.predictor import TrainedPredictorGradients, closed_form_predictor, random_predictor
from isodyn.dynamics.network.reference_notebook import notebook_gradient
from isodyn.dynamics.network.run import NetworkRun, summary  # noqa: F401 - summary, importable from here too
from isodyn.dynamics.network.samplers import InputsSampler, MomentsSampler
from isodyn.dynamics.network.workspace import Workspace


class NetworkTrainer:
    """State and step of one sampled run (module docstring)."""

    def __init__(self, config: NetworkConfig, W0, seed: int = 0, backend: Backend | str = "numpy",
                 probes=None, grad_impl: str = "auto", blas_threads: int = 1, Wp0=None, keep_predictor: bool = False):
        """Wp0: a trained predictor's initial matrix (M, M) instead of ``config.predictor_init``;
        keep_predictor: record its whole history (NetworkRun.Wp_history)."""
        self.cfg = c = config
        self.blas_threads = blas_threads
        self.bk = resolve(backend) if isinstance(backend, str) else backend
        if c.sampler == "moments" and self.bk.name != "numpy":
            raise ValueError("the moments sampler runs on the numpy backend")
        xp = self.xp = self.bk.xp
        self.dtype = np.dtype(c.dtype)
        W0 = np.asarray(W0, dtype=np.float64)
        if W0.shape != (c.out_dim, c.in_dim):
            raise ValueError(f"W0 must be ({c.out_dim}, {c.in_dim}); got {W0.shape}")
        self.rule = c.rule
        self.k = kernels(c.rule)
        self.beta = 0.0 if c.rule.beta is None else float(c.rule.beta)
        self.W = xp.asarray(W0, dtype=self.dtype)
        self.separate_target = c.rule.has_target_network and c.ema > 0
        self.Wt = self.W.copy() if self.separate_target else self.W
        self.C = None  # running correlation (representations source)
        self._eigh_of = self._eigh = None  # W W^T's eigendecomposition and the W it belongs to (_weights_eigh)
        self._ws = Workspace(xp, self.dtype)  # the step's (n, .) temporaries, reused (network.workspace)
        self.relu = c.net == "relu"
        self.probes = None if probes is None else xp.asarray(np.asarray(probes, dtype=np.float64), dtype=self.dtype)
        if self.probes is not None and (self.probes.ndim != 2 or self.probes.shape[1] != c.in_dim):
            raise ValueError(f"probes must be (K, {c.in_dim})")
        ss = np.random.SeedSequence(seed)
        self.seed = seed
        self.trained = c.rule.trainable
        self.keep_predictor = bool(keep_predictor) and self.trained
        if self.trained:
            self.tp = TrainedPredictorGradients(c.rule, self.bk, "xp" if c.sampler == "moments" else grad_impl,
                                                self._ws)
            self.Wp = xp.asarray(self.initial_predictor(Wp0), dtype=self.dtype)
            self._record = None
        elif Wp0 is not None:
            raise ValueError("Wp0 is a trained predictor's start (rule.predictor 'trainable')")
        if c.sampler == "moments":
            self.sampler = MomentsSampler(ss, c.samples, c.in_dim, c.sigma1, c.sigma2)
            if self.trained:
                self._coef = self.tp.coefficients(c.out_dim, None if self.tp.route != "eigenbasis"
                                                  else np.ones(c.out_dim))
            else:
                self._linear_coefficients()
            self.grad_impl = "moments"
        else:
            rng = self.bk.rng(int(ss.generate_state(1)[0]) if self.bk.name == "cupy" else ss)
            self.sampler = InputsSampler(self.bk, rng, c.samples, c.in_dim, c.sigma1, c.sigma2, self.dtype,
                                         need_x2=c.rule.target_gradient)
            if self.trained:
                self.grad_impl = self.tp.impl
            elif self.bk.name == "numpy" and grad_impl in ("auto", "numba"):
                self._sample_gradients = self._loop_gradients
                self.grad_impl = "numba"
            else:
                self.g_on = self.bk.gradient_function(self.k, "grad_online", grad_impl)
                self.g_tg = self.bk.gradient_function(self.k, "grad_target", grad_impl)
                self._sample_gradients = self._array_gradients
                self.grad_impl = self.g_on.impl
        #: the reference notebook's update where it departs from the gradient (None: the gradient)
        self.notebook = notebook_gradient(c.rule, c.net, c.update)
        if self.notebook is not None:
            self.grad_impl = "reference-notebook"

    def initial_predictor(self, Wp0=None) -> np.ndarray:
        """A trained predictor's W_P(0) (M, M), host float64: ``Wp0`` if given, else by ``predictor_init`` from
        the correlation the closed-form predictor would use now (the weights source before the first batch):
        closed-form U diag(lambda) U^T; identity; random Q diag(lambda) Q^T (:func:`predictor.random_predictor`,
        from this run's seed).  Projected onto symmetric matrices with ``predictor_symmetric``."""
        c, M = self.cfg, self.cfg.out_dim
        if Wp0 is not None:
            Wp = np.asarray(Wp0, dtype=np.float64)
            if Wp.shape != (M, M) or not np.all(np.isfinite(Wp)):
                raise ValueError(f"Wp0 must be a finite ({M}, {M}) array; got shape {Wp.shape}")
        elif c.predictor_init == "identity":
            Wp = np.eye(M)
        else:
            _, lam, U = self.predictor(*self.current_source())
            aligned = c.predictor_init == "closed-form"
            Wp = closed_form_predictor(lam, U) if aligned else random_predictor(lam, self.seed)
        return (Wp + Wp.T) / 2 if c.predictor_symmetric else Wp.copy()

    # --- predictor ------------------------------------------------------------------------

    def predictor(self, G, sigma1: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s, lambda, U), ascending, from a symmetric Gram-like matrix G (host, float64): U and S_m^2 are G's
        eigenvectors and eigenvalues; s_m = (1 + sigma1^2) S_m^2 and lambda_m come from the generated
        ``kernels(rule).eigenvalues`` (derivations.modes.correlation_eigenvalue, predictor_eigenvalue; SPEC §2).
        sigma1 = 0 for a G that is already the correlation (the running estimate of the representations)."""
        return self._eigen_predictor(*_eigh(G), sigma1)

    def _eigen_predictor(self, evals, U, sigma1: float):
        """:meth:`predictor` from G's eigendecomposition (evals ascending, U)."""
        if not np.all(np.isfinite(evals)):  # a state past overflow: NaN eigenvalues, recorded as diverged
            nan = np.full(evals.shape, np.nan)
            return nan, nan.copy(), np.full(U.shape, np.nan)
        S = np.sqrt(np.clip(evals, 0.0, None))
        s, lam = np.empty_like(S), np.empty_like(S)
        r = self.rule
        self.k.eigenvalues(S, sigma1, r.alpha, r.eps, r.normalize, s, lam)
        return s, lam, U

    def weights_source(self) -> tuple[np.ndarray, float]:
        """(W W^T (host, float64), sigma1) of the 'weights' source: its correlation is (1 + sigma1^2) W W^T for a
        linear network with Gaussian inputs (SPEC §2), W W^T (sigma1 = 0) for ReLU, as the paper's toy figures."""
        Wh = self.bk.asnumpy(self.W).astype(np.float64)
        return Wh @ Wh.T, self.weights_source_sigma1

    @property
    def weights_source_sigma1(self) -> float:
        return 0.0 if self.relu else float(self.cfg.sigma1)

    def _weights_eigh(self):
        """(eigenvalues ascending, eigenvectors) of W W^T (host float64) for the current W, computed once per W: a
        step's predictor (the 'weights' source) and its target-noise factor (W_t = W) share it."""
        if self._eigh_of is not self.W:
            self._eigh = _eigh(self.weights_source()[0])
            self._eigh_of = self.W
        return self._eigh

    def _step_predictor(self, z1):
        """(s, lambda, U) of this step's predictor: the running correlation updated with z1 (n, M) (or a callable
        returning it, called only here), or W W^T."""
        if self.cfg.predictor_source == "representations":
            n = self.cfg.samples
            z1 = z1() if callable(z1) else z1
            return self.predictor(self._update_running(self.bk.asnumpy(z1.T @ z1).astype(np.float64) / n), 0.0)
        return self._eigen_predictor(*self._weights_eigh(), self.weights_source_sigma1)

    def _target_factor(self):
        """L (M, M) on the backend with L L^T = W_t W_t^T, for target noise drawn in M dimensions (the sampler's
        Wt_factor), or None when the draw needs none (sigma2 = 0, or x2 itself is drawn).  With W_t = W it is
        U diag(S) from the step's own eigendecomposition of W W^T (one eigendecomposition a step, not two)."""
        if self.cfg.sigma2 == 0 or self.rule.target_gradient:
            return None
        return self.sampler.factor(self.Wt, None if self.separate_target else self._weights_eigh())

    def current_source(self) -> tuple[np.ndarray, float]:
        """(G, sigma1) the next predictor uses (:meth:`predictor`): the running correlation once it exists."""
        if self.cfg.predictor_source == "representations" and self.C is not None:
            return self.C, 0.0
        return self.weights_source()

    def _update_running(self, batch_corr: np.ndarray) -> np.ndarray:
        rho = self.cfg.rho
        self.C = batch_corr if self.C is None else rho * self.C + (1 - rho) * batch_corr
        return self.C

    # --- gradients --------------------------------------------------------------------------

    def weight_gradient(self, batch=None):
        """(dL/dW (M, N) on the backend, s, lambda) for one batch (drawn if None).  With a trained predictor
        lambda is its spectrum (:meth:`trained_gradients` also gives dL/dW_P)."""
        if self.trained:
            return self.trained_gradients(batch)[::2] + (self._record["lam"],)
        if self.cfg.sampler == "moments":
            return self._moments_gradient(batch if batch is not None else self.sampler.draw())
        xp, n, ws = self.xp, self.cfg.samples, self._ws
        batch = self._draw(batch, projected=self.notebook is None)
        # linear: z = u, and a projected batch rotates without forming u (u1 only if the predictor reads it)
        z1, z2 = self._activations(batch) if self.relu else (None, None)
        s, lam, U = self._step_predictor(z1 if self.relu else lambda: batch.u1)
        Ud, lamd = xp.asarray(U, dtype=self.dtype), xp.asarray(lam, dtype=self.dtype)
        if self.relu:
            Z1, Z2 = xp.matmul(z1, Ud, out=ws("Z1", z1.shape)), xp.matmul(z2, Ud, out=ws("Z2", z2.shape))
        else:
            Z1, Z2 = batch.in_basis(Ud, xp, ws)
        grad = 0
        # ReLU + cosine: a sample whose z1 or z2 is the zero vector has no defined cosine; it
        # contributes no gradient (the convention of an eps-clamped cosine, e.g. PyTorch's).
        keep = None
        if self.relu and self.rule.metric == "cosine":
            keep = (xp.abs(z1).max(axis=1, keepdims=True) > 0) & (xp.abs(z2).max(axis=1, keepdims=True) > 0)
        if self.notebook is not None:
            return self.notebook(batch, Z1, Z2, Ud, lamd, keep), s, lam
        g, h = self._sample_gradients(Z1, Z2, lamd)

        def weight_part(d, branch: str, inputs):
            """sum_i (dl/du)_i x_i^T (M, N) from d = dl/dz (n, M) in the eigenbasis of one branch ('1' or '2').
            Linear: Ud sum_i d_i x_i^T (no (n, M) rotation back); ReLU: rotated back to multiply by f'(u)."""
            if not self.relu:
                return Ud @ inputs(d)
            d = xp.matmul(d if keep is None else xp.where(keep, d, 0), Ud.T, out=ws("dz" + branch, d.shape))
            return inputs(xp.multiply(d, getattr(batch, "u" + branch) > 0, out=d))

        if self.rule.online_gradient:
            grad = weight_part(g, "1", batch.online_inputs)
        if self.rule.target_gradient:
            grad = grad + weight_part(h, "2", batch.target_inputs)
        return grad / n, s, lam

    def _activations(self, batch):
        """(z1, z2) (n, M): the pre-activations, or their ReLU (into the step's workspace)."""
        if not self.relu:
            return batch.u1, batch.u2
        xp, ws = self.xp, self._ws
        return (xp.maximum(batch.u1, 0, out=ws("z1", batch.u1.shape)),
                xp.maximum(batch.u2, 0, out=ws("z2", batch.u2.shape)))

    # (dl/dz1, dl/dz2) per sample in the predictor eigenbasis, (n, M) each: ``_sample_gradients`` is one of the
    # two below, chosen at construction (grad_impl 'numba' on NumPy, else the backend's array functions).

    def _loop_gradients(self, Z1, Z2, lam):
        """Both branches from the generated numba loop ``kernels(rule).sample_gradients`` (NumPy); a branch
        without a gradient comes back as zeros and is not used."""
        g, h = self._ws("g", Z1.shape), self._ws("h", Z1.shape)
        self.k.sample_gradients(Z1, Z2, lam, self.beta, g, h)
        return g, h

    def _array_gradients(self, Z1, Z2, lam):
        """From the array functions ``invariants`` / ``grad_online`` / ``grad_target`` on the backend; None for a
        branch without a gradient."""
        Q = self.k.invariants(self.xp, Z1, Z2, lam, self.beta)
        g = self.g_on(Z1, Z2, lam, self.beta, Q) if self.rule.online_gradient else None
        h = self.g_tg(Z1, Z2, lam, self.beta, Q) if self.rule.target_gradient else None
        return g, h

    def _linear_coefficients(self):
        """Gradients linear in (z1, z2): g(Z1, Z2) = Z1 Ga + Z2 Gb in the eigenbasis; checked here."""
        k, M = self.k, self.cfg.out_dim
        rng = np.random.default_rng(12345)
        lam = rng.uniform(0.2, 2.0, M)
        Z1, Z2 = rng.standard_normal((3, M)), rng.standard_normal((3, M))
        for which in ("grad_online", "grad_target"):
            Ga, Gb = self._coefficients(which, lam)
            got = getattr(k, which)(np, Z1, Z2, lam, self.beta, k.invariants(np, Z1, Z2, lam, self.beta))
            if not np.allclose(got, Z1 @ Ga + Z2 @ Gb, rtol=1e-10, atol=1e-12):
                raise ValueError(f"the moments sampler needs gradients linear in (z1, z2); {self.rule.name} is not")

    def _coefficients(self, which, lam):
        k, M = self.k, self.cfg.out_dim
        I, O = np.eye(M), np.zeros((M, M))
        f = getattr(k, which)
        Ga = f(np, I, O, lam, self.beta, k.invariants(np, I, O, lam, self.beta))
        Gb = f(np, O, I, lam, self.beta, k.invariants(np, O, I, lam, self.beta))
        return np.broadcast_to(Ga, (M, M)), np.broadcast_to(Gb, (M, M))

    def _moments_gradient(self, m):
        W, Wt = self.W.astype(np.float64), self.Wt.astype(np.float64)
        if self.cfg.predictor_source == "representations":
            source = self._update_running(W @ m.C11 @ W.T), 0.0
        else:
            source = self.weights_source()
        s, lam, U = self.predictor(*source)
        grad = 0
        if self.rule.online_gradient:
            Ga, Gb = self._coefficients("grad_online", lam)
            A, B = U @ Ga @ U.T, U @ Gb @ U.T
            grad = A.T @ W @ m.C11 + B.T @ Wt @ m.C21
        if self.rule.target_gradient:
            Ha, Hb = self._coefficients("grad_target", lam)
            A, B = U @ Ha @ U.T, U @ Hb @ U.T
            grad = grad + A.T @ W @ m.C21.T + B.T @ Wt @ m.C22
        return grad.astype(self.dtype), s, lam

    # --- stepping -----------------------------------------------------------------------------

    # --- a trained predictor (SPEC §7; dynamics.network.predictor) -------------------------------------------

    def _draw(self, batch, projected: bool = False):
        """The given batch, or a new one (a projected draw where asked for and possible: samplers module)."""
        if batch is not None:
            return batch
        if projected and self.sampler.projects(self.W, self.Wt):
            return self.sampler.draw(self.W, self.Wt, ws=self._ws, projected=True)
        return self.sampler.draw(self.W, self.Wt, self._target_factor(), self._ws)

    def trained_gradients(self, batch=None):
        """(dL/dW (M, N), dL/dW_P (M, M) or None (wrong-stopgrad), s) for one batch (drawn if None) with the
        trained predictor W_P held at its current value; dL/dW_P = mean_i (dl/dp)_i z1_i^T of the predictor's
        loss.  Records the state's measures (:meth:`predictor_record`) in ``self._record``."""
        if self.cfg.sampler == "moments":
            return self._trained_moments_gradient(batch if batch is not None else self.sampler.draw())
        xp, n = self.xp, self.cfg.samples
        batch = self._draw(batch, projected=True)  # g, D are functions of (u1, u2): samplers module
        z1, z2 = self._activations(batch)
        s, _, U = self._step_predictor(z1)
        self._record = self.predictor_record(s, U)
        keep = None  # ReLU + cosine: a zero z1 or z2 has no defined cosine (as the closed-form path)
        if self.relu and self.rule.metric == "cosine":
            keep = (xp.abs(z1).max(axis=1, keepdims=True) > 0) & (xp.abs(z2).max(axis=1, keepdims=True) > 0)
        g, h, D = self.tp(z1, z2, self.Wp, keep)
        grad = 0
        if g is not None:
            if self.relu:
                g = g * (batch.u1 > 0)
            grad = batch.online_inputs(g)
        if h is not None:
            if self.relu:
                h = h * (batch.u2 > 0)
            grad = grad + batch.target_inputs(h)
        gWp = None if D is None else self.tp.predictor_gradient(D, z1)
        return grad / n, gWp, s

    def _trained_moments_gradient(self, m):
        """The same from the views' empirical moments (linear Euclidean rules; module predictor: coefficients)."""
        W, Wt, Wp = self.W.astype(np.float64), self.Wt.astype(np.float64), self.Wp.astype(np.float64)
        if self.cfg.predictor_source == "representations":
            source = self._update_running(W @ m.C11 @ W.T), 0.0
        else:
            source = self.weights_source()
        s, _, U = self.predictor(*source)
        self._record = self.predictor_record(s, U)
        coef, tp = self._coef, self.tp
        if tp.route == "eigenbasis":
            lam, Up = np.linalg.eigh((Wp + Wp.T) / 2)
            coef = {**coef, **tp.coefficients(self.cfg.out_dim, lam)}
        S11, S21 = W @ m.C11 @ W.T, Wt @ m.C21 @ W.T  # <z1 z1^T>, <z2 z1^T>
        X11, X21 = W @ m.C11, Wt @ m.C21  # <z1 x1^T>, <z2 x1^T>
        grad, gWp = 0, None
        if "dp" in coef:  # D = P Pa + Z2 Pb, P = Z1 W_P^T
            Pa, Pb = coef["dp"]
            if tp.trains_predictor:
                gWp = Pa.T @ Wp @ S11 + Pb.T @ S21  # <D^T z1>
            DX = Pa.T @ Wp @ X11 + Pb.T @ X21  # <D^T x1>
            if tp.route == "transpose":
                grad = Wp.T @ DX
            elif tp.route == "identity":
                grad = DX
        if tp.route == "eigenbasis":
            Ga, Gb = coef["online"]
            A, B = Up @ Ga @ Up.T, Up @ Gb @ Up.T
            grad = A.T @ X11 + B.T @ X21
        if self.rule.target_gradient:
            Ta, Tb = coef["target"]
            if tp.route == "eigenbasis":  # h = Z1 Ta + Z2 Tb in W_P's eigenbasis
                A, B = Up @ Ta @ Up.T, Up @ Tb @ Up.T
            else:  # h = P Ta + Z2 Tb
                A, B = Wp.T @ Ta, Tb
            grad = grad + A.T @ W @ m.C21.T + B.T @ Wt @ m.C22
        return (np.asarray(grad, dtype=np.float64).astype(self.dtype),
                None if gWp is None else gWp.astype(self.dtype), s)

    def predictor_record(self, s, U) -> dict:
        """The trained predictor's measures at the current state (dynamics.measures): its spectrum ``lam``
        (ascending), ``alignment``, ``eigvec_alignment`` and ``asymmetry`` against C = U diag(s) U^T, the
        correlation the closed-form predictor would use (host)."""
        Wp = self.bk.asnumpy(self.Wp).astype(np.float64)
        C = (U * s) @ U.T
        M = len(s)
        with np.errstate(all="ignore"):
            if np.all(np.isfinite(Wp)):
                lam, Up = np.linalg.eigh((Wp + Wp.T) / 2)  # = ms.predictor_spectrum, once for both uses
                eigvec = ms.eigenvector_overlap(U, Up) if np.all(np.isfinite(U)) else np.full(M, np.nan)
            else:
                lam = eigvec = np.full(M, np.nan)
            return {"lam": lam, "alignment": float(ms.eigenspace_alignment(C, Wp)), "eigvec_alignment": eigvec,
                    "asymmetry": float(ms.asymmetry(Wp)), "Wp": Wp if self.keep_predictor else None}

    def _trained_step(self):
        grad, gWp, s = self.trained_gradients()
        c = self.cfg
        W = self.W - c.lr * (grad + c.weight_decay * self.W)
        if gWp is None:
            Wp = self.Wp - c.lr * c.gamma_p * self.Wp
        else:
            Wp = self.Wp - c.lr * (c.alpha_p * gWp + c.gamma_p * self.Wp)
        self.Wp = (Wp + Wp.T) / 2 if c.predictor_symmetric else Wp
        self.Wt = c.ema * self.Wt + (1 - c.ema) * W if self.separate_target else W
        self.W = W
        return s, self._record["lam"]

    def step(self):
        """One update; returns (s, lambda) of the predictor that step used."""
        if self.trained:
            return self._trained_step()
        grad, s, lam = self.weight_gradient()
        c = self.cfg
        W = self.W - c.lr * (grad + c.weight_decay * self.W)
        if self.separate_target:
            self.Wt = c.ema * self.Wt + (1 - c.ema) * W
        else:
            self.Wt = W
        self.W = W
        return s, lam

    def probe_representations(self):
        if self.probes is None:
            return None
        u = self.probes @ self.W.T
        return self.bk.asnumpy(self.xp.maximum(u, 0) if self.relu else u).astype(np.float64)

    def final_eigenvalues(self):
        """(s, lambda) of the current state (a trained predictor: its spectrum, and its record is refreshed)."""
        s, lam, U = self.predictor(*self.current_source())
        if self.trained:
            self._record = self.predictor_record(s, U)
            return s, self._record["lam"]
        return s, lam

    def _store(self, hist, t):
        """A trained predictor's record of state t into the histories."""
        if hist is None:
            return
        for name, arr in hist.items():
            arr[t] = self._record[name]

    def _loop(self, steps, s_hist, lam_hist, p_hist, progress, hist=None):
        """Run the steps; (diverged step or None, steps done, divergence bound).  The bound is
        dynamics.measures.divergence_bound of the first step's eigenvalues (the mode equations' rule)."""
        bound = None
        for t in range(steps):
            if p_hist is not None:
                p_hist[t] = self.probe_representations()
            with np.errstate(all="ignore"):
                s, lam = self.step()
            s_hist[t], lam_hist[t] = s, lam
            self._store(hist, t)
            if bound is None:
                bound = ms.divergence_bound(s)
            if progress is not None:
                progress(1)
            if ms.beyond_bound(s, bound):  # state t is beyond the bound
                return t, t + 1, bound
            if not _finite(self.bk, self.W) or (self.trained and not _finite(self.bk, self.Wp)):
                return t + 1, t + 1, bound  # state t + 1 is not finite
        return None, steps, bound

    def run(self, steps: int, progress=None) -> NetworkRun:
        """Train ``steps`` steps; stops early, diverged, when W (or a trained W_P) stops being finite or s leaves
        the bound of :mod:`dynamics.measures` (non-finite, or above BOUND * max(1, max s at step 0)).

        progress: None or a callable(k) told after each step (the CLI passes a tqdm update).
        """
        M = self.cfg.out_dim
        s_hist = np.full((steps + 1, M), np.nan)
        lam_hist = np.full((steps + 1, M), np.nan)
        K = 0 if self.probes is None else self.probes.shape[0]
        p_hist = np.full((steps + 1, K, M), np.nan) if K else None
        hist = None
        if self.trained:
            hist = {"alignment": np.full(steps + 1, np.nan), "eigvec_alignment": np.full((steps + 1, M), np.nan),
                    "asymmetry": np.full(steps + 1, np.nan)}
            if self.keep_predictor:
                hist["Wp"] = np.full((steps + 1, M, M), np.nan)
        t0 = time.perf_counter()
        # thin (n x M) products: one BLAS thread is much faster than contended threads
        limit = threadpool_limits(self.blas_threads, user_api="blas") if self.bk.name == "numpy" else nullcontext()
        with limit:
            diverged_step, done, bound = self._loop(steps, s_hist, lam_hist, p_hist, progress, hist)
        if diverged_step is None:
            with np.errstate(all="ignore"):
                s_hist[steps], lam_hist[steps] = self.final_eigenvalues()
            self._store(hist, steps)
            if p_hist is not None:
                p_hist[steps] = self.probe_representations()
            if bound is None:  # no step taken
                bound = ms.divergence_bound(s_hist[steps])
            if ms.beyond_bound(s_hist[steps], bound):
                diverged_step = steps
        if self.bk.name == "cupy":
            self.xp.cuda.Stream.null.synchronize()
        seconds = time.perf_counter() - t0
        run = NetworkRun(self.cfg, self.seed, s_hist, lam_hist, p_hist, self.bk.asnumpy(self.W).astype(np.float64),
                         self.bk.asnumpy(self.Wt).astype(np.float64), steps, diverged_step is not None,
                         diverged_step, seconds, self.bk.name, self.grad_impl, {"steps_done": done})
        if self.trained:
            run.alignment, run.eigvec_alignment, run.asymmetry = (hist[k] for k in ("alignment", "eigvec_alignment",
                                                                                    "asymmetry"))
            run.Wp = self.bk.asnumpy(self.Wp).astype(np.float64)
            run.Wp_history = hist.get("Wp")
        return run


def _eigh(G):
    """(eigenvalues ascending, eigenvectors) of a symmetric (M, M) host matrix; NaN for a non-finite one."""
    if not np.all(np.isfinite(G)):
        return np.full(G.shape[0], np.nan), np.full(G.shape, np.nan)
    return np.linalg.eigh((G + G.T) / 2)


def _finite(bk, W) -> bool:
    return bool(bk.xp.isfinite(W).all())


def correlation_eigenvalues(rule: Rule, S, sigma1: float) -> np.ndarray:
    """s_m = (1 + sigma1^2) S_m^2 of amplitudes S (..., M) (singular values of W), computed by the generated
    ``kernels(rule).eigenvalues`` from derivations.modes.correlation_eigenvalue (SPEC §2); NaN stays NaN.  (The
    kernel's predictor eigenvalues, computed alongside with alpha = 1, are not used.)"""
    k = kernels(rule)
    S = np.asarray(S, dtype=np.float64)
    rows = np.ascontiguousarray(S.reshape(-1, S.shape[-1]))
    out = np.empty_like(rows)
    lam = np.empty(rows.shape[1])
    for i in range(rows.shape[0]):
        k.eigenvalues(rows[i], float(sigma1), 1.0, 0.0, False, out[i], lam)
    return out.reshape(S.shape)


def init_weights(out_dim: int, in_dim: int, scale: float, seed: int) -> np.ndarray:
    """W0 with entries N(0, scale^2), from its own stream of ``seed`` (SPEC §5: scale = 1/4)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return scale * rng.standard_normal((out_dim, in_dim))


def train(config: NetworkConfig, W0=None, init_scale: float = 0.25, steps: int = 1500, seed: int = 0,
          backend: str = "numpy", probes=None, grad_impl: str = "auto", progress=None, Wp0=None,
          keep_predictor: bool = False) -> NetworkRun:
    """Convenience: build a :class:`NetworkTrainer` and run it (Wp0, keep_predictor: a trained predictor's
    start and whether to keep its history)."""
    if W0 is None:
        W0 = init_weights(config.out_dim, config.in_dim, init_scale, seed)
    return NetworkTrainer(config, W0, seed, backend, probes, grad_impl, Wp0=Wp0,
                          keep_predictor=keep_predictor).run(steps, progress)
