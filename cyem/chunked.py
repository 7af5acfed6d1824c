"""Models over data that are not one in-memory array: chunked sources and
memory-mapped files (and, in ``cyem._dask``, the blocks of a dask array).

Everything here is built on the one kernel pass of ``cyem._model``
(``model.accumulate``), whose statistics [L, W, N_k, S_k, Q_k] merge by
addition across slices (DESIGN.md, section 1):

:class:`FrameModel`
    The M step, frame and units of a fit whose data come in pieces.
:class:`ChunkedModel`
    The model interface over a re-iterable source of chunks
    (``cyem._sources``): its ``accumulate`` runs the ordinary in-memory
    model's pass on every chunk and adds the statistics, so ``run_em`` on it
    is exact multi-pass EM: from the same start it reproduces the in-memory
    fit up to the order of the final additions (relative differences ~1e-15).
:func:`chunked_models`
    What ``GaussianMixture.fit_chunks`` fits: one pass over the source
    (``cyem._scan``) validates it and gives the frame, the weights' unit and
    the initialisation sample; then every EM iteration is one pass.

Sample weights
--------------
The kernels see the weights divided by a power of two (exact) when their mean
is far from 1 (``cyem._model.weight_exponent``). A batch fit chooses that
power ONCE, from the mean of all the weights found by the frame pass, and
divides every chunk's weights by it, so that the chunks' statistics stay in
one unit and add up to the in-memory fit's.
"""

import warnings

import numpy as np

from . import _validation as v
from ._model import make_model
from ._scan import scan_source, scan_weight_exponent
from ._sources import as_source, prepared_chunks
from .exceptions import external_stacklevel

__all__ = ["FrameModel", "ChunkedModel", "chunked_models", "models_from_scan"]


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


def models_from_scan(scan, settings, make_data_model):
    """(data model, initialisation model) for scanned data: checks the
    number of components against the sample and warns for constant data."""
    s = settings
    K = v.check_n_components(s.n_components, scan.sample_x, scan.sample_w)
    if K == 1 and np.array_equal(scan.lo, scan.hi):
        warnings.warn("X has a single distinct value: the fitted variance is "
                      "reg_covar (or a tiny floor if reg_covar is 0)",
                      UserWarning, stacklevel=external_stacklevel())
    v.warn_if_reg_covar_dominates(scan.sample_x, s.reg_covar)
    frame = scan.frame(s.reg_covar)
    init_model = make_model(scan.sample_x, scan.sample_w, s.covariance_type,
                            s.reg_covar, s.n_threads, frame)
    return make_data_model(frame), init_model


def chunked_models(source, sample_weight_source, settings, rng, *, chunk_size=None,
                   init_sample_size=None):
    """(data model, initialisation model) of a chunked source for the restart
    loop (``cyem._restarts.fit_model``): the backend of
    ``GaussianMixture.fit_chunks``.

    Parameters
    ----------
    source : array-like, callable or re-iterable
        See ``cyem._sources.as_source``: an array or ``np.memmap`` read in
        slices of ``chunk_size`` rows, or a callable returning a fresh iterator
        of arrays of shape (n_i,) or (n_i, d) at every call.
    sample_weight_source : optional
        Non-negative weights: one array of n_samples entries, or chunks given
        like ``source`` (one array per chunk, in the same order).
    settings : cyem._validation.Settings
    rng : numpy.random.Generator
        Draws the seed of the initialisation sample (then the starts).
    chunk_size : int, optional
        Rows per chunk of an array source, rounded down to a multiple of
        ``cyem._kernels.BLOCK_SIZE``; default about 16 MiB of data.
    init_sample_size : int, optional
        Rows of the initialisation sample (default ``_scan.INIT_SAMPLE_SIZE``).
    """
    s = settings
    src = as_source(source, sample_weight_source, chunk_size)
    seed = int(rng.integers(0, 2**63))
    scan = scan_source(src, seed, init_sample_size)
    return models_from_scan(
        scan, s, lambda frame: ChunkedModel(src, frame, scan.n_features,
                                            s.covariance_type, s.reg_covar,
                                            s.n_threads, scan_weight_exponent(scan)))
