"""Private: the EM step of :func:`xdtutorial.em.em_step`, rearranged for speed on large samples.

Students: read :func:`xdtutorial.em.em_step` instead; this is the same
mathematics written for the machine.  :func:`xdtutorial.em.em_fit` uses it from
:data:`xdtutorial.em.FAST_EM_MIN_STARS` stars on.
"""

from __future__ import annotations

import numpy as np

from .model import EMPTY_COMPONENT_FRACTION, _canonical, _check_variances, _fmt


class FastEM:
    """The EM iteration of :func:`em_step`, rearranged for speed on large samples.

    Same mathematics (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D), but with
    preallocated work arrays (no temporaries of n_stars elements), a single
    log-ratio per star for the E-step, and the M-step sums written as dot
    products.  With ``z_ik = r_ik^2 / T_ik`` and ``r_ik = v_i - mu_k``:

    * ``d_i = ln(f_2 / f_1) - (z_i2 - z_i1 + ln(T_i2 / T_i1)) / 2`` is the
      log-odds of the field, so ``q_i2 = 1 / (1 + exp(-d_i))``, ``q_i1 = 1 - q_i2``;
    * ``ln L = sum_i [ln(f_1 N_i1) + softplus(d_i)]``;
    * with ``g_ik = sigma_k^2 / T_ik`` and ``S_k = sum_i q_ik``,
      ``A_k = sum_i q_ik g_ik r_ik``: ``mu_k' = mu_k + A_k / S_k`` and
      ``sigma_k'^2 = [sigma_k^2 (sum_i q_ik g_ik z_ik + S_k - sum_i q_ik g_ik)
      - A_k^2 / S_k] / S_k``.

    tests/test_em.py checks it against :func:`xdtutorial.em.em_step` step by step.

    Parameters
    ----------
    v : ndarray, shape (n_stars,)
        Velocities [km/s], validated.
    verr2 : ndarray, shape (n_stars,)
        Squared uncertainties [(km/s)^2] (zeros for the naive model).
    """

    def __init__(self, v: np.ndarray, verr2: np.ndarray) -> None:
        self.v, self.verr2 = v, verr2
        self.min_verr2 = float(verr2.min())
        self.buf = np.empty((9, v.size))

    def step(self, p: np.ndarray) -> tuple[np.ndarray, float]:
        """Return (updated parameters, log-likelihood at ``p``)."""
        v, verr2, n = self.v, self.verr2, self.v.size
        r1, r2, t1, t2, z1, z2, d, w, x = self.buf
        mu, s2 = (p[0], p[2]), (p[1] ** 2, p[3] ** 2)
        _check_variances(p, self.min_verr2)
        for r, t, z, m, sk in ((r1, t1, z1, mu[0], s2[0]), (r2, t2, z2, mu[1], s2[1])):
            np.subtract(v, m, out=r)
            np.add(verr2, sk, out=t)
            np.multiply(r, r, out=z)
            np.divide(z, t, out=z)
        # E-step in log-odds form
        np.divide(t2, t1, out=d)
        np.log(d, out=d)
        d += z2
        d -= z1
        d *= -0.5
        d += np.log((1.0 - p[4]) / p[4])
        np.log(t1, out=w)
        sum_log_t1 = w.sum()
        # softplus(d) = ln(1 + e^d) = max(d, 0) + ln(1 + u) with u = exp(-|d|) <= 1
        np.abs(d, out=w)
        np.negative(w, out=w)
        np.exp(w, out=w)
        np.log1p(w, out=x)
        softplus = x.sum() + np.maximum(d, 0.0, out=x).sum()
        loglike = n * (np.log(p[4]) - 0.5 * np.log(2.0 * np.pi)) - 0.5 * (z1.sum() + sum_log_t1) + softplus
        # q_i2 = expit(d) = 1 / (1 + u) for d >= 0 and u / (1 + u) otherwise
        np.add(1.0, w, out=x)
        np.copyto(w, 1.0, where=d >= 0)
        q2 = np.divide(w, x, out=w)
        q1 = np.subtract(1.0, q2, out=x)
        new = np.empty(5)
        for k, (q, r, t, z) in enumerate(((q1, r1, t1, z1), (q2, r2, t2, z2))):
            S = q.sum()
            if not S >= EMPTY_COMPONENT_FRACTION * n:
                raise FloatingPointError(
                    f"component {k + 1} lost all its stars (summed responsibility {S:.3g}) "
                    f"from parameters {_fmt(p)}: start elsewhere"
                )
            np.divide(s2[k], t, out=t)  # g_ik; T is not needed any more
            np.multiply(q, t, out=t)  # q_ik g_ik
            A = np.dot(t, r)
            var = (s2[k] * (np.dot(t, z) + S - t.sum()) - A * A / S) / S
            new[2 * k] = mu[k] + A / S
            new[2 * k + 1] = np.sqrt(max(var, 0.0))
            if k == 0:
                new[4] = S / n
        return _canonical(new), float(loglike)
