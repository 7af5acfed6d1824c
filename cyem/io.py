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
import uuid
from numbers import Integral, Real

import numpy as np

from ._version import __version__

__all__ = ["FORMAT", "VERSION", "dumps", "load", "save"]

FORMAT = "cyem-gaussian-mixture"
VERSION = 2

_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                     "uint32", "uint64", "float32", "float64", "str"})

#: Keys of the "training" object, in the order they are written.
_TRAINING_KEYS = ("columns", "n_samples", "total_weight", "log_likelihood",
                  "n_parameters", "bic", "aic")

#: Fitted attributes a usable model must have.
_REQUIRED_FITTED = ("weights_", "means_", "covariances_", "precisions_",
                    "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_",
                    "n_features_in_")


# ---- writing --------------------------------------------------------------------

def _encode(value, name):
    """A tagged JSON value for ``value``; TypeError if it has no JSON form."""
    if isinstance(value, (bool, np.bool_)) and not isinstance(value, np.ndarray):
        if isinstance(value, np.bool_):
            return {"type": "scalar", "dtype": "bool", "shape": [], "data": bool(value)}
        return {"type": "bool", "data": value}
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        return {"type": "scalar", "dtype": _dtype_name(arr, name), "shape": [],
                "data": _finite(arr.item(), name)}
    if isinstance(value, Integral):
        return {"type": "int", "data": int(value)}
    if isinstance(value, Real):
        return {"type": "float", "data": _finite(float(value), name)}
    if isinstance(value, np.ndarray):
        return {"type": "ndarray", "dtype": _dtype_name(value, name),
                "shape": list(value.shape), "data": _flat(value, name)}
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: a list of {arr.dtype} cannot be saved")
        return {"type": "list", "dtype": _dtype_name(arr, name), "shape": list(arr.shape),
                "data": _flat(arr, name)}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"type": "dict", "data": {k: _encode(v, f"{name}[{k!r}]")
                                         for k, v in value.items()}}
    raise TypeError(f"{name}: a {type(value).__name__} cannot be saved as JSON")


def _dtype_name(arr, name):
    if arr.dtype.kind == "U" or (arr.dtype.kind == "O" and arr.size
                                 and all(isinstance(item, str) for item in arr.flat)):
        return "str"                  # names, e.g. feature_names_in_
    dtype = arr.dtype.newbyteorder("=").name if arr.dtype.byteorder not in "=|" \
        else arr.dtype.name
    if dtype not in _DTYPES:
        raise TypeError(f"{name}: dtype {arr.dtype} cannot be saved")
    return dtype


def _finite(x, name):
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{name} contains {x}: only finite numbers can be saved")
    return x


def _flat(arr, name):
    data = arr.ravel(order="C").tolist()       # Python bool/int/float, exact
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity: only finite numbers can "
                         "be saved")
    return data


