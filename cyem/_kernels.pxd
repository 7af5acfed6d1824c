# cython: language_level=3
"""Public Cython API of cyem: the nogil kernels of the univariate EM.

Other Cython code can ``from cyem cimport accumulate_block_f64`` (the package's
``__init__.pxd`` re-exports the declarations of this file, where each is made
once) and call these functions inside its own ``nogil`` (and ``prange``)
blocks. They are exported through this module's C-API capsule, so a consumer
needs no header file, only the ``.pxd`` files (installed with the wheel) and
``import cyem._kernels`` at run time, which Cython performs automatically on
cimport. ``from cyem._kernels cimport ...`` still works in this release and is
deprecated (docs/cython.rst).

Conventions shared by every function below
------------------------------------------
* The kernels work in a frame: every point is seen as
  x' = (x - origin) * inv_scale, and the parameters below are those of the
  mixture of x'. Pass origin = 0, inv_scale = 1 to work in the data's own
  units; cyem itself uses the data's midrange and a power of two near
  1 / half-range, which is exact and keeps squares far from overflow.
* A univariate mixture with ``n_components`` = K components is passed as three
  arrays of K doubles (in the frame):

  - ``means[k]``    mu_k
  - ``prec[k]``     1 / sigma_k (the Cholesky factor of the precision)
  - ``log_norm[k]`` log w_k + log prec[k] - 0.5 log(2 pi)

  so that log(w_k N(x'; mu_k, sigma_k^2)) = log_norm[k] - 0.5 ((x' - mu_k) prec[k])^2.
  ``cyem._kernels.component_arrays`` computes them from weights, means and
  variances. Log-likelihoods are those of x'; with inv_scale != 1 add
  log(inv_scale) per unit of weight to get those of x.
* ``scratch`` is caller-owned working memory of ``scratch_size(K)`` doubles,
  one buffer per thread; the kernels allocate nothing.
* Inputs are trusted: finite data, K >= 1, prec > 0, at least one finite
  log_norm. The Python layer (``cyem.GaussianMixture``, ``cyem.em``) checks this.

This API is versioned with the package; ``tests/test_cython_api.py`` fails when a
signature here changes, so any change is deliberate.
"""

from libc.stdint cimport int64_t

# Number of doubles of scratch memory a kernel call needs for K components.
cdef Py_ssize_t scratch_size(Py_ssize_t n_components) noexcept nogil

# Add the sufficient statistics of points x[0:n_samples] to ``stats``
# (IN/OUT, length 2 + 3K, NOT zeroed by the call):
#   stats[0]          += sum_i v_i log sum_k w_k g(x_i; k)     (log-likelihood)
#   stats[1]          += sum_i v_i                             (total weight)
#   stats[2 + k]      += N_k = sum_i v_i r_ik
#   stats[2 + K + k]  += S_k = sum_i v_i r_ik (x'_i - means[k])
#   stats[2 + 2K + k] += Q_k = sum_i v_i r_ik (x'_i - means[k])^2
# where r_ik = p(k | x_i) and v_i = sample_weight[i] (1 when sample_weight is NULL).
# The summation order is fixed, so a given block gives bitwise identical sums
# on every call and thread.
cdef void accumulate_block_f64(
    const double* x, double origin, double inv_scale,
    const double* sample_weight, Py_ssize_t n_samples,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec, double* scratch, double* stats) noexcept nogil

# Same for float32 data (the sums are still float64).
cdef void accumulate_block_f32(
    const float* x, double origin, double inv_scale,
    const double* sample_weight, Py_ssize_t n_samples,
    Py_ssize_t n_components, const double* means, const double* log_norm,
    const double* prec, double* scratch, double* stats) noexcept nogil

# Per-point outputs for x[0:n_samples]; any output pointer may be NULL:
#   out_log_lik[i]             log sum_k w_k g(x'_i; k)           (length n)
#   out_resp[i * K + k]        p(k | x_i), row-major              (length n * K)
#   out_label[i]               argmax_k p(k | x_i), first wins    (length n)
cdef void evaluate_block_f64(
    const double* x, double origin, double inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil

cdef void evaluate_block_f32(
    const float* x, double origin, double inv_scale,
    Py_ssize_t n_samples, Py_ssize_t n_components,
    const double* means, const double* log_norm, const double* prec,
    double* scratch, double* out_log_lik, double* out_resp,
    int64_t* out_label) noexcept nogil
