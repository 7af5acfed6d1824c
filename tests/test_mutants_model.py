"""Sample-weight normalisation and unit conversions of cyem/_model.py: tests
that kill mutants ``tools/mutation.py`` found surviving.

Expected values come from the rules in the docstrings (powers of two, the
frame's origin and scale), computed here.
"""

import math
import warnings

import numpy as np
import pytest

from cyem import _params as uni
from cyem import _params_md as md
from cyem._frame import Frame
from cyem._model import (MultivariateModel, UnivariateModel, _normalised_weights,
                         _representable, weight_exponent)
from cyem.exceptions import DegenerateComponentWarning


def _exponent_of(mean):
    """e with mean / 2**e in [0.5, 1): the power of two that brings the mean near 1."""
    return math.floor(math.log2(mean)) + 1


@pytest.mark.parametrize("mean", [2.0 ** -10, 1.0, 0.001, 1000.0, 2.0 ** 10])
def test_weights_with_a_mean_in_2_pow_pm10_are_not_rescaled(mean):
    assert weight_exponent(mean) == 0


@pytest.mark.parametrize("mean", [np.nextafter(2.0 ** -10, 0), 1e-6, 1e-300,
                                  np.nextafter(2.0 ** 10, 1e300), 1536.0, 1e6, 1e300])
def test_weights_outside_2_pow_pm10_are_divided_by_the_power_of_two_near_their_mean(mean):
    # the one e with mean / 2**e in [0.5, 1)
    exponent = weight_exponent(mean)
    assert 0.5 <= mean / 2.0 ** exponent < 1.0


def test_normalised_weights():
    assert _normalised_weights(None) == (None, 0)
    w = np.array([1e6, 3e6])
    scaled, exponent = _normalised_weights(w)
    assert exponent == _exponent_of(2e6)
    np.testing.assert_array_equal(scaled, w / 2.0 ** exponent)
    # an exponent given by the caller (chunks share one) wins over the weights' own
    scaled, exponent = _normalised_weights(w, 3)
    assert exponent == 3
    np.testing.assert_array_equal(scaled, w / 8)
    ones = np.ones(4)
    scaled, exponent = _normalised_weights(ones)
    assert exponent == 0 and scaled is ones


def test_representable_clips_to_the_normal_doubles_and_warns():
    finfo = np.finfo(np.float64)
    with pytest.warns(DegenerateComponentWarning, match="clipped"):
        out = _representable(np.array([0.0, 1.0, np.inf]))
    np.testing.assert_array_equal(out, [finfo.tiny, 1.0, finfo.max])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(_representable(np.array([finfo.tiny, finfo.max])),
                                      [finfo.tiny, finfo.max])


FRAME = Frame(np.array([10.0]), 4.0)


def test_univariate_model_converts_between_the_frame_and_data_units():
    x = np.array([1.0, 2.0, 3.0])
    model = UnivariateModel(x, None, "full", 32.0, 1, frame=FRAME)
    assert model.reg_covar == 2.0                          # 32 / 4**2
    assert model.log_lik_shift() == -np.log(4.0)
    params = uni.MixtureParams(np.array([0.25, 0.75]), np.array([1.0, -2.0]),
                               np.array([2.0, 0.5]))
    weights, means, variances = model.to_data_units(params)
    np.testing.assert_array_equal(weights, [0.25, 0.75])
    np.testing.assert_array_equal(means, [[14.0], [2.0]])          # 10 + 4 m
    np.testing.assert_array_equal(variances, [32.0, 8.0])          # 16 v
    back = model.from_data_units(weights, means, variances)
    np.testing.assert_array_equal(back.means, params.means)
    np.testing.assert_array_equal(back.variances, params.variances)


def test_univariate_model_reports_held_means_as_given():
    model = UnivariateModel(np.array([1.0, 2.0, 3.0]), None, "full", 0.0, 1, frame=FRAME)
    held = np.array([0.1, 0.7])
    model.hold_fixed(means=held, variances=np.array([16.0, 64.0]))
    np.testing.assert_array_equal(model.fixed["means"], (held - 10.0) / 4.0)
    np.testing.assert_array_equal(model.fixed["variances"], [1.0, 4.0])
    params = uni.MixtureParams(np.array([0.5, 0.5]), np.array([9.0, 9.0]), np.ones(2))
    _, means, _ = model.to_data_units(params)
    np.testing.assert_array_equal(means.ravel(), held)


def test_univariate_tied_model_is_tied():
    assert UnivariateModel(np.ones(3), None, "tied", 0.0, 1, frame=FRAME).tied
    assert not UnivariateModel(np.ones(3), None, "full", 0.0, 1, frame=FRAME).tied


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_multivariate_model_converts_between_the_frame_and_data_units(covariance_type):
    frame = Frame(np.array([1.0, -1.0]), 2.0)
    X = np.zeros((3, 2))
    model = MultivariateModel(X, None, covariance_type, 8.0, 1, frame=frame)
    assert model.reg_covar == 2.0
    assert model.log_lik_shift() == -2 * np.log(2.0)
    cov = np.array([[[1.0, 0.5], [0.5, 2.0]]]) if covariance_type == "full" \
        else np.array([[1.0, 2.0]])
    cov, prec_chol = md.precision_cholesky(cov, covariance_type)
    params = md.MDParams(covariance_type, np.ones(1), np.array([[0.5, 1.0]]), cov, prec_chol)
    weights, means, cov_data, prec_chol_data = model.to_data_units(params)
    np.testing.assert_array_equal(means, [[2.0, 1.0]])              # origin + 2 m
    np.testing.assert_array_equal(cov_data, 4 * cov)
    if covariance_type == "full":
        np.testing.assert_allclose(prec_chol_data, prec_chol / 2, rtol=1e-15)
    else:
        np.testing.assert_allclose(prec_chol_data, 1 / np.sqrt(4 * cov), rtol=1e-15)
    back = model.from_data_units(weights, means, cov_data, prec_chol_data)
    np.testing.assert_allclose(back.precisions_cholesky, prec_chol, rtol=1e-15)
    np.testing.assert_array_equal(back.covariances, cov)
    np.testing.assert_array_equal(back.means, params.means)


def test_univariate_from_data_units_names_the_far_means():
    model = UnivariateModel(np.array([1.0, 2.0, 3.0]), None, "full", 0.0, 1, frame=FRAME)
    with pytest.raises(ValueError, match="^mu lies more than"):
        model.from_data_units(np.ones(1), np.array([1e200]), np.ones(1), names=("mu", "sd"))
