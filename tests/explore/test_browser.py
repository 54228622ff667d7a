"""Acceptance of ``isodyn explore`` in a real browser (issue 12): the server starts on a free loopback port,
headless Chromium loads the page with a state in the URL, a control is changed from the page, the plotted data
(the Bokeh data source ``trajectories``, read in the page) change accordingly, the URL follows, the browser
console has no error, a screenshot is kept, and Ctrl-C stops the server with exit status 130."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interruptible import restore_sigint

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                                       "/usr/bin/chromedriver; .ci/run installs them)")

#: the plotted eigenvalues as the page holds them: one list per mode
READ = """
const doc = Bokeh.documents[0];
if (doc === undefined) return null;
for (const m of doc.all_models) {
  if (m.name === 'trajectories') return m.data.ys.map(a => Array.from(a, x => (x === null ? NaN : x)));
}
return null;
"""
#: set the value of the widget titled arguments[0] to arguments[1], as a user typing into it does
SET = """
const doc = Bokeh.documents[0];
for (const m of doc.all_models) {
  if (m.title === arguments[0] && 'value' in m) { m.value = arguments[1]; return true; }
}
return false;
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, fn, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "isodyn", "explore", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore_sigint)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, (line, proc.poll())
        yield proc, f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1100"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def test_a_control_changes_the_plotted_data(server, browser, tmp_path):
    proc, url = server
    browser.get(url + "?steps=800&weight_decay=0.0")
    first = _wait("the first draw", lambda: browser.execute_script(READ), 120)
    assert len(first) == 10 and all(len(ys) == 801 for ys in first)  # the URL's steps were restored
    assert browser.execute_script(SET, "steps", 400)
    second = _wait("the redraw", lambda: (d := browser.execute_script(READ)) and len(d[0]) == 401 and d, 30)
    assert all(len(ys) == 401 for ys in second)
    assert second[4][-1] < first[4][-1]  # a middle mode, still rising: fewer steps, a smaller final value
    _wait("the URL to follow the control", lambda: "steps=400" in browser.current_url, 10)
    time.sleep(0.5)  # the page settles (late console messages)
    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("ISODYN_ARTEFACTS"):
        Path(os.environ["ISODYN_ARTEFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["ISODYN_ARTEFACTS"]) / "explorer.png")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
