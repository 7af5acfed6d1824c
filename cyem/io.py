"""Saving and loading fitted mixtures as JSON, without pickle.

``save(model, path)`` writes a fitted :class:`cyem.GaussianMixture`;
``load(path)`` reads it back. Loading never executes code from the file (unlike
pickle), and the round trip is exact: every float is written with Python's
shortest repr, which reads back to the same bits.

File format, version 1
----------------------
A UTF-8 JSON object::

    {
      "format": "cyem-gaussian-mixture",
      "version": 1,
      "cyem_version": "0.1.0",          # informative only
      "params": {...},                  # constructor parameters
      "dropped_params": [...],          # parameters that could not be stored
      "fitted": {...}                   # fitted attributes
    }

``params`` maps each constructor parameter to a JSON value (null, true/false,
a number or a string) or, for an array, a list or a dict, a tagged value as
below. A parameter that cannot be written as JSON (``random_state`` given as
a numpy Generator, say) is stored as null and named in ``dropped_params``.

``fitted`` maps every fitted attribute (the names ending in ``_``: ``weights_``,
``means_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``, ``converged_``, ``n_iter_``,
``lower_bound_``, ``lower_bounds_``, ``n_features_in_``, ``stds_``, ...) to a tagged value::

    {"type": "ndarray", "dtype": "float64", "shape": [2, 1, 1], "data": [...]}
    {"type": "scalar",  "dtype": "float64", "shape": [], "data": -2.93}   # numpy scalar
    {"type": "float" | "int" | "bool", "data": ...}                       # Python scalar
    {"type": "list",    "dtype": "float64", "shape": [n], "data": [...]}  # Python list
    {"type": "dict",    "data": {key: tagged value, ...}}

``data`` holds the values in C order, flattened. dtypes are bool, int8 to
int64, uint8 to uint64, float32 and float64. NaN and infinities are not
allowed anywhere (a fitted model has none). Readers refuse a ``version``
newer than theirs; a later version will only add keys.
"""

import json
import math
import os
import uuid
from numbers import Integral, Real

import numpy as np

from ._version import __version__

__all__ = ["FORMAT", "VERSION", "load", "save"]

FORMAT = "cyem-gaussian-mixture"
VERSION = 1

_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                     "uint32", "uint64", "float32", "float64"})

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


def to_dict(model):
    """The JSON-ready dict :func:`save` writes (see the module docstring)."""
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
            "params": params, "dropped_params": dropped, "fitted": fitted}


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


def save(model, path):
    """Write a fitted mixture to ``path`` as JSON (format: see :mod:`cyem.io`).

    Parameters
    ----------
    model : fitted cyem.GaussianMixture
    path : str or os.PathLike
        Written atomically: a partial file never replaces an existing one.

    Notes
    -----
    Constructor parameters that have no JSON form (``random_state`` given as
    a numpy Generator or RandomState) are saved as None and listed under
    ``"dropped_params"`` in the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, cyem
    >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(
    ...     np.random.default_rng(0).normal(size=500))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
    >>> cyem.save(gm, path)
    >>> same = cyem.load(path)
    >>> np.array_equal(same.covariances_, gm.covariances_), same.get_params() == gm.get_params()
    (True, True)
    """
    text = _dumps(to_dict(model))
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
    for key, value in fitted.items():
        setattr(model, key, value)
    return model


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
