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
    pytest.mark.routes,
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


BOOK_NAME, BOOK_TAG = "astro-school/xd-cluster-tutorial", "v1.2"


@pytest.fixture
def book_site(tmp_path):
    """`make book`'s build of a copy of the repository whose published name is set; served on loopback."""
    pytest.importorskip("myst_nb", reason="the web-edition tools are not installed (requirements-book.txt)")
    import importlib.util

    from test_data import serve

    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "__pycache__", "*.txt"))
    spec = importlib.util.spec_from_file_location("badges", copy / "tools" / "badges.py")
    badges = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(badges)
    assert badges.main(["--root", str(copy), "--repository", BOOK_NAME, "--tag", BOOK_TAG]) == 0
    out = copy / "build" / "book"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-c", "book",
                            ".", str(out)], cwd=copy, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    with serve(out) as base:  # the same loopback server as the download tests
        yield out, base


def internal_links(page: pathlib.Path) -> list[str]:
    from html.parser import HTMLParser

    links = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("href", "src") and value and not re.match(r"[a-z]+:|#|//", value):
                    links.append(value)

    Parser().feed(page.read_text())
    return links


def test_the_web_edition(browser, book_site):
    out, base = book_site
    pages = sorted(p for p in out.rglob("*.html") if "_static" not in p.parts)  # not the theme's templates
    names = {p.relative_to(out).as_posix() for p in pages}
    lessons = [f"notebooks/{p.stem}.html" for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))]
    solutions = [f"solutions/{p.stem}.html" for p in sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))]
    assert set(lessons + solutions) <= names and len(lessons) == len(solutions) >= 9
    # no broken internal link on any page
    broken = [(p.relative_to(out).as_posix(), link) for p in pages for link in internal_links(p)
              if not (p.parent / link.split("#")[0].split("?")[0]).resolve().exists()]
    assert broken == []
    # the table of contents in lesson order
    browser.get(f"{base}/book/index.html")
    toc = [a.get_attribute("href").split("/", 3)[3] for a in browser.find_elements("css selector", "nav.bd-links a")]
    assert [t for t in toc if t.startswith("notebooks/")] == lessons
    assert [t for t in toc if t.startswith("solutions/")] == solutions

    browser.get(f"{base}/{lessons[1]}")
    wait_for(lambda: len(browser.find_elements("css selector", "mjx-container svg")) > 20, what="typeset equations")
    assert browser.find_elements("css selector", "mjx-merror") == []  # no TeX error
    assert not browser.find_elements("css selector", "script[src*='cdn']")  # MathJax from the site itself
    figures = browser.find_elements("css selector", "div.cell_output img")
    assert len(figures) >= 2  # notebook 02 has two
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", f)
               for f in figures)
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "a")]
    nb = "notebooks/02-likelihood-and-optimisation.ipynb"
    assert any(h.startswith(f"https://mybinder.org/v2/gh/{BOOK_NAME}/{BOOK_TAG}?") and nb in h for h in hrefs)
    assert f"https://colab.research.google.com/github/{BOOK_NAME}/blob/{BOOK_TAG}/{nb}" in hrefs
    assert not [h for h in hrefs if "YOUR-ORG" in h]
    assert f"{base}/solutions/02-likelihood-and-optimisation-solutions.html" in hrefs  # exercises -> solutions
    assert "Colab only" not in browser.find_element("css selector", "main").text  # the set-up cell is left out
    # long code and output lines wrap at book width: nothing scrolls sideways
    wide = browser.execute_script(
        "return [...document.querySelectorAll('main pre')].filter(p => p.scrollWidth > p.clientWidth + 1).length")
    assert wide == 0
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
