"""The coordinate frame the kernels compute in.

Every point is seen as x' = (x - origin) / scale, with ``origin`` the per-feature
midrange of the data and ``scale`` one power of two near the largest half-range,
so that |x'| <= 1. All EM parameters live in this frame and are converted to
the data's units only when a fit ends. Why:

* Data far from zero (1e8 + noise): the means are estimated as small offsets
  from the origin, so shifting the data by a constant shifts the fit exactly,
  instead of losing the precision lost by doubles near 1e8.
* Data at extreme scales (1e-300 or 1e300): squared deviations neither
  underflow nor overflow.
* Dividing by a power of two is exact, and one scale for all features keeps
  spherical covariances and ``reg_covar * I`` isotropic.

A model's frame for prediction is derived from its parameters alone (see
``Frame.from_params``), so fitted estimators need no hidden state and survive
save/load and pickling.
"""

from dataclasses import dataclass

import numpy as np


#: The scale stays within 2^+-500, so that scale^2 and reg_covar / scale^2
#: are finite doubles; data beyond that (a spread below 1e-150 or above
#: 1e150) are still handled, with squares in the frame up to ~1e300.
_MAX_SCALE_EXPONENT = 500


def _power_of_two_at_least(value):
    """Smallest power of two >= value, within 2^+-500 (1.0 for 0 or non-finite)."""
    if not (np.isfinite(value) and value > 0):
        return 1.0
    mantissa, exponent = np.frexp(value)     # value = mantissa * 2**exponent
    exponent = int(exponent) - int(mantissa == 0.5)
    exponent = min(max(exponent, -_MAX_SCALE_EXPONENT), _MAX_SCALE_EXPONENT)
    return float(np.ldexp(1.0, exponent))


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
    def from_data(cls, X):
        """Frame of data X, shape (n,) or (n, d): midrange and half-range."""
        X2 = X.reshape(X.shape[0], -1)
        lo = np.min(X2, axis=0).astype(np.float64)
        hi = np.max(X2, axis=0).astype(np.float64)
        # Halves first: hi - lo could overflow for data near +-1e308.
        origin = 0.5 * lo + 0.5 * hi
        half_range = float(np.max(0.5 * hi - 0.5 * lo))
        return cls(origin, _power_of_two_at_least(half_range))

    @classmethod
    def from_params(cls, means, spread):
        """Frame for evaluating a fitted model: the midrange of its means and
        a scale covering both the means' spread and ``spread`` (its largest
        standard deviation)."""
        means = np.asarray(means, dtype=np.float64).reshape(means.shape[0], -1)
        lo, hi = means.min(axis=0), means.max(axis=0)
        origin = 0.5 * lo + 0.5 * hi
        half_range = max(float(np.max(0.5 * hi - 0.5 * lo)), float(spread))
        return cls(origin, _power_of_two_at_least(half_range))

    # -- conversions -------------------------------------------------------
    def means_to_frame(self, means):
        return (np.asarray(means, dtype=np.float64) - self.origin) / self.scale

    def means_from_frame(self, means):
        return self.origin + means * self.scale

    @property
    def log_scale(self):
        """log(scale): densities in data units are those in the frame divided
        by scale^d, so log-likelihoods differ by d * log_scale per point."""
        return float(np.log(self.scale))
