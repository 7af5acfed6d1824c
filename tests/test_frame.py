"""The coordinate frame (cyem/_frame.py) and what it promises users.

Unit tests of ``Frame`` check each rule against a value computed here from its
definition (median, interquartile range, powers of two). The acceptance tests
of issue 13 (items 1 and 2) check the user-visible consequences against
scikit-learn from identical starting parameters: far values (fill values) do
not cost the bulk of the data its precision, and scaled data give the scaled
fit, or a ValueError where double precision has no answer.
"""

import warnings

import numpy as np
import pytest

import cyem
from cyem._frame import MAX_REACH, MIN_REACH, Frame

sklearn_mixture = pytest.importorskip("sklearn.mixture")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FAR_VALUES = [1e10, -1e10, 1e15, -1e15, 1e20, -1e20, 9.96921e36, -9.96921e36]


def _is_power_of_two(value):
    mantissa, _ = np.frexp(value)
    return mantissa == 0.5


def _lower_median(values):
    return np.sort(values)[(len(values) - 1) // 2]


# ---------------------------------------------------------------------------
# Frame rules
# ---------------------------------------------------------------------------

def test_origin_is_the_lower_median_and_scale_the_power_of_two_above_the_iqr():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 1001)
    frame = Frame.from_data(x)
    assert frame.origin[0] == _lower_median(x)
    q25, q75 = np.percentile(x, [25, 75])
    assert frame.scale == 2.0 ** np.ceil(np.log2(q75 - q25))


def test_per_feature_origin_and_one_scale_for_all_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 3)) * [1.0, 10.0, 0.1] + [5.0, -1e6, 0.0]
    frame = Frame.from_data(X)
    np.testing.assert_array_equal(frame.origin, [_lower_median(c) for c in X.T])
    iqr = np.percentile(X, 75, axis=0) - np.percentile(X, 25, axis=0)
    assert frame.scale == 2.0 ** np.ceil(np.log2(iqr.max()))


@pytest.mark.parametrize("far", FAR_VALUES)
@pytest.mark.parametrize("count", [1, 50])            # one value, or 1% of 5000
def test_far_values_move_neither_origin_nor_scale(far, count):
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0, 1, 3000), rng.normal(5, 1, 2000)]
    y = np.r_[x, np.full(count, far)]
    bulk, with_far = Frame.from_data(x), Frame.from_data(y)
    # the median moves by at most `count` order statistics, inside the bulk
    assert abs(with_far.origin[0] - bulk.origin[0]) < 0.1
    assert with_far.scale == bulk.scale
    # so the bulk's deviations keep their digits: x - origin is off by at most
    # an ulp of the bulk's magnitude (a midrange origin at 5e14 would be 0.06)
    origin = with_far.origin[0]
    deviations = (x - origin) / with_far.scale
    error = np.abs(deviations * with_far.scale + origin - x)
    assert np.all(error <= 2 * np.finfo(float).eps * np.maximum(np.abs(x), abs(origin)))


def test_scale_grows_so_that_far_squares_cannot_overflow():
    x = np.r_[np.random.default_rng(3).normal(0, 1, 1000), 1e150]
    frame = Frame.from_data(x)
    assert _is_power_of_two(frame.scale)
    far_in_frame = (1e150 - frame.origin[0]) / frame.scale
    assert far_in_frame <= 2.0 ** 448
    assert np.isfinite(far_in_frame ** 2 * 1e30)        # sums of squares stay finite


def test_scale_covers_reg_covar_and_far_starting_means():
    x = np.array([0.0, 1e-160, 2e-160, 3e-160])
    frame = Frame.from_data(x, reg_covar=1e8)
    assert np.isfinite(1e8 / frame.scale ** 2)
    frame = Frame.from_data(x, reg_covar=1e-6, start_means=np.array([[2897.0]]))
    assert abs(2897.0 / frame.scale) <= 2.0 ** 448


@pytest.mark.parametrize("scale", [1.0, 2.0 ** 80, 2.0 ** -80])
def test_power_of_two_scaling_of_data_scales_the_frame_exactly(scale):
    x = np.random.default_rng(4).normal(7.0, 3.0, 999)
    a, b = Frame.from_data(x), Frame.from_data(x * scale)
    assert b.origin[0] == a.origin[0] * scale
    assert b.scale == a.scale * scale


