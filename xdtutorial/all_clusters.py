"""The survey of every cluster in the compilation (notebook 07).

:func:`survey` runs :func:`~xdtutorial.cluster_fit.fit_cluster` on every
cluster with enough stars, in worker processes.  Everything a fit depends on -
its stars, the seed, ``max_field`` and the :class:`ReliabilityCriteria` - travels
with the job, so the result is the same with any number of processes and with
any start method of the worker processes (fork on Linux, spawn elsewhere).
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from ._numerics import RNGLike, seed_of
from ._validation import check_int, check_positive_int, check_table
from .cluster_fit import RELIABILITY, ClusterFit, ReliabilityCriteria, _check_criteria, fit_cluster
from .data import BaumgardtTable, cluster_names, load_table


@dataclasses.dataclass(frozen=True)
class _Job:
    """One cluster's fit, with everything it depends on (picklable for spawned workers)."""

    name: str
    stars: np.recarray
    seed: int
    max_field: int
    criteria: ReliabilityCriteria


def _survey_one(job: _Job) -> ClusterFit:
    """One cluster's fit; a fit that fails (EM could not continue, or ran out of memory) is a FIT_FAILED record.

    Only fit failures are caught: bad input (``ValueError``, ``TypeError``) is a bug in the job, and
    propagates.  A ``MemoryError`` is this cluster's failure, not the survey's: the other clusters go on.
    """
    try:
        return fit_cluster(job.stars, rng=job.seed, max_field=job.max_field, criteria=job.criteria)
    except FloatingPointError as err:  # EMFailure and any older FloatingPointError
        return ClusterFit.failed(job.name, len(job.stars), f"fit failed: {err}")
    except MemoryError as err:
        return ClusterFit.failed(job.name, len(job.stars), f"fit failed: out of memory ({err or 'MemoryError'})")


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        return max(1, os.cpu_count() or 1)


def _max_processes() -> int | None:
    """The positive integer in the environment variable ``XD_MAX_PROCESSES``, or None when it is unset or empty."""
    raw = os.environ.get("XD_MAX_PROCESSES", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"XD_MAX_PROCESSES = {raw!r}: must be a positive integer (the most worker processes a survey "
            "may start); fix the variable or unset it"
        )
    return value


def _worker_start() -> None:
    """In each worker (Linux): ask the kernel for SIGTERM when the parent dies, so no worker outlives it."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # not essential: the pool also ends its workers when the parent exits normally


def survey(
    table: BaumgardtTable | None = None,
    *,
    min_stars: int = 20,
    processes: int = 2,
    rng: RNGLike = 0,
    max_field: int = 3,
    criteria: ReliabilityCriteria = RELIABILITY,
) -> list[ClusterFit]:
    """Fit every cluster with at least ``min_stars`` stars with :func:`~xdtutorial.cluster_fit.fit_cluster`.

    Clusters are fitted in parallel worker processes, largest first for load
    balance; each fit depends only on its own stars, the seed, ``max_field``
    and ``criteria``, so the result does not depend on ``processes``.

    Parameters
    ----------
    table : BaumgardtTable, default=None
        Parsed compilation; by default :func:`~xdtutorial.data.load_table`.
    min_stars : int, default=20
        Smallest sample fitted, at least 10 (the minimum of ``fit_cluster``).
    processes : int, default=2
        Worker processes (1 runs in this process).  Capped at the cores this
        process may use (``len(os.sched_getaffinity(0))``, else ``os.cpu_count()``),
        at the environment variable ``XD_MAX_PROCESSES`` when it is set (a
        positive integer: e.g. 1 under a parallel test run that already keeps
        every core busy), and at the number of clusters; so a survey never
        oversubscribes the machine.  The result is the same for any number.
    rng : int or numpy.random.Generator, default=0
        Seed of every fit's random starts: an int is passed to every
        :func:`~xdtutorial.cluster_fit.fit_cluster` as is, a Generator gives one
        drawn seed, used by all.
    max_field : int, default=3
        Passed to every :func:`~xdtutorial.cluster_fit.fit_cluster`.
    criteria : ReliabilityCriteria, default=RELIABILITY
        Passed to every :func:`~xdtutorial.cluster_fit.fit_cluster` (and so to every worker).

    Returns
    -------
    list of ClusterFit
        In the order of the compilation; a cluster whose fit failed outright
        (EM could not continue, :class:`~xdtutorial.errors.EMFailure`, or ran out of
        memory) is included with NaN values, ``reliable=False``, the problem
        ``Problem.FIT_FAILED`` and the error as reason.  Bad input is not a failed
        fit: its ``ValueError`` or ``TypeError`` propagates.

    Raises
    ------
    TypeError
        ``table`` is not a BaumgardtTable (a cluster name?), ``criteria`` not a
        ReliabilityCriteria, ``rng`` not a seed or Generator, or a count not an int.
    ValueError
        ``min_stars < 10``, ``processes < 1`` or ``max_field < 1``, or
        ``XD_MAX_PROCESSES`` set to anything but a positive integer.
    """
    # every argument is checked here, before any worker starts
    _check_criteria(criteria)
    check_int("min_stars", min_stars, minimum=10)
    check_positive_int("processes", processes)
    cap = _max_processes()
    check_positive_int("max_field", max_field)
    seed = seed_of(rng)
    table = load_table() if check_table(table) is None else table
    names = [n for n in cluster_names(table) if np.sum(table.stars.cluster == n) >= min_stars]
    jobs = [_Job(n, table.stars[table.stars.cluster == n], seed, max_field, criteria) for n in names]
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i].stars))
    processes = min(processes, _usable_cores(), len(jobs), cap if cap is not None else processes)
    if processes <= 1:
        results = {i: _survey_one(jobs[i]) for i in order}
    else:
        import concurrent.futures
        import multiprocessing

        # fork is fast and safe on Linux; elsewhere use the platform default (spawn),
        # which works because the worker function lives in an importable module and
        # every setting travels with the job
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        pool_args = {"max_workers": processes, "mp_context": ctx, "initializer": _worker_start}
        with concurrent.futures.ProcessPoolExecutor(**pool_args) as pool:
            results = dict(zip(order, pool.map(_survey_one, [jobs[i] for i in order]), strict=True))
    return [results[i] for i in range(len(jobs))]
