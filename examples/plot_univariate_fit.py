"""
Univariate fit: two groups in one measurement
=============================================

A gene's expression is measured in 3,000 people; about a third of them are
ill, and the illness raises the expression, but the records do not say who is
ill. A two-component mixture recovers the two groups, and its membership
probabilities say how sure we can be about each person.
"""

import matplotlib.pyplot as plt
import numpy as np

import cyem

rng = np.random.default_rng(7)
ill = rng.random(3000) < 0.3
expression = np.where(ill, rng.normal(7.5, 1.1, ill.size), rng.normal(5.0, 0.8, ill.size))

# 1-D input is accepted as is: no reshape(-1, 1) needed.
gm = cyem.GaussianMixture(n_components=2, tol=1e-6, random_state=0).fit(expression)
order = np.argsort(gm.means_.ravel())            # healthy (lower mean) first
print("weights:", np.round(gm.weights_[order], 3))
print("means:  ", np.round(gm.means_.ravel()[order], 3))
print("stds:   ", np.round(gm.stds_[order], 3))
print(f"converged after {gm.n_iter_} iterations; mean log-likelihood "
      f"{gm.lower_bound_:.4f}")

# %%
# Top: the histogram with each component's weighted density and the mixture
# density (``score_samples`` returns its logarithm). Bottom:
# ``predict_proba`` gives p(k | x), here the probability of being ill given
# the measured expression; it is 1/2 where the two weighted densities cross.

grid = np.linspace(expression.min() - 0.5, expression.max() + 0.5, 500)
p_ill = gm.predict_proba(grid)[:, order[1]]

fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                  layout="constrained")
top.hist(expression, bins=60, density=True, color="0.85", edgecolor="0.6",
         linewidth=0.4)
for rank, k in enumerate(order):
    w, mu, sd = gm.weights_[k], gm.means_[k, 0], gm.stds_[k]
    density = w * np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    top.plot(grid, density, "--", color=f"C{rank}",
             label=("healthy" if rank == 0 else "ill") + f": w={w:.2f}, "
                   f"mean={mu:.2f}, sd={sd:.2f}")
top.plot(grid, np.exp(gm.score_samples(grid)), color="black", label="mixture")
top.set_ylabel("density")
top.legend(frameon=False, fontsize="small")
bottom.plot(grid, p_ill, color="C1")
bottom.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
bottom.set_xlabel("expression")
bottom.set_ylabel("p(ill | expression)")
plt.show()

labels = gm.predict(expression) == order[1]
print(f"classified as ill: {labels.mean():.1%} (truly ill: {ill.mean():.1%}); "
      f"agreement with the hidden truth: {np.mean(labels == ill):.1%}")

# %%
# float32 data are processed without an up-cast copy (the sums are still
# accumulated in float64), and give the same fit to float32 precision:

gm32 = cyem.GaussianMixture(n_components=2, tol=1e-6, random_state=0).fit(
    expression.astype(np.float32))
print("float32 means:", np.round(np.sort(gm32.means_.ravel()), 3))
