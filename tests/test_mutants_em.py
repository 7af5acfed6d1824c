"""The EM driver (cyem/_em.py): tests that kill mutants ``tools/mutation.py``
found surviving.

``run_em`` and ``em`` are checked against a plain NumPy EM written here
(scikit-learn's formulas: 10 eps added to each count, reg_covar added to each
variance), from the same start.
"""

import re

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import cyem
from cyem._em import run_em
from cyem._model import UnivariateModel

EPS = np.finfo(np.float64).eps


def _numpy_em(x, v, weights, means, variances, n_iter, reg_covar, tied=False):
    """(weights, means, variances, mean log-lik of each start, total weight)."""
    lower_bounds = []
    for _ in range(n_iter):
        log_p = np.log(weights) + norm.logpdf(x[:, None], means, np.sqrt(variances))
        log_px = logsumexp(log_p, axis=1)
        lower_bounds.append(np.sum(v * log_px) / v.sum())
        vr = v[:, None] * np.exp(log_p - log_px[:, None])
        counts = vr.sum(0) + 10 * EPS
        means = (vr * x[:, None]).sum(0) / counts
        scatter = (vr * (x[:, None] - means) ** 2).sum(0)
        variances = (np.full(len(counts), scatter.sum() / counts.sum()) if tied
                     else scatter / counts) + reg_covar
        weights = counts / counts.sum()
    return weights, means, variances, np.array(lower_bounds)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(-2, 1, 300), rng.normal(3, 0.7, 200)]
    v = rng.uniform(0.2, 3.0, x.shape[0])
    return x, v


@pytest.mark.parametrize("tied", [False, True])
def test_em_totals_and_parameters_match_a_numpy_em(tied):
    x, v = _data()
    w0, m0, s0 = np.array([0.3, 0.7]), np.array([-1.0, 1.0]), np.array([1.5, 0.5])
    res = cyem.em(x, w0, m0, s0, sample_weight=v, tied=tied, tol=0.0, max_iter=6,
                  reg_covar=1e-3)
    start_var = np.full(2, np.dot(w0, s0 ** 2)) if tied else s0 ** 2
    weights, means, variances, bounds = _numpy_em(x, v, w0, m0, start_var, 6, 1e-3, tied)
    np.testing.assert_allclose(res.weights, weights, rtol=1e-12)
    np.testing.assert_allclose(res.means, means, rtol=1e-12)
    np.testing.assert_allclose(res.stds, np.sqrt(variances), rtol=1e-12)
    np.testing.assert_allclose(res.history, bounds * v.sum(), rtol=1e-12)
    log_lik = np.sum(v * logsumexp(np.log(weights) + norm.logpdf(
        x[:, None], means, np.sqrt(variances)), axis=1))
    assert res.log_likelihood == pytest.approx(log_lik, rel=1e-12)
    assert res.n_iter == 6 and not res.converged


def test_run_em_counts_iterations_and_prints_every_verbose_interval(capsys):
    x, v = _data(1)
    model = UnivariateModel(x, v, "full", 0.0, 1)
    params = model.from_data_units(np.array([0.5, 0.5]), np.array([-1.0, 1.0]),
                                   np.array([1.0, 1.0]))
    run = run_em(model, params, tol=0.0, max_iter=7, verbose=2, verbose_interval=3)
    assert run.n_iter == 7 and len(run.lower_bounds) == 7 and not run.converged
    lines = capsys.readouterr().out.splitlines()
    assert [int(re.search(r"Iteration (\d+)", line).group(1)) for line in lines] == [3, 6]
    printed = [float(re.search(r"lower bound (\S+)", line).group(1)) for line in lines]
    np.testing.assert_allclose(printed, [run.lower_bounds[2], run.lower_bounds[5]], rtol=1e-9)
    run_em(model, params, tol=0.0, max_iter=7, verbose=1, verbose_interval=3)
    assert capsys.readouterr().out == ""            # iterations only from verbose=2
    # scikit-learn's default verbose_interval, 10
    run_em(model, params, tol=0.0, max_iter=10, verbose=2)
    assert capsys.readouterr().out.lstrip().startswith("Iteration 10\t")
    # the first change is measured from -inf, as in scikit-learn: +inf
    run_em(model, params, tol=0.0, max_iter=1, verbose=2, verbose_interval=1)
    assert capsys.readouterr().out.rstrip().endswith("change inf")


def test_run_em_stops_at_the_first_change_below_tol():
    x, v = _data(2)
    model = UnivariateModel(x, v, "full", 0.0, 1)
    params = model.from_data_units(np.array([0.5, 0.5]), np.array([-1.0, 1.0]),
                                   np.array([1.0, 1.0]))
    full = run_em(model, params, tol=0.0, max_iter=12)
    # changes[j] is the change seen at iteration j + 2; here they shrink steadily
    changes = np.abs(np.diff(full.lower_bounds))
    assert np.all(np.diff(changes[:8]) < 0)
    just_above = np.nextafter(changes[4], np.inf)
    run = run_em(model, params, tol=just_above, max_iter=12)
    assert run.converged and run.n_iter == 6
    np.testing.assert_array_equal(run.lower_bounds, full.lower_bounds[:6])
    # scikit-learn's rule is "change < tol": a change equal to tol does not stop
    run = run_em(model, params, tol=float(changes[4]), max_iter=12)
    assert run.converged and run.n_iter == 7


def test_em_refuses_weights_that_are_not_one_dimensional():
    x = np.arange(10.0)
    for bad in (np.array([[0.5, 0.5]]), np.array([])):
        with pytest.raises(ValueError, match="^weights must be a 1-D array"):
            cyem.em(x, bad, [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(TypeError, match="^tied must be a bool"):
        cyem.em(x, [0.5, 0.5], [0.0, 1.0], [1.0, 1.0], tied=1)


def test_em_runs_at_most_1000_passes_by_default():
    x, _ = _data(3)
    res = cyem.em(x, [0.5, 0.5], [-1.0, 1.0], [1.0, 1.0], tol=0.0)   # never converges
    assert res.n_iter == 1000 and res.history.shape == (1000,)
