"""Beyond memory and beyond one process: memory-mapped files, Dask, online EM.

Prints three markdown tables:

1. **Memory-mapped file** (default n = 1e8 univariate float32, 400 MB on disk,
   K = 3): seconds per EM iteration and peak resident memory of

   * ``fit_chunks(memmap)`` -- ``cyem.chunked``: the file read chunk by chunk
     (default chunks of 16 MiB) through a fresh mapping per chunk;
   * ``fit_chunks(array)`` -- the same chunked passes over the array read
     into memory first (the cost of chunking without the re-mapping);
   * ``fit(memmap)`` -- the in-memory kernels reading the whole mapping;
   * ``fit(array)`` -- the in-memory kernels on the array read into memory.

2. **Dask** (default n = 1e7): ``GaussianMixture.fit`` on a
   ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` with
   the array persisted on the workers, against the in-memory fit with
   ``n_threads=2`` on the same two cores; the difference is the overhead dask
   adds per iteration (scheduling, one task per block, the tree sum, the
   round trip to the client).

3. **Online vs batch EM** on a stream from a known mixture (default 200
   chunks of 5,000): the truth, batch EM on all the draws, and online EM
   (``GaussianMixture.partial_fit``, one call per chunk), with the standard
   error implied by the online estimate's effective sample size.

Each row of tables 1 and 2 runs in its own Python process, so its peak RSS
(VmHWM on Linux, else ``resource.getrusage``) is its own; the file is
written by another process too. Times per iteration are
``(t(m2) - t(m1)) / (m2 - m1)`` from two fits from the same fixed start with
``tol=0`` (so each runs exactly ``max_iter`` iterations), which cancels the
per-fit costs (the frame/validation pass, initialisation). The file is
written to a temporary directory (``--tmpdir``) and deleted afterwards; it is
read warm from the page cache.

Run::

    python benchmarks/bench_big.py                       # full sizes
    python benchmarks/bench_big.py --n 1e6 --n-dask 1e6  # quick
    python benchmarks/bench_big.py --skip dask

Needs dask[array,distributed] for table 2 (skipped otherwise).
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np

WEIGHTS = np.array([0.3, 0.5, 0.2])
MEANS = np.array([-6.0, 0.0, 7.0])
STDS = np.array([1.0, 1.5, 0.7])
START = dict(weights_init=[0.2, 0.4, 0.4], means_init=[-3.0, 1.0, 4.0],
             precisions_init=[0.5, 0.5, 0.5])


def peak_rss_mb():
    """Peak resident set size of this process so far, in MB.

    On Linux the high-water mark of this process's own memory (VmHWM); the
    ``resource.getrusage`` figure there would start at the parent's RSS at
    the time of the fork. Elsewhere ``getrusage``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def draw(rng, n, dtype=np.float64):
    labels = rng.choice(3, size=n, p=WEIGHTS)
    return rng.normal(MEANS[labels], STDS[labels]).astype(dtype)


