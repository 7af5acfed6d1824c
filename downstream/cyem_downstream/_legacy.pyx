# cython: language_level=3, boundscheck=False, wraparound=False
"""The DEPRECATED cimport path, ``from cyem._kernels cimport ...``.

cyem 0.x keeps it working for one release after ``from cyem cimport ...``
became the public path; this module exists so that CI proves it still builds
against the installed wheel and calls the same functions. New code cimports
from ``cyem`` (see ``_ops.pyx``).
"""

import numpy as np

from cyem._kernels cimport accumulate_block_f64, scratch_size


def block_stats_old_path(const double[::1] x, const double[::1] means,
                         const double[::1] log_norm, const double[::1] prec):
    """The statistics of all of ``x`` from ONE kernel call, single-threaded.

    Parameters
    ----------
    x : ndarray of shape (n,), float64 (IN)
    means, log_norm, prec : ndarray of shape (K,), float64 (IN)
        cyem's kernel form (``cyem._kernels.component_arrays``).

    Returns
    -------
    stats : ndarray of shape (2 + 3K,)
    """
    cdef Py_ssize_t n = x.shape[0], K = means.shape[0]
    if K == 0 or log_norm.shape[0] != K or prec.shape[0] != K:
        raise ValueError("means, log_norm and prec must have the same length K >= 1")
    stats = np.zeros(2 + 3 * K)
    scratch = np.empty(scratch_size(K))
    cdef double[::1] stats_v = stats, scratch_v = scratch
    if n:
        with nogil:
            accumulate_block_f64(&x[0], 0.0, 1.0, NULL, n, K, &means[0], &log_norm[0],
                                 &prec[0], &scratch_v[0], &stats_v[0])
    return stats
