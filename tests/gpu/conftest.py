"""tests/gpu: skipped where CuPy or a usable CUDA device is missing (isodyn.dynamics.network.backends.cupy_status)."""

import pytest


def pytest_collection_modifyitems(config, items):
    from isodyn.dynamics.network.backends import cupy_status

    ok, why = cupy_status()
    if ok:
        return
    mark = pytest.mark.skip(reason=f"CuPy/CUDA not usable: {why}")
    for item in items:
        if "/tests/gpu/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(mark)
