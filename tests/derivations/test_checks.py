"""One error type and one set of checkers for bad input (derivations/checks.py): the message, the range logic,
the flag convention, and that the rule, simulate, the command line and sweep specs agree on every parameter."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import isodyn
from isodyn.derivations import Rule, RuleError
from isodyn.derivations.checks import (
    PARAMETERS,
    Choice,
    Flag,
    InputError,
    Integer,
    Real,
    cli_flag,
    spec_key,
)
from isodyn.dynamics.cli.common import main
from isodyn.dynamics.modes.simulation import ParameterError, simulate
from isodyn.dynamics.sweep.spec import SpecError, parse_spec


def test_one_error_class_under_every_old_name():
    assert RuleError is InputError and ParameterError is InputError and SpecError is InputError
    assert isodyn.InputError is InputError and issubclass(InputError, ValueError)


def test_message_fields_and_cut_value():
    e = InputError("lr", -1.0, "a real > 0")
    assert str(e) == "lr: invalid value -1.0; accepted: a real > 0"
    assert (e.flag, e.value, e.accepted, e.key) == ("lr", -1.0, "a real > 0", "lr")
    assert e.detail == "invalid value -1.0; accepted: a real > 0"
    long = InputError("axes.x", "y" * 100, "z", "unknown key")
    text = str(long)
    assert text.startswith("axes.x: unknown key 'yyy") and "...; accepted: z" in text
    assert len(text.split(" key ", 1)[1].split(";")[0]) == 60
    assert str(e.at("--lr")) == "--lr: invalid value -1.0; accepted: a real > 0"
    assert str(InputError("lr", np.float64(-2.0), "x")) == "lr: invalid value -2.0; accepted: x"  # not np.float64(..)
    back = pickle.loads(pickle.dumps(long))
    assert str(back) == text and back.what == "unknown key"


@pytest.mark.parametrize("checker, good, bad", [
    (Real(lo=0.0), [0, 0.0, 2.5, np.float32(1.0), np.int64(3)], [-1e-300, math.inf, math.nan, True, "1", None]),
    (Real(lo=0.0, lo_open=True), [1e-300, 5], [0, 0.0, -1]),
    (Real(lo=0.0, hi=1.0, hi_open=True), [0.0, 0.999], [1.0, 1, -0.1]),
    (Real(hi=2.0), [-5.0, 2.0], [2.0000001]),
    (Real(), [-1e300, 0.0], [math.inf, -math.inf]),
    (Integer(lo=1, hi=3), [1, 3, np.int32(2)], [0, 4, 2.0, True, "2"]),
    (Integer(lo=0), [0, 10**12], [-1]),
    (Choice(("a", "b")), ["a", "b"], ["c", 1, None]),
    (Flag(), [True, False, np.True_], [0, 1, "true", None]),
])
def test_checkers_accept_and_reject(checker, good, bad):
    for v in good:
        checker("x", v)
    for v in bad:
        with pytest.raises(InputError) as e:
            checker("x", v)
        assert e.value.flag == "x" and e.value.accepted == checker.text


def test_accepted_in_words_from_the_range():
    assert Real(lo=0.0).text == "a real >= 0"
    assert Real(lo=0.0, lo_open=True).text == "a real > 0"
    assert Real(lo=0.0, hi=1.0, hi_open=True).text == "a real in [0, 1)"
    assert Real(lo=0.0, lo_open=True, hi=1.0).text == "a real in (0, 1]"
    assert Real().text == "a finite real" and Real("mine", lo=0.0).text == "mine"
    assert Integer().text == "an integer >= 1" and Integer(lo=1, hi=9).text == "an integer in [1, 9]"
    assert Choice(("map", "rk4")).text == "one of map, rk4"


def test_parse_text_and_arrays():
    r = Real(lo=0.0, lo_open=True)
    assert r.parse("--lr", "0.5") == 0.5
    for text in ("0", "-1", "nan", "inf", "abc", ""):
        with pytest.raises(InputError) as e:
            r.parse("--lr", text)
        assert e.value.value == text  # the text as given
    assert Integer().parse("--steps", "7") == 7
    with pytest.raises(InputError):
        Integer().parse("--steps", "2.5")
    np.testing.assert_array_equal(r.array("lr", [0.1, 2]), [0.1, 2.0])
    assert r.array("lr", 3).shape == ()
    with pytest.raises(InputError) as e:
        r.array("lr", [0.1, -2.0, 0.0])
    assert e.value.value == -2.0  # the first value outside the range
    with pytest.raises(InputError) as e:
        r.array("lr", np.array([[1.0, np.nan]]))
    assert math.isnan(e.value.value)
    with pytest.raises(InputError):
        r.array("lr", 0.0)


def test_one_spelling_table():
    assert cli_flag("sigma1") == "--sigma-online" and spec_key("sigma1") == "sigma_online"
    assert cli_flag("weight_decay") == "--weight-decay" and spec_key("weight_decay") == "weight_decay"
    assert cli_flag("map_resync") == "--map-resync"


def test_rule_errors_name_the_keyword():
    with pytest.raises(InputError) as e:
        Rule("euclidean", "no-predictor", beta=0.5)
    assert e.value.flag == "beta" and "variant" in e.value.accepted and "--" not in e.value.accepted
    for kw in ({"alpha": -1}, {"eps": math.nan}, {"alpha": "1"}, {"normalize": 1}, {"metric": "l2"}):
        with pytest.raises(InputError) as e:
            Rule(**kw)
        assert e.value.flag == next(iter(kw))
    assert Rule(normalize=np.True_).normalize is True and type(Rule(alpha=1).alpha) is float


VALUES = (-1.0, 0.0, 0.5, 1.0, math.inf)
#: parameters of the trained predictor only (SPEC §7): checked with predictor = trainable
TRAINED = ("predictor_lr_ratio", "predictor_weight_decay")


def _simulate_rejects(name, v) -> bool:
    try:
        # beta is a run-time parameter of an IsoLoss-family rule only (Rule(..., beta=B))
        simulate(Rule(predictor="trainable" if name in TRAINED else "closed-form",
                      beta=0.5 if name == "beta" else None), [0.1, 0.2], steps=1, **{name: v})
    except InputError as e:
        assert e.flag == name
        return True
    return False


def _cli_rejects(capsys, name, v) -> bool:
    extra = ["--predictor", "trainable"] if name in TRAINED else []
    rc = main(["simulate", "--json", "--s0", "0.1,0.2", "--steps", "1", *extra, cli_flag(name), repr(v)])
    out, err = capsys.readouterr()
    if rc == 2:
        assert err.startswith(f"isodyn: error: argument {cli_flag(name)}: ") and err.count("\n") == 1
    return rc == 2


def _spec_rejects(name, v) -> bool:
    toml = "inf" if v == math.inf else repr(v)
    try:
        fixed = '[fixed]\npredictor = "trainable"\n' if name in TRAINED else ""
        parse_spec(f"{fixed}[axes]\n{spec_key(name)} = [{toml}]\n")
    except InputError as e:
        assert e.flag == f"axes.{spec_key(name)}[0]"
        return True
    return False


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_every_layer_agrees_on_every_parameter(capsys, name):
    """The domain of a model parameter is written once: simulate, the command line and a sweep spec accept and
    reject the same values (and the rule too, for its own options)."""
    for v in VALUES:
        want = not (math.isfinite(v) and PARAMETERS[name].inside(v))
        assert _simulate_rejects(name, v) == want, (name, v)
        assert _cli_rejects(capsys, name, v) == want, (name, v)
        assert _spec_rejects(name, v) == want, (name, v)
        if name in ("alpha", "eps", "beta"):
            try:
                Rule(**{name: v})
                assert not want, (name, v)
            except InputError:
                assert want, (name, v)
