"""
Calling cyem's kernels from your own Cython code
================================================

cyem's compiled kernels are a public Cython API: another package can
``cimport`` them and call them inside its own ``nogil`` loops, with no Python
object in sight. This page is shown, not run, because it needs a C compiler;
the repository's ``downstream/`` package is the complete, tested version (see
:doc:`/cython`).

The package needs three pieces. First, ``pyproject.toml``: cyem is needed at
build time (Cython reads its ``.pxd``) and at run time (the functions are
found through cyem's kernel modules when yours is imported).

.. code-block:: toml

    [build-system]
    requires = ["setuptools>=68", "Cython>=3.0", "cyem"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "mypkg"
    version = "0.1.0"
    dependencies = ["cyem", "numpy"]

Second, ``setup.py`` puts :func:`cyem.get_include` on Cython's include path:

.. code-block:: python

    import cyem
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    setup(ext_modules=cythonize(
        [Extension("mypkg._loglik", ["mypkg/_loglik.pyx"])],
        include_path=[cyem.get_include()],
        compiler_directives={"language_level": 3},
    ))

Third, the ``.pyx``. This one computes the log-likelihood of a univariate
mixture at the data x, with one kernel call per block of 2048 points. The
kernel adds its sums into ``stats`` (layout ``[L, W, N_k..., S_k...,
Q_k...]``, documented in ``cyem/_kernels.pxd``); L, the first entry, is the
log-likelihood. With several threads, replace ``range`` by ``prange`` and
give each block its own row of ``stats`` and each thread its own scratch
buffer, as ``downstream/`` does, to get results that do not depend on the
number of threads.

.. code-block:: cython

    # cython: language_level=3, boundscheck=False, wraparound=False
    import numpy as np
    from libc.math cimport M_PI, log, sqrt
    from cyem cimport accumulate_block_f64, scratch_size

    def log_likelihood(const double[::1] x, const double[::1] weights,
                       const double[::1] means, const double[::1] variances):
        cdef Py_ssize_t n = x.shape[0], K = means.shape[0], k, start, stop
        # The kernels' parametrisation of component k (see the .pxd):
        # prec[k] = 1 / sigma_k, log_norm[k] = log w_k + log prec[k] - log(2 pi) / 2
        prec = np.empty(K)
        log_norm = np.empty(K)
        cdef double[::1] prec_v = prec, log_norm_v = log_norm
        for k in range(K):
            prec_v[k] = 1.0 / sqrt(variances[k])
            log_norm_v[k] = log(weights[k]) + log(prec_v[k]) - 0.5 * log(2 * M_PI)
        stats = np.zeros(2 + 3 * K)          # the kernel adds into it
        scratch = np.empty(scratch_size(K))  # working memory; the kernel allocates none
        cdef double[::1] stats_v = stats, scratch_v = scratch
        with nogil:
            for start in range(0, n, 2048):
                stop = min(start + 2048, n)
                # origin 0, inv_scale 1: work in the data's own units;
                # NULL: every sample weight is 1.
                accumulate_block_f64(&x[start], 0.0, 1.0, NULL, stop - start, K,
                                     &means[0], &log_norm_v[0], &prec_v[0],
                                     &scratch_v[0], &stats_v[0])
        return stats[0]

Build it with ``pip install .``; then the result agrees with cyem's own
evaluation of the same mixture:
"""

import numpy as np

import cyem
from mypkg._loglik import log_likelihood

rng = np.random.default_rng(0)
x = np.concatenate([rng.normal(-2, 1, 5000), rng.normal(3, 0.5, 5000)])
gm = cyem.GaussianMixture(2, random_state=0).fit(x)

ours = log_likelihood(x, gm.weights_, gm.means_.ravel(), gm.stds_ ** 2)
np.testing.assert_allclose(ours, gm.score_samples(x).sum(), rtol=1e-10)
print(ours)
