"""
.. _tutorial:

Tutorial: hidden groups, Gaussian mixtures and the EM algorithm
===============================================================

Suppose a survey measured the height of 20,000 adults and forgot to record
whether each person is a woman or a man. Women are shorter than men on
average, so the heights come from two groups, but no row says which group it
belongs to. Can we still recover how large each group is, and the average
height and spread within each?

This tutorial answers that question from first principles. It

1. simulates the data, reproducibly;
2. writes down the model, a *mixture* of Normal densities, and its likelihood;
3. explains why the likelihood is awkward to maximise, and how imagining the
   missing group labels helps;
4. derives the two steps of the EM algorithm and shows why each iteration
   can only improve the fit, then implements them in a few lines of NumPy;
5. fits the same model with cyem in three lines, and looks at bad starting
   points, repeated starts and the choice of the number of groups;
6. ends with the ways EM goes wrong and what cyem does about each.

Every line of code on this page runs when the documentation is built, and the
test suite checks that the hand-written NumPy steps below give the same
numbers as cyem (``tests/test_docs.py``).
"""

# %%
# 1. The data: heights without the sex column
# -------------------------------------------
#
# ``cyem.cli.simulate_heights`` draws the data that ``cyem demo`` uses. Each
# person is a man with probability 0.48; a woman's height is then drawn from
# a Normal distribution with mean 164 cm and standard deviation 6.5 cm, a
# man's from one with mean 178 cm and standard deviation 7 cm. The function
# also returns the sex of each person. We keep it aside only to check our
# answers at the end: the model never sees it.

import warnings

import matplotlib.pyplot as plt
import numpy as np

import cyem
from cyem.cli import simulate_heights

N_SAMPLES = 20_000
SEED = 2026
heights, sex = simulate_heights(n_samples=N_SAMPLES, seed=SEED)
print(f"{heights.size} heights, first five: {np.round(heights[:5], 1)}")
print(f"share of men (hidden from the model): {sex.mean():.3f}")

# %%
# The left panel is all we get to see. The two groups overlap so much that
# the histogram has a single, slightly flat-topped hump: there is no valley to
# cut at. The right panel, drawn with the hidden labels, shows the two groups
# we are after.

bins = np.linspace(135, 210, 76)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True,
                                  layout="constrained")
left.hist(heights, bins=bins, density=True, color="0.7")
left.set_title("what we observe")
right.hist([heights[sex == 0], heights[sex == 1]], bins=bins, density=True,
           stacked=True, color=["C0", "C1"], label=["women", "men"])
right.set_title("what we would see with the sex column")
right.legend(frameon=False)
for ax in (left, right):
    ax.set_xlabel("height (cm)")
left.set_ylabel("density")
plt.show()

# %%
# 2. The model: a mixture of K Normal densities
# ---------------------------------------------
#
# Write :math:`\varphi(x; \mu, \sigma)` for the Normal density with mean
# :math:`\mu` and standard deviation :math:`\sigma`:
#
# .. math::
#
#    \varphi(x; \mu, \sigma) = \frac{1}{\sigma\sqrt{2\pi}}
#        \exp\left(-\frac{(x - \mu)^2}{2\sigma^2}\right).
#
# A *Gaussian mixture* with :math:`K` components has the density
#
# .. math::
#
#    f(x; \theta) = \sum_{k=1}^{K} w_k \, \varphi(x; \mu_k, \sigma_k),
#    \qquad w_k \ge 0, \quad \sum_{k=1}^{K} w_k = 1,
#
# where the parameters :math:`\theta = (w_1, \dots, w_K, \mu_1, \dots, \mu_K,
# \sigma_1, \dots, \sigma_K)` are the weight (the size of each group, as a
# share of the population), the mean and the standard deviation of each
# component: :math:`3K - 1` free numbers, since the weights sum to one.
#
# The formula is a recipe for drawing one observation: first pick a group
# :math:`k` with probability :math:`w_k`, then draw from that group's Normal
# distribution. This is exactly how ``simulate_heights`` works, with
# :math:`K = 2`.
#
# If the :math:`n` observations :math:`x_1, \dots, x_n` are independent, the
# probability density of the whole sample is the product of the densities of
# the points. Seen as a function of the parameters, it is the *likelihood*;
# its logarithm turns the product into a sum:
#
# .. math::
#
#    L(\theta) = \prod_{i=1}^{n} f(x_i; \theta),
#    \qquad
#    \ell(\theta) = \log L(\theta)
#      = \sum_{i=1}^{n} \log \sum_{k=1}^{K} w_k \, \varphi(x_i; \mu_k, \sigma_k).
#
# The *maximum-likelihood estimate* is the :math:`\theta` that makes
# :math:`\ell(\theta)` largest: the parameters under which the data we
# observed are the most probable.
#
# In code we work with logarithms throughout. The density of a point far
# from every component underflows to zero in floating point (for
# :math:`(x - \mu)/\sigma = 40`, :math:`e^{-800}` is below the smallest double),
# and its logarithm would be :math:`-\infty`. Instead we compute
# :math:`a_{ik} = \log w_k + \log\varphi(x_i; \mu_k, \sigma_k)` and then
# :math:`\log \sum_k e^{a_{ik}}` after subtracting the largest :math:`a_{ik}`
# of each row, which makes the largest exponential exactly 1 (the
# "log-sum-exp" trick; cyem's compiled kernels do the same).


