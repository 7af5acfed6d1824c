"""Data that arrive in pieces: chunked sources, memory-mapped files and streams.

Everything here is built on the one kernel pass of ``cyem._model``
(``model.accumulate``), whose statistics [L, W, N_k, S_k, Q_k] merge by
addition across slices (DESIGN.md, section 1):

:class:`ChunkedModel`
    The model interface of ``cyem._model`` over a re-iterable source of chunks.
    Its ``accumulate`` runs the ordinary in-memory model's pass on every chunk
    and adds the statistics, so ``run_em(ChunkedModel(...), ...)`` is exact
    multi-pass EM: from the same start it reproduces the in-memory fit up to
    the order of the final additions (relative differences ~1e-15).
:func:`fit_chunks`
    ``GaussianMixture.fit`` for such a source (a callable returning an
    iterator of arrays, a list of arrays, or an array / ``np.memmap`` /
    h5py- or zarr-like dataset read in slices of rows).
:func:`partial_fit`
    Online (stepwise) EM for a stream, one chunk per call (Cappe and
    Moulines, 2009).

Memory
------
A source is read one chunk at a time: the memory in use is one chunk (plus a
copy of it only when its dtype is not float32/float64 or its rows are not
contiguous), the initialisation sample (:data:`INIT_SAMPLE_SIZE` rows) and
O(K d^2) statistics. An ``np.memmap`` (also what ``np.load(path,
mmap_mode='r')`` returns) is read through a fresh mapping of each chunk's
bytes that is unmapped after the chunk, so that even the resident size of the
process stays near one chunk instead of growing to the file's size.

Frame
-----
Parameters live in the frame of ``cyem._frame``, computed from the per-feature
minimum and maximum of all the data in one pass before EM; that pass also
validates every chunk and draws the initialisation sample. The frame is
therefore the one an in-memory fit of the same data would use. A stream
(:func:`partial_fit`) fixes its frame from its first chunk and keeps it.

Sample weights
--------------
The kernels see the weights divided by a power of two (exact) when their mean
is far from 1 (``cyem._model.weight_exponent``). A batch fit chooses that
power ONCE, from the mean of all the weights found by the frame pass, and
divides every chunk's weights by it, so that the chunks' statistics stay in
one unit and add up to the in-memory fit's. :func:`partial_fit` divides each
chunk's statistics by the chunk's total weight and weighs the chunk against
the others by that total (see its docstring).

Initialisation (:func:`fit_chunks`)
-----------------------------------
The estimator's ``init_params`` strategy runs, in memory, on a uniform random
sample of at most :data:`INIT_SAMPLE_SIZE` rows drawn from the whole source
during the frame pass (reservoir sampling with random keys), not on the first
chunk: a source sorted or grouped by value would otherwise start badly.
``weights_init`` / ``means_init`` / ``precisions_init`` and ``warm_start``
behave as in ``fit``; when all three initial values are given no sample is
used at all, and the fit equals the in-memory fit from that start.
"""

import mmap
import warnings
from dataclasses import dataclass, replace

import numpy as np

from . import _kernels
from . import _params as uni
from . import _params_md as md
from . import _validation as v
from ._em import EMRun, run_em, warn_degenerate
from ._frame import Frame
from ._init import start_strategies
from ._model import make_model, weight_exponent
from .exceptions import ConvergenceWarning, external_stacklevel

__all__ = ["ChunkedModel", "fit_chunks", "partial_fit", "DEFAULT_ALPHA", "DEFAULT_T0"]

#: Rows of the uniform sample the initialisation runs on (fewer for wide data,
#: see ``_sample_size``). k-means++ seeds on 20,000 of them; Lloyd and the
#: 'quantile' and 'random' strategies use them all.
INIT_SAMPLE_SIZE = 100_000
_SAMPLE_BYTES = 64 << 20

#: Default bytes per chunk of an array source: large enough to hand every
#: thread many kernel blocks, small enough to keep the resident set modest.
CHUNK_BYTES = 16 << 20

#: Online EM step sizes gamma_t = (t + t0)^-alpha (see ``partial_fit``).
DEFAULT_ALPHA = 0.6
DEFAULT_T0 = 2.0

#: Per-chunk log-likelihoods kept in ``lower_bounds_`` by ``partial_fit``.
ONLINE_HISTORY = 1000


# ============================================================================
# Sources of chunks
# ============================================================================