def _encode_param(value, name):
    """Plain JSON for None/bool/int/float/str parameters, tagged otherwise."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (Integral, Real)) and not isinstance(value, np.generic):
        return _finite(value, name)
    return _encode(value, name)


def to_dict(model, *, X=None, sample_weight=None, columns=None):
    """The JSON-ready dict :func:`save` writes (see the module docstring).

    Parameters
    ----------
    model : fitted cyem.GaussianMixture
    X, sample_weight, columns : optional
        As in :func:`save`: what goes into the ``"training"`` object.

    Returns
    -------
    document : dict

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.io import to_dict
    >>> x = np.random.default_rng(0).normal(size=200)
    >>> gm = cyem.GaussianMixture(n_components=1).fit(x)
    >>> doc = to_dict(gm, X=x, columns=["x"])
    >>> doc["version"], doc["training"]["columns"], doc["training"]["n_samples"]
    (2, ['x'], 200)
    """
    if not hasattr(model, "means_"):
        from .exceptions import NotFittedError
        raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet; "
                             "only fitted models can be saved")
    params, dropped = {}, []
    for key, value in model.get_params(deep=False).items():
        try:
            params[key] = _encode_param(value, f"parameter {key}")
        except TypeError:
            params[key] = None
            dropped.append(key)
    fitted = {key: _encode(value, key) for key, value in sorted(vars(model).items())
              if key.endswith("_") and not key.startswith("_")}
    return {"format": FORMAT, "version": VERSION, "cyem_version": __version__,
            "params": params, "dropped_params": dropped,
            "training": _training(model, X, sample_weight, columns), "fitted": fitted}


def _training(model, X, sample_weight, columns):
    """The "training" object: what the model was fitted to, or None."""
    if columns is None:
        columns = getattr(model, "feature_names_in_", None)
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        if not all(isinstance(c, str) for c in columns) \
                or len(columns) != model.n_features_in_:
            raise ValueError(f"columns must be {model.n_features_in_} name(s) (str), one "
                             f"per feature of the model; got {columns!r}")
    if X is None:
        if sample_weight is not None:
            raise ValueError("sample_weight was given without X")
        return None if columns is None else dict(dict.fromkeys(_TRAINING_KEYS),
                                                 columns=columns)
    log_lik = model.score_samples(X)
    if sample_weight is None:
        total_weight, total_log_lik = float(log_lik.size), float(log_lik.sum())
    else:
        weight = np.asarray(sample_weight, dtype=float)
        total_weight, total_log_lik = float(weight.sum()), float(weight @ log_lik)
    return {"columns": columns, "n_samples": int(log_lik.size),
            "total_weight": _finite(total_weight, "total_weight"),
            "log_likelihood": _finite(total_log_lik, "log_likelihood"),
            "n_parameters": int(model._n_parameters()),
            "bic": _finite(float(model.bic(X, sample_weight=sample_weight)), "bic"),
            "aic": _finite(float(model.aic(X, sample_weight=sample_weight)), "aic")}


def _dumps(document):
    """JSON text with one line per top-level key and per fitted attribute."""
    def dump(value):
        return json.dumps(value, allow_nan=False)

    lines = []
    for key, value in document.items():
        if key == "fitted":
            inner = [f'  {dump(k)}: {dump(v)}' for k, v in value.items()]
            lines.append(f' {dump(key)}: {{\n' + ",\n".join(inner) + "\n }")
        else:
            lines.append(f" {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def dumps(model, *, X=None, sample_weight=None, columns=None):
    """The JSON text :func:`save` writes, as a string (for stdout, a database...).

    Parameters
    ----------
    model : fitted cyem.GaussianMixture
    X, sample_weight, columns : optional
        As in :func:`save`.

    Returns
    -------
    text : str

    Examples
    --------
    >>> import json
    >>> import numpy as np, cyem
    >>> x = np.random.default_rng(0).normal(size=100)
    >>> gm = cyem.GaussianMixture(n_components=1).fit(x)
    >>> json.loads(cyem.io.dumps(gm, X=x))["training"]["n_samples"]
    100
    """
    return _dumps(to_dict(model, X=X, sample_weight=sample_weight, columns=columns))


def save(model, path, *, X=None, sample_weight=None, columns=None):
    """Write a fitted mixture to ``path`` as JSON (format: see :mod:`cyem.io`).

    Parameters
    ----------
    model : fitted cyem.GaussianMixture
    path : str or os.PathLike
        Written atomically: a partial file never replaces an existing one.
    X : array-like of shape (n_samples,) or (n_samples, n_features), optional
        The data the model was fitted to: the file's ``"training"`` object
        then records n, the log-likelihood, the number of parameters, BIC
        and AIC. Informative only: :func:`load` does not need it.
    sample_weight : array-like of shape (n_samples,), optional
        The weights of the fit (n in the BIC is then their sum).
    columns : list of str, optional
        One name per feature, recorded as ``"columns"`` (default: the
        model's ``feature_names_in_`` if it has them).

    Notes
    -----
    Constructor parameters that have no JSON form (``random_state`` given as
    a numpy Generator or RandomState) are saved as None and listed under
    ``"dropped_params"`` in the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, cyem
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
    >>> cyem.save(gm, path, X=x, columns=["height"])
    >>> same = cyem.load(path)
    >>> np.array_equal(same.covariances_, gm.covariances_), same.get_params() == gm.get_params()
    (True, True)
    """
    text = dumps(model, X=X, sample_weight=sample_weight, columns=columns)
    path = os.fspath(path)
    # A new file beside the target (so the rename is atomic), created with
    # the umask's permissions, as open() would (mkstemp would make it 0600).
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        handle = open(tmp, "x", encoding="utf-8")
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write there ({exc.strerror})", path) from None
    try:
        with handle:
            handle.write(text)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    from .mixture import GaussianMixture

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
