"""Degenerate data, handled by design (issue 5).

Every case here is data a user can legitimately pass -- constant data, heavy
duplication, a component collapsing onto one value, a component losing all its
mass, extreme scales, huge offsets, as many components as points -- and the
contract is the same for each: a warning where the model is degenerate, finite
parameters and a finite log-likelihood; or, where no finite model exists (a
variance beyond float64), a ValueError that names the data. Never NaN, never a
RuntimeWarning or a traceback from inside NumPy.

Every fitting entry point runs through the same cases: each is a row of
``FITTERS`` (an adapter returning a ``Fitted`` record), so a new entry point
(partial_fit, multivariate data, ...) is one more row.

The contract for extreme scales, decided here (see the tests):

* data of any magnitude whose variance is a finite double -- constant data at
  +-1e300, data spread over +-1e300 (variances up to ~1e300), subnormals --
  fits to finite parameters and a finite log-likelihood;
* data whose spread makes the variance overflow float64 (beyond ~1e154) has
  no finite model: it must either be refused with a ValueError naming the
  data, or fitted with the variance clipped to the largest double and a
  warning saying so. cyem refuses values more than 2**510 (~3.4e153) from
  the data's median (cyem/_frame.py). Never NaN or inf.

Tests marked ``xfail(strict=True)`` are bugs found while writing this file;
each reason names the cause. Remove the mark when the bug is fixed.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

import cyem
from cyem import DegenerateComponentWarning, GaussianMixture

# init strategies that start from K distinct data values (so on data with K
# distinct values they find them); 'random' starts from near-identical soft
# memberships and may legitimately stop at a saddle point.
SEEDED_INITS = ["kmeans", "k-means++", "random_from_data", "quantile"]


# ---------------------------------------------------------------------------
# Entry points: adapters with one common result record
# ---------------------------------------------------------------------------

@dataclass
class Fitted:
    """What every fitting entry point must deliver, in a common form."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    log_likelihood: float            # total, at the returned parameters
    history: np.ndarray              # per-iteration objective
    warnings: list = field(default_factory=list)
    model: object = None             # the estimator, when there is one

    def categories(self):
        return [w.category for w in self.warnings]


