"""Frame rules at their boundaries: tests that kill mutants of cyem/_frame.py.

``tools/mutation.py`` found small changes to the frame (a comparison made
inclusive, a percentile or an exponent off by one) that no other test
noticed. Each test here states one rule of the frame's docstring at the value
where such a change shows, with the expected value derived from the rule
(powers of two, percentiles, medians computed here), not from the code.
"""

import re

import numpy as np
import pytest

from cyem._frame import Frame, _power_of_two_at_least

# The documented limits, written out here (not imported) so that a change to
# the module's constants shows: 2**510 (~3.4e153) and 2**-510 (~1.5e-154).
MAX_REACH = 2.0 ** 510
MIN_REACH = 2.0 ** -510
TINY = np.finfo(np.float64).tiny
MIN_SCALE = 2.0 ** -459      # the frame's documented scale range, 2**[-459, 511]
MAX_SCALE = 2.0 ** 511


def _lower_median(values):
    return np.sort(values)[(len(values) - 1) // 2]


@pytest.mark.parametrize("value, expected", [
    (4.0, 4.0), (2.0 ** -400, 2.0 ** -400), (1.0, 1.0),        # powers of two stay
    (5.0, 8.0), (0.3, 0.5), (np.nextafter(4.0, 5.0), 8.0),      # others round up
    (0.0, MIN_SCALE), (np.inf, MIN_SCALE), (np.nan, MIN_SCALE),
    (1e-200, MIN_SCALE), (1e300, MAX_SCALE),                    # clipped to the range
])
def test_power_of_two_at_least(value, expected):
    assert _power_of_two_at_least(value) == expected


# The scale is the smallest power of two >= the interquartile range (linear
# percentiles). On x_i = i h, i = 0..100, the p-th percentile is p h, so the
# IQR is 50 h: choose h so that 50 h sits just above or below 4.
@pytest.mark.parametrize("iqr, scale", [(4.01, 8.0), (3.99, 4.0)])
def test_scale_is_the_power_of_two_just_above_the_interquartile_range(iqr, scale):
    x = np.arange(101) * (iqr / 50)
    frame = Frame.from_data(x)
    assert frame.scale == scale
    assert frame.origin[0] == x[50]


def test_tied_bulk_falls_back_to_the_central_98_percent_range():
    # 95 of 101 values tied at 0: the IQR is 0; the 1st and 99th percentiles
    # are the second smallest and second largest values, 4.02 apart.
    x = np.r_[-10.0, -2.01, -1.0, np.zeros(95), 1.0, 2.01, 10.0]
    frame = Frame.from_data(x)
    assert frame.origin[0] == 0.0
    assert frame.scale == 8.0


def test_constant_data_get_the_smallest_scale():
    frame = Frame.from_data(np.full(7, 3.0))
    assert frame.origin[0] == 3.0
    assert frame.scale == MIN_SCALE


def test_origin_and_spread_come_from_every_kth_row_of_large_data():
    # 3 * 16384 rows: the frame's sample is every 3rd row (at most ~16384 rows)
    x = np.random.default_rng(5).normal(size=3 * 16384)
    frame = Frame.from_data(x)
    sample = x[::3]
    assert frame.origin[0] == _lower_median(sample)
    q25, q75 = np.percentile(sample, [25, 75])
    assert frame.scale == 2.0 ** np.ceil(np.log2(q75 - q25))


# Far values, reg_covar and starting means must be within 2**448 of the
# origin in frame units: one at 2**500 needs a scale of exactly 2**52.
BULK = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])


def test_a_far_value_sets_the_scale_to_its_reach_over_2_448():
    frame = Frame.from_data(np.r_[BULK, 2.0 ** 500])
    assert frame.origin[0] == 0.0
    assert frame.scale == 2.0 ** 52


def test_two_features_one_far_value():
    # per-feature medians; the far value's reach (from its feature's median) sets the scale
    X = np.c_[np.r_[BULK, 2.0 ** 500], np.r_[BULK, 7.0] + 100.0]
    frame = Frame.from_data(X)
    np.testing.assert_array_equal(frame.origin, [0.0, 100.0])
    assert frame.scale == 2.0 ** 52


def test_reg_covar_sets_the_scale_to_its_root_over_2_448():
    assert Frame.from_data(BULK, reg_covar=2.0 ** 1000).scale == 2.0 ** 52


def test_a_far_starting_mean_sets_the_scale_to_its_reach_over_2_448():
    assert Frame.from_data(BULK, start_means=np.array([[2.0 ** 500]])).scale == 2.0 ** 52


def test_max_reach_is_accepted_and_beyond_it_refused():
    # "refused if a value lies MORE than MAX_REACH from the median"
    Frame.from_data(np.array([0.0, 0.0, MAX_REACH]))
    Frame.from_data(np.array([0.0, 0.0, -MAX_REACH]))
    for far in (1.25 * MAX_REACH, -1.25 * MAX_REACH):
        # the message states the distance found
        with pytest.raises(ValueError, match=re.escape(f"X has values up to {abs(far):.3g} away")):
            Frame.from_data(np.array([0.0, 0.0, far]))


def test_starting_means_at_max_reach_are_accepted_and_beyond_refused():
    x = np.array([0.0, 1.0, 2.0])
    Frame.from_data(x, start_means=np.array([[1.0 + MAX_REACH]]))
    distance = 1.25 * MAX_REACH - 1.0
    with pytest.raises(ValueError, match=re.escape(f"means_init has a mean {distance:.3g} away")):
        Frame.from_data(x, start_means=np.array([[1.25 * MAX_REACH]]))
    frame = Frame(np.array([0.0]), 1.0)
    assert frame.means_to_frame(np.array([MAX_REACH]))[0] == MAX_REACH
    with pytest.raises(ValueError, match="^fixed lies more than"):
        frame.means_to_frame(np.array([1.25 * MAX_REACH]), "fixed")


def test_min_reach_is_accepted_and_reg_covar_of_tiny_lifts_a_smaller_span():
    # "data spanning LESS than MIN_REACH are refused unless reg_covar >= tiny"
    Frame.from_data(np.array([0.0, MIN_REACH]))
    tiny_span = np.array([0.0, 0.25 * MIN_REACH])
    Frame.from_data(tiny_span, reg_covar=TINY)
    span = 0.25 * MIN_REACH
    with pytest.raises(ValueError, match=re.escape(f"X spans only {span:.3g}:") + ".*Rescale X "):
        Frame.from_data(tiny_span, reg_covar=np.nextafter(TINY, 0.0))


def test_from_params_scale_covers_the_reach_of_the_means_and_the_spread():
    weights = np.array([0.6, 0.4])
    means = np.array([[0.0], [2.0 ** 10]])
    frame = Frame.from_params(weights, means, 3.0)
    assert frame.origin[0] == 0.0
    assert frame.scale == 2.0 ** 10             # reach 2**10 > spread 3
    assert Frame.from_params(weights, means, 2.0 ** 10 + 1).scale == 2.0 ** 11


def test_conversions_between_the_frame_and_data_units():
    frame = Frame(np.array([1.0, -2.0]), 4.0)
    assert frame.n_features == 2
    assert frame.inv_scale == 0.25
    assert frame.log_scale == np.log(4.0)
    np.testing.assert_array_equal(frame.means_to_frame(np.array([[9.0, 2.0]])), [[2.0, 1.0]])
    np.testing.assert_array_equal(frame.means_from_frame(np.array([[2.0, 1.0]])), [[9.0, 2.0]])
    np.testing.assert_array_equal(frame.variances_to_frame(np.array([32.0, 1.0])),
                                  [2.0, 1.0 / 16])
