"""Time cyem's univariate EM against scikit-learn's ``GaussianMixture``.

Both libraries fit the same data from the same starting parameters
(``weights_init``, ``means_init``, ``precisions_init``, ``reg_covar``) with
``tol=0``, so each runs exactly ``max_iter`` EM iterations and the two final
``lower_bound_`` values must agree to rounding. The script prints the machine
it ran on, then one markdown table.

Run it from anywhere, with cyem importable::

    python benchmarks/bench_univariate.py              # full run, ~10 minutes
    python benchmarks/bench_univariate.py --quick      # n = 1e5 and 1e6 only
    python benchmarks/bench_univariate.py --sizes 1e6 --components 5 --threads 1

Needs numpy, scikit-learn and threadpoolctl besides cyem.

How a time is measured
----------------------
For each library, a fit with ``max_iter=m1`` and one with ``max_iter=m2`` are
timed, each the minimum over a few repeats (the machine may be shared and
noisy); the seconds per iteration are ``(t(m2) - t(m1)) / (m2 - m1)``. The
difference cancels the per-fit set-up cost (input checks, initialisation,
scikit-learn's final E step), leaving the cost of one EM iteration.

scikit-learn is slow, so it gets few iterations (very few at large ``n``,
where it needs seconds per iteration and several GB). cyem gets more, so that
its ``t(m2) - t(m1)`` stays well above the timer noise; its ``m1`` is
scikit-learn's ``m2``, so that cyem's ``m1`` fit and scikit-learn's ``m2`` fit
ran the same iterations from the same start, and their final lower bounds
are compared.

scikit-learn runs under ``threadpoolctl.threadpool_limits(t)`` (its BLAS and
OpenMP pools) and cyem with ``n_threads=t``, for each ``t`` of ``--threads``.

Columns
-------
n, K
    Number of samples and of mixture components.
threads
    Threads given to both libraries; in a *floor* row, ``np.exp`` (see below).
iters
    The iteration counts ``m1->m2`` whose time difference is used, for
    scikit-learn then for cyem.
sklearn s/iter, cyem s/iter
    Seconds per EM iteration (in a floor row, the cyem column holds the
    floor time).
speed-up
    sklearn s/iter divided by cyem s/iter.
cyem/floor
    cyem s/iter divided by the floor time of the same (n, K).
sklearn lower_bound_, cyem lower_bound_
    The final mean log-likelihood per sample after the same number of
    iterations (scikit-learn's ``m2`` fit, cyem's ``m1`` fit), with
    scikit-learn's semantics: the log-likelihood of the parameters before the
    last M step.
rel. diff
    ``|cyem - sklearn| / |sklearn|`` of the two lower bounds.
agree
    ``yes`` if the relative difference is at most 1e-9, otherwise ``**NO**``.

The floor row of each (n, K) is the time NumPy takes to evaluate ``np.exp``
over an (n, K) float64 array into a preallocated output (single-threaded,
minimum of a few repeats): the cost of touching n*K exponentials once, which
any EM iteration must at least pay.
"""

import argparse
import gc
import os
import platform
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

import cyem
from cyem import _kernels

DEFAULT_SIZES = (10**5, 10**6, 10**7)
QUICK_SIZES = (10**5, 10**6)
DEFAULT_COMPONENTS = (3, 10)
DEFAULT_THREADS = (1, 2)
RTOL_LOWER_BOUND = 1e-9
REG_COVAR = 1e-6
SEED = 20240611
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "avx512bw")


# ---------------------------------------------------------------------------
# Data and starting parameters
# ---------------------------------------------------------------------------

def make_data(n_samples, n_components, seed=SEED):
    """Draw a reproducible sample from a mixture of univariate normals.

    The component means are evenly spaced over [-10, 10], the standard
    deviations drawn uniformly from [0.5, 2] and the weights from a
    Dirichlet(5, ..., 5), so neighbouring components overlap somewhat.

    Parameters
    ----------
    n_samples : int
        Number of samples n.
    n_components : int
        Number of components K.
    seed : int, optional
        Seed of the numpy Generator; the same (n, K, seed) gives the same data.

    Returns
    -------
    x : ndarray of shape (n_samples,), float64
        The sample, C-contiguous.
    """
    rng = np.random.default_rng([seed, n_samples, n_components])
    means = np.linspace(-10.0, 10.0, n_components)
    stds = rng.uniform(0.5, 2.0, n_components)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    return rng.normal(means[labels], stds[labels])