def _record(fn):
    """Call ``fn`` with every warning recorded, except NumPy's RuntimeWarnings
    (overflow, invalid value), which become errors: they mean an inf or NaN
    was made inside cyem, and the traceback then points at the operation."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        out = fn()
    return out, list(caught)


def _default_start(x, K):
    """Starting (weights, means, stds) for entry points that need them: K
    quantiles of the data and its spread, clipped to the range cyem.em
    accepts for standard deviations."""
    x = np.asarray(x, dtype=np.float64)
    # no interpolation and a scaled std: nothing here may overflow, even at
    # +-1.7e308 (an overflow in the test must not pass for one in cyem)
    means = np.quantile(x, (np.arange(K) + 0.5) / K, method="lower")
    big = float(np.max(np.abs(x))) or 1.0
    spread = float(np.std(x / big)) * big or 1.0
    stds = np.full(K, np.clip(spread, 1e-150, 1e150))
    return np.full(K, 1.0 / K), means, stds


def fit_estimator(x, K, *, start=None, sample_weight=None, **params):
    """cyem.GaussianMixture.fit; ``start`` = (weights, means, stds) or None."""
    if start is not None:
        w, m, s = (np.asarray(a, dtype=np.float64) for a in start)
        precisions = 1.0 / s ** 2
        if params.get("covariance_type") == "tied":
            precisions = precisions[:1].reshape(1, 1)     # one shared variance
        params.update(weights_init=w, means_init=m, precisions_init=precisions)
    params.setdefault("random_state", 0)
    model, caught = _record(
        lambda: GaussianMixture(K, **params).fit(x, sample_weight=sample_weight))
    x_flat = np.asarray(x, dtype=np.float64).ravel()
    log_lik = model.score_samples(x_flat)
    total = float(np.dot(log_lik, sample_weight)) if sample_weight is not None \
        else float(log_lik.sum())
    return Fitted(model.weights_, model.means_.ravel(), model.stds_ ** 2, total,
                  np.asarray(model.lower_bounds_), caught, model)


def fit_em(x, K, *, start=None, sample_weight=None, reg_covar=1e-6, **params):
    """cyem.em from ``start`` (or quantile starting values)."""
    params.pop("random_state", None)
    params.pop("init_params", None)
    w, m, s = start if start is not None else _default_start(x, K)
    result, caught = _record(lambda: cyem.em(x, w, m, s, sample_weight=sample_weight,
                                             reg_covar=reg_covar, **params))
    return Fitted(result.weights, result.means, result.stds ** 2,
                  result.log_likelihood, result.history, caught)


FITTERS = [
    pytest.param(fit_estimator, id="GaussianMixture.fit"),
    pytest.param(fit_em, id="cyem.em"),
]


def _xfail_for(fitter_id, reason, rows=FITTERS):
    """FITTERS with an xfail(strict) mark on the row(s) named ``fitter_id``."""
    marked = []
    for row in rows:
        if row.id == fitter_id:
            row = pytest.param(*row.values, id=row.id,
                               marks=pytest.mark.xfail(strict=True, reason=reason))
        marked.append(row)
    return marked


# ---------------------------------------------------------------------------
# Assertions shared by every case
# ---------------------------------------------------------------------------

def assert_finite_fit(fit, K):
    """Finite, valid parameters and log-likelihood; no NumPy RuntimeWarning."""
    numpy_warnings = [str(w.message) for w in fit.warnings
                      if issubclass(w.category, RuntimeWarning)]
    assert not numpy_warnings, f"NumPy warned during the fit: {numpy_warnings}"
    assert fit.weights.shape == (K,) and fit.means.shape == (K,)
    assert np.all(np.isfinite(fit.weights)) and np.all(fit.weights >= 0)
    assert fit.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.isfinite(fit.means))
    assert np.all(np.isfinite(fit.variances)) and np.all(fit.variances > 0)
    assert np.isfinite(fit.log_likelihood)
    assert np.all(np.isfinite(fit.history))
    if fit.model is not None:
        m = fit.model
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            value = getattr(m, name)
            assert np.all(np.isfinite(value)) and np.all(value > 0), name
        assert np.isfinite(m.lower_bound_)


def assert_predicts_finite(model, x):
    """The predict family gives finite, consistent answers on ``x``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        log_lik = model.score_samples(x)
        resp = model.predict_proba(x)
        labels = model.predict(x)
    assert not np.any(np.isnan(log_lik)) and np.all(log_lik < np.inf)
    assert np.all(np.isfinite(resp)) and np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((labels >= 0) & (labels < resp.shape[1]))
    # the label is a most probable component
    np.testing.assert_array_equal(resp[np.arange(x.size), labels], resp.max(axis=1))


def assert_warned(fit, category, match=None):
    hits = [w for w in fit.warnings if issubclass(w.category, category)]
    assert hits, f"expected a {category.__name__}, got {fit.categories()}"
    if match is not None:
        assert any(match in str(w.message) for w in hits), \
            [str(w.message) for w in hits]


# ---------------------------------------------------------------------------
# Constant data
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, 3.0, -7.5e3, 1e-300, 5e-324, 1e150, -1e300,
                                   1.7e308])
@pytest.mark.parametrize("fitter", FITTERS)
def test_constant_data_reg_covar_zero_warns_and_stays_finite(fitter, value):
    x = np.full(500, value)
    fit = fitter(x, 1, reg_covar=0.0)
    assert_finite_fit(fit, 1)
    assert fit.means[0] == value
    assert_warned(fit, DegenerateComponentWarning, "collapsed")
    if fit.model is not None:
        assert_predicts_finite(fit.model, x)