def log_sum_exp(a):
    """log(sum_k exp(a[i, k])) for every row i, without overflow or underflow."""
    a_max = a.max(axis=1, keepdims=True)
    return a_max[:, 0] + np.log(np.exp(a - a_max).sum(axis=1))


def weighted_log_densities(x, weights, means, stds):
    """log(w_k phi(x_i; mu_k, sigma_k)) for every point i and component k: (n, K)."""
    z = (x[:, np.newaxis] - means) / stds
    return np.log(weights) - np.log(stds) - 0.5 * np.log(2 * np.pi) - 0.5 * z**2


def log_likelihood(x, weights, means, stds):
    """The log-likelihood l(theta) of the sample x."""
    return log_sum_exp(weighted_log_densities(x, weights, means, stds)).sum()


TRUTH = {"weights": [0.52, 0.48], "means": [164.0, 178.0], "stds": [6.5, 7.0]}
print(f"log-likelihood of the true parameters: "
      f"{log_likelihood(heights, **{k: np.array(v) for k, v in TRUTH.items()}):.2f}")

# %%
# 3. Why not maximise it directly?
# --------------------------------
#
# For a single Normal distribution (:math:`K = 1`) the maximum is in closed
# form: the sample mean and the sample standard deviation. With a mixture,
# set the derivative of :math:`\ell` with respect to :math:`\mu_k` to zero:
#
# .. math::
#
#    \frac{\partial \ell}{\partial \mu_k}
#    = \sum_{i=1}^{n}
#      \underbrace{\frac{w_k\,\varphi(x_i; \mu_k, \sigma_k)}
#                       {\sum_{l} w_l\,\varphi(x_i; \mu_l, \sigma_l)}}_{p(k \mid i)}
#      \, \frac{x_i - \mu_k}{\sigma_k^2} = 0 .
#
# The logarithm of a *sum* does not split into one simple term per component,
# and the factor :math:`p(k \mid i)` depends on every parameter, including
# :math:`\mu_k` itself, so the equation cannot be solved for :math:`\mu_k`.
# The likelihood also has several local maxima, :math:`K!` copies of each
# solution (the components can be numbered in any order), and, as section 6
# shows, no maximum at all in the strict sense.
#
# **The missing labels.** The mixture describes data where a label was lost.
# Give every observation a *latent* (unobserved) label :math:`Z_i \in \{1,
# \dots, K\}`, with
#
# .. math::
#
#    P(Z_i = k) = w_k, \qquad X_i \mid Z_i = k \;\sim\; \mathcal{N}(\mu_k, \sigma_k^2).
#
# If the :math:`Z_i` were known, the problem would be easy: each group's
# weight would be its share of the sample, and its mean and standard
# deviation those of its members. We do not know them, but given parameters
# :math:`\theta`, Bayes' rule tells us how probable each label is for each
# point, after seeing its value:
#
# .. math::
#
#    p(k \mid i) = P(Z_i = k \mid X_i = x_i)
#      = \frac{w_k \, \varphi(x_i; \mu_k, \sigma_k)}
#             {\sum_{l=1}^{K} w_l \, \varphi(x_i; \mu_l, \sigma_l)} .
#
# These *membership probabilities* (scikit-learn calls them
# responsibilities) sum to one over :math:`k` for every point. They are the
# same factor as in the derivative above. Under the true parameters, for
# instance, a person 170 cm tall could well be either, while one of 155 cm is
# almost surely a woman:

for x0 in (155.0, 170.0, 185.0):
    a = weighted_log_densities(np.array([x0]), **{k: np.array(v) for k, v in TRUTH.items()})
    p = np.exp(a - log_sum_exp(a)[:, np.newaxis])[0]
    print(f"x = {x0:.0f} cm:  p(woman | x) = {p[0]:.3f},  p(man | x) = {p[1]:.3f}")

# %%
# This suggests an alternation: guess the labels (as probabilities) from the
# current parameters, then re-estimate the parameters as if those guesses
# were the truth. That is the EM algorithm, and the next section shows that
# the second half is an exact maximisation, not just a heuristic.
#
# 4. Deriving EM
# --------------
#
# **The complete-data log-likelihood.** Write :math:`z_{ik} = 1` if
# :math:`Z_i = k` and 0 otherwise. Had we observed the labels, the
# log-likelihood of the pairs :math:`(x_i, Z_i)` would be
#
# .. math::
#
#    \ell_c(\theta) = \sum_{i=1}^{n} \sum_{k=1}^{K} z_{ik}
#      \left[\log w_k + \log \varphi(x_i; \mu_k, \sigma_k)\right].
#
# We cannot compute it, because the :math:`z_{ik}` are unknown. But we can
# compute its *expected value* given the data, under the current parameters
# :math:`\theta^{(t)}`: the expectation of :math:`z_{ik}` is the membership
# probability :math:`p_t(k \mid i)` computed with :math:`\theta^{(t)}`. So
#
# .. math::
#
#    Q(\theta \mid \theta^{(t)}) = \sum_{i=1}^{n} \sum_{k=1}^{K} p_t(k \mid i)
#      \left[\log w_k - \tfrac12 \log(2\pi) - \log \sigma_k
#            - \frac{(x_i - \mu_k)^2}{2 \sigma_k^2}\right].
#
# Unlike :math:`\ell`, :math:`Q` has no logarithm of a sum: it is a sum of
# one weighted Normal log-likelihood per component, and can be maximised
# term by term. Write :math:`n_k = \sum_i p_t(k \mid i)` for the expected
# number of points in component :math:`k`.
#
# **The means.** Only the last term depends on :math:`\mu_k`:
#
# .. math::
#
#    \frac{\partial Q}{\partial \mu_k}
#      = \sum_{i} p_t(k \mid i) \, \frac{x_i - \mu_k}{\sigma_k^2} = 0
#    \quad\Longrightarrow\quad
#    \mu_k = \frac{\sum_i p_t(k \mid i) \, x_i}{\sum_i p_t(k \mid i)}
#          = \frac{1}{n_k} \sum_i p_t(k \mid i) \, x_i .
#
# The :math:`p_t(k \mid i)` are now *fixed numbers*, so this is an ordinary
# weighted mean: every point contributes to every component, in proportion to
# how probably it belongs there.
#
# **The standard deviations.**
#
# .. math::
#
#    \frac{\partial Q}{\partial \sigma_k}
#      = \sum_{i} p_t(k \mid i)
#        \left[-\frac{1}{\sigma_k} + \frac{(x_i - \mu_k)^2}{\sigma_k^3}\right] = 0
#    \quad\Longrightarrow\quad
#    \sigma_k^2 = \frac{1}{n_k} \sum_i p_t(k \mid i) \, (x_i - \mu_k)^2 ,
#
# the weighted variance around the new mean :math:`\mu_k`.
#
# **The weights** must stay non-negative and sum to one, so we maximise
# :math:`\sum_k n_k \log w_k` (the only part of :math:`Q` that depends on
# them) under the constraint :math:`\sum_k w_k = 1`, with a Lagrange
# multiplier :math:`\lambda`:
#
# .. math::
#
#    \frac{\partial}{\partial w_k}
#      \left[\sum_{j} n_j \log w_j - \lambda\left(\sum_j w_j - 1\right)\right]
#      = \frac{n_k}{w_k} - \lambda = 0
#    \quad\Longrightarrow\quad w_k = \frac{n_k}{\lambda}.
#
# Summing over :math:`k`, :math:`1 = \sum_k n_k / \lambda`, and since the
# memberships of each point sum to one, :math:`\sum_k n_k = n`; hence
# :math:`\lambda = n` and :math:`w_k = n_k / n`, the expected share of the
# points in component :math:`k`. (Each of these stationary points is a
# maximum: :math:`Q` is concave in :math:`\mu_k`, in :math:`w`, and in
# :math:`1/\sigma_k^2`.)
#
# These are the "if we knew the labels" formulas, with each hard 0/1 label
# replaced by a probability. One EM iteration is:
#
# * **E step** (expectation): compute :math:`p_t(k \mid i)` for every point and
#   component from the current :math:`\theta^{(t)}`;
# * **M step** (maximisation): set :math:`w_k`, :math:`\mu_k`,
#   :math:`\sigma_k` by the three formulas, giving :math:`\theta^{(t+1)}`.
#
# Here they are in NumPy. The E step also returns the log-likelihood of the
# parameters it was given, which it gets for free: it is the sum of the
# log-sum-exp of each row.


