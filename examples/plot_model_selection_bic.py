"""
Choosing the number of components with BIC
==========================================

The log-likelihood always improves with more components, so it cannot choose
K by itself. The Bayesian information criterion,
``BIC = -2 log L + p log n`` with p the number of free parameters, adds a
price for each parameter; lower is better (scikit-learn's sign). Here we fit
K = 1..7 with two covariance types and keep the lowest BIC.
"""

import matplotlib.pyplot as plt
import numpy as np

import cyem

rng = np.random.default_rng(3)
centres = np.array([[0, 0], [5, 0], [0, 5], [5, 5]])
X = np.vstack([rng.normal(c, [1.0, 0.7], size=(250, 2)) for c in centres])

ks = range(1, 8)
types = ["full", "spherical"]
bic = {t: [] for t in types}
for covariance_type in types:
    for k in ks:
        gm = cyem.GaussianMixture(n_components=k, covariance_type=covariance_type,
                                  n_init=3, random_state=0).fit(X)
        bic[covariance_type].append(gm.bic(X))

best_type = min(types, key=lambda t: min(bic[t]))
best_k = list(ks)[int(np.argmin(bic[best_type]))]
print(f"lowest BIC: K={best_k}, covariance_type={best_type!r}")

fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
for t in types:
    ax.plot(list(ks), bic[t], "o-", label=t)
ax.plot(best_k, min(bic[best_type]), "o", ms=15, mfc="none", mec="black",
        label="chosen")
ax.set_xlabel("number of components K")
ax.set_ylabel("BIC (lower is better)")
ax.legend(frameon=False)
plt.show()

# %%
# AIC, ``-2 log L + 2 p``, penalises less and tends to choose more
# components; ``GaussianMixture.aic`` computes it the same way. R's mclust
# reports ``-BIC`` and keeps the *highest* value: same ranking, opposite sign.

best = cyem.GaussianMixture(best_k, covariance_type=best_type, n_init=3,
                            random_state=0).fit(X)
print("AIC of the chosen model:", round(best.aic(X), 1))
print("fitted means:\n", np.round(best.means_[np.lexsort(best.means_.T[::-1])], 2))