def default_chunk_size(n_features, itemsize):
    """Rows per chunk of an array source: about ``CHUNK_BYTES``, rounded down to
    a multiple of the univariate kernel's block size (so that a chunked pass
    sums exactly the blocks an in-memory pass sums, only grouped differently)."""
    rows = CHUNK_BYTES // max(1, n_features * itemsize)
    return max(_kernels.BLOCK_SIZE, rows // _kernels.BLOCK_SIZE * _kernels.BLOCK_SIZE)


def _round_chunk_size(chunk_size):
    chunk_size = v.check_int(chunk_size, "chunk_size", 1)
    block = _kernels.BLOCK_SIZE
    return max(block, chunk_size // block * block)


def _is_reiterable(obj):
    try:
        return iter(obj) is not obj
    except TypeError:
        return False


def _is_array_like(obj):
    return hasattr(obj, "shape") and hasattr(obj, "__getitem__") and hasattr(obj, "ndim")


class ArraySource:
    """Row slices of an array-like X (ndarray, ``np.memmap``, an h5py or zarr
    dataset, ...) and of its sample weights.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        Sliced along its first axis; never read whole.
    sample_weight : array-like of shape (n_samples,) or None
    chunk_size : int or None
        Rows per chunk, rounded down to a multiple of ``_kernels.BLOCK_SIZE``
        (at least one block). None: about ``CHUNK_BYTES`` per chunk.
    """

    def __init__(self, X, sample_weight=None, chunk_size=None):
        if X.ndim not in (1, 2):
            raise ValueError(f"X must be 1-D or 2-D, got shape {X.shape}")
        self.X = X
        self.n_samples = int(X.shape[0])
        width = 1 if X.ndim == 1 else int(X.shape[1])
        itemsize = getattr(getattr(X, "dtype", None), "itemsize", 8)
        self.chunk_size = default_chunk_size(width, itemsize) if chunk_size is None \
            else _round_chunk_size(chunk_size)
        if sample_weight is not None and not _is_array_like(sample_weight):
            sample_weight = np.asarray(sample_weight)
        if sample_weight is not None and tuple(sample_weight.shape) != (self.n_samples,):
            raise ValueError(f"sample_weight must have shape ({self.n_samples},) to "
                             f"match X, got shape {tuple(sample_weight.shape)}")
        self.sample_weight = sample_weight
        self._mapping = _file_mapping(X)

    def __iter__(self):
        for start in range(0, self.n_samples, self.chunk_size):
            stop = min(start + self.chunk_size, self.n_samples)
            w = None if self.sample_weight is None else self.sample_weight[start:stop]
            yield self._rows(start, stop), w

    def _rows(self, start, stop):
        if self._mapping is None:
            return self.X[start:stop]
        filename, offset, dtype, row_shape, row_bytes = self._mapping
        # A mapping of this chunk's bytes only; it is unmapped when the chunk
        # is dropped, so resident memory does not grow with the file.
        return np.memmap(filename, dtype=dtype, mode="r", offset=offset + start * row_bytes,
                         shape=(stop - start,) + row_shape)


def _file_mapping(X):
    """(filename, offset, dtype, row shape, row bytes) when X is a whole,
    C-ordered ``np.memmap`` whose file holds its current values (so that
    re-mapping a chunk of the file reads the same numbers); else None.

    Copy-on-write maps (mode 'c') may hold changes the file does not; slices
    of a memmap keep the offset of their parent; both are sliced instead.
    """
    if not (isinstance(X, np.memmap) and isinstance(X.base, mmap.mmap)
            and X.filename is not None and X.mode in ("r", "r+", "w+")
            and X.flags.c_contiguous and X.shape[0] > 0):
        return None
    row_shape = tuple(X.shape[1:])
    return (X.filename, int(X.offset), X.dtype, row_shape,
            int(X.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))))


class IterableSource:
    """Chunks from a callable returning a fresh iterator each time (or from a
    re-iterable such as a list), with sample weights given the same way or as
    one array sliced along the chunks."""

    def __init__(self, factory, sample_weight=None):
        self._factory = factory
        self.sample_weight = sample_weight

    def _open(self, source):
        chunks = source() if callable(source) else source
        if not _is_reiterable(source) and not callable(source):
            raise TypeError("chunk source must be re-iterable")
        return iter(chunks)

    def __iter__(self):
        chunks = self._open(self._factory)
        weights = self.sample_weight
        if weights is None:
            for x in chunks:
                yield x, None
            return
        if _is_array_like(weights):          # one array, sliced along the chunks
            offset = 0
            for x in chunks:
                n = np.shape(x)[0]
                if offset + n > weights.shape[0]:
                    raise ValueError("sample_weight has fewer entries than the "
                                     "chunks have rows")
                yield x, weights[offset:offset + n]
                offset += n
            if offset != weights.shape[0]:
                raise ValueError(f"sample_weight has {weights.shape[0]} entries but "
                                 f"the chunks have {offset} rows")
            return
        weight_chunks = self._open(weights)
        for x in chunks:
            try:
                w = next(weight_chunks)
            except StopIteration:
                raise ValueError("sample_weight source ended before the chunk "
                                 "source") from None
            yield x, w
        if next(weight_chunks, None) is not None:
            raise ValueError("sample_weight source has more chunks than the chunk source")


def as_source(source, sample_weight=None, chunk_size=None):
    """An ``ArraySource`` or ``IterableSource`` for what the user passed.

    Parameters
    ----------
    source : array-like, callable or re-iterable
        An array (ndarray, ``np.memmap``, h5py/zarr dataset: anything with
        ``shape``, ``ndim`` and row slicing) is read in slices of
        ``chunk_size`` rows. A callable must return a new iterator over the
        chunks at every call (EM reads the data once per iteration), e.g.
        ``lambda: read_blocks(path)``; a list or tuple of arrays works too.
        A generator or any other one-shot iterator is refused: it cannot be
        read twice.
    sample_weight : same kinds, or one array for all rows, or None
    chunk_size : int or None
        Rows per chunk of an array source (ignored otherwise).
    """
    if _is_array_like(source) and not callable(source):
        if sample_weight is not None and callable(sample_weight):
            raise TypeError("sample_weight of an array source must be an array")
        return ArraySource(source, sample_weight, chunk_size)
    if callable(source) or _is_reiterable(source):
        if sample_weight is not None and not (callable(sample_weight)
                                              or _is_array_like(sample_weight)
                                              or _is_reiterable(sample_weight)):
            raise TypeError("sample_weight must be None, an array, a callable "
                            "returning an iterator, or a re-iterable of arrays")
        return IterableSource(source, sample_weight)
    if hasattr(source, "__next__"):
        raise TypeError(
            "source is a one-shot iterator (e.g. a generator), but EM reads the data "
            "once per iteration: pass a callable that returns a fresh iterator, "
            "e.g. fit_chunks(model, lambda: read_chunks(path)), or feed the "
            "chunks to partial_fit for online EM")
    raise TypeError("source must be an array, a callable returning an iterator of "
                    f"arrays, or a re-iterable of arrays; got {type(source).__name__}")


