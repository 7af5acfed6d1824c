"""Fuzzing the public entry points with hypothesis (issue 5).

The property, for every entry point: a call either succeeds with a valid,
finite result -- weights >= 0 summing to 1, finite means, positive finite
variances, a finite log-likelihood, predictions of the right shape -- or
raises ValueError or TypeError (with a message). Never another exception,
never NaN or inf in a parameter, never a NumPy RuntimeWarning (an overflow or
invalid value inside cyem, which is how a silent NaN starts: turned into an
error here), and a failed ``fit`` leaves a fresh estimator unfitted.

Inputs: arrays of any layout (1-D, a column, several columns, 0-d, 3-D,
lists, object and text arrays, non-contiguous, big-endian, float32, ints),
with NaN/inf, huge and tiny magnitudes, subnormals, heavy duplication and
n from 0 up; every constructor parameter valid or not (wrong types, values
out of range), initial parameters and sample weights valid or not.

Running
-------
By default each test runs ``50`` examples, derandomized (the same examples
on every run, so CI is reproducible) and without an example database. For a
longer, random search set the number of examples per test::

    CYEM_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py

(then hypothesis draws new examples on every run, keeps failing ones in its
database, and prints the seed and a reproducer for any failure). The settings
are applied per test, not as a global hypothesis profile, so they do not
change other test files.

Known bugs, excluded from the domain until they are fixed
----------------------------------------------------------
Each has a deterministic ``xfail(strict=True)`` test; widen the bound here
when the mark there is removed.

* ``DATA_LIMIT``, ``known_bug_far_start``: a starting mean more than ~1e150
  frame units (the data's half-range) from the data overflows in the M step
  (test_degenerate.py::test_far_starting_mean_recovers, and the cyem.em rows
  +-1e308 of ::test_data_whose_variance_overflows_is_clipped_with_warning_or_refused);
  such examples are rejected.
* ``known_bug_tiny_span``: data spanning less than ~1e-150 (not constant)
  with starting values or a reg_covar above ~1e6 overflows in the fit's frame
  (test_degenerate.py::test_tiny_span_with_large_variance,
  ::test_tiny_span_with_a_far_start); such examples are rejected.
  ``--n-samples`` <= ``CLI_MAX_SAMPLES`` only keeps the run short.
"""

import contextlib
import io
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import cyem
from cyem import GaussianMixture
from cyem import cli

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

_EXAMPLES = int(os.environ.get("CYEM_FUZZ_EXAMPLES", "0") or 0)
_settings = dict(
    max_examples=_EXAMPLES or 50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    print_blob=True,
)
if not _EXAMPLES:
    _settings.update(derandomize=True, database=None)
FUZZ = settings(**_settings)

# Domain bounds that keep known bugs out (see the module docstring).
DATA_LIMIT = 1e300
MAX_PRECISION = 1e150        # precisions_init: all that validation accepts
MIN_STD = 1e-150             # cyem.em stds: all that validation accepts
MAX_VARIANCE = 1e300         # reg_covar, 1 / precisions_init, stds**2
TINY_SPAN = 1e-140           # see known_bug_tiny_span
CLI_MAX_SAMPLES = 3_000

INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data", "quantile"]
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
ALLOWED_ERRORS = (ValueError, TypeError)
NAN, INF = float("nan"), float("inf")


# ---------------------------------------------------------------------------
# Strategies: data
# ---------------------------------------------------------------------------

SPECIAL_VALUES = [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 2.2250738585072014e-308,
                  1e-300, DATA_LIMIT, -DATA_LIMIT, 1e12, 1e12 + 0.5, 3.4e38]


