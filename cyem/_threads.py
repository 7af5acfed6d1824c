"""How many threads the kernels use, and when they stay on one.

Threads change the speed of a fit, never its result: the kernels cut the data
into blocks that depend on n only and add the blocks' sums in block order
(``cyem._kernels``). This module decides how many OpenMP threads to ask for.

Rules
-----
* ``n_threads=None`` means every core this process may use: the affinity
  mask, a cgroup CPU quota and ``OMP_NUM_THREADS`` all lower it
  (:func:`usable_cpu_count`). A larger request is capped there too: more
  threads than cores only adds overhead, and an absurd count once made libgomp
  fail to start its threads.
* Small inputs run on one thread (:func:`threads_for`). Waking a second
  thread costs tens of microseconds (more on a loaded machine), so it only
  pays when each thread gets enough work: at least ``MIN_WORK_PER_THREAD``
  units, where a unit is one (point, component) pair of a univariate model
  and a pair of a d-dimensional model weighs ``work_per_point(d, type)``
  units (0.4 d for diagonal and spherical, 0.16 d^2 for full and tied: the
  ratios of the one-thread pass times of this benchmark, 0.4 d measured at
  d = 8 and 0.12-0.16 d^2 at d = 8 and 20).

  Measured with ``benchmarks/bench_threads.py crossover --repeats 41``
  (AMD EPYC VM, 2 vCPUs, passive waiting, minimum over alternating batches,
  in a quiet minute of a shared machine; load average 0.96 before, 1.5
  after). Time of one pass, and the speed-up of 2 threads over 1:

  ==================  =======  =============================  =================
  K = 3               1 block  2 threads / 1 thread           2 threads win from
  ==================  =======  =============================  =================
  univariate          19 us    0.46-0.90 up to 6 blocks,      8 blocks, 32,768
                               1.16 at 8, 1.35 at 12,         points
                               1.80 at 64
  d = 8 full (C)      192 us   1.10 at 2 blocks, 1.17-1.37    2 blocks, 8,192
                               at 3-16, 1.76 at 24-32         points
  d = 8 diagonal      58 us    0.90-1.19, 0.96 at 64 blocks   never on this VM
  d = 20 full (BLAS)  961 us   0.99-1.01 at every size        never on this VM
  ==================  =======  =============================  =================

  The univariate crossover sets ``MIN_WORK_PER_THREAD``: about 70 us of
  one-thread work per thread. The diagonal and BLAS kernels did not run
  faster on 2 threads at any size on this VM, whatever the load (as if the
  two vCPUs shared one core's floating-point units), so their thresholds come from the same work per thread through
  the one-thread cost ratio, as a hardware-neutral choice; the full C kernel
  confirms it (rule: 2 threads from 3,200 points, i.e. the second block;
  measured: 1.10x at 2 blocks). A second thread starts from 32,768 points
  for univariate K = 3, 10,240 for d = 8 diagonal, and from the second
  block (4,097 points) for full models with d >= 8. The README's example
  (10,000 points, K = 2) and ``cyem demo`` (20,000, K = 2) run on one thread.

* Waiting threads sleep, they do not spin. libgomp's threads spin for about
  300,000 iterations before sleeping whenever they wait (at the end of a
  parallel loop, for the next one). On a machine whose cores are busy with
  other processes, a spinning thread burns the time slice that the thread it
  waits for needs: a 2-core machine running two busy processes took 3.0 s for
  ``cyem demo`` against 0.09 s with one thread. ``cyem/__init__.py`` therefore
  sets ``OMP_WAIT_POLICY=passive`` before the kernels load the OpenMP runtime
  (libgomp reads it only when it is loaded; LLVM's libomp when it starts),
  unless the user has set ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or
  ``KMP_BLOCKTIME``. It stays in ``os.environ``, so child processes and
  OpenMP runtimes loaded later inherit it. It has no effect if the same
  runtime was loaded before cyem was imported (possible with a system
  libgomp in a source build; a wheel bundles its own copy).

  ``benchmarks/bench_threads.py loaded`` (two busy processes on the 2 vCPUs,
  other engineers' work on top; default fit time / one-thread time, median
  of 3 alternating rounds of 3 fits):

  ===========================  =================  ====================  ======
  fit                          before (spinning,  now (passive, small   now,
                               no serial rule)    inputs serial)        spins
  ===========================  =================  ====================  ======
  ``cyem demo`` (20,000)       9.3x               0.83x (one thread)    0.93x
  README example (10,000)      106x               0.82x (one thread)    1.03x
  heights, 1e6 points          1.23x              0.83x                 1.73x
  d = 8 full K = 3, 1e5        2.14x              0.81x                 2.02x
  ===========================  =================  ====================  ======

  ("now, spins" is today's code with ``GOMP_SPINCOUNT=300000``, libgomp's
  default: the two threaded fits are then as slow as before.)
* Tests can force an exact thread count (:func:`forced_n_threads`), past the
  cap on usable cores and the small-input rule, to check on any machine that
  1, 2, 3, 8 or 64 threads give bitwise the same fit.
"""

