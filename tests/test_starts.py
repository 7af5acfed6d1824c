"""The default set of EM starts (``n_init=None``) against R's mclust, and the
flag for select() cells that merely copy a smaller fit (issue 12).

Reference values come from R 4.2.2 + mclust 6.0.0: tests/data/mclust_univariate.R
wrote tests/data/mclust_single_fits.csv and faithful_waiting_mclust.csv;
scripts/mclust_galaxies.R wrote cyem/datasets/galaxies_mclust.csv.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import cyem
from cyem._init import DEFAULT_SEEDED_STARTS, start_strategies
from cyem.datasets import load_galaxies, load_galaxies_mclust

DATA = Path(__file__).parent / "data"

#: "At least mclust's": mclust stops at its own tolerance, a little below the
#: optimum; this slack only absorbs rounding of equal optima (K = 1).
SLACK = 1e-9

#: Converged EM from any start, whatever the default stopping rule is.
TIGHT = dict(tol=1e-10, max_iter=100_000)


def _read_csv(name):
    with open(DATA / name, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _faithful_waiting():
    return np.array([float(r["waiting"]) for r in _read_csv("faithful_waiting.csv")])


def _datasets():
    return {"galaxies_1000": load_galaxies(), "faithful_waiting": _faithful_waiting()}


def _mclust_single(dataset, covariance_type):
    """Mclust(x, G = 4, modelNames = "V" or "E")$loglik."""
    row, = [r for r in _read_csv("mclust_single_fits.csv")
            if r["dataset"] == dataset and r["covariance_type"] == covariance_type]
    return float(row["log_likelihood"])


def _mclust_sweep(dataset):
    """{(G, covariance_type): log-likelihood} of Mclust(x, G = 1:9, c("E", "V"))."""
    rows = load_galaxies_mclust() if dataset == "galaxies_1000" else \
        _read_csv("faithful_waiting_mclust.csv")
    return {(int(r["n_components"]), r["covariance_type"]): float(r["log_likelihood"])
            for r in rows}


def _total_log_likelihood(model, x):
    return float(model.score_samples(x).sum())


# ---- the reference data -----------------------------------------------------

def test_faithful_waiting_is_r_datasets_copy():
    x = _faithful_waiting()
    # R: length, sum, range and first values of faithful$waiting.
    assert x.shape == (272,)
    assert x.sum() == 19284 and x.min() == 43 and x.max() == 96
    assert list(x[:5]) == [79, 54, 74, 62, 85]


def test_single_cell_references_agree_with_the_sweeps():
    # mclust's single-cell G = 4 fits equal its sweep's cells (same hc start).
    for dataset in _datasets():
        sweep = _mclust_sweep(dataset)
        for ctype in ("full", "tied"):
            assert _mclust_single(dataset, ctype) == pytest.approx(
                sweep[(4, ctype)], abs=1e-6)


# ---- the start plan ---------------------------------------------------------

def test_start_strategies():
    assert start_strategies("kmeans", 3) == ["kmeans"] * 3
    assert start_strategies("random", None) == ["quantile"] + ["random"] * DEFAULT_SEEDED_STARTS
    assert start_strategies("quantile", None) == ["quantile"]
    assert start_strategies("kmeans", None, start_given=True) == ["kmeans"]
    assert start_strategies("quantile", 2) == ["quantile", "quantile"]


def test_default_is_the_best_of_its_starts_and_deterministic():
    """n_init=None runs the quantile start, then the seeded starts that
    n_init=DEFAULT_SEEDED_STARTS draws from the same random_state (the
    quantile start draws nothing), and keeps the highest lower bound."""
    x = load_galaxies()
    default = cyem.GaussianMixture(4, random_state=0, **TIGHT).fit(x)
    quantile = cyem.GaussianMixture(4, init_params="quantile", n_init=1, **TIGHT).fit(x)
    seeded = cyem.GaussianMixture(4, n_init=DEFAULT_SEEDED_STARTS, random_state=0,
                                  **TIGHT).fit(x)
    assert default.lower_bound_ == max(quantile.lower_bound_, seeded.lower_bound_)
    again = cyem.GaussianMixture(4, random_state=0, **TIGHT).fit(x)
    np.testing.assert_array_equal(default.means_, again.means_)
    np.testing.assert_array_equal(default.covariances_, again.covariances_)


def test_kmeans_alone_misses_mclusts_galaxies_optimum():
    """Why the default is a set: scikit-learn's default start (k-means, one
    start) converges to a lower optimum on galaxies K = 4 "V"."""
    x = load_galaxies()
    mclust = _mclust_single("galaxies_1000", "full")
    for seed in range(3):
        km = cyem.GaussianMixture(4, n_init=1, random_state=seed, **TIGHT).fit(x)
        assert _total_log_likelihood(km, x) < mclust - 1.0
    sk = SkGaussianMixture(4, random_state=0, **TIGHT).fit(x[:, None])
    assert sk.score(x[:, None]) * x.size < mclust - 1.0


# ---- GaussianMixture(K) reaches mclust --------------------------------------

@pytest.mark.parametrize("dataset", ["galaxies_1000", "faithful_waiting"])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_default_starts_reach_mclust(dataset, covariance_type):
    """The default set of starts, each run to convergence, reaches mclust's
    Mclust(x, G = 4, modelNames = "V"/"E") log-likelihood."""
    x = _datasets()[dataset]
    model = cyem.GaussianMixture(4, covariance_type=covariance_type, random_state=0,
                                 **TIGHT).fit(x)
    mclust = _mclust_single(dataset, covariance_type)
    assert _total_log_likelihood(model, x) >= mclust - SLACK * abs(mclust)


def test_galaxies_fully_default_fit_reaches_mclust():
    """Acceptance (issue 12): GaussianMixture(4, random_state=0) with every
    other argument at its default, on galaxies / 1000."""
    x = load_galaxies()
    model = cyem.GaussianMixture(4, random_state=0).fit(x)
    mclust = _mclust_single("galaxies_1000", "full")
    assert _total_log_likelihood(model, x) >= mclust - SLACK * abs(mclust)


# ---- every select() cell reaches mclust -------------------------------------

@pytest.mark.parametrize("dataset", ["galaxies_1000", "faithful_waiting"])
def test_select_every_cell_at_least_mclust(dataset):
    x = _datasets()[dataset]
    result = cyem.select(x, n_components=range(1, 10), covariance_types=("tied", "full"),
                         random_state=0)
    reference = _mclust_sweep(dataset)
    assert len(result.records) == len(reference) == 18
    for row in result.records:
        mclust = reference[(row["n_components"], row["covariance_type"])]
        assert row["log_likelihood"] >= mclust - SLACK * abs(mclust), row
        # Genuine K-component fits, not copies of smaller ones.
        assert row["n_distinct"] == row["n_components"] and not row["copy"], row


# ---- the "copy of a smaller fit" flag ---------------------------------------

def test_duplicate_components_are_flagged_as_a_copy():
    """Equal means with a tied variance stay equal under EM: the 4-component
    fit is the 2-component one with its weights split, so its likelihood is
    that of scikit-learn's 2-component fit from the same means."""
    x = load_galaxies()
    result = cyem.select(x, n_components=[4], covariance_types="tied", n_init=2,
                         random_state=0, means_init=[10.0, 10.0, 21.0, 21.0])
    row, = result.records
    assert row["copy"] and row["n_distinct"] == 2
    assert "copy of K=2" in result.format_table()
    sk = SkGaussianMixture(2, covariance_type="tied", means_init=[[10.0], [21.0]],
                           **TIGHT).fit(x[:, None])
    assert row["log_likelihood"] == pytest.approx(sk.score(x[:, None]) * x.size,
                                                  abs=1e-6)