def starting_parameters(x, n_components):
    """Sensible starting parameters that are not the truth.

    Equal weights, means at the centres of K equal-probability quantile bins,
    and every variance equal to the variance of all the data.

    Parameters
    ----------
    x : ndarray of shape (n_samples,), float64
        The data.
    n_components : int
        Number of components K.

    Returns
    -------
    init : dict
        ``weights_init`` of shape (K,), ``means_init`` of shape (K, 1) and
        ``precisions_init`` of shape (K, 1, 1) ('full' covariances), as both
        estimators accept them.
    """
    probabilities = (np.arange(n_components) + 0.5) / n_components
    return dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=np.quantile(x, probabilities)[:, np.newaxis],
        precisions_init=np.full((n_components, 1, 1), 1.0 / x.var()),
    )


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------

def iteration_schedule(n_samples, quick=False):
    """Iteration counts and repeats used for a sample size.

    Parameters
    ----------
    n_samples : int
        Number of samples n.
    quick : bool, optional
        Use fewer repeats (``--quick``).

    Returns
    -------
    schedule : dict
        ``'sklearn'`` and ``'cyem'``, each a tuple ``(m1, m2, repeats)``: the
        two ``max_iter`` values whose time difference is measured and the
        repeats of each timed fit (the minimum is kept). cyem's ``m1`` is
        always scikit-learn's ``m2``.
    """
    if n_samples <= 300_000:
        sk_m1, sk_m2, sk_repeats, cy_extra, cy_repeats = 5, 35, 3, 300, 15
    elif n_samples <= 3_000_000:
        sk_m1, sk_m2, sk_repeats, cy_extra, cy_repeats = 2, 10, 3, 30, 7
    else:
        # scikit-learn needs seconds per iteration and several GB here.
        sk_m1, sk_m2, sk_repeats, cy_extra, cy_repeats = 1, 3, 2, 10, 5
    if quick:
        sk_repeats, cy_repeats = 1, max(3, cy_repeats // 2)
    return dict(sklearn=(sk_m1, sk_m2, sk_repeats),
                cyem=(sk_m2, sk_m2 + cy_extra, cy_repeats))


def time_per_iteration(make_fit, m1, m2, repeats):
    """Seconds per EM iteration from fits with ``m1`` and ``m2`` iterations.

    The two fits alternate within each repeat, so that a burst of load on
    the machine affects both alike; the minimum time of each is kept.

    Parameters
    ----------
    make_fit : callable
        ``make_fit(max_iter)`` returns a no-argument function that fits a
        fresh estimator with that many iterations and returns it.
    m1, m2 : int
        Iteration counts, ``m1 < m2``.
    repeats : int
        Repeats of each fit (at least 1).

    Returns
    -------
    seconds_per_iteration : float
        ``(t(m2) - t(m1)) / (m2 - m1)``.
    model_m1 : object
        The estimator of the last ``m1`` fit (for its ``lower_bound_``).
    model_m2 : object
        The estimator of the last ``m2`` fit.
    """
    fits = {m: make_fit(m) for m in (m1, m2)}
    best = {m1: np.inf, m2: np.inf}
    models = {}
    for _ in range(repeats):
        for max_iter, fit in fits.items():
            gc.collect()
            start = time.perf_counter()
            models[max_iter] = fit()
            best[max_iter] = min(best[max_iter], time.perf_counter() - start)
    for max_iter, model in models.items():
        if model.n_iter_ != max_iter:
            raise RuntimeError(f"{type(model).__name__} ran {model.n_iter_} "
                               f"iterations, expected {max_iter}")
    return (best[m2] - best[m1]) / (m2 - m1), models[m1], models[m2]


def time_sklearn(x, init, m1, m2, repeats, n_threads):
    """Time scikit-learn's ``GaussianMixture`` per EM iteration.

    Parameters
    ----------
    x : ndarray of shape (n_samples,), float64
        The data (passed as an (n, 1) view).
    init : dict
        Starting parameters from :func:`starting_parameters`.
    m1, m2, repeats : int
        See :func:`time_per_iteration`.
    n_threads : int
        Limit of its BLAS and OpenMP thread pools.

    Returns
    -------
    seconds_per_iteration : float
    lower_bound : float
        ``lower_bound_`` after ``m2`` iterations.
    """
    X = x[:, np.newaxis]
    n_components = init["weights_init"].shape[0]

    def make_fit(max_iter):
        # With all three *_init given, init_params only affects a throw-away
        # first guess; 'random_from_data' is the cheapest one to compute.
        estimator = SklearnGaussianMixture(
            n_components, covariance_type="full", tol=0.0, reg_covar=REG_COVAR,
            max_iter=max_iter, init_params="random_from_data", random_state=0, **init)
        return lambda: estimator.fit(X)

    with threadpool_limits(limits=n_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        seconds, _, model = time_per_iteration(make_fit, m1, m2, repeats)
    return seconds, float(model.lower_bound_)


def time_cyem(x, init, m1, m2, repeats, n_threads):
    """Time ``cyem.GaussianMixture`` per EM iteration.

    Parameters
    ----------
    x : ndarray of shape (n_samples,), float64
        The data (passed 1-D).
    init : dict
        Starting parameters from :func:`starting_parameters`.
    m1, m2, repeats : int
        See :func:`time_per_iteration`.
    n_threads : int
        ``n_threads`` of the estimator.

    Returns
    -------
    seconds_per_iteration : float
    lower_bound : float
        ``lower_bound_`` after ``m1`` iterations.
    """
    n_components = init["weights_init"].shape[0]

    def make_fit(max_iter):
        estimator = cyem.GaussianMixture(
            n_components, covariance_type="full", tol=0.0, reg_covar=REG_COVAR,
            max_iter=max_iter, n_threads=n_threads, **init)
        return lambda: estimator.fit(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cyem.ConvergenceWarning)
        seconds, model, _ = time_per_iteration(make_fit, m1, m2, repeats)
    return seconds, float(model.lower_bound_)


def time_exp_floor(n_samples, n_components, repeats):
    """Time ``np.exp`` over an (n, K) float64 array into a preallocated output.

    Parameters
    ----------
    n_samples, n_components : int
        Shape (n, K) of the array.
    repeats : int
        Repeats; the minimum is kept.

    Returns
    -------
    seconds : float
    """
    rng = np.random.default_rng(SEED)
    log_values = rng.uniform(-30.0, 0.0, (n_samples, n_components))
    out = np.empty_like(log_values)
    np.exp(log_values, out=out)   # fault in the pages of `out` before timing
    seconds = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.exp(log_values, out=out)
        seconds = min(seconds, time.perf_counter() - start)
    return seconds


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def cpu_description():
    """CPU model name and the SIMD-related flags the CPU reports.

    Returns
    -------
    model : str
        From /proc/cpuinfo where available, else :func:`platform.processor`.
    flags : list of str
        The members of ``SIMD_FLAGS`` present (empty if unknown).
    """
    model, flags = None, []
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not flags:
                    present = set(value.split())
                    flags = [flag for flag in SIMD_FLAGS if flag in present]
    except OSError:
        pass
    if not model:
        model = platform.processor() or platform.machine()
    return model, flags


def print_machine():
    """Print the CPU, the software versions and the thread pools in use."""
    model, flags = cpu_description()
    info = _kernels.build_info()
    print("## Machine")
    print()
    print(f"- CPU: {model} ({os.cpu_count()} logical CPUs, "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable)")
    print(f"- SIMD flags: {', '.join(flags) if flags else 'unknown'}")
    print(f"- cyem {cyem.__version__}: SIMD path {info['simd_path']}, "
          f"OpenMP {'yes' if info['openmp'] else 'no'}")
    print(f"- Python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, {platform.platform()}")
    for pool in threadpool_info():
        details = [f"{pool['internal_api']} {pool.get('version') or ''}".rstrip(),
                   f"{pool['num_threads']} threads"]
        if pool.get("architecture"):
            details.append(f"architecture {pool['architecture']}")
        print(f"- thread pool ({pool['user_api']}): {', '.join(details)} "
              f"[{os.path.basename(pool['filepath'])}]")
    for name in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if name in os.environ:
            print(f"- {name}={os.environ[name]}")
    print(f"- load average at start: {load_average()}")
    print()


def load_average():
    """The 1, 5 and 15 minute load averages as text (other work skews timings)."""
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def format_n(n_samples):
    """``10**k`` as ``'1e{k}'``, any other integer as digits."""
    exponent = int(round(np.log10(n_samples))) if n_samples > 0 else 0
    return f"1e{exponent}" if 10**exponent == n_samples else str(n_samples)


HEADER = ("n", "K", "threads", "iters", "sklearn s/iter", "cyem s/iter", "speed-up",
          "cyem/floor", "sklearn lower_bound_", "cyem lower_bound_", "rel. diff", "agree")


def print_row(cells):
    """Print one markdown table row (and flush, so progress shows)."""
    print("| " + " | ".join(str(cell) for cell in cells) + " |", flush=True)


def benchmark(sizes, components, threads, quick):
    """Run every (n, K, threads) case and print the table row by row.

    Parameters
    ----------
    sizes : sequence of int
        Sample sizes n.
    components : sequence of int
        Numbers of components K.
    threads : sequence of int
        Thread counts, each used for both libraries.
    quick : bool
        Fewer repeats.

    Returns
    -------
    n_disagreements : int
        Rows whose lower bounds differ by more than ``RTOL_LOWER_BOUND``.
    """
    print_row(HEADER)
    print_row(["---"] * len(HEADER))
    n_disagreements = 0
    for n_samples in sizes:
        schedule = iteration_schedule(n_samples, quick)
        iters = "; ".join(f"{m1}->{m2}" for m1, m2, _ in schedule.values())
        for n_components in components:
            x = make_data(n_samples, n_components)
            init = starting_parameters(x, n_components)
            floor = time_exp_floor(n_samples, n_components, schedule["cyem"][2])
            label = (format_n(n_samples), n_components)
            print_row([*label, "np.exp floor", "", "", f"{floor:.3g}", "", "1.00", "", "",
                       "", ""])
            for n_threads in threads:
                sk_time, sk_bound = time_sklearn(x, init, *schedule["sklearn"], n_threads)
                cy_time, cy_bound = time_cyem(x, init, *schedule["cyem"], n_threads)
                rel_diff = abs(cy_bound - sk_bound) / abs(sk_bound)
                agree = rel_diff <= RTOL_LOWER_BOUND
                n_disagreements += not agree
                print_row([*label, n_threads, iters, f"{sk_time:.3g}",
                           f"{cy_time:.3g}", f"{sk_time / cy_time:.1f}",
                           f"{cy_time / floor:.2f}", f"{sk_bound:.15g}",
                           f"{cy_bound:.15g}", f"{rel_diff:.1e}",
                           "yes" if agree else "**NO**"])
            del x
            gc.collect()
    return n_disagreements


def parse_size(text):
    """An integer sample size from ``'100000'`` or ``'1e5'``."""
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(value)


def main(argv=None):
    """Parse the command line, print the machine and the table.

    Returns
    -------
    status : int
        0, or 1 if some lower bounds disagree.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="only n = 1e5 and 1e6 (unless --sizes), fewer repeats")
    parser.add_argument("--sizes", type=parse_size, nargs="+", metavar="N",
                        help="sample sizes (default 1e5 1e6 1e7)")
    parser.add_argument("--components", type=int, nargs="+", metavar="K",
                        default=list(DEFAULT_COMPONENTS),
                        help="numbers of components (default 3 10)")
    parser.add_argument("--threads", type=int, nargs="+", metavar="T",
                        default=list(DEFAULT_THREADS),
                        help="thread counts for both libraries (default 1 2)")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)

    print_machine()
    print("## Univariate EM, seconds per iteration ('full' covariances, tol=0, "
          f"reg_covar={REG_COVAR:g})")
    print()
    start = time.perf_counter()
    n_disagreements = benchmark(sizes, args.components, args.threads, args.quick)
    print()
    print(f"Total benchmark time: {time.perf_counter() - start:.0f} s; "
          f"load average at the end: {load_average()}.")
    if n_disagreements:
        print(f"WARNING: {n_disagreements} row(s) with lower bounds differing by more "
              f"than {RTOL_LOWER_BOUND:g} (relative).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
