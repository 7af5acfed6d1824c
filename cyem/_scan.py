"""The frame pass over chunked data: per-feature extremes, checks, the total
weight and a uniform random sample of rows, in one pass that merges across
chunks (and dask blocks) in any grouping.

The frame of ``cyem._frame`` is computed from the extremes and the sample, so
it is, up to the sample, the one an in-memory fit of the same data would use.
The sample also feeds the initialisation: the estimator's ``init_params``
strategy runs on it in memory, not on the first chunk, since a source sorted
or grouped by value would otherwise start badly.
"""

from dataclasses import dataclass

import numpy as np

from . import _validation as v
from ._frame import Frame
from ._model import weight_exponent
from ._sources import prepared_chunks

#: Rows of the uniform sample the initialisation runs on (fewer for wide data,
#: see ``_sample_size``). k-means++ seeds on 20,000 of them; Lloyd and the
#: 'quantile' and 'random' strategies use them all.
INIT_SAMPLE_SIZE = 100_000
_SAMPLE_BYTES = 64 << 20


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
