"""Calibration of fit_cluster's intervals and verdicts on mocks in the regime of the real data (issue #16).

The unit tests' calibration mocks (tests/test_cluster_fit.py, ``calibration_fits``) have one field
Gaussian, errors of 0.5-3 km/s and compact clusters. These are wider, as the issue asks:

* 8-80 Plummer members, with scale radii log-uniform in 30-1000 arcsec, so that in some mocks the
  members reach the footprint's edge (r_max = 1000 arcsec);
* 100-400 field stars in one or two broad Gaussians (means -50..50 km/s, widths 20-60 km/s);
* errors uniform in 0.3-5 km/s, and in half of the mocks 20 % of the stars (members and field alike)
  with errors of 5-15 km/s (their velocities are scattered by the larger error);
* the cluster's mean uniform in -100..100 km/s, its dispersion in 1-8 km/s.

Each mock is fitted with ``fit_cluster`` defaults (``rng`` = the mock's index). For every member range
the script prints how many fits are reliable and how many have a citable dispersion, the 68 % and 95 %
coverages of the mean's intervals (reliable fits) and of the dispersion's (reliable fits, and those with
``dispersion_reliable``), each with its binomial standard error sqrt(p (1 - p) / n), and every
*confidently wrong* fit: reliable with the mean more than max(3 km/s, 3 mean_err) off, or citable with
the true dispersion outside its 95 % interval.

A second mode, ``narrow``, refits the unit tests' own mocks (the generator of ``calibration_fits`` in
tests/test_cluster_fit.py, 56 per range, with ``max_field=1, n_random=2``) and 150 further mocks of
that generator with 8-14 members (seeds ``[8, 56]`` to ``[8, 205]``), and prints the same summary:
these are the coverages that notebook 06 quotes.

Usage (seeded: the output depends only on the arguments)::

    PYTHONPATH=. .venv/bin/python tools/calibrate_sparse.py wide [n_mocks] [first_seed]
    PYTHONPATH=. .venv/bin/python tools/calibrate_sparse.py narrow
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

import helpers

RANGES = [(8, 15), (15, 30), (30, 81)]


def wide_mock(seed: int) -> tuple[np.recarray, float, float, int]:
    """One mock of the wide set: (stars, true mean, true dispersion, number of members)."""
    rng = np.random.default_rng([16, seed])
    lo, hi = RANGES[seed % len(RANGES)]
    n_members = int(rng.integers(lo, hi))
    n_field = int(rng.integers(100, 401))
    k_field = int(rng.integers(1, 3))
    split = [n_field] if k_field == 1 else [n_field // 2, n_field - n_field // 2]
    field = [(n, rng.uniform(-50, 50), rng.uniform(20, 60)) for n in split]
    mean, dispersion = rng.uniform(-100, 100), rng.uniform(1, 8)
    r_scale = float(np.exp(rng.uniform(np.log(30), np.log(1000))))
    stars = helpers.mock_cluster_field(
        n_members, field, rng, mean=mean, dispersion=dispersion, r_scale=r_scale, r_max=1000.0,
        err_range=(0.3, 5.0),
    )
    if rng.random() < 0.5:  # heavy error tail: 20 % of the stars measured with 5-15 km/s errors
        tail = rng.random(len(stars)) < 0.2
        new = rng.uniform(5.0, 15.0, tail.sum())
        extra = np.sqrt(new**2 - stars.velocity_error[tail] ** 2)
        stars.velocity[tail] += rng.normal(0.0, extra)
        stars.velocity_error[tail] = new
    return stars, mean, dispersion, n_members


def narrow_mock(lo: int, hi: int, k: int) -> tuple[np.recarray, float, float, int]:
    """Mock k of the unit tests' calibration generator for lo..hi-1 members: the tests' own function."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
    from test_cluster_fit import calibration_mock

    return calibration_mock(lo, hi, k)


def _share(hits: list[bool]) -> str:
    n = len(hits)
    if n == 0:
        return "   -  (n = 0)"
    p = float(np.mean(hits))
    return f"{p:5.2f} +- {np.sqrt(p * (1 - p) / n):.2f} (n = {n})"


