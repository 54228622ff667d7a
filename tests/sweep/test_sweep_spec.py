"""Sweep specs, chunk plans, the parts store and the bad-input contract of `isodyn sweep` (issue 6).

Bad specs and an unreachable scheduler must end with exit status 2 and one line, before any work:
checked by making any chunk computation fail the test and by looking for files afterwards.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

from isodyn.dynamics.cli.common import main
from isodyn.dynamics.sweep import executors, plan
from isodyn.dynamics.sweep.spec import SpecError, parse_spec
from isodyn.dynamics.sweep.store import PartStore, StoreError

GOOD = """
[run]
steps = 50
[fixed]
modes = 3
[axes]
variant = ["standard", "iso"]
lr = { logspace = [1e-3, 1e-1, 3] }
weight_decay = { linspace = [0.0, 0.5, 4] }
"""


def test_parse_shape_order_and_values():
    spec = parse_spec(GOOD)
    assert spec.axis_names == ("variant", "lr", "weight_decay")
    assert spec.shape == (2, 3, 4) and spec.n_points == 24
    np.testing.assert_allclose(spec.values_of("lr"), [1e-3, 1e-2, 1e-1], rtol=1e-12)
    np.testing.assert_allclose(spec.values_of("weight_decay"), [0, 1 / 6, 1 / 3, 0.5], rtol=1e-12)
    p = spec.point(23)  # C order: last axis fastest
    assert (p["variant"], p["lr"], p["weight_decay"]) == ("iso", spec.values_of("lr")[2], 0.5)
    assert p["modes"] == 3 and p["sigma_target"] == 0.1
    # the digest ignores layout and comments, but not values
    assert parse_spec("# comment\n" + GOOD).digest == spec.digest
    assert parse_spec(GOOD.replace("steps = 50", "steps = 51")).digest != spec.digest


def test_default_learning_rate_is_the_papers():
    spec = parse_spec('[axes]\nvariant = ["standard", "no-predictor"]\n')
    assert [spec.lr(spec.point(i)) for i in range(2)] == [0.01, 0.1]


def test_random_initial_spectrum_depends_on_point_index_only():
    spec = parse_spec('[fixed]\ns0_family = "random"\nseed = 3\nmodes = 4\n[axes]\nlr = [0.01, 0.02, 0.03]\n')
    a = [spec.initial_spectrum(i, spec.point(i)) for i in range(3)]
    b = [spec.initial_spectrum(i, spec.point(i)) for i in (2, 1, 0)][::-1]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert np.all(np.diff(x) >= 0) and np.all((x >= 1e-3) & (x <= 1.0))
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize(
    "text, key",
    [
        ('[axes]\nvariant = ["foo"]', "axes.variant[0]"),
        ("[axes]\nlr = []", "axes.lr"),
        ("[axes]\nlr = { linspace = [0.1, 1.0, 0] }", "axes.lr"),
        ("[axes]\nlr = [-0.1]", "axes.lr[0]"),
        ("[fixed]\nlr = -0.1\n[axes]\nalpha = [1.0]", "fixed.lr"),
        ("[axes]\nlr = [0.1]\n[fixed]\nfoo = 1", "fixed.foo"),
        ("[axes]\nlr = [0.1]\n[run]\nsheme = 'map'", "run.sheme"),
        ("[axes]\nlr = [0.1]\n[extra]\nx = 1", "extra"),
        ("[axes]\nlr = [0.1, 0.1]", "axes.lr"),
        ("[axes]\nlr = [0.1]\n[fixed]\nlr = 0.2", "axes.lr"),
        ("[fixed]\nlr = 0.1", "axes"),
        ('[axes]\nbeta = [0.5]\n[fixed]\nvariant = "no-predictor"', "axes.beta"),
        ('[axes]\nlr = [0.1]\n[run]\nclosure = "exact"', "run.closure"),
        ("[axes]\nema = [1.0]", "axes.ema[0]"),
        ("[axes]\nlr = [0.1]\n[keep]\ntrajectories = true\nstride = 100000", "keep.stride"),
        ("[axes\nlr = [0.1]", "toml (line 1, column 6)"),
    ],
)
def test_bad_specs_name_the_key(text, key):
    with pytest.raises(SpecError) as e:
        parse_spec(text)
    assert str(e.value).startswith(key + ":") and "accepted:" in str(e.value)


def _no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(executors, "compute_chunk", boom)


@pytest.mark.parametrize(
    "body",
    ['[axes]\nvariant = ["bogus"]', "[axes]\nlr = []", "[axes]\nlr = [-0.01]", "[axes]\nlr = [0.1]\n[fixed]\nnope = 2"],
    ids=["unknown-rule", "empty-axis", "negative-lr", "unknown-key"],
)
def test_cli_bad_spec_exit_2_one_line_no_work(tmp_path, capsys, monkeypatch, body):
    _no_work(monkeypatch)
    spec = tmp_path / "s.toml"
    spec.write_text(body)
    out = tmp_path / "o.nc"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("isodyn: error: ") and "accepted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_unreachable_scheduler_exit_2_one_line_no_work(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    _no_work(monkeypatch)
    spec = tmp_path / "s.toml"
    spec.write_text(GOOD)
    addr = f"tcp://127.0.0.1:{_closed_port()}"
    rc = main(["sweep", str(spec), "--out", str(tmp_path / "o.nc"), "--scheduler", addr, "--scheduler-timeout", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--scheduler" in err and addr in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o.nc"), "--scheduler", "local:0"]) == 2


def test_plan_covers_every_point_once_and_groups_structure():
    spec = parse_spec(GOOD.replace("modes = 3", "alpha = 1.0") + "modes = [2, 5]\n")
    for size in (1, 5, 7, 1000):
        chunks = plan.plan_chunks(spec, size)
        idx = np.concatenate([c.index for c in chunks])
        assert np.array_equal(np.sort(idx), np.arange(spec.n_points))
        assert [c.id for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            assert 1 <= len(c) <= size
            keys = {spec.structural_key(spec.point(i)) for i in c.index}
            assert len(keys) == 1
    assert len(plan.plan_chunks(spec, 1000)) == 4  # variant x modes groups
    a, b = plan.plan_chunks(spec, 7), plan.plan_chunks(spec, 7)
    assert all(np.array_equal(x.index, y.index) for x, y in zip(a, b))


def test_store_refuses_foreign_or_unrequested_parts(tmp_path):
    out = tmp_path / "o.nc"
    m = {"digest": "abc", "n_points": 4, "chunk_size": 2, "n_chunks": 2}
    st = PartStore(out, m)
    assert st.open(resume=False) == set()
    st.write(1, np.array([2, 3]), {"x": np.ones(2)})
    assert PartStore(out, m).open(resume=True) == {1}
    with pytest.raises(StoreError, match="--resume"):
        PartStore(out, m).open(resume=False)
    with pytest.raises(StoreError, match="digest"):
        PartStore(out, {**m, "digest": "xyz"}).open(resume=True)
    np.testing.assert_array_equal(st.read(1)["index"], [2, 3])
