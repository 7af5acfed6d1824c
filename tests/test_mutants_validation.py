"""Validation (cyem/_validation.py): tests that kill mutants ``tools/mutation.py``
found surviving in its sample of that module.
"""

import warnings

import numpy as np
import pytest

from cyem import _validation as v


def test_two_dimensional_data_need_one_sample():
    with pytest.raises(ValueError, match="^X is empty"):
        v.check_data(np.empty((0, 2)))
    np.testing.assert_array_equal(v.check_data(np.array([[1.0, 2.0]])), [[1.0, 2.0]])


def test_reg_covar_warning_threshold_is_a_thousandth_of_the_smallest_variance():
    # np.var([-2, 2]) = 4: the warning starts above reg_covar = 4e-3
    x = np.array([-2.0, 2.0])
    with pytest.warns(UserWarning, match=r"^reg_covar=0.005 is more than 0.001 of the "
                                         r"variance of X \(4\).*\(e\.g\. to 4e-06\)"):
        v.warn_if_reg_covar_dominates(x, 5e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v.warn_if_reg_covar_dominates(x, 3e-3)


def test_precisions_init_must_be_symmetric_and_give_their_inverse():
    good = np.array([[[2.0, 0.5], [0.5, 1.0]]])
    np.testing.assert_allclose(v.check_initial_precisions_md(good, 1, 2, "full"),
                               np.linalg.inv(good), rtol=1e-14)
    with pytest.raises(ValueError, match="^precisions_init: matrix 0 is not symmetric"):
        v.check_initial_precisions_md(np.array([[[2.0, 0.5], [0.4, 1.0]]]), 1, 2, "full")


def test_diagonal_precisions_init_give_their_reciprocals():
    np.testing.assert_array_equal(
        v.check_initial_precisions_md(np.array([[4.0, 0.5]]), 1, 2, "diag"), [[0.25, 2.0]])


def test_int_and_positive_vector_messages_state_the_allowed_range():
    with pytest.raises(ValueError, match=r"^max_iter must be >= 1, got 0$"):
        v.check_int(0, "max_iter", 1)
    with pytest.raises(ValueError, match=r"^k must be in \[1, 3\], got 5$"):
        v.check_int(5, "k", 1, 3)
    with pytest.raises(ValueError, match=r"^stds must lie between 0.01 and 100 "):
        v.check_positive_vector([1e3], 1, "stds", [(1,)], limit=100.0)


def test_two_dimensional_data_with_nan_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"^Y contains NaN \(1 value\)"):
        v.check_data(np.array([[1.0, 2.0], [np.nan, 3.0]]), "Y")
