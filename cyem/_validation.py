"""Input checks. Every user-facing argument passes through here before it can
reach a kernel, and every failure names the argument and what was wrong."""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ._frame import strided_sample

from . import _kernels
from .exceptions import external_stacklevel

_ACCEPTED_KINDS = "biuf"  # bool, signed and unsigned integers, floats

# Precisions and variances must imply a variance (1/p, or itself) that is a
# normal, finite float64: outside this range the reciprocal under- or
# overflows and EM returns NaN or inf silently. Standard deviations are
# squared, so their limit is the square root of it.
_SCALE_LIMIT = 1e307
STD_LIMIT = 1e153


def _as_numeric_array(value, name):
    """``np.asarray`` with errors that name the argument."""
    if value is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array-like of numbers, got a string")
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        raise TypeError(f"{name} is a sparse matrix; cyem needs dense data "
                        f"(convert it with .toarray())")
    if np.ma.is_masked(value):
        # np.asarray drops the mask: the hidden values would be used silently.
        raise ValueError(
            f"{name} is a masked array with masked entries; remove them or fill "
            f"them before fitting"
        )
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} could not be converted to a numeric array (ragged or mixed "
            f"input?): {exc}"
        ) from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if kind == "O":
        # float() parses text, so strings inside an object array would slip
        # through the conversion below; refuse them as a string dtype is refused.
        if any(isinstance(item, (str, bytes)) for item in arr.flat):
            raise TypeError(f"{name} must contain numbers, got object dtype holding text")
        # A list mixing numbers and None/objects: try a float conversion once.
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise TypeError(
                f"{name} must contain only numbers, got object dtype with "
                f"non-numeric entries"
            ) from None
    elif kind not in _ACCEPTED_KINDS:
        raise TypeError(
            f"{name} must contain numbers, got dtype {arr.dtype} "
            f"({'text' if kind in 'USa' else 'non-numeric'})"
        )
    return arr


def _check_finite(x, name):
    n_nan, n_inf = _kernels.count_nonfinite(x)
    if n_nan:
        raise ValueError(f"{name} contains NaN ({n_nan} value{'s' * (n_nan > 1)})")
    if n_inf:
        raise ValueError(f"{name} contains infinity ({n_inf} value{'s' * (n_inf > 1)})")


def check_univariate_data(X, name="X", n_features_expected=None):
    """Validate univariate data and return it as a contiguous 1-D float array.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
    name : str
        The argument's name, used in error messages.
    n_features_expected : int or None
        For data given to a fitted model: the number of features seen in fit.

    Returns
    -------
    x : ndarray of shape (n_samples,), float32 or float64, C-contiguous,
        native byte order
        float32 input stays float32 (the kernels sum in float64); any other
        real dtype becomes float64. A copy is made only when needed.
    """
    arr = _as_numeric_array(X, name)
    if arr.ndim == 2:
        n_features = arr.shape[1]
        if n_features_expected is not None and n_features != n_features_expected:
            raise ValueError(
                f"{name} has {n_features} features, but the model was fitted "
                f"with {n_features_expected} feature(s)"
            )
        if n_features != 1:
            raise ValueError(
                f"{name} has shape {arr.shape}: this function fits univariate "
                f"data only (a 1-D array or shape (n_samples, 1))"
            )
        arr = arr[:, 0]
    elif arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D or 2-D with one column, got an array with "
            f"{arr.ndim} dimension(s) and shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one sample is required")
    # float32 in either byte order stays float32 (dtype('>f4') != float32, so
    # compare kind and size, not the dtype): both byte orders must fit alike.
    is_float32 = arr.dtype.kind == "f" and arr.dtype.itemsize == 4
    dtype = np.float32 if is_float32 else np.float64
    # Native byte order and C-contiguity; a no-op for plain float arrays.
    x = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))
    _check_finite(x, name)
    return x