@pytest.mark.parametrize("fitter", FITTERS)
def test_constant_data_warns_and_variance_is_reg_covar(fitter):
    x = np.full(1000, 3.0)
    fit = fitter(x, 1, reg_covar=1e-6)
    assert_finite_fit(fit, 1)
    assert fit.means[0] == 3.0
    assert fit.variances[0] == pytest.approx(1e-6, rel=1e-12)
    assert_warned(fit, UserWarning, "single distinct value")


# ---------------------------------------------------------------------------
# All points duplicated: K distinct values, each repeated
# ---------------------------------------------------------------------------

DUP_VALUES = np.array([1.0, 2.0, 5.0])


@pytest.mark.parametrize("init_params", SEEDED_INITS)
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
def test_duplicated_values_estimator_finds_each_value(init_params, reg_covar):
    x = np.random.default_rng(0).permutation(np.repeat(DUP_VALUES, 1000))
    fit = fit_estimator(x, 3, init_params=init_params, reg_covar=reg_covar)
    assert_finite_fit(fit, 3)
    order = np.argsort(fit.means)
    np.testing.assert_allclose(fit.means[order], DUP_VALUES, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.weights[order], 1 / 3, rtol=1e-9)
    if reg_covar == 0.0:
        # every component sits on one value: held at the floor, and said so
        assert_warned(fit, DegenerateComponentWarning, "collapsed")
        assert np.all(fit.variances < 1e-20)
    else:
        np.testing.assert_allclose(fit.variances, reg_covar, rtol=1e-6)
    assert_predicts_finite(fit.model, DUP_VALUES)
    np.testing.assert_array_equal(fit.model.predict(DUP_VALUES), order.argsort())


@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
@pytest.mark.parametrize("fitter", FITTERS)
def test_duplicated_values_any_start_stays_finite(fitter, reg_covar):
    """The 'random' init (near-identical starting components) and cyem.em
    from quantile starts: whatever optimum they reach must be finite."""
    x = np.random.default_rng(1).permutation(np.repeat(DUP_VALUES, 1000))
    fit = fitter(x, 3, init_params="random", reg_covar=reg_covar)
    assert_finite_fit(fit, 3)
    if fit.model is not None:
        assert_predicts_finite(fit.model, DUP_VALUES)


# ---------------------------------------------------------------------------
# A component collapsing onto a single point (reg_covar = 0)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fitter", FITTERS)
def test_component_collapsing_onto_one_point(fitter):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, 500), np.full(50, 4.0)])
    start = ([0.9, 0.1], [0.0, 4.0], [1.0, 0.5])
    fit = fitter(x, 2, start=start, reg_covar=0.0)
    assert_finite_fit(fit, 2)
    assert_warned(fit, DegenerateComponentWarning, "collapsed")
    spike = int(np.argmin(np.abs(fit.means - 4.0)))
    assert fit.means[spike] == pytest.approx(4.0, abs=1e-12)
    assert fit.weights[spike] == pytest.approx(50 / 550, rel=1e-6)
    # held at the documented floor (eps * frame scale)^2, not at 0: the frame
    # scale is the smallest power of two >= the interquartile range of the
    # data (cyem/_frame.py), here 2
    q25, q75 = np.percentile(x, [25, 75])
    frame_scale = 2.0 ** np.ceil(np.log2(q75 - q25))
    assert frame_scale == 2.0
    assert fit.variances[spike] == pytest.approx((np.finfo(float).eps * frame_scale) ** 2,
                                                 rel=1e-12, abs=0)
    other = 1 - spike
    assert fit.variances[other] == pytest.approx(1.0, abs=0.2)
    if fit.model is not None:
        assert_predicts_finite(fit.model, x)


