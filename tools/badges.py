"""Write every launch badge, and the Colab set-up cell, from the one published name in pyproject.toml.

The GitHub owner/name this tutorial is published under and the release tag that Binder,
Colab and the web edition launch are set in one place, ``[tool.xd-tutorial]`` of
pyproject.toml.  This tool writes everything that depends on them:

- the README's badge line (between ``<!-- badges: start -->`` and ``<!-- badges: end -->``);
- CITATION.cff's ``repository-code``, ``url`` and ``contact`` (between ``# publish: start`` and ``# publish: end``);
- in every notebook and solution, a first markdown cell with its Binder and Colab badges
  (cell id ``launch-badges``) and, after it, the Colab set-up cell (cell id ``colab-setup``):
  a few visible lines that do nothing outside Colab, and in Colab fetch the repository at
  the tag, install the pinned packages and make ``import helpers`` and the data work.

Until the name is set, the README says how to set it and the notebooks carry no badge or
Colab cell (a badge pointing nowhere helps nobody).  Running the tool twice changes nothing
the second time; ``--check`` only reports.

Usage (from the repository root)::

    python3 tools/badges.py --repository OWNER/NAME --tag v1.0   # set the name and tag, rewrite everything
    python3 tools/badges.py                                      # rewrite from pyproject.toml as it is
    python3 tools/badges.py --check                              # exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
BADGES_START, BADGES_END = "<!-- badges: start -->", "<!-- badges: end -->"
BADGE_CELL_ID, COLAB_CELL_ID = "launch-badges", "colab-setup"
# The book (myst-nb) leaves both cells out: each of its pages has its own launch buttons.
BADGE_TAGS, COLAB_TAGS = ["launch-badges", "remove-cell"], ["colab-setup", "remove-cell"]
NOTEBOOK_GLOBS = ("notebooks/[0-9][0-9]-*.ipynb", "solutions/[0-9][0-9]-*.ipynb")
FIRST_NOTEBOOK = "notebooks/01-data-inspection.ipynb"
CLONE_DIR = "xd-cluster-tutorial"
# Colab brings its own Jupyter: installing another JupyterLab or kernel there would fight it.
NOT_ON_COLAB = ("jupyterlab", "ipykernel")
_OWNER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")


def read_config(root: pathlib.Path = ROOT) -> tuple[str, str]:
    """``(repository, tag)`` from ``[tool.xd-tutorial]`` of ``root/pyproject.toml``; repository may be ``""``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["xd-tutorial"]
    repository, tag = config["repository"], config["tag"]
    check_config(repository, tag)
    return repository, tag


def check_config(repository: str, tag: str) -> None:
    """Refuse a malformed owner/name or tag, naming the value and the form wanted."""
    if repository and (not _OWNER_NAME.fullmatch(repository) or repository.startswith("YOUR-ORG/")):
        raise SystemExit(f"repository={repository!r} is not a GitHub OWNER/NAME; "
                         "set it with: python3 tools/badges.py --repository OWNER/NAME --tag TAG")
    if not _TAG.fullmatch(tag):
        raise SystemExit(f"tag={tag!r} is not a git tag name (letters, digits, '.', '_', '-'), e.g. v1.0")


def write_config(root: pathlib.Path, repository: str, tag: str) -> None:
    """Set ``repository`` and ``tag`` in ``[tool.xd-tutorial]``, leaving the rest of pyproject.toml as it is."""
    check_config(repository, tag)
    path = root / "pyproject.toml"
    text = path.read_text()
    head, sep, section = text.partition("[tool.xd-tutorial]\n")
    if not sep:
        raise SystemExit(f"{path} has no [tool.xd-tutorial] section")
    body, nxt, rest = section.partition("\n[")
    body = re.sub(r'(?m)^repository = ".*"$', f"repository = {json.dumps(repository)}", body)
    body = re.sub(r'(?m)^tag = ".*"$', f"tag = {json.dumps(tag)}", body)
    path.write_text(head + sep + body + nxt + rest)
    assert read_config(root) == (repository, tag)


def binder_url(repository: str, tag: str, notebook: str = FIRST_NOTEBOOK) -> str:
    return f"https://mybinder.org/v2/gh/{repository}/{tag}?urlpath=lab/tree/{notebook}"


def colab_url(repository: str, tag: str, notebook: str = FIRST_NOTEBOOK) -> str:
    return f"https://colab.research.google.com/github/{repository}/blob/{tag}/{notebook}"


def book_url(repository: str) -> str:
    owner, name = repository.split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


def badge_markdown(repository: str, tag: str, notebook: str) -> str:
    return (f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]({binder_url(repository, tag, notebook)}) "
            f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(repository, tag, notebook)})")


def readme_badges(repository: str, tag: str) -> str:
    """The README's badge block (markers included)."""
    if not repository:
        body = ("<!-- The Binder, Colab and web-edition badges appear here once the published name is set. -->\n"
                "**Launch badges:** not set yet. Whoever publishes this repository sets its GitHub name and the "
                "release tag the room launches, in one command that rewrites every badge:\n"
                f"`python3 tools/badges.py --repository OWNER/NAME --tag {tag}`")
    else:
        body = (badge_markdown(repository, tag, FIRST_NOTEBOOK)
                + f" [![Web edition](https://img.shields.io/badge/web%20edition-{tag.replace('-', '--')}-blue)]"
                  f"({book_url(repository)})")
    return f"{BADGES_START}\n{body}\n{BADGES_END}"