def check_data(X, name="X", n_features_expected=None):
    """Validate data of any width for the estimator.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
    name : str
    n_features_expected : int or None
        For data given to a fitted model: the number of features seen in fit.

    Returns
    -------
    x : ndarray, float32 or float64, C-contiguous, native byte order
        Shape (n_samples,) for univariate data (1-D input or one column),
        else (n_samples, n_features). Copied only when needed.
    """
    arr = _as_numeric_array(X, name)
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        if n_features_expected is not None and n_features_expected != 1:
            raise ValueError(
                f"{name} has 1 features, but GaussianMixture is expecting "
                f"{n_features_expected} features as input (reshape your data: a 1-D "
                f"array is read as n samples of one feature)")
        return check_univariate_data(arr, name, n_features_expected)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (n_samples, n_features), got an array "
            f"with {arr.ndim} dimension(s) and shape {arr.shape}")
    n_samples, n_features = arr.shape
    if n_features_expected is not None and n_features != n_features_expected:
        raise ValueError(
            f"{name} has {n_features} features, but GaussianMixture is expecting "
            f"{n_features_expected} features as input")
    if n_features == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={arr.shape}) while a "
                         f"minimum of 1 is required.")
    if n_samples == 0:
        raise ValueError(f"{name} is empty: at least one sample is required")
    is_float32 = arr.dtype.kind == "f" and arr.dtype.itemsize == 4
    dtype = np.float32 if is_float32 else np.float64
    x = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("="))
    _check_finite(x.reshape(-1), name)
    return x


