"""The environment files agree with each other and with the README (they cannot run here)."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
XD_COMMIT = "3603fc7707c4d9d4785e21a24c3f54e3b65f435c"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirements(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[canonical(name)] = version
    return pins


def conda_dependencies() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
        else:
            name, _, version = dep.partition("=")
            conda[canonical(name)] = version
    return conda, pip


def test_binder_requirements_equal_requirements():
    assert pip_requirements(ROOT / "binder/requirements.txt") == pip_requirements(ROOT / "requirements.txt")


def test_environment_yml_has_the_same_packages_and_versions():
    reqs = pip_requirements(ROOT / "requirements.txt")
    conda, pip = conda_dependencies()
    extra = {"python", "pip", "gsl", "c-compiler", "setuptools"}  # what conda needs beyond requirements.txt
    assert set(conda) - extra == set(reqs)
    for name, version in reqs.items():
        # exact pins on both sides (conda-forge has astroml 1.0.2.post1 under the same version string)
        assert conda[name] == version, (name, version, conda[name])
    assert conda["python"] == "3.11"
    assert pip == ["-e ."]


def xd_conda_command(text: str) -> str:
    """The one-line conda build command of Bovy's XD quoted in ``text``."""
    lines = [line.strip(" #") for line in text.splitlines() if "CONDA_PREFIX/include" in line and "pip install" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_readme_and_environment_yml_build_bovy_xd_the_same_way():
    readme_cmd = xd_conda_command((ROOT / "README.md").read_text())
    assert readme_cmd == xd_conda_command((ROOT / "environment.yml").read_text())
    assert "-fcommon" in readme_cmd and XD_COMMIT in readme_cmd


def test_binder_installs_bovy_xd_with_gsl_and_fcommon():
    """Optional steps in postBuild: tests/test_rooms_badges.py runs it with failing stand-ins."""
    postbuild = (ROOT / "binder/postBuild").read_text()
    assert "set -euo pipefail" in postbuild
    assert re.search(rf'optional "Bovy.*CFLAGS=-fcommon \\\n\s*pip install [^\n]*\\\n\s*"git\+https://github\.com/'
                     rf'jobovy/extreme-deconvolution\.git@{XD_COMMIT}"', postbuild)
    assert re.search(r'optional "data prefetch.*\n.*helpers\.fetch_data\(\)', postbuild)  # data at build time
    assert "libgsl-dev" in (ROOT / "binder/apt.txt").read_text().split()
    assert (ROOT / "binder/postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_ci_and_workflow_run_the_readme_test_commands():
    readme = (ROOT / "README.md").read_text()
    for command in ("make test ", "make test-portable ", "make tutorial ", "make lab "):
        assert command in readme, command
    ci_run = (ROOT / ".ci/run").read_text()
    assert re.search(r"^make test$", ci_run, re.M) and re.search(r"^make test-portable$", ci_run, re.M)
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make test" in runs["test"] and "make test-portable" in runs["test"]
    matrix = jobs["test"]["strategy"]["matrix"]
    assert matrix["python-version"] == ["3.11", "3.12"]
    assert "macos-latest" in matrix["os"]  # arm64 runners
    assert "repo2docker" in runs["binder"] and "make nbval" in runs["binder"]
    assert XD_COMMIT in runs["bovy-xd"] and "-fcommon" in runs["bovy-xd"]
    assert "make test VENV= PY=python" in runs["conda"]
    assert workflow[True]["schedule"]  # PyYAML reads the key `on` as True
    for job in jobs.values():  # actions on their current major versions
        for step in job["steps"]:
            uses = step.get("uses", "")
            for action, major in (("actions/checkout@", "v6"), ("actions/setup-python@", "v6"),
                                  ("actions/cache@", "v6"), ("conda-incubator/setup-miniconda@", "v3")):
                if uses.startswith(action):
                    assert uses == action + major, uses


@pytest.mark.parametrize("name", [".pre-commit-config.yaml", "CITATION.cff", ".github/workflows/ci.yml"])
def test_yaml_files_parse(name):
    assert yaml.safe_load((ROOT / name).read_text())


def test_pre_commit_runs_ruff_on_notebooks_without_stripping_outputs():
    cfg = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "ruff" in cfg and "jupyter" in cfg and "nbstripout" not in cfg.replace("No nbstripout", "")


def test_downloaded_data_is_ignored_by_git():
    assert "data/*.txt" in (ROOT / ".gitignore").read_text()
