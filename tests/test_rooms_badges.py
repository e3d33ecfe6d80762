"""Launch badges from one published name (tools/badges.py), and a Binder build that survives its optional steps."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("badges", ROOT / "tools" / "badges.py")
badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(badges)

NAME, TAG = "astro-school/xd-cluster-tutorial", "v1.2"


def test_no_badge_says_your_org_or_head():
    for path in [ROOT / "README.md", *badges.notebooks(ROOT)]:
        text = path.read_text()
        assert "YOUR-ORG" not in text, path
        assert not re.search(r"mybinder\.org/v2/gh/[^)\s]*/HEAD", text), path


def test_every_badge_agrees_with_the_configured_name():
    """README and notebooks are what the tool writes from pyproject.toml (``--check`` finds nothing to do)."""
    repository, tag = badges.read_config(ROOT)
    stale = [str(p.relative_to(ROOT)) for p, text in badges.planned(ROOT).items() if p.read_text() != text]
    assert stale == [], f"run python3 tools/badges.py (out of date: {stale})"
    readme = (ROOT / "README.md").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation.get("repository-code") == (f"https://github.com/{repository}" if repository else None)
    if repository:
        assert badges.binder_url(repository, tag) in readme and badges.colab_url(repository, tag) in readme
        for path in badges.notebooks(ROOT):
            cells = json.loads(path.read_text())["cells"]
            assert [c["id"] for c in cells[:2]] == [badges.BADGE_CELL_ID, badges.COLAB_CELL_ID], path
    else:  # until the name is set, the README's badge line says how to set it in one command
        assert f"`python3 tools/badges.py --repository OWNER/NAME --tag {tag}`" in badge_block(readme)
        assert "mybinder.org/v2" not in readme


def badge_block(readme: str) -> str:
    return readme.split(badges.BADGES_START)[1].split(badges.BADGES_END)[0]


@pytest.fixture
def copy_of_repo(tmp_path):
    for name in ("pyproject.toml", "README.md", "CITATION.cff"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
        for path in (ROOT / folder).glob("[0-9][0-9]-*.ipynb"):
            shutil.copy(path, tmp_path / folder / path.name)
    badges.write_config(tmp_path, "", "v0.1.0")
    assert badges.main(["--root", str(tmp_path)]) == 0  # the state of an unnamed checkout
    return tmp_path


def snapshot(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_setting_the_name_rewrites_every_badge_once_and_unsetting_restores_the_files(copy_of_repo):
    root = copy_of_repo
    before = snapshot(root)
    lessons = [*root.glob("notebooks/[0-9][0-9]-*.ipynb"), *root.glob("solutions/[0-9][0-9]-*.ipynb")]
    assert len(badges.notebooks(root)) == len(lessons) >= 18  # 9 lessons and their solutions
    assert badges.main(["--root", str(root), "--repository", NAME, "--tag", TAG]) == 0
    assert badges.read_config(root) == (NAME, TAG)
    readme = (root / "README.md").read_text()
    assert readme.count("mybinder.org/v2/gh/") == 1 and badges.binder_url(NAME, TAG) in readme
    assert badges.colab_url(NAME, TAG) in readme and "not set yet" not in badge_block(readme)
    citation = yaml.safe_load((root / "CITATION.cff").read_text())
    assert citation["repository-code"] == f"https://github.com/{NAME}"
    assert citation["contact"][0]["website"] == f"https://github.com/{NAME}/issues"
    for path in badges.notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = json.loads(path.read_text())
        old = json.loads(before[rel])
        badge, colab, *rest = nb["cells"]
        assert rest == old["cells"]  # every lesson cell untouched, in order
        assert f"/v2/gh/{NAME}/{TAG}?urlpath=lab/tree/{rel})" in "".join(badge["source"])
        assert f"/github/{NAME}/blob/{TAG}/{rel})" in "".join(badge["source"])
        code = "".join(colab["source"])
        assert f"https://github.com/{NAME}.git" in code and f"--branch={TAG}" in code
        compile(code, rel, "exec")
    after = snapshot(root)
    assert badges.main(["--root", str(root)]) == 0 and snapshot(root) == after  # idempotent
    assert badges.main(["--root", str(root), "--check"]) == 0
    # a new tag: every badge follows, nothing is duplicated
    assert badges.main(["--root", str(root), "--tag", "v1.3"]) == 0
    for path in badges.notebooks(root):
        text = path.read_text()
        assert TAG + "?" not in text and text.count('"id": "launch-badges"') == 1
    # unset: byte for byte the files we started from
    assert badges.main(["--root", str(root), "--repository", "", "--tag", "v0.1.0"]) == 0
    assert snapshot(root) == before


def test_check_reports_a_stale_badge(copy_of_repo, capsys):
    root = copy_of_repo
    badges.main(["--root", str(root), "--repository", NAME, "--tag", TAG])
    path = root / "notebooks" / "03-expectation-maximisation.ipynb"
    path.write_text(path.read_text().replace(f"blob/{TAG}/", "blob/v0.9/"))
    assert badges.main(["--root", str(root), "--check"]) == 1
    assert "03-expectation-maximisation.ipynb: badges out of date" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["YOUR-ORG/xd-cluster-tutorial", "no-slash", "a/b c"])
def test_a_malformed_name_is_refused(copy_of_repo, bad):
    with pytest.raises(SystemExit, match="OWNER/NAME"):
        badges.main(["--root", str(copy_of_repo), "--repository", bad])


def test_the_colab_cell_does_nothing_outside_colab(tmp_path):
    code = badges.colab_cell_source(NAME, TAG)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "HOME": str(tmp_path)}, check=True)
    assert out.stdout == "" and out.stderr == "" and list(tmp_path.iterdir()) == []
    assert len(code.splitlines()) <= 25  # a few visible lines, not a hidden script


# ---- binder/postBuild: optional steps cannot stop the image --------------------------------------

def run_postbuild(tmp_path, failing: str) -> subprocess.CompletedProcess:
    """postBuild with stand-in ``pip`` and ``python`` that fail when their arguments contain ``failing``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("pip", "python"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/bash\necho "{tool} $*" >> "{tmp_path}/calls"\n'
                        f'case "$*" in *"{failing}"*) exit 3;; esac\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize(("failing", "what"), [("git+https", "Bovy's extreme_deconvolution"),
                                               ("fetch_data", "data prefetch")])
def test_postbuild_goes_on_when_an_optional_step_fails(tmp_path, failing, what):
    result = run_postbuild(tmp_path, failing)
    assert result.returncode == 0, result.stderr
    failed = [line for line in result.stdout.splitlines() if "OPTIONAL STEP FAILED" in line]
    assert len(failed) == 1 and what in failed[0] and "exit code 3" in failed[0]
    calls = (tmp_path / "calls").read_text()
    assert "git+https://github.com/jobovy/extreme-deconvolution.git@" in calls and "fetch_data" in calls


@pytest.mark.parametrize("failing", ["-e .", "import helpers"])
def test_postbuild_fails_when_a_required_step_fails(tmp_path, failing):
    result = run_postbuild(tmp_path, failing)
    assert result.returncode == 3
    assert "git+https" not in (tmp_path / "calls").read_text()  # stopped at the required step
