"""The generalised EM of the distance-aware model (private, in xdtutorial.membership)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import helpers
from xdtutorial import membership as M
from xdtutorial.model import _responsibilities

LIMITS = {"field_sigma_floor": 2.0, "cluster_sigma_cap": 25.0}


@pytest.fixture(scope="module")
def ngc6681(table):
    s = helpers.load_cluster("NGC 6681", table)
    return s.velocity, s.velocity_error**2, s.distance


def test_the_inner_e_step_is_the_package_e_step(ngc6681):
    v, verr2, R = ngc6681
    st = M._starting_states(v, np.sqrt(verr2), R, 2, np.random.default_rng(0), n_random=1, field_sigma_floor=2.0)[-1]
    r, ll = M._e_step(st, v, verr2, M._log_prior_member(st.alpha, st.log_a, R * R))
    q, log_norm = _responsibilities(M._log_terms(st, v, verr2, R))
    np.testing.assert_allclose(r, q, rtol=1e-12, atol=1e-300)
    assert ll == pytest.approx(log_norm.sum(), rel=1e-13)
    assert ll == pytest.approx(M._log_likelihood(st, v, verr2, R), rel=1e-13)


def test_the_em_reaches_a_stationary_point_of_the_spatial_parameters(ngc6681):
    """From every start, converged EM leaves no uphill direction in (alpha, ln a) except out through a clip.

    A clipped joint scoring step need not go uphill: EM used to stall there, with the spatial score far
    from zero, at a point that was no maximum (NGC 6681 from its random starts)."""
    v, verr2, R = ngc6681
    starts = M._starting_states(v, np.sqrt(verr2), R, 2, np.random.default_rng(0), n_random=4, field_sigma_floor=2.0)
    for st in starts:
        fit, _, converged, _ = M._generalised_em(st, v, verr2, R, max_iter=6000, **LIMITS)
        assert converged
        q = _responsibilities(M._log_terms(fit, v, verr2, R))[0][0]
        pi = expit(fit.alpha - 2.0 * np.log1p((R / np.exp(fit.log_a)) ** 2))
        u = (R / np.exp(fit.log_a)) ** 2
        score = np.array([np.sum(q - pi), np.sum((q - pi) * 4.0 * u / (1.0 + u))])  # d/d(alpha), d/d(ln a)
        clips = [(-M._ALPHA_LIMIT, M._ALPHA_LIMIT), M._LOG_A_LIMITS]
        for g, x, (lo, hi) in zip(score, [fit.alpha, fit.log_a], clips, strict=True):
            if (x <= lo and g < 0) or (x >= hi and g > 0):
                continue  # uphill only through the clip
            assert abs(g) < 0.01, (st.mu[0], fit.alpha, fit.log_a, score)
