"""How many threads the kernels may use."""

import os
from numbers import Integral

from . import _kernels


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
    thread count: it only changes the speed.
    """
    if n_threads is None:
        return usable_cpu_count()
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral):
        raise TypeError(f"n_threads must be None or an int, got {n_threads!r}")
    n_threads = int(n_threads)
    if n_threads == 0:
        raise ValueError("n_threads must be None, a positive int or a negative int; got 0")
    if n_threads < 0:
        return max(1, usable_cpu_count() + 1 + n_threads)
    return min(n_threads, usable_cpu_count())
