"""cyem.plotting with matplotlib's Agg backend: each plot draws what it says,
and a missing matplotlib gives an ImportError that says how to install it."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cyem  # noqa: E402
from cyem import plotting  # noqa: E402
from cyem.datasets import load_galaxies  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def galaxies_model():
    x = load_galaxies()
    return cyem.GaussianMixture(3, n_init=3, random_state=0, n_threads=1).fit(x), x


def test_density_plot_draws_components_and_mixture(galaxies_model):
    model, x = galaxies_model
    ax = plotting.plot_density(model, x, bins=20)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[-1] == "mixture" and len(labels) == 4
    grid, mixture = ax.get_lines()[-1].get_data()
    # The black curve is the model's density, the dashed ones sum to it.
    assert np.allclose(mixture, np.exp(model.score_samples(grid)))
    components = sum(line.get_data()[1] for line in ax.get_lines()[:-1])
    assert np.allclose(components, mixture, rtol=1e-10, atol=1e-300)
    heights = [patch.get_height() for patch in ax.patches]
    assert len(heights) == 20 and np.sum(heights) * (np.ptp(x) / 20) == pytest.approx(1.0)
    assert grid[0] <= x.min() and grid[-1] >= x.max()


def test_density_plot_uses_full_variances_for_every_type(galaxies_model):
    _, x = galaxies_model
    for ctype in ("tied", "diag", "spherical"):
        model = cyem.GaussianMixture(2, covariance_type=ctype, random_state=0,
                                     n_threads=1).fit(x)
        ax = plotting.plot_density(model, x)
        grid, mixture = ax.get_lines()[-1].get_data()
        components = sum(line.get_data()[1] for line in ax.get_lines()[:-1])
        assert np.allclose(components, mixture, rtol=1e-10, atol=1e-300)


def test_density_plot_refuses_two_dimensional_models():
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    x = np.random.default_rng(0).normal(size=(100, 2))
    model = sklearn_mixture.GaussianMixture(2, random_state=0).fit(x)
    with pytest.raises(ValueError, match="plot_clusters"):
        plotting.plot_density(model, x)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_cluster_plot_ellipses_follow_the_covariances(covariance_type):
    # Written against scikit-learn's attribute shapes, which cyem's
    # multivariate models share.
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.multivariate_normal([0, 0], [[4, 1.5], [1.5, 1]], 300),
                        rng.multivariate_normal([6, 3], [[1, -0.5], [-0.5, 2]], 200)])
    model = sklearn_mixture.GaussianMixture(2, covariance_type=covariance_type,
                                            random_state=0).fit(x)
    ax = plotting.plot_clusters(model, x, n_std=2.0)
    ellipses = ax.patches
    assert len(ellipses) == 2
    covs = plotting.full_covariances(model)
    for k, ellipse in enumerate(ellipses):
        eigval = np.linalg.eigvalsh(covs[k])
        assert ellipse.width == pytest.approx(4 * np.sqrt(eigval[1]))
        assert ellipse.height == pytest.approx(4 * np.sqrt(eigval[0]))
        assert np.allclose(ellipse.center, model.means_[k])
        # The major axis points along the leading eigenvector.
        vec = np.linalg.eigh(covs[k])[1][:, 1]
        angle = np.radians(ellipse.angle)
        assert abs(abs(np.dot(vec, [np.cos(angle), np.sin(angle)])) - 1) < 1e-9
    points = [c for c in ax.collections]
    assert sum(len(c.get_offsets()) for c in points) == len(x)


def test_cluster_plot_needs_two_features(galaxies_model):
    model, x = galaxies_model
    with pytest.raises(ValueError, match="plot_density"):
        plotting.plot_clusters(model, x)


def test_plot_model_dispatches(galaxies_model):
    model, x = galaxies_model
    ax = plotting.plot_model(model, x.reshape(-1, 1))
    assert ax.get_lines()[-1].get_label() == "mixture"


def test_selection_plot():
    x = load_galaxies()
    result = cyem.select(x, n_components=range(1, 5), covariance_types=("full", "tied"),
                         n_init=2, random_state=0)
    ax = plotting.plot_selection(result)
    best = result.records[result.best_index]
    full_line = next(line for line in ax.get_lines() if line.get_label() == "full")
    ks, values = full_line.get_data()
    assert list(ks) == [1, 2, 3, 4]
    assert np.allclose(values, [r["bic"] for r in result.records
                                if r["covariance_type"] == "full"])
    chosen = next(line for line in ax.get_lines()
                  if line.get_label().startswith("chosen"))
    assert chosen.get_data()[0][0] == best["n_components"]
    assert "lower is better" in ax.get_ylabel()
    ax = plotting.plot_selection(result, criterion="icl")
    assert ax.get_ylabel().startswith("ICL")


def test_trace_plot(galaxies_model):
    model, _ = galaxies_model
    ax = plotting.plot_trace(model)
    iterations, trace = ax.get_lines()[0].get_data()
    assert list(trace) == list(model.lower_bounds_)
    assert list(iterations) == list(range(1, len(trace) + 1))


def test_plots_draw_into_a_given_axes(galaxies_model):
    model, x = galaxies_model
    fig, (left, right) = plt.subplots(1, 2)
    assert plotting.plot_density(model, x, ax=left) is left
    assert plotting.plot_trace(model, ax=right) is right


def test_missing_matplotlib_says_how_to_install(galaxies_model, monkeypatch):
    model, x = galaxies_model
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install cyem\[plot\]"):
        plotting.plot_density(model, x)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_cluster_plot_of_a_cyem_model(covariance_type):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (100, 2))])
    model = cyem.GaussianMixture(2, covariance_type=covariance_type, random_state=0,
                                 n_threads=1).fit(x)
    ax = plotting.plot_model(model, x, n_std=1.0)
    assert len(ax.patches) == 2                      # one ellipse per component
    for k, ellipse in enumerate(ax.patches):
        # Axes of 1 sd from the eigenvalues of the model's covariance, built
        # here from covariances_ in scikit-learn's shape for the type.
        cov = {"full": lambda c: c[k], "tied": lambda c: c,
               "diag": lambda c: np.diag(c[k]),
               "spherical": lambda c: c[k] * np.eye(2)}[covariance_type](
                   model.covariances_)
        eigval = np.linalg.eigvalsh(cov)
        assert ellipse.width == pytest.approx(2 * np.sqrt(eigval[1]), rel=1e-12)
        assert ellipse.height == pytest.approx(2 * np.sqrt(eigval[0]), rel=1e-12)
        assert np.allclose(ellipse.center, model.means_[k], rtol=1e-12, atol=0)


@pytest.mark.parametrize("plot", [plotting.plot_density, plotting.plot_clusters,
                                  plotting.plot_model])
@pytest.mark.parametrize("estimator", ["cyem", "sklearn"])
def test_plotting_an_unfitted_model_raises_not_fitted(plot, estimator):
    if estimator == "sklearn":
        model = pytest.importorskip("sklearn.mixture").GaussianMixture(2)
    else:
        model = cyem.GaussianMixture(2)
    figures = plt.get_fignums()
    with pytest.raises(cyem.NotFittedError,
                       match="This GaussianMixture instance is not fitted yet"):
        plot(model, np.random.default_rng(0).normal(size=(50, 2)))
    assert plt.get_fignums() == figures              # nothing drawn


def test_trace_of_an_unfitted_model_raises_not_fitted():
    with pytest.raises(cyem.NotFittedError, match="not fitted yet"):
        plotting.plot_trace(cyem.GaussianMixture(2))
