#!/usr/bin/env bash
# GPU check for issue 4 (< 6 minutes): venv with the project (gpu extra), tests/gpu, CuPy bench rows.
# Run from the repository root on a fresh CUDA machine; logs go to $OUT (default ./gpu_check_out).
set -uo pipefail
OUT=${OUT:-$PWD/gpu_check_out}; mkdir -p "$OUT"
export ISODYN_CACHE=/tmp/isodyn-cache PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{ nvidia-smi || true; } >"$OUT/nvidia-smi.txt" 2>&1
$PY -m venv --system-site-packages /tmp/isodyn-gpu-venv
# where python3 is itself a venv (its CuPy not in the base site), let the new venv see its packages
$PY -c 'import site; print("\n".join(site.getsitepackages()))' \
  >"$(/tmp/isodyn-gpu-venv/bin/python -c 'import site; print(site.getsitepackages()[0])')/_parent_site.pth"
. /tmp/isodyn-gpu-venv/bin/activate
# the gpu extra; where no package index is reachable, the CuPy already installed on the machine
if ! timeout 60 pip install -q --retries 0 --timeout 5 --no-build-isolation -e ".[gpu]" >"$OUT/pip.log" 2>&1; then
  echo "gpu extra not installable here (see pip.log); using the machine's CuPy" | tee -a "$OUT/pip.log"
  timeout 60 pip install -q --no-build-isolation --no-deps -e . >>"$OUT/pip.log" 2>&1 || exit 1
fi
python -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" 2>&1 | tee "$OUT/env.txt"
timeout 180 python -m pytest -q -p no:cacheprovider tests/gpu 2>&1 | tee "$OUT/gpu_tests.log"
rc_tests=${PIPESTATUS[0]}
timeout 150 python -m isodyn.dynamics.bench.network --rows inputs,cupy --reps 10 --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
rc_bench=${PIPESTATUS[0]}
echo "tests rc=$rc_tests bench rc=$rc_bench" | tee -a "$OUT/env.txt"
exit $(( rc_tests != 0 || rc_bench != 0 ))
