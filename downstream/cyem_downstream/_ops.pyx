# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Mixture statistics computed in this package's own parallel loop, with cyem's kernels.

Everything cyem-specific is the ``cimport`` below: ``from cyem cimport`` reads
the ``cyem/__init__.pxd`` shipped in cyem's wheel (which re-exports the
declarations of ``cyem/_kernels.pxd`` and ``cyem/_mdkernels.pxd``), and the
functions are found at import time through the C-API capsules of
``cyem._kernels`` and ``cyem._mdkernels`` (Cython imports those modules for
us). The kernels are ``noexcept nogil``, so they are called here inside
``prange`` with the GIL released.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY, M_PI, log, sqrt

from cyem cimport (
    accumulate_block_f32, accumulate_block_f64, scratch_size,
    accumulate_diag_block_f32, accumulate_diag_block_f64, diag_scratch_size,
    accumulate_full_block_f32, accumulate_full_block_f64, full_scratch_size,
)

cdef extern from *:
    """
    #ifdef _OPENMP
    #define CYEM_DOWNSTREAM_OPENMP 1
    #else
    #define CYEM_DOWNSTREAM_OPENMP 0
    #endif
    """
    int CYEM_DOWNSTREAM_OPENMP

#: Whether this module was compiled with OpenMP (else prange runs serially).
OPENMP = bool(CYEM_DOWNSTREAM_OPENMP)

#: Points per block. Blocks depend on n only, and their results are added in
#: block order, so the thread count does not change a single bit of the output.
BLOCK_SIZE = 2048


def mixture_stats(const floating[::1] x, const double[::1] weights,
                  const double[::1] means, const double[::1] variances,
                  const double[::1] sample_weight=None, int n_threads=1,
                  Py_ssize_t block_size=BLOCK_SIZE):
    """Log-likelihood and sufficient statistics of a univariate mixture.

    Parameters
    ----------
    x : ndarray of shape (n,), float32 or float64, C-contiguous
        Data (IN).
    weights, means, variances : ndarray of shape (K,), float64
        Mixture parameters (IN); weights >= 0, variances > 0.
    sample_weight : ndarray of shape (n,), float64, optional
        Per-point weights (IN); None means all ones.
    n_threads : int
        OpenMP threads for the loop over blocks; does not change the result.
    block_size : int
        Points per call of cyem's kernel.

    Returns
    -------
    stats : ndarray of shape (2 + 3K,), float64
        [L, W, N_0.., S_0.., Q_0..] in the layout documented in cyem's
        ``_kernels.pxd`` (L is the weighted log-likelihood).
    """
    cdef Py_ssize_t n = x.shape[0], K = means.shape[0]
    cdef Py_ssize_t n_stats = 2 + 3 * K
    cdef Py_ssize_t n_blocks = (n + block_size - 1) // block_size
    cdef Py_ssize_t b, k, j, start, stop
    cdef const double *w_ptr = NULL
    if n_threads < 1 or block_size < 1:
        raise ValueError("n_threads and block_size must be positive")
    if weights.shape[0] != K or variances.shape[0] != K or K == 0:
        raise ValueError("weights, means and variances must have the same length K >= 1")
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("sample_weight must have one value per point")
        if n:
            w_ptr = &sample_weight[0]

    # The kernel's parametrisation (see the .pxd): log_norm and prec, in the
    # data's own units (origin 0, inv_scale 1 in the kernel calls below).
    log_norm = np.empty(K)
    prec = np.empty(K)
    cdef double[::1] log_norm_v = log_norm, prec_v = prec
    for k in range(K):
        prec_v[k] = 1.0 / sqrt(variances[k])
        log_norm_v[k] = (log(weights[k]) + log(prec_v[k]) - 0.5 * log(2.0 * M_PI)
                         if weights[k] > 0 else -INFINITY)

    stats = np.zeros(n_stats)
    if n == 0:
        return stats
    # One row of statistics per block (the kernel adds into it, so start at
    # zero) and one scratch buffer per thread, allocated before the loop.
    block_stats = np.zeros((n_blocks, n_stats))
    scratch = np.empty((n_threads, scratch_size(K)))
    cdef double[:, ::1] block_v = block_stats, scratch_v = scratch
    cdef double[::1] stats_v = stats

    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * block_size
        stop = min(start + block_size, n)
        if floating is double:
            accumulate_block_f64(&x[start], 0.0, 1.0,
                                 (w_ptr + start) if w_ptr != NULL else NULL,
                                 stop - start, K, &means[0], &log_norm_v[0], &prec_v[0],
                                 &scratch_v[threadid(), 0], &block_v[b, 0])
        else:
            accumulate_block_f32(&x[start], 0.0, 1.0,
                                 (w_ptr + start) if w_ptr != NULL else NULL,
                                 stop - start, K, &means[0], &log_norm_v[0], &prec_v[0],
                                 &scratch_v[threadid(), 0], &block_v[b, 0])

    with nogil:
        for b in range(n_blocks):
            for j in range(n_stats):
                stats_v[j] += block_v[b, j]
    return stats


COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def kernel_form(weights, means, precisions_cholesky, covariance_type):
    """cyem's kernel parametrisation of a multivariate Gaussian mixture.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    precisions_cholesky : ndarray
        As scikit-learn's and cyem's ``precisions_cholesky_``: (K, d, d)
        upper-triangular for 'full', (d, d) for 'tied', (K, d) for 'diag',
        (K,) for 'spherical'.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    log_norm : ndarray of shape (K,)
        log w_k - d/2 log(2 pi) + log det U_k (see cyem's ``_mdkernels.pxd``).
    prec : ndarray, float64, C-contiguous
        (K, d, d) for 'full', (1, d, d) for 'tied', (K, d) for 'diag' and
        'spherical' (a spherical precision repeated over the features).
    kind : {'full', 'diag'}
        Which of cyem's kernels takes them.
    """
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, "
                         f"got {covariance_type!r}")
    weights = np.asarray(weights, dtype=np.float64)
    K, d = np.shape(means)
    pc = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type == "full":
        log_det, prec = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1), pc
    elif covariance_type == "tied":
        log_det, prec = np.full(K, np.log(np.diag(pc)).sum()), pc[np.newaxis]
    elif covariance_type == "diag":
        log_det, prec = np.log(pc).sum(axis=1), pc
    else:
        log_det, prec = d * np.log(pc), np.repeat(pc[:, np.newaxis], d, axis=1)
    with np.errstate(divide="ignore"):
        log_norm = np.log(weights) - 0.5 * d * log(2.0 * M_PI) + log_det
    kind = "full" if covariance_type in ("full", "tied") else "diag"
    return np.ascontiguousarray(log_norm), np.ascontiguousarray(prec), kind