# ---------------------------------------------------------------------------
# A component losing all its mass
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("fitter", FITTERS)
def test_component_losing_all_mass(fitter, covariance_type):
    x = np.random.default_rng(0).normal(0.0, 1.0, 1000)
    # the second component starts 10^4 standard deviations away: every
    # membership underflows to exactly 0 on the first E step
    start = ([0.5, 0.5], [0.0, 1e4], [1.0, 1.0])
    if fitter is fit_em:
        fit = fitter(x, 2, start=start, tied=covariance_type == "tied")
    else:
        fit = fitter(x, 2, start=start, covariance_type=covariance_type)
    assert_finite_fit(fit, 2)
    assert_warned(fit, DegenerateComponentWarning, "lost all their mass")
    assert fit.weights[1] < 1e-12
    assert fit.means[1] == 1e4                  # documented: keeps its last mean
    assert fit.means[0] == pytest.approx(x.mean(), abs=1e-9)
    if fit.model is not None:
        assert_predicts_finite(fit.model, x)
        assert np.all(fit.model.predict(x) == 0)


# ---------------------------------------------------------------------------
# Extreme scales
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-100])
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
@pytest.mark.parametrize("fitter", FITTERS)
def test_tiny_scale_data(fitter, reg_covar, scale):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, 500), rng.normal(3, 1, 500)]) * scale
    if reg_covar == 0.0 and scale < 1e-160:
        # the true variances (~scale^2) underflow double precision and nothing
        # lifts them: refused, naming the data and the limit
        with pytest.raises(ValueError, match=r"^[Xx] spans only .*underflow"):
            fitter(x, 2, reg_covar=reg_covar)
        return
    fit = fitter(x, 2, reg_covar=reg_covar)
    assert_finite_fit(fit, 2)
    assert np.all((fit.means >= x.min()) & (fit.means <= x.max()))
    if reg_covar == 0.0 and scale == 1e-100:
        # representable variances: the two groups are found
        np.testing.assert_allclose(np.sort(fit.means) / scale, [-3, 3], atol=0.2)
    if fit.model is not None:
        assert_predicts_finite(fit.model, x)


@pytest.mark.parametrize("fitter", FITTERS)
def test_subnormal_data(fitter):
    x = np.tile([0.0, 5e-324, 1e-323], 20)
    # without reg_covar no variance of such data is representable: refused
    with pytest.raises(ValueError, match=r"^[Xx] spans only"):
        fitter(x, 3, reg_covar=0.0)
    # with it, the model is three components of variance reg_covar
    fit = fitter(x, 3, reg_covar=1e-300)
    assert_finite_fit(fit, 3)
    np.testing.assert_allclose(fit.variances, 1e-300, rtol=1e-12)