def check_sample_weight(sample_weight, n_samples):
    """Validate ``sample_weight`` (None, a scalar or an array of n_samples
    non-negative finite numbers, not all zero); return float64 array or None."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, Real) and not isinstance(sample_weight, bool):
        value = float(sample_weight)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"sample_weight as a scalar must be positive and finite, got {value}"
            )
        return None  # a constant weight does not change the fit
    w = _as_numeric_array(sample_weight, "sample_weight")
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X, got shape {w.shape}"
        )
    w = np.ascontiguousarray(w, dtype=np.dtype(np.float64).newbyteorder("="))
    _check_finite(w, "sample_weight")
    if w.min() < 0:
        raise ValueError("sample_weight contains negative values")
    if not w.max() > 0:
        raise ValueError("sample_weight is zero everywhere: nothing to fit")
    with np.errstate(over="ignore"):
        total = w.sum()
    if not np.isfinite(total):
        raise ValueError(
            "sample_weight sums to infinity in float64; divide it by a constant "
            "(the fitted parameters do not depend on the scale of the weights)"
        )
    return w


def check_int(value, name, minimum, maximum=None):
    """An integer (not a bool) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_real(value, name, minimum, inclusive=True):
    """A finite real number (not a bool) >= minimum (or > when not inclusive)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < minimum or (not inclusive and value == minimum):
        op = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    return value


def check_tol(value, name="tol"):
    """The estimator's ``tol``: 'auto' (returned as None: cyem's stopping rule,
    see ``cyem._em.run_em``) or a real number >= 0 (scikit-learn's rule)."""
    if isinstance(value, str):
        if value == "auto":
            return None
        raise TypeError(f"{name} must be 'auto' or a real number >= 0, got {value!r}")
    return check_real(value, name, 0.0)


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def check_n_components(n_components, x, sample_weight, name="n_components",
                       data_name="X"):
    """n_components >= 1 and no larger than the number of distinct values.

    ``name`` and ``data_name`` are the arguments the error message names (for
    ``cyem.em`` the component count comes from ``weights`` and the data is ``x``).
    """
    n_components = check_int(n_components, name, 1)
    # There are at most n distinct values, and the kernel allocates one slot
    # per value it may count: never ask for more than n.
    limit = min(n_components, x.shape[0])
    n_distinct = count_distinct(x, sample_weight, limit)
    if n_distinct < n_components:
        weighted = " with positive weight" if sample_weight is not None else ""
        raise ValueError(
            f"{name} asks for {n_components} components, more than the "
            f"{n_distinct} distinct value(s) in {data_name}{weighted}; "
            f"use at most {n_distinct}"
        )
    return n_components


def warn_if_single_value(x, sample_weight, n_components):
    """Warn that a one-component fit of constant data has variance reg_covar."""
    import warnings

    if n_components == 1 and count_distinct(x, sample_weight, 2) < 2:
        warnings.warn("X has a single distinct value: the fitted variance is "
                      "reg_covar (or a tiny floor if reg_covar is 0)",
                      UserWarning, stacklevel=external_stacklevel())


#: reg_covar above this fraction of a feature's variance changes the fit
#: visibly: a component holding a tenth of that variance is widened by 1%.
REG_COVAR_WARN_FRACTION = 1e-3


def warn_if_reg_covar_dominates(x, reg_covar):
    """Warn when ``reg_covar`` exceeds ``REG_COVAR_WARN_FRACTION`` of the
    variance of a (non-constant) feature of ``x``: data in small units (a
    variance of 1e-8) would otherwise be fitted with every component at the
    overall mean and a spread set by reg_covar, silently. The variance is that
    of the frame's deterministic sample of rows (``_frame.strided_sample``)."""
    import warnings

    if not reg_covar > 0:
        return
    sample = np.asarray(strided_sample(x), dtype=np.float64).reshape(-1, 1 if x.ndim == 1
                                                                  else x.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        variances = np.var(sample, axis=0)
    # a spread near 1e308 overflows (inf or nan): nothing reg_covar could swamp
    variances = np.where(np.isnan(variances), np.inf, variances)
    moving = variances > 0
    if not moving.any():
        return                       # constant data: warn_if_single_value says so
    smallest = float(np.min(variances[moving]))
    if reg_covar > REG_COVAR_WARN_FRACTION * smallest:
        feature = int(np.flatnonzero(moving)[np.argmin(variances[moving])])
        where = "X" if x.ndim == 1 else f"feature {feature} of X"
        warnings.warn(
            f"reg_covar={reg_covar:.3g} is more than {REG_COVAR_WARN_FRACTION:g} of the "
            f"variance of {where} ({smallest:.3g}): it is added to every fitted "
            "variance and will dominate them. Lower reg_covar (e.g. to "
            f"{1e-6 * smallest:.1g}) or rescale X.", UserWarning,
            stacklevel=external_stacklevel())


def count_distinct(x, sample_weight, limit):
    """Distinct values (1-D) or rows (2-D) with positive weight, up to ``limit``."""
    if x.ndim == 1:
        return _kernels.count_distinct_upto(x, sample_weight, limit)
    return _count_distinct_rows_upto(x, sample_weight, limit)


def _count_distinct_rows_upto(X, sample_weight, limit):
    """Distinct rows of X (with positive weight), counting no further than
    ``limit``; looks at a prefix first so that typical data cost O(limit)."""
    rows = X if sample_weight is None else X[sample_weight > 0]
    head = rows[:max(8 * limit, 64)]
    found = np.unique(head, axis=0).shape[0] if head.shape[0] else 0
    if found >= limit or head.shape[0] == rows.shape[0]:
        return min(found, limit)
    return min(np.unique(rows, axis=0).shape[0], limit)


def check_initial_weights(weights, n_components, name="weights_init"):
    w = _as_numeric_array(weights, name).astype(np.float64)
    if w.size == 0:
        raise ValueError(f"{name} is empty: at least one component is required")
    if w.shape != (n_components,):
        raise ValueError(f"{name} must have shape ({n_components},), got {w.shape}")
    _check_finite(np.ascontiguousarray(w), name)
    if w.min() < 0:
        raise ValueError(f"{name} contains negative values: {w}")
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1, got sum {w.sum():.17g}")
    if not w.max() > 0:
        raise ValueError(f"{name} is zero everywhere")
    return w / w.sum()


def check_initial_means(means, n_components, name="means_init"):
    m = _as_numeric_array(means, name).astype(np.float64)
    if m.shape not in ((n_components,), (n_components, 1)):
        raise ValueError(
            f"{name} must have shape ({n_components}, 1) or ({n_components},), got {m.shape}"
        )
    m = np.ascontiguousarray(m.reshape(n_components))
    _check_finite(m, name)
    return m


def check_initial_means_md(means, n_components, n_features, name="means_init"):
    m = _as_numeric_array(means, name).astype(np.float64)
    if m.shape != (n_components, n_features):
        raise ValueError(f"{name} must have shape ({n_components}, {n_features}), "
                         f"got {m.shape}")
    m = np.ascontiguousarray(m)
    _check_finite(m.reshape(-1), name)
    return m


def check_initial_precisions_md(precisions, n_components, n_features, covariance_type,
                                name="precisions_init"):
    """scikit-learn's precisions_init for d >= 2: (K, d, d) 'full', (d, d)
    'tied', (K, d) 'diag', (K,) 'spherical' -- symmetric positive definite
    matrices or positive numbers. Returns the matching covariances in the same
    shape (the estimator derives the precision factors from them)."""
    from scipy import linalg

    K, d = n_components, n_features
    shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d),
             "spherical": (K,)}[covariance_type]
    p = _as_numeric_array(precisions, name).astype(np.float64)
    if p.shape != shape:
        raise ValueError(f"{name} must have shape {shape} for covariance_type="
                         f"'{covariance_type}', got {p.shape}")
    _check_finite(np.ascontiguousarray(p).reshape(-1), name)
    if covariance_type in ("diag", "spherical"):
        if not (p > 0).all():
            raise ValueError(f"{name} must be positive, got {p}")
        return 1.0 / p
    mats = p if covariance_type == "full" else p[np.newaxis]
    covs = []
    for k, mat in enumerate(mats):
        if not np.allclose(mat, mat.T, rtol=1e-10, atol=0):
            raise ValueError(f"{name}: matrix {k} is not symmetric")
        try:
            chol = linalg.cholesky(mat, lower=True)
        except linalg.LinAlgError:
            raise ValueError(f"{name}: matrix {k} is not positive definite") from None
        covs.append(linalg.cho_solve((chol, True), np.eye(d)))
    return covs[0] if covariance_type == "tied" else np.array(covs)


