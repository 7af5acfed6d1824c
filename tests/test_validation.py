"""Bad-input matrix for the public API, and the inputs that must be accepted.

Every rejected input must raise the right exception type with a message that
names the offending argument; every accepted variant of an array (strided,
Fortran-ordered, big-endian, read-only, integer, list, column) must give
bit-for-bit the fit of a plain contiguous float64 copy, and must be left as
the caller passed it.
"""

import copy
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import cyem
from cyem import ConvergenceWarning, GaussianMixture, NotFittedError

N = 300
METHODS_TAKING_X = ("predict", "predict_proba", "score_samples", "score", "bic", "aic")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "quantile")


def _two_groups():
    """Integer-valued float64 data in two groups, so that every integer and
    float32 view of it holds exactly the same values."""
    rng = np.random.default_rng(12345)
    x = np.concatenate([rng.normal(-4.0, 1.0, N // 2), rng.normal(3.0, 1.5, N - N // 2)])
    return np.round(8.0 * x)


X = _two_groups()
X.flags.writeable = False      # a test that writes to the shared data fails loudly


def names(argument):
    """``match`` pattern: the message names ``argument`` as a word.

    A one-letter name (``X``, ``x``) must open the message: anywhere else it
    could be an unrelated word (``sample_weight ... to match X``).
    """
    if len(argument) == 1:
        return rf"^{argument}\b"
    return rf"\b{re.escape(argument)}\b"


def cases(table):
    """Rows ``(id, *values)`` as ``pytest.param`` objects (ready ones pass through)."""
    return [pytest.param(*row[1:], id=row[0]) if type(row) is tuple else row
            for row in table]


def row_ids(table):
    """Readable test ids for rows ``(argument, value, ...)``: ``argument=value``."""
    def short(value):
        if isinstance(value, np.ndarray):
            return f"{value.dtype}{list(value.shape)}"
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
    return [f"{row[0]}={short(row[1])}" + ("" if len(row) < 4 else f"-{row[2]}")
            for row in table]


def fit_quietly(model, *args, **kwargs):
    """``model.fit`` with convergence warnings silenced (small max_iter in tests)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def fitted():
    return GaussianMixture(2, random_state=0).fit(X)


def fitted_state(model):
    return (model.weights_, model.means_, model.covariances_, model.precisions_,
            model.lower_bound_, model.n_iter_)


def assert_same_fit(model, reference):
    """The fitted parameters are bit-for-bit those of ``reference``."""
    np.testing.assert_array_equal(model.weights_, reference.weights_)
    np.testing.assert_array_equal(model.means_, reference.means_)
    np.testing.assert_array_equal(model.covariances_, reference.covariances_)
    assert model.lower_bound_ == reference.lower_bound_
    assert model.n_iter_ == reference.n_iter_


# ---------------------------------------------------------------------------
# GaussianMixture: constructor parameters, checked at fit time
# ---------------------------------------------------------------------------

BAD_CONSTRUCTOR_PARAMS = [
    # (parameter, value, exception)
    ("n_components", 0, ValueError),
    ("n_components", -1, ValueError),
    ("n_components", 2.5, TypeError),
    ("n_components", 2.0, TypeError),
    ("n_components", np.float64(2.0), TypeError),
    ("n_components", True, TypeError),
    ("n_components", np.bool_(True), TypeError),
    ("n_components", "2", TypeError),
    ("n_components", None, TypeError),
    ("n_components", [2], TypeError),
    ("covariance_type", "bogus", ValueError),
    ("covariance_type", "FULL", ValueError),
    ("covariance_type", None, ValueError),
    ("covariance_type", 1, ValueError),
    ("tol", -1e-3, ValueError),
    ("tol", float("nan"), ValueError),
    ("tol", float("inf"), ValueError),
    ("tol", "1e-3", TypeError),
    ("tol", None, TypeError),
    ("tol", True, TypeError),
    ("tol", 1e-3 + 0j, TypeError),
    ("reg_covar", -1e-6, ValueError),
    ("reg_covar", float("inf"), ValueError),
    ("reg_covar", float("nan"), ValueError),
    ("reg_covar", "0", TypeError),
    ("max_iter", 0, ValueError),
    ("max_iter", -5, ValueError),
    ("max_iter", "10", TypeError),
    ("max_iter", 10.0, TypeError),
    ("max_iter", False, TypeError),
    ("n_init", 0, ValueError),
    ("n_init", -1, ValueError),
    ("n_init", 1.5, TypeError),
    ("n_init", "1", TypeError),
    ("init_params", "bogus", ValueError),
    ("init_params", None, ValueError),
    ("init_params", "KMEANS", ValueError),
    ("verbose", -1, ValueError),
    ("verbose", "yes", TypeError),
    ("verbose_interval", 0, ValueError),
    ("verbose_interval", 2.5, TypeError),
    ("warm_start", "yes", TypeError),
    ("warm_start", 1, TypeError),
    ("warm_start", None, TypeError),
    ("n_threads", 0, ValueError),
    ("n_threads", 1.5, TypeError),
    ("n_threads", "2", TypeError),
    ("n_threads", True, TypeError),
    ("random_state", "seed", TypeError),
    ("random_state", 1.5, TypeError),
    ("random_state", True, TypeError),
    ("random_state", [0, 1], TypeError),
    ("random_state", -1, ValueError),
]


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
@pytest.mark.parametrize("param, value, exc", BAD_CONSTRUCTOR_PARAMS,
                         ids=row_ids(BAD_CONSTRUCTOR_PARAMS))
def test_bad_constructor_parameter_is_rejected_at_fit(param, value, exc, method):
    model = GaussianMixture(**{"n_components": 2, param: value})
    assert model.get_params()[param] is value       # __init__ stores, never checks
    with pytest.raises(exc, match=names(param)):
        getattr(model, method)(X)
    assert not hasattr(model, "means_")


def test_failed_refit_keeps_the_previous_fit():
    model = GaussianMixture(2, random_state=0).fit(X)
    before = copy.deepcopy(fitted_state(model))
    model.set_params(max_iter=0)
    with pytest.raises(ValueError, match=names("max_iter")):
        model.fit(X)
    for old, new in zip(before, fitted_state(model)):
        np.testing.assert_array_equal(new, old)


@pytest.mark.parametrize("data, n_components, sample_weight", [
    ([1.0, 1.0, 2.0, 2.0], 3, None),
    ([5.0] * 10, 2, None),
    ([1.0, 2.0, 3.0, 4.0], 5, None),            # more components than samples
    ([1.0, 2.0, 3.0, 4.0], 10**12, None),       # must not try to allocate 10**12 slots
    ([1.0, 2.0, 3.0, 4.0], 2, [1.0, 0.0, 0.0, 0.0]),   # one value with positive weight
    ([1.0, 2.0, 1.0, 2.0], 2, [1.0, 0.0, 3.0, 0.0]),
])
def test_n_components_above_the_number_of_distinct_values(data, n_components,
                                                          sample_weight):
    with pytest.raises(ValueError, match=names("n_components")):
        GaussianMixture(n_components).fit(data, sample_weight=sample_weight)


def test_n_components_equal_to_the_number_of_distinct_values_is_accepted():
    model = GaussianMixture(2, random_state=0).fit([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(np.sort(model.means_.ravel()), [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(model.weights_, [0.5, 0.5], atol=1e-9)


def test_warm_start_with_another_n_components_names_it():
    model = GaussianMixture(2, warm_start=True, random_state=0).fit(X)
    model.set_params(n_components=3)
    with pytest.raises(ValueError, match=names("n_components")):
        model.fit(X)


# ---------------------------------------------------------------------------
# GaussianMixture: initial parameters
# ---------------------------------------------------------------------------

BAD_INITIAL_PARAMS = [
    # (parameter, value, covariance_type, exception); n_components is 2
    ("weights_init", [1.0], "full", ValueError),
    ("weights_init", [0.2, 0.3, 0.5], "full", ValueError),
    ("weights_init", [[0.5, 0.5]], "full", ValueError),
    ("weights_init", [], "full", ValueError),
    ("weights_init", 1.0, "full", ValueError),
    ("weights_init", [-0.5, 1.5], "full", ValueError),
    ("weights_init", [0.4, 0.5], "full", ValueError),          # sums to 0.9
    ("weights_init", [0.6, 0.6], "full", ValueError),          # sums to 1.2
    ("weights_init", [0.0, 0.0], "full", ValueError),
    ("weights_init", [np.nan, 0.5], "full", ValueError),
    ("weights_init", [np.inf, 0.5], "full", ValueError),
    ("weights_init", ["a", "b"], "full", TypeError),
    ("weights_init", "ab", "full", TypeError),
    ("weights_init", [0.5 + 0j, 0.5], "full", TypeError),
    ("weights_init", [[0.5], [0.2, 0.3]], "full", ValueError),  # ragged
    ("means_init", [0.0], "full", ValueError),
    ("means_init", [0.0, 1.0, 2.0], "full", ValueError),
    ("means_init", [[0.0, 1.0], [2.0, 3.0]], "full", ValueError),  # (K, 2)
    ("means_init", [[[0.0]], [[1.0]]], "full", ValueError),       # (K, 1, 1)
    ("means_init", [np.nan, 1.0], "full", ValueError),
    ("means_init", [-np.inf, 1.0], "full", ValueError),
    ("means_init", ["0", "1"], "full", TypeError),
    ("means_init", [0j, 1.0], "full", TypeError),
    ("precisions_init", [[1.0], [1.0]], "spherical", ValueError),   # spherical: (K,) only
    ("precisions_init", [1.0, 1.0, 1.0], "full", ValueError),
    ("precisions_init", [[1.0, 1.0]], "full", ValueError),
    ("precisions_init", [[[1.0, 1.0]], [[1.0, 1.0]]], "full", ValueError),
    ("precisions_init", [[1.0], [1.0], [1.0]], "diag", ValueError),
    ("precisions_init", [1.0, 1.0], "tied", ValueError),          # tied: one value
    ("precisions_init", [[1.0, 1.0]], "tied", ValueError),
    ("precisions_init", [1.0, 0.0], "full", ValueError),
    ("precisions_init", [1.0, -2.0], "diag", ValueError),
    ("precisions_init", [[0.0]], "tied", ValueError),
    ("precisions_init", -1.0, "tied", ValueError),
    ("precisions_init", [1.0, np.nan], "spherical", ValueError),
    ("precisions_init", [1.0, np.inf], "full", ValueError),
    ("precisions_init", [1.0, 1e-320], "full", ValueError),  # 1 / p overflows to inf
    ("precisions_init", [1.0, 1e308], "full", ValueError),   # 1 / p is subnormal
    ("precisions_init", ["1", "1"], "full", TypeError),
    ("precisions_init", [1.0 + 1j, 1.0], "full", TypeError),
]


@pytest.mark.parametrize("param, value, covariance_type, exc", BAD_INITIAL_PARAMS,
                         ids=row_ids(BAD_INITIAL_PARAMS))
def test_bad_initial_parameter(param, value, covariance_type, exc):
    model = GaussianMixture(2, covariance_type=covariance_type, **{param: value})
    with pytest.raises(exc, match=names(param)):
        model.fit(X)
    assert not hasattr(model, "means_")


@pytest.mark.parametrize("covariance_type, precisions", [
    ("full", [[[0.5]], [[0.25]]]),
    ("full", [0.5, 0.25]),
    ("diag", [[0.5], [0.25]]),
    ("diag", [0.5, 0.25]),
    ("spherical", [0.5, 0.25]),
    ("tied", [[0.5]]),
    ("tied", [0.5]),
    ("tied", 0.5),
])
def test_every_documented_precisions_shape_is_accepted(covariance_type, precisions):
    """Each shape gives the same fit as the flat form it stands for."""
    flat = np.ravel(precisions)
    if covariance_type == "tied":
        flat = flat[:1]
    kwargs = dict(covariance_type=covariance_type, weights_init=[0.5, 0.5],
                  means_init=[-30.0, 25.0], max_iter=3, tol=0)
    model = fit_quietly(GaussianMixture(2, precisions_init=precisions, **kwargs), X)
    reference = fit_quietly(GaussianMixture(2, precisions_init=flat, **kwargs), X)
    assert_same_fit(model, reference)


# ---------------------------------------------------------------------------
# GaussianMixture: X and sample_weight given to fit
# ---------------------------------------------------------------------------

def _with_value(value, index):
    x = X.copy()
    x[index] = value
    return x


BAD_X = [
    # (id, X, exception)
    ("None", None, TypeError),
    ("string", "1 2 3 4", TypeError),
    ("bytes", b"1234", TypeError),
    ("empty list", [], ValueError),
    ("empty array", np.empty(0), ValueError),
    ("empty column", np.empty((0, 1)), ValueError),
    ("no columns", np.empty((N, 0)), ValueError),
    ("scalar", 3.0, ValueError),
    ("0-d array", np.array(3.0), ValueError),
    ("ragged list", [[1.0, 2.0], [3.0]], ValueError),
    ("ragged nested", [1.0, [2.0, 3.0]], ValueError),
    ("3-D", X.reshape(N, 1, 1), ValueError),
    ("3-D wide", np.zeros((10, 3, 2)), ValueError),
    ("complex", X + 0j, TypeError),
    ("complex64", X.astype(np.complex64), TypeError),
    ("str dtype", X.astype(str), TypeError),
    ("bytes dtype", X.astype("S8"), TypeError),
    ("list of strings", ["1.0", "2.0", "3.0"], TypeError),
    ("object strings", np.array(["1.5", "2", "3"], dtype=object), TypeError),
    ("object bytes", np.array([b"1.5", b"2", b"3"], dtype=object), TypeError),
    ("object mixed", np.array([1.0, "2", 3.0], dtype=object), TypeError),
    ("object dicts", np.array([{}, {}], dtype=object), TypeError),
    ("set", {1.0, 2.0, 3.0}, TypeError),
    ("datetime", np.arange(5).astype("M8[D]"), TypeError),
    ("timedelta", np.arange(5).astype("m8[s]"), TypeError),
    ("structured", np.zeros(5, dtype=[("a", "f8")]), TypeError),
    ("NaN first", _with_value(np.nan, 0), ValueError),
    ("NaN middle", _with_value(np.nan, N // 2), ValueError),
    ("NaN last", _with_value(np.nan, -1), ValueError),
    ("inf", _with_value(np.inf, 7), ValueError),
    ("-inf", _with_value(-np.inf, -1), ValueError),
    ("NaN float32", _with_value(np.nan, 3).astype(np.float32), ValueError),
    ("inf float32", _with_value(np.inf, 3).astype(np.float32), ValueError),
    ("NaN column", _with_value(np.nan, 5).reshape(-1, 1), ValueError),
    ("NaN big-endian", _with_value(np.nan, 5).astype(">f8"), ValueError),
    ("NaN strided", _with_value(np.nan, 4)[::2], ValueError),
    ("None in list", [1.0, None, 3.0, 4.0], ValueError),
    ("masked entries", np.ma.masked_array(X, mask=X > 20), ValueError),
    # finite in long double, infinite once converted to float64
    pytest.param(np.array([1.0, 2.0, np.longdouble("1e400")]), ValueError,
                 id="beyond float64", marks=pytest.mark.skipif(
                     np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                     reason="long double is float64 here")),
]


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
@pytest.mark.parametrize("data, exc", cases(BAD_X))
def test_bad_X_in_fit(data, exc, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # inf from the float32 cast
        with pytest.raises(exc, match=names("X")):
            getattr(GaussianMixture(1), method)(data)


def test_em_is_univariate_and_says_so():
    # The estimator fits any width; the functional em() is the univariate loop.
    with pytest.raises(ValueError, match=r"^x has shape \(300, 2\).*univariate"):
        cyem.em(np.column_stack([X, X]), [1.0], [0.0], [1.0])


def test_nan_count_in_message():
    x = X.copy()
    x[[3, 30, 300 - 1]] = np.nan
    with pytest.raises(ValueError, match=r"^X contains NaN \(3 values\)"):
        GaussianMixture(1).fit(x)


BAD_SAMPLE_WEIGHT = [
    # (id, sample_weight, exception)
    ("too short", np.ones(N - 1), ValueError),
    ("too long", np.ones(N + 1), ValueError),
    ("column", np.ones((N, 1)), ValueError),
    ("row", np.ones((1, N)), ValueError),
    ("empty", [], ValueError),
    ("0-d array", np.array(2.0), ValueError),
    ("bool scalar", True, ValueError),
    ("negative", np.r_[-1.0, np.ones(N - 1)], ValueError),
    ("tiny negative", np.r_[np.ones(N - 1), -1e-300], ValueError),
    ("NaN", np.r_[np.nan, np.ones(N - 1)], ValueError),
    ("inf", np.r_[np.ones(N - 1), np.inf], ValueError),
    ("all zero", np.zeros(N), ValueError),
    ("sum overflows", np.full(N, 1e308), ValueError),
    ("zero scalar", 0.0, ValueError),
    ("negative scalar", -1, ValueError),
    ("NaN scalar", float("nan"), ValueError),
    ("inf scalar", float("inf"), ValueError),
    ("string", "ones", TypeError),
    ("string array", np.ones(N).astype(str), TypeError),
    ("complex", np.ones(N) + 0j, TypeError),
    ("ragged", [[1.0], [1.0, 2.0]], ValueError),
    ("object strings", np.array(["1"] * N, dtype=object), TypeError),
    ("masked entries", np.ma.masked_array(np.ones(N), mask=np.arange(N) < 3), ValueError),
]


@pytest.mark.parametrize("sample_weight, exc", cases(BAD_SAMPLE_WEIGHT))
def test_bad_sample_weight_in_fit(sample_weight, exc):
    with pytest.raises(exc, match=names("sample_weight")):
        GaussianMixture(2).fit(X, sample_weight=sample_weight)


# ---------------------------------------------------------------------------
# GaussianMixture: methods of a fitted model
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS_TAKING_X)
def test_methods_before_fit_raise_not_fitted(method):
    model = GaussianMixture(2)
    with pytest.raises(NotFittedError, match="not fitted") as info:
        getattr(model, method)(X)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)


def test_sample_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixture(2).sample(3)


BAD_X_AFTER_FIT = [
    ("None", None, TypeError),
    ("string", "1 2", TypeError),
    ("empty", [], ValueError),
    ("scalar", 1.0, ValueError),
    ("ragged", [[1.0], [1.0, 2.0]], ValueError),
    ("3-D", np.zeros((4, 1, 1)), ValueError),
    ("complex", np.zeros(4, dtype=complex), TypeError),
    ("text", np.array(["1", "2"]), TypeError),
    ("NaN", np.array([0.0, np.nan]), ValueError),
    ("inf", np.array([[0.0], [np.inf]]), ValueError),
]


@pytest.mark.parametrize("method", METHODS_TAKING_X)
@pytest.mark.parametrize("data, exc", cases(BAD_X_AFTER_FIT))
def test_bad_X_after_fit(fitted, method, data, exc):
    with pytest.raises(exc, match=names("X")):
        getattr(fitted, method)(data)


@pytest.mark.parametrize("method", METHODS_TAKING_X)
@pytest.mark.parametrize("width", [2, 5])
def test_data_of_another_width_after_fit(fitted, method, width):
    with pytest.raises(ValueError, match=rf"^X has {width} features.*expecting 1 features"):
        getattr(fitted, method)(np.zeros((10, width)))


@pytest.mark.parametrize("method", ["score", "bic", "aic"])
@pytest.mark.parametrize("sample_weight, exc", [
    (np.ones(N - 1), ValueError),
    (np.r_[-1.0, np.ones(N - 1)], ValueError),
    (np.r_[np.nan, np.ones(N - 1)], ValueError),
    (np.zeros(N), ValueError),
    ("ones", TypeError),
], ids=["wrong length", "negative", "NaN", "all zero", "string"])
def test_bad_sample_weight_after_fit(fitted, method, sample_weight, exc):
    with pytest.raises(exc, match=names("sample_weight")):
        getattr(fitted, method)(X, sample_weight=sample_weight)


@pytest.mark.parametrize("n_samples, exc", [
    (0, ValueError), (-3, ValueError), (2.5, TypeError), (2.0, TypeError),
    ("3", TypeError), (True, TypeError), (None, TypeError),
])
def test_bad_n_samples(fitted, n_samples, exc):
    with pytest.raises(exc, match=names("n_samples")):
        fitted.sample(n_samples)


def test_numpy_integer_n_samples_is_accepted(fitted):
    X_drawn, labels = fitted.sample(np.int64(7))
    assert X_drawn.shape == (7, 1) and labels.shape == (7,)


def test_bad_random_state_is_reported_by_sample(fitted):
    model = copy.deepcopy(fitted)
    model.set_params(random_state="seed")
    with pytest.raises(TypeError, match=names("random_state")):
        model.sample(3)


# ---------------------------------------------------------------------------
# cyem.em
# ---------------------------------------------------------------------------

EM_GOOD = dict(x=X, weights=[0.5, 0.5], means=[-30.0, 25.0], stds=[8.0, 12.0])

BAD_EM_ARGS = [
    # (argument, value, exception); the other arguments are EM_GOOD
    ("x", None, TypeError),
    ("x", "1 2 3", TypeError),
    ("x", [], ValueError),
    ("x", [[1.0, 2.0], [3.0]], ValueError),
    ("x", np.zeros((3, 2, 2)), ValueError),
    ("x", np.column_stack([X, X]), ValueError),
    ("x", X + 1j, TypeError),
    ("x", X.astype(object).astype(str), TypeError),
    ("x", _with_value(np.nan, 10), ValueError),
    ("x", _with_value(np.inf, 10), ValueError),
    ("weights", None, TypeError),
    ("weights", "ab", TypeError),
    ("weights", [], ValueError),
    ("weights", [[0.5, 0.5]], ValueError),
    ("weights", [-0.5, 1.5], ValueError),
    ("weights", [0.3, 0.3], ValueError),
    ("weights", [0.0, 0.0], ValueError),
    ("weights", [np.nan, 0.5], ValueError),
    ("weights", [0.5, np.inf], ValueError),
    ("weights", [0.5 + 0j, 0.5], TypeError),
    ("means", [0.0], ValueError),
    ("means", [0.0, 1.0, 2.0], ValueError),
    ("means", [[0.0, 1.0]], ValueError),
    ("means", [np.nan, 1.0], ValueError),
    ("means", [0.0, np.inf], ValueError),
    ("means", None, TypeError),
    ("means", ["0", "1"], TypeError),
    ("stds", [1.0], ValueError),
    ("stds", [[1.0], [1.0]], ValueError),
    ("stds", [1.0, 0.0], ValueError),
    ("stds", [1.0, -1.0], ValueError),
    ("stds", [1.0, np.nan], ValueError),
    ("stds", [1.0, np.inf], ValueError),
    ("stds", [1.0, 1e-200], ValueError),     # the variance underflows to 0
    ("stds", [1.0, 1e200], ValueError),      # the variance overflows to inf
    ("stds", "12", TypeError),
    ("sample_weight", np.ones(N - 1), ValueError),
    ("sample_weight", np.r_[-1.0, np.ones(N - 1)], ValueError),
    ("sample_weight", np.r_[np.nan, np.ones(N - 1)], ValueError),
    ("sample_weight", np.r_[np.inf, np.ones(N - 1)], ValueError),
    ("sample_weight", np.zeros(N), ValueError),
    ("sample_weight", np.ones((N, 1)), ValueError),
    ("sample_weight", "ones", TypeError),
    ("tied", "yes", TypeError),
    ("tied", 1, TypeError),
    ("tied", None, TypeError),
    ("tol", -1.0, ValueError),
    ("tol", float("nan"), ValueError),
    ("tol", "0.1", TypeError),
    ("reg_covar", -1e-6, ValueError),
    ("reg_covar", float("inf"), ValueError),
    ("reg_covar", None, TypeError),
    ("max_iter", 0, ValueError),
    ("max_iter", 2.5, TypeError),
    ("max_iter", "10", TypeError),
    ("n_threads", 0, ValueError),
    ("n_threads", 2.0, TypeError),
    ("n_threads", "4", TypeError),
]


@pytest.mark.parametrize("argument, value, exc", BAD_EM_ARGS, ids=row_ids(BAD_EM_ARGS))
def test_bad_em_argument(argument, value, exc):
    kwargs = {**EM_GOOD, argument: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(exc, match=names(argument)):
            cyem.em(**kwargs)


def test_em_ragged_weights_names_weights():
    with pytest.raises(ValueError, match=names("weights")):
        cyem.em(**{**EM_GOOD, "weights": [[0.5], [0.2, 0.3]]})


def test_em_more_components_than_distinct_values_names_weights():
    with pytest.raises(ValueError, match=names("weights")):
        cyem.em([1.0, 1.0, 1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0])


def test_check_n_components_names_the_arguments_it_is_given():
    """What cyem.em needs for the test above: the names are parameters."""
    from cyem import _validation

    x = np.array([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"^weights\b.*distinct value\(s\) in x\b"):
        _validation.check_n_components(2, x, None, name="weights", data_name="x")
    with pytest.raises(TypeError, match=r"^weights\b"):
        _validation.check_n_components(2.0, x, None, name="weights", data_name="x")


def test_em_more_components_than_distinct_values_is_a_value_error():
    with pytest.raises(ValueError, match=r"distinct value\(s\)"):
        cyem.em([1.0, 1.0, 1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0])


# ---------------------------------------------------------------------------
# n_threads beyond what the machine can start
# ---------------------------------------------------------------------------

def test_n_threads_beyond_the_cores_is_capped_and_changes_nothing():
    # More threads than usable cores are reduced to the core count (an absurd
    # count would otherwise overflow a C int or crash the OpenMP runtime).
    huge = GaussianMixture(2, n_threads=2**31, random_state=0).fit(X)
    one = GaussianMixture(2, n_threads=1, random_state=0).fit(X)
    np.testing.assert_array_equal(huge.means_, one.means_)
    np.testing.assert_array_equal(huge.covariances_, one.covariances_)


def test_huge_n_threads_does_not_crash_the_interpreter(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, cyem
        x = np.random.default_rng(0).normal(size=300)
        try:
            cyem.GaussianMixture(1, n_threads=100_000).fit(x)
        except ValueError as exc:
            assert "n_threads" in str(exc), exc
        print("survived")
    """)
    # cwd outside the source tree: the subprocess must import the installed cyem.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and b"survived" in result.stdout, (
        result.returncode, result.stderr.decode()[-500:])


# ---------------------------------------------------------------------------
# Accepted inputs: every layout and integer dtype fits like a float64 copy
# ---------------------------------------------------------------------------

def _read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


def _column_of_wide_array(x):
    """Column 1 of a C-ordered (n, 3) array: a strided (n, 1) view."""
    wide = np.zeros((x.shape[0], 3))
    wide[:, 1] = x
    return wide[:, 1:2]


LAYOUTS = {
    # id: function making the variant from the float64 values
    "strided": lambda x: np.repeat(x, 2)[::2],
    "reversed strides": lambda x: x[::-1].copy()[::-1],
    "Fortran column": lambda x: np.asfortranarray(x.reshape(-1, 1)),
    "C column": lambda x: x.reshape(-1, 1).copy(),
    "strided column": _column_of_wide_array,
    "big-endian": lambda x: x.astype(">f8"),
    "big-endian column": lambda x: x.astype(">f8").reshape(-1, 1),
    "read-only": _read_only,
    "read-only big-endian strided": lambda x: _read_only(np.repeat(x, 2).astype(">f8"))[::2],
    "int64": lambda x: x.astype(np.int64),
    "int32": lambda x: x.astype(np.int32),
    "int16 big-endian": lambda x: x.astype(">i2"),
    "int32 column": lambda x: x.astype(np.int32).reshape(-1, 1),
    "float16": lambda x: x.astype(np.float16),     # small integers are exact
    "list": lambda x: x.tolist(),
    "list of rows": lambda x: x.reshape(-1, 1).tolist(),
    "list of ints": lambda x: [int(v) for v in x],
    "tuple": lambda x: tuple(x.tolist()),
    "object array": lambda x: x.astype(object),
    "masked, nothing masked": lambda x: np.ma.masked_array(x, mask=np.zeros(x.shape, bool)),
}


def _snapshot(data):
    """A deep copy of what the caller passed, to compare with after the call."""
    if isinstance(data, np.ndarray):
        return data.copy(order="K"), data.dtype, data.strides, data.flags.writeable
    return copy.deepcopy(data)


def _assert_untouched(data, snapshot):
    if isinstance(data, np.ndarray):
        values, dtype, strides, writeable = snapshot
        np.testing.assert_array_equal(data, values)
        assert (data.dtype, data.strides, data.flags.writeable) == (dtype, strides,
                                                                     writeable)
    else:
        assert data == snapshot


# One thread in the big matrix: the result does not depend on the count (a
# kernel test's business), and OpenMP barriers get slow on a loaded machine.
MATRIX_THREADS = 1


@pytest.fixture(scope="module")
def reference_fits():
    """Plain contiguous float64 fits, one per init_params."""
    return {init: GaussianMixture(2, init_params=init, random_state=0,
                                  n_threads=MATRIX_THREADS).fit(X.copy())
            for init in INIT_PARAMS}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_accepted_layouts_fit_exactly_like_float64(reference_fits, layout, init_params):
    data = LAYOUTS[layout](X)
    before = _snapshot(data)
    model = GaussianMixture(2, init_params=init_params, random_state=0,
                            n_threads=MATRIX_THREADS).fit(data)
    assert_same_fit(model, reference_fits[init_params])
    _assert_untouched(data, before)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_accepted_layouts_predict_exactly_like_float64(fitted, layout):
    data = LAYOUTS[layout](X)
    before = _snapshot(data)
    plain = X.copy()
    np.testing.assert_array_equal(fitted.predict(data), fitted.predict(plain))
    np.testing.assert_array_equal(fitted.predict_proba(data), fitted.predict_proba(plain))
    np.testing.assert_array_equal(fitted.score_samples(data), fitted.score_samples(plain))
    assert fitted.score(data) == fitted.score(plain)
    assert fitted.bic(data) == fitted.bic(plain)
    _assert_untouched(data, before)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_accepted_layouts_in_em_give_the_same_result(layout):
    data = LAYOUTS[layout](X)
    before = _snapshot(data)
    args = (EM_GOOD["weights"], EM_GOOD["means"], EM_GOOD["stds"])
    result = cyem.em(data, *args, tol=1e-6)
    reference = cyem.em(X.copy(), *args, tol=1e-6)
    for field in ("weights", "means", "stds", "history"):
        np.testing.assert_array_equal(getattr(result, field), getattr(reference, field))
    assert result.log_likelihood == reference.log_likelihood
    _assert_untouched(data, before)


@pytest.mark.parametrize("container", ["Series", "DataFrame"])
def test_pandas_input_fits_like_float64(reference_fits, container):
    pd = pytest.importorskip("pandas")
    data = pd.Series(X) if container == "Series" else pd.DataFrame({"height": X})
    before = data.copy(deep=True)
    model = GaussianMixture(2, random_state=0, n_threads=MATRIX_THREADS).fit(data)
    assert_same_fit(model, reference_fits["kmeans"])
    assert data.equals(before)


SAMPLE_WEIGHT_VALUES = np.tile([1.0, 2.0, 3.0, 0.0, 5.0], N // 5)

WEIGHT_LAYOUTS = {
    "strided": lambda w: np.repeat(w, 3)[::3],
    "big-endian": lambda w: w.astype(">f8"),
    "read-only": _read_only,
    "int64": lambda w: w.astype(np.int64),
    "uint8": lambda w: w.astype(np.uint8),
    "float32": lambda w: w.astype(np.float32),     # small integers are exact
    "list": lambda w: w.tolist(),
}


@pytest.mark.parametrize("layout", list(WEIGHT_LAYOUTS))
def test_accepted_sample_weight_layouts_fit_exactly_like_float64(layout):
    weights = WEIGHT_LAYOUTS[layout](SAMPLE_WEIGHT_VALUES)
    before = _snapshot(weights)
    model = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
    reference = GaussianMixture(2, random_state=0).fit(
        X, sample_weight=SAMPLE_WEIGHT_VALUES.copy())
    assert_same_fit(model, reference)
    assert model.bic(X, sample_weight=weights) == reference.bic(
        X, sample_weight=SAMPLE_WEIGHT_VALUES)
    _assert_untouched(weights, before)


def test_positive_scalar_sample_weight_is_the_unweighted_fit(reference_fits):
    model = GaussianMixture(2, random_state=0, n_threads=MATRIX_THREADS).fit(
        X, sample_weight=2.5)
    assert_same_fit(model, reference_fits["kmeans"])


def test_fit_does_not_modify_the_callers_arrays():
    x = X.copy()
    weights = SAMPLE_WEIGHT_VALUES.copy()
    means_init = np.array([[-30.0], [25.0]])
    weights_init = np.array([0.4, 0.6])
    precisions_init = np.array([0.01, 0.02])
    originals = [a.copy() for a in (x, weights, means_init, weights_init, precisions_init)]
    model = GaussianMixture(2, means_init=means_init, weights_init=weights_init,
                            precisions_init=precisions_init, random_state=0)
    fit_quietly(model, x, sample_weight=weights)
    model.predict_proba(x)
    model.score(x, sample_weight=weights)
    for after, before in zip((x, weights, means_init, weights_init, precisions_init),
                             originals):
        np.testing.assert_array_equal(after, before)
    # and the fitted attributes are not views of the caller's arrays
    model.means_[0, 0] = 1e9
    assert means_init[0, 0] == -30.0


def test_em_does_not_modify_the_callers_arrays():
    arrays = [X.copy(), np.array([0.4, 0.6]), np.array([-30.0, 25.0]),
              np.array([8.0, 12.0]), SAMPLE_WEIGHT_VALUES.copy()]
    originals = [a.copy() for a in arrays]
    result = cyem.em(*arrays[:4], sample_weight=arrays[4])
    for after, before in zip(arrays, originals):
        np.testing.assert_array_equal(after, before)
    assert not np.shares_memory(result.weights, arrays[1])
    assert not np.shares_memory(result.means, arrays[2])


# float32 input is processed in float32 (the kernels sum in float64): equal to
# the float64 fit to float32 precision, and exactly equal across its layouts.
# X / 7 is not representable in float32, so the comparison has teeth.

X_FRACTIONAL = X / 7.0
FLOAT32_RTOL = 1e-5


@pytest.fixture(scope="module")
def float32_fit():
    return GaussianMixture(2, random_state=0).fit(X_FRACTIONAL.astype(np.float32))


def test_float32_fit_equals_float64_fit_to_float32_precision(float32_fit):
    reference = GaussianMixture(2, random_state=0).fit(X_FRACTIONAL)
    assert not np.array_equal(X_FRACTIONAL.astype(np.float32), X_FRACTIONAL)
    np.testing.assert_allclose(float32_fit.weights_, reference.weights_, rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(float32_fit.means_, reference.means_, rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(float32_fit.covariances_, reference.covariances_,
                               rtol=FLOAT32_RTOL)
    assert float32_fit.lower_bound_ == pytest.approx(reference.lower_bound_,
                                                     rel=FLOAT32_RTOL)
    assert float32_fit.weights_.dtype == np.float64      # attributes are float64


@pytest.mark.parametrize("layout", [
    lambda x: x.astype(">f4"),
    lambda x: np.repeat(x, 2).astype(np.float32)[::2],
    lambda x: np.asfortranarray(x.astype(np.float32).reshape(-1, 1)),
    lambda x: _read_only(x.astype(np.float32)),
    lambda x: _read_only(np.repeat(x, 2).astype(">f4"))[::2].reshape(-1, 1),
], ids=["big-endian", "strided", "Fortran column", "read-only",
        "read-only big-endian strided column"])
def test_float32_layouts_fit_exactly_like_native_float32(float32_fit, layout):
    data = layout(X_FRACTIONAL)
    before = _snapshot(data)
    model = GaussianMixture(2, random_state=0).fit(data)
    assert_same_fit(model, float32_fit)
    _assert_untouched(data, before)


# The contract of the converter itself: what the kernels receive.

@pytest.mark.parametrize("dtype, expected", [
    ("<f4", np.float32), (">f4", np.float32), ("<f8", np.float64), (">f8", np.float64),
    ("<f2", np.float64), ("<i4", np.float64), (">i8", np.float64), ("u1", np.float64),
    ("?", np.float64),
])
def test_converted_data_is_native_contiguous_float(dtype, expected):
    from cyem import _validation

    data = np.arange(12).astype(dtype)[::2]
    x = _validation.check_univariate_data(data)
    assert x.dtype == np.dtype(expected) and x.dtype.isnative
    assert x.flags.c_contiguous and x.shape == (6,)
    np.testing.assert_array_equal(x, np.arange(0, 12, 2).astype(dtype))


@pytest.mark.parametrize("data", [X, X.reshape(-1, 1), X.astype(np.float32)],
                         ids=["float64", "float64 column", "float32"])
def test_plain_float_data_is_not_copied(data):
    from cyem import _validation

    assert np.shares_memory(_validation.check_univariate_data(data), data)
