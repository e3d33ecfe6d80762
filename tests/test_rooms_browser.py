"""In a real headless browser: `make lab` opens notebook 01 with working links, and the web edition's pages.

These drive Debian's chromium and chromium-driver (``apt-get install chromium chromium-driver``)
through selenium, on loopback only; they are skipped where either is missing.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromedriver are not installed"),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-extensions", "--no-first-run",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(predicate, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab_url(tmp_path):
    """Start `make lab` on a free loopback port; yield the URL it prints; stop it."""
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"), "MPLBACKEND": "Agg"}
    log = tmp_path / "lab.log"
    options = f"--port={port} --ServerApp.port_retries=0 --no-browser"
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "-s", "lab", "VENV=", f"PY={sys.executable}", "ALLOW_ROOT=1",
                                 f"LAB_OPTIONS={options}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        url = wait_for(lambda: re.search(rf"http://127\.0\.0\.1:{port}/\S+token=\w+", log.read_text()), 120,
                       "the URL that make lab prints").group(0)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_make_lab_opens_notebook_01_and_its_solutions_link(browser, lab_url):
    assert "/lab/tree/notebooks/01-data-inspection.ipynb?" in lab_url  # the printed URL opens notebook 01
    base, token = lab_url.split("/lab/")[0], lab_url.split("token=")[1]
    # rooted at the repository: the notebooks' ../README.md and ../solutions/ exist for the server
    for path in ("README.md", "solutions/01-data-inspection-solutions.ipynb", "notebooks"):
        with urllib.request.urlopen(f"{base}/api/contents/{path}?content=0&token={token}", timeout=30) as reply:
            assert reply.status == 200, path
    browser.get(lab_url)
    heading = "01 — Data inspection: the stars around NGC 288"
    wait_for(lambda: any(h.text.startswith(heading) for h in browser.find_elements("css selector", ".jp-Notebook h1")),
             what="notebook 01's title in an open notebook")
    link = wait_for(lambda: [a for a in browser.find_elements("css selector", ".jp-Notebook a")
                             if "solutions/01-data-inspection-solutions.ipynb" in (a.get_attribute("href") or "")],
                    what="a solutions link in notebook 01")[0]
    browser.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", link)
    wait_for(lambda: any("Solutions" in h.text and "01" in h.text
                         for h in browser.find_elements("css selector", ".jp-Notebook h1") if h.is_displayed()),
             what="the solutions notebook opened from the link")
    tabs = [t.text for t in browser.find_elements("css selector", ".lm-TabBar-tabLabel")]
    assert "01-data-inspection-solutions.ipynb" in tabs and "01-data-inspection.ipynb" in tabs
