"""The survey: independent of the number of processes, criteria reach every worker, failures reported."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re

import numpy as np
import pytest

import helpers
from xdtutorial import all_clusters as survey_module


def mock_table(rng_seed: int = 5) -> helpers.BaumgardtTable:
    rng = np.random.default_rng(rng_seed)
    parts = [helpers.mock_cluster_field(40, [(60, 0.0, 50.0)], rng=rng, mean=m, name=f"C{i}") for i, m in
             enumerate([-50.0, 20.0, 100.0])]
    parts.append(helpers.mock_cluster_field(5, [(10, 0.0, 50.0)], rng=rng, name="tiny"))
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


def failing_fit(monkeypatch, error: BaseException, names: tuple[str, ...]) -> None:
    """Make survey's fit_cluster raise ``error`` for the clusters in ``names`` (in this process: processes=1)."""
    real = survey_module.fit_cluster

    def fit(stars, **kwargs):
        if str(stars.cluster[0]) in names:
            raise error
        return real(stars, **kwargs)

    monkeypatch.setattr(survey_module, "fit_cluster", fit)


@pytest.mark.parametrize(
    ("error", "words"),
    [(helpers.EMFailure("every start failed"), "every start failed"), (MemoryError(), "out of memory")],
)
def test_a_failed_fit_is_one_row_and_the_survey_goes_on(monkeypatch, error, words):
    """A fit that fails (EM stopped, or memory ran out) is a FIT_FAILED row; the other clusters are fitted."""
    failing_fit(monkeypatch, error, ("C1",))
    fits = helpers.survey(mock_table(), processes=1, max_field=1, min_stars=100)
    assert [f.name for f in fits] == ["C0", "C1", "C2"]
    failed = fits[1]
    assert not failed.reliable and failed.problems == (helpers.Problem.FIT_FAILED,)
    assert failed.reason.startswith("fit failed:") and words in failed.reason
    assert np.isnan(failed.mean) and failed.membership.shape == (failed.n_stars,)
    assert all(f.reliable for f in (fits[0], fits[2]))


def test_bad_input_is_not_a_failed_fit():
    """A ValueError is bad input, not a failed fit: it propagates instead of becoming a FIT_FAILED row."""
    table = mock_table()
    table.stars.distance[table.stars.cluster == "C1"] = -1.0  # fit_cluster refuses negative distances
    with pytest.raises(ValueError, match="non-negative"):
        helpers.survey(table, processes=1, max_field=1, min_stars=100)


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
    failing_fit(monkeypatch, helpers.EMFailure("stopped"), ("C0", "C1", "C2"))  # fails at once: the test stays quick
    fits = helpers.survey(mock_table(), processes=2, max_field=1, min_stars=100)
    assert [f.name for f in fits] == ["C0", "C1", "C2"]
    assert all(f.problems == (helpers.Problem.FIT_FAILED,) for f in fits)


def _two_cluster_table(fast: float) -> helpers.BaumgardtTable:
    """Two mock clusters; C1's innermost star moves at ``fast`` km/s (an ImplausibleVelocityWarning)."""
    rng = np.random.default_rng(8)
    parts = [helpers.mock_cluster_field(40, [(40, 0.0, 50.0)], rng=rng, mean=m, name=f"C{i}")
             for i, m in enumerate([-50.0, 20.0])]
    stars = np.concatenate(parts).view(np.recarray)
    c1 = np.flatnonzero(stars.cluster == "C1")
    stars.velocity[c1[np.argmin(stars.distance[c1])]] = fast
    return helpers.BaumgardtTable(stars=stars, skipped=(), path="<mock>")


@pytest.mark.parametrize("processes", [1, 2])
def test_warnings_raised_in_a_fit_reach_the_user_whatever_the_processes(two_workers, processes):
    """Issue 18: a worker process cannot show a warning; the survey re-emits it, naming the cluster."""
    with pytest.warns(helpers.ImplausibleVelocityWarning, match=r"^survey, cluster C1: ") as caught:
        fits = helpers.survey(_two_cluster_table(1e8), processes=processes, max_field=1, min_stars=50)
    assert two_workers == ([2] if processes == 2 else [])  # processes=2 really ran in worker processes
    assert [f.name for f in fits] == ["C0", "C1"]
    assert not any("cluster C0" in str(w.message) for w in caught)  # each warning names its own cluster
