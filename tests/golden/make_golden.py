"""Generate tests/golden/simulate.json: `isodyn simulate --json` for a spread of rules, schemes and options.

Run once, from the code as it was before the architecture change (commit bb82d43):
    python tests/golden/make_golden.py
The test (tests/modes/test_golden_numbers.py, same CASES and argv) reruns every case and compares
s_final and lam_final.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

S0 = "0.001,0.01,0.05,0.2,0.6"
CASES = [
    # Euclidean, closed form
    "--metric euclidean --variant standard --scheme map",
    "--metric euclidean --variant standard --scheme map --alpha 0.5 --eps 0.01",
    "--metric euclidean --variant standard --scheme map --ema 0.9 --weight-decay 0.01 --sigma-online 0.2",
    "--metric euclidean --variant standard --scheme map --normalize --alpha 0.7",
    "--metric euclidean --variant standard --scheme map --rho 0.3 --alpha 1.3",
    "--metric euclidean --variant standard --scheme map --map-resync 1 --alpha 0.63",
    "--metric euclidean --variant standard --scheme rk4",
    "--metric euclidean --variant standard --scheme rk4 --ema 0.5 --rho 0.3 --substeps 2",
    "--metric euclidean --variant standard --scheme dopri5",
    "--metric euclidean --variant standard --scheme dopri5 --alpha 0.7 --ema 0.8 --weight-decay 0.005",
    "--metric euclidean --variant standard --scheme dopri5 --rho 0.5",
    "--metric euclidean --variant standard --scheme dopri5 --normalize --stride 7",
    "--metric euclidean --variant iso --scheme map",
    "--metric euclidean --variant iso --scheme map --alpha 0.63 --sigma-target 0.3",
    "--metric euclidean --variant iso --scheme rk4 --alpha 2",
    "--metric euclidean --variant iso --scheme dopri5 --alpha 0.5",
    "--metric euclidean --variant standard --beta 0.5 --scheme map --alpha 0.8",
    "--metric euclidean --variant standard --beta 0.5 --scheme dopri5",
    "--metric euclidean --variant no-stopgrad --scheme map",
    "--metric euclidean --variant no-stopgrad --scheme dopri5",
    "--metric euclidean --variant wrong-stopgrad --scheme map",
    "--metric euclidean --variant wrong-stopgrad --scheme dopri5",
    "--metric euclidean --variant wrong-stopgrad --scheme map --s0 0.01,0.5,2.5",
    "--metric euclidean --variant wrong-stopgrad --scheme dopri5 --s0 0.01,0.5,2.5",
    "--metric euclidean --variant standard --scheme map --lr 3 --steps 300",
    "--metric euclidean --variant no-predictor --scheme map --sigma-online 0.1",
    "--metric euclidean --variant no-predictor --scheme rk4",
    # cosine: mean-field and exact closures
    "--metric cosine --variant standard --scheme map --closure mean-field",
    "--metric cosine --variant standard --scheme map --closure mean-field --ema 0.9",
    "--metric cosine --variant standard --scheme map --closure mean-field --alpha 0.5 --normalize",
    "--metric cosine --variant standard --scheme map --closure exact --steps 200",
    "--metric cosine --variant standard --scheme dopri5 --closure mean-field",
    "--metric cosine --variant standard --scheme rk4 --closure exact --steps 100",
    "--metric cosine --variant iso --scheme map --closure mean-field --alpha 0.5",
    "--metric cosine --variant iso --scheme map --closure exact --steps 200",
    "--metric cosine --variant iso --scheme dopri5 --closure mean-field --rho 0.2",
    "--metric cosine --variant no-stopgrad --scheme map --closure mean-field",
    "--metric cosine --variant wrong-stopgrad --scheme map --closure mean-field",
    "--metric cosine --variant no-predictor --scheme map --closure mean-field",
    "--metric cosine --variant iso --beta 0.5 --scheme map --closure mean-field",
]
COMMON = f"--s0 {S0} --steps 1500 --json"
KEYS = ("s_final", "lam_final", "recruit_steps", "collapsed", "diverged", "diverged_step", "n_dead", "final_step")
#: read by the test too (the recorded file has KEYS only)
EXTRA = ("s_final_by_mode",)


def argv(case: str) -> list[str]:
    own = case.split()
    args = list(own)
    common = COMMON.split()
    i = 0
    while i < len(common):  # the case's own --s0 / --steps win over the common ones
        if common[i] in own:
            i += 2
            continue
        args.append(common[i])
        i += 1
    return ["simulate", *args]


def run_case(main, case: str) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv(case))
    if rc != 0:
        raise SystemExit(f"{case}: exit {rc}")
    out = json.loads(buf.getvalue())
    return {k: out[k] for k in KEYS + EXTRA if k in out}


if __name__ == "__main__":
    from dynamics.cli import main  # the module layout before the change (isodyn.dynamics.cli after it)

    golden = {"source": "commit bb82d43 (before issue 10)", "common": COMMON,
              "cases": {c: run_case(main, c) for c in CASES}}
    path = Path(__file__).with_name("simulate.json")
    path.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {path} ({len(CASES)} cases)", file=sys.stderr)