def e_step(x, weights, means, stds):
    """Membership probabilities p(k|i), shape (n, K), and the log-likelihood."""
    log_dens = weighted_log_densities(x, weights, means, stds)
    log_f = log_sum_exp(log_dens)                 # log f(x_i), one per point
    return np.exp(log_dens - log_f[:, np.newaxis]), log_f.sum()


def m_step(x, resp):
    """The weights, means and standard deviations that maximise Q."""
    n_k = resp.sum(axis=0)
    weights = n_k / x.shape[0]
    means = resp.T @ x / n_k
    variances = (resp * (x[:, np.newaxis] - means) ** 2).sum(axis=0) / n_k
    return weights, means, np.sqrt(variances)


def numpy_em(x, weights, means, stds, n_iter):
    """n_iter EM iterations from the given start.

    Returns the final weights, means and standard deviations, and the
    log-likelihood of the parameters entering each iteration.
    """
    history = []
    for _ in range(n_iter):
        resp, log_lik = e_step(x, weights, means, stds)
        history.append(log_lik)
        weights, means, stds = m_step(x, resp)
    return weights, means, stds, np.array(history)


# %%
# **Why the log-likelihood never decreases.** Take any probabilities
# :math:`q_i(k)` over the components, one set per point. Multiplying and
# dividing by them, and using that the logarithm is concave (Jensen's
# inequality: the log of an average is at least the average of the logs),
#
# .. math::
#
#    \ell(\theta) = \sum_i \log \sum_k q_i(k) \,
#        \frac{w_k \varphi(x_i; \mu_k, \sigma_k)}{q_i(k)}
#    \;\ge\; \sum_i \sum_k q_i(k) \log
#        \frac{w_k \varphi(x_i; \mu_k, \sigma_k)}{q_i(k)}
#    \;=:\; F(q, \theta).
#
# Equality holds when the ratio inside does not depend on :math:`k`, that is
# when :math:`q_i(k) \propto w_k \varphi(x_i; \mu_k, \sigma_k)`: exactly the
# membership probabilities. So the E step makes the lower bound :math:`F`
# touch :math:`\ell` at the current parameters,
# :math:`F(p_t, \theta^{(t)}) = \ell(\theta^{(t)})`. As a function of
# :math:`\theta`, :math:`F(p_t, \theta)` is :math:`Q(\theta \mid \theta^{(t)})`
# plus a term that does not involve :math:`\theta`, so the M step maximises
# it. Chaining the two facts:
#
# .. math::
#
#    \ell(\theta^{(t+1)}) \;\ge\; F(p_t, \theta^{(t+1)})
#      \;\ge\; F(p_t, \theta^{(t)}) \;=\; \ell(\theta^{(t)}).
#
# Every iteration climbs (or stays put). That is all the guarantee says: EM
# climbs to *a* stationary point of :math:`\ell`, which need not be the
# highest one (section 5 shows one it gets stuck at).
#
# Let us run 50 iterations from a rough start, two components of equal
# weight at 150 and 190 cm, and check both claims: the log-likelihood never
# goes down, and ``cyem.em`` (the compiled loop, from the same start, with
# ``tol=0`` so that it runs exactly the same number of iterations, and
# ``reg_covar=0`` so that it does not regularise the variances) gives the same
# numbers.

