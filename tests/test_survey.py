"""The survey: independent of the number of processes, criteria reach every worker, failures reported."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re

import numpy as np
import pytest

import helpers
from xdtutorial import survey as survey_module


def mock_table(rng_seed: int = 5) -> helpers.BaumgardtTable:
    rng = np.random.default_rng(rng_seed)
    parts = [helpers.mock_cluster_field(40, [(60, 0.0, 50.0)], rng, mean=m, name=f"C{i}") for i, m in
             enumerate([-50.0, 20.0, 100.0])]
    parts.append(helpers.mock_cluster_field(5, [(10, 0.0, 50.0)], rng, name="tiny"))
    stars = np.concatenate(parts).view(np.recarray)
    return helpers.BaumgardtTable(stars=stars, skipped=(), path="<mock>")


@pytest.fixture
def two_workers(monkeypatch):
    """A real pool of two worker processes, whatever the machine and `make test`'s XD_MAX_PROCESSES=1 say."""
    monkeypatch.delenv("XD_MAX_PROCESSES", raising=False)
    monkeypatch.setattr(survey_module, "_usable_cores", lambda: 2)
    pools = []
    real = concurrent.futures.ProcessPoolExecutor

    def counting(*args, **kwargs):
        pools.append(kwargs.get("max_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting)
    return pools


@pytest.mark.slow
def test_survey_does_not_depend_on_the_number_of_processes(two_workers):
    table = mock_table()
    one = helpers.survey(table, processes=1, max_field=1)
    two = helpers.survey(table, processes=2, max_field=1)
    assert two_workers == [2]  # the second survey really ran in two worker processes
    assert [f.name for f in one] == ["C0", "C1", "C2"]  # "tiny" has fewer than 20 stars
    assert [(f.mean, f.dispersion, f.reliable) for f in one] == [(f.mean, f.dispersion, f.reliable) for f in two]
    for f, m in zip(one, [-50.0, 20.0, 100.0], strict=True):
        assert abs(f.mean - m) < 4 * f.mean_err


@pytest.mark.slow
def test_spawned_workers_receive_the_criteria(monkeypatch, two_workers):
    """On macOS and Windows workers are spawned: a student's criteria must still reach them."""
    spawn = multiprocessing.get_context("spawn")
    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: spawn)
    strict = helpers.ReliabilityCriteria(min_members=1000)
    fits = helpers.survey(mock_table(), processes=2, max_field=1, criteria=strict)
    assert all(f.problems == (helpers.Problem.TOO_FEW_MEMBERS,) for f in fits)
    assert all("fewer than 1000" in f.reason for f in fits)
    assert two_workers == [2]


def test_a_failed_fit_is_reported_with_its_problem_code():
    table = mock_table()
    table.stars.distance[table.stars.cluster == "C1"] = -1.0  # fit_cluster refuses negative distances
    (fit,) = [f for f in helpers.survey(table, processes=1, max_field=1, min_stars=100) if f.name == "C1"]
    assert not fit.reliable and fit.problems == (helpers.Problem.FIT_FAILED,)
    assert fit.reason.startswith("fit failed:") and "non-negative" in fit.reason
    assert np.isnan(fit.mean)


def test_survey_checks_its_arguments():
    with pytest.raises(TypeError, match="ReliabilityCriteria"):
        helpers.survey(mock_table(), criteria={"min_members": 15})
    with pytest.raises(TypeError, match="rng"):
        helpers.survey(mock_table(), rng=None)


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_xd_max_processes_must_be_a_positive_integer(monkeypatch, bad):
    monkeypatch.setenv("XD_MAX_PROCESSES", bad)
    with pytest.raises(ValueError, match=rf"XD_MAX_PROCESSES = '{re.escape(bad)}': must be a positive integer"):
        helpers.survey(mock_table(), max_field=1)


@pytest.mark.parametrize("limit", ["env", "cores"])
def test_the_worker_count_is_capped(monkeypatch, limit):
    """XD_MAX_PROCESSES=1, or a single usable core, runs the survey in this process: no pool is started."""

    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    if limit == "env":
        monkeypatch.setenv("XD_MAX_PROCESSES", "1")
    else:
        monkeypatch.delenv("XD_MAX_PROCESSES", raising=False)
        monkeypatch.setattr(survey_module, "_usable_cores", lambda: 1)
    table = mock_table()
    table.stars.distance[table.stars.cluster == "C1"] = -1.0  # fails at once: the test stays quick
    fits = helpers.survey(table, processes=2, max_field=1, min_stars=100)
    assert [f.name for f in fits] == ["C0", "C1", "C2"] and fits[1].problems == (helpers.Problem.FIT_FAILED,)