def test_values_beyond_max_reach_are_refused_naming_the_data():
    x = np.r_[np.zeros(10), 1.0, 2 * MAX_REACH]
    with pytest.raises(ValueError, match=r"^X has values up to .* away from the median"):
        Frame.from_data(x)
    with pytest.raises(ValueError, match=r"^x has values"):
        Frame.from_data(x, names=("x", "means"))


def test_starting_means_beyond_max_reach_are_refused_naming_them():
    x = np.array([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"^means_init has a mean"):
        Frame.from_data(x, start_means=np.array([[1e200]]))


def test_tiny_span_is_refused_unless_reg_covar_lifts_it():
    x = np.array([0.0, 0.25 * MIN_REACH])
    with pytest.raises(ValueError, match=r"^X spans only .*underflow"):
        Frame.from_data(x)
    frame = Frame.from_data(x, reg_covar=1e-300)
    assert np.isfinite(1e-300 / frame.scale ** 2)
    # constant data are not refused: their model is reg_covar (or the floor)
    Frame.from_data(np.full(5, 1e-300))


def test_from_params_origin_is_the_weighted_median_of_the_means():
    weights = np.array([0.5, 0.4998, 0.0002])
    means = np.array([[0.0], [5.0], [1e20]])
    frame = Frame.from_params(weights, means, 1.0)
    assert frame.origin[0] == 0.0                 # cumulative weight 0.5 reached
    frame = Frame.from_params(np.array([0.3, 0.6998, 0.0002]), means, 1.0)
    assert frame.origin[0] == 5.0
    assert frame.scale >= 1e20 / 2.0 ** 1 and _is_power_of_two(frame.scale)


def test_variances_to_frame_refuses_overflow_naming_the_argument():
    frame = Frame(np.zeros(1), 2.0 ** -400)
    with pytest.raises(ValueError, match=r"^precisions_init implies variances"):
        frame.variances_to_frame(np.array([1e100]))


# ---------------------------------------------------------------------------
# Issue 13, item 1: far values do not ruin the other components
# ---------------------------------------------------------------------------

N_ITER = 40


def _fit_both(X, K, start, covariance_type="full"):
    """cyem and scikit-learn for N_ITER plain EM iterations from one start."""
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=N_ITER, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cyem.GaussianMixture(K, **kw).fit(X)
        ref = sklearn_mixture.GaussianMixture(K, **kw).fit(X)
    return ours, ref


def _assert_bulk_equal(ours, ref, bulk, rtol=1e-9):
    np.testing.assert_allclose(ours.weights_[bulk], ref.weights_[bulk], rtol=rtol)
    np.testing.assert_allclose(ours.means_[bulk], ref.means_[bulk], rtol=rtol, atol=1e-12)
    if ours.covariance_type == "tied":
        np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=rtol)
    else:
        np.testing.assert_allclose(ours.covariances_[bulk], ref.covariances_[bulk],
                                   rtol=rtol)


@pytest.mark.parametrize("far", FAR_VALUES)
@pytest.mark.parametrize("count", [1, 50])
def test_univariate_far_values_leave_the_bulk_components_exact(far, count):
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 3000), rng.normal(5, 1, 2000), np.full(count, far)]
    start = dict(weights_init=[0.6, 0.39, 0.01], means_init=[[0.0], [5.0], [far]],
                 precisions_init=[[[1.0]]] * 3)
    ours, ref = _fit_both(x.reshape(-1, 1), 3, start)
    _assert_bulk_equal(ours, ref, slice(0, 2))
    # and the far component sits on the far value
    assert ours.means_[2, 0] == far


