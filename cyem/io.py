"""Saving and loading fitted mixtures as JSON, without pickle.

``save(model, path)`` writes a fitted :class:`cyem.GaussianMixture`;
``load(path)`` reads it back. Loading never executes code from the file (unlike
pickle), and the round trip is exact: every float is written with Python's
shortest repr, which reads back to the same bits. ``save(model, path, X=X)``
also records what the model was fitted to (column names, n, log-likelihood,
BIC, AIC), for people and programs that read the file.

File format, version 2
----------------------
A UTF-8 JSON object::

    {
      "format": "cyem-gaussian-mixture",
      "version": 2,
      "cyem_version": "0.1.0",          # informative only
      "params": {...},                  # constructor parameters
      "dropped_params": [...],          # parameters that could not be stored
      "training": {...} or null,        # the data the model describes (informative)
      "fitted": {...}                   # fitted attributes
    }

``params`` maps each constructor parameter to a JSON value (null, true/false,
a number or a string) or, for an array, a list or a dict, a tagged value as
below. A parameter that cannot be written as JSON (``random_state`` given as
a numpy Generator, say) is stored as null and named in ``dropped_params``.

``training`` is null, or an object whose keys are each null when unknown::

    "columns":        ["height", "weight"]  # one name per feature
    "n_samples":      500                   # rows of the data
    "total_weight":   500.0                 # sum of sample weights (= n_samples without)
    "log_likelihood": -1234.5               # total (weighted) log-likelihood
    "n_parameters":   5                     # free parameters p
    "bic":            2500.1                # -2 log L + p log(total_weight)
    "aic":            2479.0                # -2 log L + 2 p

``fitted`` maps every fitted attribute (the names ending in ``_``: ``weights_``,
``means_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``, ``converged_``, ``n_iter_``,
``lower_bound_``, ``lower_bounds_``, ``n_features_in_``, ``stds_``, ...) to a tagged value::

    {"type": "ndarray", "dtype": "float64", "shape": [2, 1, 1], "data": [...]}
    {"type": "scalar",  "dtype": "float64", "shape": [], "data": -2.93}   # numpy scalar
    {"type": "float" | "int" | "bool", "data": ...}                       # Python scalar
    {"type": "list",    "dtype": "float64", "shape": [n], "data": [...]}  # Python list
    {"type": "dict",    "data": {key: tagged value, ...}}

``data`` holds the values in C order, flattened. dtypes are bool, int8 to
int64, uint8 to uint64, float32, float64 and str (an array of strings, such
as ``feature_names_in_``; read back as an object array of ``str``, as
scikit-learn stores names). NaN and infinities are not allowed anywhere (a
fitted model has none). Readers refuse a ``version`` newer than theirs.

Version history: 1 had no ``training`` key and no str dtype; this reader
loads version 1 files unchanged.
"""

import json
import math
import os

import numpy as np

from ._persist import (_DTYPES, _REQUIRED_FITTED, _TRAINING_KEYS, FORMAT, VERSION,
                       dumps, save, to_dict)
from .mixture import GaussianMixture

__all__ = ["FORMAT", "VERSION", "dumps", "load", "save", "to_dict"]


# ---- reading --------------------------------------------------------------------

def _reject_constant(token):
    raise ValueError(f"non-finite number {token} (NaN and infinity are not allowed)")


