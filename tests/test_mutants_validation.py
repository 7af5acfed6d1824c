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
                                         r"variance of X \(4\)"):
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