@st.composite
def value_lists(draw, n):
    """n finite float values of one of several hostile kinds."""
    kind = draw(st.sampled_from(["wide", "normal", "duplicates", "tiny", "offset",
                                 "special"]))
    note(f"data kind: {kind}")
    if kind == "wide":
        elements = st.floats(-DATA_LIMIT, DATA_LIMIT, allow_nan=False)
    elif kind == "normal":
        elements = st.floats(-10, 10, allow_nan=False)
    elif kind == "duplicates":
        pool = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1,
                             max_size=3))
        elements = st.sampled_from(pool)
    elif kind == "tiny":
        elements = st.floats(-1e-290, 1e-290, allow_nan=False)   # subnormals too
    elif kind == "offset":
        elements = st.integers(-1000, 1000).map(lambda i: 1e12 + i * 1e-3)
    else:
        elements = st.sampled_from(SPECIAL_VALUES)
    return draw(st.lists(elements, min_size=n, max_size=n))


@st.composite
def arrays_1d(draw, corrupt=False, max_n=40, limit=None):
    """A float64 vector (n >= 1); when ``corrupt``, empty or holding a NaN or
    an infinity."""
    n = draw(st.integers(1, max_n))
    values = np.array(draw(value_lists(n)), dtype=np.float64)
    if limit is not None:
        values = np.clip(values, -limit, limit)
    if corrupt:
        if draw(st.integers(0, 4)) == 0:
            return values[:0]
        values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([NAN, INF, -INF]))
    return values


def as_layout(values, layout):
    """``values`` in one of the shapes/containers a user might pass."""
    n = values.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        if layout == "1d":
            return values
        if layout == "column":
            return values[:, None]
        if layout == "float32":       # finite values stay finite (clipped)
            f32 = float(np.finfo(np.float32).max)
            return np.where(np.isfinite(values), np.clip(values, -f32, f32),
                            values).astype(np.float32)
        if layout == "big-endian":
            return values.astype(">f8")
        if layout == "non-contiguous":
            return np.repeat(values, 2)[::2]
        if layout == "fortran-column":
            return np.asfortranarray(values[:, None])
        if layout == "list":
            return values.tolist()
        if layout == "int64":
            return np.nan_to_num(values, nan=0, posinf=0, neginf=0).clip(
                -2.0 ** 62, 2.0 ** 62).astype(np.int64)
        if layout == "bool":
            return values > 0
        if layout == "3d":
            return values.reshape(n, 1, 1)
        if layout == "0d":
            return np.float64(values[0] if n else 0.0)
        if layout == "object-with-none":
            obj = values.astype(object)
            if n:
                obj[0] = None
            return obj
        if layout == "text":
            return [str(v) for v in values]
        if layout == "complex":
            return values.astype(np.complex128)
        if layout == "none":
            return None
    raise AssertionError(layout)                      # pragma: no cover


FLOAT_LAYOUTS = ["1d", "column", "float32", "big-endian", "non-contiguous",
                 "fortran-column", "list"]
VALID_LAYOUTS = FLOAT_LAYOUTS + ["int64", "bool"]
# (n, 2) and (1, n) data are left out: multivariate data is a feature of the
# estimator, not an error
INVALID_LAYOUTS = ["3d", "0d", "object-with-none", "text", "complex", "none"]


@st.composite
def data_inputs(draw, corrupt=False, limit=None):
    """(X, n): valid data, or -- when ``corrupt`` -- invalid values or layout."""
    bad_values = corrupt and draw(st.booleans())
    values = draw(arrays_1d(corrupt=bad_values, limit=limit))
    if bad_values:      # layouts that keep the NaN/inf (not int or bool)
        layouts = FLOAT_LAYOUTS
    else:
        layouts = INVALID_LAYOUTS if corrupt else VALID_LAYOUTS
    layout = draw(st.sampled_from(layouts))
    note(f"layout: {layout}, n = {values.shape[0]}")
    return as_layout(values, layout), values.shape[0]