@pytest.mark.parametrize("scale", [1e100, 1e150])
@pytest.mark.parametrize("fitter", FITTERS)
def test_large_scale_data_within_range(fitter, scale):
    """Ranges up to ~1e150 (variances up to ~1e300) have a finite model."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, 500), rng.normal(3, 1, 500)]) * scale
    fit = fitter(x, 2)
    assert_finite_fit(fit, 2)
    np.testing.assert_allclose(np.sort(fit.means) / scale, [-3, 3], atol=0.2)
    np.testing.assert_allclose(fit.variances / scale ** 2, 1.0, atol=0.3)
    if fit.model is not None:
        assert_predicts_finite(fit.model, x)


@pytest.mark.parametrize("value", [1e200, -1e300])
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
@pytest.mark.parametrize("fitter", FITTERS)
def test_huge_constant_data_is_finite(fitter, reg_covar, value):
    """Constant data at 1e300 has a finite model: mean 1e300, variance
    reg_covar (or the floor)."""
    x = np.full(100, value)
    fit = fitter(x, 1, reg_covar=reg_covar, max_iter=20)
    assert_finite_fit(fit, 1)
    assert fit.means[0] == value


@pytest.mark.parametrize("data", [
    pytest.param(np.random.default_rng(0).normal(0, 1, 1000) * 1e300, id="normal*1e300"),
    pytest.param(np.random.default_rng(0).normal(0, 1, 1000) * 1e160, id="normal*1e160"),
    pytest.param(np.repeat([1e300, 1.1e300], 50), id="1e300-two-values"),
    pytest.param(np.tile([1e308, -1e308], 10), id="+-1e308"),
    pytest.param(np.tile([1.7e308, -1.7e308], 10), id="+-1.7e308"),
])
@pytest.mark.parametrize("fitter", FITTERS)
def test_data_whose_variance_overflows_is_clipped_with_warning_or_refused(fitter, data,
                                                                         request):
    """A spread beyond ~1e154 has no float64 variance. Two documented outcomes
    are acceptable: a ValueError naming the data, or finite parameters (the
    variance clipped to the largest double) with a warning saying so. Not
    NaN, not inf, not silence."""
    K = 1 if np.unique(data).size < 3 else 2
    try:
        fit = fitter(data, K, max_iter=20)
    except ValueError as exc:
        # the message starts with the data argument's name (X, or em's x)
        assert str(exc).startswith(("X ", "x ")), str(exc)
        return
    assert_finite_fit(fit, K)
    assert_warned(fit, UserWarning)        # DegenerateComponentWarning included
    assert np.all((fit.means >= data.min()) & (fit.means <= data.max()))
    if fit.model is not None:
        assert_predicts_finite(fit.model, data)


@pytest.mark.parametrize("fitter", FITTERS)
def test_far_starting_mean_recovers(fitter):
    """With one component every membership is 1 whatever the start, so one
    EM step lands on the data's mean and variance, from any finite start (or
    a start that far is refused with a ValueError)."""
    x = np.array([0.0, 1.0, 2.0])
    try:
        fit = fitter(x, 1, start=([1.0], [1e200], [1.0]), reg_covar=0.0)
    except ValueError as exc:
        # 1e200 is beyond 2**510 of the data: refused, naming the start
        assert str(exc).startswith(("means_init ", "means ")), str(exc)
        return
    assert_finite_fit(fit, 1)
    assert fit.means[0] == pytest.approx(1.0, abs=1e-9)
    assert fit.variances[0] == pytest.approx(2 / 3, rel=1e-9)


@pytest.mark.parametrize("fitter", FITTERS)
def test_tiny_span_with_a_far_start(fitter):
    """A start 1e311 data spans away: the frame covers it (no overflow), and
    EM walks back onto the data. The first M steps lose the digits of the
    distance travelled (mean = shift + sum / count with a shift ~1e311 spans
    away); each step recovers ~52 bits, so a few more iterations than a near
    start are needed before the mean is inside the data's range."""
    x = np.array([0.0, 2.2250738585072014e-308])
    fit = fitter(x, 1, start=([1.0], [2897.0], [1.0]), max_iter=40, tol=0.0)
    assert_finite_fit(fit, 1)
    assert 0.0 <= fit.means[0] <= x.max()


@pytest.mark.parametrize("fitter", FITTERS)
def test_tiny_span_with_large_variance(fitter):
    """Data spanning 3e-160 with a variance of ~1e8 (reg_covar, or the start):
    the model is one wide component centred on the data."""
    x = np.array([0.0, 1e-160, 2e-160, 3e-160])
    if fitter is fit_em:
        fit = fitter(x, 1, start=([1.0], [0.0], [1e4]), reg_covar=1e8)
    else:
        fit = fitter(x, 1, reg_covar=1e8)
    assert_finite_fit(fit, 1)
    assert fit.variances[0] == pytest.approx(1e8, rel=1e-6)
    assert 0.0 <= fit.means[0] <= 3e-160


@pytest.mark.parametrize("value", [1e155, -1e300, 1.7e308])
def test_predict_family_on_far_points_is_finite(value):
    rng = np.random.default_rng(0)
    model = GaussianMixture(2, random_state=0).fit(
        np.concatenate([rng.normal(-3, 1, 500), rng.normal(3, 1, 500)]))
    assert_predicts_finite(model, [value, 0.0])


