"""Time xdtutorial.xd.fit against Bovy's extreme_deconvolution and astroML's XDGMM in 3-D.

Usage::

    python benchmarks/bench_xd.py                       # D = 3, K = 3, N = 100,000; astroML on 1,000
    python benchmarks/bench_xd.py --n 20000 --astroml-n 300 --repeat 1

Synthetic data like notebook 09: a cluster and a two-component field in (mu_alpha*, mu_delta,
v_los) with correlated proper-motion errors; seeded.  Each method runs in its own fresh Python
process (so that its peak memory, ``ru_maxrss``, is its own), from the same start:

* per EM step: ``--iters`` steps, best of ``--repeat``, as CPU time (``time.process_time``, all
  threads of the process) and wall time; astroML (a Python loop over stars) on the first
  ``--astroml-n`` stars, its fit loop (``_EMstep`` then ``logL``), scaled per star;
* a full fit to ``--tol`` on the mean ln L per star (xd and Bovy; Bovy's rule is the same), once,
  with the optimum compared.

The machine is shared: CPU time is the number to compare; wall time is shown for honesty.
Bovy's library (not on PyPI) is skipped with a note when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from xdtutorial import xd
from xdtutorial.errors import EMConvergenceWarning

TRUTH = (
    np.array([0.25, 0.45, 0.30]),
    np.array([[4.2, -5.6, -45.0], [-2.0, -4.0, 0.0], [-5.0, -2.0, 60.0]]),
    np.array([np.diag([0.05, 0.05, 9.0]), np.diag([9.0, 9.0, 1600.0]), [[16.0, 4.0, 0], [4.0, 9.0, 0], [0, 0, 3600]]]),
)
START = (
    np.full(3, 1 / 3),
    np.array([[4.0, -5.0, -40.0], [0.0, -3.0, 10.0], [-4.0, -1.0, 50.0]]),
    np.array([np.diag([1.0, 1.0, 100.0]), np.diag([10.0, 10.0, 1000.0]), np.diag([10.0, 10.0, 1000.0])]),
)


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values, _ = xd.sample(*TRUTH, n, rng=rng)
    sig_pm = rng.uniform(0.02, 0.5, n)
    rho = rng.uniform(-0.5, 0.5, n)
    s = np.zeros((n, 3, 3))
    s[:, 0, 0] = s[:, 1, 1] = sig_pm**2
    s[:, 0, 1] = s[:, 1, 0] = rho * sig_pm**2
    s[:, 2, 2] = rng.uniform(0.5, 5.0, n) ** 2
    x = values + np.einsum("nij,nj->ni", np.linalg.cholesky(s), rng.standard_normal((n, 3)))
    return x, s


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def timed(f, repeat: int):
    best = None
    result = None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        result = f()
        c, w = time.process_time() - c0, time.perf_counter() - w0
        best = (c, w) if best is None or c < best[0] else best
    return best, result


# ----------------------------------------------------------------------------- one method per process
def worker(method: str, args: argparse.Namespace) -> dict:
    x, s = make_data(args.n, args.seed)
    if method == "astroml":
        x, s = x[: args.astroml_n], s[: args.astroml_n]
    base = rss_mb()
    out: dict = {"method": method, "n": len(x)}
    warnings.simplefilter("ignore", EMConvergenceWarning)
    if method == "xd":
        (cpu, wall), _ = timed(lambda: xd.fit(x, s, *START, max_iter=args.iters, tol=1e-300), args.repeat)
        out["step"] = (cpu / args.iters, wall / args.iters)
        if args.full:
            (cpu, wall), r = timed(lambda: xd.fit(x, s, *START, tol=args.tol, max_iter=100_000), 1)
            out["full"] = (cpu, wall)
            out["fit"] = [r.amplitudes.tolist(), r.means.tolist(), r.covariances.tolist(), r.mean_log_likelihood]
    elif method == "bovy":
        from extreme_deconvolution import extreme_deconvolution as ed

        def run(**kw):
            amp, mean, cov = (a.copy() for a in START)
            avg = ed(x, s, amp, mean, cov, **kw)
            return amp, mean, cov, avg

        (cpu, wall), _ = timed(lambda: run(maxiter=args.iters, tol=1e-300), args.repeat)
        out["step"] = (cpu / args.iters, wall / args.iters)
        if args.full:
            (cpu, wall), r = timed(lambda: run(tol=args.tol), 1)
            out["full"] = (cpu, wall)
            out["fit"] = [r[0].tolist(), r[1].tolist(), r[2].tolist(), float(r[3])]
    elif method == "astroml":
        from astroML.density_estimation import XDGMM

        def run():
            g = XDGMM(3)
            g.alpha, g.mu, g.V = (a.copy() for a in START)
            for _ in range(args.astroml_iters):  # astroML's fit loop: one step, then ln L
                g._EMstep(x, s)
                g.logL(x, s)

        (cpu, wall), _ = timed(run, 1)
        out["step"] = (cpu / args.astroml_iters, wall / args.astroml_iters)
    out["peak_rss_mb"] = rss_mb()
    out["rss_before_mb"] = base
    return out


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}; {os.cpu_count()} logical cores; Python {platform.python_version()}; numpy {np.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="stars for xd and Bovy")
    parser.add_argument("--astroml-n", type=int, default=1_000, help="stars for astroML (slow: Python loops)")
    parser.add_argument("--iters", type=int, default=20, help="EM steps timed per repeat")
    parser.add_argument("--astroml-iters", type=int, default=3, help="EM steps timed for astroML")
    parser.add_argument("--tol", type=float, default=1e-9, help="tolerance on the mean ln L per star (full fit)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the per-step timing; best CPU time kept")
    parser.add_argument("--no-full", dest="full", action="store_false", help="skip the full fits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return

    print(f"Machine: {machine()}")
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"D = 3, K = 3, N = {args.n:,} (astroML: {args.astroml_n:,}); per-step: {args.iters} steps, "
          f"best of {args.repeat} (astroML: {args.astroml_iters} steps, once)\n")
    results = {}
    for method in ("xd", "bovy", "astroml"):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{method}: skipped ({last})")
            continue
        results[method] = json.loads(proc.stdout.strip().splitlines()[-1])

    ref = results["xd"]["step"][0] / results["xd"]["n"]
    print(f"{'method':<22}{'stars':>9}{'CPU s/step':>12}{'wall s/step':>13}{'CPU us/star/step':>18}"
          f"{'x xd (CPU)':>12}{'peak RSS MB':>13}")
    for name, r in results.items():
        cpu, wall = r["step"]
        per_star = cpu / r["n"]
        print(f"{name:<22}{r['n']:>9,}{cpu:>12.4f}{wall:>13.4f}{1e6 * per_star:>18.3f}{per_star / ref:>12.1f}"
              f"{r['peak_rss_mb']:>13.0f}")
    before = ", ".join(f"{k} {v['rss_before_mb']:.0f}" for k, v in results.items())
    print(f"(peak RSS: the whole worker process, data and interpreter included; before fitting: {before} MB)")

    if args.full and "fit" in results["xd"]:
        print(f"\nFull fit to tol = {args.tol:g} (mean ln L per star), once:")
        for name in ("xd", "bovy"):
            if name in results:
                cpu, wall = results[name]["full"]
                print(f"  {name:<6} CPU {cpu:8.2f} s   wall {wall:8.2f} s   mean ln L {results[name]['fit'][3]:.10f}")
        if "bovy" in results:
            a, b = results["xd"]["fit"], results["bovy"]["fit"]
            (amp_a, m_a, v_a), (amp_b, m_b, v_b) = (tuple(np.array(r[i]) for i in range(3)) for r in (a, b))
            sd = np.sqrt(np.diagonal(v_b, axis1=1, axis2=2))  # each component's width per axis
            d_amp = np.max(np.abs(amp_a - amp_b))
            d_mean = np.max(np.abs(m_a - m_b) / sd)
            d_cov = np.max(np.abs(v_a - v_b) / (sd[:, :, None] * sd[:, None, :]))
            print(f"  same optimum: |d mean ln L| = {abs(a[3] - b[3]):.1e}; max |d amplitude| = {d_amp:.1e}, "
                  f"|d mean| = {d_mean:.1e} sigma, |d V_ab| / (sigma_a sigma_b) = {d_cov:.1e}")
            print(f"  full-fit CPU ratio Bovy / xd = {results['bovy']['full'][0] / results['xd']['full'][0]:.1f}")
    print("\nGoals: xd per-step CPU <= Bovy's, and >= 20x faster than astroML per star and step:")
    if "bovy" in results:
        print(f"  Bovy / xd = {results['bovy']['step'][0] / results['bovy']['n'] / ref:.1f}")
    if "astroml" in results:
        print(f"  astroML / xd = {results['astroml']['step'][0] / results['astroml']['n'] / ref:.0f}")


if __name__ == "__main__":
    main()
