"""Writing fitted mixtures as versioned JSON (the format is described in
:mod:`cyem.io`, which re-exports these functions and reads the files back).

A module of its own below the estimator, so that ``GaussianMixture.save``
can write without importing :mod:`cyem.io`, which builds estimators when it
reads and so sits above them.
"""

import json
import math
import os
import uuid
from numbers import Integral, Real

import numpy as np

from ._version import __version__
from .exceptions import NotFittedError

__all__ = ["FORMAT", "VERSION", "dumps", "save", "to_dict"]

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