def test_empty_component_is_flagged_as_a_copy():
    """A component started far from all the data loses every membership."""
    x = load_galaxies()
    with pytest.warns(cyem.DegenerateComponentWarning, match="every candidate"):
        result = cyem.select(x, n_components=[3], covariance_types="tied", n_init=1,
                             init_params="kmeans", random_state=0,
                             means_init=[10.0, 21.0, 1e4])
    row, = result.records
    assert row["min_count"] < 1e-3
    assert row["copy"] and row["n_distinct"] == 2


def test_close_but_distinct_components_are_not_a_copy():
    """Two overlapping but distinct components are counted as two."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, 300), rng.normal(0.5, 1.0, 300)])
    result = cyem.select(x, n_components=[2], covariance_types="full", random_state=0,
                         means_init=[-0.5, 1.0])
    row, = result.records
    assert row["n_distinct"] == 2 and not row["copy"]


# ---- the quantile start on large data ---------------------------------------

def _start_in_data_units(x, K):
    from cyem._init import initial_parameters
    from cyem._model import make_model

    model = make_model(x, None, "full", 1e-6, 1)
    start = initial_parameters(model, K, "quantile", None)
    means = np.asarray(start.means) / model.frame.inv_scale + model.frame.origin
    return np.asarray(start.weights), means


@pytest.mark.parametrize("n_features", [1, 2])
def test_large_quantile_start_matches_exact_equal_count_groups(n_features):
    """Beyond QUANTILE_EXACT_SIZE points the cuts come from a strided
    subsample: the groups still hold ~1/K of the data each and their means
    match those of the exact equal-count groups of the sorted data (NumPy)."""
    from cyem import _init

    rng = np.random.default_rng(1)
    n, K = 10 * _init.QUANTILE_EXACT_SIZE, 3
    first = rng.permutation(np.concatenate([rng.normal(0, 1, n // 2),
                                            rng.normal(5, 2, n - n // 2)]))
    x = first if n_features == 1 else np.c_[first, 0.01 * rng.normal(size=n)]
    weights, means = _start_in_data_units(x, K)
    np.testing.assert_allclose(weights, 1 / K, atol=0.02)
    exact = [part.mean() for part in np.array_split(np.sort(first), K)]
    order = np.argsort(means.reshape(K, -1)[:, 0])
    np.testing.assert_allclose(means.reshape(K, -1)[order, 0], exact, atol=0.05)
