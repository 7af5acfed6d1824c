"""When do threads pay off, and do they ever hurt? Two experiments.

``crossover``
    Time of one fused E+M pass (the kernel call an EM iteration makes) with 1
    and with 2 threads, for n from one block (4096 points) up, for each model
    of ``--models``: univariate K=3, d=8 diagonal K=3, d=8 full K=3 (C path)
    and d=20 full K=3 (BLAS path). Batches of 1- and 2-thread calls alternate,
    so that load changing during the run hits both columns alike; each figure
    is the minimum over ``--repeats`` batches (``--statistic min``: the cost
    on a quiet machine, to which other load only adds) or their median. The
    "crossover" printed under each model is the smallest n from which 2
    threads are at least ``--gain`` times faster at every larger n of the
    table; ``cyem._threads`` records the figures and runs smaller inputs on
    one thread.

``loaded``
    The situation of issue 12: a machine whose cores are all busy with other
    processes. Starts ``--busy`` processes spinning in pure Python (each ends
    by itself after ``--busy-seconds``, and all are killed at the end), then
    times default fits in fresh interpreters: the ``cyem demo`` fit (20,000
    heights, n_init=3, tol=1e-7), the README's example (``heights1e4``: 10,000
    heights, defaults), the same at 1e6 heights, and d=8 full K=3 at n=1e5,
    each with

    * the default settings (cyem's passive OpenMP wait policy),
    * ``GOMP_SPINCOUNT=300000``: libgomp's own default spinning, which cyem
      leaves alone when the user sets it,
    * ``OMP_NUM_THREADS=1``,

    and prints the median time of a fit (``--repeats`` fits per interpreter
    after a warm-up, ``--rounds`` interpreters per setting, the settings
    alternating) and its ratio to the one-thread time. The goal is a default
    within 1.5x. ``--cyem-path DIR`` times another copy of cyem (for instance
    an older commit with the extensions copied beside it) for a before/after.

Usage::

    python benchmarks/bench_threads.py crossover             # ~1 min
    python benchmarks/bench_threads.py crossover --models uni --repeats 15
    python benchmarks/bench_threads.py loaded                 # ~5 min
    python benchmarks/bench_threads.py loaded --busy 0        # the same, unloaded
    git archive OLD cyem | tar -x -C /tmp/old && cp cyem/*.so /tmp/old/cyem/
    python benchmarks/bench_threads.py loaded --cyem-path /tmp/old

Both are timing experiments: on a shared machine say how loaded it was (the
script prints the load average before and after).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

import cyem
from cyem import _kernels, _mdkernels
from cyem import _params_md as md

BLOCK = _kernels.BLOCK_SIZE
BLOCK_COUNTS = [1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 64]


# ---- crossover ----------------------------------------------------------------

def univariate_pass(n, K=3):
    """A function running one univariate pass with t threads, buffers preallocated."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    arrays = _kernels.component_arrays(np.full(K, 1 / K), np.linspace(-1, 1, K),
                                       np.full(K, 0.5))
    block_stats = np.empty((_kernels.n_blocks(n), 2 + 3 * K))
    scratch = {t: _kernels.make_scratch(K, t) for t in (1, 2)}
    return lambda t: _kernels.accumulate_stats(x, None, *arrays, t, 0.0, 1.0,
                                               block_stats, scratch[t])


