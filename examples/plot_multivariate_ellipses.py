"""
Multivariate clustering with covariance ellipses
================================================

Three groups of two-dimensional points with different shapes, fitted with
each of the four covariance types. Each ellipse is drawn one and two standard
deviations around a component's mean, along the eigenvectors of its
covariance matrix.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

import cyem

rng = np.random.default_rng(0)
X = np.vstack([
    rng.multivariate_normal([0, 0], [[1.0, 0.8], [0.8, 1.0]], 400),
    rng.multivariate_normal([4, 1], [[0.4, 0.0], [0.0, 2.0]], 300),
    rng.multivariate_normal([1, 5], [[1.5, -0.6], [-0.6, 0.6]], 300),
])


def full_covariances(gm):
    """The (K, d, d) covariance matrices, whatever the covariance_type."""
    K, d = gm.means_.shape
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type == "full":
        return cov
    if gm.covariance_type == "tied":
        return np.broadcast_to(cov, (K, d, d))
    if gm.covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(d) for c in cov])          # spherical


def draw_ellipses(ax, gm, color_of):
    for k, (mean, cov) in enumerate(zip(gm.means_, full_covariances(gm))):
        eigval, eigvec = np.linalg.eigh(cov)                # ascending eigenvalues
        angle = np.degrees(np.arctan2(eigvec[1, 1], eigvec[0, 1]))   # major axis
        for n_std in (1, 2):
            width, height = 2 * n_std * np.sqrt(eigval[::-1])
            ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False,
                                 color=color_of[k], linewidth=1.5))
        ax.plot(*mean, "x", color="black")


fig, axes = plt.subplots(2, 2, figsize=(8, 7.5), sharex=True, sharey=True,
                         layout="constrained")
for ax, covariance_type in zip(axes.ravel(), ["full", "tied", "diag", "spherical"]):
    gm = cyem.GaussianMixture(n_components=3, covariance_type=covariance_type,
                              n_init=3, random_state=0).fit(X)
    labels = gm.predict(X)
    # Colour by position (label switching: the numbering of the components
    # differs from one fit to the next), so that each group keeps its colour.
    rank = np.argsort(np.argsort(gm.means_[:, 1] - 0.1 * gm.means_[:, 0]))
    colors = {k: f"C{rank[k]}" for k in range(3)}
    ax.scatter(X[:, 0], X[:, 1], s=5, c=[colors[k] for k in labels], alpha=0.5)
    draw_ellipses(ax, gm, colors)
    ax.set_title(f"{covariance_type}: BIC {gm.bic(X):.0f}")
    print(f"{covariance_type:9}  covariances_ shape {np.shape(gm.covariances_)}, "
          f"BIC {gm.bic(X):.1f}")
fig.suptitle("Three groups, four covariance models")
plt.show()

# %%
# 'full' gives every component its own orientation and shape, the truth here,
# and has the lowest BIC. 'tied' forces one shared covariance matrix, 'diag'
# axis-aligned ellipses and 'spherical' circles; the fitted attributes keep
# scikit-learn's shapes for each type.
