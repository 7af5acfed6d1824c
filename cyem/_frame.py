"""The coordinate frame the kernels compute in.

Every point is seen as x' = (x - origin) / scale, with ``origin`` the
per-feature median of the data (of a deterministic sample of its rows) and
``scale`` one power of two near the spread of the *bulk* of the data. All EM
parameters live in this frame and are converted to the data's units only when
a fit ends. Why:

* Data far from zero (1e8 + noise): the means are estimated as small offsets
  from the origin, so shifting the data by a constant shifts the fit exactly,
  instead of losing the precision lost by doubles near 1e8.
* Values far from the bulk (a fill value such as NetCDF's 9.97e36, a -9999
  code at large scales): the origin is a median, which one far value (or a
  few percent of them) cannot move, so x - origin keeps the bulk's precision.
  A midrange origin would sit half-way to the far value and round every
  ordinary point to its grid (1/16 for a value at 1e15).
* Dividing by a power of two is exact: the scale never costs precision. It is
  chosen so that nothing under- or overflows: squares of every deviation in
  the frame stay below 2**896 (their sums over any n as well), ``reg_covar``
  and the starting variances divided by scale**2 stay finite, and the
  variance floor eps**2 in the frame is a normal double in the data's units.
  One scale for all features keeps spherical covariances and
  ``reg_covar * I`` isotropic.

Data whose deviations from the median exceed ``MAX_REACH`` (~3.4e153) have no
finite float64 variance and are refused with a ``ValueError`` (so are starting
means that far away); so are data spanning less than ``MIN_REACH`` (~1.5e-154)
with a reg_covar too small to keep their variances above 2.2e-308. That is a limit of double precision, stated in the
README; inside it, fitting x * 2**k gives exactly the fit of x scaled.

A model's frame for prediction is derived from its parameters alone (see
``Frame.from_params``), so fitted estimators need no hidden state and survive
save/load and pickling.
"""

from dataclasses import dataclass

import numpy as np

#: Largest |x - origin| accepted, in data units: 2**510 (~3.4e153), so that
#: the square of any deviation, hence any variance, is a finite double.
MAX_REACH = 2.0 ** 510

#: Data spanning less than 2**-510 (~1.5e-154, and more than 0) have variances
#: below the smallest normal double; they are refused unless reg_covar lifts
#: the variances into range.
MIN_REACH = 2.0 ** -510
_TINY = np.finfo(np.float64).tiny

#: A deviation in the frame is at most 2**_HEADROOM, so squares stay <= 2**896.
_HEADROOM = 448

#: The frame's scale stays within 2**[-459, 511]: at 2**-459 the variance
#: floor eps**2 * scale**2 is still a normal double in data units; at 2**511
#: a variance of 1 in the frame is still finite in data units.
_MIN_SCALE_EXPONENT = -459
_MAX_SCALE_EXPONENT = 511

#: Rows of the deterministic sample the origin and bulk spread come from
#: (128 kB of float64 per feature: a fit's memory stays O(K d^2) plus this).
#: The chunked scan takes the same strided sample of its uniform sample, so
#: data of up to this many rows get the same frame in memory and in chunks.
_SAMPLE_ROWS = 16384


def _power_of_two_at_least(value):
    """Smallest power of two >= value, within the frame's scale range
    (the smallest allowed for 0)."""
    exponent = _MIN_SCALE_EXPONENT
    if np.isfinite(value) and value > 0:
        mantissa, exponent = np.frexp(value)       # value = mantissa * 2**exponent
        exponent = int(exponent) - int(mantissa == 0.5)
    exponent = min(max(exponent, _MIN_SCALE_EXPONENT), _MAX_SCALE_EXPONENT)
    return float(np.ldexp(1.0, exponent))