@st.composite
def sample_weights(draw, n, corrupt=False):
    if corrupt:
        kind = draw(st.sampled_from(["bad-scalar", "bad-values", "wrong-length",
                                     "all-zero", "text"]))
        if kind == "bad-scalar":
            return draw(st.sampled_from([0.0, -1.0, NAN, INF, "1"]))
        if kind == "wrong-length":
            return np.ones(n + draw(st.sampled_from([-1, 1, 5])))
        if kind == "all-zero":
            return np.zeros(n)
        if kind == "text":
            return ["1"] * n
        bad = draw(st.sampled_from([-1.0, NAN, INF]))
        w = np.ones(n)
        w[draw(st.integers(0, n - 1))] = bad
        return w
    kind = draw(st.sampled_from(["none", "none", "positive", "with-zeros", "scalar"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(st.sampled_from([1.0, 2.5, 7]))
    positive = st.floats(1e-3, 1e3)
    elements = positive if kind == "positive" else st.one_of(positive, st.just(0.0))
    return np.array(draw(st.lists(elements, min_size=n, max_size=n)))


# ---------------------------------------------------------------------------
# Strategies: hyper-parameters, each valid or not
# ---------------------------------------------------------------------------

# name: (strategy of valid values, invalid values)
CONSTRUCTOR_PARAMS = {
    "n_components": (st.integers(1, 4), [0, -1, 2.0, "2", None, True, 10 ** 20]),
    "covariance_type": (st.sampled_from(COVARIANCE_TYPES), ["FULL", "", None, 1]),
    "tol": (st.floats(0, 1), [-1e-3, NAN, INF, "1e-3", None, True]),
    "reg_covar": (st.floats(0, 10) | st.sampled_from([0.0, 1e-300, MAX_VARIANCE]),
                  [-1e-6, NAN, INF, None, "0"]),
    "max_iter": (st.integers(1, 30) | st.just(np.int32(5)), [0, -1, 2.5, None]),
    "n_init": (st.integers(1, 3), [0, -2, 1.0, None]),
    "init_params": (st.sampled_from(INIT_PARAMS), ["kmeans ", "KMEANS", None, 0]),
    "random_state": (st.one_of(st.none(), st.integers(0, 2 ** 32),
                               st.integers(0, 100).map(np.random.default_rng),
                               st.integers(0, 100).map(np.random.RandomState)),
                     [-1, 1.5, "0", object()]),
    "warm_start": (st.booleans(), ["yes", None, 2]),
    "verbose": (st.just(0), [-1, 0.5, None, "1"]),
    "verbose_interval": (st.integers(1, 20), [0, -5, 2.5]),
    "n_threads": (st.sampled_from([None, 1, 2, 8, 10 ** 6, -1, -2]),
                  [0, 1.5, "2", True]),
}


@st.composite
def initial_weights(draw, K, corrupt=False):
    w = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=K, max_size=K)))
    w = w / w.sum()
    if not corrupt:
        return w
    kind = draw(st.sampled_from(["unnormalised", "negative", "wrong-length", "nan",
                                 "empty", "text"]))
    return {"unnormalised": w * 2,
            "negative": np.r_[-0.5, w[1:] + 0.5 / max(K - 1, 1)] if K > 1 else [-1.0],
            "wrong-length": np.r_[w, 0.0], "nan": np.full(K, NAN),
            "empty": [], "text": "w"}[kind]


@st.composite
def initial_means(draw, K, corrupt=False):
    m = np.array(draw(st.lists(st.floats(-DATA_LIMIT, DATA_LIMIT, allow_nan=False) |
                               st.floats(-10, 10), min_size=K, max_size=K)))
    if corrupt:
        kind = draw(st.sampled_from(["wrong-length", "inf", "nan", "3d"]))
        return {"wrong-length": np.r_[m, 0.0], "inf": np.r_[INF, m[1:]],
                "nan": np.r_[m[:-1], NAN], "3d": m.reshape(K, 1, 1)}[kind]
    return m[:, None] if draw(st.booleans()) else m


@st.composite
def initial_precisions(draw, K, covariance_type, corrupt=False):
    n = 1 if covariance_type == "tied" else K
    p = np.array(draw(st.lists(st.floats(1 / MAX_VARIANCE, MAX_PRECISION),
                               min_size=n, max_size=n)))
    if corrupt:
        kind = draw(st.sampled_from(["zero", "negative", "huge", "tiny", "nan",
                                     "wrong-length"]))
        return {"zero": np.r_[0.0, p[1:]], "negative": -p, "huge": np.full(n, 1e200),
                "tiny": np.full(n, 1e-200), "nan": np.full(n, NAN),
                "wrong-length": np.r_[p, 1.0]}[kind]
    if draw(st.booleans()):
        return p
    shape = {"full": (n, 1, 1), "tied": (1, 1), "diag": (n, 1), "spherical": (n,)}
    return p.reshape(shape[covariance_type])