@pytest.mark.parametrize("fitter", FITTERS)
def test_point_out_of_reach_of_starting_components(fitter):
    # stds of 2e-75 (precisions 2.5e149; GaussianMixture accepts up to 1e150)
    # and a point 1e80 away: ((x - mu) / sigma)^2 = 2.5e309 overflows
    x = np.array([0.0, 1.0, 2.0, 3.0, 1e80])
    start = ([0.5, 0.5], [0.0, 1.0], [2e-75, 2e-75])
    try:
        fit = fitter(x, 2, start=start, max_iter=20)
    except ValueError:
        return                              # a clear error is acceptable too
    assert_finite_fit(fit, 2)


def test_means_init_away_from_tiny_span_data_without_reg_covar():
    # the component started at 1.3e8 gets the floor variance (eps * 3e-151)^2
    # from the k-means init: every point is beyond 1e154 of its std devs
    x = np.array([0.0, 3.5e-293])
    with pytest.raises(ValueError, match=r"^X spans only"):
        fit_estimator(x, 2, reg_covar=0.0, max_iter=5, means_init=[0.0, 1.3e8])
    fit = fit_estimator(x, 2, reg_covar=1e-300, max_iter=5, means_init=[0.0, 1.3e8])
    assert_finite_fit(fit, 2)


# ---------------------------------------------------------------------------
# Extreme sample weights: the fit must not depend on their scale
# ---------------------------------------------------------------------------

_WEIGHT_SCALE = (
    "m_step (cyem/_params.py) adds _COUNT_EPS = 10 eps to every count; with a "
    "total weight below ~1e-12 that constant dominates the counts, so the fit "
    "depends on the scale of sample_weight (weights stay at 1/K, means barely "
    "move) although check_sample_weight's message says it does not. Repro: "
    "fit(x, sample_weight=np.full(x.size, 1e-20)) vs fit(x)")


@pytest.mark.parametrize("weight_scale", [
    1e-300, 1e-20, 1e-6, 1e20, 1e300,
])
@pytest.mark.parametrize("fitter", FITTERS)
def test_fit_does_not_depend_on_weight_scale(fitter, weight_scale):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, 500), rng.normal(3, 1, 500)])
    ref = fitter(x, 2, init_params="quantile", tol=1e-10)
    fit = fitter(x, 2, init_params="quantile", tol=1e-10,
                 sample_weight=np.full(x.size, weight_scale))
    assert_finite_fit(fit, 2)
    np.testing.assert_allclose(fit.weights, ref.weights, rtol=1e-8)
    np.testing.assert_allclose(fit.means, ref.means, rtol=1e-8)
    np.testing.assert_allclose(fit.variances, ref.variances, rtol=1e-8)


# ---------------------------------------------------------------------------
# Huge offsets: shifted sums must keep the small spread
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [1e9, 1e12, -1e14])
@pytest.mark.parametrize("fitter", FITTERS)
def test_huge_offset_recovers_spread(fitter, offset):
    rng = np.random.default_rng(0)
    x = offset + np.concatenate([rng.normal(-3, 1, 2000), rng.normal(3, 1, 2000)])
    fit = fitter(x, 2, tol=1e-8, max_iter=500)
    assert_finite_fit(fit, 2)
    order = np.argsort(fit.means)
    # float64 spacing at 1e14 is 0.016: the naive sum(x^2)/N - mean^2 would
    # lose every digit of a unit variance here, the shifted sums keep them
    np.testing.assert_allclose(fit.means[order] - offset, [-3, 3], atol=0.1)
    np.testing.assert_allclose(fit.variances, 1.0, atol=0.15)
    np.testing.assert_allclose(fit.weights, 0.5, atol=0.05)


