"""Plots of fitted mixtures and of model selection (needs matplotlib:
``pip install cyem[plot]``).

Every function draws on the given ``ax`` (a new figure's axes if None) and
returns that Axes, so plots compose: ``fig, (a, b) = plt.subplots(1, 2)``.
A model that is not fitted raises :class:`cyem.NotFittedError` before
anything is drawn.
matplotlib is imported inside the functions: ``import cyem.plotting`` works
without it, and the first call says how to install it.
"""

import numpy as np

from .exceptions import not_fitted_error
from .selection import full_covariances

__all__ = ["plot_clusters", "plot_density", "plot_model", "plot_selection",
           "plot_trace"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "cyem's plots need matplotlib, which is not installed: "
            "pip install cyem[plot]  (or: pip install matplotlib)") from None
    return plt


def _check_fitted(model):
    """``cyem.NotFittedError`` (also a ValueError and an AttributeError) for a
    model that has not been fitted, before anything is drawn."""
    if not hasattr(model, "means_"):
        raise not_fitted_error(model)


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(7, 4.5), layout="constrained")
    return ax


def _components_1d(model):
    """(weights, means, standard deviations) of a univariate mixture."""
    weights = np.asarray(model.weights_, dtype=float)
    means = np.asarray(model.means_, dtype=float).reshape(weights.shape[0], -1)
    if means.shape[1] != 1:
        raise ValueError(f"the model has {means.shape[1]} features; plot_density is "
                         "for univariate models (see plot_clusters for 2-D)")
    return weights, means[:, 0], np.sqrt(full_covariances(model)[:, 0, 0])


def plot_density(model, X, ax=None, bins="auto", sample_weight=None, n_grid=600,
                 show_components=True):
    """Histogram of univariate data with the fitted densities over it.

    Draws the data's density histogram, each component's weighted density
    w_k N(x; mu_k, sigma_k^2) (shaded, dashed outline) and the mixture density,
    their sum (black).

    Parameters
    ----------
    model : fitted univariate mixture (``weights_``, ``means_``, ``covariances_``,
        ``covariance_type``, ``score_samples``)
    X : array-like of shape (n_samples,) or (n_samples, 1)
    ax : matplotlib Axes, optional
    bins : int, sequence or str, default='auto'
        Passed to ``Axes.hist``.
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the histogram.
    n_grid : int, default=600
        Points at which the densities are evaluated.
    show_components : bool, default=True

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.plotting import plot_density
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> gm = cyem.GaussianMixture(2, random_state=0).fit(x)
    >>> ax = plot_density(gm, x, bins=30)
    >>> ax.get_ylabel()
    'density'
    """
    _check_fitted(model)
    ax = _axes(ax)
    x = np.asarray(X, dtype=float).reshape(-1)
    weights, means, stds = _components_1d(model)
    lo = min(x.min(), (means - 3 * stds).min())
    hi = max(x.max(), (means + 3 * stds).max())
    pad = 0.02 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, n_grid)
    ax.hist(x, bins=bins, density=True, weights=sample_weight, color="0.82",
            edgecolor="0.6", linewidth=0.5, label=f"data (n={x.size})")
    if show_components:
        order = np.argsort(means)
        for rank, k in enumerate(order):
            z = (grid - means[k]) / stds[k]
            density = weights[k] * np.exp(-0.5 * z * z) / (stds[k] * np.sqrt(2 * np.pi))
            # Filled, so that a component stays visible where it coincides
            # with the mixture (well-separated components).
            ax.fill_between(grid, density, color=f"C{rank % 10}", alpha=0.3, linewidth=0)
            ax.plot(grid, density, "--", linewidth=1.2, color=f"C{rank % 10}",
                    label=f"w={weights[k]:.2f}, mean={means[k]:.4g}, sd={stds[k]:.3g}")
    ax.plot(grid, np.exp(model.score_samples(grid[:, None])), color="black",
            linewidth=1.5, label="mixture")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylabel("density")
    ax.set_title(f"{weights.size}-component Gaussian mixture "
                 f"({model.covariance_type})")
    ax.legend(fontsize="small", frameon=False)
    return ax


def _ellipse(ax, mean, cov, n_std, color):
    from matplotlib.patches import Ellipse

    eigval, eigvec = np.linalg.eigh(cov)
    eigval = np.maximum(eigval, 0.0)
    angle = np.degrees(np.arctan2(eigvec[1, 1], eigvec[0, 1]))    # major axis
    width, height = 2 * n_std * np.sqrt(eigval[::-1])
    ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False,
                         edgecolor=color, linewidth=1.6))