import contextlib
import os
from numbers import Integral

from . import _kernels

#: Work units each thread must get (see the module docstring): 2 threads from
#: 32,768 univariate points at K = 3, the measured crossover.
MIN_WORK_PER_THREAD = 3 * 32_768 // 2

#: Upper bound of :func:`forced_n_threads`: the most blocks a kernel splits
#: the data into (``cyem._mdkernels.MAX_BLOCKS``) and far below the counts that
#: made libgomp fail.
MAX_FORCED_THREADS = 64

_forced_n_threads = None


def _cgroup_cpu_limit():
    """CPUs allowed by a cgroup v2 or v1 CPU quota (containers), or None."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, int(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, quota // period)
    except (OSError, ValueError):
        pass
    return None


def usable_cpu_count():
    """Cores this process may use: affinity mask, cgroup quota, OMP_NUM_THREADS."""
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, limit)
    # omp_get_max_threads() honours OMP_NUM_THREADS (1 when built without OpenMP).
    return max(1, min(n, _kernels.build_info()["omp_max_threads"]))


def effective_n_threads(n_threads):
    """Resolve the user's ``n_threads`` to a positive thread count.

    ``None`` or -1 means every usable core; -2 all but one, and so on (as in
    scikit-learn); a positive value is used up to the number of usable cores
    (more threads than cores only adds overhead, and an absurd count would make
    the OpenMP runtime fail to start its threads). Results never depend on the
    thread count: it only changes the speed. Inside :func:`forced_n_threads`
    the forced count is returned instead (after validating ``n_threads``).
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, Integral):
            raise TypeError(f"n_threads must be None or an int, got {n_threads!r}")
        if n_threads == 0:
            raise ValueError("n_threads must be None, a positive int or a negative int; "
                             "got 0")
    if _forced_n_threads is not None:
        return _forced_n_threads
    if n_threads is None:
        return usable_cpu_count()
    n_threads = int(n_threads)
    if n_threads < 0:
        return max(1, usable_cpu_count() + 1 + n_threads)
    return min(n_threads, usable_cpu_count())


#: Cost of a (point, component) pair relative to a univariate one, per
#: feature (diagonal) or per squared feature (full), from the one-thread pass
#: times of ``benchmarks/bench_threads.py crossover`` (see the module docstring).
DIAG_WORK_PER_FEATURE = 0.4
FULL_WORK_PER_FEATURE_SQUARED = 0.16


def work_per_point(n_features, covariance_type):
    """Relative cost of one (point, component) pair in a fused pass: 1 for
    univariate data, proportional to d for diagonal and spherical models and
    to d^2 for full and tied ones (calibrated on the measured crossovers)."""
    if n_features == 1:
        return 1.0
    if covariance_type in ("full", "tied"):
        return FULL_WORK_PER_FEATURE_SQUARED * n_features ** 2
    return DIAG_WORK_PER_FEATURE * n_features




def threads_for(n_samples, n_features, n_components, n_threads, covariance_type="full"):
    """Threads worth using for one pass over ``n_samples`` points.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Shape of the data and of the model the pass evaluates.
    n_threads : int
        The resolved thread count (:func:`effective_n_threads`), >= 1.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Ignored when ``n_features`` is 1.

    Returns
    -------
    n_threads : int
        ``n_threads``, lowered so that every thread gets at least
        ``MIN_WORK_PER_THREAD`` units of work; 1 for small inputs. Inside
        :func:`forced_n_threads`, the forced count.
    """
    if _forced_n_threads is not None:
        return _forced_n_threads
    work = n_samples * n_components * work_per_point(n_features, covariance_type)
    return max(1, min(n_threads, int(work // MIN_WORK_PER_THREAD)))


@contextlib.contextmanager
def forced_n_threads(n_threads):
    """For tests: every kernel call inside runs on exactly ``n_threads``
    OpenMP threads (when the data have at least that many blocks).

    The cap on usable cores and the small-input rule are bypassed, so that a
    one-core runner still checks that 1, 2, 3, 8 or 64 threads give the same
    fit. Process-wide and not re-entrant across Python threads: tests only.

    Parameters
    ----------
    n_threads : int
        1 to ``MAX_FORCED_THREADS``.
    """
    global _forced_n_threads
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral):
        raise TypeError(f"n_threads must be an int, got {n_threads!r}")
    if not 1 <= n_threads <= MAX_FORCED_THREADS:
        raise ValueError(f"n_threads must be in [1, {MAX_FORCED_THREADS}], got {n_threads}")
    previous, _forced_n_threads = _forced_n_threads, int(n_threads)
    try:
        yield
    finally:
        _forced_n_threads = previous


_BLAS_CONTROLLER = None


def single_threaded_blas(covariance_type, n_features):
    """Limit BLAS to one thread while the full/tied kernels call it from our
    own parallel loops (no oversubscription); a no-op for the other models."""
    global _BLAS_CONTROLLER
    if n_features == 1 or covariance_type not in ("full", "tied"):
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController   # imported on first use: slow
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
