"""
Sample weights: frequency tables and survey weights
===================================================

``fit(X, sample_weight=v)`` weighs observation i by v_i in every sum of the
M step. Two common uses:

* **frequency tables**: data stored as distinct values with counts. An
  integer weight is exactly the same as repeating the row that many times,
  but the fit touches each distinct value once;
* **survey weights**: when some people were more likely to be sampled than
  others, weighting each by the inverse of that probability estimates the
  population, not the sample.
"""

import matplotlib.pyplot as plt
import numpy as np

import cyem

rng = np.random.default_rng(11)
is_man = rng.random(50_000) < 0.48
heights = np.round(np.where(is_man, rng.normal(178, 7.0, is_man.size),
                            rng.normal(164, 6.5, is_man.size)))    # whole cm

# %%
# Frequency table
# ---------------
# 50,000 heights rounded to the centimetre take only a few dozen distinct
# values. Fitting the table with the counts as weights gives the same model
# as fitting every row: we start both fits from the same parameters and run
# the same number of iterations (``tol=0``).

values, counts = np.unique(heights, return_counts=True)
print(f"{heights.size} rows, {values.size} distinct values")

start = dict(weights_init=[0.5, 0.5], means_init=[[160.0], [180.0]],
             precisions_init=[1 / 100, 1 / 100], tol=0, max_iter=200)
rows = cyem.GaussianMixture(2, **start).fit(heights)
table = cyem.GaussianMixture(2, **start).fit(values, sample_weight=counts)
for name in ("weights_", "means_", "covariances_", "lower_bound_"):
    np.testing.assert_allclose(getattr(table, name), getattr(rows, name), rtol=1e-9)
print("rows :", np.round(rows.means_.ravel(), 3), np.round(rows.stds_, 3))
print("table:", np.round(table.means_.ravel(), 3), np.round(table.stds_, 3))

# %%
# Survey weights
# --------------
# Now suppose a survey reached women twice as often as men: among the people
# it measured, two thirds are women. An unweighted fit describes that
# sample. Each person's weight is the inverse of their probability of being
# sampled (here 1 for a woman, 2 for a man, in relative terms); the weighted
# fit describes the population the sample came from.

p_sampled = np.where(is_man, 0.25, 0.5)
sampled = rng.random(heights.size) < p_sampled
sample, survey_weight = heights[sampled], 1.0 / p_sampled[sampled]
print(f"share of men among the measured: {is_man[sampled].mean():.3f} "
      f"(population: {is_man.mean():.3f})")

kw = dict(n_components=2, tol=1e-6, max_iter=1000, random_state=0)
unweighted = cyem.GaussianMixture(**kw).fit(sample)
weighted = cyem.GaussianMixture(**kw).fit(sample, sample_weight=survey_weight)
for name, gm in [("unweighted", unweighted), ("weighted", weighted)]:
    men = np.argmax(gm.means_.ravel())
    print(f"{name:>10}: weight of the taller component {gm.weights_[men]:.3f}, "
          f"means {np.round(np.sort(gm.means_.ravel()), 1)}")

fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
bins = np.arange(135.5, 210.5)
ax.hist(sample, bins=bins, density=True, color="0.85", label="sample (unweighted)")
ax.hist(sample, bins=bins, weights=survey_weight, density=True, histtype="step",
        color="0.3", label="sample, weighted")
grid = np.linspace(135, 210, 400)
ax.plot(grid, np.exp(unweighted.score_samples(grid)), label="unweighted fit")
ax.plot(grid, np.exp(weighted.score_samples(grid)), label="weighted fit")
ax.set_xlabel("height (cm)")
ax.set_ylabel("density")
ax.legend(frameon=False, fontsize="small")
plt.show()

# %%
# ``score``, ``bic`` and ``aic`` take ``sample_weight`` too; with weights,
# BIC's n is the total weight.
print("weighted BIC:", round(weighted.bic(sample, sample_weight=survey_weight), 1))