def colab_cell_source(repository: str, tag: str, clone_url: str | None = None) -> str:
    """The Colab set-up cell: nothing outside Colab; in Colab, the lesson at ``tag`` and its pinned packages.

    ``clone_url`` replaces ``https://github.com/<repository>.git`` (the tests clone a local copy).
    """
    url = clone_url or f"https://github.com/{repository}.git"
    return f'''\
# Colab only (elsewhere this cell does nothing): fetch the lesson at its release, install its pinned packages.
import sys

if "google.colab" in sys.modules:
    import importlib.metadata
    import os
    import subprocess

    repo, url = os.path.expanduser("~/{CLONE_DIR}"), "{url}"
    if not os.path.isdir(repo):
        subprocess.run(["git", "clone", "--quiet", "--depth=1", "--branch={tag}", url, repo], check=True)
    pins = [line.split()[0] for line in open(f"{{repo}}/requirements.txt") if line[:1].isalpha()]
    pins = [p for p in pins if not p.startswith({NOT_ON_COLAB!r})]  # Colab has its own Jupyter
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *pins], check=True)
    os.chdir(f"{{repo}}/notebooks")  # the notebooks' relative paths (results/, ../data/)
    sys.path.insert(0, repo)  # import helpers
    importlib.invalidate_caches()
    stale = [m for m in ("numpy", "scipy", "matplotlib")
             if m in sys.modules and sys.modules[m].__version__ != importlib.metadata.version(m)]
    print(f"Colab: {{repo}} at {tag}, {{len(pins)}} packages as pinned in requirements.txt")
    if stale:
        print("Now restart the session (Runtime > Restart session) and run this cell again:", *stale, "changed")'''


def _source_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def badge_cell(repository: str, tag: str, notebook: str) -> dict:
    text = (f"{badge_markdown(repository, tag, notebook)}\n\n"
            "*On Colab, run the next cell first: it fetches this lesson and installs its pinned packages. "
            "Printed numbers can differ from the stored ones in their last digits where Colab's processor "
            "differs (see README, \"Tests and reproducibility\").*")
    return {"cell_type": "markdown", "id": BADGE_CELL_ID, "metadata": {"tags": list(BADGE_TAGS)},
            "source": _source_lines(text)}


def colab_cell(repository: str, tag: str, clone_url: str | None = None) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": COLAB_CELL_ID,
            "metadata": {"tags": list(COLAB_TAGS)}, "outputs": [],
            "source": _source_lines(colab_cell_source(repository, tag, clone_url))}


def update_notebook(nb: dict, repository: str, tag: str, notebook: str, clone_url: str | None = None) -> dict:
    """``nb`` with its badge and Colab cells first (or removed when ``repository`` is empty); other cells kept."""
    cells = [c for c in nb["cells"] if c.get("id") not in (BADGE_CELL_ID, COLAB_CELL_ID)]
    if repository:
        cells = [badge_cell(repository, tag, notebook), colab_cell(repository, tag, clone_url), *cells]
    return {**nb, "cells": cells}


def notebook_text(nb: dict) -> str:
    """Serialised as nbformat writes it (so untouched cells keep their bytes)."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def update_readme(text: str, repository: str, tag: str) -> str:
    pattern = re.compile(re.escape(BADGES_START) + r".*?" + re.escape(BADGES_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BADGES_START} ... {BADGES_END} block")
    return pattern.sub(lambda _: readme_badges(repository, tag), text, count=1)


CITATION_START, CITATION_END = "# publish: start\n", "# publish: end\n"


def citation_block(repository: str) -> str:
    """The lines of CITATION.cff that come from the published name (none while it is not set)."""
    if not repository:
        return ""
    return (f'repository-code: "https://github.com/{repository}"\n'
            f'url: "{book_url(repository)}"\n'
            "contact:\n"
            '  - name: "The xd-cluster-tutorial maintainers"\n'
            f'    website: "https://github.com/{repository}/issues"\n')


def update_citation(text: str, repository: str) -> str:
    head, start, rest = text.partition(CITATION_START)
    _, end, tail = rest.partition(CITATION_END)
    if not (start and end):
        raise SystemExit(f"CITATION.cff has no {CITATION_START.strip()} ... {CITATION_END.strip()} block")
    return head + start + citation_block(repository) + end + tail


def notebooks(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for pattern in NOTEBOOK_GLOBS for p in root.glob(pattern))


def planned(root: pathlib.Path) -> dict[pathlib.Path, str]:
    """Every file the tool writes, with the text it should have."""
    repository, tag = read_config(root)
    out = {root / "README.md": update_readme((root / "README.md").read_text(), repository, tag)}
    if (root / "CITATION.cff").is_file():
        out[root / "CITATION.cff"] = update_citation((root / "CITATION.cff").read_text(), repository)
    for path in notebooks(root):
        nb = json.loads(path.read_text())
        out[path] = notebook_text(update_notebook(nb, repository, tag, path.relative_to(root).as_posix()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", help="GitHub OWNER/NAME this tutorial is published under ('' to unset)")
    parser.add_argument("--tag", help="the release tag that the badges launch, e.g. v1.0")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repository is not None or args.tag is not None:
        if args.check:
            parser.error("--check takes no --repository or --tag")
        repository, tag = read_config(args.root)
        write_config(args.root, repository if args.repository is None else args.repository,
                     tag if args.tag is None else args.tag)
    stale = [path for path, text in planned(args.root).items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(args.root)}: badges out of date; run python3 tools/badges.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in planned(args.root).items():
        if path in stale:
            path.write_text(text)
    repository, tag = read_config(args.root)
    print(f"badges: {repository or '(name not set)'} at {tag}; {len(stale)} file(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