def load(path):
    """Read a mixture written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    model : cyem.GaussianMixture, fitted

    Raises
    ------
    ValueError
        The file is not a cyem model (not JSON, another ``format``), was
        written by a newer cyem (``version``), or is corrupt (missing keys,
        wrong types or shapes, non-finite numbers); the message says which.
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, cyem
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
    >>> cyem.save(gm, path)
    >>> np.array_equal(cyem.load(path).predict_proba(x), gm.predict_proba(x))
    True
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    where = f"{path}: "
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValueError(where + "not a cyem model file (not UTF-8 text)") from None
    except ValueError as exc:
        raise ValueError(where + f"not a cyem model file (invalid JSON: {exc})") from None
    try:
        return from_dict(document)
    except ValueError as exc:
        raise ValueError(where + str(exc)) from None


def from_dict(document):
    """The model described by a dict as :func:`to_dict` makes it."""

    if not isinstance(document, dict):
        raise ValueError("not a cyem model file (the JSON is not an object)")
    if document.get("format") != FORMAT:
        raise ValueError(f"not a cyem model file (format is {document.get('format')!r}, "
                         f"expected {FORMAT!r})")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"invalid format version {version!r}")
    if version > VERSION:
        raise ValueError(f"the file has format version {version}, newer than this cyem "
                         f"reads ({VERSION}); upgrade cyem")
    for key in ("params", "fitted"):
        if not isinstance(document.get(key), dict):
            raise ValueError(f"corrupt model file: {key!r} is missing or not an object")

    known = set(GaussianMixture().get_params())
    params = {}
    for key, value in document["params"].items():
        if key not in known:
            raise ValueError(f"corrupt model file: unknown parameter {key!r}")
        params[key] = value if not isinstance(value, dict) \
            else _decode(value, f"parameter {key}")
    fitted = {key: _decode(value, key) for key, value in document["fitted"].items()}
    for key in fitted:
        if not key.endswith("_") or key.startswith("_"):
            raise ValueError(
                f"corrupt model file: {key!r} is not a fitted attribute name")
    missing = [key for key in _REQUIRED_FITTED if key not in fitted]
    if missing:
        raise ValueError(f"corrupt model file: fitted attribute(s) {missing} missing")
    model = GaussianMixture(**params)
    _check_fitted_shapes(fitted, model.n_components, model.covariance_type)
    _check_training(document.get("training"), fitted["n_features_in_"])
    for key, value in fitted.items():
        setattr(model, key, value)
    return model


def _check_training(training, n_features):
    """The informative "training" object (version 2) is null or well formed."""
    if training is None:
        return
    if not isinstance(training, dict):
        raise ValueError("corrupt model file: 'training' is not an object or null")
    unknown = sorted(set(training) - set(_TRAINING_KEYS))
    if unknown:
        raise ValueError(f"corrupt model file: unknown key(s) {unknown} in 'training'")
    columns = training.get("columns")
    if columns is not None and not (
            isinstance(columns, list) and len(columns) == n_features
            and all(isinstance(c, str) for c in columns)):
        raise ValueError(f"corrupt model file: training columns {columns!r} are not "
                         f"{n_features} name(s)")
    for key in _TRAINING_KEYS[1:]:
        value = training.get(key)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (int, float))):
            raise ValueError(f"corrupt model file: training {key} = {value!r} is not "
                             "a number")


def _decode(tagged, name):
    if not isinstance(tagged, dict) or "type" not in tagged or "data" not in tagged:
        raise ValueError(f"corrupt model file: {name} is not a tagged value "
                         "(an object with 'type' and 'data')")
    kind, data = tagged["type"], tagged["data"]
    if kind == "bool":
        return _scalar_of(data, bool, name)
    if kind == "int":
        return _scalar_of(data, int, name)
    if kind == "float":
        if isinstance(data, int) and not isinstance(data, bool):
            data = float(data)
        return _scalar_of(data, float, name)
    if kind == "dict":
        if not isinstance(data, dict):
            raise ValueError(f"corrupt model file: {name} data is not an object")
        return {k: _decode(v, f"{name}[{k!r}]") for k, v in data.items()}
    if kind in ("ndarray", "scalar", "list"):
        arr = _array_of(tagged, name)
        if kind == "ndarray":
            return arr
        if kind == "scalar":
            if arr.shape != ():
                raise ValueError(f"corrupt model file: {name} is a scalar with shape "
                                 f"{list(arr.shape)}")
            return arr[()]
        return arr.tolist()
    raise ValueError(f"corrupt model file: {name} has unknown type {kind!r}")


def _scalar_of(data, python_type, name):
    if type(data) is not python_type:
        raise ValueError(f"corrupt model file: {name} should be a "
                         f"{python_type.__name__}, got {data!r}")
    return data


def _array_of(tagged, name):
    dtype, shape, data = tagged.get("dtype"), tagged.get("shape"), tagged["data"]
    if dtype not in _DTYPES:
        raise ValueError(f"corrupt model file: {name} has unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"corrupt model file: {name} has an invalid shape {shape!r}")
    items = [data] if shape == [] else data
    if not isinstance(items, list):
        raise ValueError(f"corrupt model file: {name} data is not a list")
    size = math.prod(shape)
    if len(items) != size:
        raise ValueError(f"corrupt model file: {name} has {len(items)} values for shape "
                         f"{shape} ({size} expected)")
    if dtype == "str":
        for item in items:
            if type(item) is not str:
                raise ValueError(f"corrupt model file: {name} (str) contains {item!r}")
        arr = np.empty(size, dtype=object)    # scikit-learn's type for names
        arr[:] = items
        return arr.reshape(shape)
    kind = np.dtype(dtype).kind
    # Exact item types: np.array would otherwise parse "1.5" or truncate 1.5 silently.
    allowed = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float)}[kind]
    for item in items:
        if type(item) not in allowed:
            raise ValueError(f"corrupt model file: {name} ({dtype}) contains {item!r}")
    try:
        arr = np.array(items, dtype=dtype)
    except OverflowError:
        raise ValueError(f"corrupt model file: {name} has values out of range for "
                         f"{dtype}") from None
    if kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"corrupt model file: {name} overflows {dtype}")
    return arr.reshape(shape)


def _check_fitted_shapes(fitted, n_components, covariance_type):
    """Shapes of the attributes predict needs, against n_components and d."""
    d = fitted["n_features_in_"]
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"corrupt model file: n_features_in_ = {d!r}")
    K = n_components
    cov_shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d),
                 "spherical": (K,)}.get(covariance_type)
    if cov_shape is None:
        raise ValueError(f"corrupt model file: covariance_type {covariance_type!r}")
    expected = {"weights_": (K,), "means_": (K, d), "covariances_": cov_shape,
                "precisions_": cov_shape, "precisions_cholesky_": cov_shape,
                "stds_": (K,)}
    for key, shape in expected.items():
        if key not in fitted:
            continue
        value = fitted[key]
        if not isinstance(value, np.ndarray) or value.shape != shape:
            got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"corrupt model file: {key} has shape {got}, expected "
                             f"{shape} for n_components={K}, n_features={d}, "
                             f"covariance_type={covariance_type!r}")
    weights = fitted["weights_"]
    if weights.min() < 0 or abs(weights.sum() - 1.0) > 1e-6:
        raise ValueError("corrupt model file: weights_ are not non-negative numbers "
                         "summing to 1")
    for key in ("covariances_", "precisions_"):
        arr = fitted[key]
        diagonal = arr if covariance_type in ("diag", "spherical") else \
            np.diagonal(arr, axis1=-2, axis2=-1)
        if not (diagonal > 0).all():
            raise ValueError(f"corrupt model file: {key} has non-positive variances")
