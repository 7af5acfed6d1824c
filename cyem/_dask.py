"""Dask arrays: EM over a cluster with the same kernel pass as in memory.

Optional: needs ``dask[array]`` (and ``distributed`` for a cluster), installed
with ``pip install 'cyem[dask]'``; dask is imported only when a dask array is
actually fitted. We do not schedule anything ourselves: every step is a dask
graph, run by whatever scheduler is active (a ``dask.distributed.Client`` if
one exists, else dask's local threads).

Fit (:func:`dask_models`, then ``cyem._restarts.fit_model``)
---------------------------------------------------------------
1. One pass over the blocks (one task per block, tree-merged): checks
   (finite values, valid weights), per-feature minimum and maximum -- hence
   the same frame (``cyem._frame``) as an in-memory fit of the same data --
   and a uniform random sample of at most ``_scan.INIT_SAMPLE_SIZE`` rows
   (random keys per row, the smallest kept at every merge), gathered to the
   client; also the total weight, from which the one power of two that every
   block's weights are divided by is chosen (as for the whole array in
   memory: blocks keep their weights relative to each other).
2. Initialisation on the client, on that sample: the estimator's
   ``init_params`` strategy (k-means++ seeding and Lloyd iterations for the
   default 'kmeans') in memory. No Lloyd pass runs on the cluster; EM itself
   then uses all the data. ``weights_init``/``means_init``/``precisions_init``
   and ``warm_start`` behave as in ``fit``.
3. Every EM iteration: the parameters are put in the graph once (one small
   task every worker fetches), each block runs the in-memory model's
   ``accumulate`` -- the one kernel pass -- and the statistics vectors are
   added by a binary tree in block order (deterministic whatever the workers'
   timing); the client receives one vector of 2 + K(1 + d + d^2) numbers and
   runs the M step.

Since the statistics merge by addition, the fit equals the in-memory fit
from the same start up to the order of additions (~1e-15 relative).

Kernel threads on the workers: ``n_threads`` of the estimator if set, else
the cores of the worker process divided among its dask threads (distributed's
nanny sets OMP_NUM_THREADS=1 in its workers, giving one), and 1 under dask's
local threaded scheduler, which already runs one task per core. The result
does not depend on it.
"""

import operator
import sys
from functools import partial

import numpy as np

from . import _validation as v
from ._evaluate import evaluate
from ._scan import _sample_size, check_scan, merge_scans, scan_chunk, scan_weight_exponent
from ._sources import _as_kernel_array, _check_chunk_weight
from ._threads import effective_n_threads, usable_cpu_count
from .chunked import FrameModel, models_from_scan

__all__ = ["dask_models", "is_dask_array", "predict", "predict_proba", "score",
           "score_samples"]


def require_dask():
    """(dask, dask.array), or an ImportError that says how to install them."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            "Fitting or evaluating a dask array needs the optional dependency "
            "dask: pip install 'cyem[dask]' (or 'dask[array,distributed]')") from exc
    return dask, da


def is_dask_array(X):
    """Whether X is a ``dask.array.Array`` (without importing dask: if it is
    not imported yet, X cannot be one)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


# ---- input ------------------------------------------------------------------

def as_dask_rows(X, n_features_expected=None, name="X"):
    """X as a dask array of rows: 1-D for univariate data, else (n, d) with
    all columns in one chunk; float32 kept, other real dtypes as float64
    (converted block by block). Values are checked block by block when the
    graph runs."""
    _, da = require_dask()
    if X.ndim == 2 and X.shape[1] == 1:
        X = X[:, 0]
    if X.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D (n_samples, n_features), got a "
                         f"dask array of shape {X.shape}")
    d = 1 if X.ndim == 1 else int(X.shape[1])
    if n_features_expected is not None and d != n_features_expected:
        raise ValueError(f"{name} has {d} feature(s), but the model was fitted with "
                         f"{n_features_expected} feature(s)")
    if X.ndim == 2:
        if d == 0:
            raise ValueError(f"{name} has 0 features (shape {X.shape})")
        X = X.rechunk({1: -1})
    if np.isnan(X.shape[0]):
        raise ValueError(f"{name} has unknown chunk sizes; call "
                         f"{name}.compute_chunk_sizes() first")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one sample is required")
    kind = X.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must contain real numbers, got dtype {X.dtype}")
    is_float32 = kind == "f" and X.dtype.itemsize == 4
    target = np.dtype(np.float32 if is_float32 else np.float64)
    if X.dtype != target:
        X = X.astype(target)
    return X, d


