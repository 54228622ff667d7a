"""Screenshots of ``isodyn explore`` for the docs (docs/explorer-*.png), from headless Chromium.

    python scripts/explorer_screenshots.py [OUT_DIR]     (default docs/; needs /usr/bin/chromium and chromedriver)
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

SHOTS = {"euclidean": "", "cosine-iso": "metric=cosine&variant=iso&closure=mean-field",
         "weight-decay": "weight_decay=0.15&mode_a=3&mode_b=10"}
READY = "const d = Bokeh.documents[0]; if (!d) return false; " \
        "for (const m of d.all_models) if (m.name === 'trajectories') return m.data.ys.length > 0; return false;"


def main(out: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "isodyn", "explore", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    try:
        for name, query in SHOTS.items():
            driver.get(f"http://127.0.0.1:{port}/?{query}")
            end = time.monotonic() + 300
            while not driver.execute_script(READY) and time.monotonic() < end:
                time.sleep(0.5)
            time.sleep(2.0)
            path = out / f"explorer-{name}.png"
            driver.save_screenshot(str(path))
            Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)
            print(path, path.stat().st_size)
    finally:
        driver.quit()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