def _extended_precision_em(X, weights, means, covariances, covariance_type, n_iter,
                           reg_covar=1e-6):
    """Plain EM for 2-D data in np.longdouble (64-bit mantissa on x86-64),
    deviations taken from each component's mean directly: an independent
    reference that, unlike scikit-learn, keeps a far component's variance
    exact (scikit-learn's mean = sum(r x) / (N + 10 eps) is off by ~far * 1e-15,
    which its tied and spherical models pool with the bulk's spread)."""
    ld = np.longdouble
    X = X.astype(ld)
    w, mu, cov = weights.astype(ld), means.astype(ld), covariances.astype(ld)
    K = w.shape[0]
    for _ in range(n_iter):
        log_p = np.empty((X.shape[0], K), dtype=ld)
        for k in range(K):
            c = cov[k]
            det = c[0, 0] * c[1, 1] - c[0, 1] * c[1, 0]
            inv = np.array([[c[1, 1], -c[0, 1]], [-c[1, 0], c[0, 0]]], dtype=ld) / det
            dev = X - mu[k]
            quad = np.einsum("ij,jk,ik->i", dev, inv, dev)
            log_p[:, k] = np.log(w[k]) - 0.5 * (quad + np.log(det)) - np.log(2 * np.pi)
        top = log_p.max(axis=1, keepdims=True)
        resp = np.exp(log_p - top)
        resp /= resp.sum(axis=1, keepdims=True)
        counts = resp.sum(axis=0)
        w = counts / counts.sum()
        scatter = np.empty((K, 2, 2), dtype=ld)
        for k in range(K):
            mean = resp[:, k] @ X / counts[k]
            mean = mean + resp[:, k] @ (X - mean) / counts[k]     # one refinement
            mu[k] = mean
            dev = X - mean
            scatter[k] = (resp[:, k, None] * dev).T @ dev
        eye = np.eye(2, dtype=ld)
        if covariance_type == "full":
            cov = scatter / counts[:, None, None] + reg_covar * eye
        elif covariance_type == "diag":
            cov = np.array([np.diag(np.diag(scatter[k])) / counts[k] for k in range(K)])
            cov = cov + reg_covar * eye
        elif covariance_type == "tied":
            cov = np.repeat((scatter.sum(axis=0) / counts.sum() + reg_covar * eye)[None],
                            K, axis=0)
        else:
            cov = np.array([np.trace(scatter[k]) / (2 * counts[k]) * eye
                            for k in range(K)]) + reg_covar * eye
    return w.astype(float), mu.astype(float), cov.astype(float)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("far", [1e15, -1e20, 9.96921e36])
@pytest.mark.parametrize("count", [1, 50])
def test_bivariate_far_values_leave_the_bulk_components_exact(covariance_type, far, count):
    rng = np.random.default_rng(1)
    bulk = np.r_[rng.normal([0, 0], 1, (3000, 2)), rng.normal([5, 3], 1, (2000, 2))]
    # a fill value in the first feature only, as a missing-value code would be
    fill = np.column_stack([np.full(count, far), rng.normal(1, 1, count)])
    X = np.r_[bulk, fill]
    weights = np.array([0.6, 0.39, 0.01])
    means = np.array([[0.0, 0.0], [5.0, 3.0], [far, 1.0]])
    precisions = {"full": [np.eye(2)] * 3, "tied": np.eye(2),
                  "diag": np.ones((3, 2)), "spherical": np.ones(3)}[covariance_type]
    start = dict(weights_init=weights, means_init=means, precisions_init=precisions)
    ours, sk = _fit_both(X, 3, start, covariance_type)
    w, mu, cov = _extended_precision_em(X, weights, means, np.array([np.eye(2)] * 3),
                                        covariance_type, N_ITER)
    np.testing.assert_allclose(ours.weights_[:2], w[:2], rtol=1e-9)
    np.testing.assert_allclose(ours.means_[:2], mu[:2], rtol=1e-9, atol=1e-12)
    full_cov = {"full": lambda c: c, "tied": lambda c: np.repeat(c[None], 3, axis=0),
                "diag": lambda c: np.array([np.diag(r) for r in c]),
                "spherical": lambda c: np.array([v * np.eye(2) for v in c])}
    ours_cov = full_cov[covariance_type](ours.covariances_)
    np.testing.assert_allclose(ours_cov[:2], cov[:2], rtol=1e-9)
    if covariance_type in ("full", "diag"):
        # where the far component's variance does not enter the bulk's,
        # scikit-learn agrees too (the acceptance reference)
        _assert_bulk_equal(ours, sk, slice(0, 2))