def check_positive_vector(values, n_values, name, shapes, limit=_SCALE_LIMIT):
    """Positive finite numbers within [1 / limit, limit] in one of ``shapes``;
    returned flat, float64. The default limit suits precisions and variances;
    pass ``STD_LIMIT`` for standard deviations."""
    v = _as_numeric_array(values, name).astype(np.float64)
    if v.shape not in shapes:
        allowed = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{name} must have shape {allowed}, got {v.shape}")
    v = np.ascontiguousarray(v.reshape(n_values))
    _check_finite(v, name)
    if not (v > 0).all():
        raise ValueError(f"{name} must be positive, got {v}")
    if not ((v >= 1 / limit) & (v <= limit)).all():
        raise ValueError(
            f"{name} must lie between {1 / limit:g} and {limit:g} "
            f"(the variances they imply must be representable), got {v}"
        )
    return v


def check_random_state(random_state):
    """A numpy Generator from None, an int, a Generator or a RandomState."""
    if random_state is None or isinstance(random_state, (Integral, np.integer)) \
            and not isinstance(random_state, bool):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        # Derive a Generator deterministically from the legacy state.
        return np.random.default_rng(random_state.randint(0, 2**31 - 1, size=4))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__}"
    )


@dataclass(frozen=True)
class Settings:
    """An estimator's validated constructor arguments, as the fitting code
    below the estimator needs them (built by ``GaussianMixture``; immutable,
    so no layer can change what another one reads).

    ``tol`` is None for cyem's stopping rule ('auto') and a float for
    scikit-learn's; ``n_init`` None for cyem's default set of starts;
    ``n_threads`` the resolved thread count.
    """

    n_components: int
    covariance_type: str
    tol: object
    reg_covar: float
    max_iter: int
    n_init: object
    init_params: str
    verbose: int
    verbose_interval: int
    n_threads: int
    warm_start: bool