# What a fuzz example corrupts: nothing most of the time (so that fits
# happen and their results are checked), else exactly one kind of input, so
# that every error path is reached by otherwise valid calls.
CORRUPTIONS = ["nothing"] * 5 + ["data", "param", "initial values", "sample_weight"]


@st.composite
def estimator_params(draw, corrupt_param=False, corrupt_init=False):
    params = {name: draw(valid) for name, (valid, _) in CONSTRUCTOR_PARAMS.items()
              if draw(st.booleans())}
    params.setdefault("max_iter", draw(st.integers(1, 30)))   # keep fits short
    if corrupt_param:
        name = draw(st.sampled_from(sorted(CONSTRUCTOR_PARAMS)))
        params[name] = draw(st.sampled_from(CONSTRUCTOR_PARAMS[name][1]))
        note(f"invalid {name}={params[name]!r}")
        return params
    K = params.get("n_components", 1)
    ctype = params.get("covariance_type", "full")
    inits = {"weights_init": initial_weights, "means_init": initial_means,
             "precisions_init": lambda K, corrupt: initial_precisions(K, ctype, corrupt)}
    chosen = [name for name in inits if draw(st.integers(0, 3)) == 0]
    if corrupt_init:
        chosen = chosen or [draw(st.sampled_from(sorted(inits)))]
        bad = draw(st.sampled_from(chosen))
    else:
        bad = None
    for name in chosen:
        params[name] = draw(inits[name](K, corrupt=name == bad))
    return params


def _finite_values(X):
    try:
        values = np.asarray(X)
    except (TypeError, ValueError):
        return None
    if values.dtype.kind not in "biuf":
        return None
    values = values.astype(np.float64).ravel()
    return values[np.isfinite(values)]


