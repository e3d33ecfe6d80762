"""Sphinx configuration of the web edition (make book): the notebooks and solutions as stored.

Built with ``sphinx-build -c book . build/book`` from the repository root: the source folder
is the repository itself, so that every relative link of the notebooks (``../solutions/...``,
``../README.md``) is a link between pages.  Nothing is executed (``nb_execution_mode = "off"``)
and nothing is fetched: MathJax 3 is copied from the Python package django-static-mathjax
(requirements-book.txt) into the site.  The Binder and Colab launch buttons come from the one
published name, ``[tool.xd-tutorial]`` of pyproject.toml (tools/badges.py).
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import badges  # noqa: E402

REPOSITORY, TAG = badges.read_config(ROOT)

project = "Gaussian mixtures with measurement errors"
author = "the xd-cluster-tutorial authors"
copyright = "2026, the xd-cluster-tutorial authors (text CC-BY-4.0, code BSD-3-Clause)"
extensions = ["myst_nb"]
root_doc = "book/index"
include_patterns = ["book/index.md", "README.md", "INSTRUCTORS.md", "data/README.md",
                    "notebooks/[0-9][0-9]-*.ipynb", "solutions/[0-9][0-9]-*.ipynb"]
exclude_patterns = ["build", ".venv*", "**/.ipynb_checkpoints"]
nb_execution_mode = "off"  # the stored outputs, as nbval checks them
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_theme = "sphinx_book_theme"
html_title = "XD tutorial: globular-cluster velocities"
html_static_path = ["_static"]
html_css_files = ["wrap.css"]
html_extra_path = ["_extra"]
html_last_updated_fmt = None
html_theme_options = {
    "home_page_in_toc": True,
    "use_download_button": True,
    "show_toc_level": 2,
}
if REPOSITORY:
    html_theme_options.update({
        "repository_url": f"https://github.com/{REPOSITORY}",
        "repository_branch": TAG,
        "path_to_docs": "",
        "use_repository_button": True,
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
            "notebook_interface": "jupyterlab",
        },
    })

# MathJax 3 from the site itself (no CDN): the full TeX component with SVG output has every
# extension and its fonts in one file.
mathjax_path = "mathjax/tex-svg-full.js"


def copy_mathjax(app) -> None:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is missing: pip install -r requirements-book.txt (django-static-mathjax)")
    source = pathlib.Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    target = pathlib.Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "es5" / "tex-svg-full.js", target / "tex-svg-full.js")
    shutil.copy(source / "LICENSE", target / "LICENSE")


# Links in the README to folders and source files are not pages: point them at the repository
# at the published tag (or leave them as text while the name is not set).
_FOLDER_LINK = re.compile(r"\[([^\]]*)\]\(((?:xdtutorial|solutions|notebooks|binder|tests|tools|benchmarks)/|"
                          r"[\w.-]+\.(?:py|cff|yml|toml|txt)|LICENSE[\w-]*)\)")


def link_source_files(app, docname: str, source: list[str]) -> None:
    if docname not in ("README", "INSTRUCTORS", "data/README"):
        return
    prefix = "" if docname != "data/README" else "data/"

    def repl(match: re.Match) -> str:
        text, path = match.group(1), prefix + match.group(2)
        if not REPOSITORY:
            return text
        kind = "tree" if path.endswith("/") else "blob"
        return f"[{text}](https://github.com/{REPOSITORY}/{kind}/{TAG}/{path})"

    source[0] = _FOLDER_LINK.sub(repl, source[0])


def setup(app):
    app.connect("builder-inited", copy_mathjax)
    app.connect("source-read", link_source_files)