def write_file(path, n, block=10_000_000):
    """n float32 draws from the mixture into a .npy file, block by block."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n,))
    rng = np.random.default_rng(12345)
    for start in range(0, n, block):
        stop = min(n, start + block)
        out[start:stop] = draw(rng, stop - start, np.float32)
    out.flush()
    del out


# ---------------------------------------------------------------------------
# One measurement per process
# ---------------------------------------------------------------------------

def estimator(max_iter, **extra):
    from cyem import GaussianMixture
    return GaussianMixture(3, tol=0.0, max_iter=max_iter, **START, **extra)


def timed(fit):
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def per_iteration(fit, m1, m2, repeats):
    """(s/iter, seconds of the m2 fit, model of the m2 fit)."""
    t1 = min(timed(lambda: fit(m1))[0] for _ in range(repeats))
    runs = [timed(lambda: fit(m2)) for _ in range(repeats)]
    t2 = min(t for t, _ in runs)
    return (t2 - t1) / (m2 - m1), t2, runs[0][1]


def measure(mode, path, m1, m2, repeats, n_dask, n_threads):
    if mode == "write":
        write_file(path, n_dask)
        print(json.dumps({}))
        return
    warnings.simplefilter("ignore")
    from cyem import chunked  # noqa: F401  (imported before the baseline RSS)
    baseline = peak_rss_mb()
    result = dict(mode=mode, baseline_rss_mb=baseline)
    if mode == "fit_chunks(memmap)":
        X = np.load(path, mmap_mode="r")
        tracemalloc.start()
        s, t2, model = per_iteration(
            lambda m: estimator(m, n_threads=n_threads).fit_chunks(X), m1, m2, repeats)
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    elif mode == "fit(memmap)":
        X = np.load(path, mmap_mode="r")
        tracemalloc.start()
        s, t2, model = per_iteration(lambda m: estimator(m, n_threads=n_threads).fit(X),
                                     m1, m2, repeats)
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    elif mode == "fit_chunks(array)":
        X = np.load(path)
        s, t2, model = per_iteration(
            lambda m: estimator(m, n_threads=n_threads).fit_chunks(X), m1, m2, repeats)
    elif mode == "fit(array)":
        X = np.load(path)
        s, t2, model = per_iteration(lambda m: estimator(m, n_threads=n_threads).fit(X),
                                     m1, m2, repeats)
    elif mode in ("dask", "in-memory"):
        X = draw(np.random.default_rng(7), n_dask)
        if mode == "in-memory":
            s, t2, model = per_iteration(lambda m: estimator(m, n_threads=n_threads).fit(X),
                                         m1, m2, repeats)
        else:
            import dask.array as da
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster):
                Xd = da.from_array(X, chunks=max(1, n_dask // 10)).persist()
                result["blocks"] = Xd.numblocks[0]
                s, t2, model = per_iteration(lambda m: estimator(m).fit(Xd),
                                             m1, m2, repeats)
    else:
        raise ValueError(mode)
    result.update(s_per_iter=s, fit_seconds=t2, peak_rss_mb=peak_rss_mb(),
                  lower_bound=model.lower_bound_, means=np.sort(model.means_.ravel()).tolist())
    print(json.dumps(result))


def run_child(args, mode, path, n=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--path", path,
           "--iters", f"{args.iters[0]},{args.iters[1]}", "--repeats", str(args.repeats),
           "--n-dask", str(args.n_dask if n is None else n), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return dict(mode=mode, error=out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

def table_memmap(args, tmpdir):
    path = os.path.join(tmpdir, "x.npy")
    start = time.perf_counter()
    run_child(args, "write", path, n=args.n)
    size_mb = os.path.getsize(path) / 2**20
    print(f"\n### 1. Memory-mapped float32 file: n = {args.n:.3g}, K = 3, "
          f"{size_mb:.0f} MB on disk (written in {time.perf_counter() - start:.1f} s)\n")
    print("| mode | s/iter | peak RSS MB | RSS after imports MB | traced peak MB "
          "| lower_bound_ |")
    print("|---|---|---|---|---|---|")
    rows = [run_child(args, mode, path)
            for mode in ("fit_chunks(memmap)", "fit_chunks(array)", "fit(memmap)",
                         "fit(array)")]
    for r in rows:
        if "error" in r:
            print(f"| {r['mode']} | error: {r['error']} | | | | |")
            continue
        traced = f"{r['traced_peak_mb']:.1f}" if "traced_peak_mb" in r else "-"
        print(f"| {r['mode']} | {r['s_per_iter']:.3f} | {r['peak_rss_mb']:.0f} | "
              f"{r['baseline_rss_mb']:.0f} | {traced} | {r['lower_bound']:.12g} |")
    os.remove(path)


def table_dask(args, tmpdir):
    if importlib.util.find_spec("dask") is None or \
            importlib.util.find_spec("distributed") is None:
        print("\n### 2. Dask: skipped (dask[array,distributed] not installed)")
        return
    print(f"\n### 2. Dask LocalCluster (2 processes x 1 thread) vs in memory "
          f"(n_threads={args.threads}): n = {args.n_dask:.3g}, K = 3\n")
    print("| mode | blocks | s/iter | lower_bound_ |")
    print("|---|---|---|---|")
    rows = {mode: run_child(args, mode, "-") for mode in ("in-memory", "dask")}
    for mode, r in rows.items():
        if "error" in r:
            print(f"| {mode} | | error: {r['error']} | |")
            continue
        print(f"| {mode} | {r.get('blocks', '-')} | {r['s_per_iter']:.4f} | "
              f"{r['lower_bound']:.12g} |")
    if all("error" not in r for r in rows.values()):
        over = rows["dask"]["s_per_iter"] - rows["in-memory"]["s_per_iter"]
        rel = abs(rows["dask"]["lower_bound"] / rows["in-memory"]["lower_bound"] - 1)
        print(f"\nDask overhead per iteration: {over * 1e3:.1f} ms; relative difference "
              f"of the lower bounds: {rel:.1e}")


def table_online(args):
    warnings.simplefilter("ignore")
    from cyem import GaussianMixture, _online
    rng = np.random.default_rng(2024)
    stream = [draw(rng, args.stream_chunk) for _ in range(args.stream_chunks)]
    n = args.stream_chunks * args.stream_chunk
    online = GaussianMixture(3, random_state=0)
    start = time.perf_counter()
    for chunk in stream:
        online.partial_fit(chunk)
    t_online = time.perf_counter() - start
    x = np.concatenate(stream)
    start = time.perf_counter()
    batch = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=1000).fit(x)
    t_batch = time.perf_counter() - start
    gamma = _online.step_size(args.stream_chunks - 1)
    n_eff = args.stream_chunk * (2 - gamma) / gamma
    print(f"\n### 3. Online vs batch EM: {args.stream_chunks} chunks of "
          f"{args.stream_chunk} ({n:.3g} draws), K = 3\n")
    print(f"batch EM: {t_batch:.2f} s, {batch.n_iter_} iterations; online EM: "
          f"{t_online:.2f} s ({t_online / args.stream_chunks * 1e3:.2f} ms per chunk); "
          f"last step size {gamma:.4f}, effective sample size of the online "
          f"statistics ~{n_eff:,.0f}\n")
    print("| parameter | truth | batch EM | online EM | online - batch | "
          "std. error at n_eff |")
    print("|---|---|---|---|---|---|")
    ob, oo = np.argsort(batch.means_.ravel()), np.argsort(online.means_.ravel())
    for name, truth, b, o, se in [
            ("weight", WEIGHTS, batch.weights_[ob], online.weights_[oo],
             np.sqrt(WEIGHTS * (1 - WEIGHTS) / n_eff)),
            ("mean", MEANS, batch.means_.ravel()[ob], online.means_.ravel()[oo],
             STDS / np.sqrt(WEIGHTS * n_eff)),
            ("std", STDS, batch.stds_[ob], online.stds_[oo],
             STDS / np.sqrt(2 * WEIGHTS * n_eff))]:
        for k in range(3):
            print(f"| {name} {k} | {truth[k]:.4f} | {b[k]:.4f} | {o[k]:.4f} | "
                  f"{o[k] - b[k]:+.4f} | {se[k]:.4f} |")
    print(f"| mean log-lik | | {batch.score(x):.5f} | {online.score(x):.5f} | "
          f"{online.score(x) - batch.score(x):+.5f} | |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=float, default=1e8, help="rows of the memmap file")
    parser.add_argument("--n-dask", type=float, default=1e7, help="rows for the dask table")
    parser.add_argument("--iters", default="2,7", help="m1,m2 iteration counts")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="n_threads of in-memory fits")
    parser.add_argument("--stream-chunks", type=int, default=200)
    parser.add_argument("--stream-chunk", type=int, default=5000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["memmap", "dask", "online"])
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.n, args.n_dask = int(args.n), int(args.n_dask)
    args.iters = tuple(int(i) for i in args.iters.split(","))
    if args.child:
        measure(args.child, args.path, *args.iters, args.repeats, args.n_dask, args.threads)
        return

    import cyem
    cpu = platform.processor() or platform.machine()
    print(f"python {platform.python_version()}, numpy {np.__version__}, cyem "
          f"{cyem.__version__}, {os.cpu_count()} CPUs ({cpu})")
    print(f"load average before: {os.getloadavg()}")
    tmpdir = tempfile.mkdtemp(prefix="cyem-bench-", dir=args.tmpdir)
    try:
        if "memmap" not in args.skip:
            free = shutil.disk_usage(tmpdir).free
            if free < 2 * 4 * args.n:
                print(f"\n### 1. skipped: {free / 2**30:.1f} GB free in {tmpdir}")
            else:
                table_memmap(args, tmpdir)
        if "dask" not in args.skip:
            table_dask(args, tmpdir)
        if "online" not in args.skip:
            table_online(args)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