def known_bug_far_start(X, means):
    """Starting means more than ~1e140 frame units (the data's half-range, or
    1 for constant data) from the data: the M step's ``sums * shift``
    overflows (test_degenerate.py::test_far_starting_mean_recovers)."""
    values = _finite_values(X)
    try:
        means = np.asarray(means, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return False
    if values is None or not values.size or not means.size:
        return False
    means = means[np.isfinite(means)]
    lo, hi = float(values.min()), float(values.max())
    half = 0.5 * hi - 0.5 * lo
    scale = 1.0 if half == 0 else min(max(half, 2.0 ** -500), 2.0 ** 500)
    mid = 0.5 * lo + 0.5 * hi
    with np.errstate(over="ignore"):
        return bool(means.size) and float(np.max(np.abs(means - mid)) / scale) > 1e140


def known_bug_tiny_span(X, has_start, reg_covar):
    """Data spanning less than ~1e-150 (but not constant) with starting values
    or a reg_covar above ~1e6: the fit's frame (cyem/_frame.py) clamps its
    scale at 2**-500 and overflows (test_degenerate.py::
    test_tiny_span_with_large_variance, ::test_tiny_span_with_a_far_start)."""
    values = _finite_values(X)
    if values is None:
        return False
    span = float(values.max() - values.min()) if values.size else 0.0
    big_reg = isinstance(reg_covar, float) and reg_covar > 1.0
    return 0.0 < span < TINY_SPAN and (has_start or big_reg)


# ---------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def numpy_warnings_are_errors():
    """Warnings from cyem (ConvergenceWarning, DegenerateComponentWarning,
    UserWarning) are allowed; a RuntimeWarning means an inf or NaN was made."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RuntimeWarning)
        yield


def assert_clear_error(exc):
    event(f"raised {type(exc).__name__}")    # see --hypothesis-show-statistics
    assert isinstance(exc, ALLOWED_ERRORS), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


def assert_valid_mixture(weights, means, K, variances=None):
    """Weights >= 0 summing to 1, finite means, positive finite variances."""
    weights, means = np.asarray(weights), np.asarray(means)
    assert weights.shape == (K,)
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0), weights
    assert math.isclose(weights.sum(), 1.0, abs_tol=1e-9), weights.sum()
    assert means.shape[0] == K and np.all(np.isfinite(means)), means
    if variances is not None:
        variances = np.asarray(variances)
        assert np.all(np.isfinite(variances)) and np.all(variances > 0), variances


def _positive_definite(cov, covariance_type):
    cov = np.asarray(cov)
    if covariance_type in ("full", "tied") and cov.ndim >= 2:
        mats = cov.reshape(-1, cov.shape[-1], cov.shape[-1])
        return all(np.all(np.linalg.eigvalsh(m) > 0) for m in mats)
    return bool(np.all(cov > 0))


def assert_fitted_estimator(model, K, max_iter):
    """The fitted attributes of scikit-learn's contract, valid and finite."""
    means = np.asarray(model.means_)
    assert means.ndim == 2 and means.shape[0] == K
    assert_valid_mixture(model.weights_, means, K)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        value = np.asarray(getattr(model, name))
        assert np.all(np.isfinite(value)), (name, value)
        if name != "precisions_cholesky_":
            assert _positive_definite(value, model.covariance_type), (name, value)
    assert math.isfinite(model.lower_bound_), model.lower_bound_
    assert 1 <= model.n_iter_ <= max_iter
    assert isinstance(model.converged_, bool)


def assert_predictions(model, X, n, K):
    labels = model.predict(X)
    resp = model.predict_proba(X)
    log_lik = model.score_samples(X)
    assert labels.shape == (n,) and np.all((labels >= 0) & (labels < K))
    assert resp.shape == (n, K) and np.all(np.isfinite(resp)) and np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-9)
    assert log_lik.shape == (n,) and not np.any(np.isnan(log_lik))
    assert np.all(log_lik < np.inf)


# ---------------------------------------------------------------------------
# Entry point: GaussianMixture
# ---------------------------------------------------------------------------

@FUZZ
@given(corruption=st.sampled_from(CORRUPTIONS), st_data=st.data())
def test_fuzz_estimator_fit(corruption, st_data):
    draw = st_data.draw
    params = draw(estimator_params(corrupt_param=corruption == "param",
                                   corrupt_init=corruption == "initial values"),
                  label="params")
    X, n = draw(data_inputs(corrupt=corruption == "data"), label="X, n")
    has_start = any(name.endswith("_init") for name in params)
    assume(not known_bug_tiny_span(X, has_start, params.get("reg_covar")))
    assume(not known_bug_far_start(X, params.get("means_init", [])))
    sample_weight = draw(sample_weights(n, corrupt=corruption == "sample_weight"),
                         label="sample_weight")
    method = draw(st.sampled_from(["fit", "fit_predict"]), label="method")
    model = GaussianMixture(**params)
    with numpy_warnings_are_errors():
        try:
            out = getattr(model, method)(X, sample_weight=sample_weight)
        except Exception as exc:      # noqa: BLE001 - the property is about it
            assert_clear_error(exc)
            leftovers = [k for k in vars(model) if k.endswith("_")]
            assert not leftovers, f"failed fit left fitted attributes {leftovers}"
            return
        # an invalid input must not be accepted silently
        assert corruption == "nothing", f"invalid {corruption} was accepted"
        event("fitted")
        K = model.weights_.shape[0]
        assert K == params.get("n_components", 1)
        assert_fitted_estimator(model, K, params["max_iter"])
        if method == "fit_predict":
            assert out.shape == (n,) and np.all((out >= 0) & (out < K))
        # a fitted model predicts finite answers on the data it was fitted to
        assert_predictions(model, X, n, K)
        samples, labels = model.sample(5)
        assert samples.shape[0] == 5 and np.all(np.isfinite(samples))
        for score in (model.score(X), model.bic(X), model.aic(X)):
            assert math.isfinite(score)