def gaussian_mixture_stats(const floating[:, ::1] X, weights, means,
                           precisions_cholesky, str covariance_type,
                           const double[::1] sample_weight=None, int n_threads=1,
                           Py_ssize_t block_size=BLOCK_SIZE):
    """Log-likelihood and sufficient statistics of a multivariate mixture.

    The multivariate counterpart of ``mixture_stats``: one call of cyem's
    ``accumulate_full_block_*`` (full, tied) or ``accumulate_diag_block_*``
    (diag, spherical) per block, in this module's own ``prange``.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, C-contiguous
        Data (IN).
    weights, means, precisions_cholesky, covariance_type
        The mixture, as ``kernel_form`` takes it (IN).
    sample_weight : ndarray of shape (n,), float64, optional
        Per-point weights (IN); None means all ones.
    n_threads : int
        OpenMP threads for the loop over blocks; does not change the result.
        With d > 16 the full kernel calls BLAS: keep BLAS on one thread
        (threadpoolctl) while this runs.
    block_size : int
        Points per call of cyem's kernel.

    Returns
    -------
    stats : ndarray, float64
        [L, W, N (K), S (K d), Q] in the layout of cyem's ``_mdkernels.pxd``:
        Q is (K, d) for diag and spherical, (K, d, d) with only the upper
        triangle filled for full and tied.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t K, n_stats, n_blocks, b, j, start, stop
    cdef const double *w_ptr = NULL
    if n_threads < 1 or block_size < 1:
        raise ValueError("n_threads and block_size must be positive")
    log_norm, prec, kind = kernel_form(weights, means, precisions_cholesky, covariance_type)
    means = np.ascontiguousarray(means, dtype=np.float64)
    K = log_norm.shape[0]
    if means.shape != (K, d):
        raise ValueError(f"means must have shape ({K}, {d}), got {means.shape}")
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError("sample_weight must have one value per point")
        if n:
            w_ptr = &sample_weight[0]
    cdef bint full = kind == "full"
    cdef int tied = covariance_type == "tied"
    n_stats = 2 + K + K * d + (K * d * d if full else K * d)
    stats = np.zeros(n_stats)
    if n == 0:
        return stats
    n_blocks = (n + block_size - 1) // block_size
    # Data units: the frame of cyem's kernels with origin 0 and inv_scale 1.
    origin = np.zeros(d)
    inv_scale = np.ones(d)
    block_stats = np.zeros((n_blocks, n_stats))
    scratch = np.empty((n_threads, full_scratch_size(K, d) if full else diag_scratch_size(K, d)))
    cdef const double[::1] origin_v = origin, inv_scale_v = inv_scale, log_norm_v = log_norm
    cdef const double[::1] means_v = means.ravel(), prec_v = prec.ravel()
    cdef double[:, ::1] block_v = block_stats, scratch_v = scratch
    cdef double[::1] stats_v = stats

    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * block_size
        stop = min(start + block_size, n)
        # ``floating is double`` is decided at compile time, so it must be a
        # test of its own; ``full`` is decided at run time.
        if floating is double:
            if full:
                accumulate_full_block_f64(&X[start, 0], &origin_v[0], &inv_scale_v[0],
                                          (w_ptr + start) if w_ptr != NULL else NULL,
                                          stop - start, d, K, &means_v[0], &log_norm_v[0],
                                          &prec_v[0], tied, &scratch_v[threadid(), 0],
                                          &block_v[b, 0])
            else:
                accumulate_diag_block_f64(&X[start, 0], &origin_v[0], &inv_scale_v[0],
                                          (w_ptr + start) if w_ptr != NULL else NULL,
                                          stop - start, d, K, &means_v[0], &log_norm_v[0],
                                          &prec_v[0], &scratch_v[threadid(), 0],
                                          &block_v[b, 0])
        else:
            if full:
                accumulate_full_block_f32(&X[start, 0], &origin_v[0], &inv_scale_v[0],
                                          (w_ptr + start) if w_ptr != NULL else NULL,
                                          stop - start, d, K, &means_v[0], &log_norm_v[0],
                                          &prec_v[0], tied, &scratch_v[threadid(), 0],
                                          &block_v[b, 0])
            else:
                accumulate_diag_block_f32(&X[start, 0], &origin_v[0], &inv_scale_v[0],
                                          (w_ptr + start) if w_ptr != NULL else NULL,
                                          stop - start, d, K, &means_v[0], &log_norm_v[0],
                                          &prec_v[0], &scratch_v[threadid(), 0],
                                          &block_v[b, 0])

    with nogil:
        for b in range(n_blocks):
            for j in range(n_stats):
                stats_v[j] += block_v[b, j]
    return stats


def log_likelihood(x, weights, means, variances, sample_weight=None, int n_threads=1):
    """Total (weighted) log-likelihood sum_i v_i log sum_k w_k N(x_i; mu_k, var_k).

    ``x`` is converted to a contiguous float64 array unless it already is a
    contiguous float32 or float64 one; see ``mixture_stats`` for the rest.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x).ravel()

    def as_f64(a):
        return None if a is None else np.ascontiguousarray(a, dtype=np.float64).ravel()

    return float(mixture_stats(x, as_f64(weights), as_f64(means), as_f64(variances),
                               as_f64(sample_weight), n_threads)[0])