def prepared_chunks(source, validate, n_features=None):
    """(index, x, w) for every non-empty chunk, ready for the kernels.

    With ``validate`` every chunk goes through the estimator's checks (finite
    numbers, a consistent width, valid weights); without, only the dtype and
    layout conversion (the frame pass validated the same chunks already).
    """
    for index, (raw_x, raw_w) in enumerate(source):
        if np.shape(raw_x)[0] == 0:
            continue
        if validate:
            x = v.check_data(raw_x, f"chunk {index} of X", n_features_expected=n_features)
            w = None if raw_w is None else _check_chunk_weight(raw_w, x.shape[0], index)
            width = 1 if x.ndim == 1 else x.shape[1]
            if n_features is None:
                n_features = width
        else:
            x = _as_kernel_array(raw_x)
            w = None if raw_w is None else np.ascontiguousarray(raw_w, dtype=np.float64)
        yield index, x, w


def _as_kernel_array(raw):
    """The dtype/layout part of ``check_data`` (no copy for float32/float64
    C-contiguous chunks)."""
    arr = np.asarray(raw)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    is_float32 = arr.dtype.kind == "f" and arr.dtype.itemsize == 4
    dtype = np.dtype(np.float32 if is_float32 else np.float64).newbyteorder("=")
    return np.ascontiguousarray(arr, dtype=dtype)


def _check_chunk_weight(raw_w, n_rows, index):
    name = f"sample_weight of chunk {index}"
    w = v._as_numeric_array(raw_w, name)
    if w.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},) to match its chunk, "
                         f"got shape {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.dtype(np.float64).newbyteorder("="))
    v._check_finite(w, name)
    if w.min() < 0:
        raise ValueError(f"{name} contains negative values")
    return w


# ============================================================================
# The frame pass: extremes, checks and the initialisation sample
# ============================================================================

