"""Time helpers.em_fit against Bovy's extreme_deconvolution and astroML's XDGMM.

Usage::

    python benchmarks/bench_em.py                      # 1,000,000 stars; astroML on 2,000
    python benchmarks/bench_em.py --n 200000 --astroml-n 500
    python benchmarks/bench_em.py --survey                # also time helpers.survey (notebook 07)

Synthetic data: two Gaussian components like NGC 288 (cluster -44.5 +- 2.7 km/s, 80 %;
field -10 +- 42 km/s), per-star errors uniform in 0.3-5 km/s, seeded.  Every method starts
from the same rough guess and uses the same convergence rule where it has one (change of the
mean log-likelihood per star below --tol; astroML's rule is on the total, so it gets
tol * N).  "same maximum" compares each method's log-likelihood and parameters with em_fit's.
Bovy's library is skipped (with a note) when it is not installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import helpers

TRUTH = np.array([-44.5, 2.7, -10.0, 42.0, 0.8])
START = np.array([-40.0, 5.0, 0.0, 30.0, 0.5])


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    verr = rng.uniform(0.3, 5.0, n)
    return helpers.sample_mock(TRUTH, verr, rng), verr


def best_of(f, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t0)
    return min(times), result


def row(label: str, n: int, seconds: float, res: helpers.FitResult, ref: helpers.FitResult) -> str:
    dlnl = (res.log_likelihood - ref.log_likelihood) / n
    dpar = np.max(np.abs(res.params - ref.params))
    return f"{label:<30}{n:>10,}{seconds:>10.3f}{res.log_likelihood:>18.4f}{dlnl:>12.1e}{dpar:>11.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stars for em_fit and Bovy's XD")
    parser.add_argument("--astroml-n", type=int, default=2_000, help="stars for astroML (slow: Python loops)")
    parser.add_argument("--tol", type=float, default=1e-9, help="tolerance on the mean log-likelihood per star")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the best time is reported")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--survey", action="store_true", help="also time helpers.survey on the real compilation")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for --survey")
    args = parser.parse_args()

    header = f"{'method':<30}{'stars':>10}{'time [s]':>10}{'ln L':>18}{'dlnL/star':>12}{'max dpar':>11}"
    print(header)
    print("-" * len(header))

    v, verr = make_data(args.n, args.seed)
    t_em, em = best_of(lambda: helpers.em_fit(v, verr, START, tol=args.tol), args.repeat)
    print(row("helpers.em_fit", args.n, t_em, em, em), flush=True)
    if helpers.bovy_xd_available():
        t_bovy, bovy = best_of(lambda: helpers.fit_bovy_xd(v, verr, START, tol=args.tol), args.repeat)
        print(row("Bovy extreme_deconvolution", args.n, t_bovy, bovy, em), flush=True)
    else:
        t_bovy = None
        print(f"{'Bovy extreme_deconvolution':<30}  not installed (see README)")

    vs, es = v[: args.astroml_n], verr[: args.astroml_n]
    t_em_small, em_small = best_of(lambda: helpers.em_fit(vs, es, START, tol=args.tol), args.repeat)
    print(row("helpers.em_fit", vs.size, t_em_small, em_small, em_small))
    t_ast, ast = best_of(
        lambda: helpers.fit_astroml_xd(vs, es, START, tol=args.tol * vs.size, max_iter=10_000), 1
    )
    print(row("astroML XDGMM (same start)", vs.size, t_ast, ast, em_small))
    print("-" * len(header))
    print(f"em_fit: {em.n_iter} EM steps for {args.n:,} stars")
    if t_bovy is not None:
        print(f"Bovy / em_fit wall-time ratio at {args.n:,} stars: {t_bovy / t_em:.1f}")
    print(f"astroML / em_fit wall-time ratio at {vs.size:,} stars: {t_ast / t_em_small:.0f}")

    if args.survey:
        table = helpers.load_table()
        t0 = time.perf_counter()
        fits = helpers.survey(table, processes=args.processes)
        elapsed = time.perf_counter() - t0
        n_rel = sum(f.reliable for f in fits)
        print(f"survey: {len(fits)} clusters ({n_rel} reliable) in {elapsed:.1f} s with {args.processes} processes "
              f"(goal: 60 s)")


if __name__ == "__main__":
    main()
