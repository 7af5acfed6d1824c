"""
Migrating from scikit-learn, side by side
=========================================

:class:`cyem.GaussianMixture` takes the constructor parameters of
:class:`sklearn.mixture.GaussianMixture` and sets the same fitted attributes,
so most code only changes its import. Started from the same parameters, the
two run the same EM iterations and agree to rounding; this script checks it
for every covariance type.
"""

import warnings

import numpy as np
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import cyem

rng = np.random.default_rng(0)
X = np.vstack([
    rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], 500),
    rng.multivariate_normal([4, 1], [[0.5, 0.0], [0.0, 2.0]], 500),
    rng.multivariate_normal([1, 5], [[1.5, -0.7], [-0.7, 1.0]], 500),
])

# %%
# The same start, the same iterations
# ------------------------------------
# Each library initialises in its own way (cyem's k-means is its own compiled
# code), so two fits from ``random_state=0`` start from different points.
# To compare the EM iterations themselves, we give both the same
# ``weights_init``, ``means_init`` and ``precisions_init``, and ``tol=0``
# so that each runs exactly ``max_iter`` iterations. Both then warn that they
# stopped at ``max_iter``, which here is the point.

attributes = ["weights_", "means_", "covariances_", "precisions_",
              "precisions_cholesky_", "lower_bound_"]
for covariance_type in ["full", "tied", "diag", "spherical"]:
    rough = SklearnGaussianMixture(3, covariance_type=covariance_type, max_iter=5,
                                   random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rough.fit(X)
    start = dict(n_components=3, covariance_type=covariance_type, tol=0,
                 max_iter=50, weights_init=rough.weights_, means_init=rough.means_,
                 precisions_init=rough.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # ConvergenceWarning
        theirs = SklearnGaussianMixture(**start).fit(X)
        ours = cyem.GaussianMixture(**start).fit(X)
    worst = max(np.max(np.abs(np.asarray(getattr(ours, a)) - getattr(theirs, a))
                       / (np.abs(getattr(theirs, a)) + 1e-300)) for a in attributes)
    for a in attributes:
        np.testing.assert_allclose(getattr(ours, a), getattr(theirs, a), rtol=1e-8)
    assert ours.n_iter_ == theirs.n_iter_ == 50
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    print(f"{covariance_type:9}: every attribute equal, largest relative "
          f"difference {worst:.1e}")

# %%
# Methods
# -------
# The methods take the same arguments and return the same shapes.

for method in ["score_samples", "predict_proba", "predict"]:
    a, b = getattr(ours, method)(X[:4]), getattr(theirs, method)(X[:4])
    print(f"{method:14} shape {a.shape}: max |difference| {np.max(np.abs(a - b)):.1e}")
print(f"score: {ours.score(X):.12f} vs {theirs.score(X):.12f}")
print(f"bic:   {ours.bic(X):.6f} vs {theirs.bic(X):.6f}")

# %%
# With each library's own initialisation
# --------------------------------------
# From their own starts, both find the same maximum here, up to the order of
# the components (see "label switching" in the :ref:`tutorial <tutorial>`)
# and the tolerance.

theirs = SklearnGaussianMixture(3, tol=1e-8, random_state=0).fit(X)
ours = cyem.GaussianMixture(3, tol=1e-8, random_state=0).fit(X)
by_first_coordinate = lambda gm: gm.means_[np.argsort(gm.means_[:, 0])]  # noqa: E731
print("scikit-learn means:\n", np.round(by_first_coordinate(theirs), 4))
print("cyem means:\n", np.round(by_first_coordinate(ours), 4))
print(f"lower bounds: {theirs.lower_bound_:.8f} vs {ours.lower_bound_:.8f}")

# %%
# What cyem adds
# --------------
# Things scikit-learn does not have, and so would not appear in migrated code:
# 1-D input without a reshape; ``sample_weight`` in ``fit``, ``score``,
# ``bic`` and ``aic``; ``n_threads``; ``lower_bounds_``, the whole
# log-likelihood trace; ``stds_`` for univariate models; ``init_params=
# 'quantile'``; and :class:`cyem.DegenerateComponentWarning` when a component
# collapses. See :doc:`/migrating` for the full list.

x = X[:, 0]
gm = cyem.GaussianMixture(2, random_state=0).fit(x, sample_weight=np.ones(x.size))
print("1-D fit, stds_:", np.round(gm.stds_, 3), "- trace length:", len(gm.lower_bounds_))
