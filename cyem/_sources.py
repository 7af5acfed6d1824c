"""Sources of chunks: arrays and memory-mapped files read in slices of rows,
and callables that return fresh iterators of arrays.

A source is read one chunk at a time: the memory in use is one chunk (plus a
copy of it only when its dtype is not float32/float64 or its rows are not
contiguous). An ``np.memmap`` (also what ``np.load(path, mmap_mode='r')``
returns) is read through a fresh mapping of each chunk's bytes that is
unmapped after the chunk, so that even the resident size of the process stays
near one chunk instead of growing to the file's size.
"""

import mmap

import numpy as np

from . import _kernels
from . import _validation as v

#: Default bytes per chunk of an array source: large enough to hand every
#: thread many kernel blocks, small enough to keep the resident set modest.
CHUNK_BYTES = 16 << 20


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
