"""``isodyn explore``'s bad input: exit status 2 and one line naming the flag, before a server starts."""

from __future__ import annotations

import socket

import pytest

from isodyn.dynamics.cli import main


@pytest.fixture
def no_server(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the server started before the input was checked")

    from isodyn.explore import server

    monkeypatch.setattr(server, "serve", boom)


def _one_line(capsys, argv, *words):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert err.startswith("isodyn: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert out == ""
    for w in words:
        assert w in err, err
    return err


def test_port_out_of_range(capsys, no_server):
    _one_line(capsys, ["explore", "--no-browser", "--port", "70000"], "--port", "65535")


def test_port_taken(capsys, no_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        _one_line(capsys, ["explore", "--no-browser", "--port", str(port)], "--port", str(port), "free port")


@pytest.mark.parametrize("host", ["not an address", "999.1.1.1", "no-such-host.invalid"])
def test_host_not_an_address(capsys, no_server, host):
    _one_line(capsys, ["explore", "--no-browser", "--host", host, "--port", "5999"], "--host", "IP address")


def test_without_panel_it_says_what_to_install(capsys, monkeypatch, no_server):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "panel" else real(name, *a))
    _one_line(capsys, ["explore", "--no-browser"], 'pip install "isodyn[explore]"', "panel")
