"""The wide calibration mocks of issue 16 and the checks of tests/test_calibration_*.py (not a test file).

The mocks are drawn in the regime of the real data (:func:`wide_mock`); tools/calibrate_sparse.py
imports them from here, so that the test and the documented, seeded script fit the same clusters:
the slow tests fit the script's default run (mocks 0-149, 50 per member range) and check it.

The bounds are binomial, not observed: with ``n`` reliable fits whose intervals hold the truth with
probability ``p`` (0.6827 or 0.95), the number that do is Binomial(n, p), and a check fails when that
number lies outside the central 99.8 % of Binomial(n, p) (:func:`binomial_bounds`). Six coverages are
checked per range, so a perfectly calibrated method would fail one of the 18 checks with a probability
of about 3.5 %; the runs are seeded, so a pass or a failure is reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

import helpers

#: Member ranges (lo, hi): mock ``seed`` has ``RANGES[seed % 3]`` members.
RANGES = ((8, 15), (15, 30), (30, 81))
#: Mocks per range in the slow tests: the first 150 of the script's wide run.
N_TEST_MOCKS = 50
#: Two-sided tail probability outside the binomial acceptance region of one coverage.
ALPHA = 0.002


def wide_mock(seed: int) -> tuple[np.recarray, float, float, int]:
    """One mock of the wide set: (stars, true mean, true dispersion, number of members).

    * ``RANGES[seed % 3]`` Plummer members, with scale radii log-uniform in 30-1000 arcsec, so that in
      some mocks the members reach the footprint's edge (r_max = 1000 arcsec);
    * 100-400 field stars in one or two broad Gaussians (means -50..50 km/s, widths 20-60 km/s);
    * errors uniform in 0.3-5 km/s, and in half of the mocks 20 % of the stars (members and field
      alike) with errors of 5-15 km/s (their velocities are scattered by the larger error);
    * the cluster's mean uniform in -100..100 km/s, its dispersion in 1-8 km/s.
    """
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
        n_members, field, rng=rng, mean=mean, dispersion=dispersion, r_scale=r_scale, r_max=1000.0,
        err_range=(0.3, 5.0),
    )
    if rng.random() < 0.5:  # heavy error tail: 20 % of the stars measured with 5-15 km/s errors
        tail = rng.random(len(stars)) < 0.2
        new = rng.uniform(5.0, 15.0, tail.sum())
        extra = np.sqrt(new**2 - stars.velocity_error[tail] ** 2)
        stars.velocity[tail] += rng.normal(0.0, extra)
        stars.velocity_error[tail] = new
    return stars, mean, dispersion, n_members


def wide_fits(range_index: int, n_mocks: int = N_TEST_MOCKS) -> list[tuple[helpers.ClusterFit, float, float]]:
    """(fit, true mean, true dispersion) of every mock ``range_index + 3 k``, k < n_mocks, fitted with defaults."""
    out = []
    for k in range(n_mocks):
        seed = range_index + len(RANGES) * k
        stars, mean, dispersion, _ = wide_mock(seed)
        out.append((helpers.fit_cluster(stars, rng=seed), mean, dispersion))
    return out


def binomial_bounds(n: int, p: float, alpha: float = ALPHA) -> tuple[float, float]:
    """The central ``1 - alpha`` acceptance region of a coverage (a fraction) from n intervals at nominal p."""
    return float(binom.ppf(alpha / 2, n, p)) / n, float(binom.isf(alpha / 2, n, p)) / n


def inside(interval: tuple[float, float], truth: float) -> bool:
    return bool(interval[0] <= truth <= interval[1])


def confidently_wrong_mean(fit: helpers.ClusterFit, mean: float) -> bool:
    """Issue 16's definition: a reliable fit whose mean is more than max(3 km/s, 3 mean_err) from the truth."""
    return bool(fit.reliable and abs(fit.mean - mean) > max(3.0, 3.0 * fit.mean_err))


def check_coverages(fits) -> None:
    """Most mocks are called reliable, none is confidently wrong, and every coverage is within its binomial bounds:
    the mean's and the dispersion's 68 % and 95 % intervals over the reliable fits, and the dispersion's over
    the fits whose dispersion is citable."""
    reliable = [(f, m, s) for f, m, s in fits if f.reliable]
    citable = [(f, m, s) for f, m, s in reliable if f.dispersion_reliable]
    assert len(reliable) >= 0.5 * len(fits)  # most mocks are found; a method that refuses them all proves nothing
    wrong = [(f.expected_members, f.mean, f.mean_err, m) for f, m, _ in reliable if confidently_wrong_mean(f, m)]
    assert not wrong, wrong
    for sample, attribute, truth in [
        (reliable, "mean_interval", 1), (reliable, "mean_interval95", 1),
        (reliable, "dispersion_interval", 2), (reliable, "dispersion_interval95", 2),
        (citable, "dispersion_interval", 2), (citable, "dispersion_interval95", 2),
    ]:
        if not sample:
            continue
        p = 0.95 if attribute.endswith("95") else 0.6827
        hits = sum(inside(getattr(row[0], attribute), row[truth]) for row in sample)
        lo, hi = binomial_bounds(len(sample), p)
        assert lo <= hits / len(sample) <= hi, (attribute, hits, len(sample), (lo, hi))