def _sample_size(n_features, init_sample_size=None):
    if init_sample_size is not None:
        return v.check_int(init_sample_size, "init_sample_size", 1)
    return max(20_000, min(INIT_SAMPLE_SIZE, _SAMPLE_BYTES // (8 * n_features)))


@dataclass
class Scan:
    """What one pass over (part of) the data learns: size, per-feature
    extremes, total weight and a uniform random sample of rows.

    The sample is reservoir sampling with random keys: every row gets an
    independent uniform key and the ``size`` rows with the smallest keys form
    the sample. Scans of disjoint parts merge (``merge_scans``) into the scan
    of their union, so chunks can be scanned in sequence or in parallel.
    """

    n_samples: int
    n_features: int
    lo: np.ndarray                  # (d,) float64
    hi: np.ndarray                  # (d,) float64
    total_weight: float
    keys: np.ndarray                # (m,) sorted
    sample_x: np.ndarray            # (m,) or (m, d)
    sample_w: object                # (m,) or None

    @property
    def threshold(self):
        """Keys at or above this cannot enter a full reservoir."""
        return float(self.keys[-1]) if self.keys.size else 1.0

    def frame(self, reg_covar=0.0):
        """The frame of the scanned data (``Frame.from_summary``): the
        extremes, and the uniform sample for the median and the bulk's spread."""
        return Frame.from_summary(self.lo, self.hi, self.sample_x, reg_covar=reg_covar)


def _random_subset(rng, n, k):
    """A uniform random k-subset of range(n), sorted, in O(k) memory when
    k <= n / 2 (NumPy's ``choice(replace=False)`` permutes all n for large k)."""
    if 2 * k > n:
        return np.sort(rng.permutation(n)[:k])
    chosen = np.unique(rng.integers(0, n, size=k + k // 8 + 16))
    while chosen.size < k:
        chosen = np.union1d(chosen, rng.integers(0, n, size=k - chosen.size + 16))
    # The distinct values of i.i.d. draws are a uniform random set given their
    # number, and so is a random k-subset of them.
    return np.sort(rng.choice(chosen, size=k, replace=False))


def _draw_sample(rng, n, size, threshold):
    """Rows and keys of the sample part of a chunk of n rows.

    Conceptually every row gets a key ~ U(0, 1) and the rows with the ``size``
    smallest keys below ``threshold`` are kept. Drawn directly, in O(size)
    memory: the number of keys below the threshold is Binomial(n, threshold);
    the kept rows are a uniform random subset; and the ``keep`` smallest of
    ``count`` uniforms on [0, t) are t * B, B ~ Beta(keep, count - keep + 1)
    for the largest, the others uniform below it.
    """
    count = n if threshold >= 1.0 else int(rng.binomial(n, threshold))
    keep = min(count, size)
    rows = _random_subset(rng, n, keep)
    if keep < count:
        top = threshold * rng.beta(keep, count - keep + 1)
        keys = rng.permutation(np.append(rng.random(keep - 1) * top, top))
    else:
        keys = rng.random(keep) * threshold
    order = np.argsort(keys, kind="stable")
    return rows[order], keys[order]


def scan_chunk(x, w, rng, size, threshold=1.0):
    """Scan of one validated chunk.

    Parameters
    ----------
    x : ndarray of shape (n,) or (n, d)
    w : ndarray of shape (n,) or None
    rng : numpy.random.Generator
    size : int
        Sample size m.
    threshold : float
        The largest key of a full reservoir the chunk's sample will be merged
        into (1.0 if it is not full): rows with larger keys could not enter it
        and are not drawn. Memory and random numbers are O(size), not O(n).
    """
    n = x.shape[0]
    x2 = x.reshape(n, -1)
    rows, keys = _draw_sample(rng, n, size, threshold)
    with np.errstate(over="ignore"):
        total = float(n if w is None else w.sum())
    return Scan(n, x2.shape[1], x2.min(axis=0).astype(np.float64),
                x2.max(axis=0).astype(np.float64), total, keys, x[rows],
                None if w is None else w[rows])


def _take_merged(first, second, order):
    """rows ``order`` of the concatenation of first and second, without
    building the concatenation."""
    if first is None:
        return None
    n_first = first.shape[0]
    out = np.empty((order.shape[0],) + first.shape[1:],
                   dtype=np.result_type(first, second))
    from_first = order < n_first
    out[from_first] = first[order[from_first]]
    out[~from_first] = second[order[~from_first] - n_first]
    return out


def merge_scans(a, b, size):
    """Scan of the union of two disjoint parts (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    if a.n_features != b.n_features:
        raise ValueError(f"chunks have different numbers of features "
                         f"({a.n_features} and {b.n_features})")
    if (a.sample_w is None) != (b.sample_w is None):
        raise ValueError("sample_weight must be given for every chunk or for none")
    keys = np.concatenate([a.keys, b.keys])
    order = np.argsort(keys, kind="stable")[:size]
    return Scan(a.n_samples + b.n_samples, a.n_features, np.minimum(a.lo, b.lo),
                np.maximum(a.hi, b.hi), a.total_weight + b.total_weight, keys[order],
                _take_merged(a.sample_x, b.sample_x, order),
                _take_merged(a.sample_w, b.sample_w, order))


def scan_source(source, seed, init_sample_size=None):
    """Validate every chunk of ``source`` and scan it (one pass)."""
    scan = None
    size = None
    for index, x, w in prepared_chunks(source, validate=True):
        if size is None:
            size = _sample_size(1 if x.ndim == 1 else x.shape[1], init_sample_size)
        rng = np.random.default_rng([seed, index])
        threshold = scan.threshold if scan is not None and scan.keys.size >= size else 1.0
        scan = merge_scans(scan, scan_chunk(x, w, rng, size, threshold), size)
    check_scan(scan)
    return scan


def check_scan(scan):
    """Checks that need all the data: something to fit, and a finite total weight."""
    if scan is None:
        raise ValueError("the chunk source is empty: at least one sample is required")
    if not np.isfinite(scan.total_weight):
        raise ValueError("sample_weight sums to infinity in float64; divide it by a "
                         "constant (the fitted parameters do not depend on its scale)")
    if not scan.total_weight > 0:
        raise ValueError("sample_weight is zero everywhere: nothing to fit")


def scan_weight_exponent(scan):
    """The power of two by which EVERY chunk's sample weights are divided
    (``cyem._model.weight_exponent`` of the mean of all the weights, as in an
    in-memory fit of the same data): one factor for the whole fit, so that the
    chunks keep their weights relative to each other."""
    if scan.sample_w is None:
        return 0
    return weight_exponent(scan.total_weight / scan.n_samples)


# ============================================================================
# Models over data that are not one in-memory array
# ============================================================================

class FrameModel:
    """A model without data: the frame, settings, M step and unit conversions
    of ``cyem._model`` for data of ``n_features`` features. Subclasses supply
    ``accumulate``; :meth:`chunk_model` gives the in-memory model of one chunk
    in this frame, whose ``accumulate`` is the one kernel pass.

    ``weight_exponent`` (see ``cyem._model.weight_exponent``) is the one power
    of two by which every chunk's sample weights are divided, so that the
    chunks' statistics stay in one unit and add up: a batch fit passes the
    exponent of all the data (:func:`scan_weight_exponent`). None lets each
    chunk use its own, which only a caller that never adds statistics of
    different chunks may do (online EM divides every chunk's by its weight).
    """

    def __init__(self, frame, n_features, covariance_type, reg_covar, n_threads,
                 weight_exponent=None):
        self.frame = frame
        self.n_features = n_features
        self.covariance_type = covariance_type
        self.n_threads = n_threads
        self.weight_exponent = weight_exponent
        self._reg_covar_data = reg_covar          # in the data's units
        empty = np.zeros(1) if n_features == 1 else np.zeros((1, n_features))
        # The M step and the conversions only need the frame and the settings:
        # a model over one dummy row provides them (single source of truth).
        self._template = make_model(empty, None, covariance_type, reg_covar,
                                    n_threads, frame)
        self.reg_covar = self._template.reg_covar   # in the frame
        if n_features == 1:
            self.tied = self._template.tied
            self.variance_floor = self._template.variance_floor

    def chunk_model(self, x, sample_weight, n_threads=None):
        """In-memory model of one chunk (kernel-ready arrays) in this frame."""
        return make_model(x, sample_weight, self.covariance_type, self._reg_covar_data,
                          self.n_threads if n_threads is None else n_threads, self.frame,
                          weight_exponent=self.weight_exponent)

    def m_step(self, stats, params):
        return self._template.m_step(stats, params)

    def log_lik_shift(self):
        return self._template.log_lik_shift()

    def to_data_units(self, params):
        return self._template.to_data_units(params)

    def from_data_units(self, *args, **kwargs):
        return self._template.from_data_units(*args, **kwargs)

    def hold_fixed(self, **fixed):
        self._template.hold_fixed(**fixed)

    def apply_fixed(self, params):
        return self._template.apply_fixed(params)


class ChunkedModel(FrameModel):
    """The model interface of ``cyem._model`` over a re-iterable chunk source.

    ``accumulate`` walks the source once, runs the in-memory model's kernel
    pass on every chunk and adds the statistics, which is exact because they
    are sums (DESIGN.md, section 1). ``run_em`` on this model is therefore
    exact multi-pass EM, one pass over the source per iteration.

    Parameters
    ----------
    source : ArraySource or IterableSource (see ``as_source``)
    frame : Frame
        Usually ``scan_source(source, ...).frame()``.
    n_features : int
    covariance_type : str
    reg_covar : float
        In the data's units.
    n_threads : int
    weight_exponent : int
        Every chunk's weights are divided by 2^weight_exponent
        (:func:`scan_weight_exponent` of the source's scan).
    """

    def __init__(self, source, frame, n_features, covariance_type, reg_covar, n_threads,
                 weight_exponent):
        super().__init__(frame, n_features, covariance_type, reg_covar, n_threads,
                         weight_exponent)
        self.source = source

    def accumulate(self, params):
        total = None
        for _, x, w in prepared_chunks(self.source, validate=False):
            width = 1 if x.ndim == 1 else x.shape[1]
            if width != self.n_features:
                raise ValueError(f"the chunk source changed between passes: a chunk "
                                 f"has {width} feature(s), expected {self.n_features}")
            stats = self.chunk_model(x, w).accumulate(params)
            if total is None:
                total = stats
            else:
                total += stats
            del x, w, stats          # unmap a memory-mapped chunk before the next
        if total is None:
            raise ValueError("the chunk source is empty on a later pass; a callable "
                             "source must return a new iterator at every call")
        return total


# ============================================================================
# Fitting an estimator from a model
# ============================================================================

def fit_model(estimator, model, init_model, settings, rng):
    """The estimator's EM runs (``n_init`` restarts or a warm start) on
    ``model``; sets its fitted attributes as ``GaussianMixture.fit`` does.

    ``init_model`` is an in-memory model in the same frame (here: over the
    initialisation sample; for an in-memory fit, ``model`` itself) that the
    ``init_params`` strategy runs on. Its warnings point at the user's line
    (``external_stacklevel``), whichever public method called it.
    """
    from .mixture import _single_threaded_blas

    s = settings
    K, ctype, d = s["n_components"], s["covariance_type"], model.n_features
    user = estimator._user_initial_values(K, d, ctype)
    warm = s["warm_start"] and hasattr(estimator, "converged_")
    if warm and (estimator.means_.shape[0] != K or estimator.n_features_in_ != d):
        raise ValueError(
            f"warm_start: the data ({d} features) and n_components={K} must "
            f"match the fitted model ({estimator.n_features_in_} features, "
            f"{estimator.means_.shape[0]} components)")
    strategies = [s["init_params"]] if warm else start_strategies(
        s["init_params"], s["n_init"], all(u is not None for u in user))
    if estimator.fixed is not None:
        held = estimator._validated_fixed(K, d, ctype)
        for m in {id(model): model, id(init_model): init_model}.values():
            m.hold_fixed(**held)
    best = None
    with _single_threaded_blas(ctype, d):
        for init, strategy in enumerate(strategies):
            start = estimator._fitted_params(model) if warm else \
                estimator._start(init_model, K, strategy, rng, user)
            run = run_em(model, start, tol=s["tol"], max_iter=s["max_iter"],
                         verbose=s["verbose"], verbose_interval=s["verbose_interval"])
            if s["verbose"]:
                status = "converged" if run.converged else "did not converge"
                print(f"Initialization {init}: {status}, lower bound "
                      f"{run.lower_bound:.10g}")
            if best is None or run.lower_bound > best.lower_bound:
                best = run
    warn_degenerate(best.report)
    if not best.converged:
        warnings.warn(
            "Best performing initialization did not converge. Try different "
            "init parameters, or increase max_iter, tol, or check for "
            "degenerate data.", ConvergenceWarning, stacklevel=external_stacklevel())
    estimator._set_fitted(model, best, ctype)
    estimator.__dict__.pop("_online", None)       # a new fit ends any stream
    return estimator


def models_from_scan(scan, settings, make_data_model):
    """(data model, initialisation model) for scanned data: checks the
    number of components against the sample and warns for constant data."""
    s = settings
    K = v.check_n_components(s["n_components"], scan.sample_x, scan.sample_w)
    if K == 1 and np.array_equal(scan.lo, scan.hi):
        warnings.warn("X has a single distinct value: the fitted variance is "
                      "reg_covar (or a tiny floor if reg_covar is 0)",
                      UserWarning, stacklevel=external_stacklevel())
    v.warn_if_reg_covar_dominates(scan.sample_x, s["reg_covar"])
    frame = scan.frame(s["reg_covar"])
    init_model = make_model(scan.sample_x, scan.sample_w, s["covariance_type"],
                            s["reg_covar"], s["n_threads"], frame)
    return make_data_model(frame), init_model


def require_nothing_fixed(estimator, method):
    """Online EM (partial_fit) has its own M step on running moments and does
    not hold parameters fixed; every batch fit path does (``fit_model``)."""
    if getattr(estimator, "fixed", None) is not None:
        raise ValueError(f"fixed parameters are not supported by {method}; use fit, "
                         "fit_chunks or a dask array, or set fixed=None")


def fit_chunks(estimator, source, sample_weight_source=None, *, chunk_size=None,
               init_sample_size=None):
    """Fit ``estimator`` (a ``cyem.GaussianMixture``) by exact multi-pass EM
    over a source of chunks; the backend of ``GaussianMixture.fit_chunks``.

    One pass validates the chunks and computes the frame and the
    initialisation sample; then every EM iteration is one pass over the
    source. The estimator's settings (``n_components``, ``covariance_type``,
    ``tol``, ``max_iter``, ``n_init``, ``init_params``, the ``*_init`` values,
    ``warm_start``, ``n_threads``, ...) apply as in ``fit``.

    Parameters
    ----------
    estimator : cyem.GaussianMixture
    source : array-like, callable or re-iterable
        See :func:`as_source`: an array or ``np.memmap`` read in slices of
        ``chunk_size`` rows, or a callable returning a fresh iterator of
        arrays of shape (n_i,) or (n_i, d) at every call.
    sample_weight_source : optional
        Non-negative weights: one array of n_samples entries, or chunks given
        like ``source`` (one array per chunk, in the same order).
    chunk_size : int, optional
        Rows per chunk of an array source, rounded down to a multiple of
        ``cyem._kernels.BLOCK_SIZE``; default about 16 MiB of data.
    init_sample_size : int, optional
        Rows of the initialisation sample (default ``INIT_SAMPLE_SIZE``).

    Returns
    -------
    estimator
        Fitted, with the attributes ``fit`` sets.
    """
    from .mixture import _check_random_state

    s = estimator._validated_settings()
    src = as_source(source, sample_weight_source, chunk_size)
    rng = _check_random_state(estimator.random_state)
    seed = int(rng.integers(0, 2**63))
    scan = scan_source(src, seed, init_sample_size)
    model, init_model = models_from_scan(
        scan, s, lambda frame: ChunkedModel(src, frame, scan.n_features,
                                            s["covariance_type"], s["reg_covar"],
                                            s["n_threads"], scan_weight_exponent(scan)))
    return fit_model(estimator, model, init_model, s, rng)


# ============================================================================
# Online (stepwise) EM
# ============================================================================

@dataclass
class Moments:
    """Sufficient statistics per unit of sample weight, each component's
    around its own mean, in the frame: the common reference in which the
    statistics of chunks computed with different parameters can be averaged.

    counts (K,)             sum_i v_i r_ik / W
    means (K, d)            sum_i v_i r_ik x_i / sum_i v_i r_ik
    scatter (K, d, d)       sum_i v_i r_ik (x_i - m_k)(x_i - m_k)^T / W
            or (K, d)       its diagonal (univariate, diag, spherical)
    log_lik                 sum_i v_i log p(x_i) / W

    The kernels' sums S_k, Q_k are shifted by the means mu_k of the parameters
    they were computed with, which change from chunk to chunk; averaging them
    needs a common reference. Raw moments around the frame origin would be
    one (sum r x', sum r x'^2 are well scaled since |x'| <= ~1), but going
    back to central moments would then subtract nearly equal numbers for a
    narrow component far from the origin. Centred moments merge exactly and
    without that cancellation (Chan, Golub and LeVeque's pairwise update, see
    :func:`blend`), so they are what the stream keeps.
    """

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    log_lik: float


def _split_kernel_stats(stats, params):
    """(L, W, N (K,), S (K, d), Q (K, d) or (K, d, d), centres (K, d))."""
    K = params.weights.shape[0]
    if isinstance(params, uni.MixtureParams):
        L, W, N, S, Q = uni.split_stats(stats, K)
        return L, W, N, S[:, None], Q[:, None], params.means[:, None]
    d = params.means.shape[1]
    L, W, N, S, Q = md.split_stats(stats, K, d, params.kind)
    return L, W, N, S, Q, params.means


def moments_from_stats(stats, params):
    """The kernels' statistics of ``params`` (shifted by ``params.means``) as
    per-unit-weight centred :class:`Moments` (float64).

    m_k = mu_k + S_k / N_k and C_k = Q_k - S_k S_k^T / N_k: the same shifted
    algebra as the M step, so nothing cancels. A component with N_k = 0 gets
    m_k = mu_k and C_k = 0.
    """
    L, W, N, S, Q, centres = _split_kernel_stats(stats, params)
    safe = np.where(N > 0, N, 1.0)
    shift = S / safe[:, None]
    if Q.ndim == 3:
        scatter = Q - S[:, :, None] * shift[:, None, :]
        scatter = 0.5 * (scatter + np.transpose(scatter, (0, 2, 1)))
    else:
        scatter = Q - S * shift
    return Moments(N / W, centres + shift, scatter / W, float(L / W))


def blend(old, new, gamma):
    """(1 - gamma) old + gamma new, as moments (exact, no cancellation).

    With A_k = (1 - gamma) n_k^old, B_k = gamma n_k^new and n_k = A_k + B_k:
    m_k = m_k^old + (B_k / n_k)(m_k^new - m_k^old) and
    C_k = (1 - gamma) C_k^old + gamma C_k^new + (A_k B_k / n_k) delta delta^T,
    delta = m_k^new - m_k^old, which is the centred form of averaging the raw
    moments n, n m, C + n m m^T.
    """
    A = (1.0 - gamma) * old.counts
    B = gamma * new.counts
    n = A + B
    safe = np.where(n > 0, n, 1.0)
    delta = new.means - old.means
    means = old.means + (B / safe)[:, None] * delta
    coef = A * B / safe
    if old.scatter.ndim == 3:
        cross = coef[:, None, None] * delta[:, :, None] * delta[:, None, :]
    else:
        cross = coef[:, None] * delta * delta
    scatter = (1.0 - gamma) * old.scatter + gamma * new.scatter + cross
    return Moments(n, means, scatter, (1.0 - gamma) * old.log_lik + gamma * new.log_lik)


def stats_from_moments(moments, params):
    """(stats, centred params) such that ``model.m_step(stats, centred)`` is
    the M step of ``moments``: the statistics are expressed around the
    moments' own means (S = 0, Q = scatter) and ``centred`` is ``params`` with
    those means (the M step's shifts; for an empty component they are the
    component's current mean, which it then keeps)."""
    m = moments
    header = [m.log_lik, float(m.counts.sum())]
    K = m.counts.shape[0]
    if isinstance(params, uni.MixtureParams):
        stats = np.concatenate([header, m.counts, np.zeros(K), m.scatter[:, 0]])
        return stats, uni.MixtureParams(params.weights, m.means[:, 0].copy(),
                                        params.variances)
    stats = np.concatenate([header, m.counts, np.zeros(m.means.size), m.scatter.ravel()])
    return stats, replace(params, means=m.means.copy())


def step_size(t, alpha=DEFAULT_ALPHA, t0=DEFAULT_T0):
    """gamma_t = (t + t0)^-alpha, the step of the t-th chunk after the first
    when every chunk carries the same total weight."""
    return float((t + t0) ** -alpha)


def weighted_step(gamma, relative_weight):
    """The step of a chunk whose total weight is ``relative_weight`` (r) times
    the mean total weight of the chunks before it:
    r gamma / (1 + (r - 1) gamma) = gamma / (gamma + (1 - gamma) / r).

    The old statistics keep their share (1 - gamma) and the chunk gets gamma
    per mean chunk's worth of weight, renormalised: gamma for r = 1; about
    r gamma when r gamma is small (the weighted stochastic-approximation
    step); 1 as r -> infinity and 0 as r -> 0. With gamma_t = 1 / (t + 1)
    (alpha = 1, t0 = 1) it is W_t / (W_0 + ... + W_t): the running average
    of the chunks' statistics weighted by their total weights.
    """
    if relative_weight == 1.0 or gamma == 1.0:
        return gamma
    with np.errstate(divide="ignore", over="ignore"):
        return float(gamma / (gamma + (1.0 - gamma) / np.float64(relative_weight)))


class OnlineEM:
    """State of a stream fitted by :func:`partial_fit` (stored on the
    estimator as ``_online``)."""

    def __init__(self, model, params, settings):
        self.model = model                  # FrameModel: frame, M step, units
        self.params = params
        self.moments = None
        self.n_chunks = 0
        self.mean_chunk_weight = 0.0        # in the user's units
        self.history = []
        self.settings = (settings["n_components"], settings["covariance_type"],
                         settings["reg_covar"])
        self.fitted_means = None

    def owns(self, estimator, settings):
        """Whether the estimator's fitted state is still this stream's (a
        ``fit`` in between, or changed settings, start a new stream)."""
        same = self.settings == (settings["n_components"], settings["covariance_type"],
                                 settings["reg_covar"])
        return same and getattr(estimator, "means_", None) is self.fitted_means

    def update(self, chunk_model, alpha, t0):
        """One stepwise-EM step on one chunk; returns the M step's report."""
        stats = chunk_model.accumulate(self.params)
        self.history.append(float(stats[0] / stats[1] + self.model.log_lik_shift()))
        del self.history[:-ONLINE_HISTORY]
        # the chunk model divided the weights by 2^weight_exponent
        chunk_weight = float(np.ldexp(stats[1], chunk_model.weight_exponent))
        new = moments_from_stats(stats, self.params)
        if self.moments is None:
            self.moments = new
        else:
            gamma = weighted_step(step_size(self.n_chunks, alpha, t0),
                                  chunk_weight / self.mean_chunk_weight)
            self.moments = blend(self.moments, new, gamma)
        # a running mean cannot overflow where a running sum of weights could
        self.mean_chunk_weight += ((chunk_weight - self.mean_chunk_weight)
                                   / (self.n_chunks + 1))
        self.n_chunks += 1
        self.params, report = self.model.m_step(*stats_from_moments(self.moments,
                                                                     self.params))
        return report


def _stream_weights(sample_weight, n_rows):
    """A chunk's validated weights for ``partial_fit``. A scalar is kept as a
    weight of every row: unlike in ``fit`` it matters, since it weighs the
    chunk against the stream's other chunks."""
    w = v.check_sample_weight(sample_weight, n_rows)
    if w is None and sample_weight is not None:
        w = np.full(n_rows, float(sample_weight))
    return w


def partial_fit(estimator, X, sample_weight=None, *, alpha=DEFAULT_ALPHA, t0=DEFAULT_T0):
    """One step of online (stepwise) EM on one chunk of a stream; the backend
    of ``GaussianMixture.partial_fit``.

    The stream keeps running sufficient statistics s_t, per unit of sample
    weight, and after every chunk sets the parameters to the M step of s_t
    (Cappe and Moulines, 2009, "On-line expectation-maximization algorithm for
    latent data models", JRSS B 71(3)):

        s_t = (1 - g_t) s_{t-1} + g_t * stats(chunk_t; theta_{t-1}) / W_t
        theta_t = M(s_t)

    where stats(chunk; theta) is the fused kernel pass (E step and sums) with
    the current parameters and W_t the chunk's total weight. The statistics are
    kept as centred moments (:class:`Moments`), so that chunks whose sums were
    shifted by different means average exactly.

    Sample weights are in one unit across calls: a row of weight 2000 counts
    2000 times a row of weight 1 of another call, as in ``fit``. The step is

        g_t = r_t gamma_t / (1 + (r_t - 1) gamma_t),   gamma_t = (t + t0)^-alpha,
        r_t = W_t / mean(W_0, ..., W_{t-1})            (t = 1, 2, ...)

    (:func:`weighted_step`): a chunk carrying r times the weight of the
    earlier chunks' mean moves the statistics about as far as r such chunks
    would (r gamma_t while that is small; the chunk replaces the statistics as
    r grows, and is ignored as r -> 0). Hence:

    - chunks of equal total weight (the usual stream of equal-sized,
      unweighted chunks) take exactly the steps gamma_t;
    - multiplying every weight of every call by one constant changes nothing;
    - multiplying one call's weights by c weighs that chunk c times more
      against the others (a scalar ``sample_weight`` included); a chunk of
      twice the rows likewise counts twice;
    - with alpha = 1 and t0 = 1, s_t is exactly the average of the chunks'
      per-unit-weight statistics weighted by their total weights W_t.

    The first call (t = 0) fixes the frame from its chunk, starts the
    parameters with the estimator's ``init_params`` on that chunk (or its
    ``*_init`` values; or, if the estimator is already fitted, its fitted
    parameters) and sets s_0 to that chunk's statistics. A later ``fit``, or
    a change of ``n_components``, ``covariance_type`` or ``reg_covar``,
    starts a new stream at the next call.

    Step sizes: any alpha in (0.5, 1] satisfies the Robbins-Monro conditions
    (sum gamma = inf, sum gamma^2 < inf) under which the recursion converges
    to a stationary point of the likelihood. alpha = 0.6 is the value Cappe
    and Moulines use and close to the 0.5-0.7 range Liang and Klein (2009,
    "Online EM for unsupervised models", NAACL) found best for mini-batches:
    early statistics, computed with poor parameters, are forgotten quickly.
    alpha = 1 with t0 = 1 weights all chunks by their total weight (a running
    average), the most efficient choice once the parameters are good but the
    slowest to forget a bad start. t0 = 2 (Liang and Klein's offset) makes the
    first step 3^-0.6 = 0.52 rather than 1, so the second chunk does not
    simply replace the first. At t = 200 the step is ~0.04: the estimate then averages
    roughly 2/gamma ~ 50 chunks.

    Parameters
    ----------
    estimator : cyem.GaussianMixture
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        One chunk; the first one must hold at least n_components distinct
        values (rows).
    sample_weight : array-like of shape (n_samples,) or positive float, optional
        In the same units in every call (see above); a scalar weighs every
        row of this chunk alike.
    alpha : float in (0.5, 1], default 0.6
    t0 : float >= 0, default 2.0

    Returns
    -------
    estimator
        With the fitted attributes of ``fit``, where ``n_iter_`` is the number
        of chunks seen, ``converged_`` is False (a stream has no convergence
        test), and ``lower_bounds_`` holds the log-likelihood per unit weight
        of each of the last ``ONLINE_HISTORY`` chunks under the parameters
        that entered its step (a prequential, out-of-sample score);
        ``lower_bound_`` is the latest.
    """
    require_nothing_fixed(estimator, "partial_fit")
    from .mixture import _check_random_state, _single_threaded_blas

    alpha = v.check_real(alpha, "alpha", 0.5, inclusive=False)
    if alpha > 1:
        raise ValueError(f"alpha must be in (0.5, 1], got {alpha}")
    t0 = v.check_real(t0, "t0", 0.0)
    s = estimator._validated_settings()
    ctype = s["covariance_type"]
    state = getattr(estimator, "_online", None)
    if state is not None and not state.owns(estimator, s):
        state = None
    if state is None:
        x = v.check_data(X, "X")
        w = _stream_weights(sample_weight, x.shape[0])
        K = v.check_n_components(s["n_components"], x, w)
        d = 1 if x.ndim == 1 else x.shape[1]
        frame = Frame.from_data(x, reg_covar=s["reg_covar"])
        chunk_model = make_model(x, w, ctype, s["reg_covar"], s["n_threads"], frame)
        fitted = hasattr(estimator, "means_") and estimator.means_.shape == (K, d)
        with _single_threaded_blas(ctype, d):
            if fitted:
                params = estimator._fitted_params(chunk_model)
            else:
                user = estimator._user_initial_values(K, d, ctype)
                params = estimator._start(chunk_model, K, s["init_params"],
                                          _check_random_state(estimator.random_state),
                                          user)
        # weight_exponent None: each chunk's statistics are divided by its own
        # total weight before they meet another chunk's (OnlineEM.update)
        state = OnlineEM(FrameModel(frame, d, ctype, s["reg_covar"], s["n_threads"],
                                    weight_exponent=None), params, s)
    else:
        x = v.check_data(X, "X", n_features_expected=state.model.n_features)
        w = _stream_weights(sample_weight, x.shape[0])
        chunk_model = state.model.chunk_model(x, w, s["n_threads"])
    with _single_threaded_blas(ctype, state.model.n_features):
        report = state.update(chunk_model, alpha, t0)
    warn_degenerate(report)
    run = EMRun(params=state.params, lower_bounds=state.history, n_iter=state.n_chunks,
                converged=False, report=report)
    estimator._set_fitted(state.model, run, ctype)
    state.fitted_means = estimator.means_
    estimator._online = state
    return estimator