# ---------------------------------------------------------------------------
# K = n: as many components as (distinct) points
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("init_params", SEEDED_INITS)
@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
@pytest.mark.parametrize("n", [2, 10, 40])
def test_as_many_components_as_points(n, reg_covar, init_params):
    x = np.random.default_rng(n).permutation(np.arange(n) * 0.37 - 4.0)
    fit = fit_estimator(x, n, init_params=init_params, reg_covar=reg_covar)
    assert_finite_fit(fit, n)
    np.testing.assert_allclose(np.sort(fit.means), np.sort(x), rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.weights, 1.0 / n, rtol=1e-9)
    if reg_covar == 0.0:
        assert_warned(fit, DegenerateComponentWarning, "collapsed")
    assert_predicts_finite(fit.model, x)


@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
def test_as_many_components_as_points_em(reg_covar):
    x = np.arange(10) * 0.37 - 4.0
    fit = fit_em(x, 10, start=(np.full(10, 0.1), x, np.full(10, 0.1)),
                 reg_covar=reg_covar)
    assert_finite_fit(fit, 10)
    np.testing.assert_allclose(fit.means, x, rtol=0, atol=1e-9)
    if reg_covar == 0.0:
        assert_warned(fit, DegenerateComponentWarning, "collapsed")


def test_more_components_than_distinct_values_is_a_clear_error():
    x = np.repeat([1.0, 2.0], 50)
    with pytest.raises(ValueError, match="n_components.*distinct"):
        GaussianMixture(3).fit(x)
    with pytest.raises(ValueError, match="distinct"):
        cyem.em(x, [1 / 3] * 3, [1.0, 1.5, 2.0], [1.0] * 3)


# ---------------------------------------------------------------------------
# Bugs the broadened fuzzing found (issue 19), one regression test each
# ---------------------------------------------------------------------------

def test_one_dominant_sample_weight_gives_no_runtime_warning():
    """np.cov's unbiased weighted factor is <= 0 once one weight is ~1e16 times
    the others; the initialisation uses the population covariance instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        gm = GaussianMixture(1).fit([[0.0, 0.0], [1.0, 2.0]], sample_weight=[1.0, 1e16])
        np.testing.assert_allclose(gm.means_, [[1.0, 2.0]], rtol=1e-12)
        gm = GaussianMixture(3, means_init=[0.0, 0.0, 0.0]).fit(
            [0.0, 1.0, 2.0], sample_weight=[1.0, 1.0, 1e17])
        assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))


def test_em_totals_beyond_float64_are_clipped_not_infinite():
    """A hopeless start with huge weights: the first total log-likelihood is
    about -5e308, reported as the most negative double (documented)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)      # a single distinct value
        res = cyem.em([1.0], [1.0], [0.0], [1e-150], sample_weight=[1e9], max_iter=1)
    assert res.history[0] == -np.finfo(float).max
    assert np.isfinite(res.log_likelihood)


def test_sample_after_a_covariance_repaired_to_barely_positive_definite():
    """covariances_ with a condition number ~1e17 (repaired with the smallest
    jitter that factorises it): NumPy's Cholesky rejects it, so sample() draws
    with the fit's own precision factor, and the draws have the covariance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(1, reg_covar=0.0, max_iter=1, means_init=np.zeros((1, 6))).fit(
            [[1, 1, 1, -2, -3, -2], [0, -2, 1, 0, 0, 1]])
    X, labels = gm.sample(4)
    assert X.shape == (4, 6) and np.all(np.isfinite(X))
    # on a well-conditioned fit the same sampler reproduces covariances_
    rng = np.random.default_rng(0)
    data = rng.multivariate_normal([0, 0, 0], [[2, .5, .3], [.5, 1, .2], [.3, .2, .5]], 5000)
    for ctype in ("full", "tied"):
        fit = GaussianMixture(1, covariance_type=ctype, random_state=0).fit(data)
        draws, _ = fit.sample(200_000)
        want = fit.covariances_[0] if ctype == "full" else fit.covariances_
        np.testing.assert_allclose(np.cov(draws.T), want, atol=0.03)