START = {"weights": [0.5, 0.5], "means": [150.0, 190.0], "stds": [10.0, 10.0]}
N_ITER = 50

start = {k: np.array(v) for k, v in START.items()}
w_np, mu_np, sd_np, history_np = numpy_em(heights, **start, n_iter=N_ITER)
print("NumPy EM :  weights", np.round(w_np, 4), " means", np.round(mu_np, 3),
      " stds", np.round(sd_np, 3))
print("never decreases:", bool(np.all(np.diff(history_np) >= -1e-9 * abs(history_np[0]))))

result = cyem.em(heights, **start, tol=0, max_iter=N_ITER, reg_covar=0)
print("cyem.em  :  weights", np.round(result.weights, 4), " means",
      np.round(result.means, 3), " stds", np.round(result.stds, 3))
for name, ours, theirs in [("weights", w_np, result.weights),
                           ("means", mu_np, result.means),
                           ("stds", sd_np, result.stds),
                           ("log-likelihood history", history_np, result.history)]:
    print(f"largest relative difference in {name}: "
          f"{np.max(np.abs(ours - theirs) / np.abs(theirs)):.1e}")
np.testing.assert_allclose(result.means, mu_np, rtol=1e-10)
np.testing.assert_allclose(result.stds, sd_np, rtol=1e-10)
np.testing.assert_allclose(result.weights, w_np, rtol=1e-10)

# %%
# The two agree to about 1e-13, the rounding of double precision. cyem
# computes the same iterations differently: it never forms the :math:`n
# \times K` matrix of memberships, but folds the E step and the sums of the M
# step (:math:`n_k`, and the weighted sums of deviations and squared
# deviations) into one pass over the data, on all cores (see
# :doc:`/performance`).
#
# 5. The same fit with cyem
# -------------------------
#
# :class:`cyem.GaussianMixture` chooses a starting point itself (by default
# with k-means), runs EM until the mean log-likelihood per point changes by
# less than ``tol``, and stores the result in scikit-learn's attribute names.
# Three lines:

gm = cyem.GaussianMixture(n_components=2, tol=1e-8, max_iter=2000, random_state=0)
gm.fit(heights)
print(gm.weights_, gm.means_.ravel(), gm.stds_)

# %%
# The components come out in no particular order (see "label switching"
# below), so we sort them by mean before comparing with the truth. The
# default ``tol=1e-3`` is a change of the *mean* log-likelihood per point;
# the likelihood of two overlapping groups is so flat near its maximum that
# we asked for a tighter tolerance.

order = np.argsort(gm.means_.ravel())
fitted = {"weights": gm.weights_[order], "means": gm.means_.ravel()[order],
          "stds": gm.stds_[order]}
print(f"{'':10}{'women':>16}{'men':>16}")
for name in ("weights", "means", "stds"):
    print(f"{name:10}" + "".join(f"{t:8.2f}{f:8.2f}" for t, f in
                                 zip(TRUTH[name], fitted[name])) + "   (true, fitted)")
print(f"{gm.n_iter_} iterations, converged: {gm.converged_}")

# %%
# The fitted densities over the histogram: each component's weighted density
# :math:`w_k \varphi(x; \mu_k, \sigma_k)` and their sum, the mixture density.


def normal_pdf(x, mean, std):
    """The Normal density phi(x; mean, std)."""
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