def as_dask_weight(sample_weight, X):
    """sample_weight (None, a scalar, an array or a dask array of n entries)
    as a dask array chunked like X's rows, or None."""
    _, da = require_dask()
    if sample_weight is None or np.isscalar(sample_weight):
        v.check_sample_weight(sample_weight, X.shape[0])      # scalar: > 0, finite
        return None
    if not is_dask_array(sample_weight):
        sample_weight = da.from_array(np.asarray(sample_weight), chunks=-1)
    if sample_weight.shape != (X.shape[0],):
        raise ValueError(f"sample_weight must have shape ({X.shape[0]},) to match X, "
                         f"got shape {sample_weight.shape}")
    return sample_weight.astype(np.float64).rechunk((X.chunks[0],))


def _blocks(X, w):
    """Delayed blocks of X's rows and the matching weight blocks (or None)."""
    x_blocks = list(X.to_delayed().ravel())
    w_blocks = [None] * len(x_blocks) if w is None else list(w.to_delayed().ravel())
    return x_blocks, w_blocks


def _tree(dask, parts, combine):
    """Binary-tree reduction of delayed values, adjacent pairs in order."""
    combine = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        parts = [combine(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _worker_threads(n_threads):
    """Kernel threads for one task (see the module docstring)."""
    if n_threads is not None:
        return effective_n_threads(n_threads)
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return 1
    per_process = getattr(getattr(worker, "state", worker), "nthreads", 1) or 1
    return max(1, usable_cpu_count() // per_process)


# ---- tasks (run on the workers) ------------------------------------------

def _scan_block(x, w, seed, index, size):
    """Validate one block and scan it (``_scan.scan_chunk``); None if empty."""
    if np.shape(x)[0] == 0:
        return None
    x = v.check_data(x, f"block {index} of X")
    w = None if w is None else _check_chunk_weight(w, x.shape[0], index)
    return scan_chunk(x, w, np.random.default_rng([seed, index]), size)


def _block_stats(x, w, job):
    """The kernel pass of one block: the in-memory model's ``accumulate``."""
    model, params, n_threads = job
    x = _as_kernel_array(x)
    w = None if w is None else np.ascontiguousarray(w, dtype=np.float64)
    return model.chunk_model(x, w, _worker_threads(n_threads)).accumulate(params)


def _evaluate_block(x, job, key):
    """``cyem._evaluate.evaluate`` on one block (validated like ``predict``)."""
    fitted, n_threads = job
    x = v.check_data(x, "X", n_features_expected=fitted.n_features)
    return evaluate(fitted, x, _worker_threads(n_threads), **{key: True})[key]


# ---- the model and the fit -----------------------------------------------

class DaskModel(FrameModel):
    """The model interface of ``cyem._model`` over the blocks of a dask array:
    ``accumulate`` is one dask graph (kernel pass per block, tree sum).

    Parameters
    ----------
    x_blocks, w_blocks : lists of dask Delayed
        Blocks of rows and their weights (or Nones), in order.
    frame, n_features, covariance_type, reg_covar, n_threads
        As ``chunked.FrameModel``; ``n_threads`` is the client's count.
    weight_exponent : int
        Every block's weights are divided by 2^weight_exponent
        (``_scan.scan_weight_exponent`` of the scan of all the blocks), so
        that the blocks' statistics are in one unit and add up.
    worker_threads : int or None
        The estimator's ``n_threads`` setting, resolved on each worker.
    """

    def __init__(self, x_blocks, w_blocks, frame, n_features, covariance_type,
                 reg_covar, n_threads, weight_exponent, worker_threads=None):
        super().__init__(frame, n_features, covariance_type, reg_covar, n_threads,
                         weight_exponent)
        self.x_blocks, self.w_blocks = x_blocks, w_blocks
        self.worker_threads = worker_threads
        # What the workers need to build a block's model: no data, no graph.
        self._block_model = FrameModel(frame, n_features, covariance_type, reg_covar, 1,
                                       weight_exponent)

    def accumulate(self, params):
        dask, _ = require_dask()
        # One literal task with the parameters: sent once to each worker,
        # not embedded in every block's task.
        job = dask.delayed((self._block_model, params, self.worker_threads),
                           traverse=False)
        stats = dask.delayed(_block_stats, pure=True)
        parts = [stats(xb, wb, job) for xb, wb in zip(self.x_blocks, self.w_blocks)]
        return np.asarray(_tree(dask, parts, operator.add).compute(), dtype=np.float64)


def dask_models(X, sample_weight, settings, rng, *, worker_threads=None, persist=True,
                init_sample_size=None):
    """(data model, initialisation model) of a dask array for the restart loop
    (``cyem._restarts.fit_model``): the backend of ``GaussianMixture.fit`` for
    dask input (see the module docstring for what runs where).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples,) or (n_samples, n_features)
    sample_weight : dask or NumPy array of shape (n_samples,), optional
    settings : cyem._validation.Settings
    rng : numpy.random.Generator
        Draws the seed of the initialisation sample (then the starts).
    worker_threads : int or None
        The estimator's ``n_threads`` setting, resolved on each worker.
    persist : bool, default True
        Keep X (and the weights) in the workers' memory for the duration of
        the fit (``dask.persist``), so that each EM iteration does not
        recompute or re-read them. Pass False for data larger than the
        cluster's memory: every iteration then re-reads the source.
    init_sample_size : int, optional
        Rows of the initialisation sample (default ``_scan.INIT_SAMPLE_SIZE``).
    """
    dask, _ = require_dask()
    s = settings
    X, d = as_dask_rows(X)
    w = as_dask_weight(sample_weight, X)
    if persist:
        X, w = dask.persist(X, w)
    x_blocks, w_blocks = _blocks(X, w)
    seed = int(rng.integers(0, 2**63))
    size = _sample_size(d, init_sample_size)
    scan_block = dask.delayed(_scan_block, pure=True)
    parts = [scan_block(xb, wb, seed, i, size)
             for i, (xb, wb) in enumerate(zip(x_blocks, w_blocks))]
    scan = _tree(dask, parts, partial(merge_scans, size=size)).compute()
    check_scan(scan)
    model, init_model = models_from_scan(
        scan, s, lambda frame: DaskModel(x_blocks, w_blocks, frame, d,
                                         s.covariance_type, s.reg_covar,
                                         s.n_threads, scan_weight_exponent(scan),
                                         worker_threads))
    # The persisted arrays own the workers' copies of the blocks: keep them
    # alive as long as the model is (its delayed blocks alone do not).
    model.persisted = (X, w)
    return model, init_model


# ---- using a fitted model on dask input ---------------------------------------

def _evaluate(fitted, n_threads, X, key):
    """Lazy evaluation of ``fitted`` (``cyem._evaluate.FittedParams``) on the
    rows of X: one kernel call per block, on the workers."""
    dask, _ = require_dask()
    X, _ = as_dask_rows(X, n_features_expected=fitted.n_features)
    # One literal task with the parameters, fetched once by each worker.
    job = dask.delayed((fitted, n_threads), traverse=False)
    if key == "resp":
        K = fitted.weights.shape[0]
        if X.ndim == 1:
            return X.map_blocks(_evaluate_block, job, key=key, dtype=np.float64,
                                new_axis=1, chunks=(X.chunks[0], (K,)))
        return X.map_blocks(_evaluate_block, job, key=key, dtype=np.float64,
                            chunks=(X.chunks[0], (K,)))
    dtype = np.int64 if key == "labels" else np.float64
    if X.ndim == 1:
        return X.map_blocks(_evaluate_block, job, key=key, dtype=dtype)
    return X.map_blocks(_evaluate_block, job, key=key, dtype=dtype, drop_axis=1)


def score_samples(fitted, n_threads, X):
    """Lazy ``score_samples``: a dask array of shape (n_samples,)."""
    return _evaluate(fitted, n_threads, X, "log_lik")


def predict(fitted, n_threads, X):
    """Lazy ``predict``: a dask array of int64 labels, shape (n_samples,)."""
    return _evaluate(fitted, n_threads, X, "labels")


def predict_proba(fitted, n_threads, X):
    """Lazy ``predict_proba``: a dask array of shape (n_samples, n_components)."""
    return _evaluate(fitted, n_threads, X, "resp")


def score(fitted, n_threads, X, sample_weight=None):
    """Lazy ``score``: a 0-d dask array, the (weighted) mean log-likelihood;
    ``float()`` of it computes it."""
    log_lik = score_samples(fitted, n_threads, X)
    w = as_dask_weight(sample_weight, log_lik)
    if w is None:
        return log_lik.mean()
    return (log_lik * w).sum() / w.sum()