def test_default_fit_with_one_percent_fill_values_finds_the_bulk():
    """The issue's trigger: 1% of the values at NetCDF's fill value, default
    settings. The two bulk components are found where they are."""
    rng = np.random.default_rng(5)
    x = np.r_[rng.normal(0, 1, 3000), rng.normal(5, 1, 2000), np.full(50, 9.96921e36)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = cyem.GaussianMixture(3, random_state=0).fit(x)
    order = np.argsort(gm.means_.ravel())
    np.testing.assert_allclose(gm.means_.ravel()[order][:2], [0, 5], atol=0.1)
    np.testing.assert_allclose(gm.stds_[order][:2], [1, 1], atol=0.1)
    assert gm.means_.ravel()[order][2] == 9.96921e36
    # predictions of the bulk use the same precision (frame from the params)
    labels = gm.predict(x[:5000])
    assert np.mean(labels[:3000] == order[0]) > 0.95


def test_offset_exactness_still_holds():
    """The frame's first purpose: x + 1e8 gives the fit of x shifted by 1e8."""
    rng = np.random.default_rng(6)
    x = np.r_[rng.normal(0, 1, 3000), rng.normal(5, 1, 2000)]
    start = dict(weights_init=[0.5, 0.5], means_init=[[0.0], [5.0]],
                 precisions_init=[[[1.0]]] * 2, tol=0.0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = cyem.GaussianMixture(2, **start).fit(x)
        start["means_init"] = [[1e8], [1e8 + 5.0]]
        b = cyem.GaussianMixture(2, **start).fit(x + 1e8)
    # the shifted data themselves are rounded to ulp(1e8) = 1.5e-8
    np.testing.assert_allclose(b.means_ - 1e8, a.means_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-7)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-7)


# ---------------------------------------------------------------------------
# Issue 13, item 2: extreme scales give the scaled fit, or a clear error
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("exponent", [-300, -200, -150, 150, 200, 300])
def test_scaled_data_give_the_scaled_fit_or_a_clear_error(exponent):
    rng = np.random.default_rng(7)
    x = np.r_[rng.normal(-3, 1, 2000), rng.normal(3, 1, 2000)]
    factor = np.float64(10.0) ** exponent
    start = dict(weights_init=[0.5, 0.5], means_init=[[-1.0], [1.0]],
                 precisions_init=[[[1.0]]] * 2, tol=0.0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = cyem.GaussianMixture(2, reg_covar=1e-6, **start).fit(x)
    with np.errstate(over="ignore", under="ignore"):
        scaled_start = dict(start, means_init=[[-factor], [factor]],
                            precisions_init=[[[np.clip(factor ** -2, 1e-300, 1e300)]]] * 2)
    with np.errstate(over="ignore", under="ignore"):
        representable = np.isfinite(factor ** 2) and factor ** 2 > np.finfo(float).tiny
    if not representable:
        # variances of ~factor^2 do not exist in float64: refused, naming X
        with pytest.raises(ValueError, match=r"^X (has values|spans only)"):
            cyem.GaussianMixture(2, reg_covar=0.0, **scaled_start).fit(x * factor)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = cyem.GaussianMixture(2, reg_covar=1e-6 * factor ** 2,
                                      **scaled_start).fit(x * factor)
    np.testing.assert_allclose(scaled.weights_, unit.weights_, rtol=1e-12)
    np.testing.assert_allclose(scaled.means_ / factor, unit.means_, rtol=1e-12)
    np.testing.assert_allclose(scaled.covariances_ / factor ** 2, unit.covariances_,
                               rtol=1e-12)


# ---------------------------------------------------------------------------
# Issue 13, item 4: reg_covar swamping small-unit data is said
# ---------------------------------------------------------------------------

def test_reg_covar_swamping_small_unit_data_warns_naming_reg_covar():
    rng = np.random.default_rng(8)
    x = np.r_[rng.normal(-3, 1, 2000), rng.normal(3, 1, 2000)] * 1e-4   # variance ~1e-7
    with pytest.warns(UserWarning, match=r"^reg_covar=1e-06 is more than 0.001 of the "
                                         r"variance of X"):
        cyem.GaussianMixture(2, random_state=0).fit(x)
    with pytest.warns(UserWarning, match=r"^reg_covar=1e-06 .* of feature 1 of X"):
        cyem.GaussianMixture(2, random_state=0).fit(np.column_stack([x * 1e4, x]))
    with pytest.warns(UserWarning, match=r"^reg_covar="):
        cyem.em(x, [0.5, 0.5], [-3e-4, 3e-4], [1e-4, 1e-4])
    # following the advice removes the warning and recovers the groups
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = cyem.GaussianMixture(2, random_state=0, reg_covar=1e-14).fit(x)
    np.testing.assert_allclose(np.sort(gm.means_.ravel()), [-3e-4, 3e-4], atol=1e-5)


def test_reg_covar_well_below_the_variance_is_silent():
    x = np.random.default_rng(9).normal(0, 1, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cyem.GaussianMixture(1).fit(x)