# ---------------------------------------------------------------------------
# Entry point: the predict family and sample on a fitted model
# ---------------------------------------------------------------------------

_FITTED = {}


def fitted_model(covariance_type):
    if covariance_type not in _FITTED:
        rng = np.random.default_rng(0)
        x = np.concatenate([rng.normal(-5, 1, 300), rng.normal(4, 2, 300),
                            np.full(50, 10.0)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[covariance_type] = GaussianMixture(
                3, covariance_type=covariance_type, random_state=0).fit(x)
    return _FITTED[covariance_type]


@FUZZ
@given(corrupt=st.sampled_from([False, False, False, True]),
       covariance_type=st.sampled_from(COVARIANCE_TYPES),
       method=st.sampled_from(["predict", "predict_proba", "score_samples", "score",
                               "bic", "aic"]),
       st_data=st.data())
def test_fuzz_predict_family(corrupt, covariance_type, method, st_data):
    X, n = st_data.draw(data_inputs(corrupt=corrupt), label="X, n")
    model = fitted_model(covariance_type)
    before = {k: np.copy(v) for k, v in vars(model).items() if k.endswith("_")}
    with numpy_warnings_are_errors():
        try:
            out = getattr(model, method)(X)
        except Exception as exc:      # noqa: BLE001
            assert_clear_error(exc)
            assert corrupt, f"valid X rejected: {exc}"
        else:
            assert not corrupt, "invalid X accepted"
            out = np.asarray(out)
            assert not np.any(np.isnan(out)) and np.all(out < np.inf), out
            if method == "predict_proba":
                assert out.shape == (n, 3) and np.all(np.isfinite(out))
                np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)
            elif method in ("predict", "score_samples"):
                assert out.shape == (n,)
    for key, value in before.items():     # predicting never changes the model
        np.testing.assert_array_equal(getattr(model, key), value)


@FUZZ
@given(n_samples=st.one_of(st.integers(-3, 2_000),
                           st.sampled_from([0, 1.0, "5", None, True, np.int64(7)])),
       covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_fuzz_sample(n_samples, covariance_type):
    model = fitted_model(covariance_type)
    try:
        X, y = model.sample(n_samples)
    except Exception as exc:          # noqa: BLE001
        assert_clear_error(exc)
        return
    assert X.shape == (int(n_samples), 1) and np.all(np.isfinite(X))
    assert y.shape == (int(n_samples),) and np.all((y >= 0) & (y < 3))


# ---------------------------------------------------------------------------
# Entry point: cyem.em
# ---------------------------------------------------------------------------

EM_PARAMS = {
    "tied": (st.booleans(), [0, "no", None]),
    "tol": CONSTRUCTOR_PARAMS["tol"],
    "reg_covar": CONSTRUCTOR_PARAMS["reg_covar"],
    "max_iter": (st.integers(1, 30), [0, -1, 2.5, None]),
    "n_threads": CONSTRUCTOR_PARAMS["n_threads"],
}


@st.composite
def em_arguments(draw, corrupt_param=False, corrupt_start=False):
    """(weights, means, stds, kwargs) for cyem.em."""
    K = draw(st.integers(1, 4))
    start = {"weights": initial_weights, "means": initial_means,
             "stds": lambda K, corrupt: em_stds(K, corrupt)}
    bad = draw(st.sampled_from(sorted(start))) if corrupt_start else None
    weights, means, stds = (draw(start[name](K, corrupt=name == bad))
                            for name in ("weights", "means", "stds"))
    kwargs = {name: draw(valid) for name, (valid, _) in EM_PARAMS.items()
              if draw(st.booleans())}
    kwargs.setdefault("max_iter", draw(st.integers(1, 30)))
    if corrupt_param:
        name = draw(st.sampled_from(sorted(EM_PARAMS)))
        kwargs[name] = draw(st.sampled_from(EM_PARAMS[name][1]))
        note(f"invalid {name}={kwargs[name]!r}")
    return weights, means, stds, kwargs


@st.composite
def em_stds(draw, K, corrupt=False):
    if corrupt:
        return draw(st.sampled_from([[0.0] * K, [-1.0] * K, [NAN] * K, [1e-200] * K,
                                     [1e200] * K, [1.0] * (K + 1), None, "1"]))
    return draw(st.lists(st.floats(MIN_STD, MAX_VARIANCE ** 0.5), min_size=K, max_size=K))


@FUZZ
@given(corruption=st.sampled_from(CORRUPTIONS), st_data=st.data())
def test_fuzz_em(corruption, st_data):
    draw = st_data.draw
    X, n = draw(data_inputs(corrupt=corruption == "data"), label="x, n")
    weights, means, stds, kwargs = draw(
        em_arguments(corrupt_param=corruption == "param",
                     corrupt_start=corruption == "initial values"), label="start, kwargs")
    assume(not known_bug_tiny_span(X, True, kwargs.get("reg_covar")))
    assume(not known_bug_far_start(X, means))
    sample_weight = draw(sample_weights(n, corrupt=corruption == "sample_weight"),
                         label="sample_weight")
    with numpy_warnings_are_errors():
        try:
            res = cyem.em(X, weights, means, stds, sample_weight=sample_weight, **kwargs)
        except Exception as exc:      # noqa: BLE001
            assert_clear_error(exc)
            return
    assert corruption == "nothing", f"invalid {corruption} was accepted"
    event("fitted")
    K = np.asarray(res.weights).shape[0]
    assert_valid_mixture(res.weights, res.means, K, variances=np.asarray(res.stds) ** 2)
    assert math.isfinite(res.log_likelihood), res.log_likelihood
    assert np.all(np.isfinite(res.history))
    assert 1 <= res.n_iter <= kwargs["max_iter"] and len(res.history) == res.n_iter


# ---------------------------------------------------------------------------
# Entry point: the command line
# ---------------------------------------------------------------------------

def run_cli(argv):
    """``cyem`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exc:     # argparse: --help, usage errors
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()


_CLI_TOKENS = st.one_of(
    st.sampled_from(["demo", "info", "--n-samples", "--seed", "-h", "--bogus", "",
                     "demo", "demo"]),
    st.integers(-3, CLI_MAX_SAMPLES).map(str),
    st.integers(0, 2 ** 70).map(str),
    st.sampled_from(["abc", "1e3", "2.5", "-1", "--n-samples=5", "--seed=3"]),
)


@FUZZ
@given(argv=st.lists(_CLI_TOKENS, max_size=5))
def test_fuzz_cli(argv):
    # a known bug kept out: a negative --seed (see below)
    for flag, value in zip(argv, argv[1:]):
        if flag == "--seed" and value.lstrip("-").isdigit() and int(value) < 0:
            return
        if flag == "--n-samples" and value.lstrip("-").isdigit() \
                and int(value) > CLI_MAX_SAMPLES:
            return                            # only to keep the run short
    if any(a.startswith("--seed=-") for a in argv):
        return
    with numpy_warnings_are_errors():
        status, out, err = run_cli(argv)
    # 0 success, 1 an input error, 2 a malformed command line
    assert status in (0, 1, 2), (status, err)
    assert "Traceback" not in out + err
    if status:
        assert "cyem: error:" in err or "usage" in (out + err).lower(), (out, err)
        assert "internal error" not in err, err


def test_cli_negative_seed_is_a_clear_error():
    status, out, err = run_cli(["demo", "--seed", "-1", "--n-samples", "50"])
    assert status in (1, 2)
    assert "Traceback" not in err
    assert "seed" in err


def test_cli_huge_n_samples_is_a_clear_error():
    """Once a NumPy MemoryError traceback ('Unable to allocate 7.1 PiB')."""
    try:
        status, out, err = run_cli(["demo", "--n-samples", str(10 ** 15)])
    except MemoryError as exc:
        pytest.fail(f"MemoryError escaped the CLI: {exc}")
    assert status != 0
    assert "Traceback" not in err
    assert "n-samples" in err or "memory" in err.lower()
