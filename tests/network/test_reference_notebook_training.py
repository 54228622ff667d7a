"""``--update reference-notebook`` and ``--settings reference-notebook`` (issue 11.6).

The notebook's update is checked against a plain-NumPy transcription of the notebook's ``next_W`` on the same
batches (exact to rounding), the evaluator of derivations' branches against the trainer's gradient path, the
notebook's W0 against PyTorch's published stream, and (slow) the final spectrum of the notebook's ReLU Euclidean
panel against an independent plain-NumPy run of the notebook's loop.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from isodyn import NetworkConfig, Rule
from isodyn.derivations.reference_notebook import gradient_branches
from isodyn.dynamics.cli import main
from isodyn.dynamics.network import reference_notebook as nb
from isodyn.dynamics.network.trainer import NetworkTrainer


def test_torch_randn_matches_pytorch():
    """torch.manual_seed(0); torch.randn(4, 4) as PyTorch prints it (4 decimals)."""
    ref = np.array([[-1.1258, -1.1524, -0.2506, -0.4339], [0.8487, 0.6920, -0.3160, -2.1152],
                    [0.3223, -1.2633, 0.3500, 0.3081], [0.1198, 1.2377, 1.1168, -0.2473]])
    assert np.max(np.abs(nb.torch_randn(0, (4, 4)) - ref)) < 6e-5
    W0 = nb.notebook_w0()
    assert W0.shape == (10, 15) and W0.dtype == np.float64
    assert np.array_equal(W0, (nb.torch_randn(2, (10, 15)) / np.float32(4)).astype(np.float64))


def _notebook_next_w_gradient(setting, W, x1, x2, u1, u2, relu, alpha=1.0):
    """dL/dW (= -deltaW / eta, without wd) of the notebook's next_W on one batch, transcribed from its code
    (columns are samples there; x1, x2 (n, N), u1, u2 (n, M) here)."""
    f = (lambda a: np.maximum(a, 0)) if relu else (lambda a: a)
    n = x1.shape[0]
    X1, X2, Z1, Z2 = x1.T, None if x2 is None else x2.T, f(u1).T, f(u2).T
    D, U = np.linalg.eig(W @ W.T)
    D, U = np.abs(D.real) ** alpha, U.real
    Wp = U @ np.diag(D) @ U.T
    Zp = Wp @ Z1
    nonlin_deriv = np.maximum(np.sign(Z1), 0) if relu else np.ones_like(Z1)
    pred_error = (Zp - Z2) * nonlin_deriv
    dot_prod = (Zp * Z2).sum(axis=0)
    if setting == "euc_simsiam":
        return Wp.T @ pred_error @ X1.T / n
    if setting == "euc_simsiam_nosg":
        return (-pred_error) @ X2.T / n + Wp.T @ pred_error @ X1.T / n
    if setting == "euc_simsiam_nopred":
        return (Z1 - Z2) @ X1.T / n
    if setting == "cos_simsiam_nosg":
        normp1 = np.linalg.norm(Zp, axis=0) + 1e-8
        norm2 = np.linalg.norm(Z2, axis=0) + 1e-8
        post = ((Wp @ (Z2 + Z1)) / (normp1 * norm2) - (dot_prod * (Wp @ Zp + Z2)) / (normp1**3 * norm2)) * nonlin_deriv
        return -post @ X1.T / n
    raise AssertionError(setting)


CASES = [("euclidean", "standard", "relu", "euc_simsiam"), ("euclidean", "no-stopgrad", "relu", "euc_simsiam_nosg"),
         ("euclidean", "no-predictor", "relu", "euc_simsiam_nopred"),
         ("cosine", "no-stopgrad", "linear", "cos_simsiam_nosg")]


@pytest.mark.parametrize("metric,variant,net,setting", CASES)
def test_notebook_update_is_the_notebooks_code_on_the_same_batch(metric, variant, net, setting):
    cfg = NetworkConfig(Rule(metric, variant), net=net, samples=600, update="reference-notebook")
    tr = NetworkTrainer(cfg, nb.notebook_w0(), seed=3)
    assert tr.notebook is not None and tr.grad_impl == "reference-notebook"
    for _ in range(3):
        batch = tr._draw(None)
        grad = tr.weight_gradient(batch)[0]
        ref = _notebook_next_w_gradient(setting, tr.W, batch.x1, batch.x2, batch.u1, batch.u2, net == "relu")
        # to rounding, and the notebook's +1e-8 on the cosine's norms (a relative 1e-8 change)
        np.testing.assert_allclose(grad, ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))
        gr = NetworkTrainer(NetworkConfig(Rule(metric, variant), net=net, samples=600), tr.W, seed=3)
        assert not np.allclose(gr.weight_gradient(batch)[0], ref, rtol=1e-3)  # the departure is visible
        tr.step()


@pytest.mark.parametrize("metric,variant,net", [("euclidean", "standard", "relu"), ("euclidean", "no-stopgrad", "relu"),
                                                ("cosine", "no-stopgrad", "relu"), ("cosine", "standard", "linear")])
def test_branch_evaluator_reproduces_the_trainers_gradient(metric, variant, net):
    """NotebookGradient with the gradient's branches equals the trainer's generated-kernel gradient."""
    rule = Rule(metric, variant)
    tr = NetworkTrainer(NetworkConfig(rule, net=net, samples=400), nb.notebook_w0(), seed=5)
    ev = nb.NotebookGradient(rule, net, gradient_branches(rule))
    batch = tr._draw(None)
    grad = tr.weight_gradient(batch)[0]
    tr.notebook = ev
    np.testing.assert_allclose(tr.weight_gradient(batch)[0], grad, rtol=1e-9, atol=1e-13)


def test_rules_whose_notebook_update_is_the_gradient_run_the_gradient():
    for rule, net in ((Rule("euclidean", "iso"), "relu"), (Rule("euclidean", "standard"), "linear"),
                      (Rule("cosine", "standard"), "relu")):
        tr = NetworkTrainer(NetworkConfig(rule, net=net, samples=100, update="reference-notebook"), nb.notebook_w0())
        assert tr.notebook is None


def _cli(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv,flag", [
    (["--update", "reference-notebook", "--variant", "wrong-stopgrad"], "--update"),
    (["--update", "reference-notebook", "--beta", "0.5"], "--update"),
    (["--update", "reference-notebook", "--ema", "0.5"], "--ema"),
    (["--update", "reference-notebook", "--predictor-source", "representations"], "--predictor-source"),
    (["--update", "reference-notebook", "--predictor", "trainable"], "--update"),
    (["--update", "nope"], "--update"),
    (["--settings", "reference-notebook", "--init-scale", "0.5"], "--init-scale"),
    (["--settings", "reference-notebook", "--w0", "x.npy"], "--w0"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, flag):
    rc, out, err = _cli(capsys, ["train", "--json", "--steps", "1", "--samples", "10", *argv])
    assert rc == 2 and out == "" and err.count("\n") == 1 and flag in err and "Traceback" not in err, err


def test_json_and_nc_record_the_update_and_settings(capsys, tmp_path):
    out = tmp_path / "t.nc"
    rc, text, _ = _cli(capsys, ["train", "--json", "--net", "relu", "--steps", "2", "--samples", "50",
                                "--no-progress", "--update", "reference-notebook", "--settings", "reference-notebook",
                                "--out", str(out)])
    assert rc == 0
    s = json.loads(text)
    assert s["parameters"]["update"] == "reference-notebook" and s["parameters"]["settings"] == "reference-notebook"
    assert s["grad_impl"] == "reference-notebook" and s["steps"] == 2
    import xarray as xr

    with xr.open_dataset(out) as ds:
        assert ds.attrs["update"] == "reference-notebook"
    for extra in ([], ["--update", "exact"]):  # exact: ARCHITECTURE.md's name of the gradient
        rc, text, _ = _cli(capsys, ["train", "--json", "--steps", "1", "--samples", "20", "--no-progress", *extra])
        assert rc == 0 and json.loads(text)["parameters"]["update"] == "gradient"


def _plain_notebook_run(relu_update: str, seed: int, steps: int = nb.STEPS, n: int = nb.SAMPLES):
    """The notebook's run_sim loop for ReLU euc_simsiam in plain NumPy (its own input stream), from its W0;
    relu_update 'notebook' (its next_W) or 'gradient' (the same with (W_P^T e) ⊙ f')."""
    rng = np.random.default_rng(seed)
    W = nb.notebook_w0()
    for _ in range(steps):
        X1 = rng.standard_normal((15, n))
        X2 = X1 + 0.1 * rng.standard_normal((15, n))
        U1, U2 = W @ X1, W @ X2
        Z1, Z2 = np.maximum(U1, 0), np.maximum(U2, 0)
        D, U = np.linalg.eigh(W @ W.T)
        Wp = U @ np.diag(np.abs(D)) @ U.T
        e = Wp @ Z1 - Z2
        mask = (U1 > 0)
        g = Wp.T @ (e * mask) if relu_update == "notebook" else (Wp.T @ e) * mask
        W = W - 0.01 * g @ X1.T / n
    return np.linalg.eigvalsh(W @ W.T)


@pytest.mark.slow
def test_relu_euclidean_final_spectrum_from_the_notebooks_w0():
    """Acceptance of issue 11.6: from the notebook's W0, 1,499 steps, n = 50,000: isodyn's notebook update ends
    within 0.01 of an independent plain-NumPy run of the notebook's loop (strongest mode ~1.9), and the exact
    gradient within 0.01 of the same loop with the one line corrected (~1.04).  The tolerance 0.01 is several times
    the run-to-run spread of the final strongest mode at this n (measured: ~1e-3)."""
    from isodyn import train

    for update, plain in (("reference-notebook", "notebook"), ("gradient", "gradient")):
        cfg = NetworkConfig(Rule("euclidean", "standard"), net="relu", samples=nb.SAMPLES, sigma1=nb.SIGMA1,
                            sigma2=nb.SIGMA2, lr=nb.LR_EUCLIDEAN, update=update)
        run = train(cfg, W0=nb.notebook_w0(), steps=nb.STEPS, seed=1)
        ours = float(np.max(run.s[-1]))
        ref = float(_plain_notebook_run(plain, seed=2)[-1])
        assert abs(ours - ref) <= 0.01, (update, ours, ref)
        assert (ours > 1.5) if update == "reference-notebook" else (abs(ours - 1.0) < 0.2), ours
