"""Files isodyn writes are atomic and carry the user's umask (dynamics.files.atomic_write)."""

from __future__ import annotations

import os
import stat

import pytest

from isodyn.dynamics.files import atomic_write, umask


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert umask() == mask
        atomic_write(tmp_path / "a.txt", "x")
        atomic_write(tmp_path / "b.bin", b"\x00")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]  # no temporary files left


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "c.txt", 12345)  # not str or bytes
    assert list(tmp_path.iterdir()) == []