grid = np.linspace(135, 210, 600)
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.hist(heights, bins=bins, density=True, color="0.85", edgecolor="0.6",
        linewidth=0.4, label="data")
for k, label in enumerate(("women", "men")):
    component = fitted["weights"][k] * normal_pdf(grid, fitted["means"][k],
                                                  fitted["stds"][k])
    ax.fill_between(grid, component, color=f"C{k}", alpha=0.25)
    ax.plot(grid, component, "--", color=f"C{k}",
            label=f"{label}: w={fitted['weights'][k]:.2f}, "
                  f"mean={fitted['means'][k]:.1f}, sd={fitted['stds'][k]:.1f}")
ax.plot(grid, np.exp(gm.score_samples(grid)), color="black", label="mixture")
ax.set_xlabel("height (cm)")
ax.set_ylabel("density")
ax.set_title("Heights recorded without sex: a two-component mixture")
ax.set_ylim(0, 1.4 * ax.get_ylim()[1])          # room for the legend
ax.legend(frameon=False, fontsize="small", loc="upper left")
plt.show()

# %%
# ``lower_bounds_`` holds the mean log-likelihood per point at every
# iteration: the trace the monotonicity argument promises never goes down.
# Most of the climb happens in the first few iterations; the long tail is
# EM crawling along the flat top of the likelihood.

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.plot(np.arange(1, gm.n_iter_ + 1), gm.lower_bounds_, ".-", markersize=3)
ax.set_xscale("log")
ax.set_xlabel("EM iteration")
ax.set_ylabel("mean log-likelihood")
ax.set_title("The log-likelihood never decreases")
plt.show()

# %%
# With the fitted model, ``predict_proba`` gives each person's membership
# probabilities and ``predict`` the more probable group. Even with the true
# parameters, a person of 170 cm could be either, so no method can classify
# everyone correctly; here is how often the more probable group is right:

labels = np.argsort(order)[gm.predict(heights)]   # 0 = the shorter component
print(f"share assigned to their actual group: {np.mean(labels == sex):.1%}")

# %%
# **A bad start.** EM only climbs, so where it ends depends on where it
# starts. Start it with two *identical* components: every point then gets the
# same memberships in both, the M step keeps the two identical, and EM stays
# forever at the best *single* Normal distribution. That point is a saddle of
# the likelihood, not a maximum: move the two components apart by 0.001 cm
# and EM does escape, but only after a long plateau during which the
# log-likelihood barely moves, so a tolerance-based stopping rule declares
# convergence on the plateau.

fits = {
    "identical components (170, 170)": ([0.5, 0.5], [170.0, 170.0], [8.0, 8.0]),
    "almost identical (170, 170.001)": ([0.5, 0.5], [170.0, 170.001], [8.0, 8.0]),
    "rough start (150, 190)": ([0.5, 0.5], [150.0, 190.0], [10.0, 10.0]),
}
fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
for name, (w0, mu0, sd0) in fits.items():
    run = cyem.em(heights, w0, mu0, sd0, tol=0, max_iter=1000)
    ax.plot(np.arange(1, run.n_iter + 1), run.history / heights.size, label=name)
    print(f"{name:34} -> means {np.round(np.sort(run.means), 2)}, "
          f"log-likelihood {run.log_likelihood:.2f}")
ax.set_xscale("log")
ax.set_ylim(-3.70, -3.67)
ax.set_xlabel("EM iteration")
ax.set_ylabel("mean log-likelihood")
ax.set_title("Same data, three starting points")
ax.legend(frameon=False, fontsize="small")
plt.show()

stuck = cyem.em(heights, [0.5, 0.5], [170.0, 170.001], [8.0, 8.0], tol=1e-10)
print(f"with tol=1e-10 from the almost identical start: converged={stuck.converged} "
      f"after {stuck.n_iter} iterations, means {np.round(stuck.means, 2)}")