def plot_clusters(model, X, ax=None, n_std=(1.0, 2.0), features=(0, 1), s=8):
    """Two-dimensional data coloured by component, with covariance ellipses.

    Parameters
    ----------
    model : fitted mixture with ``means_`` (K, d), d >= 2, ``covariances_`` in
        scikit-learn's shape for its ``covariance_type``, and ``predict``.
    X : array-like of shape (n_samples, d)
    ax : matplotlib Axes, optional
    n_std : float or sequence of float, default=(1, 2)
        Each ellipse spans this many standard deviations along its axes.
    features : pair of int, default=(0, 1)
        The two features drawn, when d > 2 (the ellipses are the marginal
        covariances of those two).
    s : float
        Marker size.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.plotting import plot_clusters
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> gm = cyem.GaussianMixture(2, random_state=0).fit(X)
    >>> ax = plot_clusters(gm, X)
    >>> len(ax.patches)                           # two ellipses per component
    4
    """
    _check_fitted(model)
    ax = _axes(ax)
    data = np.asarray(X, dtype=float)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"plot_clusters needs data of shape (n_samples, d >= 2), got "
                         f"{data.shape}; use plot_density for univariate data")
    i, j = features
    labels = model.predict(data)
    means = np.asarray(model.means_, dtype=float)
    covs = full_covariances(model)[:, [i, j]][:, :, [i, j]]
    for k in range(means.shape[0]):
        color = f"C{k % 10}"
        members = labels == k
        ax.scatter(data[members, i], data[members, j], s=s, color=color, alpha=0.5,
                   linewidths=0, label=f"component {k} (w={model.weights_[k]:.2f})")
        for scale in np.atleast_1d(n_std):
            _ellipse(ax, means[k, [i, j]], covs[k], scale, color)
        ax.plot(*means[k, [i, j]], marker="x", color="black", markersize=7)
    ax.set_xlabel(f"feature {i}")
    ax.set_ylabel(f"feature {j}")
    ax.set_title(f"{means.shape[0]}-component Gaussian mixture ({model.covariance_type})")
    ax.legend(fontsize="small", frameon=False, markerscale=2)
    return ax


def plot_model(model, X, ax=None, **kwargs):
    """:func:`plot_density` for univariate data, :func:`plot_clusters` otherwise.

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.plotting import plot_model
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> ax = plot_model(cyem.GaussianMixture(2, random_state=0).fit(x), x)
    >>> ax.get_ylabel()                           # univariate: plot_density
    'density'
    """
    _check_fitted(model)
    data = np.asarray(X)
    if data.ndim == 1 or data.shape[1] == 1:
        return plot_density(model, data, ax=ax, **kwargs)
    return plot_clusters(model, data, ax=ax, **kwargs)


def plot_selection(result, ax=None, criterion=None):
    """Criterion against the number of components, one line per covariance type.

    Degenerate candidates are drawn as hollow markers; the chosen one is
    circled. Lower is better (scikit-learn's sign; see :mod:`cyem.selection`).

    Parameters
    ----------
    result : cyem.selection.SelectionResult
    ax : matplotlib Axes, optional
    criterion : {'bic', 'aic', 'icl'}, optional
        Default: the criterion the selection used.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import cyem
    >>> from cyem.datasets import load_galaxies
    >>> from cyem.plotting import plot_selection
    >>> result = cyem.select(load_galaxies(), n_components=range(1, 5),
    ...                      covariance_types=("tied", "full"), random_state=0)
    >>> ax = plot_selection(result)
    >>> ax.get_xlabel()
    'number of components K'
    """
    ax = _axes(ax)
    criterion = criterion or result.criterion
    records = result.records
    types = list(dict.fromkeys(r["covariance_type"] for r in records))
    for t, ctype in enumerate(types):
        rows = [r for r in records if r["covariance_type"] == ctype]
        ks = np.array([r["n_components"] for r in rows])
        values = np.array([r[criterion] for r in rows])
        degenerate = np.array([r["degenerate"] for r in rows])
        color = f"C{t % 10}"
        ax.plot(ks, values, "-", color=color, label=ctype)
        ax.plot(ks[~degenerate], values[~degenerate], "o", color=color)
        if degenerate.any():
            ax.plot(ks[degenerate], values[degenerate], "o", mfc="white", color=color)
    best = records[result.best_index]
    ax.plot(best["n_components"], best[criterion], "o", ms=16, mfc="none", mec="black",
            label=f"chosen: K={best['n_components']}, {best['covariance_type']}")
    if any(r["degenerate"] for r in records):
        ax.plot([], [], "o", mfc="white", color="0.4", label="degenerate")
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_xticks(sorted({r["n_components"] for r in records}))
    ax.set_title(f"Model selection by {criterion.upper()}")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_trace(model, ax=None):
    """The log-likelihood per sample of every parameter set EM kept
    (``lower_bounds_``: one per pass for plain EM, fewer than ``n_iter_``
    passes with the default accelerated EM).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.plotting import plot_trace
    >>> x = np.random.default_rng(0).normal(size=500)
    >>> gm = cyem.GaussianMixture(2, random_state=0).fit(x)
    >>> ax = plot_trace(gm)
    >>> len(ax.lines[0].get_xdata()) == len(gm.lower_bounds_)
    True
    """
    _check_fitted(model)
    ax = _axes(ax)
    trace = np.asarray(model.lower_bounds_, dtype=float)
    ax.plot(np.arange(1, trace.size + 1), trace, "o-", ms=3)
    ax.set_xlabel("kept EM step")
    ax.set_ylabel("mean log-likelihood")
    ax.set_title(f"EM trace: {model.n_iter_} passes, "
                 f"{'converged' if model.converged_ else 'not converged'}")
    return ax