def multivariate_pass(n, d, covariance_type, K=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    cov = {"diag": np.full((K, d), 0.5),
           "full": np.tile(0.5 * np.eye(d) + 0.1, (K, 1, 1))}[covariance_type]
    cov, prec_chol = md.precision_cholesky(cov, covariance_type)
    params = md.MDParams(covariance_type, np.full(K, 1 / K), rng.normal(0, 0.3, (K, d)),
                         cov, prec_chol)
    means, log_norm, prec, kind = params.kernel_arrays()
    origin, inv_scale = np.zeros(d), np.ones(d)
    block_stats = np.empty((_mdkernels.n_blocks(n), _mdkernels.n_stats(K, d, kind)))
    scratch = {t: _mdkernels.make_scratch(K, d, kind, t) for t in (1, 2)}
    return lambda t: _mdkernels.accumulate_stats(X, None, means, log_norm, prec, kind, t,
                                                 origin, inv_scale, block_stats,
                                                 scratch[t])


MODELS = {
    "uni": ("univariate K=3", univariate_pass),
    "diag8": ("d=8 diag K=3", lambda n: multivariate_pass(n, 8, "diag")),
    "full8": ("d=8 full K=3 (C)", lambda n: multivariate_pass(n, 8, "full")),
    "full20": ("d=20 full K=3 (BLAS)", lambda n: multivariate_pass(n, 20, "full")),
}


STATISTICS = {"min": np.min, "median": np.median}


def pass_seconds(run, repeats, statistic, min_batch_seconds=0.002):
    """Seconds per call with 1 and with 2 threads (the min or the median over
    batches; the batches of the two counts alternate)."""
    for t in (1, 2):
        run(t)                                        # warm up threads and caches
    start = time.perf_counter()
    run(1)
    calls = max(1, int(min_batch_seconds / max(time.perf_counter() - start, 1e-7)))
    batches = {1: [], 2: []}
    for _ in range(repeats):
        for t in (1, 2):
            start = time.perf_counter()
            for _ in range(calls):
                run(t)
            batches[t].append((time.perf_counter() - start) / calls)
    return STATISTICS[statistic](batches[1]), STATISTICS[statistic](batches[2])


def crossover(args):
    from threadpoolctl import threadpool_limits

    print(f"block = {BLOCK} points; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}; "
          f"load average {os.getloadavg()}")
    for key in args.models:
        title, make = MODELS[key]
        print(f"\n{title}\n\n| n | blocks | 1 thread (us) | 2 threads (us) | 1t / 2t |")
        print("|---:|---:|---:|---:|---:|")
        rows = []
        for blocks in BLOCK_COUNTS:
            n = blocks * BLOCK
            with threadpool_limits(1, "blas"):
                one, two = pass_seconds(make(n), args.repeats, args.statistic)
            rows.append((n, one / two))
            print(f"| {n} | {blocks} | {one * 1e6:.0f} | {two * 1e6:.0f} | {one / two:.2f} |",
                  flush=True)
        winning = [n for i, (n, _) in enumerate(rows)
                   if all(gain >= args.gain for _, gain in rows[i:])]
        print(f"\ncrossover ({args.gain}x): " + (f"n = {winning[0]}" if winning else "none"))
    print(f"\nload average after: {os.getloadavg()}")


# ---- loaded machine -------------------------------------------------------------

FIT_SCRIPT = """
import sys, time, warnings
import numpy as np
import cyem
from cyem.cli import simulate_heights

warnings.simplefilter("ignore")
workload = sys.argv[1]
if workload == "demo":
    x, _ = simulate_heights(20_000, 2026)
    fit = lambda: cyem.GaussianMixture(2, n_init=3, tol=1e-7, max_iter=1000,
                                       random_state=2026).fit(x)
elif workload.startswith("heights"):
    rng = np.random.default_rng(0)
    n = int(float(workload[len("heights"):]))
    x = np.concatenate([rng.normal(164, 6.5, n * 52 // 100),
                        rng.normal(178, 7.0, n - n * 52 // 100)])
    fit = lambda: cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
else:                                   # d8full: n = 1e5, d = 8, K = 3, full
    rng = np.random.default_rng(0)
    X = rng.normal(0, 3, (3, 8))[rng.integers(0, 3, 100_000)] \\
        + rng.standard_normal((100_000, 8))
    fit = lambda: cyem.GaussianMixture(3, random_state=0).fit(X)
fit()
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    fit()
    times.append(time.perf_counter() - start)
print(np.median(times))
"""

#: heights1e4 is the README's example (10,000 heights, default settings).
WORKLOADS = ["demo", "heights1e4", "heights1e6", "d8full"]

SETTINGS = [("default", {}), ("GOMP_SPINCOUNT=300000", {"GOMP_SPINCOUNT": "300000"}),
            ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"})]

BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"


def timed_fit(workload, extra_env, repeats, cyem_path=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env.update(extra_env)
    if cyem_path:
        env["PYTHONPATH"] = cyem_path
    out = subprocess.run([sys.executable, "-c", FIT_SCRIPT, workload, str(repeats)],
                         env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.expanduser("~"))
    return float(out.stdout.split()[-1])


def loaded(args):
    # Each busy loop ends by itself after --busy-seconds, should this script die.
    busy = [subprocess.Popen([sys.executable, "-c",
                              BUSY_LOOP.format(seconds=args.busy_seconds)])
            for _ in range(args.busy)]
    try:
        time.sleep(0.5)
        print(f"{args.busy} busy processes; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()}"
              + (f"; cyem from {args.cyem_path}" if args.cyem_path else "") + "\n")
        print("| fit | setting | median seconds | / one thread |")
        print("|---|---|---:|---:|")
        for workload in args.workloads:
            # Settings alternate round by round, so that load drifting during
            # the run does not favour one of them.
            rounds = {name: [] for name, _ in SETTINGS}
            for _ in range(args.rounds):
                for name, env in SETTINGS:
                    rounds[name].append(timed_fit(workload, env, args.repeats,
                                                  args.cyem_path))
            seconds = {name: float(np.median(values)) for name, values in rounds.items()}
            one = seconds["OMP_NUM_THREADS=1"]
            for name, _ in SETTINGS:
                print(f"| {workload} | {name} | {seconds[name]:.4f} | "
                      f"{seconds[name] / one:.2f} |", flush=True)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    print(f"\nload average after: {os.getloadavg()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("crossover", help="1 vs 2 threads per pass, by n")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--statistic", choices=list(STATISTICS), default="min",
                   help="min over batches (default): the cost on a quiet machine, "
                        "which load only ever adds to; median: the typical cost now")
    p.add_argument("--gain", type=float, default=1.1,
                   help="speed-up 2 threads must reach (default 1.1)")
    p.set_defaults(func=crossover)
    p = sub.add_parser("loaded", help="default fit vs one thread with busy cores")
    p.add_argument("--busy", type=int, default=os.cpu_count(),
                   help="busy processes to start (default: one per CPU)")
    p.add_argument("--busy-seconds", type=int, default=600,
                   help="upper bound on their life, should this script die")
    p.add_argument("--repeats", type=int, default=5, help="fits per interpreter")
    p.add_argument("--rounds", type=int, default=3,
                   help="interpreters per setting, alternating between the settings")
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=WORKLOADS)
    p.add_argument("--cyem-path", metavar="DIR",
                   help="time the cyem package found in DIR instead (PYTHONPATH), "
                        "e.g. an older version copied there with its extensions")
    p.set_defaults(func=loaded)
    args = parser.parse_args(argv)
    print(f"cyem {cyem.__version__}, Python {sys.version.split()[0]}")
    args.func(args)


if __name__ == "__main__":
    main()
