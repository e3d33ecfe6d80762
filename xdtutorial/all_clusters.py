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
import pickle
import sys
import warnings

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


def _survey_one(job: _Job) -> tuple[ClusterFit, list[tuple[type[Warning], str]]]:
    """One cluster's fit, and the warnings it raised; a fit that fails (EM could not continue, or ran out
    of memory) is a FIT_FAILED record.

    Only fit failures are caught: bad input (``ValueError``, ``TypeError``) is a bug in the job, and
    propagates.  A ``MemoryError`` is this cluster's failure, not the survey's: the other clusters go on.
    The warnings are recorded here (a worker process cannot show them to the user) as distinct
    ``(category, message)`` pairs in the order raised; :func:`survey` re-emits them, naming the cluster,
    whether this ran in a worker or in the user's process.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record every one; the user's own filters apply when survey re-emits
        try:
            fit = fit_cluster(job.stars, rng=job.seed, max_field=job.max_field, criteria=job.criteria)
        except FloatingPointError as err:  # EMFailure and any older FloatingPointError
            fit = ClusterFit.failed(job.name, len(job.stars), f"fit failed: {err}")
        except MemoryError as err:
            fit = ClusterFit.failed(job.name, len(job.stars), f"fit failed: out of memory ({err or 'MemoryError'})")
    raised: list[tuple[type[Warning], str]] = []
    for w in caught:
        category = w.category if _picklable(w.category) else UserWarning  # it must travel back to the parent
        if (category, str(w.message)) not in raised:
            raised.append((category, str(w.message)))
    return fit, raised


def _picklable(category: type[Warning]) -> bool:
    try:
        pickle.dumps(category)
    except Exception:  # a class defined in a function, or one whose module cannot be imported)
        return False
    return True


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

    Warns
    -----
    Warning
        Every distinct warning a cluster's fit raised (e.g. an
        :class:`~xdtutorial.errors.ImplausibleVelocityWarning`), in its own category,
        as ``"survey, cluster NAME: message"``, after all fits, in the order of the
        compilation: recorded in the worker and re-emitted here, so that any number
        of ``processes`` warns alike.

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
    if processes <= 1:  # the same path as a worker's, so that processes=1 and 2 warn alike
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
    for i in range(len(jobs)):  # in the order of the compilation, whatever order the workers finished in
        for category, message in results[i][1]:
            warnings.warn(f"survey, cluster {jobs[i].name}: {message}", category, stacklevel=2)
    return [results[i][0] for i in range(len(jobs))]
