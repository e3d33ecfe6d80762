"""Posterior sampling: prior, posterior, walker initialisation, emcee seeding, burn-in/thinning."""

from __future__ import annotations

import numpy as np
import pytest

import helpers

P = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])
V = np.array([-45.1, -43.0, -47.9, -10.0, 30.5, -44.2])
E = np.array([0.5, 1.2, 2.0, 0.8, 3.0, 1.0])


@pytest.mark.parametrize(
    "p",
    [[-2000, 1, 0, 2, 0.5], [0, 1, 1500, 2, 0.5], [0, 1, 0, 600, 0.5], [0, 3, 0, 2, 0.5], [0, 1, 0, 2, 1.0]],
)
def test_prior_is_zero_outside_the_box(p):
    assert helpers.log_prior(p) == -np.inf
    assert helpers.log_posterior(p, V, E) == -np.inf


def test_posterior_is_likelihood_inside_and_vectorised():
    assert helpers.log_prior(P) == 0.0
    batch = np.array([P, [0, 3, 0, 2, 0.5], P * [1, 1.1, 1, 1, 1]])
    lp = helpers.log_posterior(batch, V, E)
    assert lp.shape == (3,)
    assert lp[0] == helpers.log_likelihood(P, V, E) and lp[1] == -np.inf
    assert lp[2] == helpers.log_posterior(batch[2], V, E)


def test_custom_bounds():
    tight = {"mean": (-50.0, 0.0), "sigma": (0.0, 40.0)}
    assert helpers.log_prior(P, bounds=tight) == -np.inf  # sigma2 = 41.9 > 40
    assert helpers.log_prior(P * [1, 1, 1, 0.9, 1], bounds=tight) == 0.0


def test_walkers_start_inside_the_prior_and_near_the_best_fit():
    rng = np.random.default_rng(0)
    edge = np.array([0.0, 2.0, 0.0, 2.0, 0.999])  # sigma1 = sigma2 and frac1 near 1: many redraws
    pos = helpers.init_walkers(edge, 64, rng=rng)
    assert pos.shape == (64, 5)
    assert np.all(np.isfinite(helpers.log_prior(pos)))
    assert np.all(np.abs(pos - edge) < 0.02)
    assert np.linalg.matrix_rank(pos - pos.mean(0)) == 5  # not degenerate
    with pytest.raises(ValueError, match="n_walkers must be >= 10"):
        helpers.init_walkers(P, 8, rng=rng)
    with pytest.raises(ValueError, match="sigma1 in best must be <= sigma2"):
        helpers.init_walkers([0, 3, 0, 2, 0.5], 32, rng=rng)
    with pytest.raises(ValueError, match="best must be inside the prior"):
        helpers.init_walkers([0, 3, 0, 600, 0.5], 32, rng=rng)


def test_burn_thin_from_autocorr_on_ar1_chain_with_known_tau():
    """AR(1) with coefficient rho has integrated autocorrelation time (1 + rho) / (1 - rho)."""
    rng = np.random.default_rng(42)
    rho, n_steps, n_walkers = 0.9, 20_000, 16
    x = np.empty((n_steps, n_walkers, 2))
    x[0] = rng.standard_normal((n_walkers, 2))
    noise = rng.standard_normal((n_steps, n_walkers, 2)) * np.sqrt(1 - rho**2)
    for t in range(1, n_steps):
        x[t] = rho * x[t - 1] + noise[t]
    burn, thin, tau = helpers.burn_thin_from_autocorr(x)
    true_tau = (1 + rho) / (1 - rho)  # = 19
    np.testing.assert_allclose(tau, true_tau, rtol=0.1)
    assert burn == int(np.ceil(2 * tau.max())) and thin == int(0.5 * tau.min())


def test_burn_thin_refuses_a_short_chain():
    from emcee.autocorr import AutocorrError

    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.standard_normal((200, 8, 1)), axis=0)  # random walk: tau ~ chain length
    with pytest.raises(AutocorrError):
        helpers.burn_thin_from_autocorr(walk)


def test_percentile_summary_of_normal_samples():
    rng = np.random.default_rng(3)
    s = rng.normal([1.0, -2.0], [0.5, 3.0], size=(200_000, 2))
    text = helpers.percentile_summary(s, names=["a", "b"])
    rows = [line.split() for line in text.splitlines()[1:]]
    med, lo, hi = (float(x) for x in rows[1][1:])
    assert med == pytest.approx(-2.0, abs=0.03)
    assert lo == pytest.approx(3.0, abs=0.03) and hi == pytest.approx(3.0, abs=0.03)


def test_emcee_run_is_reproducible_with_seeds():
    def run(seed):
        pos = helpers.init_walkers(P, 12, rng=np.random.default_rng(5))
        sampler = helpers.make_sampler(V, E, 12, rng=seed)
        sampler.run_mcmc(pos, 50, progress=False)
        return sampler.get_chain()

    first = run(5)
    np.random.default_rng().random()  # whatever else happens in between
    np.testing.assert_array_equal(first, run(5))
    assert not np.array_equal(first, run(6))
    assert np.all(np.isfinite(helpers.log_prior(first.reshape(-1, 5))))


def test_make_sampler_seeds_emcee_from_rng():
    """An int seeds emcee's legacy RandomState as is (the old seed=); a Generator gives one drawn seed."""
    sampler = helpers.make_sampler(V, E, 12, rng=42)
    np.testing.assert_array_equal(sampler.random_state[1], np.random.RandomState(42).get_state()[1])
    a = helpers.make_sampler(V, E, 12, rng=np.random.default_rng(1)).random_state[1]
    b = helpers.make_sampler(V, E, 12, rng=np.random.default_rng(1)).random_state[1]
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="rng"):
        helpers.make_sampler(V, E, 12, rng=None)


def test_init_walkers_gives_up_when_the_ball_is_far_too_large():
    with pytest.raises(ValueError, match=r"scale must be small enough.*Fix: reduce scale"):
        helpers.init_walkers(P, 12, rng=0, scale=1e6, bounds={"mean": (-50.0, 50.0), "sigma": (0.0, 50.0)})


@pytest.mark.parametrize("n_steps", [40, 120])
def test_a_short_chain_is_told_how_many_steps_it_needs(n_steps):
    """Issue 18: emcee's AutocorrError came through bare; it stays emcee's class (students catch it) with a Fix.

    An AR(1) chain with coefficient 0.9 has tau = (1 + 0.9) / (1 - 0.9) = 19 steps, so 50 tau is about 950 steps:
    both chains are far too short."""
    from emcee.autocorr import AutocorrError

    rng = np.random.default_rng(3)
    chain = np.zeros((n_steps, 8, 2))
    for t in range(1, n_steps):
        chain[t] = 0.9 * chain[t - 1] + rng.normal(size=(8, 2))
    with pytest.raises(AutocorrError, match=rf"^chain of {n_steps} steps is shorter than n_tau = 50") as err:
        helpers.burn_thin_from_autocorr(chain)
    assert "Fix: run the sampler for at least" in str(err.value) and np.all(np.asarray(err.value.tau) > 0)
