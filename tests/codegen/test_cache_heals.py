"""The kernel cache heals (codegen.cache): every file of a filled cache truncated or overwritten with garbage,
the next run regenerates what it needs, says so on stderr and gives the same numbers; damaged numba cache
files alone are recompiled; two cold-cache processes filling one cache at once both succeed; a cache that
cannot be written is replaced by a temporary one with one warning, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ARGS = ["simulate", "--s0", "0.01,0.2,0.7", "--steps", "50", "--json"]


def _run(cache, *args):
    env = {**os.environ, "ISODYN_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "isodyn", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _numbers(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)["s_final"]


def _damage(files):
    for i, f in enumerate(sorted(files)):
        if i % 2:
            with open(f, "r+b") as h:
                h.truncate(max(1, f.stat().st_size // 2))
        else:
            f.write_bytes(b"garbage\x00\x01")


@pytest.mark.slow
def test_a_damaged_cache_is_regenerated_with_the_same_numbers(tmp_path):
    cache = tmp_path / "cache"
    want = _numbers(_run(cache, *ARGS))
    derivation = _run(cache, "derive").stdout
    _damage([f for f in cache.rglob("*") if f.is_file()])
    again = _run(cache, *ARGS)
    assert _numbers(again) == want
    assert "corrupt" in again.stderr and again.stderr.count("\n") == len(set(again.stderr.splitlines()))
    assert _run(cache, "derive").stdout == derivation
    # numba's cache files alone
    _damage(list((cache / "kernels" / "__pycache__").glob("*.nb[ic]")))
    third = _run(cache, *ARGS)
    assert _numbers(third) == want and "numba's cache" in third.stderr


@pytest.mark.slow
def test_two_cold_processes_fill_one_cache(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "ISODYN_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-m", "isodyn", *ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert json.loads(outs[0][0])["s_final"] == json.loads(outs[1][0])["s_final"]


def test_an_unwritable_cache_falls_back_with_one_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = _run(blocker / "cache", "derive")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("isodyn: warning: the kernel cache") and "ISODYN_CACHE" in lines[0]
