# cython: language_level=3
"""Public Cython API of cyem: the nogil kernels of the multivariate EM.

Cimport these from the package, ``from cyem cimport accumulate_diag_block_f64``
(``cyem/__init__.pxd`` re-exports them); this file is where they are declared,
once. They are exported through ``cyem._mdkernels``' C-API capsule, which
Cython imports automatically at run time.

Conventions shared by every function below (K = n_components, d = n_features)
-----------------------------------------------------------------------------
* Data ``X`` are ``n_samples`` rows of d values, row-major and contiguous:
  ``X[i * d + f]``. The kernels see every point in a per-feature frame,
  x'_f = (x_f - origin[f]) * inv_scale[f] (``origin`` and ``inv_scale``: d
  doubles each), and the parameters are those of the mixture of x'. Pass
  origin = 0, inv_scale = 1 to work in the data's own units.
* ``means``: K x d doubles, row-major, ``means[k * d + f]`` = mu_kf.
* ``log_norm``: K doubles, log w_k - (d / 2) log(2 pi) + log det U_k, with
  U_k the precision factor below (log det U_k = sum_f log U_k[f, f], or
  sum_f log prec[k * d + f] for the diagonal kernels); -inf for a component
  of weight 0. Then log(w_k g(x'; k)) = log_norm[k] - 0.5 ||(x' - mu_k) U_k||^2.
* Two kernel kinds:

  - diag (diagonal and spherical covariances): ``prec`` is K x d doubles,
    ``prec[k * d + f]`` = 1 / sigma_kf. A spherical model passes the same
    value for every f of a component.
  - full (full and tied covariances): ``prec_chol`` is K x d x d doubles,
    ``prec_chol[(k * d + f) * d + g]`` = U_k[f, g], U_k UPPER-triangular with
    precision_k = U_k U_k^T (scikit-learn's ``precisions_cholesky_``; the
    strict lower triangle is never read). ``tied`` != 0: one U (d x d) for
    every component. For d <= 16 the arithmetic runs in vectorised C; above,
    as BLAS-3 calls (dtrmm, dsyrk) from SciPy's ``cython_blas`` on tiles of
    256 points. Both are nogil, so both may run inside a ``prange``; limit
    BLAS to one thread meanwhile (``threadpoolctl.threadpool_limits(1,
    "blas")``), as cyem does, or BLAS's own threads oversubscribe the cores.

* ``scratch`` is caller-owned working memory of ``diag_scratch_size(K, d)`` or
  ``full_scratch_size(K, d)`` doubles, one buffer per thread; the kernels
  allocate nothing.
* Inputs are trusted: finite data, K >= 1, d >= 1, positive precisions (the
  diagonal of U_k), at least one finite log_norm. The Python layer checks this.

This API is versioned with the package; ``tests/test_cython_api.py`` fails when a
signature here changes, so any change is deliberate.
"""

from libc.stdint cimport int64_t

# Doubles of per-thread scratch memory for K components and d features.
cdef Py_ssize_t diag_scratch_size(Py_ssize_t n_components, Py_ssize_t n_features) noexcept nogil
cdef Py_ssize_t full_scratch_size(Py_ssize_t n_components, Py_ssize_t n_features) noexcept nogil

# Add the sufficient statistics of the points X[0:n_samples] to ``stats``
# (IN/OUT, length 2 + K + 2 K d, NOT zeroed by the call):
#   stats[0]                  += sum_i v_i log sum_k w_k g(x'_i; k)   (log-likelihood)
#   stats[1]                  += sum_i v_i                            (total weight)
#   stats[2 + k]              += N_k  = sum_i v_i r_ik
#   stats[2 + K + k d + f]    += S_kf = sum_i v_i r_ik (x'_if - mu_kf)
#   stats[2 + K + K d + k d + f]
#                             += Q_kf = sum_i v_i r_ik (x'_if - mu_kf)^2
# where r_ik = p(k | x_i) and v_i = sample_weight[i] (1 when sample_weight is NULL).
# The summation order is fixed, so a given block gives bitwise identical sums
# on every call and thread.
cdef void accumulate_diag_block_f64(
    const double* X, const double* origin, const double* inv_scale,
    const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec, double* scratch, double* stats) noexcept nogil

# Same for float32 data (the sums are still float64).
cdef void accumulate_diag_block_f32(
    const float* X, const double* origin, const double* inv_scale,
    const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec, double* scratch, double* stats) noexcept nogil

# Per-point outputs for X[0:n_samples]; any output pointer may be NULL:
#   out_log_lik[i]             log sum_k w_k g(x'_i; k)           (length n)
#   out_resp[i * K + k]        p(k | x_i), row-major              (length n * K)
#   out_label[i]               argmax_k p(k | x_i), first wins    (length n)
cdef void evaluate_diag_block_f64(
    const double* X, const double* origin, const double* inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil

cdef void evaluate_diag_block_f32(
    const float* X, const double* origin, const double* inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil

# Add the sufficient statistics of the points X[0:n_samples] to ``stats``
# (IN/OUT, length 2 + K + K d + K d d, NOT zeroed by the call):
#   stats[0], stats[1], stats[2 + k], stats[2 + K + k d + f]
#                             as for the diagonal kernels (L, W, N_k, S_kf)
#   stats[2 + K + K d + (k d + f) d + g]
#                             += Q_kfg = sum_i v_i r_ik (x'_if - mu_kf)(x'_ig - mu_kg)
#                                for f <= g only: the upper triangle, row-major.
#                                Entries with f > g are never written (Q_k is
#                                symmetric: mirror the upper triangle).
# The summation order is fixed, so a given block gives bitwise identical sums
# on every call and thread (with BLAS on one thread, for d > 16).
cdef void accumulate_full_block_f64(
    const double* X, const double* origin, const double* inv_scale,
    const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec_chol, int tied, double* scratch, double* stats) noexcept nogil

# Same for float32 data (the sums are still float64).
cdef void accumulate_full_block_f32(
    const float* X, const double* origin, const double* inv_scale,
    const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec_chol, int tied, double* scratch, double* stats) noexcept nogil

# Per-point outputs for X[0:n_samples], laid out as for evaluate_diag_block_*;
# any output pointer may be NULL.
cdef void evaluate_full_block_f64(
    const double* X, const double* origin, const double* inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec_chol, int tied,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil

cdef void evaluate_full_block_f32(
    const float* X, const double* origin, const double* inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec_chol, int tied,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil
