"""cyem.select: the galaxies acceptance test against R's mclust, criteria and
their signs, spurious-maximum detection, determinism, chunked ICL."""

import builtins
import math

import numpy as np
import pytest

import cyem
from cyem import selection
from cyem.datasets import load_galaxies, load_galaxies_mclust
from cyem.selection import full_covariances

TABLE_KEYS = {"n_components", "covariance_type", "log_likelihood", "n_parameters", "bic",
              "aic", "icl", "converged", "n_iter", "init_params", "min_count",
              "min_std_ratio", "degenerate", "degenerate_runs", "n_distinct", "copy",
              "best"}


@pytest.fixture(scope="module")
def galaxies():
    return load_galaxies()


@pytest.fixture(scope="module")
def galaxies_selection(galaxies):
    return cyem.select(galaxies, n_components=range(1, 10),
                       covariance_types=("tied", "full"), n_init=10, random_state=0)


def test_galaxies_data_match_mass():
    x = load_galaxies()
    assert x.shape == (82,) and x.dtype == np.float64
    # MASS::galaxies / 1000: known values, including the kept typo 26.690.
    assert x.min() == 9.172 and x.max() == 34.279
    assert x[0] == 9.172 and x[77] == 26.690 and x[-1] == 34.279
    assert round(x.sum() * 1000) == 1707910          # R: sum(MASS::galaxies)


def test_mclust_reference_table_is_complete():
    table = load_galaxies_mclust()
    assert {(r["n_components"], r["model"]) for r in table} == \
        {(g, m) for g in range(1, 10) for m in "EV"}
    assert sum(r["chosen"] for r in table) == 1
    for r in table:
        # mclust's BIC = 2 logL - p log n: the stored columns agree.
        assert r["bic_mclust"] == pytest.approx(
            2 * r["log_likelihood"] - r["n_parameters"] * math.log(82), abs=1e-9)
        assert r["covariance_type"] == {"E": "tied", "V": "full"}[r["model"]]


def test_galaxies_every_cell_at_least_mclust(galaxies_selection):
    """Acceptance: every (G, model) log-likelihood >= mclust's, and the chosen
    model's BIC (mclust's sign) >= mclust's chosen BIC."""
    ours = {(r["n_components"], r["covariance_type"]): r
            for r in galaxies_selection.records}
    reference = load_galaxies_mclust()
    for ref in reference:
        row = ours[(ref["n_components"], ref["covariance_type"])]
        assert row["n_parameters"] == ref["n_parameters"]
        if not math.isnan(ref["log_likelihood"]):
            assert row["log_likelihood"] >= ref["log_likelihood"] - 1e-6, (ref, row)
            assert not row["degenerate"]
    mclust_choice = next(r for r in reference if r["chosen"])
    best = galaxies_selection.records[galaxies_selection.best_index]
    assert -best["bic"] >= mclust_choice["bic_mclust"] - 1e-9
    assert not best["degenerate"] and best["converged"]


def test_table_columns_and_best(galaxies_selection, galaxies):
    result = galaxies_selection
    assert len(result.records) == 18
    for row in result.records:
        assert set(row) == TABLE_KEYS
    assert sum(r["best"] for r in result.records) == 1
    best = result.records[result.best_index]
    assert best["best"]
    assert result.best_params == {"n_components": best["n_components"],
                                  "covariance_type": best["covariance_type"]}
    model = result.best_model
    assert model.n_components == best["n_components"]
    assert model.covariance_type == best["covariance_type"]
    # The table's criteria are the estimator's own (scikit-learn's sign).
    assert best["bic"] == pytest.approx(model.bic(galaxies), rel=1e-12)
    assert best["aic"] == pytest.approx(model.aic(galaxies), rel=1e-12)
    assert best["log_likelihood"] == pytest.approx(
        model.score(galaxies) * galaxies.size, rel=1e-12)
    eligible = [r for r in result.records if not r["degenerate"]]
    assert best["bic"] == min(r["bic"] for r in eligible)
    text = result.format_table()
    assert "<- best" in text and len(text.splitlines()) == 20


def test_table_is_a_dataframe_with_pandas(galaxies_selection):
    pd = pytest.importorskip("pandas")
    table = galaxies_selection.table
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(selection.TABLE_COLUMNS)
    assert table["best"].sum() == 1


def test_table_without_pandas_is_records(galaxies_selection, monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    table = galaxies_selection.table
    assert isinstance(table, list) and table == galaxies_selection.records


def test_icl_is_bic_plus_twice_the_entropy(galaxies_selection, galaxies):
    for (K, ct), model in galaxies_selection.models.items():
        row = next(r for r in galaxies_selection.records
                   if (r["n_components"], r["covariance_type"]) == (K, ct))
        z = model.predict_proba(galaxies)
        entropy = -np.sum(z * np.log(np.where(z > 0, z, 1.0)))
        assert row["icl"] == pytest.approx(row["bic"] + 2 * entropy, rel=1e-12, abs=1e-9)
        if K == 1:
            assert row["icl"] == row["bic"]


def test_entropy_in_chunks_equals_one_pass():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, 700), rng.normal(2, 1, 300)])
    w = rng.uniform(0.5, 2.0, x.size)
    model = cyem.GaussianMixture(2, random_state=0).fit(x, sample_weight=w)
    whole = selection._membership_entropy(model, x, w, chunk_rows=10**6)
    chunked = selection._membership_entropy(model, x, w, chunk_rows=97)
    assert chunked == pytest.approx(whole, rel=1e-12)
    z = model.predict_proba(x)
    assert whole == pytest.approx(-np.sum(w[:, None] * z * np.log(z)), rel=1e-12)


def test_results_do_not_depend_on_n_jobs():
    x = load_galaxies()
    kwargs = dict(n_components=range(1, 5), covariance_types=("full", "tied"),
                  n_init=3, random_state=42)
    serial = cyem.select(x, n_jobs=1, n_threads=1, **kwargs).records
    parallel = cyem.select(x, n_jobs=3, **kwargs).records
    assert serial == parallel


def test_spurious_maxima_are_flagged_and_not_chosen():
    # Many components on 82 points: restarts end on components squeezed onto
    # one or two galaxies. By AIC (a light penalty) such a fit would win.
    x = load_galaxies()
    kwargs = dict(n_components=[3, 7, 8], covariance_types="full", criterion="aic",
                  init_params=("kmeans", "k-means++"), n_init=10, random_state=0,
                  reg_covar=1e-10)
    raw = cyem.select(x, exclude_degenerate=False, **kwargs)
    assert any(r["degenerate"] for r in raw.records), raw.format_table()
    assert raw.records[raw.best_index]["aic"] == min(r["aic"] for r in raw.records)

    guarded = cyem.select(x, **kwargs)
    best = guarded.records[guarded.best_index]
    assert not best["degenerate"]
    assert sum(r["degenerate_runs"] for r in guarded.records) > 0
    for row in guarded.records:
        # A candidate is reported degenerate only if every restart was.
        assert row["degenerate"] == (row["degenerate_runs"] == 25 - 5)
        if row["degenerate"]:
            assert "degenerate" in guarded.format_table()


def test_vanishing_variance_is_flagged():
    # Five exact ties at 3.0 inside N(0, 10^2) data; started on them, a
    # component keeps variance reg_covar: sd 1e-3 against the data's 10.
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 10, 200), np.full(5, 3.0)])
    start = dict(weights_init=[0.97, 0.03], means_init=[0.0, 3.0],
                 precisions_init=[1e-2, 1e6])
    result = cyem.select(x, n_components=2, covariance_types="full",
                         init_params="quantile", exclude_degenerate=False, **start)
    spike = result.records[0]
    assert spike["min_std_ratio"] < 1e-3 and spike["min_count"] > 2
    assert spike["degenerate"]
    assert spike["log_likelihood"] > cyem.select(x, n_components=2).records[0][
        "log_likelihood"] + 10


def test_relative_variance_floor_bounds_the_likelihood():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 200), [0.5, 0.5, 0.5]])
    result = cyem.select(x, n_components=[2, 3], covariance_types="full", n_init=10,
                         random_state=0, reg_covar_relative=1e-2,
                         exclude_degenerate=False)
    variance = x.var()
    for model in result.models.values():
        assert model.reg_covar == pytest.approx(1e-2 * variance)
        assert np.all(model.stds_ ** 2 >= 1e-2 * variance * (1 - 1e-12))
    assert not any(r["degenerate"] for r in result.records)


def test_small_expected_count_is_degenerate():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 300), [40.0]])     # one far outlier
    result = cyem.select(x, n_components=[2], covariance_types="tied", n_init=2,
                         random_state=0, exclude_degenerate=False)
    row = result.records[0]
    assert row["min_count"] == pytest.approx(1.0, abs=1e-6)
    assert row["degenerate"]
    lenient = cyem.select(x, n_components=[2], covariance_types="tied", n_init=2,
                          random_state=0, min_component_size=0.5)
    assert not lenient.records[0]["degenerate"]


def test_integer_sample_weight_equals_repeating_rows():
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(0, 1, 60), 1)
    w = rng.integers(1, 4, x.size)
    kwargs = dict(n_components=[1, 2], covariance_types="tied",
                  init_params="quantile", tol=1e-10)
    weighted = cyem.select(x, sample_weight=w, **kwargs).records
    repeated = cyem.select(np.repeat(x, w), **kwargs).records
    for a, b in zip(weighted, repeated):
        for key in ("log_likelihood", "bic", "aic", "icl"):
            assert a[key] == pytest.approx(b[key], rel=1e-9)


def test_criterion_choice_and_progress_callback():
    x = load_galaxies()
    calls = []
    result = cyem.select(x, n_components=range(1, 6), covariance_types="full",
                         criterion="aic", n_init=2, random_state=0,
                         progress=lambda done, total: calls.append((done, total)))
    eligible = [r for r in result.records if not r["degenerate"]]
    assert result.records[result.best_index]["aic"] == min(r["aic"] for r in eligible)
    assert calls[-1] == (5 * 5, 5 * 5)         # 5 K x (1 quantile + 2 + 2 restarts)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(criterion="likelihood"), ValueError, "criterion"),
    (dict(n_components=[0, 1]), ValueError, "n_components"),
    (dict(n_components=[]), ValueError, "n_components"),
    (dict(covariance_types=("full", "banana")), ValueError, "covariance_types"),
    (dict(init_params="median"), ValueError, "init_params"),
    (dict(n_init=0), ValueError, "n_init"),
    (dict(min_std_ratio=-1), ValueError, "min_std_ratio"),
    (dict(random_state=-3), ValueError, "random_state"),
    (dict(covariance_type="full"), TypeError, "select sets"),
    (dict(reg_covar=1e-3, reg_covar_relative=1e-3), TypeError, "reg_covar"),
    (dict(n_components=[200]), ValueError, "n_components"),
])
def test_bad_arguments_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        cyem.select(load_galaxies(), **kwargs)


def test_full_covariances_all_types():
    class Fitted:
        means_ = np.zeros((3, 2))

    m = Fitted()
    m.covariance_type, m.covariances_ = "spherical", np.array([1.0, 2.0, 3.0])
    assert np.array_equal(full_covariances(m)[2], 3.0 * np.eye(2))
    m.covariance_type, m.covariances_ = "diag", np.array([[1.0, 2.0], [3.0, 4.0],
                                                          [5.0, 6.0]])
    assert np.array_equal(full_covariances(m)[1], np.diag([3.0, 4.0]))
    tied = np.array([[2.0, 0.5], [0.5, 1.0]])
    m.covariance_type, m.covariances_ = "tied", tied
    assert np.array_equal(full_covariances(m), np.stack([tied] * 3))
    m.covariance_type, m.covariances_ = "full", np.stack([tied, 2 * tied, 3 * tied])
    assert np.array_equal(full_covariances(m)[2], 3 * tied)
    gm = cyem.GaussianMixture(2, covariance_type="tied", random_state=0).fit(
        load_galaxies())
    assert full_covariances(gm).shape == (2, 1, 1)


def test_select_in_two_dimensions():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.multivariate_normal([0, 0], [[4, 1.5], [1.5, 1]], 300),
                        rng.multivariate_normal([6, 3], [[1, -0.5], [-0.5, 2]], 200)])
    types = ("full", "tied", "diag", "spherical")
    result = cyem.select(x, n_components=[1, 2, 3], covariance_types=types, n_init=3,
                         random_state=0)
    assert result.best_params == {"n_components": 2, "covariance_type": "full"}
    d = 2
    for row in result.records:
        K = row["n_components"]
        cov = {"full": K * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": K * d,
               "spherical": K}[row["covariance_type"]]
        assert row["n_parameters"] == (K - 1) + K * d + cov        # scikit-learn's count
        model = result.models[(K, row["covariance_type"])]
        assert row["bic"] == pytest.approx(model.bic(x), rel=1e-12)


def test_std_ratio_is_scale_free_in_two_dimensions():
    # One feature in metres, one in millimetres: standardising by the data's
    # variances makes the relative sd independent of units.
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.normal(0, 1, 400), rng.normal(0, 1, 400)])
    a = cyem.select(x, n_components=[2], covariance_types="diag", random_state=0)
    b = cyem.select(x * [1.0, 1000.0], n_components=[2], covariance_types="diag",
                    random_state=0)
    assert a.records[0]["min_std_ratio"] == pytest.approx(b.records[0]["min_std_ratio"],
                                                          rel=1e-2)
    assert not a.records[0]["degenerate"]
