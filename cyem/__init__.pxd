# cython: language_level=3
"""The public Cython API of cyem: ``from cyem cimport ...``.

This file declares nothing: it re-exports, as ``numpy/random/__init__.pxd``
does, the ``noexcept nogil`` block kernels declared (once each) and documented
in the kernel modules' ``.pxd`` files, where the layout of every input and
output is stated:

* ``cyem/_kernels.pxd``   -- univariate data (one feature);
* ``cyem/_mdkernels.pxd`` -- n_features >= 1, kernel kinds ``diag`` (diagonal
  and spherical covariances) and ``full`` (full and tied covariances).

Every accumulate/evaluate kernel comes in ``_f64`` and ``_f32`` (float64 or
float32 data; the arithmetic and the outputs are float64). At run time the
functions are looked up in the C-API capsules of ``cyem._kernels`` and
``cyem._mdkernels``, which Cython imports automatically.

Cimport from here, not from the kernel modules: which module implements a
kernel is an implementation detail. ``from cyem._kernels cimport ...`` still
works in this release and is deprecated (see docs/cython.rst).
"""

from cyem._kernels cimport (
    scratch_size,
    accumulate_block_f64, accumulate_block_f32,
    evaluate_block_f64, evaluate_block_f32,
)
from cyem._mdkernels cimport (
    diag_scratch_size, full_scratch_size,
    accumulate_diag_block_f64, accumulate_diag_block_f32,
    evaluate_diag_block_f64, evaluate_diag_block_f32,
    accumulate_full_block_f64, accumulate_full_block_f32,
    evaluate_full_block_f64, evaluate_full_block_f32,
)