def _half_reach(points, origin):
    """max over points and features of |p - origin| / 2, without overflow."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, origin.shape[0])
    if points.shape[0] == 0:
        return 0.0
    return float(np.max(np.abs(0.5 * points - 0.5 * origin)))


def strided_sample(X, rows=_SAMPLE_ROWS):
    """Every k-th row of X (n, ...) so that at most ~``rows`` remain:
    deterministic, and on data sorted by group it keeps every group."""
    step = max(1, X.shape[0] // rows)
    return X[::step]


def _bulk_spread(sample):
    """A spread of the bulk of the data that far values cannot inflate: the
    largest interquartile range over features, else the central 98% range,
    else 0 (when more than 98% of the values are tied)."""
    sample = np.asarray(sample, dtype=np.float64)
    for low, high in ((25, 75), (1, 99)):
        q_low, q_high = np.percentile(sample, [low, high], axis=0)
        spread = float(np.max(0.5 * q_high - 0.5 * q_low)) * 2.0
        if spread > 0:
            return spread
    return 0.0


def _median(sample):
    """Per-feature median that is one of the values (the lower middle one),
    so the origin is exactly representable and lies inside the data."""
    sample = np.asarray(sample, dtype=np.float64)
    middle = (sample.shape[0] - 1) // 2
    return np.partition(sample, middle, axis=0)[middle].astype(np.float64)


@dataclass(frozen=True)
class Frame:
    """origin (d,) and a power-of-two scale; x' = (x - origin) / scale."""

    origin: np.ndarray
    scale: float

    @property
    def inv_scale(self):
        return 1.0 / self.scale

    @property
    def n_features(self):
        return self.origin.shape[0]

    @classmethod
    def from_data(cls, X, *, reg_covar=0.0, start_means=None, names=("X", "means_init")):
        """Frame of data X, shape (n,) or (n, d) (see ``from_summary``)."""
        X2 = X.reshape(X.shape[0], -1)
        lo = np.min(X2, axis=0).astype(np.float64)
        hi = np.max(X2, axis=0).astype(np.float64)
        return cls.from_summary(lo, hi, strided_sample(X2), reg_covar=reg_covar,
                                start_means=start_means, names=names)

    @classmethod
    def from_summary(cls, lo, hi, sample, *, reg_covar=0.0, start_means=None,
                     names=("X", "means_init")):
        """Frame of data with per-feature extremes ``lo``, ``hi`` (d,) and a
        representative ``sample`` of its rows (m, d) or (m,).

        The origin is the sample's median; the scale is the smallest power of
        two covering the bulk's spread, and large enough that every value, every
        starting mean (``start_means``, data units) and sqrt(``reg_covar``)
        are within 2**448 of the origin in frame units.

        Raises
        ------
        ValueError
            If a value or a starting mean lies more than ``MAX_REACH`` from the
            median of the data; the message starts with the argument's name
            (``names``: the data's and the starting means').
        """
        lo = np.asarray(lo, dtype=np.float64).ravel()
        hi = np.asarray(hi, dtype=np.float64).ravel()
        sample = np.asarray(strided_sample(sample), dtype=np.float64).reshape(-1, lo.shape[0])
        origin = _median(sample)
        data_half_reach = max(_half_reach(lo, origin), _half_reach(hi, origin))
        if data_half_reach > 0.5 * MAX_REACH:
            raise ValueError(
                f"{names[0]} has values up to {2 * data_half_reach:.3g} away from the median "
                f"of the data; cyem fits data whose values lie within "
                f"{MAX_REACH:.3g} of their median (beyond that, squared deviations "
                f"overflow double precision). Rescale {names[0]}, or remove the far "
                "values.")
        if 0 < data_half_reach < 0.5 * MIN_REACH and not reg_covar >= _TINY:
            raise ValueError(
                f"{names[0]} spans only {2 * data_half_reach:.3g}: the variances of "
                f"data whose values all lie within {MIN_REACH:.3g} of their median "
                "underflow double precision (below 2.2e-308). Rescale "
                f"{names[0]} (e.g. multiply it by a power of ten), or set reg_covar "
                "to at least the smallest variance you need.")
        half_reach = data_half_reach
        if start_means is not None:
            start_half_reach = _half_reach(start_means, origin)
            if start_half_reach > 0.5 * MAX_REACH:
                raise ValueError(
                    f"{names[1]} has a mean {2 * start_half_reach:.3g} away from the "
                    f"median of {names[0]}; starting means must lie within {MAX_REACH:.3g} "
                    "of the data.")
            half_reach = max(half_reach, start_half_reach)
        needed = max(_bulk_spread(sample),
                     np.ldexp(half_reach, 1 - _HEADROOM),
                     np.ldexp(np.sqrt(reg_covar), -_HEADROOM))
        return cls(origin, _power_of_two_at_least(needed))

    @classmethod
    def from_params(cls, weights, means, spread):
        """Frame for evaluating a fitted model: the weighted median of its
        means (so that a small component far away, e.g. one holding a fill
        value, does not move it) and a scale covering the means' reach and
        ``spread`` (its largest standard deviation)."""
        means = np.asarray(means, dtype=np.float64).reshape(means.shape[0], -1)
        weights = np.asarray(weights, dtype=np.float64)
        origin = np.empty(means.shape[1])
        for j in range(means.shape[1]):
            order = np.argsort(means[:, j], kind="stable")
            cumulative = np.cumsum(weights[order])
            origin[j] = means[order[np.searchsorted(cumulative, 0.5 * cumulative[-1])], j]
        needed = max(2.0 * _half_reach(means, origin), float(spread))
        return cls(origin, _power_of_two_at_least(needed))

    # -- conversions -------------------------------------------------------
    def means_to_frame(self, means, name="means_init"):
        """Means (data units) in the frame; a ValueError naming ``name`` when
        they lie beyond ``MAX_REACH`` of the origin."""
        means = np.asarray(means, dtype=np.float64)
        if _half_reach(means, self.origin) > 0.5 * MAX_REACH:
            raise ValueError(f"{name} lies more than {MAX_REACH:.3g} away from the "
                             "data; starting means must be near the data")
        return (means - self.origin) / self.scale

    def means_from_frame(self, means):
        return self.origin + means * self.scale

    def variances_to_frame(self, variances, name="precisions_init"):
        """Variances (data units) divided by scale**2; a ValueError naming
        ``name`` when that overflows (a variance beyond ~1e308 * scale**2)."""
        with np.errstate(over="ignore"):
            out = np.asarray(variances, dtype=np.float64) / self.scale ** 2
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name} implies variances too large for double "
                             "precision next to the data's spread")
        return out

    @property
    def log_scale(self):
        """log(scale): densities in data units are those in the frame divided
        by scale^d, so log-likelihoods differ by d * log_scale per point."""
        return float(np.log(self.scale))