# %%
# ``converged_`` (or ``EMResult.converged``) means "stopped climbing", not
# "found the best fit". This is why :class:`cyem.GaussianMixture` starts from
# k-means clusters by default (``init_params='kmeans'``), which puts the
# components apart from the outset. ``init_params='random'`` (random
# memberships, as in scikit-learn) starts all components close to each
# other, near this very saddle.
#
# **Several starts.** Different starts can also end at different *local
# maxima*. Take three well-separated groups and start EM with two components
# inside the first group and one between the other two: it settles with one
# component covering two groups, and cannot leave, because every small
# change lowers the likelihood.

rng = np.random.default_rng(1)
three = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 1, 300),
                        rng.normal(12, 1, 300)])
local = cyem.em(three, [1 / 3] * 3, [-0.5, 0.5, 9.0], [1.0] * 3, tol=1e-10,
                max_iter=5000)
best = cyem.em(three, [1 / 3] * 3, [0.0, 6.0, 12.0], [1.0] * 3, tol=1e-10)
print(f"bad start : means {np.round(local.means, 2)}, log-likelihood "
      f"{local.log_likelihood:.1f}")
print(f"good start: means {np.round(best.means, 2)}, log-likelihood "
      f"{best.log_likelihood:.1f}")

# %%
# The remedy is to start several times and keep the run with the highest
# log-likelihood, which is what ``n_init`` does. With starting means drawn
# from the data (``init_params='random_from_data'``), a few seeds out of
# twenty end at a local maximum; ``n_init=10`` picks the best of ten starts:

finals = []
for seed in range(20):
    one = cyem.GaussianMixture(3, init_params="random_from_data", tol=1e-6,
                               max_iter=1000, random_state=seed).fit(three)
    finals.append(one.lower_bound_ * three.size)
print("one start per seed, final log-likelihoods:", np.round(sorted(finals), 1))
several = cyem.GaussianMixture(3, init_params="random_from_data", n_init=10,
                               tol=1e-6, max_iter=1000, random_state=0).fit(three)
print(f"n_init=10: {several.lower_bound_ * three.size:.1f}")

# %%
# **Choosing K with BIC.** So far we told the model there are two groups.
# The log-likelihood alone cannot choose :math:`K`: more components always
# fit at least as well. The Bayesian information criterion adds a penalty
# for the number :math:`p` of free parameters (:math:`3K - 1` here):
#
# .. math::
#
#    \mathrm{BIC} = -2\,\ell(\hat\theta) + p \log n ,
#
# and the model with the *lowest* BIC is preferred (scikit-learn's sign;
# some software, such as R's mclust, reports :math:`-\mathrm{BIC}` and keeps
# the highest). ``GaussianMixture.bic`` computes it:

ks = np.arange(1, 6)
bics = [cyem.GaussianMixture(k, n_init=3, tol=1e-5, max_iter=1000, random_state=0)
        .fit(heights).bic(heights) for k in ks]
for k, b in zip(ks, bics):
    print(f"K = {k}: BIC = {b:.1f}")
print(f"lowest BIC at K = {ks[np.argmin(bics)]}")

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.plot(ks, bics, "o-")
ax.plot(ks[np.argmin(bics)], min(bics), "o", ms=14, mfc="none", mec="black")
ax.set_xticks(ks)
ax.set_xlabel("number of components K")
ax.set_ylabel("BIC (lower is better)")
ax.set_title(f"BIC: lowest at K = {ks[np.argmin(bics)]}")
plt.show()

# %%
# 6. Where EM goes wrong, and what cyem does
# ------------------------------------------
#
# **Label switching.** The likelihood does not change if the components are
# renumbered, so "component 0" has no meaning of its own: two fits of the
# same data can return the same groups in a different order. From mirrored
# starts, ``cyem.em`` returns the same fit with the labels swapped:

a = cyem.em(heights, [0.5, 0.5], [150.0, 190.0], [10.0, 10.0], tol=1e-8)
b = cyem.em(heights, [0.5, 0.5], [190.0, 150.0], [10.0, 10.0], tol=1e-8)
print("start (150, 190): means", np.round(a.means, 2))
print("start (190, 150): means", np.round(b.means, 2))
print("same fit after sorting by mean:",
      np.allclose(np.sort(a.means), np.sort(b.means), rtol=1e-9))