def _fit_all(jobs) -> list:
    """Fit every (label, seed, stars, mean, dispersion, members, options) and print one line per mock."""
    rows = []
    for label, seed, stars, mean, disp, n_mem, options in jobs:
        try:
            fit = helpers.fit_cluster(stars, rng=seed, **options)
        except (FloatingPointError, ValueError) as err:
            print(f"mock {label}: fit failed ({err})", flush=True)
            continue
        rows.append((label, n_mem, mean, disp, fit))
        print(f"mock {label}: {n_mem:2d} members, truth {mean:7.2f} / {disp:4.2f}; fit {fit.mean:7.2f} "
              f"+- {fit.mean_err:5.2f} / {fit.dispersion:5.2f} ({fit.expected_members:5.1f} members) "
              f"reliable {fit.reliable!s:5} citable {fit.dispersion_reliable!s:5} {fit.reason[:60]}", flush=True)
    return rows


def summary(rows, ranges) -> None:
    """Coverages with binomial standard errors, and every confidently wrong fit, per member range."""
    print()
    for lo, hi in ranges:
        sel = [r for r in rows if lo <= r[1] < hi]
        rel = [r for r in sel if r[4].reliable]
        cit = [r for r in rel if r[4].dispersion_reliable]
        print(f"{lo}-{hi - 1} members: {len(sel)} mocks, {len(rel)} reliable, {len(cit)} with a citable dispersion")

        def inside(r, attr, truth):
            a, b = getattr(r[4], attr)
            return bool(a <= truth <= b)

        print(f"  mean 68 %:                 {_share([inside(r, 'mean_interval', r[2]) for r in rel])}")
        print(f"  mean 95 %:                 {_share([inside(r, 'mean_interval95', r[2]) for r in rel])}")
        print(f"  dispersion 68 % (reliable):{_share([inside(r, 'dispersion_interval', r[3]) for r in rel])}")
        print(f"  dispersion 95 % (reliable):{_share([inside(r, 'dispersion_interval95', r[3]) for r in rel])}")
        print(f"  dispersion 68 % (citable): {_share([inside(r, 'dispersion_interval', r[3]) for r in cit])}")
        print(f"  dispersion 95 % (citable): {_share([inside(r, 'dispersion_interval95', r[3]) for r in cit])}")
        for seed, n_mem, mean, disp, f in rel:
            if abs(f.mean - mean) > max(3.0, 3.0 * f.mean_err):
                print(f"  confidently wrong mean: mock {seed}, {n_mem} members, {f.mean:.2f} +- {f.mean_err:.2f} "
                      f"(truth {mean:.2f}), dispersion {f.dispersion:.2f} (truth {disp:.2f}), citable "
                      f"{f.dispersion_reliable}")
        for seed, n_mem, _, disp, f in cit:
            a, b = f.dispersion_interval95
            if not a <= disp <= b:
                print(f"  citable dispersion outside its 95 % interval: mock {seed}, {n_mem} members, "
                      f"{a:.2f}-{b:.2f} (truth {disp:.2f})")


def main(mode: str = "wide", n_mocks: int = 150, first: int = 0) -> None:
    if mode == "wide":
        jobs = [(f"{seed:3d}", seed, *wide_mock(seed), {}) for seed in range(first, first + n_mocks)]
        summary(_fit_all(jobs), RANGES)
    elif mode == "narrow":
        options = {"max_field": 1, "n_random": 2}
        jobs = [(f"[{lo}, {k}]", k, *narrow_mock(lo, hi, k), options) for lo, hi in RANGES for k in range(56)]
        print("the unit tests' mocks (tests/test_calibration_*.py):")
        summary(_fit_all(jobs), RANGES)
        print("\n150 further mocks with 8-14 members, seeds [8, 56] to [8, 205]:")
        jobs = [(f"[8, {k}]", k, *narrow_mock(8, 15, k), options) for k in range(56, 206)]
        summary(_fit_all(jobs), RANGES[:1])
    else:
        raise SystemExit(f"mode = {mode!r}: use wide or narrow")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "wide", *(int(a) for a in sys.argv[2:4]))
