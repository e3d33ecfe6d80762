"""Execute the tutorial notebooks headless and print a short summary.

Usage::

    python tools/run_notebooks.py --out build/notebooks notebooks/0*.ipynb   # leave the originals alone
    python tools/run_notebooks.py --inplace notebooks/0*.ipynb               # maintainers: refresh outputs
    python tools/run_notebooks.py --jobs 2 --out build/notebooks notebooks/0*.ipynb   # two at a time

Each notebook runs in its own kernel with the notebooks/ folder as working
directory, exactly as nbval runs it.  With ``--jobs N`` up to N notebooks run at
once (the longest first); their outputs do not depend on it.  With ``--inplace`` the executed notebook
replaces the original, with volatile metadata (execution timestamps) removed
so that re-running gives a clean ``git diff``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

#: Rough run time of each notebook on a 2-core laptop [s], printed as it starts.
EXPECTED_SECONDS = {"01": 5, "02": 10, "03": 10, "04": 10, "05": 20, "06": 10, "07": 25, "08": 15, "09": 10}


def strip_volatile_metadata(nb: nbformat.NotebookNode) -> None:
    """Remove per-run metadata (timestamps) so that outputs alone define the file."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def run(path: pathlib.Path, out: pathlib.Path, timeout: int) -> tuple[bool, float, int, str]:
    nb = nbformat.read(path, as_version=4)
    # A local kernel over IPC (Unix sockets): no "TCP without encryption" warning, and
    # nothing listens on a network port.  Windows has no IPC transport: TCP there.
    sockets = tempfile.TemporaryDirectory(prefix="xd-kernel-")
    if os.name == "nt":
        km = KernelManager(kernel_name="python3")
    else:  # the socket files need an absolute prefix: the kernel runs in the notebook's folder
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(pathlib.Path(sockets.name) / "kernel"))
    client = NotebookClient(
        nb, km=km, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
        ok, message = True, ""
    except CellExecutionError as err:
        ok, message = False, str(err).strip().splitlines()[-1]
    finally:
        if km.has_kernel:
            km.shutdown_kernel()
        sockets.cleanup()
    elapsed = time.perf_counter() - start
    strip_volatile_metadata(nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    return ok, elapsed, n_code, message


def _run_one(path: pathlib.Path, out: pathlib.Path, timeout: int) -> tuple[bool, float, int, str]:
    expected = EXPECTED_SECONDS.get(path.name[:2]) if path.parent.name == "notebooks" else None
    print(f"  running {path.as_posix()}" + (f" (about {expected} s)" if expected else "") + " ...", flush=True)
    return run(path, out, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--inplace", action="store_true", help="overwrite the notebooks with their outputs")
    where.add_argument("--out", type=pathlib.Path, help="directory for the executed copies")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout [s]")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give a positive number of notebooks to run at once, e.g. --jobs 2")

    def target(path: pathlib.Path) -> pathlib.Path:
        return path if args.inplace else args.out / path.parent.name / path.name

    # the longest first, so that no worker is left with a long notebook at the end
    order = sorted(args.notebooks, key=lambda p: -EXPECTED_SECONDS.get(p.name[:2], 0))
    print(f"{'notebook':<40} {'status':<7} {'cells':>5} {'time [s]':>8}")
    start = time.perf_counter()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # each notebook runs in a kernel process of its own; the threads only wait for them
        futures = {pool.submit(_run_one, path, target(path), args.timeout): path for path in order}
        for future in concurrent.futures.as_completed(futures):
            path = futures[future]
            ok, elapsed, n_code, message = results[path] = future.result()
            print(f"{path.name:<40} {'ok' if ok else 'FAILED':<7} {n_code:>5} {elapsed:>8.1f}  {message}", flush=True)
    failures = sum(not r[0] for r in results.values())
    print("-" * 66)
    print(f"{len(results)} notebooks, {failures} failed, {time.perf_counter() - start:.1f} s "
          f"({sum(r[1] for r in results.values()):.1f} s of notebook time, {args.jobs} at a time)")
    if not args.inplace:
        print(f"executed copies in {args.out}/; the committed notebooks are unchanged")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