# %%
# cyem, like scikit-learn, keeps the order the fit produced. When you compare
# fits (restarts, bootstrap samples, a fit against the truth), match the
# components first, for instance by sorting them by mean as this tutorial
# and ``cyem demo`` do.
#
# **Degenerate components.** The likelihood of a mixture is *unbounded*: put
# one component's mean exactly on a data point and let its standard
# deviation shrink, and that point's density, hence :math:`\ell`, grows
# without limit. EM finds such spikes when the data contain repeated values.
# Suppose a clerk typed a default of 170.0 cm for 40 people whose height was
# missing, and we fit three components, one of them starting near that
# value:

typed = np.concatenate([heights, np.full(40, 170.0)])
spike_start = ([0.45, 0.45, 0.1], [164.0, 178.0, 170.0], [6.0, 7.0, 0.05])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    spike = cyem.em(typed, *spike_start, tol=1e-8, max_iter=1000, reg_covar=0)
for w in caught:
    print(f"{w.category.__name__}: {w.message}")
print("weights", np.round(spike.weights, 4), " means", np.round(spike.means, 2),
      " stds", spike.stds)
print(f"log-likelihood with the spike: {spike.log_likelihood:.1f}; two components "
      f"without it: {log_likelihood(typed, **fitted):.1f}")

# %%
# The third component has collapsed onto the 40 identical values, with a
# standard deviation of essentially zero, and its "log-likelihood" is far
# higher than that of any sensible fit: a spurious maximum, which says
# nothing about the population. cyem never lets such a fit produce NaN or
# infinity: it holds the variance at a tiny floor (machine precision times
# the data's scale, squared), keeps going, and raises
# :class:`cyem.DegenerateComponentWarning` naming the component. (A component
# that loses all its points is kept with a weight of about 1e-15, with the
# same warning.)
#
# The cure is ``reg_covar``, a constant added to every variance at every M
# step, so that no standard deviation falls below
# :math:`\sqrt{\texttt{reg\_covar}}` and the likelihood stays bounded. Its
# default, 1e-6 as in scikit-learn, is in the data's units squared: tiny for
# heights in centimetres. A value on the scale of the measurement precision
# (here :math:`(0.5\ \mathrm{cm})^2`) removes the spike:

for reg_covar in (1e-6, 0.25):
    fit = cyem.em(typed, *spike_start, tol=1e-8, max_iter=1000, reg_covar=reg_covar)
    print(f"reg_covar={reg_covar:g}: stds {np.round(fit.stds, 3)}")

# %%
# With the default, the spike survives, its standard deviation held at
# :math:`\sqrt{10^{-6}} = 0.001` cm; with 0.25 the third component spreads
# into an ordinary, broad component instead of describing 40 typed values.

# %%
# **Local maxima** are the third failure, seen in section 5: EM climbs to the
# nearest hilltop. cyem's defences are starting points spread over the data
# (k-means, the default), ``n_init`` restarts that keep the best run, and
# ``lower_bound_``, the attained mean log-likelihood, to compare runs
# yourself. When ``max_iter`` stops a run before it settles, cyem warns with
# :class:`cyem.ConvergenceWarning`.
#
# ================================  ==========================================  =======================================
# Problem                           Symptom                                     What to do with cyem
# ================================  ==========================================  =======================================
# label switching                   the same groups in a different order        sort or match components before comparing
# degenerate component              a standard deviation near 0, a huge         read ``DegenerateComponentWarning``;
#                                   log-likelihood                              raise ``reg_covar``; use fewer components
# saddle point / slow plateau       ``converged_`` after few iterations,        default k-means start; smaller ``tol``
#                                   components almost identical
# local maximum                     different ``lower_bound_`` across seeds     ``n_init`` > 1; compare ``lower_bound_``
# too few iterations                ``ConvergenceWarning``                      raise ``max_iter``
# ================================  ==========================================  =======================================
#
# Where next: the :doc:`/user_guide` covers the estimator's options, the
# :ref:`examples <examples>` fit multivariate data and compare
# models, and :doc:`/migrating` shows cyem and scikit-learn side by side.
