"""Time helpers.em_fit against Bovy's extreme_deconvolution and astroML's XDGMM, side by side.

Usage::

    python benchmarks/bench_em.py                      # 1,000,000 stars; astroML on 2,000
    python benchmarks/bench_em.py --n 200000 --astroml-n 500 --repeat 3
    python benchmarks/bench_em.py --survey                # also time helpers.survey (notebook 07)

Synthetic data: two Gaussian components like NGC 288 (cluster -44.5 +- 2.7 km/s, 80 %;
field -10 +- 42 km/s), per-star errors uniform in 0.3-5 km/s, seeded.  Every method starts
from the same rough guess and uses the same convergence rule where it has one (change of the
mean log-likelihood per star below --tol; astroML's rule is on the total, so it gets
tol * N).  "dlnL/star" and "max dpar" compare each method's log-likelihood and parameters
with em_fit's (SQUAREM, the default).  Bovy's library is skipped (with a note) when it is not
installed.

Bovy's library runs OpenMP threads; by default the benchmark gives it one (--bovy-threads),
like em_fit, so that the ratio compares the work done.  (With two threads on two cores that
other programs also use, its busy-waiting threads can run many times slower.)

Timing on a shared machine: each repetition runs the methods one after the other, and the
ratio is taken within the repetition; the table gives the median time and the ratios their
median and range over the repetitions.  "CPU" is the process's CPU time (all its threads:
Bovy's library runs OpenMP threads, so its CPU time exceeds its wall time on several cores);
"wall" is elapsed time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import helpers

TRUTH = np.array([-44.5, 2.7, -10.0, 42.0, 0.8])
START = np.array([-40.0, 5.0, 0.0, 30.0, 0.5])


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    verr = rng.uniform(0.3, 5.0, n)
    return helpers.sample_mock(TRUTH, verr, rng=rng), verr


def machine() -> list[str]:
    """The machine and the numerical libraries the timings depend on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        features = {}
    simd = [f for f in ("AVX512F", "AVX2", "SSE3") if features.get(f)]
    lines = [
        f"machine: {model}; {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, numpy {np.__version__} (SIMD: {', '.join(simd) or 'baseline'})",
    ]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, "
                         f"{pool.get('num_threads')} threads)")
    except ImportError:
        pass
    lines.append(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (Bovy's OpenMP threads)")
    return lines


def timed(f) -> tuple[float, float, helpers.FitResult]:
    """(CPU seconds, wall seconds, result) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = f()
    return time.process_time() - c0, time.perf_counter() - w0, result


def row(label: str, n: int, cpu: float, wall: float, res: helpers.FitResult, ref: helpers.FitResult) -> str:
    dlnl = (res.log_likelihood - ref.log_likelihood) / n
    dpar = np.max(np.abs(res.params - ref.params))
    return (f"{label:<30}{n:>10,}{cpu:>9.3f}{wall:>9.3f}{res.log_likelihood:>19.4f}{dlnl:>11.1e}"
            f"{dpar:>10.1e}")


def ratio_text(label: str, ours: list[float], theirs: list[float]) -> str:
    r = np.array(ours) / np.array(theirs)
    return f"{label}: median {np.median(r):.3f} (range {r.min():.3f}-{r.max():.3f}, {r.size} pairs)"


def same_optimum(label: str, res: helpers.FitResult, ref: helpers.FitResult) -> str:
    """Whether two fits reached the same maximum: ln L within 1e-6 relative, parameters within 1e-2.

    At tol = 1e-9 per star EM stops with ln L about 1e-3 below the maximum, which leaves the
    poorly constrained parameters (the field's mean and width) up to ~1e-3 km/s from it.
    """
    dlnl = abs(res.log_likelihood - ref.log_likelihood) / abs(ref.log_likelihood)
    dpar = float(np.max(np.abs(res.params - ref.params)))
    verdict = dlnl < 1e-6 and dpar < 1e-2
    return (f"same maximum as em_fit ({label}): {verdict} (ln L within {dlnl:.1e} relative, parameters within "
            f"{dpar:.1e} km/s or in frac1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="stars for em_fit and Bovy's XD")
    parser.add_argument("--astroml-n", type=int, default=2_000, help="stars for astroML (slow: Python loops)")
    parser.add_argument("--tol", type=float, default=1e-9, help="tolerance on the mean log-likelihood per star")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; median times and ratios are reported")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bovy-threads", type=int, default=1,
                        help="OpenMP threads for Bovy's library (default 1, like em_fit; 0: OMP_NUM_THREADS as set)")
    parser.add_argument("--survey", action="store_true", help="also time helpers.survey on the real compilation")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for --survey")
    args = parser.parse_args()
    if args.bovy_threads > 0:  # read when the library is first imported, below
        os.environ["OMP_NUM_THREADS"] = str(args.bovy_threads)

    for line in machine():
        print(line)
    print()
    header = (f"{'method':<30}{'stars':>10}{'CPU [s]':>9}{'wall [s]':>9}{'ln L':>19}{'dlnL/star':>11}"
              f"{'max dpar':>10}")
    print(header)
    print("-" * len(header))

    v, verr = make_data(args.n, args.seed)
    vs, es = v[: args.astroml_n], verr[: args.astroml_n]
    bovy = helpers.bovy_xd_available()
    runs = {
        "em_fit": lambda: helpers.em_fit(v, verr, START, tol=args.tol),
        "em_fit, plain EM": lambda: helpers.em_fit(v, verr, START, tol=args.tol, accelerate=False),
    }
    if bovy:
        runs["Bovy extreme_deconvolution"] = lambda: helpers.fit_bovy_xd(v, verr, START, tol=args.tol)
    small = {
        "em_fit": lambda: helpers.em_fit(vs, es, START, tol=args.tol),
        "astroML XDGMM (same start)": lambda: helpers.fit_astroml_xd(
            vs, es, START, tol=args.tol * vs.size, max_iter=10_000
        ),
    }
    cpu = {k: [] for k in [*runs, *(f"small {k}" for k in small)]}
    wall = {k: [] for k in cpu}
    results = {}
    for _ in range(args.repeat):  # the methods alternate, so a busy spell hits all of them
        for name, f in runs.items():
            c, w, results[name] = timed(f)
            cpu[name].append(c)
            wall[name].append(w)
        for name, f in small.items():
            c, w, results[f"small {name}"] = timed(f)
            cpu[f"small {name}"].append(c)
            wall[f"small {name}"].append(w)

    em, em_small = results["em_fit"], results["small em_fit"]
    for name in cpu:
        label, n, ref = (name[6:], vs.size, em_small) if name.startswith("small ") else (name, v.size, em)
        print(row(label, n, np.median(cpu[name]), np.median(wall[name]), results[name], ref))
    if not bovy:
        print(f"{'Bovy extreme_deconvolution':<30}  not installed: no comparison (see README)")
    print("-" * len(header))
    print(f"em_fit (SQUAREM): {em.n_iter} EM steps for {args.n:,} stars; plain EM: "
          f"{results['em_fit, plain EM'].n_iter}")
    print(same_optimum("plain EM", results["em_fit, plain EM"], em))
    print(ratio_text(f"em_fit / plain EM, CPU time, {args.n:,} stars", cpu["em_fit"], cpu["em_fit, plain EM"]))
    if bovy:
        name = "Bovy extreme_deconvolution"
        print(same_optimum("Bovy", results[name], em))
        print(ratio_text(f"em_fit / Bovy, CPU time, {args.n:,} stars", cpu["em_fit"], cpu[name]))
        print(ratio_text(f"em_fit / Bovy, wall time, {args.n:,} stars", wall["em_fit"], wall[name]))
    print(same_optimum("astroML", results["small astroML XDGMM (same start)"], em_small))
    print(ratio_text(f"em_fit / astroML, CPU time, {vs.size:,} stars", cpu["small em_fit"],
                     cpu["small astroML XDGMM (same start)"]))

    if args.survey:
        table = helpers.load_table()
        t0 = time.perf_counter()
        fits = helpers.survey(table, processes=args.processes)
        elapsed = time.perf_counter() - t0
        n_rel = sum(f.reliable for f in fits)
        print(f"survey: {len(fits)} clusters ({n_rel} reliable) in {elapsed:.1f} s with {args.processes} processes "
              f"(goal: 25 s)")


if __name__ == "__main__":
    main()
